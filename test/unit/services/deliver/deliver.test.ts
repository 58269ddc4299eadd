import { randomBytes } from "node:crypto";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { type TopicConfig, topicQueueVisibilitySeconds } from "#shared/config/index.js";
import { METRIC, TOPIC_DIMENSION } from "#shared/domain/metrics.js";
import { retentionExpiry, type TaskRecord } from "#shared/domain/task.js";
import { CallbackSigner } from "#shared/security/signing.js";
import {
  callbackBody,
  type DeliverDeps,
  deliverBatch,
  PowertoolsDeliveryMetrics,
} from "#shared/services/deliver/index.js";
import { RECEIPT_CLOCK_MARGIN_SECONDS } from "#shared/services/deliver/visibility.js";
import { binding, deliverDeps, QUEUE_URL, testTopic } from "../../../support/deliver-binding.js";
import { eventOf, fifoRecord, makeTask } from "../../../support/factories.js";
import { FakeCallbacks, HTTP } from "../../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";
import { MemoryTaskStore } from "../../../support/memory-task-store.js";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

/** The group runner at both settings: one group after another, and the deployed batch size side by side. */
const GROUP_CONCURRENCIES = [1, 10] as const;
/** A second topic queue, for a batch mixing topics with different callback timeouts. */
const QUICK_QUEUE_ARN = "arn:aws:sqs:eu-west-1:000000000000:punctual-test-quick.fifo";

function setup(groupConcurrency: number, options: { topic?: TopicConfig; remainingMs?: () => number } = {}) {
  const now = Date.now(); // near real time so Webhook.verify's 5-minute tolerance accepts the timestamps
  const store = new MemoryTaskStore();
  const callbacks = new FakeCallbacks();
  const queue = new FakeTopicQueue();
  const metrics = new MemoryMetrics();
  const logger = memoryLogger();
  const topic = options.topic ?? testTopic();
  const signer = new CallbackSigner([SECRET]);
  const deps = deliverDeps(
    { store, topicQueue: queue, metrics, logger, clock: () => now, topic, callbacks, signer },
    { groupConcurrency },
  );
  const context = { getRemainingTimeInMillis: options.remainingMs ?? (() => 60_000) };
  const task = async (o: Partial<Parameters<typeof makeTask>[0]> = {}) => {
    const t = makeTask({
      group: "g1",
      dueAtMs: now - 250,
      acceptedAtMs: now - 10_000,
      status: "queued",
      ...o,
    });
    await store.putNew(t);
    return t;
  };
  return { now, store, callbacks, queue, metrics, logger, topic, deps, context, task };
}

