import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import type { DestinationResetResponse } from "#shared/api/schemas/destinations.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { resetDestination } from "#shared/services/destinations.js";
import { deliverDeps, testTopic } from "../../../support/deliver-binding.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "../../../support/dynalite-table.js";
import { eventOf, fifoRecord, makeTask } from "../../../support/factories.js";
import { FakeCallbacks, HTTP } from "../../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";

/**
 * An operator's reset (`POST /v1/destinations/{host}/reset`) landing while a delivery's failure is being fed to the
 * host's circuit, against DynamoDB's conditions (dynalite): between the failure's count (the one that reaches the
 * threshold, or a failed probe's) and the opening that count decided. The reset answered 200 `closed`, `failures:
 * 0`; the opening written after it must not open the circuit again on a count the reset cleared (found in review,
 * 2026-12-06: it did, with `failures: 0`, a `CircuitOpened` and its alarm, and the host's deliveries held a whole
 * cool-down). The failure counts afresh instead, as a probe's failure after a reset already did.
 */
let dynamo: LocalDynamo;
let tableCount = 0;
const HOST = "hooks.example.com";
const BREAKER = { circuitFailureThreshold: 2, circuitCooldownSeconds: 600 } as const;

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo?.stop();
});

async function setup() {
  const tableName = `reset-race-${++tableCount}`;
  await createTaskTable(dynamo.client, tableName);
  const store = new DynamoTaskStore({
    client: dynamo.client,
    tableName,
    nowSeconds: () => Date.now() / 1000,
  });
  const topic = testTopic({ name: "demo", ...BREAKER });
  const callbacks = new FakeCallbacks();
  const metrics = new MemoryMetrics();
  const queue = new FakeTopicQueue();
  const deps = deliverDeps(
    {
      store,
      topicQueue: queue,
      metrics,
      logger: memoryLogger(),
      clock: () => Date.now(),
      topic,
      callbacks,
      signer: new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]),
    },
    // No cached view of the host between deliveries: each reads the store as it is.
    {},
  );
  const failing = async (group: string) => {
    const now = Date.now();
    const t = makeTask({ group, dueAtMs: now - 1_000, acceptedAtMs: now - 10_000, status: "queued" });
    await store.putNew(t, { sweepIndex: false });
    callbacks.answer(t.taskId, HTTP(503));
    return t;
  };
  const deliver = (t: Awaited<ReturnType<typeof failing>>) =>
    deliverBatch(deps, eventOf(fifoRecord(t)), { getRemainingTimeInMillis: () => 60_000 });
  const reset = () =>
    resetDestination({ store, config: { resolvedTopics: { demo: topic } }, now: () => Date.now() }, HOST);
  /** The reset lands once the next failure is counted, before the opening that count decides is written. */
  const resetAfterNextCount = (answers: DestinationResetResponse[]) => {
    const count = store.recordDestinationFailure.bind(store);
    store.recordDestinationFailure = async (...args) => {
      const record = await count(...args);
      store.recordDestinationFailure = count;
      answers.push(await reset());
      return record;
    };
  };
  return { store, metrics, queue, failing, deliver, resetAfterNextCount };
}

describe("a reset landing between a failure's count and the opening it decided", () => {
  it("the failure that reached the threshold does not open the circuit the reset closed: it counts afresh", async () => {
    // Prepare: one failure counted; the second reaches the threshold of 2, and the operator's reset lands after
    // its count
    const s = await setup();
    await s.deliver(await s.failing("a"));
    const answers: DestinationResetResponse[] = [];
    s.resetAfterNextCount(answers);

    // Act
    await s.deliver(await s.failing("b"));

    // Assess: the reset's 200 said closed with no failures, and that is what stands; no opening reported
    expect(answers).toHaveLength(1);
    expect(answers[0]?.destinations).toMatchObject([{ topic: "demo", state: "closed", failures: 0 }]);
    expect(await s.store.getDestination("demo", HOST)).toMatchObject({ circuit: "closed", failures: 0 });
    expect(s.metrics.count("circuitOpened")).toBe(0);
  });

  it("a failed probe does not reopen the circuit the reset closed, and its group waits no cool-down", async () => {
    // Prepare: open (two failures), its cool-down over; the probe fails, and the reset lands after its count
    const s = await setup();
    await s.deliver(await s.failing("a"));
    await s.deliver(await s.failing("b"));
    expect(await s.store.getDestination("demo", HOST)).toMatchObject({ circuit: "open" });
    const now = Date.now();
    await s.store.openCircuit("demo", HOST, now, now); // its cool-down ends now: the next delivery probes
    const probe = await s.failing("c");
    const answers: DestinationResetResponse[] = [];
    s.resetAfterNextCount(answers);

    // Act
    s.queue.visibility.length = 0;
    await s.deliver(probe);

    // Assess: closed as the reset left it; the group waits its backoff step (10 s), not the 600 s cool-down
    expect(answers[0]?.destinations).toMatchObject([{ topic: "demo", state: "closed", failures: 0 }]);
    expect(await s.store.getDestination("demo", HOST)).toMatchObject({ circuit: "closed", failures: 0 });
    expect(s.queue.visibility.flatMap((v) => v.changes.map((c) => c.seconds))).toEqual([10]);
  });
});
