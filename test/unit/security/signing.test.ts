import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import { withinMs } from "#shared/runtime/async.js";
import { MissingEnvironmentError } from "#shared/runtime/env.js";
import {
  CallbackSigner,
  parseSigningSecrets,
  SIGNING_SECRET_MAX_AGE_MS,
  SIGNING_SECRET_READ_TIMEOUT_MS,
  SIGNING_SECRET_REREAD_WAIT_MS,
  SIGNING_SECRET_RETRY_MS,
  SigningSecretError,
  secretsManagerFetcher,
  signingSecretLoader,
  subscriberSigningKey,
  topicSigningKey,
} from "#shared/security/signing.js";
import { ManualClock } from "../../support/clock.js";
import { memoryLogger } from "../../support/logger.js";

const newSecret = () => `whsec_${randomBytes(32).toString("base64")}`;
const PAYLOAD = JSON.stringify({ task_id: "demo._.mhx0z8ka.01JD3ZQ3H2V0WJ1XQ7S8Z9K4TA", content: { a: 1 } });
const ID = "demo._.mhx0z8ka.01JD3ZQ3H2V0WJ1XQ7S8Z9K4TA";

describe("CallbackSigner", () => {
  it("produces Standard Webhooks headers that the standardwebhooks library verifies", () => {
    const secret = newSecret();
    const at = new Date();
    const headers = new CallbackSigner([secret]).sign(ID, at, PAYLOAD);
    expect(headers["webhook-id"]).toBe(ID);
    expect(headers["webhook-timestamp"]).toBe(String(Math.floor(at.getTime() / 1000)));
    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(PAYLOAD, { ...headers })).toEqual(JSON.parse(PAYLOAD));
  });

  it("fails verification for another secret, a changed body or a changed id", () => {
    const secret = newSecret();
    const headers = new CallbackSigner([secret]).sign(ID, new Date(), PAYLOAD);
    expect(() => new Webhook(newSecret()).verify(PAYLOAD, { ...headers })).toThrow(WebhookVerificationError);
    expect(() => new Webhook(secret).verify(`${PAYLOAD} `, { ...headers })).toThrow(WebhookVerificationError);
    expect(() => new Webhook(secret).verify(PAYLOAD, { ...headers, "webhook-id": "other" })).toThrow(
      WebhookVerificationError,
    );
  });

  it("signs with every secret during a rotation, so either one verifies", () => {
    const current = newSecret();
    const previous = newSecret();
    const headers = new CallbackSigner([current, previous]).sign(ID, new Date(), PAYLOAD);
    expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
    expect(headers["webhook-signature"].split(" ").every((s) => s.startsWith("v1,"))).toBe(true);
    expect(new Webhook(current).verify(PAYLOAD, { ...headers })).toBeTruthy();
    expect(new Webhook(previous).verify(PAYLOAD, { ...headers })).toBeTruthy();
    expect(() => new Webhook(newSecret()).verify(PAYLOAD, { ...headers })).toThrow(WebhookVerificationError);
  });

  it("accepts a bare base64 secret as well as whsec_…", () => {
    const bare = randomBytes(24).toString("base64");
    const headers = new CallbackSigner([bare]).sign(ID, new Date(), PAYLOAD);
    expect(new Webhook(`whsec_${bare}`).verify(PAYLOAD, { ...headers })).toBeTruthy();
  });

  it("refuses no secret or an empty one without echoing it", () => {
    expect(() => new CallbackSigner([])).toThrow(SigningSecretError);
    expect(() => new CallbackSigner(["whsec_"])).toThrow(/signing secret #1/);
  });
});

