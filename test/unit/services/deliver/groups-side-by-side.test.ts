import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { CallbackRequest, CallbackResult } from "#shared/adapters/callback-client.js";
import type { TopicConfig } from "#shared/config/index.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { type DeliverDeps, deliverBatch } from "#shared/services/deliver/index.js";
import { deliverDeps, QUEUE_URL, testTopic } from "../../../support/deliver-binding.js";
import { eventOf, fifoRecord, makeTask } from "../../../support/factories.js";
import { FakeCallbacks, HTTP } from "../../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";
import { MemoryTaskStore } from "../../../support/memory-task-store.js";

/**
 * The one group runner, at one group after another and at the deployed setting (the batch size, 10): each
 * group's records in order, a group stopped at its first failure with the rest of it reported failed, other
 * groups going on.
 */
const GROUP_CONCURRENCIES = [1, 10] as const;

function setup(
  groupConcurrency: number,
  remainingMs: () => number = () => 60_000,
  options: { topic?: TopicConfig; deps?: Partial<DeliverDeps> } = {},
) {
  const now = Date.now();
  const store = new MemoryTaskStore();
  const callbacks = new FakeCallbacks();
  const queue = new FakeTopicQueue();
  const logger = memoryLogger();
  const topic = options.topic ?? testTopic();
  const signer = new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]);
  const deps = deliverDeps(
    {
      store,
      topicQueue: queue,
      metrics: new MemoryMetrics(),
      logger,
      clock: () => now,
      topic,
      callbacks,
      signer,
    },
    { groupConcurrency, ...options.deps },
  );
  const task = async (group: string, dueOffsetMs = -250) => {
    const t = makeTask({ group, dueAtMs: now + dueOffsetMs, acceptedAtMs: now - 10_000, status: "queued" });
    await store.putNew(t);
    return t;
  };
  return { store, callbacks, queue, logger, deps, task, context: { getRemainingTimeInMillis: remainingMs } };
}

