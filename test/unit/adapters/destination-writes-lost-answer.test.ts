import { randomBytes } from "node:crypto";
import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { DESTINATION_IDLE_SECONDS } from "#shared/domain/destination-item.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { deliverDeps, testTopic } from "../../support/deliver-binding.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { eventOf, fifoRecord, makeTask } from "../../support/factories.js";
import { FakeCallbacks, HTTP } from "../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../support/logger.js";

/**
 * Destination writes (the breaker's opening, a probe claim, a lease take) that DynamoDB applied but whose answer never
 * came back: the SDK sends the UpdateItem again, and that resend fails its condition on what its own first try wrote.
 * Each is still this write's: an opening is reported (`CircuitOpened`, its alarm, the `circuit opened` line), a claim
 * probes, a lease is held.
 */
let dynamo: LocalDynamo;
/** How many of the next opening UpdateItems dynalite executes but answers by dropping the connection. */
let dropOpenAnswers = 0;
/** Likewise for the next probe claims, and lease takes. */
let dropClaimAnswers = 0;
let dropLeaseAnswers = 0;
/** Likewise for the next failures recorded, and closes. */
let dropFailureAnswers = 0;
let dropCloseAnswers = 0;
let tableCount = 0;

function dropAnswers(listener: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!String(req.headers["x-amz-target"]).endsWith(".UpdateItem")) return listener(req, res);
    const chunks: Buffer[] = [];
    const push = req.push.bind(req);
    req.push = (chunk: Buffer | null, ...rest: never[]) => {
      if (chunk) chunks.push(Buffer.from(chunk));
      else {
        const text = Buffer.concat(chunks).toString();
        const opening = dropOpenAnswers > 0 && text.includes("SET circuit = :open");
        const claim = dropClaimAnswers > 0 && text.includes("SET probeUntilMs = :until");
        const lease = dropLeaseAnswers > 0 && text.includes("SET #slot = :expires");
        const failure = dropFailureAnswers > 0 && text.includes("ADD failures :one");
        const close = dropCloseAnswers > 0 && text.includes("circuit = :closed, #expiresAt");
        if (opening) dropOpenAnswers--;
        if (claim) dropClaimAnswers--;
        if (lease) dropLeaseAnswers--;
        if (failure) dropFailureAnswers--;
        if (close) dropCloseAnswers--;
        if (opening || claim || lease || failure || close) {
          res.end = (() => {
            req.socket.destroy();
            return res;
          }) as typeof res.end;
        }
      }
      return push(chunk, ...rest);
    };
    listener(req, res);
  };
}

beforeAll(async () => {
  dynamo = await startDynalite({ wrap: dropAnswers });
});

afterAll(async () => {
  await dynamo?.stop();
});

async function tableStore(): Promise<DynamoTaskStore> {
  const tableName = `destination-writes-${++tableCount}`;
  await createTaskTable(dynamo.client, tableName);
  return new DynamoTaskStore({ client: dynamo.client, tableName, nowSeconds: () => Date.now() / 1000 });
}

describe("a circuit opening whose answer was lost", () => {
  it("is still reported opened by the store: the SDK's resend met its own write", async () => {
    // Prepare
    const store = await tableStore();
    const now = Date.now();
    await store.recordDestinationFailure("demo", "hooks.example.com", now, "HTTP 503");
    dropOpenAnswers = 1;

    // Act
    const change = await store.openCircuit("demo", "hooks.example.com", now, now + 30_000);

    // Assess
    expect(dropOpenAnswers).toBe(0);
    expect(change).toBe("opened");
    expect(await store.getDestination("demo", "hooks.example.com")).toMatchObject({
      circuit: "open",
      openedAtMs: now,
      nextProbeAtMs: now + 30_000,
    });
  });

  it("…nor one by another writer in the same millisecond, with the same cool-down: one opening is reported", async () => {
    // Prepare
    const store = await tableStore();
    const now = Date.now();
    await store.recordDestinationFailure("demo", "hooks.example.com", now, "HTTP 503");

    // Act
    const changes = await Promise.all([
      store.openCircuit("demo", "hooks.example.com", now, now + 30_000),
      store.openCircuit("demo", "hooks.example.com", now, now + 30_000),
    ]);

    // Assess
    expect(changes.filter((change) => change === "opened")).toHaveLength(1);
  });

  it("…and an opening by another writer is still no opening of this one's", async () => {
    // Prepare: the circuit was opened a moment ago by another container
    const store = await tableStore();
    const now = Date.now();
    await store.recordDestinationFailure("demo", "hooks.example.com", now - 5, "HTTP 503");
    await store.openCircuit("demo", "hooks.example.com", now - 5, now + 29_995);

    // Act
    const change = await store.openCircuit("demo", "hooks.example.com", now, now + 30_000);

    // Assess
    expect(change).toBe("reopened");
  });

  it("emits CircuitOpened and logs `circuit opened` once when the failure that opens it is delivered", async () => {
    // Prepare: a protected topic whose circuit opens at the first failure; the receiver answers 503
    const store = await tableStore();
    const now = Date.now();
    const t = makeTask({ group: "g", dueAtMs: now - 1_000, acceptedAtMs: now - 10_000, status: "queued" });
    await store.putNew(t, { sweepIndex: false });
    const callbacks = new FakeCallbacks();
    callbacks.answer(t.taskId, HTTP(503));
    const metrics = new MemoryMetrics();
    const logger = memoryLogger();
    const deps = deliverDeps({
      store,
      topicQueue: new FakeTopicQueue(),
      metrics,
      logger,
      clock: () => Date.now(),
      topic: testTopic({ circuitFailureThreshold: 1, circuitCooldownSeconds: 30 }),
      callbacks,
      signer: new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]),
    });
    dropOpenAnswers = 1;

    // Act
    await deliverBatch(deps, eventOf(fifoRecord(t)), { getRemainingTimeInMillis: () => 60_000 });

    // Assess
    expect(dropOpenAnswers).toBe(0);
    expect(metrics.count("circuitOpened")).toBe(1);
    expect(logger.entries.map((e) => e.message)).toContain(
      "circuit opened: deliveries to the host wait without using attempts",
    );
  });
});