describe.each(GROUP_CONCURRENCIES)("deliver at groupConcurrency %i", (groupConcurrency) => {
  describe("deliver: the hand-over time", () => {
    it("records the FIFO message's SentTimestamp as queued_at in the start write; one already recorded stays", async () => {
      // Prepare: one task as the relay leaves it (`scheduled`), one the sweeper forwarded (`queued` at its time)
      const { now, store, callbacks, deps, context, task } = setup(groupConcurrency);
      const relayed = await task({ group: "h1", status: "scheduled" });
      const swept = await task({ group: "h2" });
      store.tasks.set(swept.taskId, {
        ...(store.tasks.get(swept.taskId) as TaskRecord),
        queuedAtMs: now - 50,
      });
      callbacks.answer(relayed.taskId, HTTP(200)).answer(swept.taskId, HTTP(200));

      // Act
      await deliverBatch(
        deps,
        eventOf(fifoRecord(relayed, { sentAtMs: now - 120 }), fifoRecord(swept, { sentAtMs: now - 20 })),
        context,
      );

      // Assess
      expect(store.tasks.get(relayed.taskId)).toMatchObject({ status: "delivered", queuedAtMs: now - 120 });
      expect(store.tasks.get(swept.taskId)).toMatchObject({ status: "delivered", queuedAtMs: now - 50 });
    });
  });

  describe("deliver: success", () => {
    it("POSTs the signed callback and records delivered with lateness, latency and retention", async () => {
      const { now, store, callbacks, queue, metrics, deps, context, task } = setup(groupConcurrency);
      const t = await task({ content: '{"order_id":"g1","amount":12.5,"items":[1,2]}' });
      callbacks.answer(t.taskId, HTTP(200, 37));

      const response = await deliverBatch(deps, eventOf(fifoRecord(t)), context);

      expect(response).toEqual({ batchItemFailures: [] });
      const [request] = callbacks.requests;
      expect(request?.url).toBe(t.callbackUrl);
      expect(request?.timeoutMs).toBe(5_000);
      expect(JSON.parse(request?.body as string)).toEqual({
        task_id: t.taskId,
        topic: "demo",
        due_at: new Date(t.dueAtMs).toISOString(),
        attempt: 1,
        content: { order_id: "g1", amount: 12.5, items: [1, 2] },
      });
      expect(request?.headers["punctual-attempt"]).toBe("1");
      expect(request?.headers["punctual-topic"]).toBe("demo");
      expect(request?.headers["webhook-id"]).toBe(t.taskId);
      expect(new Webhook(SECRET).verify(request?.body as string, { ...request?.headers })).toBeTruthy();

      const stored = store.tasks.get(t.taskId) as TaskRecord;
      expect(stored).toMatchObject({
        status: "delivered",
        attempts: 1,
        deliveredAtMs: now,
        latenessMs: 250,
        deliveryLatencyMs: 37,
        expiresAt: retentionExpiry(now, 3),
      });
      expect(metrics.events).toEqual([{ kind: "delivered", topic: "demo", values: [250, 37] }]);
      expect(metrics.flushes).toBe(1);
      expect(queue.visibility).toEqual([]);
    });

    it("a replay's delivery counts as delivered but not in DeliveryLateness: late by days from its due time, it paged the p99 lateness alarm", async () => {
      const { now, store, callbacks, metrics, deps, context, task } = setup(groupConcurrency);
      const replayed = await task({ dueAtMs: now - 2 * 86_400_000 });
      store.tasks.set(replayed.taskId, { ...(store.tasks.get(replayed.taskId) as TaskRecord), replays: 1 });
      callbacks.answer(replayed.taskId, HTTP(200, 37));

      await deliverBatch(deps, eventOf(fifoRecord(replayed)), context);

      // The task keeps its lateness from the due time (its view); the topic's punctuality metric does not.
      expect(store.tasks.get(replayed.taskId)).toMatchObject({
        status: "delivered",
        latenessMs: 2 * 86_400_000,
      });
      expect(metrics.events).toEqual([{ kind: "delivered", topic: "demo", values: [37] }]);
    });

    it("never re-delivers delivered, failed or cancelled tasks, and drops messages of missing tasks", async () => {
      const { store, callbacks, deps, context, task } = setup(groupConcurrency);
      const delivered = await task({ group: "a", status: "delivered" });
      const failed = await task({ group: "b", status: "failed" });
      const cancelled = await task({ group: "c", status: "cancelled" });
      const missing = makeTask({ group: "d", dueAtMs: 0, acceptedAtMs: 0 });
      const garbage = { ...fifoRecord(missing), body: "{not json" };

      const response = await deliverBatch(
        deps,
        eventOf(...[delivered, failed, cancelled, missing].map((t) => fifoRecord(t)), garbage),
        context,
      );
      expect(response).toEqual({ batchItemFailures: [] });
      expect(callbacks.requests).toEqual([]);
      expect(store.tasks.get(delivered.taskId)?.attempts).toBe(0);
    });
  });

  describe("deliver: a task cancelled while it waited for its retry", () => {
    it("its retry calls nothing and its record is done (the message consumed); the group's next task is delivered", async () => {
      // Prepare: the head answered 500 once (its failure recorded), the follower behind it; the head cancelled
      const { store, callbacks, deps, context, task } = setup(groupConcurrency);
      const head = await task({ group: "r" });
      const follower = await task({ group: "r", dueAtMs: head.dueAtMs + 1 });
      callbacks.answer(head.taskId, HTTP(500)).answer(follower.taskId, HTTP(200));
      const first = await deliverBatch(deps, eventOf(fifoRecord(head), fifoRecord(follower)), context);
      const cancel = await store.cancel(head.taskId, Date.now(), 1, { awaitingRetry: true });

      // Act: the retry of the group's messages
      const retry = await deliverBatch(deps, eventOf(fifoRecord(head), fifoRecord(follower)), context);

      // Assess
      expect(first.batchItemFailures.length).toBeGreaterThan(0);
      expect(cancel).toMatchObject({ outcome: "cancelled", task: { attempts: 1 } });
      expect(retry).toEqual({ batchItemFailures: [] });
      expect(callbacks.calledFor()).toEqual([head.taskId, follower.taskId]);
      expect(store.tasks.get(head.taskId)).toMatchObject({ status: "cancelled", attempts: 1 });
      expect(store.tasks.get(follower.taskId)?.status).toBe("delivered");
    });

    it("one cancelled between its last attempt's recorded failure and its dead-lettering stays cancelled: `failed` is not written over it, the record is done and nothing is called again", async () => {
      // Prepare: a topic of one attempt; the cancel lands as deliver dead-letters it (after the DLQ send, before
      // `failed`: the task reads as waiting, its last attempt's outcome recorded)
      const { store, callbacks, queue, deps, context, task } = setup(groupConcurrency, {
        topic: testTopic({ maxAttempts: 1 }),
      });
      const head = await task({ group: "last" });
      const follower = await task({ group: "last", dueAtMs: head.dueAtMs + 1 });
      callbacks.answer(head.taskId, HTTP(500)).answer(follower.taskId, HTTP(200));
      const markFailed = store.markFailed.bind(store);
      const cancels: unknown[] = [];
      store.markFailed = async (taskId, failure) => {
        cancels.push(await store.cancel(taskId, Date.now(), 1, { awaitingRetry: true }));
        return markFailed(taskId, failure);
      };

      // Act
      const first = await deliverBatch(deps, eventOf(fifoRecord(head), fifoRecord(follower)), context);
      const again = await deliverBatch(deps, eventOf(fifoRecord(head)), context);

      // Assess: the cancel won; the DLQ message sent before it is the sweeper's to remove (its task is not failed)
      expect(cancels).toMatchObject([{ outcome: "cancelled", task: { attempts: 1 } }]);
      expect(store.tasks.get(head.taskId)).toMatchObject({ status: "cancelled", attempts: 1 });
      expect(store.tasks.get(head.taskId)?.failedAtMs).toBeUndefined();
      expect(queue.deadLetters.map((d) => d.taskId)).toEqual([head.taskId]);
      expect(first).toEqual({ batchItemFailures: [] });
      expect(again).toEqual({ batchItemFailures: [] });
      expect(callbacks.calledFor()).toEqual([head.taskId, follower.taskId]);
      expect(store.tasks.get(follower.taskId)?.status).toBe("delivered");
    });
  });

  describe("deliver: a task whose cancel was requested while its callback was in flight", () => {
    /** The receiver's answer is held while an operator's cancel (a DELETE) lands on the task. */
    function cancelDuringCallback(f: ReturnType<typeof setup>, taskId: string, outcomes: unknown[]): void {
      const post = f.callbacks.post.bind(f.callbacks);
      f.callbacks.post = async (request) => {
        if (request.headers["webhook-id"] === taskId) {
          outcomes.push(await f.store.cancel(taskId, Date.now(), 1, { awaitingRetry: true }));
        }
        return post(request);
      };
    }

    it("its failed callback ends it cancelled: no retry, no dead-lettering, the record done, the group's next task delivered", async () => {
      // Prepare: the head's callback answers 500 after the cancel landed; the follower answers 200
      const f = setup(groupConcurrency);
      const head = await f.task({ group: "inflight" });
      const follower = await f.task({ group: "inflight", dueAtMs: head.dueAtMs + 1 });
      f.callbacks.answer(head.taskId, HTTP(500)).answer(follower.taskId, HTTP(200));
      const cancels: unknown[] = [];
      cancelDuringCallback(f, head.taskId, cancels);

      // Act: the batch, then the head's message again (a duplicate, or the group's records back)
      const first = await deliverBatch(f.deps, eventOf(fifoRecord(head), fifoRecord(follower)), f.context);
      const again = await deliverBatch(f.deps, eventOf(fifoRecord(head)), f.context);

      // Assess
      expect(cancels).toMatchObject([{ outcome: "cancel-requested", task: { status: "delivering" } }]);
      expect(first).toEqual({ batchItemFailures: [] });
      expect(again).toEqual({ batchItemFailures: [] });
      expect(f.callbacks.calledFor()).toEqual([head.taskId, follower.taskId]);
      expect(f.store.tasks.get(head.taskId)).toMatchObject({
        status: "cancelled",
        attempts: 1,
        lastError: "HTTP 500",
      });
      expect(f.queue.deadLetters).toEqual([]);
      expect(f.store.tasks.get(follower.taskId)?.status).toBe("delivered");
    });

    it("its last attempt failing ends it cancelled, not dead-lettered", async () => {
      const f = setup(groupConcurrency, { topic: testTopic({ maxAttempts: 1 }) });
      const head = await f.task({ group: "inflight-last" });
      f.callbacks.answer(head.taskId, HTTP(500));
      cancelDuringCallback(f, head.taskId, []);

      const response = await deliverBatch(f.deps, eventOf(fifoRecord(head)), f.context);

      expect(response).toEqual({ batchItemFailures: [] });
      expect(f.store.tasks.get(head.taskId)?.status).toBe("cancelled");
      expect(f.queue.deadLetters).toEqual([]);
    });

    it("its successful callback ends it delivered (a callback cannot be unsent)", async () => {
      const f = setup(groupConcurrency);
      const head = await f.task({ group: "inflight-ok" });
      f.callbacks.answer(head.taskId, HTTP(200));
      cancelDuringCallback(f, head.taskId, []);

      const response = await deliverBatch(f.deps, eventOf(fifoRecord(head)), f.context);

      expect(response).toEqual({ batchItemFailures: [] });
      expect(f.store.tasks.get(head.taskId)?.status).toBe("delivered");
    });

    it("an attempt whose outcome was never written (the function died mid-callback): its message back calls nothing and ends the task cancelled", async () => {
      // Prepare: an earlier invocation started the attempt and died; the cancel was requested meanwhile
      const f = setup(groupConcurrency);
      const head = await f.task({ group: "inflight-lost" });
      await f.store.startAttempt(head.taskId, Date.now() - 120_000);
      await f.store.cancel(head.taskId, Date.now() - 60_000, 1, { awaitingRetry: true });

      // Act
      const response = await deliverBatch(f.deps, eventOf(fifoRecord(head)), f.context);

      // Assess
      expect(response).toEqual({ batchItemFailures: [] });
      expect(f.callbacks.calledFor()).toEqual([]);
      expect(f.store.tasks.get(head.taskId)).toMatchObject({ status: "cancelled", attempts: 1 });
    });
  });

  describe("deliver: a message naming another topic's task", () => {
    it.each([1, 2])(
      "is dropped with an error, never delivered under this topic's key and limits (%i such records in the batch)",
      async (count) => {
        // Prepare: tasks of topic "other", due and waiting, whose messages someone sent by hand to demo's queue.
        const { store, callbacks, logger, deps, context, task } = setup(groupConcurrency);
        const foreign = [];
        for (let i = 0; i < count; i++) foreign.push(await task({ topic: "other", group: `o${i}` }));
        for (const t of foreign) callbacks.answer(t.taskId, HTTP(200));

        // Act
        const response = await deliverBatch(deps, eventOf(...foreign.map((t) => fifoRecord(t))), context);

        // Assess
        expect(response).toEqual({ batchItemFailures: [] });
        expect(callbacks.requests).toEqual([]);
        for (const t of foreign)
          expect(store.tasks.get(t.taskId)).toMatchObject({ status: "queued", attempts: 0 });
        expect(logger.entries.filter((e) => e.level === "error").map((e) => e.message)).toEqual(
          foreign.map(() => "dropping topic message: its task belongs to another topic"),
        );
      },
    );
  });

  describe("deliver: failures, ordering and backoff", () => {
    it("a failing head stops its group; other groups in the batch proceed; the group's records all get the backoff", async () => {
      const { store, callbacks, queue, metrics, deps, context, task } = setup(groupConcurrency);
      const a1 = await task({ group: "A", dueAtMs: Date.now() - 3_000 });
      const a2 = await task({ group: "A", dueAtMs: Date.now() - 2_000 });
      const a3 = await task({ group: "A", dueAtMs: Date.now() - 1_000 });
      const b1 = await task({ group: "B" });
      const b2 = await task({ group: "B" });
      callbacks.answer(a1.taskId, HTTP(503));
      const records = [a1, b1, a2, b2, a3].map((t) => fifoRecord(t, { receiveCount: 40 }));

      const response = await deliverBatch(deps, eventOf(...records), context);

      const [ra1, rb1, ra2, rb2, ra3] = records;
      expect(response.batchItemFailures).toEqual(
        [ra1, ra2, ra3].map((r) => ({ itemIdentifier: r?.messageId })),
      );
      expect(callbacks.calledFor()).toEqual([a1.taskId, b1.taskId, b2.taskId]);
      expect(store.tasks.get(a1.taskId)).toMatchObject({
        status: "delivering",
        attempts: 1,
        lastError: "HTTP 503",
      });
      // Followers were not attempted: no attempt counted, whatever their receive count says.
      expect(store.tasks.get(a2.taskId)).toMatchObject({ status: "queued", attempts: 0 });
      expect(store.tasks.get(a3.taskId)).toMatchObject({ status: "queued", attempts: 0 });
      expect([b1, b2].map((t) => store.tasks.get(t.taskId)?.status)).toEqual(["delivered", "delivered"]);
      // Backoff for attempt 1 = initialSeconds (jitter none), on every failed record of the group.
      expect(queue.visibility).toEqual([
        {
          queueUrl: QUEUE_URL,
          changes: [ra1, ra2, ra3].map((r) => ({ receiptHandle: r?.receiptHandle, seconds: 10 })),
        },
      ]);
      expect(rb1 && rb2 && queue.visibilityByHandle()[rb1.receiptHandle]).toBeUndefined();
      expect(queue.deadLetters).toEqual([]);
      expect(metrics.count("attemptFailed")).toBe(1);
      expect(metrics.count("delivered")).toBe(2);
    });

    it("backoff grows with the attempt number", async () => {
      const { callbacks, queue, deps, context, task } = setup(groupConcurrency);
      const t = await task({ status: "delivering", attempts: 1, lastError: "HTTP 500" } as never);
      callbacks.answer(t.taskId, HTTP(500));
      const record = fifoRecord(t);
      await deliverBatch(deps, eventOf(record), context);
      expect(queue.visibilityByHandle()).toEqual({ [record.receiptHandle]: 20 });
    });

    it("after maxAttempts the task is dead-lettered and failed with the last error; the record succeeds; followers are not dead-lettered", async () => {
      const { store, callbacks, queue, metrics, deps, context, task } = setup(groupConcurrency);
      const head = await task({
        group: "A",
        status: "delivering",
        attempts: 2,
        dueAtMs: Date.now() - 5_000,
      } as never);
      const follower = await task({ group: "A" });
      const follower2 = await task({ group: "A" });
      callbacks.answer(head.taskId, HTTP(500));
      callbacks.answer(follower.taskId, HTTP(502));
      const records = [head, follower, follower2].map((t) => fifoRecord(t, { receiveCount: 99 }));

      const response = await deliverBatch(deps, eventOf(...records), context);

      expect(queue.deadLetters).toEqual([
        { dlqUrl: binding().dlqUrl, groupId: head.pk, taskId: head.taskId, reason: "HTTP 500" },
      ]);
      expect(store.tasks.get(head.taskId)).toMatchObject({
        status: "failed",
        attempts: 3,
        lastError: "HTTP 500",
        expiresAt: expect.any(Number),
      });
      // The head is done, so the group moved on: the follower's first attempt failed and only it is retried.
      expect(store.tasks.get(follower.taskId)).toMatchObject({
        status: "delivering",
        attempts: 1,
        lastError: "HTTP 502",
      });
      expect(store.tasks.get(follower2.taskId)).toMatchObject({ status: "queued", attempts: 0 });
      expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
        records[1]?.messageId,
        records[2]?.messageId,
      ]);
      expect(metrics.count("deadLettered")).toBe(1);
    });

    it("a destination refused by policy is dead-lettered at once: one attempt, status failed, no retry, no address stored", async () => {
      // Prepare: the head of a group whose address literal the allow-list no longer names; maxAttempts is 3.
      const { store, callbacks, queue, metrics, logger, deps, context, task } = setup(groupConcurrency);
      const head = await task({ group: "A" });
      const follower = await task({ group: "A" });
      const error =
        "destination refused by policy: a non-public address not named in the topic's allowed callback hosts";
      callbacks.answer(head.taskId, {
        ok: false,
        refused: true,
        error,
        detail: "address 10.0.0.1",
        durationMs: 1,
      });
      const records = [head, follower].map((t) => fifoRecord(t));

      // Act
      const response = await deliverBatch(deps, eventOf(...records), context);

      // Assess: dead-lettered with the reason after its first attempt; the group moved on to the follower.
      expect(queue.deadLetters).toEqual([
        { dlqUrl: binding().dlqUrl, groupId: head.pk, taskId: head.taskId, reason: error },
      ]);
      expect(store.tasks.get(head.taskId)).toMatchObject({ status: "failed", attempts: 1, lastError: error });
      expect(store.tasks.get(follower.taskId)).toMatchObject({ status: "delivered", attempts: 1 });
      expect(response).toEqual({ batchItemFailures: [] });
      expect(queue.visibility).toEqual([]);
      expect(callbacks.calledFor()).toEqual([head.taskId, follower.taskId]);
      expect(metrics.count("deadLettered")).toBe(1);
      // The resolved address is in the operator's log, and nowhere a caller can read it.
      expect(JSON.stringify(store.tasks.get(head.taskId))).not.toContain("10.0.0.1");
      expect(JSON.stringify(queue.deadLetters)).not.toContain("10.0.0.1");
      expect(logger.entries).toContainEqual(
        expect.objectContaining({
          level: "warn",
          extra: expect.objectContaining({
            taskId: head.taskId,
            detail: "address 10.0.0.1",
          }),
        }),
      );
    });

    it("a name that resolves to refused addresses only is a failed attempt retried after its backoff step, not dead-lettered at once; its addresses only in the log", async () => {
      // Prepare: the head's host resolves to a private address (a resolver's bad minute, a record being moved);
      // maxAttempts is 3. Nothing is dialled on a retry, and the next answer may differ.
      const { store, callbacks, queue, metrics, logger, deps, context, task } = setup(groupConcurrency);
      const head = await task({ group: "A" });
      const follower = await task({ group: "A" });
      const error = "destination refused by policy: host resolves to a non-public address";
      const refusal = {
        ok: false,
        refused: true,
        error,
        detail: "hooks.example.com resolves to 10.0.0.1",
        durationMs: 1,
      };
      callbacks.answer(head.taskId, refusal);
      const records = [head, follower].map((t) => fifoRecord(t));

      // Act
      const response = await deliverBatch(deps, eventOf(...records), context);

      // Assess: one failed attempt, the group held behind it for the first backoff step, nothing dead-lettered
      expect(store.tasks.get(head.taskId)).toMatchObject({
        status: "delivering",
        attempts: 1,
        lastError: error,
      });
      expect(store.tasks.get(follower.taskId)).toMatchObject({ status: "queued", attempts: 0 });
      expect(queue.deadLetters).toEqual([]);
      expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(
        records.map((r) => r.messageId),
      );
      expect(queue.visibilityByHandle()).toEqual(
        Object.fromEntries(records.map((r) => [r.receiptHandle, 10])),
      );
      expect(metrics.count("attemptFailed")).toBe(1);
      expect(metrics.count("deadLettered")).toBe(0);
      expect(JSON.stringify(store.tasks.get(head.taskId))).not.toContain("10.0.0.1");
      expect(logger.entries).toContainEqual(
        expect.objectContaining({
          level: "warn",
          extra: expect.objectContaining({
            taskId: head.taskId,
            detail: "hooks.example.com resolves to 10.0.0.1",
          }),
        }),
      );
    });

    it("a name still resolving to refused addresses on the last attempt is dead-lettered then, with that reason", async () => {
      // Prepare
      const { store, callbacks, queue, deps, context, task } = setup(groupConcurrency);
      const head = await task({ group: "A", status: "delivering", attempts: 2, lastError: "x" } as never);
      const error = "destination refused by policy: host resolves to a non-public address";
      callbacks.answer(head.taskId, { ok: false, refused: true, error, durationMs: 1 });

      // Act
      const response = await deliverBatch(deps, eventOf(fifoRecord(head)), context);

      // Assess
      expect(store.tasks.get(head.taskId)).toMatchObject({ status: "failed", attempts: 3, lastError: error });
      expect(queue.deadLetters).toEqual([
        { dlqUrl: binding().dlqUrl, groupId: head.pk, taskId: head.taskId, reason: error },
      ]);
      expect(response).toEqual({ batchItemFailures: [] });
    });

    it("a task accepted within the settings' propagation time and refused by policy waits, its attempt given back, instead of being dead-lettered", async () => {
      // Prepare: the allow-list was widened at runtime, an add that already read the new settings accepted the
      // head 10 s ago, and this deliver container still holds the previous settings (a rollout step or a cached
      // copy behind): it refuses the host. A task accepted 200 s ago, past the window, is refused for real.
      const { now, store, callbacks, queue, logger, topic, metrics, context, task } = setup(groupConcurrency);
      const signer = new CallbackSigner([SECRET]);
      const deps = deliverDeps(
        { store, topicQueue: queue, metrics, logger, clock: () => now, topic, callbacks, signer },
        { groupConcurrency, settingsSettleMs: 166_000 },
      );
      const fresh = await task({ group: "A", acceptedAtMs: now - 10_000 });
      const follower = await task({ group: "A" });
      const old = await task({ group: "B", acceptedAtMs: now - 200_000 });
      const error =
        'destination refused by policy: host "new.example.com" is not in the topic\'s allowed callback hosts';
      callbacks.answer(fresh.taskId, { ok: false, refused: true, error, durationMs: 0 });
      callbacks.answer(old.taskId, { ok: false, refused: true, error, durationMs: 0 });
      const records = [fresh, follower, old].map((t) => fifoRecord(t));

      // Act
      const response = await deliverBatch(deps, eventOf(...records), context);

      // Assess: the fresh head is not dead-lettered; its attempt is given back and its group (follower included)
      // comes back once every function has the settings it was accepted under (10 s of 166 s gone: 156 s).
      expect(store.tasks.get(fresh.taskId)).toMatchObject({ attempts: 0, lastError: error });
      expect(store.tasks.get(fresh.taskId)?.status).not.toBe("failed");
      expect(store.tasks.get(follower.taskId)).toMatchObject({ attempts: 0 });
      expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
        [records[0]?.messageId, records[1]?.messageId].sort(),
      );
      expect(queue.visibilityByHandle()).toEqual({
        [records[0]?.receiptHandle as string]: 156,
        [records[1]?.receiptHandle as string]: 156,
      });
      // Past the window the refusal stands, as before: dead-lettered at once.
      expect(queue.deadLetters).toEqual([
        { dlqUrl: binding().dlqUrl, groupId: old.pk, taskId: old.taskId, reason: error },
      ]);
      expect(store.tasks.get(old.taskId)).toMatchObject({ status: "failed", attempts: 1 });
      // Only the real refusal is a failed attempt for the metrics (which roll back a settings deployment): one
      // still on its way to this container must not roll back the very change that allowed the host.
      expect(metrics.count("attemptFailed")).toBe(1);
    });

    it("a dead letter replayed within the settings' propagation time and refused by policy waits too, instead of failing again at once", async () => {
      // Prepare: a task refused by policy two days ago (accepted long before the window); the operator widened the
      // allow-list at runtime and replayed it 10 s ago, and this deliver container still holds the previous settings
      const { now, store, callbacks, queue, logger, topic, metrics, context, task } = setup(groupConcurrency);
      const signer = new CallbackSigner([SECRET]);
      const deps = deliverDeps(
        { store, topicQueue: queue, metrics, logger, clock: () => now, topic, callbacks, signer },
        { groupConcurrency, settingsSettleMs: 166_000 },
      );
      const error =
        'destination refused by policy: host "new.example.com" is not in the topic\'s allowed callback hosts';
      const replayed = await task({
        group: "A",
        dueAtMs: now - 2 * 86_400_000,
        acceptedAtMs: now - 3 * 86_400_000,
        replays: 1,
        replayedAtMs: now - 10_000,
        lastError: error,
      } as never);
      callbacks.answer(replayed.taskId, { ok: false, refused: true, error, durationMs: 0 });
      const record = fifoRecord(replayed);

      // Act
      const response = await deliverBatch(deps, eventOf(record), context);

      // Assess: the operator's replay is not failed again by a container that has not seen the widened list yet;
      // it comes back once every function has the settings it was replayed under (10 s of 166 s gone: 156 s)
      expect(queue.deadLetters).toEqual([]);
      expect(store.tasks.get(replayed.taskId)).toMatchObject({ attempts: 0, replays: 1 });
      expect(store.tasks.get(replayed.taskId)?.status).not.toBe("failed");
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
      expect(queue.visibilityByHandle()).toEqual({ [record.receiptHandle]: 156 });
      expect(metrics.count("attemptFailed")).toBe(0);
    });

    it("a failed dead-letter send is retried without calling the receiver again", async () => {
      const { store, callbacks, queue, deps, context, task } = setup(groupConcurrency);
      const t = await task({ status: "delivering", attempts: 2 } as never);
      callbacks.answer(t.taskId, HTTP(500));
      queue.failDeadLetter = true;
      const record = fifoRecord(t);
      expect((await deliverBatch(deps, eventOf(record), context)).batchItemFailures).toHaveLength(1);
      expect(store.tasks.get(t.taskId)).toMatchObject({ status: "delivering", attempts: 3 });

      queue.failDeadLetter = false;
      expect(await deliverBatch(deps, eventOf(fifoRecord(t)), context)).toEqual({ batchItemFailures: [] });
      expect(callbacks.requests).toHaveLength(1);
      expect(store.tasks.get(t.taskId)).toMatchObject({
        status: "failed",
        attempts: 3,
        lastError: "HTTP 500",
      });
      expect(queue.deadLetters.map((d) => d.reason)).toEqual(["HTTP 500"]);
    });

    it("network errors and timeouts are failed attempts like HTTP errors", async () => {
      const { store, callbacks, metrics, deps, context, task } = setup(groupConcurrency);
      const a = await task({ group: "a" });
      const b = await task({ group: "b" });
      callbacks.answer(a.taskId, {
        ok: false,
        error: "network: connection reset (ECONNRESET)",
        durationMs: 3,
      });
      callbacks.answer(b.taskId, { ok: false, error: "timeout after 5000 ms", durationMs: 5_001 });
      const response = await deliverBatch(deps, eventOf(fifoRecord(a), fifoRecord(b)), context);
      expect(response.batchItemFailures).toHaveLength(2);
      expect(store.tasks.get(a.taskId)?.lastError).toBe("network: connection reset (ECONNRESET)");
      expect(store.tasks.get(b.taskId)?.lastError).toBe("timeout after 5000 ms");
      // Latency is recorded for the timeout (the receiver was too slow), not for the reset connection.
      expect(metrics.events.filter((e) => e.kind === "attemptFailed").map((e) => e.values)).toEqual([
        [],
        [5_001],
      ]);
    });

    it("an unexpected store error fails the record with the first backoff step", async () => {
      const { store, queue, deps, context, task } = setup(groupConcurrency);
      const t = await task();
      // The `delivered` write: the batch's finishing call (unprotected topic), as markDelivered was before it.
      store.finishAttempts = async () => {
        throw new Error("ProvisionedThroughputExceededException");
      };
      store.markDelivered = async () => {
        throw new Error("ProvisionedThroughputExceededException");
      };
      const record = fifoRecord(t);
      const response = await deliverBatch(deps, eventOf(record), context);
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
      expect(queue.visibilityByHandle()).toEqual({ [record.receiptHandle]: 10 });
    });

    it("a signing secret that cannot be loaded fails the record without using up an attempt", async () => {
      const { store, callbacks, deps, context, task } = setup(groupConcurrency);
      const t = await task();
      const record = fifoRecord(t);
      const response = await deliverBatch(
        { ...deps, signer: () => Promise.reject(new Error("AccessDeniedException")) },
        eventOf(record),
        context,
      );
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
      expect(callbacks.requests).toEqual([]);
      expect(store.tasks.get(t.taskId)).toMatchObject({ status: "queued", attempts: 0 });
    });

    it("records from an unknown queue fail and keep the queue's own visibility timeout", async () => {
      const { callbacks, queue, deps, context, task } = setup(groupConcurrency);
      const t = await task();
      const record = fifoRecord(t, { arn: "arn:aws:sqs:eu-west-1:000000000000:stranger.fifo" });
      const response = await deliverBatch(deps, eventOf(record), context);
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
      expect(callbacks.requests).toEqual([]);
      expect(queue.visibility).toEqual([]);
    });
  });

  describe("deliver: time guard and due time", () => {
    it("does not start a callback that cannot finish before the function times out (no attempt counted, visibility 0)", async () => {
      // Prepare: 5.9 s left is enough for a 1 s callback (+ 1 s margin), not for a 5 s one.
      const { store, callbacks, queue, deps, context, task } = setup(groupConcurrency, {
        remainingMs: () => 5_900,
      });
      const quick = binding(testTopic({ name: "quick", callbackTimeoutSeconds: 1 }));
      const withQuickQueue: DeliverDeps = {
        ...deps,
        bindingFor: (arn) => (arn === QUICK_QUEUE_ARN ? quick : deps.bindingFor(arn)),
      };
      const a = await task({ topic: "quick", group: "A" });
      const b1 = await task({ group: "B" });
      const b2 = await task({ group: "B" });
      const records = [fifoRecord(a, { arn: QUICK_QUEUE_ARN }), fifoRecord(b1), fifoRecord(b2)];

      // Act
      const response = await deliverBatch(withQuickQueue, eventOf(...records), context);

      // Assess
      expect(callbacks.calledFor()).toEqual([a.taskId]);
      expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
        records[1]?.messageId,
        records[2]?.messageId,
      ]);
      expect(store.tasks.get(b1.taskId)).toMatchObject({ status: "queued", attempts: 0 });
      expect(queue.visibilityByHandle()).toEqual({
        [records[1]?.receiptHandle as string]: 0,
        [records[2]?.receiptHandle as string]: 0,
      });
    });

    it("does not send a callback whose time ran out while its secret was loaded (a slow re-read): no attempt counted, visibility 0", async () => {
      // Prepare: 6.5 s left passes the 5 s timeout + 1 s margin; the signing secret's re-read (up to 1 s every
      // 5 minutes), due when the record's turn comes, leaves 5.6 s, which does not
      let remaining = 6_500;
      const { store, callbacks, queue, deps, context, task } = setup(groupConcurrency, {
        remainingMs: () => remaining,
      });
      let loads = 0;
      const slowSigner: DeliverDeps = {
        ...deps,
        signer: async (topic) => {
          loads++;
          if (loads > 1) remaining = 5_600;
          return deps.signer(topic);
        },
      };
      const t = await task();
      const record = fifoRecord(t);

      // Act
      const response = await deliverBatch(slowSigner, eventOf(record), context);

      // Assess
      expect(callbacks.requests).toEqual([]);
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
      expect(store.tasks.get(t.taskId)).toMatchObject({ status: "queued", attempts: 0 });
      expect(queue.visibilityByHandle()).toEqual({ [record.receiptHandle]: 0 });
    });

    it("does not send a callback whose time ran out while its attempt was started (a slow write): the attempt is given back, visibility 0", async () => {
      // Prepare: the start write answers after 0.9 s (throttled and retried), leaving 5.6 s for a 5 s callback
      let remaining = 6_500;
      const { store, callbacks, queue, deps, context, task } = setup(groupConcurrency, {
        remainingMs: () => remaining,
      });
      const startAttempt = store.startAttempt.bind(store);
      store.startAttempt = async (...args) => {
        const started = await startAttempt(...args);
        remaining = 5_600;
        return started;
      };
      const t = await task();
      const record = fifoRecord(t);

      // Act
      const response = await deliverBatch(deps, eventOf(record), context);

      // Assess
      expect(callbacks.requests).toEqual([]);
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
      expect(store.tasks.get(t.taskId)?.attempts).toBe(0);
      expect(queue.visibilityByHandle()).toEqual({ [record.receiptHandle]: 0 });
    });

    it("never delivers before the due time (a message that arrives early is hidden until due)", async () => {
      const { now, store, callbacks, queue, deps, context, task } = setup(groupConcurrency);
      const t = await task({ dueAtMs: now + 2_500 });
      const record = fifoRecord(t);
      const response = await deliverBatch(deps, eventOf(record), context);
      expect(response.batchItemFailures).toHaveLength(1);
      expect(callbacks.requests).toEqual([]);
      expect(store.tasks.get(t.taskId)?.attempts).toBe(0);
      expect(queue.visibilityByHandle()).toEqual({ [record.receiptHandle]: 3 });
    });

    it("hides a message due beyond SQS's 12 hours no longer than is left of them since its receipt", async () => {
      // Prepare: a hand-redriven message due in two days; its first receive 100 s before this batch (a slow ESM)
      const { now, callbacks, queue, deps, context, task } = setup(groupConcurrency);
      const t = await task({ dueAtMs: now + 2 * 86_400_000 });
      const record = fifoRecord(t, { firstReceivedAtMs: now - 100_000 });

      // Act
      await deliverBatch(deps, eventOf(record), context);

      // Assess: SQS refuses a visibility that passes 12 hours from the receive (it does not cut it down), and the
      // message would be back after the queue's visibility timeout, a receive spent every few minutes
      expect(callbacks.requests).toEqual([]);
      expect(queue.visibilityByHandle()).toEqual({
        [record.receiptHandle]: 43_200 - 100 - RECEIPT_CLOCK_MARGIN_SECONDS,
      });
    });

    it("counts a later receive's 12 hours from the earliest it can have been: the batch's start less the queue's visibility timeout, not the first receive", async () => {
      // Prepare: received a third time; its first receive was a day ago, which says nothing of this receive. Lambda
      // retries an invocation throttled for want of concurrency with the messages it already received until their
      // visibility timeout runs out (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html),
      // so this receive may be up to the queue's visibility timeout older than the batch
      const { now, callbacks, queue, deps, context, task } = setup(groupConcurrency);
      const t = await task({ dueAtMs: now + 2 * 86_400_000 });
      const record = fifoRecord(t, { receiveCount: 3, firstReceivedAtMs: now - 86_400_000 });
      const queueVisibility = topicQueueVisibilitySeconds(
        deps.bindingFor(record.eventSourceARN)?.topic as TopicConfig,
      );

      // Act
      await deliverBatch(deps, eventOf(record), context);

      // Assess: what SQS still allows even had the receive been that long before the batch (counted from the batch's
      // start, the change asked for the whole rest, and SQS refused it whenever the invocation had waited over a minute)
      expect(callbacks.requests).toEqual([]);
      expect(queueVisibility).toBe(180);
      expect(queue.visibilityByHandle()).toEqual({
        [record.receiptHandle]: 43_200 - queueVisibility - RECEIPT_CLOCK_MARGIN_SECONDS,
      });
    });
  });

  describe("deliver: logs and metrics", () => {
    it("logs ids, statuses and durations, never task content", async () => {
      const { callbacks, logger, deps, context, task } = setup(groupConcurrency);
      const a = await task({ group: "a", content: '{"order_id":"a","card":"4111-SECRET-CONTENT"}' });
      const b = await task({ group: "b", content: '{"order_id":"b","card":"4111-SECRET-CONTENT"}' });
      const c = await task({
        group: "c",
        status: "delivering",
        attempts: 2,
        content: '{"x":"4111-SECRET-CONTENT"}',
      } as never);
      callbacks.answer(a.taskId, HTTP(500));
      callbacks.answer(c.taskId, HTTP(500));
      await deliverBatch(deps, eventOf(fifoRecord(a), fifoRecord(b), fifoRecord(c)), context);
      const logged = JSON.stringify(logger.entries);
      expect(logged).toContain(a.taskId);
      expect(logged).not.toContain("SECRET-CONTENT");
    });
  });
});

