/**
 * Deliver's check of a held occurrence (shared/services/deliver/held-occurrence.ts, docs/RELIABILITY.md "Recurring
 * schedules"): an occurrence of a schedule deleted, paused or resumed since it was made — held past the stop by its
 * topic's pause, its group's retried head or an open circuit — is cancelled, not called, and its group moves on.
 * Fakes at the store seam (test/support/memory-task-store.ts).
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  occurrenceIdempotencyKey,
  type ScheduleRecord,
  type ScheduleStatus,
} from "#shared/domain/schedule.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { deliverDeps, testTopic } from "../../../support/deliver-binding.js";
import { eventOf, fifoRecord, makeSchedule, makeTask } from "../../../support/factories.js";
import { FakeCallbacks } from "../../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";
import { MemoryTaskStore } from "../../../support/memory-task-store.js";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

/** The store's reads and starts, counted: a plain task must pay nothing for the check. */
function countCalls(store: MemoryTaskStore) {
  const counts = { get: 0, getSchedule: 0, startAttempt: 0, cancel: 0 };
  for (const method of Object.keys(counts) as (keyof typeof counts)[]) {
    const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
    (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      counts[method]++;
      return original(...args);
    };
  }
  return counts;
}

function setup() {
  const start = Date.now();
  const store = new MemoryTaskStore();
  const callbacks = new FakeCallbacks();
  const logger = memoryLogger();
  const deps = deliverDeps({
    store,
    topicQueue: new FakeTopicQueue(),
    metrics: new MemoryMetrics(),
    logger,
    clock: () => start,
    topic: testTopic(),
    callbacks,
    signer: new CallbackSigner([SECRET]),
  });
  const context = { getRemainingTimeInMillis: () => 60_000 };
  const schedule = async (status: ScheduleStatus, epoch = 0): Promise<ScheduleRecord> => {
    const s = makeSchedule(start - 60_000, { status, epoch, materializedUntilMs: start });
    await store.putSchedule(s);
    return s;
  };
  /** An occurrence made in `epoch`, due 30 s ago (held since), as the materializer stamps it. */
  const occurrence = async (s: ScheduleRecord, epoch: number, fields: Partial<TaskRecord> = {}) => {
    const dueAtMs = start - 30_000;
    const t: TaskRecord = {
      ...makeTask({ dueAtMs, acceptedAtMs: start - 200_000, status: "queued" }),
      idempotencyKey: occurrenceIdempotencyKey(s.scheduleId, epoch, dueAtMs),
      scheduleId: s.scheduleId,
      scheduleEpoch: epoch,
      ...fields,
    };
    await store.putNew(t, { sweepIndex: false });
    return t;
  };
  const plain = async (group?: string) => {
    const t = makeTask({ group, dueAtMs: start - 30_000, acceptedAtMs: start - 200_000, status: "queued" });
    await store.putNew(t, { sweepIndex: false });
    return t;
  };
  const stored = (t: TaskRecord) => store.tasks.get(t.taskId) as TaskRecord;
  return { start, store, callbacks, logger, deps, context, schedule, occurrence, plain, stored };
}

