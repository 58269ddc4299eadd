import { randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_PAYLOAD_BYTES } from "#shared/config/schema.js";
import { MAX_CALLBACK_URL_LENGTH } from "#shared/domain/callback-resolution.js";
import { topicSigningKey } from "#shared/security/signing.js";
import { type Harness, startHarness, validatingFetch } from "./support/harness.js";

/**
 * Issue 9, point 4 end to end: the request body is sent as raw text through the local cloud's HTTP API, and the
 * receiver's raw body bytes are compared with it: every number token arrives as the caller wrote it.
 */
let h: Harness;

/** A topic at the content ceiling, ordered by `g`, whose failed attempts come back after a second. */
const EDGE_TOPIC = "exact-edge";
/** Enough failures to fill the task's attempt log (a ring of 10) and keep its `lastError`. */
const FAILURES = 11;

beforeAll(async () => {
  h = await startHarness({
    configOverrides: {
      topics: {
        [EDGE_TOPIC]: {
          deliverBy: "g",
          maxPayloadBytes: MAX_PAYLOAD_BYTES,
          maxAttempts: FAILURES + 1,
          backoff: { initialSeconds: 1, maxSeconds: 1, multiplier: 1, jitter: "none" },
        },
      },
    },
  });
});

afterAll(async () => {
  await h?.stop();
});

/** Compact content text (no insignificant white space): what is delivered must be these very characters. */
function exactContent(orderId: string): string {
  return `{"order_id":"${orderId}","big":1e400,"negz":-0,"long":12345678901234567890,"one":1.0,"e":1E5,"tiny":1e-400,"s":"é😀 \\"q\\""}`;
}

function rawBody(contentText: string, url: string, extra = ""): string {
  return `{"topic":"demo","delay_seconds":0,"callback":{"url":"${url}"}${extra},"content":${contentText}}`;
}