describe("deliver at groupConcurrency 1", () => {
  it("one group after another: time used up by one group's callback stops the groups after it (no attempt counted, visibility 0)", async () => {
    let remaining = 60_000;
    const { store, callbacks, queue, deps, context, task } = setup(1, {
      remainingMs: () => remaining,
    });
    const a = await task({ group: "A" });
    const b1 = await task({ group: "B" });
    const b2 = await task({ group: "B" });
    // The first callback uses up the time: 5.9 s left < 5 s timeout + 1 s margin.
    callbacks.post = async (request) => {
      callbacks.requests.push(request);
      remaining = 5_900;
      return HTTP(200);
    };
    const records = [a, b1, b2].map((t) => fifoRecord(t));

    const response = await deliverBatch(deps, eventOf(...records), context);

    expect(callbacks.calledFor()).toEqual([a.taskId]);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
      records[1]?.messageId,
      records[2]?.messageId,
    ]);
    expect(store.tasks.get(b1.taskId)).toMatchObject({ status: "queued", attempts: 0 });
    expect(queue.visibilityByHandle()).toEqual({
      [records[1]?.receiptHandle as string]: 0,
      [records[2]?.receiptHandle as string]: 0,
    });
  });
});

describe("deliver: callback body", () => {
  it("the body embeds the stored content text unchanged", () => {
    const t = makeTask({ dueAtMs: 0, acceptedAtMs: 0, content: '{"b":1,"a":[true,null],"u":"\\u00e9"}' });
    expect(callbackBody(t, 3)).toBe(
      `{"task_id":${JSON.stringify(t.taskId)},"topic":"demo","due_at":"1970-01-01T00:00:00.000Z","attempt":3,` +
        `"content":{"b":1,"a":[true,null],"u":"\\u00e9"}}`,
    );
  });
});