describe("parseSigningSecrets", () => {
  it("reads a plain secret or the rotation JSON (current first)", () => {
    expect(parseSigningSecrets(" whsec_abc= \n")).toEqual(["whsec_abc="]);
    expect(parseSigningSecrets('{"current":"whsec_a","previous":"whsec_b"}')).toEqual(["whsec_a", "whsec_b"]);
    expect(parseSigningSecrets('{"current":"whsec_a"}')).toEqual(["whsec_a"]);
    expect(parseSigningSecrets('{"current":"whsec_a","previous":"whsec_a"}')).toEqual(["whsec_a"]);
    expect(parseSigningSecrets('{"current":"whsec_a","previous":null}')).toEqual(["whsec_a"]);
  });

  it("rejects malformed values", () => {
    expect(() => parseSigningSecrets("")).toThrow(SigningSecretError);
    expect(() => parseSigningSecrets("{not json")).toThrow(/does not parse/);
    expect(() => parseSigningSecrets('{"previous":"whsec_b"}')).toThrow(/"current"/);
    expect(() => parseSigningSecrets('{"current":"whsec_a","previous":3}')).toThrow(/"previous"/);
  });

  it("refuses a rotation document with a member named almost current or previous, never echoing a value", () => {
    // A misspelt `previous` would otherwise be dropped in silence: the old key gone from every callback while the
    // receivers still verify with it (docs/CALLBACKS.md "Rotating the secret").
    for (const typo of ["previos", "Previous", "pervious", "prevoius", "prev", "previous_key", "PREVIOUS "]) {
      const document = JSON.stringify({ current: "whsec_new", [typo]: "whsec_old" });
      expect(() => parseSigningSecrets(document), typo).toThrow(SigningSecretError);
      expect(() => parseSigningSecrets(document), typo).toThrow(JSON.stringify(typo));
      expect(() => parseSigningSecrets(document), typo).not.toThrow(/whsec_old/);
    }
    expect(() => parseSigningSecrets('{"Current":"whsec_new","current":"whsec_new"}')).toThrow(/"Current"/);
    // A secret pasted as a member's name is not shown.
    const pasted = newSecret();
    const document = `{"current":"whsec_new","previous_${pasted}":""}`;
    expect(() => parseSigningSecrets(document)).toThrow(/of 59 characters/);
    expect(() => parseSigningSecrets(document)).not.toThrow(pasted.slice(6, 14));
    // Another member is a later version's: ignored (test/unit/contract/persisted-shapes.test.ts).
    expect(
      parseSigningSecrets('{"current":"whsec_a","previous":"whsec_b","rotatedAt":"2026-12-01"}'),
    ).toEqual(["whsec_a", "whsec_b"]);
  });
});

