import { describe, expect, it } from "vitest";
import { DynamoDeliverStore } from "#shared/adapters/dynamo-task-store.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { makeTask } from "../../support/factories.js";
import { refusingWithItem } from "../../support/fakes/refusing-dynamo.js";

/**
 * deliver's read-free start (`startAttempt` with maxAttempts) refused: DynamoDB answers the item the condition met
 * (ReturnValuesOnConditionCheckFailure ALL_OLD, no read unit), so the store tells its own earlier write, an
 * occurrence (which deliver must read its schedule for) and a task that moved on apart without a GetItem. Dynalite
 * never sends that item (the store then reads: the dynalite-backed adapter tests cover that way).
 */
function refusingStore(item: TaskRecord) {
  const { client, sent } = refusingWithItem(item);
  const store = new DynamoDeliverStore({
    client,
    tableName: "refusals",
    nowSeconds: () => Date.now() / 1000,
  });
  return { store, sent };
}

describe("startAttempt's refusal on DynamoDB", () => {
  const now = Date.now();
  const task = makeTask({ group: "g", dueAtMs: now - 1_000, acceptedAtMs: now - 10_000 });

  it("recognises its own earlier write of this attempt from the item the refusal carries: no read", async () => {
    // Prepare: the SDK's resend met the start its lost first try wrote
    const own: TaskRecord = {
      ...task,
      status: "delivering",
      attempts: 1,
      attemptSeq: 1,
      lastAttemptAtMs: now,
    };
    const { store, sent } = refusingStore(own);

    // Act
    const started = await store.startAttempt(task.taskId, now, 5);

    // Assess
    expect(started).toMatchObject({ taskId: task.taskId, status: "delivering", lastAttemptAtMs: now });
    expect(sent).toEqual(["UpdateItemCommand"]);
  });

  it("answers undefined for an occurrence (its schedule to be read first) and for a task that moved on: no read", async () => {
    // Prepare
    const occurrence: TaskRecord = { ...task, status: "queued", scheduleId: "s-1", scheduleEpoch: 0 };
    const cancelled: TaskRecord = { ...task, status: "cancelled", cancelledAtMs: now - 5 };
    const first = refusingStore(occurrence);
    const second = refusingStore(cancelled);

    // Act
    const refused = [
      await first.store.startAttempt(task.taskId, now, 5),
      await second.store.startAttempt(task.taskId, now, 5),
    ];

    // Assess
    expect(refused).toEqual([undefined, undefined]);
    expect([first.sent, second.sent]).toEqual([["UpdateItemCommand"], ["UpdateItemCommand"]]);
  });
});
