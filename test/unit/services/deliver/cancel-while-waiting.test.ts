/**
 * A follower started up front with its batch (up-front.ts) is `delivering` from the batch's start, so an operator's
 * cancel meeting it while it waits for its group's earlier callbacks is a 202 (its cancel requested). Its callback
 * must not be made then: it was not under way. Before its callback, a follower that waited at least
 * `cancelCheckAfterMs` reads its task once (strongly consistent) and, finding a request, ends it `cancelled` without
 * a call (cancel-while-waiting.ts). Fakes at the store seam; the callbacks take their time on the test's clock.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { CallbackRequest, CallbackResult } from "#shared/adapters/callback-client.js";
import type { CancelOutcome } from "#shared/adapters/task-store.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { occurrenceIdempotencyKey, type ScheduleRecord } from "#shared/domain/schedule.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { cancelGroup } from "#shared/services/cancel-group.js";
import { type DeliverDeps, deliverBatch } from "#shared/services/deliver/index.js";
import { rescheduleTask, runTask } from "#shared/services/reschedule-task.js";
import { deliverDeps, testTopic } from "../../../support/deliver-binding.js";
import { eventOf, fifoRecord, makeSchedule, makeTask } from "../../../support/factories.js";
import { FakeCallbacks, HTTP } from "../../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../../support/fakes/metrics.js";
import { FakeScheduler } from "../../../support/fakes/scheduler.js";
import { FakeTimerQueue } from "../../../support/fakes/timer-queue.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";
import { MemoryTaskStore } from "../../../support/memory-task-store.js";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

/**
 * Callbacks that take their answer's duration on the test's clock (a group's later records start later), and that
 * run `during` while a request is with the receiver (an operator's cancel landing then).
 */
class ClockedCallbacks extends FakeCallbacks {
  during: (request: CallbackRequest) => Promise<void> = async () => undefined;

  constructor(private readonly advance: (ms: number) => void) {
    super();
  }

  override async post(request: CallbackRequest): Promise<CallbackResult> {
    await this.during(request);
    const result = await super.post(request);
    this.advance(result.durationMs);
    return result;
  }
}

function setup(extra: Partial<DeliverDeps> = {}) {
  const start = Date.now();
  let now = start;
  const store = new MemoryTaskStore();
  const callbacks = new ClockedCallbacks((ms) => {
    now += ms;
  });
  const metrics = new MemoryMetrics();
  const logger = memoryLogger();
  const deps = deliverDeps(
    {
      store,
      topicQueue: new FakeTopicQueue(),
      metrics,
      logger,
      clock: () => now,
      topic: testTopic(),
      callbacks,
      signer: new CallbackSigner([SECRET]),
    },
    { groupConcurrency: 10, ...extra },
  );
  const context = { getRemainingTimeInMillis: () => 60_000 };
  const task = async (group: string) => {
    const t = makeTask({ group, dueAtMs: start - 250, acceptedAtMs: start - 10_000, status: "scheduled" });
    await store.putNew(t, { sweepIndex: false });
    return t;
  };
  const stored = (t: TaskRecord) => store.tasks.get(t.taskId) as TaskRecord;
  /** The task reads (`get`) deliver makes, counted. */
  const reads: string[] = [];
  const get = store.get.bind(store);
  store.get = (taskId, options) => {
    reads.push(taskId);
    return get(taskId, options);
  };
  /** An operator's cancel (DELETE) of `target`, landing while `whileCalling`'s callback is with the receiver. */
  const cancelDuring = (whileCalling: TaskRecord, target: TaskRecord): CancelOutcome[] => {
    const outcomes: CancelOutcome[] = [];
    callbacks.during = async (request) => {
      if (request.headers["webhook-id"] !== whileCalling.taskId) return;
      outcomes.push(await store.cancel(target.taskId, now, 1, { awaitingRetry: true }));
    };
    return outcomes;
  };
  /** An active one-second schedule, and its occurrences due in one group (as the materializer stamps them). */
  const schedule = async (): Promise<ScheduleRecord> => {
    const s = makeSchedule(start - 60_000, { materializedUntilMs: start });
    await store.putSchedule(s);
    return s;
  };
  const occurrence = async (s: ScheduleRecord, group: string, dueAtMs: number) => {
    const t: TaskRecord = {
      ...makeTask({ group, dueAtMs, acceptedAtMs: start - 10_000, status: "queued" }),
      idempotencyKey: occurrenceIdempotencyKey(s.scheduleId, 0, dueAtMs),
      scheduleId: s.scheduleId,
      scheduleEpoch: 0,
    };
    await store.putNew(t, { sweepIndex: false });
    return t;
  };
  /** The schedule paused (its status write) while `whileCalling`'s callback is with the receiver. */
  const pauseDuring = (whileCalling: TaskRecord, s: ScheduleRecord) => {
    callbacks.during = async (request) => {
      if (request.headers["webhook-id"] !== whileCalling.taskId) return;
      store.schedules.set(s.scheduleId, { ...s, status: "paused", updatedAtMs: now });
    };
  };
  return {
    store,
    callbacks,
    metrics,
    logger,
    deps,
    context,
    task,
    stored,
    reads,
    cancelDuring,
    schedule,
    occurrence,
    pauseDuring,
    start,
  };
}

