/**
 * A step the group runner's watchdog gave up on (shared/services/deliver/group-runner.ts) must stop: its record and
 * the rest of its group were already handed back to the queue, so a step that went on once its hung DynamoDB call
 * answered started an attempt and sent a callback beside the redelivery — an earlier task's callback arriving after
 * a later one's. The trigger is slow DynamoDB, not a receiver. Fakes at the store seam; the watchdog runs on real
 * timers with a 50 ms callback timeout and a 50 ms margin, as the other watchdog tests do.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { CallbackResult } from "#shared/adapters/callback-client.js";
import type { AbortOptions } from "#shared/adapters/task-store.js";
import type { TopicConfig } from "#shared/config/index.js";
import { attemptLogEntries, REFUSED_BY_POLICY } from "#shared/domain/attempt-log.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { type DeliverDeps, DestinationCache, deliverBatch } from "#shared/services/deliver/index.js";
import { deliverDeps, testTopic } from "../../../support/deliver-binding.js";
import { eventOf, fifoRecord, makeTask, T0 } from "../../../support/factories.js";
import { FakeCallbacks, HTTP } from "../../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";
import { MemoryTaskStore } from "../../../support/memory-task-store.js";

const SIGNER = new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]);
const HOST = "hooks.example.com";

/**
 * A call held until `release()`; with `signal`, it rejects as the SDK's does once the signal is aborted (the
 * request torn down; whatever it wrote stays written, its answer is lost).
 */
