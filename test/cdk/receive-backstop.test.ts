import { randomBytes } from "node:crypto";
import type { SQSRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { deliverTimeoutSeconds, topicMaxReceiveCount } from "#cdk/lib/sizing.js";
import type { CallbackResult } from "#shared/adapters/callback-client.js";
import type { TopicConfig } from "#shared/config/index.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { deliverDeps, testTopic } from "../support/deliver-binding.js";
import { fifoRecord, makeTask } from "../support/factories.js";
import { FakeCallbacks, HTTP } from "../support/fakes/callbacks.js";
import { MemoryMetrics } from "../support/fakes/metrics.js";
import { FakeTopicQueue } from "../support/fakes/topic-queue.js";
import { memoryLogger } from "../support/logger.js";
import { MemoryTaskStore } from "../support/memory-task-store.js";

/** Lambda's FIFO batch: up to 10 messages, one group's in order. */
const BATCH_SIZE = 10;

/**
 * One group's FIFO messages through a receiver that is down, received as SQS hands a FIFO group to Lambda (the
 * first ten, again after each backoff). Every receive counts towards the queue's `maxReceiveCount`, including
 * those that end in no attempt: `failedReceivesPerHead` invocations per head that fail outright (throttled, timed
 * out, a DynamoDB error) — each returns the whole batch. Returns each task's receive count when deliver finished it.
 */
async function receivesUntilDeadLettered(
  maxAttempts: number,
  groupSize: number,
  failedReceivesPerHead: number,
  options: { readonly topic?: Partial<TopicConfig>; readonly answer?: CallbackResult } = {},
) {
  const topic = testTopic({ maxAttempts, ...options.topic });
  let now = Date.now();
  const store = new MemoryTaskStore();
  const callbacks = new FakeCallbacks();
  callbacks.fallback = options.answer ?? HTTP(500);
  // When each task's receiver was called (the time between its attempts: no wait cut short).
  const calledAt = new Map<string, number[]>();
  const post = callbacks.post.bind(callbacks);
  callbacks.post = (request) => {
    const taskId = request.headers["webhook-id"] ?? "";
    calledAt.set(taskId, [...(calledAt.get(taskId) ?? []), now]);
    return post(request);
  };
  const topicQueue = new FakeTopicQueue();
  const deps = deliverDeps({
    store,
    topicQueue,
    metrics: new MemoryMetrics(),
    logger: memoryLogger(),
    clock: () => now,
    topic,
    callbacks,
    signer: new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]),
  });
  const queue: { task: string; pk: string; receives: number }[] = [];
  for (let i = 0; i < groupSize; i++) {
    const task = makeTask({
      group: "G",
      dueAtMs: now - 60_000 + i,
      acceptedAtMs: now - 120_000,
      status: "queued",
    });
    await store.putNew(task);
    queue.push({ task: task.taskId, pk: task.pk, receives: 0 });
  }
  const finishedAt = new Map<string, number>();
  const failedOutright = new Map<string, number>();
  while (queue.length > 0) {
    now += 60_000;
    const batch = queue.slice(0, BATCH_SIZE);
    for (const m of batch) m.receives++;
    const head = batch[0]?.task as string;
    if ((failedOutright.get(head) ?? 0) < failedReceivesPerHead) {
      failedOutright.set(head, (failedOutright.get(head) ?? 0) + 1);
      continue;
    }
    const records: SQSRecord[] = batch.map((m) =>
      fifoRecord({ taskId: m.task, pk: m.pk }, { messageId: m.task, receiveCount: m.receives }),
    );
    const response = await deliverBatch(
      deps,
      { Records: records },
      // An invocation's whole time (the deliver function's timeout): time for a callback at every receive.
      { getRemainingTimeInMillis: () => Math.max(60_000, deliverTimeoutSeconds(topic) * 1000) },
    );
    // SQS hands the group back once the visibility deliver set for it has ended (a backoff step): the group's
    // next attempt is not started before it (deliver hides a record back early again, a receive more).
    const hidden = topicQueue.visibilityByHandle();
    now += 1000 * Math.max(0, ...records.map((r) => hidden[r.receiptHandle] ?? 0));
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    for (const m of batch) {
      if (failed.has(m.task)) continue;
      finishedAt.set(m.task, m.receives);
      queue.splice(queue.indexOf(m), 1);
    }
  }
  // Every task used all its attempts and was dead-lettered by deliver, not by the queue.
  for (const taskId of finishedAt.keys()) {
    expect(store.tasks.get(taskId)?.status, taskId).toBe("failed");
    expect(store.tasks.get(taskId)?.attempts, taskId).toBe(maxAttempts);
  }
  return { topic, receives: [...finishedAt.values()], calledAt };
}

describe("the topic queue's maxReceiveCount backstop", () => {
  // Without extra receives the tenth follower is received 10 × maxAttempts − 9 times; the backstop was exactly
  // 10 × maxAttempts (floor 100), so from maxAttempts 10 on one failed invocation per head moved it to the DLQ,
  // after which its followers were delivered before the sweeper re-sent it.
  it.each([8, 10, 20, 40])(
    "never moves a follower of failing heads to the DLQ before deliver dead-letters it itself (maxAttempts %i, up to two failed invocations per head)",
    async (maxAttempts) => {
      for (const failedReceivesPerHead of [0, 1, 2]) {
        const { topic, receives } = await receivesUntilDeadLettered(maxAttempts, 12, failedReceivesPerHead);
        // SQS moves a message once its receive count exceeds maxReceiveCount: every receive up to the one in which
        // deliver dead-letters the task must stay within it.
        expect(Math.max(...receives)).toBeLessThanOrEqual(topicMaxReceiveCount(topic));
      }
    },
  );

  // A wait longer than what is left of a later receive's 12 hours comes back early, and deliver hides it again for
  // the rest (docs/RELIABILITY.md, "A later receive's 12 hours"): one receive more per wait, never an attempt. With
  // 120 s callbacks every receive's hide is cut to 40,950 s here (the batch starts at once), so each 42,300 s
  // Retry-After costs two receives. Even with every wait cut (a run far longer than the queue's 14-day retention,
  // which bounds a message's cut waits to 29) the tenth follower stays within the backstop up to maxAttempts 50.
  it.each([8, 50])(
    "never moves a follower to the DLQ when every wait comes back early (maxAttempts %i, 42,300 s Retry-After, 120 s callbacks)",
    async (maxAttempts) => {
      const asked = 42_300;
      const { topic, receives, calledAt } = await receivesUntilDeadLettered(maxAttempts, 12, 0, {
        topic: { callbackTimeoutSeconds: 120, retryAfterCapSeconds: asked },
        answer: { ...HTTP(429), retryAfter: String(asked) },
      });
      expect(Math.max(...receives)).toBe(20 * maxAttempts - 19);
      expect(Math.max(...receives)).toBeLessThanOrEqual(topicMaxReceiveCount(topic));
      for (const times of calledAt.values()) {
        expect(times).toHaveLength(maxAttempts);
        for (let i = 1; i < times.length; i++)
          expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(asked * 1000);
      }
    },
  );
});