describe("deliver: a follower started up front whose cancel was requested while it waited", () => {
  it("is not called: its task ends cancelled (its unused attempt given back), its record consumed, its group going on in order", async () => {
    // Prepare: one group of three, all started up front; the head's callback takes 1.5 s, and the follower's
    // cancel lands meanwhile (a 202: `delivering`, its attempt started)
    const f = setup();
    const head = await f.task("g");
    const follower = await f.task("g");
    const last = await f.task("g");
    f.callbacks.answer(head.taskId, HTTP(200, 1_500));
    const cancels = f.cancelDuring(head, follower);

    // Act
    const response = await deliverBatch(
      f.deps,
      eventOf(fifoRecord(head), fifoRecord(follower), fifoRecord(last)),
      f.context,
    );

    // Assess
    expect(cancels).toMatchObject([{ outcome: "cancel-requested", task: { status: "delivering" } }]);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(f.callbacks.calledFor()).toEqual([head.taskId, last.taskId]);
    expect(f.stored(follower)).toMatchObject({ status: "cancelled", attempts: 0, attemptSeq: 1 });
    expect(f.stored(follower).sweepShard).toBeUndefined();
    // Its log says the attempt ended with no call (no status)
    expect(Object.values(f.stored(follower).attemptLog ?? {})).toEqual([
      {
        seq: 1,
        startedAtMs: expect.any(Number),
        durationMs: expect.any(Number),
        error: expect.stringContaining("cancel"),
      },
    ]);
    expect(f.stored(head).status).toBe("delivered");
    expect(f.stored(last).status).toBe("delivered");
    // Nothing was sent for it: no failed attempt counted
    expect(f.metrics.count("attemptFailed")).toBe(0);
    expect(f.metrics.count("delivered")).toBe(2);
  });

  it("is called as before when no cancel landed: one consistent read of its task, nothing more", async () => {
    // Prepare
    const f = setup();
    const head = await f.task("g");
    const follower = await f.task("g");
    f.callbacks.answer(head.taskId, HTTP(200, 1_500));

    // Act
    const response = await deliverBatch(f.deps, eventOf(fifoRecord(head), fifoRecord(follower)), f.context);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(f.callbacks.calledFor()).toEqual([head.taskId, follower.taskId]);
    expect(f.reads).toEqual([follower.taskId]);
    expect(f.stored(follower)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("a group's first record, and a follower that waited less than the threshold, read nothing more", async () => {
    // Prepare: two groups; the head of `g` answers in 300 ms (under the default second)
    const f = setup();
    const head = await f.task("g");
    const follower = await f.task("g");
    const other = await f.task("o");
    f.callbacks.answer(head.taskId, HTTP(200, 300));

    // Act
    const response = await deliverBatch(
      f.deps,
      eventOf(fifoRecord(head), fifoRecord(follower), fifoRecord(other)),
      f.context,
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(f.reads).toEqual([]);
    expect(f.store.batchCalls).toEqual({ readMany: 1, startAttempts: 1, finishAttempts: 1 });
    for (const t of [head, follower, other]) expect(f.stored(t).status).toBe("delivered");
  });

  it("with the threshold at 0, a follower that waited at all is read before its callback", async () => {
    // Prepare: the head answers in 20 ms; the follower's cancel lands meanwhile
    const f = setup({ cancelCheckAfterMs: 0 });
    const head = await f.task("g");
    const follower = await f.task("g");
    f.callbacks.answer(head.taskId, HTTP(200, 20));
    f.cancelDuring(head, follower);

    // Act
    const response = await deliverBatch(f.deps, eventOf(fifoRecord(head), fifoRecord(follower)), f.context);

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(f.callbacks.calledFor()).toEqual([head.taskId]);
    expect(f.stored(follower).status).toBe("cancelled");
  });

  it("a follower whose batch start's answer was lost (the read path at its turn) is not called either: the read it makes anyway finds the request", async () => {
    // Prepare
    const f = setup();
    const head = await f.task("g");
    const follower = await f.task("g");
    f.store.loseNextBatchAnswer = "startAttempts";
    f.callbacks.answer(head.taskId, HTTP(200, 20));
    f.cancelDuring(head, follower);

    // Act
    const response = await deliverBatch(f.deps, eventOf(fifoRecord(head), fifoRecord(follower)), f.context);

    // Assess: its own start recognised (one attempt, given back), its request honoured; no second read
    expect(response).toEqual({ batchItemFailures: [] });
    expect(f.callbacks.calledFor()).toEqual([head.taskId]);
    expect(f.stored(follower)).toMatchObject({ status: "cancelled", attempts: 0, attemptSeq: 1 });
    expect(f.reads).toEqual([head.taskId, follower.taskId]);
  });

  it("a read that fails calls nothing: its start is given back and its record comes back with its group", async () => {
    // Prepare
    const f = setup();
    const head = await f.task("g");
    const follower = await f.task("g");
    f.callbacks.answer(head.taskId, HTTP(200, 1_500));
    f.store.get = async () => {
      throw new Error("DynamoDB unavailable");
    };
    const records = [fifoRecord(head), fifoRecord(follower)];

    // Act
    const response = await deliverBatch(f.deps, eventOf(...records), f.context);

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: records[1]?.messageId }] });
    expect(f.callbacks.calledFor()).toEqual([head.taskId]);
    expect(f.stored(follower)).toMatchObject({ status: "scheduled", attempts: 0 });
    expect(f.stored(head).status).toBe("delivered");
  });

  it("a read that fails holds the rest of its group too (order): the records behind it come back uncalled, their starts given back", async () => {
    // Prepare
    const f = setup();
    const head = await f.task("g");
    const follower = await f.task("g");
    const last = await f.task("g");
    f.callbacks.answer(head.taskId, HTTP(200, 1_500));
    f.store.get = async () => {
      throw new Error("DynamoDB unavailable");
    };
    const records = [fifoRecord(head), fifoRecord(follower), fifoRecord(last)];

    // Act
    const response = await deliverBatch(f.deps, eventOf(...records), f.context);

    // Assess
    expect(response).toEqual({
      batchItemFailures: [
        { itemIdentifier: records[1]?.messageId },
        { itemIdentifier: records[2]?.messageId },
      ],
    });
    expect(f.callbacks.calledFor()).toEqual([head.taskId]);
    for (const t of [follower, last]) expect(f.stored(t)).toMatchObject({ status: "scheduled", attempts: 0 });
  });
});