describe("deliver: Powertools metrics", () => {
  it("Powertools metrics: one EMF set per topic, each from its own Metrics instance with the Topic dimension", () => {
    // Prepare
    const published: Record<string, unknown>[] = [];
    const createMetrics = () => {
      const metrics = new Metrics({ namespace: "Punctual", serviceName: "punctual-test" });
      metrics.publishStoredMetrics = () => {
        published.push(metrics.serializeMetrics() as unknown as Record<string, unknown>);
        metrics.clearMetrics();
        return metrics;
      };
      return metrics;
    };
    const sink = new PowertoolsDeliveryMetrics(createMetrics);

    // Act
    sink.delivered("alpha", 120, 30);
    sink.delivered("alpha", 80, 40);
    sink.attemptFailed("alpha", 5_000);
    sink.deadLettered("beta");
    sink.flush();
    sink.flush(); // nothing buffered: nothing published

    // Assess
    expect(published).toHaveLength(2);
    const [alpha, beta] = published as [Record<string, never>, Record<string, never>];
    expect(alpha[TOPIC_DIMENSION]).toBe("alpha");
    expect(alpha.service).toBe("punctual-test");
    expect(alpha[METRIC.lateness]).toEqual([120, 80]);
    expect(alpha[METRIC.callbackLatency]).toEqual([30, 40, 5_000]);
    expect(alpha[METRIC.delivered]).toBe(2);
    expect(alpha[METRIC.attemptFailed]).toBe(1);
    const aws = (
      alpha as unknown as { _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] } }
    )._aws;
    expect(aws.CloudWatchMetrics[0]?.Namespace).toBe("Punctual");
    expect(aws.CloudWatchMetrics[0]?.Dimensions[0]).toEqual(
      expect.arrayContaining(["service", TOPIC_DIMENSION]),
    );
    expect(beta[TOPIC_DIMENSION]).toBe("beta");
    expect(beta[METRIC.deadLettered]).toBe(1);
    expect(beta[METRIC.lateness]).toBeUndefined();
  });
});
