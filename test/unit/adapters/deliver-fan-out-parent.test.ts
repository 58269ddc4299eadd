/**
 * Deliver never starts a fan-out parent, on dynalite: the read-free start's condition refuses one
 * (`attribute_not_exists(fanOut)`, a clause of the same write: a plain task's delivery sends the same requests),
 * and the read path then drops its message — no callback, the parent item unchanged, the message consumed.
 * The memory-store twin: test/unit/services/deliver/fan-out-parent.test.ts.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoDeliverStore, DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { expandFanOut } from "#shared/domain/fan-out.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { OPERATOR_CANCEL } from "#shared/services/cancel-task.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { cancelFanOutCopies } from "#shared/services/fan-out/cancel.js";
import { deliverDeps, testTopic } from "../../support/deliver-binding.js";
import { createTaskTable, type LocalDynamo, startCountingDynalite } from "../../support/dynalite-table.js";
import { eventOf, fifoRecord, makeTask } from "../../support/factories.js";
import { FakeCallbacks } from "../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../support/fakes/metrics.js";
import { FakeScheduler } from "../../support/fakes/scheduler.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../support/logger.js";

let dynamo: LocalDynamo;
const tableName = "deliver-fan-out-parent";
/** Every DynamoDB request dynalite received (its operation), as the wire sees them. */
const requests: string[] = [];

beforeAll(async () => {
  dynamo = await startCountingDynalite(requests);
  await createTaskTable(dynamo.client, tableName);
});

afterAll(async () => {
  await dynamo.stop();
});

const full = () => new DynamoTaskStore({ tableName, client: dynamo.client });

/** A parent and its two copies as a fan-out add writes them, due a second ago; the parent as stored. */
async function storedParent(group?: string): Promise<TaskRecord> {
  const now = Date.now();
  const task = makeTask({ group, dueAtMs: now - 1_000, acceptedAtMs: now - 60_000 });
  const { parent, deliveries } = expandFanOut(task, [
    { id: "billing", url: "https://billing.example.com/hook" },
    { id: "audit", url: "https://audit.example.com/hook" },
  ]);
  for (const t of [parent, ...deliveries]) await full().putNew(t, { sweepIndex: false });
  return (await full().get(parent.taskId)) as TaskRecord;
}

async function storedPlain(group?: string): Promise<TaskRecord> {
  const now = Date.now();
  const task = makeTask({ group, dueAtMs: now - 1_000, acceptedAtMs: now - 60_000, status: "queued" });
  await full().putNew(task, { sweepIndex: false });
  return task;
}

function deliverSetup(store = full()) {
  const callbacks = new FakeCallbacks();
  const logger = memoryLogger();
  const deps = deliverDeps({
    store,
    topicQueue: new FakeTopicQueue(),
    metrics: new MemoryMetrics(),
    logger,
    clock: () => Date.now(),
    topic: testTopic(),
    callbacks,
    signer: new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]),
  });
  return { callbacks, logger, deps };
}

const context = { getRemainingTimeInMillis: () => 60_000 };

describe("startAttempt and a fan-out parent (dynalite)", () => {
  it("refuses a parent, with or without maxAttempts, and leaves it as it was", async () => {
    const store = new DynamoDeliverStore({ tableName, client: dynamo.client });
    const parent = await storedParent();
    const now = Date.now();

    expect(await store.startAttempt(parent.taskId, now, 3)).toBeUndefined();
    expect(await store.startAttempt(parent.taskId, now + 1)).toBeUndefined();
    expect(await full().get(parent.taskId)).toEqual(parent);
  });
});

describe("deliver and a topic message naming a fan-out parent (dynalite)", () => {
  it("consumes it: no callback, the parent unchanged, no write after the refused start", async () => {
    // Prepare
    const parent = await storedParent("order-1");
    const h = deliverSetup();
    requests.length = 0;

    // Act
    const response = await deliverBatch(h.deps, eventOf(fifoRecord(parent)), context);
    const sent = [...requests];

    // Assess: the refused start, the store's read of the refused item (dynalite never answers ALL_OLD), the read
    // path's read — and nothing more
    expect(response.batchItemFailures).toEqual([]);
    expect(h.callbacks.requests).toHaveLength(0);
    expect(await full().get(parent.taskId)).toEqual(parent);
    expect(sent).toEqual(["UpdateItem", "GetItem", "GetItem"]);
    expect(h.logger.entries).toContainEqual(
      expect.objectContaining({ level: "warn", extra: { taskId: parent.taskId } }),
    );
  });

  it("in a batch started up front: the parent dropped at the batch read, the plain task delivered", async () => {
    const parent = await storedParent("order-1");
    const task = await storedPlain("order-2");
    const h = deliverSetup();

    const response = await deliverBatch(h.deps, eventOf(fifoRecord(parent), fifoRecord(task)), context);

    expect(response.batchItemFailures).toEqual([]);
    expect(h.callbacks.calledFor()).toEqual([task.taskId]);
    expect(await full().get(parent.taskId)).toEqual(parent);
    expect(await full().get(task.taskId)).toMatchObject({ status: "delivered", attempts: 1 });
  });
});

describe("deliver's batch start and a cancelled parent's copies (dynalite; the start statement has no `fanOut` clause)", () => {
  it("a parent's DELETE between the batch read and its start: each copy's start statement, conditioned on the copy as read, is refused; the read path drops them; no copy called", async () => {
    // Prepare: both copies' records in one batch (two lanes); the parent's DELETE as the cancel route makes it
    const parent = await storedParent("order-9");
    const copies = await Promise.all(
      (parent.fanOut ?? []).map(async (l) => (await full().get(l.taskId)) as TaskRecord),
    );
    const store = full();
    const readMany = store.readMany.bind(store);
    store.readMany = (async (ids: readonly string[]) => {
      const read = await readMany(ids);
      const now = Date.now();
      const expiresAt = Math.ceil(now / 1000) + 3600;
      await store.cancel(parent.taskId, now, expiresAt);
      await cancelFanOutCopies(
        { store, scheduler: new FakeScheduler() },
        parent,
        now,
        expiresAt,
        OPERATOR_CANCEL,
      );
      return read;
    }) as typeof store.readMany;
    const h = deliverSetup(store);
    requests.length = 0;

    // Act
    const response = await deliverBatch(h.deps, eventOf(...copies.map((c) => fifoRecord(c))), context);

    // Assess: the batch start was made and refused (no copy's attempt counted), each record consumed uncalled
    expect(requests).toContain("BatchExecuteStatement");
    expect(response.batchItemFailures).toEqual([]);
    expect(h.callbacks.requests).toHaveLength(0);
    for (const copy of copies)
      expect(await full().get(copy.taskId)).toMatchObject({ status: "cancelled", attempts: 0 });
  });
});