describe("deliver: a follower whose cancel was found but whose ending write failed", () => {
  it("calls nothing and gives back its start, which its request ends cancelled: attempts as before, its record back with its group", async () => {
    // Prepare
    const f = setup();
    const head = await f.task("g");
    const follower = await f.task("g");
    f.callbacks.answer(head.taskId, HTTP(200, 1_500));
    const outcomes = f.cancelDuring(head, follower);
    const recordAttemptFailure = f.store.recordAttemptFailure.bind(f.store);
    f.store.recordAttemptFailure = async (taskId, ...rest) => {
      if (taskId === follower.taskId) throw new Error("DynamoDB unavailable");
      return recordAttemptFailure(taskId, ...rest);
    };
    const records = [fifoRecord(head), fifoRecord(follower)];

    // Act
    const response = await deliverBatch(f.deps, eventOf(...records), f.context);

    // Assess
    expect(outcomes.map((o) => o.outcome)).toEqual(["cancel-requested"]);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: records[1]?.messageId }] });
    expect(f.callbacks.calledFor()).toEqual([head.taskId]);
    expect(f.stored(follower)).toMatchObject({ status: "cancelled", attempts: 0 });
    expect(f.stored(follower).cancelRequestedAtMs).toBeDefined();
    expect(f.stored(follower).attemptSeq).toBeUndefined();
  });
});

