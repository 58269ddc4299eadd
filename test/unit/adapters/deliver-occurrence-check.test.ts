/**
 * The store side of deliver's check of a held occurrence (shared/services/deliver/held-occurrence.ts), on dynalite:
 * the start made without a read refuses an occurrence (its schedule must be read first) and starts a plain task as
 * before; the deliver function's own store reads a schedule and cancels a task.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoDeliverStore, DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { newUlid } from "#shared/domain/keys.js";
import { makeScheduleKey, occurrenceIdempotencyKey, type ScheduleRecord } from "#shared/domain/schedule.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { makeTask, T0 } from "../../support/factories.js";

let dynamo: LocalDynamo;
const tableName = "deliver-occurrence-check";

beforeAll(async () => {
  dynamo = await startDynalite();
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
  return {
    ...makeScheduleKey("demo", newUlid(T0)),
    topic: "demo",
    cron: "* * * * * *",
    timezone: "UTC",
    content: "{}",
    status: "deleted",
    createdAtMs: T0,
    updatedAtMs: T0,
    materializedUntilMs: T0,
    epoch: 2,
  };
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
