import { monotonicFactory } from "ulid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { addTask } from "#shared/services/add-task.js";
import { cancelTask } from "#shared/services/cancel-task.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { FakeScheduler, FakeTimerQueue, NOW, testConfig } from "../api/fakes.js";

/**
 * A fan-out parent's DELETE racing its add, against DynamoDB (dynalite, the real store over a real SDK client): the
 * add writes a copy just after the cancel's conditional write to it found nothing (services/fan-out.test.ts has the
 * same race on the memory store).
 */

let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo?.stop();
});

const SUBSCRIBERS = [
  { id: "billing", url: "https://billing.example.com/hook" },
  { id: "audit", url: "https://audit.example.com/hook" },
];

describe("a fan-out DELETE racing its add, against DynamoDB", () => {
  it("a DELETE whose copy is written by its add after the cancel missed it answers the task cancelled, and cancels that copy", async () => {
    // Prepare: the add has written its parent; each copy's write lands just after the cancel's write to it.
    await createTaskTable(dynamo.client, "fan-out-cancel-race");
    const store = new DynamoTaskStore({
      client: dynamo.client,
      tableName: "fan-out-cancel-race",
      nowSeconds: () => Math.floor(NOW / 1000),
    });
    const config = testConfig({ orders: { deliverBy: "order_id", subscribers: SUBSCRIBERS } });
    const deps = {
      store,
      timerQueue: new FakeTimerQueue(),
      scheduler: new FakeScheduler(),
      config,
      now: () => NOW,
      newUlid: monotonicFactory(),
    };
    const added = await addTask(deps, {
      body: { topic: "orders", delay_seconds: 10, content: { order_id: "r-1" }, idempotency_key: "r-1" },
    });
    const parent = (await store.get(added.body.task_id)) as TaskRecord;
    const copies = await Promise.all(
      (parent.fanOut ?? []).map(async (l) => (await store.get(l.taskId)) as TaskRecord),
    );
    for (const copy of copies) await store.removeScheduled(copy.taskId);
    const cancel = store.cancel.bind(store);
    store.cancel = async (taskId, ...rest) => {
      const outcome = await cancel(taskId, ...rest);
      const copy = copies.find((c) => c.taskId === taskId);
      if (copy) await store.putNew(copy, { sweepIndex: false });
      return outcome;
    };

    // Act
    const view = await cancelTask(deps, parent.taskId);

    // Assess
    expect(view).toMatchObject({ task_id: parent.taskId, status: "cancelled" });
    expect(view.subscribers?.map((s) => s.status)).toEqual(["cancelled", "cancelled"]);
    for (const copy of copies) expect((await store.get(copy.taskId))?.status).toBe("cancelled");
  });
});