describe("deliver: a follower occurrence started up front whose schedule was stopped while it waited", () => {
  it("is not called once the pause has answered: cancelled (its unused attempt given back), its record consumed, its group going on", async () => {
    // Prepare: three occurrences of one schedule in one group, started up front with the schedule read active;
    // the head's callback takes 1.5 s and the schedule is paused meanwhile (the pause answers: a due occurrence is
    // not "made ahead", so deliver's check is the only one that stops it)
    const f = setup();
    const s = await f.schedule();
    const head = await f.occurrence(s, "g", f.start - 3_000);
    const follower = await f.occurrence(s, "g", f.start - 2_000);
    const last = await f.occurrence(s, "g", f.start - 1_000);
    f.callbacks.answer(head.taskId, HTTP(200, 1_500));
    f.pauseDuring(head, s);

    // Act
    const response = await deliverBatch(
      f.deps,
      eventOf(fifoRecord(head), fifoRecord(follower), fifoRecord(last)),
      f.context,
    );

    // Assess: the head was in flight when the pause answered; nothing after it is called
    expect(response).toEqual({ batchItemFailures: [] });
    expect(f.callbacks.calledFor()).toEqual([head.taskId]);
    expect(f.stored(head).status).toBe("delivered");
    for (const t of [follower, last]) {
      expect(f.stored(t)).toMatchObject({ status: "cancelled", attempts: 0, attemptSeq: 1 });
      expect(f.stored(t).sweepShard).toBeUndefined();
    }
    expect(f.metrics.count("attemptFailed")).toBe(0);
  });

  it("whose batch start's answer was lost (the read path at its turn) is not called either", async () => {
    // Prepare
    const f = setup();
    const s = await f.schedule();
    const head = await f.occurrence(s, "g", f.start - 2_000);
    const follower = await f.occurrence(s, "g", f.start - 1_000);
    f.store.loseNextBatchAnswer = "startAttempts";
    f.callbacks.answer(head.taskId, HTTP(200, 1_500));
    f.pauseDuring(head, s);

    // Act
    const response = await deliverBatch(f.deps, eventOf(fifoRecord(head), fifoRecord(follower)), f.context);

    // Assess: its own start recognised and given back, the task cancelled
    expect(response).toEqual({ batchItemFailures: [] });
    expect(f.callbacks.calledFor()).toEqual([head.taskId]);
    expect(f.stored(follower)).toMatchObject({ status: "cancelled", attempts: 0, attemptSeq: 1 });
  });

  it("is called as before while its schedule stays active (its task and its schedule read once each)", async () => {
    // Prepare
    const f = setup();
    const s = await f.schedule();
    const head = await f.occurrence(s, "g", f.start - 2_000);
    const follower = await f.occurrence(s, "g", f.start - 1_000);
    f.callbacks.answer(head.taskId, HTTP(200, 1_500));
    const scheduleReads: string[] = [];
    const getSchedule = f.store.getSchedule.bind(f.store);
    f.store.getSchedule = (scheduleId) => {
      scheduleReads.push(scheduleId);
      return getSchedule(scheduleId);
    };

    // Act
    const response = await deliverBatch(f.deps, eventOf(fifoRecord(head), fifoRecord(follower)), f.context);

    // Assess: the batch's start read the schedule once, the follower once more after its wait
    expect(response).toEqual({ batchItemFailures: [] });
    expect(f.callbacks.calledFor()).toEqual([head.taskId, follower.taskId]);
    expect(f.reads).toEqual([follower.taskId]);
    expect(scheduleReads).toEqual([s.scheduleId, s.scheduleId]);
    expect(f.stored(follower)).toMatchObject({ status: "delivered", attempts: 1 });
  });
});