describe("deliver: an occurrence held past its schedule's stop", () => {
  it.each([
    ["deleted", "deleted", 0],
    ["paused", "paused", 0],
    ["resumed since (a newer epoch)", "active", 1],
  ] as const)(
    "of a %s schedule is cancelled, not called; its record is done with",
    async (_, status, epoch) => {
      // Prepare: the occurrence was made in epoch 0
      const h = setup();
      const s = await h.schedule(status, epoch);
      const task = await h.occurrence(s, 0);

      // Act
      const response = await deliverBatch(h.deps, eventOf(fifoRecord(task)), h.context);

      // Assess
      expect(response.batchItemFailures).toEqual([]);
      expect(h.callbacks.requests).toHaveLength(0);
      expect(h.stored(task)).toMatchObject({ status: "cancelled", attempts: 0, cancelledAtMs: h.start });
      expect(h.logger.entries).toContainEqual(
        expect.objectContaining({ message: "occurrence of a stopped schedule cancelled, not delivered" }),
      );
    },
  );

  it("whose schedule item is gone (expired after a delete) is cancelled as of a deleted schedule", async () => {
    const h = setup();
    const s = await h.schedule("active");
    const task = await h.occurrence(s, 0);
    h.store.schedules.delete(s.scheduleId);

    await deliverBatch(h.deps, eventOf(fifoRecord(task)), h.context);

    expect(h.callbacks.requests).toHaveLength(0);
    expect(h.stored(task).status).toBe("cancelled");
  });

  it("made before tasks carried their epoch is checked by its idempotency key's epoch", async () => {
    const h = setup();
    const s = await h.schedule("active", 2);
    const { scheduleEpoch: _, ...legacy } = await h.occurrence(s, 1);
    h.store.tasks.set(legacy.taskId, legacy);

    await deliverBatch(h.deps, eventOf(fifoRecord(legacy)), h.context);

    expect(h.callbacks.requests).toHaveLength(0);
    expect(h.stored(legacy).status).toBe("cancelled");
  });

  it("of an active (or ended) schedule in its epoch is called, for one schedule read", async () => {
    const h = setup();
    const active = await h.occurrence(await h.schedule("active", 3), 3);
    const ended = await h.occurrence(await h.schedule("ended", 0), 0);
    const calls = countCalls(h.store);

    await deliverBatch(h.deps, eventOf(fifoRecord(active)), h.context);
    await deliverBatch(h.deps, eventOf(fifoRecord(ended)), h.context);

    expect(h.callbacks.calledFor()).toEqual([active.taskId, ended.taskId]);
    expect(h.stored(active).status).toBe("delivered");
    expect(h.stored(ended).status).toBe("delivered");
    expect(calls.getSchedule).toBe(2);
    expect(calls.cancel).toBe(0);
  });

  it("an occurrence's message (its scheduleId) takes the read path at once: no refused start, one read of the task and one of its schedule", async () => {
    // Prepare: the message as today's writers send an occurrence's, with its schedule id
    const h = setup();
    const task = await h.occurrence(await h.schedule("active", 0), 0);
    const calls = countCalls(h.store);

    // Act
    await deliverBatch(h.deps, eventOf(fifoRecord(task)), h.context);

    // Assess: the one start is the read path's (a start without a read would have been refused)
    expect(h.stored(task).status).toBe("delivered");
    expect(calls).toEqual({ get: 1, getSchedule: 1, startAttempt: 1, cancel: 0 });
  });

  it("an occurrence's message without its scheduleId (sent before it existed) is delivered as before: refused start, then the read path", async () => {
    const h = setup();
    const active = await h.occurrence(await h.schedule("active", 0), 0);
    const stopped = await h.occurrence(await h.schedule("deleted", 0), 0);
    const calls = countCalls(h.store);

    await deliverBatch(h.deps, eventOf(fifoRecord({ taskId: active.taskId, pk: active.pk })), h.context);
    await deliverBatch(h.deps, eventOf(fifoRecord({ taskId: stopped.taskId, pk: stopped.pk })), h.context);

    expect(h.callbacks.calledFor()).toEqual([active.taskId]);
    expect(h.stored(active).status).toBe("delivered");
    expect(h.stored(stopped).status).toBe("cancelled");
    expect(calls).toEqual({ get: 2, getSchedule: 2, startAttempt: 3, cancel: 1 });
  });

  it("a message that names a schedule for a plain task delivers it: the task as read decides, no schedule read", async () => {
    const h = setup();
    const task = await h.plain();
    const calls = countCalls(h.store);

    await deliverBatch(
      h.deps,
      eventOf(fifoRecord({ ...task, scheduleId: "demo.sch-not-its-own" })),
      h.context,
    );

    expect(h.callbacks.calledFor()).toEqual([task.taskId]);
    expect(h.stored(task).status).toBe("delivered");
    expect(calls).toEqual({ get: 1, getSchedule: 0, startAttempt: 1, cancel: 0 });
  });

  it("a message naming another schedule than its occurrence's: the task's own schedule is checked", async () => {
    const h = setup();
    const task = await h.occurrence(await h.schedule("deleted", 0), 0);
    const other = await h.schedule("active", 0);

    await deliverBatch(h.deps, eventOf(fifoRecord({ ...task, scheduleId: other.scheduleId })), h.context);

    expect(h.callbacks.requests).toHaveLength(0);
    expect(h.stored(task).status).toBe("cancelled");
  });

  it("a plain task costs no read: one conditional start, no schedule read", async () => {
    const h = setup();
    const task = await h.plain();
    const calls = countCalls(h.store);

    await deliverBatch(h.deps, eventOf(fifoRecord(task)), h.context);

    expect(h.stored(task).status).toBe("delivered");
    expect(calls).toEqual({ get: 0, getSchedule: 0, startAttempt: 1, cancel: 0 });
  });

  it("in a batch: the schedule is read once, its occurrences cancelled, the group moves on to a plain task", async () => {
    // Prepare: two occurrences of a deleted schedule, a plain task behind them in their group, and a plain task
    const h = setup();
    const s = await h.schedule("deleted");
    const first = await h.occurrence(s, 0);
    const second = await h.occurrence(s, 0);
    const behind = await h.plain();
    const other = await h.plain("other");
    const calls = countCalls(h.store);

    // Act
    const response = await deliverBatch(
      h.deps,
      eventOf(...[first, second, behind, other].map((t) => fifoRecord(t))),
      h.context,
    );

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(h.callbacks.calledFor().sort()).toEqual([behind.taskId, other.taskId].sort());
    expect(h.stored(first).status).toBe("cancelled");
    expect(h.stored(second).status).toBe("cancelled");
    expect(calls.getSchedule).toBe(1);
    expect(h.store.batchCalls.readMany).toBe(1);
  });

  it("in a batch whose schedule read fails, its occurrences take the per-record path, which reads it again", async () => {
    const h = setup();
    const s = await h.schedule("paused");
    const first = await h.occurrence(s, 0);
    const other = await h.plain("other");
    const original = h.store.getSchedule.bind(h.store);
    let reads = 0;
    h.store.getSchedule = async (id: string) => {
      if (++reads === 1) throw new Error("throttled");
      return original(id);
    };

    const response = await deliverBatch(h.deps, eventOf(fifoRecord(first), fifoRecord(other)), h.context);

    expect(response.batchItemFailures).toEqual([]);
    expect(reads).toBe(2);
    expect(h.callbacks.calledFor()).toEqual([other.taskId]);
    expect(h.stored(first).status).toBe("cancelled");
  });

  it("in a batch whose schedule read fails, its occurrences' messages spare the per-record path its refused starts", async () => {
    // Prepare: two occurrences of an active schedule in two groups; the batch's schedule read fails
    const h = setup();
    const s = await h.schedule("active", 0);
    const tasks = [await h.occurrence(s, 0, {}), await h.occurrence(s, 0, {})];
    const calls = countCalls(h.store);
    const original = h.store.getSchedule.bind(h.store);
    let reads = 0;
    h.store.getSchedule = async (id: string) => {
      if (++reads === 1) throw new Error("throttled");
      return original(id);
    };

    // Act
    await deliverBatch(h.deps, eventOf(...tasks.map((t) => fifoRecord(t))), h.context);

    // Assess: each read and started once on the per-record path (before: a refused start each first)
    expect(h.callbacks.calledFor().sort()).toEqual(tasks.map((t) => t.taskId).sort());
    expect(reads).toBe(3);
    expect({ get: calls.get, startAttempt: calls.startAttempt }).toEqual({ get: 2, startAttempt: 2 });
  });

  it("a batch of plain tasks reads no schedule", async () => {
    const h = setup();
    const tasks = [await h.plain("a"), await h.plain("b")];
    const calls = countCalls(h.store);

    await deliverBatch(h.deps, eventOf(...tasks.map((t) => fifoRecord(t))), h.context);

    expect(h.callbacks.calledFor().sort()).toEqual(tasks.map((t) => t.taskId).sort());
    expect(calls.getSchedule).toBe(0);
  });

  it("waiting for its retry (its group's head) is cancelled too: a stopped schedule calls nothing more", async () => {
    const h = setup();
    const s = await h.schedule("deleted");
    const task = await h.occurrence(s, 0, {
      status: "delivering",
      attempts: 1,
      attemptSeq: 1,
      lastAttemptAtMs: h.start - 20_000,
      attemptLog: { "0": { seq: 1, startedAtMs: h.start - 20_000, durationMs: 20, status: 500 } },
    });

    await deliverBatch(h.deps, eventOf(fifoRecord(task, { receiveCount: 2 })), h.context);

    expect(h.callbacks.requests).toHaveLength(0);
    expect(h.stored(task)).toMatchObject({ status: "cancelled", attempts: 1 });
  });

  it("replayed by an operator is delivered whatever became of its schedule", async () => {
    const h = setup();
    const s = await h.schedule("deleted");
    const task = await h.occurrence(s, 0, { replays: 1, replayedAtMs: h.start - 1_000 });

    await deliverBatch(h.deps, eventOf(fifoRecord(task)), h.context);

    expect(h.callbacks.calledFor()).toEqual([task.taskId]);
    expect(h.stored(task).status).toBe("delivered");
  });

  it("moved by an operator past its occurrence time is no longer the schedule's: delivered", async () => {
    // Prepare: its occurrence was a minute ago; postponed to 30 s ago (the successor of a PATCH)
    const h = setup();
    const s = await h.schedule("deleted");
    const task = await h.occurrence(s, 0, {
      idempotencyKey: occurrenceIdempotencyKey(s.scheduleId, 0, h.start - 60_000),
      rescheduledFrom: "demo#x",
    });

    await deliverBatch(h.deps, eventOf(fifoRecord(task)), h.context);

    expect(h.callbacks.calledFor()).toEqual([task.taskId]);
  });

  it("moved ahead of its occurrence time (run now) is still the schedule's: cancelled", async () => {
    const h = setup();
    const s = await h.schedule("paused");
    const task = await h.occurrence(s, 0, {
      idempotencyKey: occurrenceIdempotencyKey(s.scheduleId, 0, h.start + 60_000),
      rescheduledFrom: "demo#x",
    });

    await deliverBatch(h.deps, eventOf(fifoRecord(task)), h.context);

    expect(h.callbacks.requests).toHaveLength(0);
    expect(h.stored(task).status).toBe("cancelled");
  });
});