describe("signingSecretLoader", () => {
  it("uses PUNCTUAL_SIGNING_SECRET when set (no Secrets Manager call)", async () => {
    const secret = newSecret();
    let fetched = 0;
    const load = signingSecretLoader({
      env: { PUNCTUAL_SIGNING_SECRET: secret, SIGNING_SECRET_ARN: "arn:x" },
      fetchSecret: async () => {
        fetched++;
        return newSecret();
      },
    });
    const headers = (await load("demo")).sign(ID, new Date(), PAYLOAD);
    expect(new Webhook(topicSigningKey(secret, "demo")).verify(PAYLOAD, { ...headers })).toBeTruthy();
    expect(fetched).toBe(0);
  });

  it("fetches SIGNING_SECRET_ARN once per container and caches it; a failed fetch is retried", async () => {
    const current = newSecret();
    const previous = newSecret();
    const calls: string[] = [];
    let fail = true;
    const load = signingSecretLoader({
      env: { SIGNING_SECRET_ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:punctual" },
      fetchSecret: async (arn) => {
        calls.push(arn);
        if (fail) throw new Error("AccessDenied");
        return JSON.stringify({ current, previous });
      },
    });
    await expect(load("demo")).rejects.toThrow("AccessDenied");
    fail = false;
    const [a, b, other] = await Promise.all([load("demo"), load("demo"), load("other")]);
    expect(a).toBe(b);
    expect(await load("demo")).toBe(a);
    expect(other).not.toBe(a);
    expect(calls).toHaveLength(2);
    expect(a.secretCount).toBe(2);
    const headers = a.sign(ID, new Date(), PAYLOAD);
    expect(new Webhook(topicSigningKey(current, "demo")).verify(PAYLOAD, { ...headers })).toBeTruthy();
    expect(new Webhook(topicSigningKey(previous, "demo")).verify(PAYLOAD, { ...headers })).toBeTruthy();
  });

  it("re-reads the secret after its max age, so a rotation reaches a warm container (docs/CALLBACKS.md's procedure)", async () => {
    // Prepare: a warm container that read the old secret; the operator then puts the rotation document.
    const old = newSecret();
    const next = newSecret();
    let stored = old;
    let reads = 0;
    const clock = new ManualClock(Date.parse("2026-12-01T10:00:00Z"));
    const load = signingSecretLoader({
      env: { SIGNING_SECRET_ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:punctual" },
      fetchSecret: async () => {
        reads++;
        return stored;
      },
      clock: clock.now,
      logger: memoryLogger(),
    });
    expect((await load("demo")).secretCount).toBe(1);
    stored = JSON.stringify({ current: next, previous: old });

    // Act + Assess: within the max age the container signs as before; after it, with both keys.
    clock.advance(SIGNING_SECRET_MAX_AGE_MS - 1);
    expect((await load("demo")).secretCount).toBe(1);
    expect(reads).toBe(1);
    clock.advance(1);
    const rotated = await load("demo");
    expect(rotated.secretCount).toBe(2);
    const headers = { ...rotated.sign(ID, new Date(), PAYLOAD) };
    expect(new Webhook(topicSigningKey(next, "demo")).verify(PAYLOAD, headers)).toBeTruthy();
    expect(new Webhook(topicSigningKey(old, "demo")).verify(PAYLOAD, headers)).toBeTruthy();
    // The old key retired: the next read signs with the new key only.
    stored = JSON.stringify({ current: next });
    clock.advance(SIGNING_SECRET_MAX_AGE_MS);
    const retired = { ...(await load("demo")).sign(ID, new Date(), PAYLOAD) };
    expect(new Webhook(topicSigningKey(next, "demo")).verify(PAYLOAD, retired)).toBeTruthy();
    expect(() => new Webhook(topicSigningKey(old, "demo")).verify(PAYLOAD, retired)).toThrow();
    expect(reads).toBe(3);
  });

  it("a re-read that fails or is refused keeps the last good secret, logs without echoing it, and tries again", async () => {
    // Prepare: a warm container signing with a good secret; the stored document then breaks.
    const good = newSecret();
    const next = newSecret();
    const documents: (string | Error)[] = [
      good,
      JSON.stringify({ curent: next, previous: good }),
      new Error("ThrottlingException"),
      ` ${next} `,
    ];
    const logger = memoryLogger();
    const clock = new ManualClock(Date.parse("2026-12-01T10:00:00Z"));
    const load = signingSecretLoader({
      env: { SIGNING_SECRET_ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:punctual" },
      fetchSecret: async () => {
        const document = documents.shift() as string | Error;
        if (document instanceof Error) throw document;
        return document;
      },
      clock: clock.now,
      logger,
    });
    const first = await load("demo");

    // Act + Assess: a refused document, then a failed read: still the good secret, never an unsigned request.
    clock.advance(SIGNING_SECRET_MAX_AGE_MS);
    expect(await load("demo")).toBe(first);
    clock.advance(SIGNING_SECRET_MAX_AGE_MS);
    expect(await load("demo")).toBe(first);
    expect(logger.entries.map((e) => [e.level, e.message])).toEqual([
      ["error", expect.stringMatching(/signing secret refused.*last good.*"current"/)],
      ["error", expect.stringMatching(/signing secret unreadable.*last good.*ThrottlingException/)],
    ]);
    expect(JSON.stringify(logger.entries)).not.toContain(next.slice(6, 20));
    // Fixed: the next read is used.
    clock.advance(SIGNING_SECRET_MAX_AGE_MS);
    const fixed = { ...(await load("demo")).sign(ID, new Date(), PAYLOAD) };
    expect(new Webhook(topicSigningKey(next, "demo")).verify(PAYLOAD, fixed)).toBeTruthy();
  });

  describe("a slow or hung read of the secret", () => {
    const ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:punctual";
    afterEach(() => {
      vi.useRealTimers();
    });

    /** Whether `promise` has settled once the timers have run `ms` on (fake timers). */
    async function settledAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
      let settled = false;
      promise.then(
        () => (settled = true),
        () => (settled = true),
      );
      await vi.advanceTimersByTimeAsync(ms);
      return settled;
    }

    it("does not hold a warm container's deliveries: they wait at most the re-read wait, then sign with the last good secret", async () => {
      // Prepare: a warm container with a good secret; its due re-read does not answer.
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const old = newSecret();
      const next = newSecret();
      let answer: ((value: string) => void) | undefined;
      const reads: string[] = [];
      const clock = new ManualClock(Date.parse("2026-12-01T10:00:00Z"));
      const load = signingSecretLoader({
        env: { SIGNING_SECRET_ARN: ARN },
        fetchSecret: (arn) => {
          reads.push(arn);
          if (reads.length === 1) return Promise.resolve(old);
          return new Promise<string>((resolve) => {
            answer = resolve;
          });
        },
        clock: clock.now,
        logger: memoryLogger(),
      });
      const warm = await load("demo");
      clock.advance(SIGNING_SECRET_MAX_AGE_MS);

      // Act + Assess: the first caller waits the bound, no longer, and gets the last good signer.
      const first = load("demo");
      expect(await settledAfter(first, SIGNING_SECRET_REREAD_WAIT_MS - 1)).toBe(false);
      expect(await settledAfter(first, 1)).toBe(true);
      expect(await first).toBe(warm);
      // Later callers, the read still out, do not wait again, nor start another read.
      expect(await settledAfter(load("other"), 0)).toBe(true);
      expect(reads).toHaveLength(2);
      // The re-read's answer is used once it lands.
      answer?.(JSON.stringify({ current: next, previous: old }));
      await vi.advanceTimersByTimeAsync(0);
      const rotated = await load("demo");
      expect(rotated.secretCount).toBe(2);
      expect(reads).toHaveLength(2);
    });

    it("a signer held across the max age signs with the value read since: a batch's signer used minutes later carries the rotation", async () => {
      // Prepare: deliver takes a topic's signer when it starts a batch's records up front and signs each at its turn,
      // up to a whole invocation later (3 × callbackTimeoutSeconds + 5 s: over 6 minutes). A warm container holds
      // the old secret; the operator puts the rotation document.
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const old = newSecret();
      const next = newSecret();
      let stored = old;
      const clock = new ManualClock(Date.parse("2026-12-01T10:00:00Z"));
      const load = signingSecretLoader({
        env: { SIGNING_SECRET_ARN: ARN },
        fetchSecret: async () => stored,
        clock: clock.now,
        logger: memoryLogger(),
      });
      const held = await load("demo");
      const heldSubscriber = held.forSubscriber("billing");
      stored = JSON.stringify({ current: next, previous: old });

      // Act: the documented wait passes while the batch runs, no other delivery asking for a signer.
      clock.advance(SIGNING_SECRET_MAX_AGE_MS);
      await vi.advanceTimersByTimeAsync(SIGNING_SECRET_MAX_AGE_MS);

      // Assess: what the held signers sign now verifies with the new keys (receivers may have switched to them).
      const at = new Date(clock.now());
      const headers = { ...held.sign(ID, at, PAYLOAD) };
      const verifies = (key: string, h: Record<string, string>) => {
        const signature = new Webhook(key).sign(ID, at, PAYLOAD);
        return h["webhook-signature"]?.split(" ").includes(signature);
      };
      expect(verifies(topicSigningKey(next, "demo"), headers)).toBe(true);
      expect(verifies(topicSigningKey(old, "demo"), headers)).toBe(true);
      const billing = { ...heldSubscriber.sign(ID, at, PAYLOAD) };
      expect(verifies(subscriberSigningKey(topicSigningKey(next, "demo"), "billing"), billing)).toBe(true);
    });

    it("reads when its timer fires though the wall clock is a hair short of the max age (Node's timers and Date.now differ)", async () => {
      // Prepare
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const old = newSecret();
      const next = newSecret();
      let stored = old;
      const clock = new ManualClock(Date.parse("2026-12-01T10:00:00Z"));
      const load = signingSecretLoader({
        env: { SIGNING_SECRET_ARN: ARN },
        fetchSecret: async () => stored,
        clock: clock.now,
        logger: memoryLogger(),
      });
      const held = await load("demo");
      stored = next;

      // Act: the timer fires at the max age; Date.now says 1 ms less.
      clock.advance(SIGNING_SECRET_MAX_AGE_MS - 1);
      await vi.advanceTimersByTimeAsync(SIGNING_SECRET_MAX_AGE_MS);

      // Assess
      const at = new Date(clock.now());
      const signature = new Webhook(topicSigningKey(next, "demo")).sign(ID, at, PAYLOAD);
      expect(held.sign(ID, at, PAYLOAD)["webhook-signature"]).toBe(signature);
    });

    it("the Secrets Manager fetcher aborts its request on the signal (a receiver on 127.0.0.1 that never answers)", async () => {
      // Prepare: an endpoint that takes the request and says nothing.
      const server = createServer(() => undefined);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const client = new SecretsManagerClient({
        region: "eu-west-1",
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        credentials: { accessKeyId: "test", secretAccessKey: "test" },
        maxAttempts: 1,
      });
      try {
        // Act
        const abort = new AbortController();
        const read = secretsManagerFetcher(client)(ARN, abort.signal).catch((error: unknown) => error);
        await new Promise((resolve) => setTimeout(resolve, 50));
        abort.abort();

        // Assess: the read settles at once, failed.
        expect(await withinMs(read, 2_000)).toBeInstanceOf(Error);
      } finally {
        client.destroy();
        server.closeAllConnections();
        server.close();
      }
    });

    it("is abandoned after the read timeout, its request aborted: a cold call fails (the next reads again), a warm container keeps its secret and reads again later", async () => {
      // Prepare: reads that never answer unless aborted.
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
      const good = newSecret();
      const signals: AbortSignal[] = [];
      let hang = true;
      const logger = memoryLogger();
      const clock = new ManualClock(Date.parse("2026-12-01T10:00:00Z"));
      const load = signingSecretLoader({
        env: { SIGNING_SECRET_ARN: ARN },
        fetchSecret: (_arn, signal) => {
          if (signal) signals.push(signal);
          if (!hang) return Promise.resolve(good);
          return new Promise<string>((_resolve, reject) => {
            signal?.addEventListener("abort", () => reject(signal.reason));
          });
        },
        clock: clock.now,
        logger,
      });

      // Act + Assess: cold, the call fails at the read timeout (no secret to sign with), the read aborted.
      const cold = load("demo").catch((error: unknown) => error);
      expect(await settledAfter(cold, SIGNING_SECRET_READ_TIMEOUT_MS)).toBe(true);
      expect(await cold).toBeInstanceOf(SigningSecretError);
      expect(signals.map((s) => s.aborted)).toEqual([true]);
      hang = false;
      const warm = await load("demo");
      expect(signals).toHaveLength(2);

      // Warm, a hung re-read is abandoned and logged; the last good secret stays; it is read again later.
      hang = true;
      clock.advance(SIGNING_SECRET_MAX_AGE_MS);
      expect(await settledAfter(load("demo"), SIGNING_SECRET_REREAD_WAIT_MS)).toBe(true);
      await vi.advanceTimersByTimeAsync(SIGNING_SECRET_READ_TIMEOUT_MS);
      expect(signals.map((s) => s.aborted)).toEqual([true, false, true]);
      expect(logger.entries.map((e) => [e.level, e.message])).toEqual([
        ["error", expect.stringMatching(/signing secret unreadable.*last good.*abandoned/)],
      ]);
      hang = false;
      clock.advance(SIGNING_SECRET_RETRY_MS);
      expect(await load("demo")).toBe(warm);
      expect(signals).toHaveLength(4);
    });
  });

  it("refuses a secret shorter than Standard Webhooks' 24 bytes, in every form, without echoing it", async () => {
    // `whsec_changeme` is valid base64 (6 bytes): every topic key derived from it could be found by brute force.
    const typed = "whsec_changeme";
    const short = `whsec_${randomBytes(23).toString("base64")}`;
    const enough = `whsec_${randomBytes(24).toString("base64")}`;
    for (const value of [typed, short, ` ${short}\n`, JSON.stringify({ current: enough, previous: short })]) {
      expect(() => signingSecretLoader({ env: { PUNCTUAL_SIGNING_SECRET: value } }), value).toThrow(
        /at least 24 bytes/,
      );
    }
    const fromSecretsManager = signingSecretLoader({
      env: { SIGNING_SECRET_ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:punctual" },
      fetchSecret: async () => JSON.stringify({ current: typed }),
    });
    const refused = await fromSecretsManager("demo").catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SigningSecretError);
    expect(String(refused)).not.toContain("changeme");
    // `npx punctual key` derives with topicSigningKey: it prints no key a deliver function would refuse.
    expect(() => topicSigningKey(typed, "demo")).toThrow(SigningSecretError);
    expect(
      (await signingSecretLoader({ env: { PUNCTUAL_SIGNING_SECRET: enough } })("demo")).secretCount,
    ).toBe(1);
  });

  it("fails fast at cold start when neither variable is set", () => {
    expect(() => signingSecretLoader({ env: {} })).toThrow(MissingEnvironmentError);
  });
});

describe("topicSigningKey: every topic its own verification key", () => {
  it("a receiver holding one topic's key rejects another topic's callbacks, in both directions", async () => {
    // Prepare
    const secret = newSecret();
    const load = signingSecretLoader({ env: { PUNCTUAL_SIGNING_SECRET: secret } });
    const at = new Date();

    // Act
    const fromA = (await load("orders")).sign(ID, at, PAYLOAD);
    const fromB = (await load("invoices")).sign(ID, at, PAYLOAD);

    // Assess
    const receiverA = new Webhook(topicSigningKey(secret, "orders"));
    const receiverB = new Webhook(topicSigningKey(secret, "invoices"));
    expect(receiverA.verify(PAYLOAD, { ...fromA })).toBeTruthy();
    expect(receiverB.verify(PAYLOAD, { ...fromB })).toBeTruthy();
    expect(() => receiverA.verify(PAYLOAD, { ...fromB })).toThrow(WebhookVerificationError);
    expect(() => receiverB.verify(PAYLOAD, { ...fromA })).toThrow(WebhookVerificationError);
    // Nor does the environment's secret itself verify: receivers only ever hold topic keys.
    expect(() => new Webhook(secret).verify(PAYLOAD, { ...fromA })).toThrow(WebhookVerificationError);
  });

  it("is deterministic, a valid whsec_ key of 32 bytes, and the same for the bare and whsec_ forms", () => {
    const bare = randomBytes(33).toString("base64");
    const key = topicSigningKey(`whsec_${bare}`, "demo");
    expect(key).toBe(topicSigningKey(bare, "demo"));
    expect(key).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(key.slice(6), "base64")).toHaveLength(32);
    expect(topicSigningKey(bare, "demo2")).not.toBe(key);
  });

  it("keeps the two-key rotation per topic: both derived keys verify during a rotation", async () => {
    const [current, previous] = [newSecret(), newSecret()];
    const load = signingSecretLoader({
      env: { PUNCTUAL_SIGNING_SECRET: JSON.stringify({ current, previous }) },
    });
    const headers = (await load("orders")).sign(ID, new Date(), PAYLOAD);
    for (const secret of [current, previous]) {
      expect(new Webhook(topicSigningKey(secret, "orders")).verify(PAYLOAD, { ...headers })).toBeTruthy();
    }
  });
});

describe("subscriber signing keys (fan-out)", () => {
  it("each subscriber's key verifies only its own callbacks; neither the topic key nor another subscriber's does", () => {
    // Prepare
    const topicKey = topicSigningKey(newSecret(), "orders");
    const signer = new CallbackSigner([topicKey]);

    // Act
    const headers = signer.forSubscriber("billing").sign(ID, new Date(), PAYLOAD);

    // Assess
    const verify = (key: string) => () => new Webhook(key).verify(PAYLOAD, { ...headers });
    expect(verify(subscriberSigningKey(topicKey, "billing"))).not.toThrow();
    expect(verify(subscriberSigningKey(topicKey, "audit"))).toThrow(WebhookVerificationError);
    expect(verify(topicKey)).toThrow(WebhookVerificationError);
    expect(subscriberSigningKey(topicKey, "billing")).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  });

  it("keeps the rotation: during one, both the current and the previous subscriber keys verify", async () => {
    // Prepare
    const [current, previous] = [newSecret(), newSecret()];
    const load = signingSecretLoader({
      env: { PUNCTUAL_SIGNING_SECRET: JSON.stringify({ current, previous }) },
    });

    // Act
    const headers = (await load("orders")).forSubscriber("audit").sign(ID, new Date(), PAYLOAD);

    // Assess
    for (const secret of [current, previous]) {
      const key = subscriberSigningKey(topicSigningKey(secret, "orders"), "audit");
      expect(new Webhook(key).verify(PAYLOAD, { ...headers })).toBeTruthy();
    }
  });
});