describe("deliver: an operator's group cancel while the group's head is held", () => {
  it("lists the waiting followers in cancel_requested, and none of them is called: each ends cancelled, the head's outcome stands", async () => {
    // Prepare: one group of three, all started up front; the head's callback takes 1.5 s, and the group cancel
    // (POST /v1/topics/demo/groups/g/cancel) lands meanwhile
    const f = setup();
    const head = await f.task("g");
    const follower = await f.task("g");
    const last = await f.task("g");
    f.callbacks.answer(head.taskId, HTTP(200, 1_500));
    const answers: Awaited<ReturnType<typeof cancelGroup>>[] = [];
    f.callbacks.during = async (request) => {
      if (request.headers["webhook-id"] !== head.taskId) return;
      const deps = {
        store: f.store,
        scheduler: { deleteTaskSchedule: async () => undefined },
        config: loadEnvironmentConfig("local"),
        now: () => Date.now(),
      };
      answers.push(await cancelGroup(deps, { topic: "demo", value: "g" }, {}));
    };

    // Act
    const response = await deliverBatch(
      f.deps,
      eventOf(fifoRecord(head), fifoRecord(follower), fifoRecord(last)),
      f.context,
    );

    // Assess: the 200 names all three (the head's callback is in flight), in group order; only the head is called
    expect(answers).toMatchObject([
      {
        cancelled: 0,
        not_cancelled: [],
        cancel_requested: [{ task_id: head.taskId }, { task_id: follower.taskId }, { task_id: last.taskId }],
      },
    ]);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(f.callbacks.calledFor()).toEqual([head.taskId]);
    expect(f.stored(head).status).toBe("delivered");
    for (const t of [follower, last]) expect(f.stored(t)).toMatchObject({ status: "cancelled", attempts: 0 });
  });
});

describe("deliver: an operator's move of a follower whose cancel was requested while its head was held", () => {
  it("a PATCH after its group failed (its start given back: ended cancelled by its request) is a 409: nothing moved, nothing called", async () => {
    // Prepare: the follower's cancel lands while the head's callback is held (202); the head then fails, so the
    // follower's start is given back before its turn, which ends it `cancelled` (the request on it)
    const f = setup();
    const head = await f.task("g");
    const follower = await f.task("g");
    f.callbacks.answer(head.taskId, HTTP(500, 1_500));
    const cancels = f.cancelDuring(head, follower);
    await deliverBatch(f.deps, eventOf(fifoRecord(head), fifoRecord(follower)), f.context);
    const deps = {
      store: f.store,
      timerQueue: new FakeTimerQueue(),
      scheduler: new FakeScheduler(),
      config: loadEnvironmentConfig("local"),
      now: () => Date.now(),
    };

    // Act: the operator moves it a minute on (PATCH /v1/tasks/{id})
    const moved = await rescheduleTask(deps, follower.taskId, { delay_seconds: 60 }).catch((e: unknown) => e);

    // Assess: refused, nothing changed; the task reads cancelled already (never `scheduled` with its request)
    expect(cancels).toMatchObject([{ outcome: "cancel-requested" }]);
    expect(f.stored(follower)).toMatchObject({
      status: "cancelled",
      cancelRequestedAtMs: expect.any(Number),
    });
    expect(moved).toMatchObject({ status: 409 });
    expect([...f.store.tasks.values()].filter((t) => t.rescheduledFrom === follower.taskId)).toEqual([]);
    // A run (POST …/run) is refused as for any cancelled task, and a DELETE finds it cancelled
    const ran = await runTask(deps, follower.taskId).catch((e: unknown) => e);
    expect(ran).toMatchObject({ status: 409 });
    const cancelled = await f.store.cancel(follower.taskId, Date.now(), 1, { awaitingRetry: true });
    expect(cancelled).toMatchObject({ task: { status: "cancelled" } });
    expect(f.callbacks.calledFor()).toEqual([head.taskId]);
  });
});
