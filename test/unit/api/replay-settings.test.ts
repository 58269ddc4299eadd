import { describe, expect, it } from "vitest";
import { StaticTopicSettings, type TopicSettingsSource } from "#shared/adapters/topic-settings.js";
import type { TopicConfig } from "#shared/config/index.js";
import { claimExpiry, retentionExpiry, type TaskRecord } from "#shared/domain/task.js";
import { addTask } from "#shared/services/add-task.js";
import { deadLetterTask } from "#shared/services/dead-letter.js";
import { getTask } from "#shared/services/get-task.js";
import { replayTask } from "#shared/services/replay-task.js";
import { replayTopic } from "#shared/services/replay-topic.js";
import { makeTask } from "../../support/factories.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { refusal } from "../../support/refusal.js";
import { NOW } from "./fakes.js";
import { DAY_MS, parentWithoutCopies, raisedRetention } from "./runtime-retention.js";

/**
 * The replay routes read a topic's retention (and the delivery window kept for a replayed copy's parent) from the
 * same settings as GET, DELETE, the list and the add: the runtime document (docs/OPERATIONS.md "Topic settings
 * without a deploy"), not the deployed environment file.
 */
const QUEUE = "https://sqs.test/orders.fifo";

/** The runtime-raised retention of raisedRetention(), with the replay routes' dependencies at a given time. */
function setup() {
  const f = raisedRetention();
  const topicQueue = new FakeTopicQueue(() => NOW);
  const replayDeps = (now: number, settings: TopicSettingsSource = new StaticTopicSettings(f.runtime)) => ({
    store: f.store,
    topicQueue,
    topicQueues: { orders: QUEUE, demo: QUEUE },
    config: f.deployed,
    settings,
    now: () => now,
  });
  return { ...f, topicQueue, replayDeps };
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
      const parentId = await parentWithoutCopies(f, "k-replay-settings");
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
