import { monotonicFactory } from "ulid";
import { describe, expect, it } from "vitest";
import { StaticTopicSettings, type TopicSettingsSource } from "#shared/adapters/topic-settings.js";
import { parseConfig, type TopicConfig } from "#shared/config/index.js";
import { applyRuntimeSettings } from "#shared/config/runtime-settings.js";
import { claimExpiry, retentionExpiry, type TaskRecord } from "#shared/domain/task.js";
import { addTask } from "#shared/services/add-task.js";
import { deadLetterTask } from "#shared/services/dead-letter.js";
import { getTask } from "#shared/services/get-task.js";
import { replayTask } from "#shared/services/replay-task.js";
import { replayTopic } from "#shared/services/replay-topic.js";
import { makeTask } from "../../support/factories.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { refusal } from "../../support/refusal.js";
import { FakeScheduler, FakeTimerQueue, NOW } from "./fakes.js";

/**
 * The replay routes read a topic's retention (and the delivery window kept for a replayed copy's parent) from the
 * same settings as GET, DELETE, the list and the add: the runtime document (docs/OPERATIONS.md "Topic settings
 * without a deploy"), not the deployed environment file.
 */
const DAY_MS = 86_400_000;
const QUEUE = "https://sqs.test/orders.fifo";

/** Deployed with a 1-day retention; the runtime document raised it to 30 days. */
function setup() {
  const deployed = parseConfig({
    name: "test",
    system: { allowedCallbackHosts: ["*"] },
    topics: {
      orders: {
        deliverBy: "order_id",
        retentionDays: 1,
        subscribers: [
          { id: "billing", url: "https://billing.example.com/hook" },
          { id: "audit", url: "https://audit.example.com/hook" },
        ],
      },
      demo: { deliverBy: "order_id", retentionDays: 1 },
    },
  });
  const raised = applyRuntimeSettings(deployed, {
    topics: { orders: { retentionDays: 30 }, demo: { retentionDays: 30 } },
  });
  if (!raised.ok) throw new Error(raised.problems.join("; "));
  const store = new MemoryTaskStore();
  const topicQueue = new FakeTopicQueue(() => NOW);
  const addDeps = {
    store,
    timerQueue: new FakeTimerQueue(),
    scheduler: new FakeScheduler(),
    config: raised.config,
    now: () => NOW,
    newUlid: monotonicFactory(),
  };
  const replayDeps = (
    now: number,
    settings: TopicSettingsSource = new StaticTopicSettings(raised.config),
  ) => ({
    store,
    topicQueue,
    topicQueues: { orders: QUEUE, demo: QUEUE },
    config: deployed,
    settings,
    now: () => now,
  });
  return { deployed, runtime: raised.config, store, topicQueue, addDeps, replayDeps };
}

/** A keyed fan-out add (under the runtime settings) that wrote its parent but none of its copies. */
async function parentWithoutCopies(f: ReturnType<typeof setup>): Promise<string> {
  const putNew = f.store.putNew.bind(f.store);
  f.store.putNew = async (task, options) => {
    if (task.parentTaskId !== undefined) throw new Error("copy write failed");
    return putNew(task, options);
  };
  const body = {
    topic: "orders",
    delay_seconds: 10,
    idempotency_key: "k-replay-settings",
    content: { order_id: "o-1" },
  };
  await addTask(f.addDeps, { body }).catch(() => undefined);
  f.store.putNew = putNew;
  return [...f.store.tasks.values()].find((t) => t.fanOut)?.taskId as string;
}

