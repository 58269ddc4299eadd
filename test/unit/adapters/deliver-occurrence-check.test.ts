/**
 * The store side of deliver's check of a held occurrence (shared/services/deliver/held-occurrence.ts), on dynalite:
 * the start made without a read refuses an occurrence (its schedule must be read first) and starts a plain task as
 * before; the deliver function's own store reads a schedule and cancels a task.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoDeliverStore, DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { newUlid } from "#shared/domain/keys.js";
import { makeScheduleKey, occurrenceIdempotencyKey, type ScheduleRecord } from "#shared/domain/schedule.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { deliverDeps, testTopic } from "../../support/deliver-binding.js";
import { createTaskTable, type LocalDynamo, startCountingDynalite } from "../../support/dynalite-table.js";
import { eventOf, fifoRecord, makeSchedule, makeTask, T0 } from "../../support/factories.js";
import { FakeCallbacks } from "../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../support/logger.js";

let dynamo: LocalDynamo;
const tableName = "deliver-occurrence-check";
/** Every DynamoDB request dynalite received (its operation), as the wire sees them. */
const requests: string[] = [];

beforeAll(async () => {
  dynamo = await startCountingDynalite(requests);
  await createTaskTable(dynamo.client, tableName);
});

afterAll(async () => {
  await dynamo.stop();
});

const stores = () => ({
  deliver: new DynamoDeliverStore({ tableName, client: dynamo.client }),
  full: new DynamoTaskStore({ tableName, client: dynamo.client }),
});

function schedule(): ScheduleRecord {
  return makeSchedule(T0, { status: "deleted", epoch: 2 });
}

const due = (fields: Partial<TaskRecord> = {}): TaskRecord => ({
  ...makeTask({ dueAtMs: T0 - 1_000, acceptedAtMs: T0 - 60_000, status: "queued" }),
  ...fields,
});

describe("deliver's store and a held occurrence (dynalite)", () => {
  it("the start without a read refuses an occurrence and leaves it as it was; a plain task starts", async () => {
    const { deliver, full } = stores();
    const s = schedule();
    const occurrence = due({
      scheduleId: s.scheduleId,
      scheduleEpoch: 2,
      idempotencyKey: occurrenceIdempotencyKey(s.scheduleId, 2, T0 - 1_000),
    });
    const plain = due();
    await full.putNew(occurrence, { sweepIndex: false });
    await full.putNew(plain, { sweepIndex: false });

    const refused = await deliver.startAttempt(occurrence.taskId, T0, 3);
    const started = await deliver.startAttempt(plain.taskId, T0, 3);

    expect(refused).toBeUndefined();
    expect(await full.get(occurrence.taskId)).toMatchObject({
      status: "queued",
      attempts: 0,
      scheduleEpoch: 2,
    });
    expect(started).toMatchObject({ status: "delivering", attempts: 1 });
    // The read path's start (after its read and the schedule's) starts an occurrence as any task.
    expect(await deliver.startAttempt(occurrence.taskId, T0 + 1)).toMatchObject({ status: "delivering" });
  });

  it("deliver's store reads a schedule (absent: undefined) and cancels a task", async () => {
    const { deliver, full } = stores();
    const s = schedule();
    await full.putSchedule(s);
    const task = due({ scheduleId: s.scheduleId, scheduleEpoch: 1 });
    await full.putNew(task, { sweepIndex: false });

    expect(await deliver.getSchedule(s.scheduleId)).toMatchObject({ status: "deleted", epoch: 2 });
    expect(await deliver.getSchedule(makeScheduleKey("demo", newUlid(T0)).scheduleId)).toBeUndefined();
    const cancelled = await deliver.cancel(task.taskId, T0, Math.ceil(T0 / 1000) + 86_400, {
      awaitingRetry: true,
    });
    expect(cancelled).toMatchObject({
      outcome: "cancelled",
      task: { status: "cancelled", cancelledAtMs: T0 },
    });
  });
});

