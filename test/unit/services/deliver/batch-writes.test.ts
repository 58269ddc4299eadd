/**
 * Deliver's writes in batches (issue 13.2, docs/RELIABILITY.md "Deliver's writes in batches"): one read and one
 * conditional start for the batch's fast-path records, one finishing call for their `delivered` writes and the
 * starts no callback used. Fakes at the store seam (test/support/memory-task-store.ts: per-statement errors,
 * failed calls, lost answers).
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import type { CallbackRequest, CallbackResult } from "#shared/adapters/callback-client.js";
import type { ManyRead } from "#shared/adapters/task-store.js";
import type { TopicConfig } from "#shared/config/index.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { deliverDeps, testTopic } from "../../../support/deliver-binding.js";
import { eventOf, fifoRecord, makeTask } from "../../../support/factories.js";
import { FakeCallbacks, HTTP } from "../../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";
import { MemoryTaskStore } from "../../../support/memory-task-store.js";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

/** Callbacks that take their answer's duration on the test's clock, so a group's later records start later. */
class ClockedCallbacks extends FakeCallbacks {
  constructor(private readonly advance: (ms: number) => void) {
    super();
  }

  override async post(request: CallbackRequest): Promise<CallbackResult> {
    const result = await super.post(request);
    this.advance(result.durationMs);
    return result;
  }
}

/** The store's per-record writes, counted (the batch path must not need them on its happy path). */
function countPerRecord(store: MemoryTaskStore) {
  const counts = { get: 0, startAttempt: 0, markDelivered: 0 };
  for (const method of ["get", "startAttempt", "markDelivered"] as const) {
    const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
    (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      counts[method]++;
      return original(...args);
    };
  }
  return counts;
}

function setup(
  options: {
    topic?: TopicConfig;
    groupConcurrency?: number;
    remainingMs?: () => number;
    watchdogMarginMs?: number;
  } = {},
) {
  const start = Date.now();
  let now = start;
  const store = new MemoryTaskStore();
  const callbacks = new ClockedCallbacks((ms) => {
    now += ms;
  });
  const queue = new FakeTopicQueue();
  const metrics = new MemoryMetrics();
  const topic = options.topic ?? testTopic();
  const signer = new CallbackSigner([SECRET]);
  const deps = deliverDeps(
    { store, topicQueue: queue, metrics, logger: memoryLogger(), clock: () => now, topic, callbacks, signer },
    {
      groupConcurrency: options.groupConcurrency ?? 10,
      ...(options.watchdogMarginMs !== undefined && { watchdogMarginMs: options.watchdogMarginMs }),
    },
  );
  const context = { getRemainingTimeInMillis: options.remainingMs ?? (() => 60_000) };
  const task = async (group: string, fields: Partial<TaskRecord> = {}) => {
    const t = makeTask({
      group,
      dueAtMs: start - 250,
      acceptedAtMs: start - 10_000,
      status: "scheduled",
      ...fields,
    });
    await store.putNew(t, { sweepIndex: false });
    return t;
  };
  const stored = (t: TaskRecord) => store.tasks.get(t.taskId) as TaskRecord;
  /** Time passes between batches (a backoff: no attempt starts before it ends). */
  const advance = (ms: number) => {
    now += ms;
  };
  return { start, store, callbacks, queue, metrics, deps, context, task, stored, advance };
}