describe("the replay routes with runtime topic settings", () => {
  it.each([
    ["a replay of every copy", "every"],
    ["its subscriber's replay", "subscriber"],
    ["a bulk replay naming it", "bulk"],
  ] as const)(
    "do not answer a fan-out task GET still serves as completed and expired (%s) when the runtime retention is longer than the deployed one",
    async (_name, how) => {
      // Prepare: 3 days after its due time, within the runtime retention (30 days), past the deployed one (1 day)
      const f = setup();
      const parentId = await parentWithoutCopies(f);
      const later = NOW + 10_000 + 3 * DAY_MS;
      const deps = f.replayDeps(later);
      const view = await getTask({ ...deps, config: f.runtime }, parentId);
      expect(view.status).toBe("scheduled");

      // Act
      const answer =
        how === "bulk"
          ? await replayTopic(deps, "orders", { task_ids: [parentId] })
          : await refusal(replayTask(deps, parentId, how === "subscriber" ? { subscriber: "billing" } : {}));

      // Assess: the task is there (its copies still to be written); nothing to replay, but not "no such task"
      if (how === "bulk") {
        expect(answer).toEqual({
          matched: 0,
          replayed: 0,
          failed: [{ task_id: parentId, reason: "fan-out task: no subscriber's copy is failed" }],
          next_cursor: null,
        });
      } else {
        expect(answer).toMatchObject({ status: 409 });
      }
    },
  );

  it.each([
    ["its subscriber's replay", "subscriber"],
    ["a bulk replay naming it", "bulk"],
  ] as const)(
    "keep a replayed copy's parent for the copy's new life under the runtime settings (%s), so the parent does not expire under its kept copy",
    async (_name, how) => {
      // Prepare: billing's copy dead-lettered under the runtime retention
      const f = setup();
      const added = await addTask(f.addDeps, {
        body: { topic: "orders", delay_seconds: 10, content: { order_id: "o-2" } },
      });
      const parent = (await f.store.get(added.body.task_id)) as TaskRecord;
      const billing = parent.fanOut?.[0]?.taskId as string;
      const started = await f.store.startAttempt(billing, NOW + 10_000);
      await deadLetterTask(
        { store: f.store, topicQueue: f.topicQueue },
        { dlqUrl: "https://sqs.test/orders-dlq.fifo", retentionDays: 30 },
        started as TaskRecord,
        "HTTP 500",
        () => NOW + 10_100,
      );
      const replayAt = NOW + 2 * DAY_MS;
      const deps = f.replayDeps(replayAt);

      // Act
      if (how === "subscriber") await replayTask(deps, parent.taskId, { subscriber: "billing" });
      else await replayTopic(deps, "orders", { task_ids: [parent.taskId] });

      // Assess: kept as a copy replayed now is, under the settings deliver retains it by
      const kept = (await f.store.get(parent.taskId))?.expiresAt;
      expect((await f.store.get(billing))?.status).toBe("queued");
      expect(kept).toBe(claimExpiry(replayAt, f.runtime.resolvedTopics.orders as TopicConfig));
    },
  );

  it("undoes a replay whose send failed with the runtime retention for a task that has no TTL of its own", async () => {
    // Prepare: a failed task without `expiresAt` (written before finished tasks carried one)
    const f = setup();
    const task: TaskRecord = {
      ...makeTask({ topic: "demo", group: "o-undo", dueAtMs: NOW - 2_000, acceptedAtMs: NOW - 3_000 }),
      status: "failed",
      attempts: 3,
      failedAtMs: NOW - 1_000,
    };
    await f.store.putNew(task);
    f.topicQueue.failSends = true;

    // Act
    const answer = await refusal(replayTask(f.replayDeps(NOW), task.taskId));

    // Assess
    expect(answer).toMatchObject({ status: 503 });
    const after = await f.store.get(task.taskId);
    expect(after?.status).toBe("failed");
    expect(after?.expiresAt).toBe(retentionExpiry(NOW - 1_000, 30));
  });

  it("a plain task's replay never waits on the settings: they are read only where a topic's setting decides", async () => {
    // Prepare: a dead-lettered plain task, and a settings source that never answers
    const f = setup();
    const task = makeTask({
      topic: "demo",
      group: "o-plain",
      dueAtMs: NOW - 2_000,
      acceptedAtMs: NOW - 3_000,
    });
    await f.store.putNew(task);
    const started = await f.store.startAttempt(task.taskId, NOW - 1_500);
    await deadLetterTask(
      { store: f.store, topicQueue: f.topicQueue },
      { dlqUrl: "https://sqs.test/demo-dlq.fifo", retentionDays: 30 },
      started as TaskRecord,
      "HTTP 500",
      () => NOW - 1_000,
    );
    const deps = f.replayDeps(NOW, { current: () => new Promise(() => undefined) });

    // Act
    const view = await replayTask(deps, task.taskId);
    const bulk = await replayTopic(deps, "demo", {});

    // Assess
    expect(view.status).toBe("queued");
    expect(bulk).toMatchObject({ matched: 0 });
  });
});