function holder() {
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const hold = (signal: AbortSignal | undefined) =>
    new Promise<void>((resolve, reject) => {
      released.then(resolve);
      signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  return { hold, release };
}

/** Everything queued behind a released call runs on promises alone (the fakes use no timers): one turn drains it. */
const drained = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(groupConcurrency: number, topicOverrides: Partial<TopicConfig> = {}) {
  const store = new MemoryTaskStore();
  const callbacks = new FakeCallbacks();
  const queue = new FakeTopicQueue();
  const topic = testTopic({ callbackTimeoutSeconds: 0.05, ...topicOverrides });
  /** One deliver container: its own destination cache, the shared table, receiver and queue. */
  const container = (logger = memoryLogger(), extra: Partial<DeliverDeps> = {}) =>
    deliverDeps(
      {
        store,
        topicQueue: queue,
        metrics: new MemoryMetrics(),
        logger,
        clock: () => T0 + 100,
        topic,
        callbacks,
        signer: SIGNER,
      },
      { groupConcurrency, watchdogMarginMs: 50, destinationCache: new DestinationCache(), ...extra },
    );
  const context = { getRemainingTimeInMillis: () => 60_000 };
  const group = randomUUID();
  const task = async (dueOffsetMs: number) => {
    const t = makeTask({
      group,
      dueAtMs: T0 + dueOffsetMs,
      acceptedAtMs: T0 - 10_000,
      status: "queued",
      callbackUrl: `https://${HOST}/hook`,
    });
    await store.putNew(t, { sweepIndex: false });
    return t;
  };
  const stored = (t: TaskRecord) => store.tasks.get(t.taskId) as TaskRecord;
  /** `startAttempt` writing at once, its answer held (taking no signal) until `release()`. */
  const holdStartAnswer = (taskId: string) => {
    const { hold, release } = holder();
    const startAttempt = store.startAttempt.bind(store);
    store.startAttempt = async (id: string, nowMs: number, maxAttempts?: number, handedOverAtMs?: number) => {
      const started = await startAttempt(id, nowMs, maxAttempts, handedOverAtMs);
      if (id === taskId) await hold(undefined);
      return started;
    };
    return release;
  };
  /** Runs `during` once, inside the receiver's `call`-th request (counting from 1), before it is answered. */
  const duringCall = (call: number, during: () => Promise<void>) => {
    const post = callbacks.post.bind(callbacks);
    callbacks.post = async (request) => {
      if (callbacks.requests.length === call - 1) await during();
      return post(request);
    };
  };
  return { store, callbacks, queue, container, context, task, stored, holdStartAnswer, duringCall };
}

describe.each([1, 10])("a step the watchdog gave up on stops (groupConcurrency %i)", (groupConcurrency) => {
  it("a protected topic's step whose task read answers after the hand-back takes no lease, starts no attempt and sends no callback", async () => {
    // Prepare: a protected topic (the read path); the head's read is held past the watchdog by a store that takes
    // no signal, and answers once the batch has handed the group back
    const { store, callbacks, container, context, task, stored } = setup(groupConcurrency, {
      maxConcurrencyPerHost: 1,
    });
    const head = await task(-2_000);
    const next = await task(-1_000);
    const { hold, release } = holder();
    const get = store.get.bind(store);
    store.get = async (taskId: string) => {
      if (taskId === head.taskId) await hold(undefined);
      return get(taskId);
    };
    const records = [head, next].map((t) => fifoRecord(t));

    // Act
    const response = await deliverBatch(container(), eventOf(...records), context);
    release();
    await drained();

    // Assess: both records came back; the late step changed nothing and called no one
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(records.map((r) => r.messageId));
    expect(callbacks.calledFor()).toEqual([]);
    expect(stored(head)).toEqual(head);
    expect(stored(next)).toEqual(next);
    expect(store.destinations.items.get(`demo#${HOST}`)?.leases ?? {}).toEqual({});
  });

  it("a step whose start answers only after the redelivery delivered the group sends no late callback after a later task's", async () => {
    // Prepare: the head arrives alone (its follower reaches the queue later); its start is written at once but its
    // answer held, as on a dead connection, until after the redelivery
    const { store, callbacks, container, context, task, stored } = setup(groupConcurrency);
    const head = await task(-2_000);
    const next = await task(-1_000);
    const { hold, release } = holder();
    const startAttempt = store.startAttempt.bind(store);
    let held = true;
    store.startAttempt = async (
      taskId: string,
      nowMs: number,
      maxAttempts?: number,
      handedOverAtMs?: number,
      options?: AbortOptions,
    ) => {
      const started = await startAttempt(taskId, nowMs, maxAttempts, handedOverAtMs);
      if (held && taskId === head.taskId) {
        held = false;
        await hold(options?.signal);
      }
      return started;
    };

    // Act: the first container gives the head up; another delivers head and follower; then the held answer arrives
    const first = await deliverBatch(container(), eventOf(fifoRecord(head)), context);
    const redelivery = await deliverBatch(container(), eventOf(fifoRecord(head), fifoRecord(next)), context);
    release();
    await drained();

    // Assess: the receiver saw the group once, in order — no stale copy of the head after its follower
    expect(first.batchItemFailures).toHaveLength(1);
    expect(redelivery.batchItemFailures).toEqual([]);
    expect(callbacks.calledFor()).toEqual([head.taskId, next.taskId]);
    expect(stored(head)).toMatchObject({ status: "delivered" });
    expect(stored(next)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("a step whose read-free start answers after the hand-back sends no callback; that start's attempt is refunded", async () => {
    // Prepare: a batch of one (the one-write fast path); its start written at once, the answer held past the watchdog
    const { callbacks, container, context, task, stored, holdStartAnswer } = setup(groupConcurrency);
    const head = await task(-1_000);
    const release = holdStartAnswer(head.taskId);

    // Act
    const response = await deliverBatch(container(), eventOf(fifoRecord(head)), context);
    release();
    await drained();

    // Assess: no callback; the start (made without a read) counts no attempt, gives the task back the status it
    // found (`queued`: its own write recorded it), and is logged as ended unused (no status: nothing was sent)
    expect(response.batchItemFailures).toHaveLength(1);
    expect(callbacks.calledFor()).toEqual([]);
    expect(stored(head)).toMatchObject({ status: "queued", attempts: 0, attemptSeq: 1 });
    expect(stored(head).startedFrom).toBeUndefined();
    expect(attemptLogEntries(stored(head))).toEqual([
      { seq: 1, startedAtMs: T0 + 100, durationMs: 0, error: "attempt given back: its start went unused" },
    ]);
  });

  it("a step whose read-free start is written but aborted before its answer refunds that attempt", async () => {
    // Prepare: the one-write fast path, on the task's last attempt; the start reaches the table and its answer is cut
    // off by the abort (the SDK's request torn down after it was sent)
    const { store, callbacks, container, context, task, stored } = setup(groupConcurrency, {
      maxAttempts: 2,
    });
    const head = await task(-1_000);
    store.tasks.set(head.taskId, {
      ...head,
      status: "delivering",
      attempts: 1,
      attemptSeq: 1,
      lastError: "HTTP 500",
    });
    const { hold } = holder();
    const startAttempt = store.startAttempt.bind(store);
    let held = true;
    store.startAttempt = async (
      taskId: string,
      nowMs: number,
      maxAttempts?: number,
      handedOverAtMs?: number,
      options?: AbortOptions,
    ) => {
      const started = await startAttempt(taskId, nowMs, maxAttempts, handedOverAtMs);
      if (held) {
        held = false;
        await hold(options?.signal);
      }
      return started;
    };

    // Act: the batch gives the head up; its redelivery comes
    const first = await deliverBatch(container(), eventOf(fifoRecord(head)), context);
    await drained();
    const afterFirst = structuredClone(stored(head));
    const redelivery = await deliverBatch(container(), eventOf(fifoRecord(head)), context);

    // Assess: the cut-off start counted no attempt (its last error kept), so the redelivery calls instead of
    // dead-lettering a task whose last attempt made no call
    expect(first.batchItemFailures).toHaveLength(1);
    expect(afterFirst).toMatchObject({
      status: "delivering",
      attempts: 1,
      attemptSeq: 2,
      lastError: "HTTP 500",
    });
    expect(redelivery.batchItemFailures).toEqual([]);
    expect(callbacks.calledFor()).toEqual([head.taskId]);
    expect(stored(head)).toMatchObject({ status: "delivered", attempts: 2, attemptSeq: 3 });
  });

  it("a retry's read-free start refunded unused logs that attempt as given back, so the task waiting for its retry can still be cancelled", async () => {
    // Prepare: a task waiting for its retry (attempt 1 failed, its outcome logged); its retry's read-free start is
    // written and its answer cut off by the abort, so that start is refunded without a read of the task
    const { store, callbacks, container, context, task, stored } = setup(groupConcurrency);
    const head = await task(-1_000);
    const failed = { seq: 1, startedAtMs: T0 - 500, durationMs: 20, status: 500, error: "HTTP 500" };
    store.tasks.set(head.taskId, {
      ...head,
      status: "delivering",
      attempts: 1,
      attemptSeq: 1,
      attemptLog: { "0": failed },
      lastError: "HTTP 500",
    });
    const { hold } = holder();
    const startAttempt = store.startAttempt.bind(store);
    store.startAttempt = async (
      taskId: string,
      nowMs: number,
      maxAttempts?: number,
      handedOverAtMs?: number,
      options?: AbortOptions,
    ) => {
      const started = await startAttempt(taskId, nowMs, maxAttempts, handedOverAtMs);
      await hold(options?.signal);
      return started;
    };

    // Act: the retry's step is given up; an operator then cancels the task
    const response = await deliverBatch(container(), eventOf(fifoRecord(head)), context);
    await drained();
    const refunded = structuredClone(stored(head));
    const cancel = await store.cancel(head.taskId, T0 + 200, 1, { awaitingRetry: true });

    // Assess: no call; the unused start ended with an entry of its own (no status: nothing was sent), its attempt
    // uncounted and the last error kept, so nothing is in flight and the cancel is taken, not refused as in flight
    expect(response.batchItemFailures).toHaveLength(1);
    expect(callbacks.calledFor()).toEqual([]);
    expect(refunded).toMatchObject({
      status: "delivering",
      attempts: 1,
      attemptSeq: 2,
      lastError: "HTTP 500",
    });
    expect(attemptLogEntries(refunded)).toEqual([
      failed,
      { seq: 2, startedAtMs: T0 + 100, durationMs: 0, error: "attempt given back: its start went unused" },
    ]);
    expect(cancel).toMatchObject({ outcome: "cancelled", task: { status: "cancelled" } });
  });

  it.each([
    ["not written, and the read that looks for it fails", false, "get", []],
    [
      "written, and its refund fails",
      true,
      "recordAttemptFailure",
      ["giving back an unused start failed; that attempt counts"],
    ],
  ] as const)(
    "a read-free start whose call failed (%s) warns of a lost give-back only when it knows the attempt counts",
    async (_, written, failing, warnings) => {
      // Prepare: the fast path's start fails (written or not); the follow-up call fails too
      const { store, container, context, task } = setup(groupConcurrency);
      const head = await task(-1_000);
      const startAttempt = store.startAttempt.bind(store);
      store.startAttempt = async (
        taskId: string,
        nowMs: number,
        maxAttempts?: number,
        handedOverAtMs?: number,
      ) => {
        if (written) await startAttempt(taskId, nowMs, maxAttempts, handedOverAtMs);
        throw new Error("connection reset");
      };
      store[failing] = async () => {
        throw new Error("throttled");
      };
      const logger = memoryLogger();

      // Act
      const response = await deliverBatch(container(logger), eventOf(fifoRecord(head)), context);

      // Assess
      expect(response.batchItemFailures).toHaveLength(1);
      expect(logger.entries.filter((e) => e.message.startsWith("giving back")).map((e) => e.message)).toEqual(
        warnings,
      );
    },
  );

  it("a step whose read-free start was never written (aborted before it was sent) changes nothing", async () => {
    // Prepare: the fast path's start hangs before reaching the table, and is torn down by the abort
    const { store, callbacks, container, context, task, stored } = setup(groupConcurrency);
    const head = await task(-1_000);
    const { hold } = holder();
    store.startAttempt = async (
      _taskId: string,
      _nowMs: number,
      _maxAttempts?: number,
      _handedOverAtMs?: number,
      options?: AbortOptions,
    ) => {
      await hold(options?.signal);
      return undefined;
    };
    const logger = memoryLogger();

    // Act
    const response = await deliverBatch(container(logger), eventOf(fifoRecord(head)), context);
    await drained();

    // Assess
    expect(response.batchItemFailures).toHaveLength(1);
    expect(callbacks.calledFor()).toEqual([]);
    expect(stored(head)).toEqual(head);
    expect(logger.entries.map((e) => e.message)).not.toContain(
      "giving back an unused start failed; that attempt counts",
    );
  });

  it("a protected topic's step whose start answers after the hand-back gives the start and its lease back, calls no one", async () => {
    // Prepare: the read path (a protected topic); the start written at once, its answer held past the watchdog
    const { store, callbacks, container, context, task, stored, holdStartAnswer } = setup(groupConcurrency, {
      maxConcurrencyPerHost: 1,
    });
    const head = await task(-1_000);
    const release = holdStartAnswer(head.taskId);

    // Act
    const response = await deliverBatch(container(), eventOf(fifoRecord(head)), context);
    release();
    await drained();

    // Assess: the task is as it was read, the host's only lease free again, no callback
    expect(response.batchItemFailures).toHaveLength(1);
    expect(callbacks.calledFor()).toEqual([]);
    expect(stored(head)).toEqual(head);
    expect(store.destinations.items.get(`demo#${HOST}`)?.leases).toEqual({});
  });

  it("a protected topic's step whose start is written but aborted before its answer gives the start back", async () => {
    // Prepare: the read path; the start reaches the table, and its answer is cut off by the abort (the SDK's
    // request torn down after it was sent)
    const { store, callbacks, container, context, task, stored } = setup(groupConcurrency, {
      maxConcurrencyPerHost: 1,
    });
    const head = await task(-1_000);
    const { hold } = holder();
    const startAttempt = store.startAttempt.bind(store);
    store.startAttempt = async (
      taskId: string,
      nowMs: number,
      maxAttempts?: number,
      handedOverAtMs?: number,
      options?: AbortOptions,
    ) => {
      const started = await startAttempt(taskId, nowMs, maxAttempts, handedOverAtMs);
      await hold(options?.signal);
      return started;
    };

    // Act
    const response = await deliverBatch(container(), eventOf(fifoRecord(head)), context);
    await drained();

    // Assess: no attempt counted for a call never made; the lease free again; no callback
    expect(response.batchItemFailures).toHaveLength(1);
    expect(callbacks.calledFor()).toEqual([]);
    expect(stored(head)).toEqual(head);
    expect(store.destinations.items.get(`demo#${HOST}`)?.leases).toEqual({});
  });

  it("a protected topic's step whose lease answers after the hand-back releases it and starts nothing", async () => {
    // Prepare: the lease write is made at once, its answer held past the watchdog (a slow destination-gate write)
    const { store, callbacks, container, context, task, stored } = setup(groupConcurrency, {
      maxConcurrencyPerHost: 1,
    });
    const head = await task(-1_000);
    const { hold, release } = holder();
    const acquireLease = store.acquireLease;
    const writable = store as { acquireLease: MemoryTaskStore["acquireLease"] };
    writable.acquireLease = async (...args: Parameters<MemoryTaskStore["acquireLease"]>) => {
      const slot = await acquireLease(...args);
      await hold(undefined);
      return slot;
    };

    // Act
    const response = await deliverBatch(container(), eventOf(fifoRecord(head)), context);
    release();
    await drained();

    // Assess: the lease it took is free again; no attempt, no callback
    expect(response.batchItemFailures).toHaveLength(1);
    expect(store.destinations.items.get(`demo#${HOST}`)?.leases).toEqual({});
    expect(callbacks.calledFor()).toEqual([]);
    expect(stored(head)).toEqual(head);
  });

  it("a step given up while reading for the batch's own start, whose answer was lost, gives that start back", async () => {
    // Prepare: the batch start is written but its answer lost, so the head reads at its turn; that read hangs and,
    // as the SDK's does, rejects once the step is given up
    const { store, callbacks, container, context, task, stored } = setup(groupConcurrency);
    const head = await task(-2_000);
    const next = await task(-1_000);
    store.loseNextBatchAnswer = "startAttempts";
    const { hold } = holder();
    const get = store.get.bind(store);
    store.get = async (taskId: string, options?: AbortOptions) => {
      if (taskId === head.taskId) await hold(options?.signal);
      return get(taskId);
    };

    // Act
    const response = await deliverBatch(container(), eventOf(fifoRecord(head), fifoRecord(next)), context);
    await drained();

    // Assess: both records come back with their tasks as before the batch: no attempt counted, no callback
    expect(response.batchItemFailures).toHaveLength(2);
    expect(callbacks.calledFor()).toEqual([]);
    expect(stored(head)).toEqual(head);
    expect(stored(next)).toEqual(next);
  });

  it("a step whose last failed attempt is recorded after the hand-back leaves the dead-lettering to the redelivery", async () => {
    // Prepare: one attempt allowed; the receiver fails it; recording the failure answers only after the hand-back
    const { store, callbacks, queue, container, context, task, stored } = setup(groupConcurrency, {
      maxAttempts: 1,
    });
    const head = await task(-1_000);
    callbacks.answer(head.taskId, HTTP(500));
    const { hold, release } = holder();
    const recordAttemptFailure = store.recordAttemptFailure.bind(store);
    store.recordAttemptFailure = async (...args) => {
      const written = await recordAttemptFailure(...args);
      await hold(undefined);
      return written;
    };

    // Act: the first container gives the step up; its held write answers; then the record comes back
    const first = await deliverBatch(container(), eventOf(fifoRecord(head)), context);
    release();
    await drained();
    const deadLettersBefore = queue.deadLetters.length;
    const redelivery = await deliverBatch(container(), eventOf(fifoRecord(head)), context);

    // Assess: the given-up step dead-lettered nothing; the redelivery did, once, without calling the receiver again
    expect(first.batchItemFailures).toHaveLength(1);
    expect(deadLettersBefore).toBe(0);
    expect(redelivery.batchItemFailures).toEqual([]);
    expect(queue.deadLetters.map((d) => d.taskId)).toEqual([head.taskId]);
    expect(callbacks.calledFor()).toEqual([head.taskId]);
    expect(stored(head)).toMatchObject({ status: "failed", attempts: 1, lastError: "HTTP 500" });
  });
  it("a step whose delivered write lands after the redelivery began its attempt does not mark the task delivered under it", async () => {
    // Prepare: a protected topic (its delivered write is made at once, not in the batch's finishing call); the first
    // step's write is sent but held on the wire past the watchdog (an SDK call already sent is not unsent)
    const { store, container, context, task, stored, duringCall } = setup(groupConcurrency, {
      maxConcurrencyPerHost: 1,
    });
    const head = await task(-1_000);
    const { hold, release } = holder();
    const markDelivered = store.markDelivered.bind(store);
    let late = true;
    store.markDelivered = async (...args: Parameters<MemoryTaskStore["markDelivered"]>) => {
      if (late) {
        late = false;
        await hold(undefined);
      }
      return markDelivered(...args);
    };
    // The late write lands while the redelivery's callback (attempt 2) is running
    let whileRedelivering: TaskRecord | undefined;
    duringCall(2, async () => {
      release();
      await drained();
      whileRedelivering = structuredClone(stored(head));
    });
    const firstLog = memoryLogger();

    // Act
    const first = await deliverBatch(container(firstLog), eventOf(fifoRecord(head)), context);
    const redelivery = await deliverBatch(container(), eventOf(fifoRecord(head)), context);

    // Assess: attempt 1's write was dropped (and said so); attempt 2 recorded its own outcome
    expect(first.batchItemFailures).toHaveLength(1);
    expect(redelivery.batchItemFailures).toEqual([]);
    expect(whileRedelivering).toMatchObject({ status: "delivering", attempts: 2, attemptSeq: 2 });
    expect(stored(head)).toMatchObject({ status: "delivered", attempts: 2, attemptSeq: 2 });
    expect(attemptLogEntries(stored(head)).map((e) => e.seq)).toEqual([2]);
    expect(firstLog.entries).toContainEqual(
      expect.objectContaining({
        level: "warn",
        extra: expect.objectContaining({ taskId: head.taskId, attemptSeq: 1, outcome: "delivered" }),
      }),
    );
  });

  it("a group given up with its callback still open comes back no sooner than that callback's deadline", async () => {
    // Prepare: a first backoff step of 0 s; the head's callback is still open when the watchdog fires (a callback
    // that started late in its step, after a slow read, runs up to its whole timeout past the step's start)
    const { callbacks, queue, container, context, task, duringCall } = setup(groupConcurrency, {
      backoff: { initialSeconds: 0, maxSeconds: 10, multiplier: 2, jitter: "none" },
    });
    const head = await task(-2_000);
    const next = await task(-1_000);
    const { hold, release } = holder();
    duringCall(1, () => hold(undefined));

    // Act
    const response = await deliverBatch(container(), eventOf(fifoRecord(head), fifoRecord(next)), context);
    release();
    await drained();

    // Assess: both records hidden for at least the callback timeout (0.05 s → 1 s), not the 0 s step: the
    // redelivery's callback for the head cannot overlap the open one, nor its follower's arrive while it is open
    expect(response.batchItemFailures).toHaveLength(2);
    expect(callbacks.calledFor()).toEqual([head.taskId]);
    const seconds = queue.visibility.flatMap((v) => v.changes.map((c) => c.seconds));
    expect(seconds).toEqual([1, 1]);
  });

  it("a step whose dead-lettering lands after the redelivery began its attempt does not fail the task under it", async () => {
    // Prepare: attempt 1 is refused by policy (dead-lettered at once, attempts left); its failure is recorded, its
    // DLQ send answers only after the hand-back; the allow-list is widened meanwhile, so attempt 2 is answered 2xx
    const { callbacks, queue, container, context, task, stored, duringCall } = setup(groupConcurrency, {
      maxAttempts: 3,
    });
    const head = await task(-1_000);
    callbacks.answer(head.taskId, {
      ok: false,
      refused: true,
      error: `${REFUSED_BY_POLICY}: x`,
      durationMs: 1,
    });
    const { hold, release } = holder();
    const sendToDeadLetter = queue.sendToDeadLetter.bind(queue);
    let late = true;
    queue.sendToDeadLetter = async (...args: Parameters<FakeTopicQueue["sendToDeadLetter"]>) => {
      await sendToDeadLetter(...args);
      if (late) {
        late = false;
        await hold(undefined);
      }
    };
    // The first step's `failed` lands while the redelivery's callback (attempt 2) is running
    let whileRedelivering: TaskRecord | undefined;
    duringCall(2, async () => {
      release();
      await drained();
      whileRedelivering = structuredClone(stored(head));
    });

    const firstLog = memoryLogger();

    // Act
    const first = await deliverBatch(container(firstLog), eventOf(fifoRecord(head)), context);
    const redelivery = await deliverBatch(container(), eventOf(fifoRecord(head)), context);

    // Assess: attempt 2 kept the task and recorded its delivery; attempt 1's `failed` was refused, and said so
    expect(firstLog.entries).toContainEqual(
      expect.objectContaining({
        level: "warn",
        extra: { taskId: head.taskId, attemptSeq: 1 },
      }),
    );
    expect(first.batchItemFailures).toHaveLength(1);
    expect(redelivery.batchItemFailures).toEqual([]);
    expect(callbacks.calledFor()).toEqual([head.taskId, head.taskId]);
    expect(whileRedelivering).toMatchObject({ status: "delivering", attempts: 2, attemptSeq: 2 });
    expect(stored(head)).toMatchObject({ status: "delivered", attempts: 2, attemptSeq: 2 });
  });

  const refusedWhileSettling: CallbackResult = {
    ok: false,
    refused: true,
    error: `${REFUSED_BY_POLICY}: not allowed`,
    durationMs: 1,
  };
  it.each([
    ["a failed attempt", HTTP(500)],
    ["a refusal given back (its attempt refunded)", refusedWhileSettling],
  ])(
    "a step whose record of %s lands after the redelivery began its attempt writes nothing into that attempt",
    async (_, answer) => {
      // Prepare: attempt 1 fails; its failure write is sent but held on the wire past the watchdog. Settings still
      // settling (a refusal then gives its attempt back in the same write)
      const { store, callbacks, container, context, task, stored, duringCall } = setup(groupConcurrency);
      const head = await task(-1_000);
      callbacks.answer(head.taskId, answer);
      const { hold, release } = holder();
      const recordAttemptFailure = store.recordAttemptFailure.bind(store);
      store.recordAttemptFailure = async (...args: Parameters<MemoryTaskStore["recordAttemptFailure"]>) => {
        await hold(undefined);
        return recordAttemptFailure(...args);
      };
      // The late write lands while the redelivery's callback (attempt 2) is running
      let asStarted: TaskRecord | undefined;
      let whileRedelivering: TaskRecord | undefined;
      duringCall(2, async () => {
        asStarted = structuredClone(stored(head));
        release();
        await drained();
        whileRedelivering = structuredClone(stored(head));
      });
      const extra = { settingsSettleMs: 60_000 };
      const firstLog = memoryLogger();

      // Act
      const first = await deliverBatch(container(firstLog, extra), eventOf(fifoRecord(head)), context);
      const redelivery = await deliverBatch(
        container(memoryLogger(), extra),
        eventOf(fifoRecord(head)),
        context,
      );

      // Assess: attempt 2's item is exactly as its start left it (no error, log entry or refund of attempt 1's)
      expect(first.batchItemFailures).toHaveLength(1);
      expect(asStarted).toMatchObject({ status: "delivering", attempts: 2, attemptSeq: 2 });
      expect(whileRedelivering).toEqual(asStarted);
      expect(redelivery.batchItemFailures).toEqual([]);
      expect(stored(head)).toMatchObject({ status: "delivered", attempts: 2, attemptSeq: 2 });
      expect(stored(head).lastError).toBeUndefined();
      expect(firstLog.entries).toContainEqual(
        expect.objectContaining({
          level: "warn",
          extra: expect.objectContaining({ taskId: head.taskId, attemptSeq: 1, outcome: "failed" }),
        }),
      );
    },
  );
});