describe.each(GROUP_CONCURRENCIES)(
  "deliver: the groups of a batch at groupConcurrency %i",
  (groupConcurrency) => {
    it("starts up to groupConcurrency groups at once, yet keeps each group's records strictly in order", async () => {
      const { store, callbacks, deps, task, context } = setup(groupConcurrency);
      const a1 = await task("A", -3_000);
      const a2 = await task("A", -2_000);
      const b1 = await task("B");
      const c1 = await task("C");
      const events: string[] = [];
      let inFlight = 0;
      let peak = 0;
      callbacks.post = async (request: CallbackRequest): Promise<CallbackResult> => {
        const id = String(JSON.parse(request.body).task_id);
        callbacks.requests.push(request);
        inFlight++;
        peak = Math.max(peak, inFlight);
        events.push(`start ${id}`);
        await new Promise((r) => setTimeout(r, 20));
        events.push(`end ${id}`);
        inFlight--;
        return HTTP(200);
      };

      const response = await deliverBatch(
        deps,
        eventOf(...[a1, b1, a2, c1].map((t) => fifoRecord(t))),
        context,
      );

      expect(response.batchItemFailures).toEqual([]);
      // A, B and C together at 10, one at a time at 1; never A1 and A2 together.
      expect(peak).toBe(Math.min(groupConcurrency, 3));
      expect(events.indexOf(`start ${a2.taskId}`)).toBeGreaterThan(events.indexOf(`end ${a1.taskId}`));
      for (const t of [a1, a2, b1, c1]) expect(store.tasks.get(t.taskId)?.status).toBe("delivered");
    });

    it("a failing head fails the rest of its group unattempted; other groups are delivered; failures in batch order", async () => {
      const { store, callbacks, queue, deps, task, context } = setup(groupConcurrency);
      const a1 = await task("A", -3_000);
      const a2 = await task("A", -2_000);
      const a3 = await task("A", -1_000);
      const b1 = await task("B");
      const b2 = await task("B");
      callbacks.answer(a1.taskId, HTTP(503));
      const records = [a1, b1, a2, b2, a3].map((t) => fifoRecord(t, { receiveCount: 40 }));

      const response = await deliverBatch(deps, eventOf(...records), context);

      const [ra1, , ra2, , ra3] = records;
      expect(response.batchItemFailures).toEqual(
        [ra1, ra2, ra3].map((r) => ({ itemIdentifier: r?.messageId })),
      );
      expect(new Set(callbacks.calledFor())).toEqual(new Set([a1.taskId, b1.taskId, b2.taskId]));
      expect(store.tasks.get(a2.taskId)).toMatchObject({ status: "queued", attempts: 0 });
      expect(store.tasks.get(a3.taskId)).toMatchObject({ status: "queued", attempts: 0 });
      expect([b1, b2].map((t) => store.tasks.get(t.taskId)?.status)).toEqual(["delivered", "delivered"]);
      expect(queue.visibility).toEqual([
        {
          queueUrl: QUEUE_URL,
          changes: [ra1, ra2, ra3].map((r) => ({ receiptHandle: r?.receiptHandle, seconds: 10 })),
        },
      ]);
    });

    it("the time guard still holds within a group: a follower is not started once the time is used up", async () => {
      let remaining = 60_000;
      const { store, callbacks, deps, task, context } = setup(groupConcurrency, () => remaining);
      const b1 = await task("B", -2_000);
      const b2 = await task("B", -1_000);
      callbacks.post = async (request) => {
        callbacks.requests.push(request);
        remaining = 5_900; // < 5 s callback timeout + 1 s margin
        return HTTP(200);
      };
      const records = [b1, b2].map((t) => fifoRecord(t));

      const response = await deliverBatch(deps, eventOf(...records), context);

      expect(callbacks.calledFor()).toEqual([b1.taskId]);
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[1]?.messageId }]);
      expect(store.tasks.get(b2.taskId)).toMatchObject({ status: "queued", attempts: 0 });
    });

    describe("watchdog: a step that never settles holds neither the other groups nor the invocation", () => {
      /** A callback client whose posts for `stuckTaskId` never settle; every other post answers 200. */
      function stuckFor(callbacks: FakeCallbacks, stuckTaskId: string) {
        callbacks.post = (request: CallbackRequest): Promise<CallbackResult> => {
          callbacks.requests.push(request);
          if (request.headers["webhook-id"] === stuckTaskId)
            return new Promise<CallbackResult>(() => undefined);
          return Promise.resolve(HTTP(200));
        };
      }

      it("the stuck group's records are reported failed with the first backoff step; the other groups' results stand", async () => {
        // Prepare: short deadlines (50 ms callback timeout + 50 ms margin) so the test is fast.
        const topic = testTopic({ callbackTimeoutSeconds: 0.05 });
        const { store, callbacks, queue, logger, deps, task, context } = setup(groupConcurrency, undefined, {
          topic,
          deps: { watchdogMarginMs: 50 },
        });
        const a1 = await task("A", -3_000);
        const a2 = await task("A", -2_000);
        const b1 = await task("B");
        const c1 = await task("C");
        stuckFor(callbacks, a1.taskId);
        const records = [a1, b1, a2, c1].map((t) => fifoRecord(t));

        // Act
        const response = await deliverBatch(deps, eventOf(...records), context);

        // Assess
        const [ra1, , ra2] = records;
        expect(response.batchItemFailures).toEqual([ra1, ra2].map((r) => ({ itemIdentifier: r?.messageId })));
        expect([b1, c1].map((t) => store.tasks.get(t.taskId)?.status)).toEqual(["delivered", "delivered"]);
        expect(store.tasks.get(a2.taskId)).toMatchObject({ status: "queued", attempts: 0 });
        expect(callbacks.calledFor()).not.toContain(a2.taskId);
        expect(queue.visibility).toEqual([
          {
            queueUrl: QUEUE_URL,
            changes: [ra1, ra2].map((r) => ({ receiptHandle: r?.receiptHandle, seconds: 10 })),
          },
        ]);
        expect(logger.entries).toContainEqual(
          expect.objectContaining({ level: "error", extra: { messageId: ra1?.messageId, budgetMs: 100 } }),
        );
      });

      it("the invocation's remaining time bounds the wait when it is shorter than timeout + margin", async () => {
        // Prepare: a margin far longer than the test may take; 200 ms left, 100 ms safety margin → 150 ms budget.
        const topic = testTopic({ callbackTimeoutSeconds: 0.05 });
        const { store, callbacks, logger, deps, task, context } = setup(groupConcurrency, () => 200, {
          topic,
          deps: { watchdogMarginMs: 600_000, safetyMarginMs: 100 },
        });
        const a1 = await task("A");
        const b1 = await task("B");
        stuckFor(callbacks, a1.taskId);
        const records = [a1, b1].map((t) => fifoRecord(t));

        // Act
        const response = await deliverBatch(deps, eventOf(...records), context);

        // Assess
        expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[0]?.messageId }]);
        expect(store.tasks.get(b1.taskId)?.status).toBe("delivered");
        expect(logger.entries).toContainEqual(
          expect.objectContaining({
            level: "error",
            extra: { messageId: records[0]?.messageId, budgetMs: 150 },
          }),
        );
      });
    });
  },
);