describe("content delivered exactly as sent", () => {
  it("the receiver's body holds the content text verbatim, signed", async () => {
    // Prepare
    const content = exactContent(`order-${randomUUID()}`);

    // Act
    const added = await h.api("POST", "/v1/tasks", rawBody(content, `${h.receiver.url}/ok/exact`));
    expect(added.status, added.text).toBe(201);
    const taskId = String(added.json.task_id);
    await h.receiver.waitFor(() => h.receiver.forTask(taskId).length > 0);

    // Assess: deliver embeds the stored text as the body's last member.
    const [callback] = h.receiver.forTask(taskId);
    expect(callback?.body.endsWith(`"content":${content}}`), callback?.body).toBe(true);
    const webhook = new Webhook(topicSigningKey(h.cloud.signingSecret, "demo"));
    expect(() => webhook.verify(callback?.body ?? "", callback?.headers ?? {})).not.toThrow();
  });

  it("a string content (seed style) arrives as its inner JSON, numbers as written", async () => {
    const content = exactContent(`order-${randomUUID()}`);
    const added = await h.api(
      "POST",
      "/v1/tasks",
      rawBody(JSON.stringify(content), `${h.receiver.url}/ok/exact`),
    );
    expect(added.status, added.text).toBe(201);
    const taskId = String(added.json.task_id);
    await h.receiver.waitFor(() => h.receiver.forTask(taskId).length > 0);
    expect(h.receiver.forTask(taskId)[0]?.body.endsWith(`"content":${content}}`)).toBe(true);
  });

  it("half a surrogate pair: delivered as its escape inside content; refused as the ordering group's value, nothing stored", async () => {
    const url = `${h.receiver.url}/ok/exact`;
    const content = `{"order_id":"order-${randomUUID()}","half":"A-\\ud83d","\\udc00":["\\udfff"]}`;
    const added = await h.api("POST", "/v1/tasks", rawBody(content, url));
    expect(added.status, added.text).toBe(201);
    const taskId = String(added.json.task_id);
    await h.receiver.waitFor(() => h.receiver.forTask(taskId).length > 0);
    expect(h.receiver.forTask(taskId)[0]?.body.endsWith(`"content":${content}}`)).toBe(true);

    // DynamoDB strings are UTF-8, which cannot hold the half: the group value is stored and keyed as one.
    const before = (await h.tableItems()).length;
    const grouped = await h.api("POST", "/v1/tasks", rawBody('{"order_id":"A-\\ud83d"}', url), {
      "idempotency-key": `lone-${randomUUID()}`,
    });
    expect(grouped.status, grouped.text).toBe(400);
    expect(grouped.json.error?.issues).toContainEqual(
      expect.objectContaining({ path: "content.order_id", message: expect.stringContaining("well-formed") }),
    );
    expect((await h.tableItems()).length).toBe(before);
  });

  it("duplicate keys are a 400 naming where; an idempotent retry differing in the last digit is a 409", async () => {
    const url = `${h.receiver.url}/ok/exact`;
    const before = (await h.tableItems()).length;
    const dup = await h.api("POST", "/v1/tasks", rawBody('{"a":{"k":1,"k":1}}', url));
    expect(dup.status, dup.text).toBe(400);
    expect(dup.json.error?.issues).toContainEqual(expect.objectContaining({ path: "content.a.k" }));
    expect((await h.tableItems()).length).toBe(before);

    const key = { "idempotency-key": `exact-${randomUUID()}` };
    const first = await h.api("POST", "/v1/tasks", rawBody('{"long":12345678901234567890}', url), key);
    const same = await h.api("POST", "/v1/tasks", rawBody('{"long":12345678901234567890}', url), key);
    const other = await h.api("POST", "/v1/tasks", rawBody('{"long":12345678901234567891}', url), key);
    expect(first.status, first.text).toBe(201);
    expect(same.status, same.text).toBe(200);
    expect(same.json.task_id).toBe(first.json.task_id);
    expect(other.status, other.text).toBe(409);
    expect(other.json.error?.code).toBe("idempotency_conflict");
  });

  it("at the size edges: the largest task the topic allows is stored, retried and delivered byte for byte; one byte more is a 413", async () => {
    // Prepare: content of exactly the ceiling (quotes escaped, so the body is twice it), its group value of 1,024
    // characters (nearly all three bytes), the callback URL and the idempotency key at their caps: the task item at its largest,
    // which dynalite (like DynamoDB) refuses past 400 KB, names included, and which grows with every attempt.
    const group = `${"中".repeat(1016)}${randomUUID().slice(0, 8)}`;
    const head = `{"g":"${group}","q":"`;
    const room = MAX_PAYLOAD_BYTES - Buffer.byteLength(head) - 2;
    const content = `${head}${'\\"'.repeat(Math.floor(room / 2))}${"x".repeat(room % 2)}"}`;
    expect(Buffer.byteLength(content)).toBe(MAX_PAYLOAD_BYTES);
    const base = `${h.receiver.url}/flaky/${FAILURES}/`;
    const url = `${base}${"p".repeat(MAX_CALLBACK_URL_LENGTH - base.length)}`;
    const key = `edge-${randomUUID()}`.padEnd(255, "k");
    const body = (text: string) =>
      `{"topic":"${EDGE_TOPIC}","delay_seconds":0,"callback":{"url":"${url}"},"idempotency_key":"${key}","content":${text}}`;

    // Act
    const before = (await h.tableItems()).length;
    const over = await h.api("POST", "/v1/tasks", body(`${content.slice(0, -2)}x"}`));
    const added = await h.api("POST", "/v1/tasks", body(content));

    // Assess: one byte over is refused before anything is written (the key is still free); the task at the
    // edge is accepted, fails FAILURES times and then arrives as sent.
    expect(over.status, over.text).toBe(413);
    expect(over.json.error?.code).toBe("payload_too_large");
    expect(added.status, added.text).toBe(201);
    expect((await h.tableItems()).length).toBe(before + 2); // the task and its key's claim
    const taskId = String(added.json.task_id);
    await h.receiver.waitFor(() => h.receiver.forTask(taskId).some((c) => c.status === 200), 45_000);
    const calls = h.receiver.forTask(taskId);
    expect(calls.map((c) => c.status)).toEqual([...Array(FAILURES).fill(503), 200]);
    expect(calls.at(-1)?.body.endsWith(`"content":${content}}`)).toBe(true);
    const view = await h.waitForStatus(taskId, ["delivered"]);
    expect(view.attempts).toBe(FAILURES + 1);
  });

  it("JSON's edge characters arrive as sent, a byte-order mark is dropped, a compressed body is a 415", async () => {
    // Prepare: line and paragraph separators (raw: JSON allows them, JavaScript source once did not), NUL, DEL, a
    // noncharacter and a zero-width no-break space inside a string, a `__proto__` key and a negative zero.
    const content = `{"order_id":"order-${randomUUID()}","s":"a\u2028b\u2029c\\u0000d\u007fe\uffff\ufeff","__proto__":{"z":-0}}`;
    const body = rawBody(content, `${h.receiver.url}/ok/exact`);
    const post = (sent: string | Buffer, headers: Record<string, string>) =>
      validatingFetch(`${h.cloud.apiUrl}/v1/tasks`, { method: "POST", headers, body: sent });

    // Act
    const withMark = await post(`\ufeff${body}`, { "content-type": "application/json; charset=UTF-8" });
    const compressed = await post(gzipSync(body), {
      "content-type": "application/json",
      "content-encoding": "gzip",
    });

    // Assess
    expect(withMark.status).toBe(201);
    const taskId = String(((await withMark.json()) as { task_id: string }).task_id);
    await h.receiver.waitFor(() => h.receiver.forTask(taskId).length > 0);
    expect(h.receiver.forTask(taskId)[0]?.body.endsWith(`"content":${content}}`)).toBe(true);
    expect(compressed.status).toBe(415);
    expect(((await compressed.json()) as { error: { code: string } }).error.code).toBe(
      "unsupported_media_type",
    );
  });
});