describe("a probe claim whose answer was lost", () => {
  it("is this delivery's claim: it probes, and no other is elected beside it", async () => {
    // Prepare: an open circuit whose cool-down is over
    const store = await tableStore();
    const now = Date.now();
    await store.recordDestinationFailure("demo", "hooks.example.com", now - 30_000, "HTTP 503");
    await store.openCircuit("demo", "hooks.example.com", now - 30_000, now);
    dropClaimAnswers = 1;

    // Act
    const claimed = await store.claimProbe("demo", "hooks.example.com", now, now + 15_000);
    const second = await store.claimProbe("demo", "hooks.example.com", now + 1, now + 15_001);

    // Assess: without it, the claim stood with no prober behind it, and the host went unprobed until it expired
    expect(dropClaimAnswers).toBe(0);
    expect(claimed).toBe(true);
    expect(second).toBe(false);
  });
});

describe("a lease take whose answer was lost", () => {
  it("is this delivery's lease: it is granted, and the host's limit still holds", async () => {
    // Prepare: one lease a host
    const store = await tableStore();
    const now = Date.now();
    dropLeaseAnswers = 1;

    // Act
    const taken = await store.acquireLease("demo", "hooks.example.com", 1, now, now + 15_000);
    const second = await store.acquireLease("demo", "hooks.example.com", 1, now + 1, now + 15_000);
    await store.releaseLease("demo", "hooks.example.com", 0, now + 15_000);
    const afterRelease = await store.acquireLease("demo", "hooks.example.com", 1, now + 2, now + 15_002);

    // Assess: without it, the slot stood taken with no callback behind it, and the host got none until it expired
    expect(dropLeaseAnswers).toBe(0);
    expect(taken).toBe(0);
    expect(second).toBeUndefined();
    expect(afterRelease).toBe(0);
    const shown = await store.getDestination("demo", "hooks.example.com");
    expect(Object.keys(shown ?? {}).filter((name) => name.startsWith("lease"))).toEqual(["leases"]);
  });
});

describe("a failure recorded whose answer was lost", () => {
  it("counts once towards the threshold: the circuit opens after as many failures as configured", async () => {
    // Prepare
    const store = await tableStore();
    const now = Date.now();
    await store.recordDestinationFailure("demo", "hooks.example.com", now, "HTTP 503");
    dropFailureAnswers = 1;

    // Act
    const second = await store.recordDestinationFailure("demo", "hooks.example.com", now + 1, "HTTP 503");
    const third = await store.recordDestinationFailure("demo", "hooks.example.com", now + 2, "HTTP 502");

    // Assess
    expect(dropFailureAnswers).toBe(0);
    expect(second).toMatchObject({ failures: 2, lastError: "HTTP 503", lastFailureAtMs: now + 1 });
    expect(third).toMatchObject({ failures: 3, lastError: "HTTP 502" });
    expect(Object.keys(third)).not.toContain("lastFailureId");
  });
});

describe("a failure recorded on an entry idle past its expiry, its answers lost", () => {
  it("counts once, afresh: 1, not the month-old count and one more (nor 2)", async () => {
    // Prepare: four failures a month and a day ago, the entry not yet deleted by the TTL sweep
    const store = await tableStore();
    const now = Date.now();
    const then = now - (DESTINATION_IDLE_SECONDS + 86_400) * 1000;
    for (let i = 0; i < 4; i++)
      await store.recordDestinationFailure("demo", "hooks.example.com", then + i, "HTTP 503");
    dropFailureAnswers = 2;

    // Act
    const counted = await store.recordDestinationFailure("demo", "hooks.example.com", now, "HTTP 502");

    // Assess
    expect(dropFailureAnswers).toBe(0);
    expect(counted).toMatchObject({ failures: 1, lastError: "HTTP 502", lastFailureAtMs: now });
    expect(await store.getDestination("demo", "hooks.example.com")).toMatchObject({ failures: 1 });
  });
});

describe("a close whose answer was lost", () => {
  it("answers the circuit as it was before it: a probe's success is reported closing an open circuit", async () => {
    // Prepare: an open circuit
    const store = await tableStore();
    const now = Date.now();
    await store.recordDestinationFailure("demo", "hooks.example.com", now, "HTTP 503");
    await store.openCircuit("demo", "hooks.example.com", now, now + 30_000);
    dropCloseAnswers = 1;

    // Act
    const before = await store.closeCircuit("demo", "hooks.example.com", now + 31_000);
    const again = await store.closeCircuit("demo", "hooks.example.com", now + 32_000);

    // Assess: closing it is reported once (CircuitClosed, `circuit closed`), a later close finds it closed
    expect(dropCloseAnswers).toBe(0);
    expect(before).toMatchObject({ circuit: "open", failures: 1, lastError: "HTTP 503" });
    expect(again).toMatchObject({ circuit: "closed", failures: 0 });
    expect(Object.keys(before ?? {})).not.toContain("closedFrom");
    expect(await store.getDestination("demo", "hooks.example.com")).toMatchObject({ circuit: "closed" });
  });

  it("…and a close of a host no one has met is still no destination", async () => {
    const store = await tableStore();

    expect(await store.closeCircuit("demo", "nowhere.example.com", Date.now())).toBeUndefined();
  });
});