describe("deliver: writes in batches", () => {
  it("a batch of three groups costs one read, one start and one finishing call; no per-record write", async () => {
    // Prepare
    const { store, callbacks, metrics, deps, context, task, stored } = setup();
    const tasks = [await task("a"), await task("b"), await task("c")];
    const perRecord = countPerRecord(store);

    // Act
    const response = await deliverBatch(deps, eventOf(...tasks.map((t) => fifoRecord(t))), context);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(store.batchCalls).toEqual({ readMany: 1, startAttempts: 1, finishAttempts: 1 });
    expect(perRecord).toEqual({ get: 0, startAttempt: 0, markDelivered: 0 });
    expect(callbacks.calledFor().sort()).toEqual(tasks.map((t) => t.taskId).sort());
    for (const t of tasks)
      expect(stored(t)).toMatchObject({ status: "delivered", attempts: 1, attemptSeq: 1 });
    expect(metrics.count("delivered")).toBe(3);
  });

  it("a group's later record started up front reports its own callback's start, not the batch's", async () => {
    // Prepare: one group of two; the first callback takes 300 ms
    const { start, callbacks, deps, context, task, stored } = setup();
    const first = await task("g");
    const second = await task("g");
    callbacks.answer(first.taskId, HTTP(200, 300)).answer(second.taskId, HTTP(200, 20));

    // Act
    await deliverBatch(deps, eventOf(fifoRecord(first), fifoRecord(second)), context);

    // Assess: the second's callback started 300 ms after the batch; lateness, log and signature say so
    expect(stored(second)).toMatchObject({
      status: "delivered",
      lastAttemptAtMs: start + 300,
      latenessMs: 550,
    });
    expect(Object.values(stored(second).attemptLog ?? {})).toEqual([
      { seq: 1, startedAtMs: start + 300, durationMs: 20, status: 200 },
    ]);
    expect(stored(first)).toMatchObject({ lastAttemptAtMs: start, latenessMs: 250 });
    expect(callbacks.requests[1]?.headers["webhook-timestamp"]).toBe(
      String(Math.floor((start + 300) / 1000)),
    );
  });

  it("a refused start statement sends that record down the read path at its turn; the others stay batched", async () => {
    // Prepare
    const { store, callbacks, deps, context, task, stored } = setup();
    const a = await task("a");
    const b = await task("b");
    store.statementErrors.set(`start:${b.taskId}`, "ConditionalCheckFailed");
    const perRecord = countPerRecord(store);

    // Act
    const response = await deliverBatch(deps, eventOf(fifoRecord(a), fifoRecord(b)), context);

    // Assess: b read and started on its own (one attempt), then finished with the batch
    expect(response.batchItemFailures).toEqual([]);
    expect(perRecord).toEqual({ get: 1, startAttempt: 1, markDelivered: 0 });
    expect(callbacks.calledFor().sort()).toEqual([a.taskId, b.taskId].sort());
    expect(stored(b)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("a start whose answer was lost is recognised as the batch's own: no second attempt counted", async () => {
    const { store, deps, context, task, stored } = setup();
    const a = await task("a");
    const b = await task("b");
    store.loseNextBatchAnswer = "startAttempts";
    const perRecord = countPerRecord(store);

    const response = await deliverBatch(deps, eventOf(fifoRecord(a), fifoRecord(b)), context);

    expect(response.batchItemFailures).toEqual([]);
    expect(perRecord).toEqual({ get: 2, startAttempt: 0, markDelivered: 0 });
    for (const t of [a, b])
      expect(stored(t)).toMatchObject({ status: "delivered", attempts: 1, attemptSeq: 1 });
  });

  it("a task that moved on after the batch read is not delivered (its start refused, the read path drops it)", async () => {
    const { store, callbacks, deps, context, task, stored } = setup();
    const a = await task("a");
    const b = await task("b");
    const original = store.startAttempts.bind(store);
    store.startAttempts = async (starts) => {
      await store.cancel(b.taskId, Date.now(), 1); // a cancel wins the race between the read and the start
      return original(starts);
    };

    const response = await deliverBatch(deps, eventOf(fifoRecord(a), fifoRecord(b)), context);

    expect(response.batchItemFailures).toEqual([]);
    expect(callbacks.calledFor()).toEqual([a.taskId]);
    expect(stored(b).status).toBe("cancelled");
  });

  it("a group failing in the middle gives back the starts its later records never used", async () => {
    // Prepare: one group of three, one other group; the group's head fails
    const { callbacks, queue, deps, context, task, stored } = setup();
    const head = await task("g");
    const middle = await task("g", { status: "queued", queuedAtMs: Date.now() - 900 });
    const last = await task("g");
    const other = await task("o");
    callbacks.answer(head.taskId, HTTP(500));
    const records = [head, middle, last, other].map((t) => fifoRecord(t));

    // Act
    const response = await deliverBatch(deps, eventOf(...records), context);

    // Assess: head failed (its attempt counted), the two behind it exactly as before, the other group delivered
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(
      records.slice(0, 3).map((r) => r.messageId),
    );
    expect(callbacks.calledFor().sort()).toEqual([head.taskId, other.taskId].sort());
    expect(stored(head)).toMatchObject({ status: "delivering", attempts: 1, lastError: "HTTP 500" });
    expect(stored(middle)).toEqual(middle);
    expect(stored(last)).toEqual(last);
    expect(stored(other).status).toBe("delivered");
    expect(Object.values(queue.visibilityByHandle())).toEqual([10, 10, 10]);
  });

  it("a later record's start given back after a DELETE requested its cancel ends its task cancelled, not scheduled with the request", async () => {
    // Prepare: one group of two, both started up front; during the head's failing callback an operator's DELETE
    // meets the follower `delivering` (a request, 202)
    const { start, store, callbacks, deps, context, task, stored } = setup();
    const head = await task("g");
    const follower = await task("g");
    callbacks.answer(head.taskId, HTTP(500));
    const ttl = Math.ceil(start / 1000) + 3600;
    const outcomes: string[] = [];
    const post = callbacks.post.bind(callbacks);
    callbacks.post = async (request) => {
      outcomes.push((await store.cancel(follower.taskId, start + 5, ttl, { awaitingRetry: true })).outcome);
      return post(request);
    };

    // Act
    const response = await deliverBatch(deps, eventOf(fifoRecord(head), fifoRecord(follower)), context);

    // Assess: the follower was never called and never will be: cancelled by the give-back, its attempt not counted
    expect(outcomes).toEqual(["cancel-requested"]);
    expect(callbacks.calledFor()).toEqual([head.taskId]);
    expect(response.batchItemFailures).toHaveLength(2);
    expect(stored(follower)).toMatchObject({
      status: "cancelled",
      attempts: 0,
      cancelRequestedAtMs: start + 5,
      expiresAt: ttl,
    });
    expect(stored(follower).attemptSeq).toBeUndefined();
    expect(stored(head)).toMatchObject({ status: "delivering", attempts: 1, lastError: "HTTP 500" });
  });

  it("behind a head being retried, the group's later records are not started up front: they stay scheduled (cancellable) during its callback", async () => {
    // Prepare: a head whose first attempt failed, back for its second; two followers received with it
    const { callbacks, deps, context, task, stored } = setup();
    const head = await task("g", {
      status: "delivering",
      attempts: 1,
      attemptSeq: 1,
      lastError: "HTTP 500",
      lastAttemptAtMs: Date.now() - 2_000,
    });
    const followers = [await task("g"), await task("g")];
    const duringHead: string[] = [];
    const post = callbacks.post.bind(callbacks);
    callbacks.post = async (request) => {
      duringHead.push(...followers.map((f) => stored(f).status));
      return post(request);
    };
    callbacks.answer(head.taskId, HTTP(500));

    // Act
    const response = await deliverBatch(
      deps,
      eventOf(fifoRecord(head), ...followers.map((f) => fifoRecord(f))),
      context,
    );

    // Assess: the followers were never `delivering` (a cancel or a move meanwhile takes them); nothing else changed
    expect(duringHead).toEqual(["scheduled", "scheduled"]);
    expect(response.batchItemFailures).toHaveLength(3);
    expect(stored(head)).toMatchObject({ status: "delivering", attempts: 2 });
    for (const f of followers) expect(stored(f)).toEqual(f);
  });

  it("behind a head being retried that now succeeds, the followers are started one by one at their turn and delivered", async () => {
    // Prepare
    const { callbacks, deps, context, task, stored } = setup();
    const head = await task("g", { status: "delivering", attempts: 1, attemptSeq: 1, lastError: "HTTP 500" });
    const followers = [await task("g"), await task("g")];

    // Act
    const response = await deliverBatch(
      deps,
      eventOf(fifoRecord(head), ...followers.map((f) => fifoRecord(f))),
      context,
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(callbacks.calledFor()).toEqual([head.taskId, ...followers.map((f) => f.taskId)]);
    expect(stored(head)).toMatchObject({ status: "delivered", attempts: 2 });
    for (const f of followers) expect(stored(f)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("behind a head being retried that the batch read left unread, the group's later records are not started up front either", async () => {
    // Prepare: a head back for its second attempt, which the batch read leaves unread (UnprocessedKeys); two
    // followers received with it, both read
    const { store, callbacks, deps, context, task, stored } = setup();
    const head = await task("g", { status: "delivering", attempts: 1, attemptSeq: 1, lastError: "HTTP 500" });
    const followers = [await task("g"), await task("g")];
    store.unreadIds.add(head.taskId);
    const duringHead: string[] = [];
    const post = callbacks.post.bind(callbacks);
    callbacks.post = async (request) => {
      duringHead.push(...followers.map((f) => stored(f).status));
      return post(request);
    };
    callbacks.answer(head.taskId, HTTP(500));

    // Act
    const response = await deliverBatch(
      deps,
      eventOf(fifoRecord(head), ...followers.map((f) => fifoRecord(f))),
      context,
    );

    // Assess: unread is not known to be a first attempt: the followers stay cancellable through the retry
    expect(duringHead).toEqual(["scheduled", "scheduled"]);
    expect(response.batchItemFailures).toHaveLength(3);
    expect(stored(head)).toMatchObject({ status: "delivering", attempts: 2 });
    for (const f of followers) expect(stored(f)).toEqual(f);
  });

  it("a lost give-back leaves the task `delivering` with that attempt used: SQS brings it back, delivered once", async () => {
    // Prepare
    const { store, callbacks, deps, context, task, stored, advance } = setup();
    const head = await task("g");
    const next = await task("g");
    callbacks.answer(head.taskId, HTTP(500));
    store.statementErrors.set(`finish:${next.taskId}`, "InternalServerError");
    await deliverBatch(deps, eventOf(fifoRecord(head), fifoRecord(next)), context);
    expect(stored(next)).toMatchObject({ status: "delivering", attempts: 1 });

    // Act: the group comes back after the head's backoff (the topic's first step, 10 s)
    advance(10_000);
    const response = await deliverBatch(deps, eventOf(fifoRecord(head), fifoRecord(next)), context);

    // Assess: the second attempt of each, delivered; the receiver saw `next` once
    expect(response.batchItemFailures).toEqual([]);
    expect(stored(next)).toMatchObject({ status: "delivered", attempts: 2 });
    expect(callbacks.calledFor().filter((id) => id === next.taskId)).toHaveLength(1);
  });

  it("a start whose answer was lost is given back when its record never runs (no attempt spent without a callback)", async () => {
    // Prepare: one group of two; the start call is written but its answer lost; the group's head fails
    const { store, callbacks, deps, context, task, stored } = setup();
    const head = await task("g");
    const next = await task("g");
    callbacks.answer(head.taskId, HTTP(500));
    store.loseNextBatchAnswer = "startAttempts";

    // Act
    const response = await deliverBatch(deps, eventOf(fifoRecord(head), fifoRecord(next)), context);

    // Assess: the record behind the failed head comes back with its task exactly as before the batch
    expect(response.batchItemFailures).toHaveLength(2);
    expect(callbacks.calledFor()).toEqual([head.taskId]);
    expect(stored(next)).toEqual(next);
  });

  it("a lost-answer start recognised at its turn while the signing secret cannot be loaded is given back", async () => {
    // Prepare: the start call written but its answer lost; the secret loads for the batch start, then fails (a
    // rotation's re-read failing with no key held for the topic)
    const { store, callbacks, deps, context, task, stored } = setup();
    const head = await task("g");
    const next = await task("h");
    store.loseNextBatchAnswer = "startAttempts";
    const signer = deps.signer;
    let loads = 0;
    const failing = {
      ...deps,
      signer: async (topic: string) => {
        loads++;
        if (loads > 2) throw new Error("secret unavailable");
        return signer(topic);
      },
    };

    // Act
    const response = await deliverBatch(failing, eventOf(fifoRecord(head), fifoRecord(next)), context);

    // Assess: both come back with no attempt used (the signer first: a secret that cannot be loaded uses none)
    expect(response.batchItemFailures).toHaveLength(2);
    expect(callbacks.calledFor()).toEqual([]);
    expect(stored(head)).toEqual(head);
    expect(stored(next)).toEqual(next);
  });

  it("a step past the watchdog that finds its lost-answer start after the finishing call still gives it back", async () => {
    // Prepare: short deadlines; the start call written but its answer lost; the head's read hangs past the watchdog
    let remaining = 60_000;
    const { store, callbacks, deps, context, task, stored } = setup({
      topic: testTopic({ callbackTimeoutSeconds: 0.05 }),
      watchdogMarginMs: 50,
      remainingMs: () => remaining,
    });
    const head = await task("g");
    const next = await task("g");
    store.loseNextBatchAnswer = "startAttempts";
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const get = store.get.bind(store);
    store.get = async (taskId) => {
      if (taskId === head.taskId) await held;
      return get(taskId);
    };
    const records = [head, next].map((t) => fifoRecord(t));

    // Act: the batch ends with the head's step still reading; then its read answers with no time left
    const response = await deliverBatch(deps, eventOf(...records), context);
    remaining = 0;
    release();

    // Assess: both records come back, no callback was made, and neither task keeps an attempt it never used
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(records.map((r) => r.messageId));
    await vi.waitFor(() => expect(stored(head)).toEqual(head));
    expect(stored(next)).toEqual(next);
    expect(callbacks.calledFor()).toEqual([]);
  });

  it("a record whose callback no longer fits at its turn gives its start back and returns at once", async () => {
    // Prepare: time runs short after the group's first record
    let remaining = 60_000;
    const { callbacks, queue, deps, context, task, stored } = setup({
      remainingMs: () => remaining,
    });
    const first = await task("g");
    const second = await task("g");
    const original = callbacks.post.bind(callbacks);
    callbacks.post = async (request) => {
      remaining = 5_500; // less than the 5 s timeout + 1 s margin
      return original(request);
    };
    const records = [first, second].map((t) => fifoRecord(t));

    // Act
    const response = await deliverBatch(deps, eventOf(...records), context);

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[1]?.messageId }]);
    expect(stored(first).status).toBe("delivered");
    expect(stored(second)).toEqual(second);
    expect(queue.visibilityByHandle()).toEqual({ [records[1]?.receiptHandle as string]: 0 });
  });

  it("a failed `delivered` statement leaves its record unacknowledged (it comes back); the others are acknowledged", async () => {
    // Prepare
    const { store, queue, metrics, deps, context, task, stored } = setup();
    const a = await task("a");
    const b = await task("b");
    store.statementErrors.set(`finish:${b.taskId}`, "ThrottlingError");
    const records = [a, b].map((t) => fifoRecord(t));

    // Act
    const response = await deliverBatch(deps, eventOf(...records), context);

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[1]?.messageId }]);
    expect(stored(a).status).toBe("delivered");
    expect(stored(b)).toMatchObject({ status: "delivering", attempts: 1 });
    expect(metrics.count("delivered")).toBe(1);
    expect(queue.visibilityByHandle()).toEqual({ [records[1]?.receiptHandle as string]: 10 });
  });

  it("a group's head whose `delivered` statement fails comes back alone, after its group's later records; redelivered with its webhook-id", async () => {
    // Prepare: one group of three; only the head's finishing statement fails
    const { store, callbacks, queue, deps, context, task, stored } = setup();
    const [head, middle, last] = [await task("g"), await task("g"), await task("g")];
    store.statementErrors.set(`finish:${head.taskId}`, "ProvisionedThroughputExceeded");
    const records = [head, middle, last].map((t) => fifoRecord(t));

    // Act: the batch, then the head's record back from the queue
    const first = await deliverBatch(deps, eventOf(...records), context);
    const again = await deliverBatch(deps, eventOf(records[0] as (typeof records)[number]), context);

    // Assess: first deliveries in the group's order; the head's second delivery carries the same webhook-id
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: records[0]?.messageId }]);
    expect(queue.visibilityByHandle()).toEqual({ [records[0]?.receiptHandle as string]: 10 });
    expect(again.batchItemFailures).toEqual([]);
    expect(callbacks.calledFor()).toEqual([head, middle, last, head].map((t) => t.taskId));
    expect(stored(head)).toMatchObject({ status: "delivered", attempts: 2, attemptSeq: 2 });
    for (const t of [middle, last]) expect(stored(t)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("a `delivered` statement failing on the last attempt costs one more call (same webhook-id), not a dead letter", async () => {
    // Prepare: a single attempt allowed; the task's finishing statement is throttled once
    const { store, callbacks, queue, metrics, deps, context, task, stored } = setup({
      topic: testTopic({ maxAttempts: 1 }),
    });
    const only = await task("g");
    store.statementErrors.set(`finish:${only.taskId}`, "ThrottlingError");
    const record = fifoRecord(only);

    // Act: the batch, then the record back from the queue
    const first = await deliverBatch(deps, eventOf(record), context);
    const again = await deliverBatch(deps, eventOf(record), context);

    // Assess: the receiver got it twice with one webhook-id; the task ends delivered, nothing dead-lettered
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(again.batchItemFailures).toEqual([]);
    expect(callbacks.calledFor()).toEqual([only.taskId, only.taskId]);
    expect(stored(only)).toMatchObject({ status: "delivered", attempts: 2, attemptSeq: 2 });
    expect(queue.deadLetters).toEqual([]);
    expect(metrics.count("deadLettered")).toBe(0);
  });

  it("the per-record read path makes that one more call too (the batch read left the task unread)", async () => {
    // Prepare: a last attempt started and never recorded (the invocation ended after its start)
    const { store, callbacks, queue, deps, context, task, stored } = setup({
      topic: testTopic({ maxAttempts: 1 }),
    });
    const only = await task("g", { status: "delivering", attempts: 1, attemptSeq: 1, attemptLog: {} });
    store.unreadIds.add(only.taskId);

    // Act
    const response = await deliverBatch(deps, eventOf(fifoRecord(only)), context);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(callbacks.calledFor()).toEqual([only.taskId]);
    expect(stored(only)).toMatchObject({ status: "delivered", attempts: 2, attemptSeq: 2 });
    expect(queue.deadLetters).toEqual([]);
  });

  it("that one more call is the last: its own `delivered` statement failing too ends the task failed, no third call", async () => {
    // Prepare
    const { store, callbacks, queue, deps, context, task, stored } = setup({
      topic: testTopic({ maxAttempts: 1 }),
    });
    const only = await task("g");
    const record = fifoRecord(only);

    // Act: both calls' finishing statements fail; the record comes back a third time
    for (let round = 0; round < 3; round++) {
      if (round < 2) store.statementErrors.set(`finish:${only.taskId}`, "ThrottlingError");
      await deliverBatch(deps, eventOf(record), context);
    }

    // Assess
    expect(callbacks.calledFor()).toEqual([only.taskId, only.taskId]);
    expect(stored(only)).toMatchObject({ status: "failed", attempts: 2 });
    expect(queue.deadLetters.map((d) => d.taskId)).toEqual([only.taskId]);
  });

  it("a last attempt whose failure was recorded is dead-lettered without a call, its count as recorded", async () => {
    // Prepare: three attempts used, the third's failure in its log slot (dead-lettering cut short after it)
    const { callbacks, queue, deps, context, task, stored } = setup();
    const entry = (seq: number) => ({ seq, startedAtMs: 1, durationMs: 5, status: 503, error: "HTTP 503" });
    const exhausted = await task("e", {
      status: "delivering",
      attempts: 3,
      attemptSeq: 3,
      lastError: "HTTP 503",
      attemptLog: { "0": entry(1), "1": entry(2), "2": entry(3) },
    });

    // Act
    await deliverBatch(deps, eventOf(fifoRecord(exhausted)), context);

    // Assess
    expect(callbacks.calledFor()).toEqual([]);
    expect(stored(exhausted)).toMatchObject({ status: "failed", attempts: 3 });
    expect(queue.deadLetters.map((d) => [d.taskId, d.reason])).toEqual([[exhausted.taskId, "HTTP 503"]]);
  });

  it("a finishing call still unanswered when the invocation's time runs out acknowledges none of its records and leaves time for the visibilities", async () => {
    // Prepare: the callbacks use up the invocation's time; the finishing call never answers
    let remaining = 60_000;
    const { store, callbacks, queue, deps, context, task } = setup({ remainingMs: () => remaining });
    const tasks = [await task("a"), await task("b")];
    const post = callbacks.post.bind(callbacks);
    callbacks.post = async (request) => {
      const result = await post(request);
      // After the last callback: 600 ms left, of which half the 1 s safety margin stays free
      if (callbacks.requests.length === 2) remaining = 600;
      return result;
    };
    store.finishAttempts = () => new Promise<Set<string>>(() => undefined);
    const records = tasks.map((t) => fifoRecord(t));

    // Act
    const response = await deliverBatch(deps, eventOf(...records), context);

    // Assess: both come back (their `delivered` may or may not be written), after the first backoff step
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(records.map((r) => r.messageId));
    expect(Object.values(queue.visibilityByHandle())).toEqual([10, 10]);
  });

  it("a finishing call that fails as a whole acknowledges none of the delivered records", async () => {
    const { store, deps, context, task } = setup();
    const tasks = [await task("a"), await task("b")];
    store.failNextBatchCall = "finishAttempts";
    const records = tasks.map((t) => fifoRecord(t));

    const response = await deliverBatch(deps, eventOf(...records), context);

    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(records.map((r) => r.messageId));
  });

  it("the batch read decides as the read path: gone and final dropped, exhausted dead-lettered without a callback", async () => {
    // Prepare: a missing task, a delivered one, one with its attempts used up, and a normal one
    const { start, store, callbacks, queue, deps, context, task, stored } = setup();
    // Due by the test's clock (not the wall clock, which runs on past `start`): a candidate of the batch read
    const gone = makeTask({ group: "x", dueAtMs: start - 1, acceptedAtMs: start - 5 });
    const done = await task("d", { status: "delivered" });
    const exhausted = await task("e", {
      status: "delivering",
      attempts: 3,
      attemptSeq: 3,
      lastError: "HTTP 503",
    });
    const normal = await task("n");
    const perRecord = countPerRecord(store);

    // Act
    const response = await deliverBatch(
      deps,
      eventOf(...[gone, done, exhausted, normal].map((t) => fifoRecord(t))),
      context,
    );

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(perRecord.get + perRecord.startAttempt).toBe(0);
    expect(callbacks.calledFor()).toEqual([normal.taskId]);
    expect(stored(exhausted)).toMatchObject({ status: "failed", lastError: "HTTP 503", attempts: 3 });
    expect(queue.deadLetters.map((d) => [d.taskId, d.reason])).toEqual([[exhausted.taskId, "HTTP 503"]]);
    expect(stored(done).status).toBe("delivered");
  });

  it("a moved task (one with a TTL floor) is finished no earlier than its floor, in the batch's writes as one by one; others keep their retention", async () => {
    // Prepare: successors whose old items expire in 40 days (two delivered in the batch write, one dead-lettered
    // from the batch read, one alone on the per-record path), one whose floor is below its retention, and a task
    // never moved.
    const { start, store, deps, context, task, stored } = setup();
    const floor = Math.ceil(start / 1000) + 40 * 86_400;
    const moved = { rescheduledFrom: "demo.x.y.z", expiresAtFloor: floor };
    const batched = [await task("m1", moved), await task("m2", moved)];
    const exhausted = await task("m3", { ...moved, status: "delivering", attempts: 3, attemptSeq: 3 });
    const lowFloor = await task("m4", { ...moved, expiresAtFloor: 1 });
    const plain = await task("p");
    const alone = await task("m5", moved);

    // Act
    const first = [...batched, exhausted, lowFloor, plain].map((t) => fifoRecord(t));
    const response = await deliverBatch(deps, eventOf(...first), context);
    const batchCalls = { ...store.batchCalls };
    const single = await deliverBatch(deps, eventOf(fifoRecord(alone)), context);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(single.batchItemFailures).toEqual([]);
    expect(batchCalls).toEqual({ readMany: 1, startAttempts: 1, finishAttempts: 1 });
    for (const t of [...batched, alone])
      expect(stored(t)).toMatchObject({ status: "delivered", expiresAt: floor });
    expect(stored(exhausted)).toMatchObject({ status: "failed", expiresAt: floor });
    const retention = (t: TaskRecord) => (stored(t).deliveredAtMs as number) / 1000 + 3 * 86_400;
    for (const t of [lowFloor, plain]) expect(stored(t).expiresAt).toBe(Math.ceil(retention(t)));
  });

  it("a task the batch read left unread (UnprocessedKeys) is decided at its turn by the per-record path", async () => {
    // Prepare
    const { store, callbacks, deps, context, task, stored } = setup();
    const [a, b, c] = [await task("a"), await task("b"), await task("c")];
    store.unreadIds.add(b.taskId);
    const perRecord = countPerRecord(store);

    // Act
    const response = await deliverBatch(deps, eventOf(...[a, b, c].map((t) => fifoRecord(t))), context);

    // Assess: b started on its own (one attempt), the others batched; each delivered once
    expect(response.batchItemFailures).toEqual([]);
    expect(perRecord).toEqual({ get: 0, startAttempt: 1, markDelivered: 0 });
    expect(callbacks.calledFor().sort()).toEqual([a, b, c].map((t) => t.taskId).sort());
    for (const t of [a, b, c]) expect(stored(t)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("a batch read that never answers holds neither the invocation nor the records: they start one by one", async () => {
    // Prepare: the batch read hangs; a short watchdog margin bounds the batch start
    const { store, callbacks, deps, context, task, stored } = setup({ watchdogMarginMs: 50 });
    const tasks = [await task("a"), await task("b")];
    store.readMany = () => new Promise<ManyRead>(() => undefined);
    const perRecord = countPerRecord(store);

    // Act
    const response = await deliverBatch(deps, eventOf(...tasks.map((t) => fifoRecord(t))), context);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(perRecord.startAttempt).toBe(2);
    expect(callbacks.calledFor().sort()).toEqual(tasks.map((t) => t.taskId).sort());
    for (const t of tasks) expect(stored(t)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("a batch start that answers after the batch moved on is given back where it was written, never used", async () => {
    // Prepare: the start call is held until the records have been handled one by one; the group's head fails,
    // so the record behind it never runs and its task is still as read when the late start arrives
    const { store, callbacks, deps, context, task, stored } = setup({ watchdogMarginMs: 50 });
    const [head, next] = [await task("g"), await task("g")];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const startAttempts = store.startAttempts.bind(store);
    let late: Promise<unknown> = Promise.resolve();
    store.startAttempts = (starts) => {
      const answer = held.then(() => startAttempts(starts));
      late = answer;
      return answer;
    };
    callbacks.answer(head.taskId, HTTP(500));

    // Act
    const response = await deliverBatch(deps, eventOf(fifoRecord(head), fifoRecord(next)), context);
    release();
    await late;

    // Assess: the head keeps the one attempt it made; the late start of `next` is undone
    expect(response.batchItemFailures).toHaveLength(2);
    expect(callbacks.calledFor()).toEqual([head.taskId]);
    expect(stored(head)).toMatchObject({ status: "delivering", attempts: 1, attemptSeq: 1 });
    await vi.waitFor(() => expect(stored(next)).toEqual(next));
  });

  it("a protected topic keeps its per-record path: no batch call at all", async () => {
    const { store, deps, context, task, stored } = setup({
      topic: testTopic({ circuitFailureThreshold: 5 }),
    });
    const tasks = [await task("a"), await task("b")];
    const perRecord = countPerRecord(store);

    const response = await deliverBatch(deps, eventOf(...tasks.map((t) => fifoRecord(t))), context);

    expect(response.batchItemFailures).toEqual([]);
    expect(store.batchCalls).toEqual({ readMany: 0, startAttempts: 0, finishAttempts: 0 });
    expect(perRecord).toEqual({ get: 2, startAttempt: 2, markDelivered: 2 });
    for (const t of tasks) expect(stored(t).status).toBe("delivered");
  });

  it("a single startable record takes the per-record fast path (two requests, not three)", async () => {
    const { store, deps, context, task, stored } = setup();
    const t = await task("a");
    const perRecord = countPerRecord(store);

    await deliverBatch(deps, eventOf(fifoRecord(t)), context);

    expect(store.batchCalls).toEqual({ readMany: 0, startAttempts: 0, finishAttempts: 1 });
    expect(perRecord).toEqual({ get: 0, startAttempt: 1, markDelivered: 0 });
    expect(stored(t).status).toBe("delivered");
  });

  it("no batch call names a task twice (DynamoDB answers DuplicateItem), even with a task carried twice and its group failing", async () => {
    // Prepare: group g carries t twice behind a failing head; another group is delivered normally
    const { store, callbacks, deps, context, task } = setup();
    const head = await task("g");
    const t = await task("g");
    const other = await task("o");
    callbacks.answer(head.taskId, HTTP(503));
    const calls: string[][] = [];
    const startAttempts = store.startAttempts.bind(store);
    const finishAttempts = store.finishAttempts.bind(store);
    store.startAttempts = (starts) => {
      calls.push(starts.map((s) => s.read.taskId));
      return startAttempts(starts);
    };
    store.finishAttempts = (writes) => {
      calls.push(writes.map((w) => (w.kind === "delivered" ? w.taskId : w.read.taskId)));
      return finishAttempts(writes);
    };

    // Act
    await deliverBatch(
      deps,
      eventOf(fifoRecord(head), fifoRecord(t), fifoRecord(other), fifoRecord(t, { messageId: "copy" })),
      context,
    );

    // Assess
    expect(calls.length).toBeGreaterThan(0);
    for (const ids of calls) expect(new Set(ids).size).toBe(ids.length);
  });

  it("the same task in two records of a batch is delivered once (its writes are not deferred)", async () => {
    const { callbacks, deps, context, task, stored } = setup();
    const t = await task("a");
    const other = await task("b");

    const response = await deliverBatch(
      deps,
      eventOf(fifoRecord(t), fifoRecord(other), fifoRecord(t, { messageId: "copy" })),
      context,
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(callbacks.calledFor().filter((id) => id === t.taskId)).toHaveLength(1);
    expect(stored(t)).toMatchObject({ status: "delivered", attempts: 1 });
  });
});
