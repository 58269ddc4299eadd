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
import { deliverBatch } from "#shared/services/deliver/index.js";
import { deliverDeps, testTopic } from "../../support/deliver-binding.js";
import { createTaskTable, type LocalDynamo, startCountingDynalite } from "../../support/dynalite-table.js";
import { eventOf, fifoRecord, makeTask } from "../../support/factories.js";
import { FakeCallbacks } from "../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../support/fakes/metrics.js";
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

function deliverSetup() {
  const callbacks = new FakeCallbacks();
  const logger = memoryLogger();
  const deps = deliverDeps({
    store: full(),
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
