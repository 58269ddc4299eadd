import { monotonicFactory } from "ulid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { retentionExpiry, type TaskRecord } from "#shared/domain/task.js";
import { addTask } from "#shared/services/add-task.js";
import { cancelTask } from "#shared/services/cancel-task.js";
import { replayTask } from "#shared/services/replay-task.js";
import { replayTopic } from "#shared/services/replay-topic.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { FakeScheduler, FakeTimerQueue, NOW, testConfig } from "../api/fakes.js";

/**
 * A fan-out parent's DELETE racing its add, against DynamoDB (dynalite, the real store over a real SDK client): the
 * add writes a copy just after the cancel's conditional write to it found nothing (services/fan-out.test.ts has the
 * same race on the memory store). And its discard of dead-lettered copies, out of the failed index a bulk replay
 * reads, also when a copy's replay wins the discard's write.
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
    const deps = addDepsOn(store);
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

const QUEUE = "https://sqs.test/orders.fifo";

/** What adding and cancelling on `store` need: the fan-out topic `orders`, fakes for the timer, the clock at NOW. */
function addDepsOn(store: DynamoTaskStore) {
  return {
    store,
    timerQueue: new FakeTimerQueue(),
    scheduler: new FakeScheduler(),
    config: testConfig({ orders: { deliverBy: "order_id", subscribers: SUBSCRIBERS } }),
    now: () => NOW,
    newUlid: monotonicFactory(),
  };
}

/** A table of its own, a fan-out task added on it and each of its copies dead-lettered (failed index and all). */
async function deadLetteredOrder(table: string) {
  await createTaskTable(dynamo.client, table);
  const store = new DynamoTaskStore({
    client: dynamo.client,
    tableName: table,
    nowSeconds: () => Math.floor(NOW / 1000),
  });
  const topicQueue = new FakeTopicQueue(() => NOW);
  const deps = addDepsOn(store);
  const replayDeps = {
    store,
    topicQueue,
    topicQueues: { orders: QUEUE },
    now: () => NOW,
    config: deps.config,
  };
  const added = await addTask(deps, {
    body: { topic: "orders", delay_seconds: 10, content: { order_id: "d-1" } },
  });
  const parent = (await store.get(added.body.task_id)) as TaskRecord;
  const copies: TaskRecord[] = [];
  for (const link of parent.fanOut ?? []) {
    await store.startAttempt(link.taskId, NOW + 10_000);
    await store.markFailed(link.taskId, {
      error: "HTTP 500",
      atMs: NOW + 10_100,
      expiresAt: retentionExpiry(NOW + 10_100, 1),
    });
    copies.push((await store.get(link.taskId)) as TaskRecord);
  }
  return { store, deps, replayDeps, topicQueue, parent, copies };
}

describe("a fan-out DELETE of dead-lettered copies, against DynamoDB", () => {
  it("a DELETE of a parent whose copies are all dead-lettered discards them (200), and a bulk replay of the topic then replays nothing of it", async () => {
    // Prepare
    const { store, deps, replayDeps, topicQueue, parent, copies } =
      await deadLetteredOrder("fan-out-discard");
    const listed = await store.listFailed("orders", 10);

    // Act
    const view = await cancelTask(deps, parent.taskId);
    const replayed = await replayTopic(replayDeps, "orders", {});

    // Assess: the copies were in the dead-letter list, and the DELETE took them out of it
    expect(listed.tasks.map((t) => t.taskId).sort()).toEqual(copies.map((c) => c.taskId).sort());
    expect(view).toMatchObject({ task_id: parent.taskId, status: "cancelled" });
    expect(view.subscribers?.map((s) => s.status)).toEqual(["cancelled", "cancelled"]);
    for (const copy of copies) expect((await store.get(copy.taskId))?.status).toBe("cancelled");
    expect(replayed).toMatchObject({ matched: 0, replayed: 0 });
    expect(topicQueue.idsIn(QUEUE)).toEqual([]);
  });

  it("a DELETE whose discard of a dead-lettered copy loses to that copy's replay cancels the replayed copy: its attempt has not started", async () => {
    // Prepare: billing's copy is replayed (marked queued, sent) between the cancel's write to it and the discard
    const { store, deps, replayDeps, parent, copies } = await deadLetteredOrder("fan-out-discard-race");
    const billing = copies[0] as TaskRecord;
    const discard = store.discardFailed.bind(store);
    store.discardFailed = async (taskId, ...rest) => {
      if (taskId === billing.taskId) await replayTask(replayDeps, billing.taskId);
      return discard(taskId, ...rest);
    };

    // Act
    const view = await cancelTask(deps, parent.taskId);

    // Assess: the replayed copy's message, when its turn comes, finds it cancelled and starts no attempt
    expect(view.subscribers?.map((s) => s.status)).toEqual(["cancelled", "cancelled"]);
    expect((await store.get(billing.taskId))?.status).toBe("cancelled");
    expect(await store.startAttempt(billing.taskId, NOW + 20_000)).toBeUndefined();
  });
});