describe("deliver's DynamoDB requests for an occurrence (dynalite)", () => {
  /** The requests of delivering `record`'s task, from its message to its `delivered` write. */
  async function requestsToDeliver(record: ReturnType<typeof fifoRecord>): Promise<string[]> {
    const logger = memoryLogger();
    const deps = deliverDeps({
      store: stores().full,
      topicQueue: new FakeTopicQueue(),
      metrics: new MemoryMetrics(),
      logger,
      clock: () => Date.now(),
      topic: testTopic(),
      callbacks: new FakeCallbacks(),
      signer: new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]),
    });
    requests.length = 0;
    const response = await deliverBatch(deps, eventOf(record), { getRemainingTimeInMillis: () => 60_000 });
    expect(response.batchItemFailures).toEqual([]);
    return [...requests];
  }

  async function stored(fields: Partial<TaskRecord> = {}): Promise<TaskRecord> {
    const now = Date.now();
    const task = {
      ...makeTask({ dueAtMs: now - 1_000, acceptedAtMs: now - 60_000, status: "queued" }),
      ...fields,
    };
    await stores().full.putNew(task, { sweepIndex: false });
    return task;
  }

  it("a message naming its schedule spares the refused start: two reads more than a plain task, not a write and three", async () => {
    // Prepare: an active schedule, two of its occurrences and a plain task
    const s = { ...schedule(), status: "active" as const };
    await stores().full.putSchedule(s);
    const occurrence = () => stored({ scheduleId: s.scheduleId, scheduleEpoch: 2 });
    const plain = await stored();
    const [withHint, without] = [await occurrence(), await occurrence()];

    // Act
    const plainRequests = await requestsToDeliver(fifoRecord(plain));
    const oldMessage = await requestsToDeliver(fifoRecord({ taskId: without.taskId, pk: without.pk }));
    const newMessage = await requestsToDeliver(fifoRecord(withHint));

    // Assess: the start and the `delivered` write; before, the refused start (and, dynalite never answering
    // ALL_OLD, the store's read of the refused item: on DynamoDB the refusal carries it), then the read path
    expect(plainRequests).toEqual(["UpdateItem", "BatchExecuteStatement"]);
    expect(oldMessage).toEqual([
      "UpdateItem",
      "GetItem",
      "GetItem",
      "GetItem",
      "UpdateItem",
      "BatchExecuteStatement",
    ]);
    expect(newMessage).toEqual(["GetItem", "GetItem", "UpdateItem", "BatchExecuteStatement"]);
    for (const t of [plain, withHint, without]) {
      expect(await stores().full.get(t.taskId)).toMatchObject({ status: "delivered", attempts: 1 });
    }
  });
});

describe("a follower occurrence whose schedule is paused while it waits (dynalite)", () => {
  it("is cancelled, not called: the stop's cancel is recorded on its started attempt and that attempt given back", async () => {
    // Prepare: two occurrences of an active schedule in one group, started together up front; the schedule is
    // paused while the head's callback is with the receiver (every wait checked: cancelCheckAfterMs 0)
    const { full } = stores();
    const s = { ...schedule(), status: "active" as const };
    await full.putSchedule(s);
    const now = Date.now();
    const occurrence = async (dueAtMs: number) => {
      const t: TaskRecord = {
        ...makeTask({ group: "g", dueAtMs, acceptedAtMs: now - 60_000, status: "queued" }),
        scheduleId: s.scheduleId,
        scheduleEpoch: 2,
      };
      await full.putNew(t, { sweepIndex: false });
      return t;
    };
    const head = await occurrence(now - 2_000);
    const follower = await occurrence(now - 1_000);
    const callbacks = new FakeCallbacks();
    const post = callbacks.post.bind(callbacks);
    callbacks.post = async (request) => {
      if (request.headers["webhook-id"] === head.taskId) {
        await full.updateSchedule(s.scheduleId, {
          ifStatus: ["active"],
          set: { status: "paused", updatedAtMs: Date.now() },
        });
      }
      return post(request);
    };
    const deps = deliverDeps(
      {
        store: full,
        topicQueue: new FakeTopicQueue(),
        metrics: new MemoryMetrics(),
        logger: memoryLogger(),
        clock: () => Date.now(),
        topic: testTopic(),
        callbacks,
        signer: new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]),
      },
      { groupConcurrency: 10, cancelCheckAfterMs: 0 },
    );

    // Act
    const response = await deliverBatch(deps, eventOf(fifoRecord(head), fifoRecord(follower)), {
      getRemainingTimeInMillis: () => 60_000,
    });

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(callbacks.calledFor()).toEqual([head.taskId]);
    expect(await full.get(head.taskId)).toMatchObject({ status: "delivered", attempts: 1 });
    const ended = await full.get(follower.taskId);
    expect(ended).toMatchObject({ status: "cancelled", attempts: 0, attemptSeq: 1 });
    expect(ended?.sweepShard).toBeUndefined();
  });
});
