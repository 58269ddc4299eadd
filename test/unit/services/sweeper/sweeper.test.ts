import { describe, expect, it } from "vitest";
import { TIMER_QUEUE_MAX_RECEIVE_COUNT } from "#cdk/lib/sizing.js";
import type { TaskStore } from "#shared/adapters/task-store.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import { relayRetrySeconds } from "#shared/domain/relay-plan.js";
import { SWEEP_SHARDS, sweepShardOf } from "#shared/domain/sweep.js";
import { sweep } from "#shared/services/sweeper/index.js";
import { DLQ_URL, QUEUE_URL } from "../../../support/deliver-binding.js";
import { makeTask, T0 } from "../../../support/factories.js";
import { HTTP } from "../../../support/fakes/callbacks.js";
import type { FakeDeadLetterSource } from "../../../support/fakes/dead-letter-source.js";
import {
  SCHEDULE_DLQ_URL,
  SIM_RELAY_RANDOM,
  type Sim,
  simulate,
  TIMER_DLQ_URL,
} from "../../../support/pipeline-sim.js";

/**
 * "Kill each step between its writes": every point where a 2xx was returned (or a message consumed) and a later
 * step can fail without SQS retrying it, reproduced with the real services on a simulated clock, then repaired
 * by the sweeper — exactly once, idempotently, in group order, never early, never for a finished task.
 */

const MINUTE = 60_000;

/**
 * Most crash points below lose a message SQS had accepted (`dropNext`, `lose`): a purge by hand, or a message that
 * outlived its retention. By default a near-term task is not in the sweep index while it is on its happy path
 * (its messages are durable; shared/domain/sweep.ts, `indexedOnAdd`), so those losses are covered by
 * `sweeper.indexNearTermTasks`, which these simulations turn on. The default's own coverage — every way off the
 * happy path indexes the task — is specified in "near-term tasks off the happy path (the default index)".
 */
const FULL_INDEX = { indexNearTermTasks: true } as const;

/** Runs the sweeper `times` times a minute apart, as the EventBridge rule would. */
async function sweepEveryMinute(sim: Sim, times: number) {
  const reports = [];
  for (let i = 0; i < times; i++) {
    reports.push(await sim.sweep());
    sim.advance(MINUTE);
  }
  return reports;
}

describe("crash point 1: add-task answered 201, but the timer message was lost", () => {
  it("forwards the task once it is more than the grace past due, once, and it is delivered once", async () => {
    // Prepare
    const sim = simulate({ sweeper: FULL_INDEX });
    sim.timer.dropNext = 1;
    const id = await sim.add({ order_id: "o-1" }, { delay_seconds: 10 });
    expect(sim.timer.messages).toEqual([]);

    // Act: within the grace nothing happens (the timer may just be late); past it, the sweeper forwards.
    sim.advance(10_000 + sim.graceMs - 1_000);
    const early = await sim.sweep();
    sim.advance(2_000);
    const due = await sim.sweep();
    const again = await sim.sweep();
    await sim.runDeliver();
    const after = await sim.sweep();

    // Assess
    expect(early).toMatchObject({ forwarded: 0, groupsRepaired: 0 });
    expect(due).toMatchObject({ candidates: 1, forwarded: 1, groupsRepaired: 1, failures: 0 });
    expect(again).toMatchObject({ forwarded: 0, requeued: 0 });
    expect(after).toMatchObject({ candidates: 0 });
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([id]);
    expect(sim.delivered()).toEqual([id]);
    expect(sim.store.tasks.get(id)).toMatchObject({ status: "delivered", attempts: 1 });
    expect(sim.store.tasks.get(id)?.sweepShard).toBeUndefined();
  });
});

describe("a topic removed from the configuration (by a deploy) with unfinished tasks left", () => {
  it("is skipped and named in one warning per run, not counted as a failure every run, and repaired once it is back", async () => {
    // Prepare: a task whose timer message was lost, then its topic removed from the sweeper's topology.
    const sim = simulate({ sweeper: FULL_INDEX });
    sim.timer.dropNext = 1;
    const id = await sim.add({ order_id: "o-removed" }, { delay_seconds: 10 });
    const { demo } = sim.sweeperDeps.topics;
    (sim.sweeperDeps as { topics: object }).topics = {};
    sim.advance(10_000 + sim.graceMs + 1_000);

    // Act: two runs without the topic, one after it is deployed again.
    const first = await sim.sweep();
    const second = await sim.sweep();
    (sim.sweeperDeps as { topics: object }).topics = { demo };
    const back = await sim.sweep();
    await sim.runDeliver();

    // Assess: not a failure (SweepFailures would alarm for as long as the tasks exist), but said in a warning.
    expect(first).toMatchObject({ failures: 0, forwarded: 0, unconfiguredGroups: 1 });
    expect(second).toMatchObject({ failures: 0, forwarded: 0, unconfiguredGroups: 1 });
    const warnings = sim.logger.entries.filter((e) => e.level === "warn" && /not configured/.test(e.message));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]?.extra).toMatchObject({ topics: ["demo"], groups: 1 });
    expect(back).toMatchObject({ failures: 0, forwarded: 1, unconfiguredGroups: 0 });
    expect(sim.delivered()).toEqual([id]);
  });
});

describe("crash point 2: the outcome was unknown to the client (503 after a failed clean-up, or a crash)", () => {
  it("a task left `scheduled` without a timer is delivered, and a retry with the idempotency key is the same task", async () => {
    // Prepare: arming fails, and so does removing the unarmed task.
    const sim = simulate();
    sim.timer.failNext = 1;
    sim.store.removeScheduled = async () => {
      throw new Error("DynamoDB unavailable");
    };
    const body = { order_id: "o-2" };
    await expect(sim.add(body, { delay_seconds: 5, idempotency_key: "k-2" } as never)).rejects.toMatchObject({
      status: 503,
    });
    const [orphan] = [...sim.store.tasks.values()];

    // Act
    const retried = await sim.add(body, { delay_seconds: 5, idempotency_key: "k-2" } as never);
    sim.timer.lose(); // even if the retry's timer is lost as well
    sim.advance(5_000 + sim.graceMs);
    await sim.sweep();
    await sim.runDeliver();

    // Assess
    expect(retried).toBe(orphan?.taskId);
    expect(sim.delivered()).toEqual([orphan?.taskId]);
  });
});

describe("near-term tasks off the happy path (the default index)", () => {
  it("a near-term task delivered at its first attempt never enters the sweep index; a Scheduler-path task does", async () => {
    // Prepare
    const sim = simulate();
    const id = await sim.add({ order_id: "o-d1" }, { delay_seconds: 1 });
    const far = await sim.add({ order_id: "o-d1b" }, { delay_seconds: 600 });
    const shards: unknown[] = [sim.store.tasks.get(id)?.sweepShard];

    // Act
    sim.advance(1_000);
    await sim.runRelay();
    shards.push(sim.store.tasks.get(id)?.sweepShard);
    await sim.runDeliver();

    // Assess
    expect(sim.status(id)).toBe("delivered");
    expect([...shards, sim.store.tasks.get(id)?.sweepShard]).toEqual([undefined, undefined, undefined]);
    expect(sim.store.tasks.get(far)?.sweepShard).toBe(sweepShardOf(far));
  });

  it("an add whose arming failed leaves its task in the index: the sweeper delivers it if nobody retries", async () => {
    // Prepare: arming fails and so does removing the task (no idempotency key)
    const sim = simulate();
    sim.timer.failNext = 1;
    sim.store.removeScheduled = async () => {
      throw new Error("DynamoDB unavailable");
    };
    await expect(sim.add({ order_id: "o-d2" }, { delay_seconds: 5 })).rejects.toMatchObject({ status: 503 });
    const [orphan] = [...sim.store.tasks.values()];

    // Act
    sim.advance(5_000 + sim.graceMs);
    const report = await sim.sweep();
    await sim.runDeliver();

    // Assess
    expect(orphan?.sweepShard).toBe(sweepShardOf(orphan?.taskId as string));
    expect(report.forwarded).toBe(1);
    expect(sim.delivered()).toEqual([orphan?.taskId]);
  });

  it("a failed attempt puts the task in the index: when its message is then lost, the stall repair re-sends it", async () => {
    // Prepare: attempt 1 answers 500, then the FIFO message is gone (say, the maxReceiveCount backstop took it)
    const sim = simulate();
    const id = await sim.add({ order_id: "o-d3" }, { delay_seconds: 0 });
    await sim.runRelay();
    sim.callbacks.answer(id, HTTP(500), HTTP(200));
    await sim.runDeliver();
    const afterFailure = sim.store.tasks.get(id);
    sim.fifo.lose();

    // Act
    sim.advance(sim.stalledAfterMs);
    const report = await sim.sweep();
    await sim.runDeliver();

    // Assess
    expect(afterFailure).toMatchObject({ status: "delivering", attempts: 1, sweepShard: sweepShardOf(id) });
    expect(report.requeued).toBe(1);
    expect(sim.delivered()).toEqual([id, id]);
    expect(sim.store.tasks.get(id)).toMatchObject({ status: "delivered", attempts: 2 });
    expect(sim.store.tasks.get(id)?.sweepShard).toBeUndefined();
  });
});

/**
 * A read-free start deliver refunded unused (its step given up, its call failed before sending: refundUnreadStart)
 * gives its task back the status it found: `scheduled` for a task the relay handed over (the relay records nothing).
 * Its record is still on the FIFO queue and starts it again when it comes back.
 */
describe("a handed-over task whose read-free start was refunded unused (`scheduled` again)", () => {
  const UNUSED = "attempt given back: its start went unused";
  async function startAndRefund(sim: Sim, id: string): Promise<void> {
    const started = await sim.store.startAttempt(id, sim.clock.now, 5);
    if (!started) throw new Error("not started");
    const entry = { seq: 1, startedAtMs: sim.clock.now, durationMs: 0, error: UNUSED };
    const refund = {
      attemptSeq: started.attemptSeq,
      attempts: started.attempts,
      refund: true,
      restore: true,
    };
    await sim.store.recordAttemptFailure(id, {
      error: UNUSED,
      atMs: sim.clock.now,
      attempt: entry,
      ...refund,
    });
  }

  it("is not sent again past the grace while its record can still come back; its record delivers it once", async () => {
    // Prepare: relayed (its record on the FIFO queue), started without a read and refunded
    const sim = simulate();
    const id = await sim.add({ order_id: "o-refund-1" }, { delay_seconds: 0 });
    await sim.runRelay();
    await startAndRefund(sim, id);
    expect(sim.status(id)).toBe("scheduled");
    expect(sim.graceMs + 2 * MINUTE).toBeLessThan(sim.stalledAfterMs);

    // Act: sweeps past the grace, within the stall window; then its record comes back
    sim.advance(sim.graceMs + MINUTE);
    const reports = await sweepEveryMinute(sim, 2);
    await sim.runDeliver();

    // Assess: no copy was sent; the record delivered it
    expect(reports.map((r) => r.forwarded + r.requeued)).toEqual([0, 0]);
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([id]);
    expect(sim.delivered()).toEqual([id]);
    expect(sim.store.tasks.get(id)).toMatchObject({ status: "delivered", attempts: 1, attemptSeq: 2 });
  });

  it("can be moved (PATCH): its record then finds it moved, and its successor alone is delivered, at its new time", async () => {
    // Prepare
    const sim = simulate();
    const id = await sim.add({ order_id: "o-refund-3" }, { delay_seconds: 0 });
    await sim.runRelay();
    await startAndRefund(sim, id);

    // Act: moved a minute on (refused as `delivering` before); its record comes back; then the new time comes
    const successor = (await sim.reschedule(id, { delay_seconds: 60 })).task_id;
    await sim.runDeliver();
    const beforeDue = sim.delivered();
    sim.advance(60_000);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess
    expect(sim.status(id)).toBe("rescheduled");
    expect(beforeDue).toEqual([]);
    expect(sim.delivered()).toEqual([successor]);
  });

  it("a dead-lettered firing naming it (a duplicate timer's) sends one copy behind its record: never a second call", async () => {
    // Prepare: relayed, started without a read and refunded; a second firing of its timer dead-lettered after due
    const sim = simulate();
    const id = await sim.add({ order_id: "o-refund-4" }, { delay_seconds: 0 });
    await sim.runRelay();
    await startAndRefund(sim, id);
    // Past FIFO deduplication (5 minutes since the relay's send), within the stall window: a copy does land
    sim.advance(5 * MINUTE + 1_000);
    expect(5 * MINUTE + 1_000).toBeLessThan(sim.stalledAfterMs);
    sim.scheduleDlq.put(taskMessageBody(id));

    // Act: the sweeper repairs the group the pointer names; then both messages come to deliver
    const report = await sim.sweep();
    await sim.runDeliver();

    // Assess: the copy went behind the record (RELIABILITY.md, "What stays"); the task was called once
    expect(report).toMatchObject({ forwarded: 1, pointersResolved: 1 });
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([id, id]);
    expect(sim.delivered()).toEqual([id]);
    expect(sim.store.tasks.get(id)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("its record lost, it is forwarded once idle past the stall window, and delivered once", async () => {
    // Prepare
    const sim = simulate();
    const id = await sim.add({ order_id: "o-refund-2" }, { delay_seconds: 0 });
    await sim.runRelay();
    await startAndRefund(sim, id);
    sim.fifo.lose();

    // Act
    sim.advance(sim.stalledAfterMs);
    const report = await sim.sweep();
    await sim.runDeliver();

    // Assess
    expect(report).toMatchObject({ forwarded: 1, groupsRepaired: 1 });
    expect(sim.delivered()).toEqual([id]);
    expect(sim.store.tasks.get(id)).toMatchObject({ status: "delivered", attempts: 1 });
  });
});

describe("crash point 3: Scheduler fired into the schedule DLQ (or dropped the firing)", () => {
  it("a dead-lettered firing before due re-arms the timer with the remaining delay; the task is delivered on time", async () => {
    // Prepare: a Scheduler-path task (beyond the 300 s horizon); its firing at due − 120 s dead-letters.
    const sim = simulate();
    const id = await sim.add({ order_id: "o-3" }, { delay_seconds: 600 });
    expect(sim.scheduler.created).toHaveLength(1);
    const dueAtMs = sim.store.tasks.get(id)?.dueAtMs as number;
    sim.advance(600_000 - 90_000);
    sim.scheduleDlq.put(taskMessageBody(id));

    // Act
    const report = await sim.sweep();
    sim.advance(90_000);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess
    expect(report).toMatchObject({ rearmed: 1, pointersResolved: 1, forwarded: 0 });
    expect(sim.scheduleDlq.messages).toEqual([]);
    expect(sim.delivered()).toEqual([id]);
    expect(sim.clock.now).toBeGreaterThanOrEqual(dueAtMs);
  });

  it("a re-armed timer arrives the early wake ahead of due, as the add arms it: the relay's batching window does not make it late", async () => {
    // Prepare: an early wake of 3 s (the relay's batching window and poll are spent before due); the task's firing
    // at due − 120 s dead-letters
    const sim = simulate({ earlyWakeSeconds: 3 });
    const id = await sim.add({ order_id: "o-3e" }, { delay_seconds: 600 });
    const dueAtMs = sim.store.tasks.get(id)?.dueAtMs as number;
    sim.advance(600_000 - 90_000);
    sim.scheduleDlq.put(taskMessageBody(id));

    // Act
    const report = await sim.sweep();

    // Assess: visible the early wake ahead of due (the relay holds it until due), as planTimer arms a new task
    expect(report).toMatchObject({ rearmed: 1 });
    const [timer] = sim.timer.messages;
    expect(timer?.visibleAtMs).toBeLessThanOrEqual(dueAtMs - 3_000);
    expect(timer?.visibleAtMs).toBeGreaterThan(dueAtMs - 4_000);
  });

  it("a re-armed timer counts its delay from when it is sent, not from the run's start: a slow run does not make it late", async () => {
    // Prepare: as above, but the run spends 30 s on the index and the groups before it re-arms.
    const sim = simulate();
    const id = await sim.add({ order_id: "o-3s" }, { delay_seconds: 600 });
    const dueAtMs = sim.store.tasks.get(id)?.dueAtMs as number;
    sim.advance(600_000 - 90_000);
    sim.scheduleDlq.put(taskMessageBody(id));
    const read = sim.store.listUnfinishedDueBy.bind(sim.store);
    sim.store.listUnfinishedDueBy = async (shard, dueBy, limit) => {
      if (shard === 0) sim.advance(30_000);
      return read(shard, dueBy, limit);
    };

    // Act
    const report = await sim.sweep();

    // Assess: the timer message comes due with the task (never before it; the relay waits out the rest)
    expect(report).toMatchObject({ rearmed: 1 });
    const [timer] = sim.timer.messages;
    expect(timer?.visibleAtMs).toBeLessThanOrEqual(dueAtMs);
    expect(timer?.visibleAtMs).toBeGreaterThan(dueAtMs - 1_000);
  });

  it("a dead-lettered firing after due forwards the group at once, without waiting for the grace", async () => {
    const sim = simulate();
    const id = await sim.add({ order_id: "o-3b" }, { delay_seconds: 600 });
    sim.advance(600_000 + 5_000);
    sim.scheduleDlq.put(taskMessageBody(id));

    const report = await sim.sweep();
    await sim.runDeliver();

    expect(report).toMatchObject({ forwarded: 1, pointersResolved: 1 });
    expect(sim.delivered()).toEqual([id]);
  });

  it("a firing dropped without a DLQ message is found in the table once past due and the grace", async () => {
    const sim = simulate();
    const id = await sim.add({ order_id: "o-3c" }, { delay_seconds: 600 });

    sim.advance(600_000 + sim.graceMs - 1);
    const before = await sim.sweep();
    sim.advance(1);
    const after = await sim.sweep();
    await sim.runDeliver();

    expect(before.forwarded).toBe(0);
    expect(after.forwarded).toBe(1);
    expect(sim.delivered()).toEqual([id]);
  });
  it("a schedule that fires past due (taken as the task's timer by a keyed repeat: moved by hand) makes it late by the grace at most, and its firing then forwards nothing", async () => {
    // Prepare: a Scheduler-path task whose schedule, moved by hand, fires an hour after due (the adapter takes it
    // as this task's timer: shared/adapters/task-scheduler.ts, scheduleDifference). It is in the sweep index.
    const sim = simulate();
    const id = await sim.add({ order_id: "o-3d" }, { delay_seconds: 600 });
    const dueAtMs = sim.store.tasks.get(id)?.dueAtMs as number;
    expect(sim.store.tasks.get(id)?.sweepShard).toBeDefined();

    // Act: nothing fires by due; the sweeper forwards it once past due by the grace. An hour later the schedule
    // fires into the timer queue and the relay reads it.
    sim.advance(600_000 + sim.graceMs - 1);
    const within = await sim.sweep();
    sim.advance(1);
    const past = await sim.sweep();
    await sim.runDeliver();
    const deliveredAtMs = sim.clock.now;
    sim.advance(3_600_000);
    await sim.timer.arm(id, 0);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess: delivered once, not before due, within the grace after it; the late firing sent nothing.
    expect(within.forwarded).toBe(0);
    expect(past.forwarded).toBe(1);
    expect(sim.delivered()).toEqual([id]);
    expect(deliveredAtMs - dueAtMs).toBeLessThanOrEqual(sim.graceMs);
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([id]);
    expect(sim.timer.messages).toEqual([]);
  });
});

describe("crash point 4: the relay failed a timer message until it went to the timer DLQ", () => {
  it("counts failures while the FIFO queue is down, then forwards and drains the DLQ message", async () => {
    // Prepare: the FIFO queue refuses every send for hours; the relay retries the timer message each time it is
    // visible again (after its backoff) until SQS moves it at the receive past the deployed redrive.
    const sim = simulate();
    const id = await sim.add({ order_id: "o-4" }, { delay_seconds: 1 });
    sim.fifo.failSends = true;
    sim.advance(1_000);
    const firstReceiveAt = sim.clock.now;
    while (sim.timerDlq.messages.length === 0) {
      await sim.runRelay();
      sim.advance(1_000);
    }
    const retriedForMs = sim.clock.now - 1_000 - firstReceiveAt;
    expect(sim.timer.messages).toEqual([]);
    expect(sim.timerDlq.messages).toHaveLength(1);
    // Received exactly as often as the redrive allows, each time after the relay's backoff for that receive.
    const receives = Array.from({ length: TIMER_QUEUE_MAX_RECEIVE_COUNT }, (_, i) => i + 1);
    expect(retriedForMs).toBe(
      receives.reduce((ms, n) => ms + relayRetrySeconds(n, SIM_RELAY_RANDOM) * 1000, 0),
    );
    const duringOutage = await sim.sweep();
    expect(sim.status(id)).toBe("scheduled");

    // Act
    sim.fifo.failSends = false;
    sim.advance(MINUTE); // the next run: the DLQ message is visible again
    const repaired = await sim.sweep();
    sim.advance(MINUTE);
    const again = await sim.sweep();
    await sim.runDeliver();

    // Assess
    expect(duringOutage).toMatchObject({ forwarded: 0, pointersResolved: 0 });
    expect(duringOutage.failures).toBeGreaterThan(0);
    expect(repaired).toMatchObject({ forwarded: 1, pointersResolved: 1, failures: 0 });
    expect(again).toMatchObject({ forwarded: 0, pointersResolved: 0 });
    expect(sim.timerDlq.messages).toEqual([]);
    expect(sim.delivered()).toEqual([id]);
  });

  it("a DLQ message for a finished, cancelled or missing task is deleted and nothing is sent", async () => {
    const sim = simulate();
    const delivered = await sim.put(
      makeTask({ group: "a", dueAtMs: T0, acceptedAtMs: T0, status: "delivered" }),
    );
    const cancelled = await sim.put(
      makeTask({ group: "b", dueAtMs: T0, acceptedAtMs: T0, status: "cancelled" }),
    );
    const missing = makeTask({ group: "c", dueAtMs: T0, acceptedAtMs: T0 }).taskId;
    for (const id of [delivered, cancelled, missing]) sim.timerDlq.put(taskMessageBody(id));
    sim.timerDlq.put("{not a task message");
    sim.advance(10 * MINUTE);

    const report = await sim.sweep();

    expect(report).toMatchObject({ pointersResolved: 3, forwarded: 0, requeued: 0 });
    expect(sim.fifo.enqueued).toEqual([]);
    // An unreadable message is not ours to interpret: it stays, and the DLQ alarm calls an operator.
    expect(sim.timerDlq.messages.map((m) => m.body)).toEqual(["{not a task message"]);
  });
});

describe("draining the timer-side DLQs", () => {
  it("reads them ten messages at a time, each message once per run", async () => {
    const sim = simulate();
    for (let i = 0; i < 25; i++) {
      sim.timerDlq.put(taskMessageBody(makeTask({ group: `x-${i}`, dueAtMs: T0, acceptedAtMs: T0 }).taskId));
    }

    const report = await sim.sweep();

    expect(report.pointersResolved).toBe(25);
    expect(sim.timerDlq.messages).toEqual([]);
  });

  it("a huge DLQ (after an hour of failing FIFO sends) is drained a thousand pointers a run, not a hundred", async () => {
    // Prepare: 600 near-term tasks (outside the sweep index) whose timer messages all went to the timer DLQ
    const sim = simulate();
    const ids: string[] = [];
    for (let i = 0; i < 600; i++) {
      const t = makeTask({ group: `outage-${i}`, dueAtMs: T0, acceptedAtMs: T0 });
      await sim.store.putNew(t, { sweepIndex: false });
      sim.timerDlq.put(taskMessageBody(t.taskId));
      ids.push(t.taskId);
    }
    sim.advance(MINUTE);

    // Act
    const report = await sim.sweep();

    // Assess
    expect(report).toMatchObject({ forwarded: 600, pointersResolved: 600, failures: 0 });
    expect(sim.timerDlq.messages).toEqual([]);
  });

  it("groups named by pointers take at most half the group budget: a lost group found in the index is repaired too", async () => {
    // Prepare: more pointed groups than the budget, and an indexed group whose timer was lost
    const sim = simulate({ limits: { maxGroups: 4 } });
    for (let i = 0; i < 10; i++) {
      const t = makeTask({ group: `pointed-${i}`, dueAtMs: T0, acceptedAtMs: T0 });
      await sim.store.putNew(t, { sweepIndex: false });
      sim.timerDlq.put(taskMessageBody(t.taskId));
    }
    const lost = makeTask({ group: "indexed", dueAtMs: T0, acceptedAtMs: T0 });
    await sim.put(lost);
    sim.advance(sim.graceMs + MINUTE);

    // Act
    const report = await sim.sweep();

    // Assess: the pointers of the groups left over stay for the next run
    expect(sim.status(lost.taskId)).toBe("queued");
    expect(report).toMatchObject({ groupsExamined: 4, deferred: true });
    expect(sim.timerDlq.messages.length).toBeGreaterThan(0);
  });

  it("drains them in one run though a short-polled receive would answer with a sample of a small queue", async () => {
    // Prepare: SQS's short polling samples some servers of a queue under 1,000 messages: a few per answer
    const sim = simulate();
    for (let i = 0; i < 25; i++) {
      sim.timerDlq.put(taskMessageBody(makeTask({ group: `y-${i}`, dueAtMs: T0, acceptedAtMs: T0 }).taskId));
    }
    const source = sim.sweeperDeps.deadLetters?.source as FakeDeadLetterSource;
    source.shortPollSample = 3;

    // Act
    const report = await sim.sweep();

    // Assess
    expect(report.pointersResolved).toBe(25);
    expect(sim.timerDlq.messages).toEqual([]);
  });
});

describe("crash point 5: the relay sent to the FIFO queue, then died before its batch was acknowledged", () => {
  it("needs no sweeper: the timer message comes back and re-sends, and FIFO deduplication absorbs it", async () => {
    const sim = simulate();
    const id = await sim.add({ order_id: "o-5" }, { delay_seconds: 1 });
    sim.advance(1_000);

    await sim.runRelay({ dieBeforeAck: true });
    sim.advance(180_000);
    const retry = await sim.runRelay();
    await sim.runDeliver();

    expect(retry.failedMessageIds).toEqual([]);
    expect(sim.timer.messages).toEqual([]);
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([id]);
    expect(sim.delivered()).toEqual([id]);
  });

  it("died twice, its timer message back past FIFO deduplication's 5 minutes while the group still waits in the queue: the copy goes behind the original and its follower, and each is delivered once, in order", async () => {
    // Prepare: two tasks of a group; the relay sends the first and dies (twice); deliver has not run (a backlog).
    const sim = simulate();
    const first = await sim.add({ order_id: "o-5d" }, { delay_seconds: 1 });
    sim.advance(1_000);
    await sim.runRelay({ dieBeforeAck: true });
    const second = await sim.add({ order_id: "o-5d" }, { delay_seconds: 1 });
    sim.advance(180_000);
    await sim.runRelay({ dieBeforeAck: true });

    // Act: the third receive, 6 minutes after the first send (SQS no longer deduplicates it), then deliver
    sim.advance(180_000);
    const retry = await sim.runRelay();
    await sim.runDeliver();

    // Assess
    expect(retry.failedMessageIds).toEqual([]);
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([first, second, first]);
    expect(sim.delivered()).toEqual([first, second]);
    expect(sim.store.tasks.get(first)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("if the timer message is lost after the send, the live FIFO message delivers it; the sweeper has nothing to do", async () => {
    const sim = simulate();
    const id = await sim.add({ order_id: "o-5b" }, { delay_seconds: 1 });
    sim.advance(1_000);
    await sim.runRelay({ dieBeforeAck: true });
    sim.timer.lose();

    sim.advance(6 * MINUTE);
    const report = await sim.sweep();
    await sim.runDeliver();

    expect(report.forwarded).toBe(0); // not in the sweep index: its FIFO message is durable
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([id]);
    expect(sim.delivered()).toEqual([id]);
    expect(sim.store.tasks.get(id)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("with the full index, the sweeper's copy goes behind the live message: still one delivery", async () => {
    const sim = simulate({ sweeper: FULL_INDEX });
    const id = await sim.add({ order_id: "o-5c" }, { delay_seconds: 1 });
    sim.advance(1_000);
    await sim.runRelay({ dieBeforeAck: true });
    sim.timer.lose();

    sim.advance(6 * MINUTE);
    const report = await sim.sweep();
    await sim.runDeliver();

    expect(report.forwarded).toBe(1);
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([id, id]);
    expect(sim.delivered()).toEqual([id]);
    expect(sim.store.tasks.get(id)).toMatchObject({ status: "delivered", attempts: 1 });
  });
});

describe("crash point 6: a task is queued, but its FIFO message is gone", () => {
  it("requeues the whole group in order once its head has been idle past the stall window, once", async () => {
    // Prepare: three tasks of one group forwarded, then their messages purged (or moved by the backstop).
    const sim = simulate();
    const ids = [];
    for (let seq = 0; seq < 3; seq++) ids.push(await sim.add({ order_id: "o-6", seq }, { delay_seconds: 1 }));
    sim.advance(1_000);
    await sim.runRelay();
    // `queued` is what the sweeper's own forward and a replay record (the relay records nothing).
    for (const id of ids) await sim.store.markQueued(id, sim.clock.now);
    expect(ids.map((id) => sim.status(id))).toEqual(["queued", "queued", "queued"]);
    sim.fifo.lose();

    // Act
    sim.advance(sim.stalledAfterMs - 2_000);
    const early = await sim.sweep();
    sim.advance(2_000);
    const stalledAtMs = sim.clock.now;
    const [stalled, ...later] = await sweepEveryMinute(sim, 4);
    await sim.runDeliver();

    // Assess
    expect(early.requeued).toBe(0);
    expect(stalled).toMatchObject({ requeued: 3, groupsRepaired: 1 });
    // The re-send restarted the group's stall clock: no copy a minute later.
    expect(later.map((r) => r.requeued)).toEqual([0, 0, 0]);
    expect(sim.delivered()).toEqual(ids);
    expect(sim.store.tasks.get(ids[0] as string)?.requeuedAtMs).toBe(stalledAtMs);
  });

  it("an occurrence's re-sent message carries its schedule id, a plain task's does not", async () => {
    // Prepare: a group of two forwarded, the second an occurrence, then their messages lost
    const sim = simulate();
    const ids = [];
    for (let seq = 0; seq < 2; seq++)
      ids.push(await sim.add({ order_id: "o-6o", seq }, { delay_seconds: 1 }));
    const occurrence = sim.store.tasks.get(ids[1] as string);
    if (occurrence)
      sim.store.tasks.set(occurrence.taskId, { ...occurrence, scheduleId: "s-1", scheduleEpoch: 0 });
    sim.advance(1_000);
    await sim.runRelay();
    for (const id of ids) await sim.store.markQueued(id, sim.clock.now);
    sim.fifo.lose();

    // Act
    sim.advance(sim.stalledAfterMs);
    const report = await sim.sweep();

    // Assess
    expect(report.requeued).toBe(2);
    expect(sim.fifo.received.get(QUEUE_URL)?.map((m) => [m.taskId, m.scheduleId])).toEqual([
      [ids[0], undefined],
      [ids[1], "s-1"],
    ]);
  });

  it("a copy sent within FIFO deduplication's 5 minutes may be dropped: it is sent again until one surely lands", async () => {
    // Prepare: a stall window shorter than the deduplication window (as the local tests configure it).
    const sim = simulate({ sweeper: { stalledAfterSeconds: 10 } });
    const id = await sim.add({ order_id: "o-6c" }, { delay_seconds: 0 });
    await sim.runRelay();
    await sim.store.markQueued(id, sim.clock.now); // as the sweeper's forward or a replay leaves it
    sim.fifo.lose();

    // Act
    sim.advance(10_000);
    const withinWindow = await sim.sweep();
    sim.advance(5 * MINUTE);
    const pastWindow = await sim.sweep();
    const afterCopy = await sim.sweep();
    await sim.runDeliver();

    // Assess
    expect(withinWindow.requeued).toBe(0);
    expect(pastWindow.requeued).toBe(1);
    expect(afterCopy.requeued).toBe(0);
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([id, id]);
    expect(sim.delivered()).toEqual([id]);
  });

  it("a requeued task whose copy is lost again is requeued again after another stall window", async () => {
    const sim = simulate({ sweeper: FULL_INDEX });
    const id = await sim.add({ order_id: "o-6b" }, { delay_seconds: 0 });
    await sim.runRelay();
    sim.fifo.lose();
    sim.advance(sim.stalledAfterMs);
    await sim.sweep();
    sim.fifo.lose();
    sim.advance(sim.stalledAfterMs);
    const second = await sim.sweep();
    await sim.runDeliver();

    expect(second.requeued).toBe(1);
    expect(sim.delivered()).toEqual([id]);
  });
});

describe("crash point 7: delivering, with no message in flight", () => {
  it("deliver died after startAttempt and the message was lost: requeued, and the attempt count carries on", async () => {
    const sim = simulate({ sweeper: FULL_INDEX });
    const id = await sim.add({ order_id: "o-7" }, { delay_seconds: 0 });
    await sim.runRelay();
    await sim.store.startAttempt(id, sim.clock.now); // …and the invocation died here
    sim.fifo.lose();

    sim.advance(sim.stalledAfterMs);
    const report = await sim.sweep();
    await sim.runDeliver();

    expect(report.requeued).toBe(1);
    expect(sim.delivered()).toEqual([id]);
    expect(sim.callbacks.requests[0]?.headers["punctual-attempt"]).toBe("2");
    expect(sim.store.tasks.get(id)).toMatchObject({ status: "delivered", attempts: 2 });
  });
});

describe("crash point 7 with a cancel requested while that attempt was in flight", () => {
  it("the sweeper's re-send does not resurrect it: deliver refuses the start, calls nothing, and ends it cancelled", async () => {
    // Prepare: deliver died mid-attempt (its outcome never written), an operator's DELETE met it in flight (202)
    const sim = simulate({ sweeper: FULL_INDEX });
    const id = await sim.add({ order_id: "o-7c" }, { delay_seconds: 0 });
    await sim.runRelay();
    await sim.store.startAttempt(id, sim.clock.now);
    const requested = await sim.store.cancel(id, sim.clock.now, 1, { awaitingRetry: true });
    sim.fifo.lose();

    // Act
    sim.advance(sim.stalledAfterMs);
    const report = await sim.sweep();
    await sim.runDeliver();

    // Assess
    expect(requested.outcome).toBe("cancel-requested");
    expect(report.requeued).toBe(1);
    expect(sim.callbacks.requests).toEqual([]);
    expect(sim.store.tasks.get(id)).toMatchObject({ status: "cancelled", attempts: 1 });
    expect(sim.store.tasks.get(id)?.sweepShard).toBeUndefined();
  });
});

describe("crash point 8: attempts used up, dead-lettering never finished", () => {
  it("the DLQ send kept failing until the message was lost: the sweeper dead-letters it, without calling again", async () => {
    // Prepare: three failed attempts (maxAttempts 3); the third one's DLQ send fails.
    const sim = simulate();
    const id = await sim.add({ order_id: "o-8" }, { delay_seconds: 0 });
    await sim.runRelay();
    sim.callbacks.answer(id, HTTP(500), HTTP(500), HTTP(500));
    sim.fifo.failDeadLetter = true;
    for (let i = 0; i < 3; i++) {
      await sim.runDeliver();
      sim.advance(10_000);
    }
    expect(sim.store.tasks.get(id)).toMatchObject({ status: "delivering", attempts: 3 });
    sim.fifo.lose(); // the maxReceiveCount backstop moved it
    sim.fifo.failDeadLetter = false;

    // Act: not before the stall window (the last attempt could still be running), then once.
    const early = await sim.sweep();
    sim.advance(sim.stalledAfterMs);
    const due = await sim.sweep();
    const again = await sim.sweep();

    // Assess
    expect(early.deadLettered).toBe(0);
    expect(due).toMatchObject({ deadLettered: 1, requeued: 0 });
    expect(again.deadLettered).toBe(0);
    expect(sim.fifo.deadLetters).toEqual([
      { dlqUrl: DLQ_URL, groupId: sim.store.tasks.get(id)?.pk, taskId: id, reason: "HTTP 500" },
    ]);
    expect(sim.store.tasks.get(id)).toMatchObject({ status: "failed", lastError: "HTTP 500" });
    expect(sim.callbacks.requests).toHaveLength(3);
  });

  it("an exhausted head whose last answer was a 503 is dead-lettered at the stall window too: no Retry-After wait follows a last attempt", async () => {
    // Prepare: three 503s (maxAttempts 3); the third one's DLQ send fails, then the message is lost.
    const sim = simulate();
    const id = await sim.add({ order_id: "o-8-503" }, { delay_seconds: 0 });
    await sim.runRelay();
    sim.callbacks.answer(id, HTTP(503), HTTP(503), HTTP(503));
    sim.fifo.failDeadLetter = true;
    for (let i = 0; i < 3; i++) {
      await sim.runDeliver();
      sim.advance(10_000);
    }
    sim.fifo.lose();
    sim.fifo.failDeadLetter = false;

    // Act
    sim.advance(sim.stalledAfterMs);
    const due = await sim.sweep();

    // Assess
    expect(due).toMatchObject({ deadLettered: 1, requeued: 0 });
    expect(sim.store.tasks.get(id)).toMatchObject({ status: "failed", lastError: "HTTP 503" });
    expect(sim.callbacks.requests).toHaveLength(3);
  });

  it("an exhausted head is dead-lettered and its stranded followers requeued behind it, in order", async () => {
    const sim = simulate();
    const head = await sim.put(
      makeTask({ group: "g8", dueAtMs: T0, acceptedAtMs: T0, status: "delivering", attempts: 3 }),
    );
    const follower = await sim.put(
      makeTask({ group: "g8", dueAtMs: T0 + 1, acceptedAtMs: T0, status: "queued" }),
    );
    sim.advance(sim.stalledAfterMs + 1_000);

    const report = await sim.sweep();
    await sim.runDeliver();

    expect(report).toMatchObject({ deadLettered: 1, requeued: 1 });
    expect(sim.status(head)).toBe("failed");
    expect(sim.delivered()).toEqual([follower]);
  });

  it("a head whose last attempt has no recorded outcome (its `delivered` write lost) is re-sent for one more call, not dead-lettered", async () => {
    // Prepare: attempts used up, the third started (attemptSeq 3) but never recorded; its message gone
    const sim = simulate();
    const entry = (seq: number) => ({ seq, startedAtMs: T0, durationMs: 5, status: 500, error: "HTTP 500" });
    const head = await sim.put(
      makeTask({
        group: "g8u",
        dueAtMs: T0,
        acceptedAtMs: T0,
        status: "delivering",
        attempts: 3,
        attemptSeq: 3,
        lastError: "HTTP 500",
        attemptLog: { "0": entry(1), "1": entry(2) },
      }),
    );
    sim.advance(sim.stalledAfterMs + 1_000);

    // Act
    const report = await sim.sweep();
    await sim.runDeliver();

    // Assess
    expect(report).toMatchObject({ deadLettered: 0, requeued: 1 });
    expect(sim.delivered()).toEqual([head]);
    expect(sim.store.tasks.get(head)).toMatchObject({ status: "delivered", attempts: 4 });
  });

  it("an exhausted moved head is dead-lettered no earlier than its TTL floor (the item it was moved from outlives it otherwise)", async () => {
    // Prepare: a successor whose old item expires in 40 days, its attempts used up
    const sim = simulate();
    const floor = Math.ceil(T0 / 1000) + 40 * 86_400;
    const head = await sim.put(
      makeTask({
        group: "g8m",
        dueAtMs: T0,
        acceptedAtMs: T0,
        status: "delivering",
        attempts: 3,
        rescheduledFrom: "demo.x.y.z",
        expiresAtFloor: floor,
      }),
    );
    sim.advance(sim.stalledAfterMs + 1_000);

    // Act
    const report = await sim.sweep();

    // Assess
    expect(report).toMatchObject({ deadLettered: 1 });
    expect(sim.store.tasks.get(head)).toMatchObject({ status: "failed", expiresAt: floor });
  });
});

describe("crash point 9: the sweeper itself dies between its send and its mark", () => {
  it("the next run sends again (deduplicated) and marks: one message, one delivery", async () => {
    const sim = simulate({ sweeper: FULL_INDEX });
    sim.timer.dropNext = 1;
    const id = await sim.add({ order_id: "o-9" }, { delay_seconds: 0 });
    sim.advance(sim.graceMs);
    sim.store.markQueued = async () => {
      throw new Error("DynamoDB unavailable");
    };

    const crashed = await sim.sweep();
    delete (sim.store as Partial<TaskStore>).markQueued;
    sim.advance(MINUTE);
    const next = await sim.sweep();
    await sim.runDeliver();

    expect(crashed.failures).toBe(1);
    expect(next).toMatchObject({ forwarded: 1, failures: 0 });
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([id]);
    expect(sim.delivered()).toEqual([id]);
  });
});

describe("overlapping hand-offs of one group (a run longer than its minute, the relay at the same instant)", () => {
  /** A group whose head's timer was lost and whose follower's timer message is due now. */
  async function strandedHeadWithLiveFollower(sim: Sim, orderId: string) {
    sim.timer.dropNext = 1;
    const head = await sim.add({ order_id: orderId, n: "head" }, { delay_seconds: 10 });
    sim.advance(sim.graceMs);
    const follower = await sim.add({ order_id: orderId, n: "follower" }, { delay_seconds: 10 });
    sim.advance(10_000); // the head exactly the grace past due; the follower due now
    return { head, follower };
  }

  it("the sweeper and the relay send the group at once: each task reaches the FIFO queue once, in order, and is delivered once", async () => {
    // Prepare
    const sim = simulate({ sweeper: FULL_INDEX });
    const { head, follower } = await strandedHeadWithLiveFollower(sim, "o-overlap-relay");

    // Act: both hand the group off side by side (their calls interleave)
    const [report, relayed] = await Promise.all([sim.sweep(), sim.runRelay()]);
    await sim.runDeliver();

    // Assess
    expect(relayed.failedMessageIds).toEqual([]);
    expect(report).toMatchObject({ groupsRepaired: 1, failures: 0 });
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([head, follower]);
    expect(sim.delivered()).toEqual([head, follower]);
    expect([head, follower].map((id) => sim.status(id))).toEqual(["delivered", "delivered"]);
  });

  it("two sweeper runs repair the same stalled group at once: one copy of each lands, in order, and each task is delivered once", async () => {
    // Prepare: the group's messages were lost after the sweeper had forwarded it (both `queued`, idle).
    const sim = simulate({ sweeper: FULL_INDEX });
    sim.timer.dropNext = 2;
    const a = await sim.add({ order_id: "o-overlap-runs", n: "a" }, { delay_seconds: 0 });
    const b = await sim.add({ order_id: "o-overlap-runs", n: "b" }, { delay_seconds: 0 });
    sim.advance(sim.graceMs);
    await sim.sweep();
    sim.fifo.lose();
    sim.advance(sim.stalledAfterMs);

    // Act
    const [first, second] = await Promise.all([sim.sweep(), sim.sweep()]);
    await sim.runDeliver();

    // Assess: the second copy of each was dropped by FIFO deduplication (same task id within 5 minutes).
    expect(first.failures + second.failures).toBe(0);
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([a, b, a, b]);
    expect(sim.delivered()).toEqual([a, b]);
    expect([a, b].map((id) => sim.status(id))).toEqual(["delivered", "delivered"]);
  });
});

describe("group order, progress and finished tasks", () => {
  it("leaves a group alone while its head makes progress; its lost follower is re-sent after the head, never ahead", async () => {
    // Prepare: head a keeps failing (503, 503, then 200) while follower b's message is lost.
    const sim = simulate({ sweeper: FULL_INDEX });
    const a = await sim.add({ order_id: "o-10", n: "a" }, { delay_seconds: 0 });
    const b = await sim.add({ order_id: "o-10", n: "b" }, { delay_seconds: 0 });
    await sim.runRelay();
    sim.callbacks.answer(a, HTTP(503), HTTP(503), HTTP(200));
    await sim.runDeliver(); // a: attempt 1 fails
    sim.fifo.lose(b);
    sim.advance(200_000);
    await sim.runDeliver(); // a: attempt 2 fails
    sim.advance(200_000); // b idle for 400 s (> stall window), a for 200 s (< stall window)

    // Act
    const whileHeadProgresses = await sim.sweep();
    await sim.runDeliver(); // a delivered
    const afterHead = await sim.sweep();
    await sim.runDeliver();

    // Assess
    // b still reads `scheduled` (the relay records nothing), so once it is the head past the grace it is forwarded.
    expect(whileHeadProgresses).toMatchObject({
      groupsExamined: 1,
      groupsRepaired: 0,
      forwarded: 0,
      requeued: 0,
    });
    expect(afterHead).toMatchObject({ forwarded: 1 });
    expect(sim.delivered()).toEqual([a, a, a, b]);
    expect([a, b].map((id) => sim.status(id))).toEqual(["delivered", "delivered"]);
  });

  it("leaves a head waiting out its receiver's Retry-After (up to the topic's retryAfterCapSeconds, past its backoff cap) alone: no copies of its group while it waits", async () => {
    // Prepare: a answers 503 with Retry-After: 3600 (the default cap); deliver holds its message that long (its
    // visibility), b waits behind it in the FIFO group. Nothing is lost.
    const sim = simulate();
    const a = await sim.add({ order_id: "o-ra", n: "a" }, { delay_seconds: 0 });
    const b = await sim.add({ order_id: "o-ra", n: "b" }, { delay_seconds: 0 });
    await sim.runRelay();
    sim.callbacks.answer(a, { ...HTTP(503), retryAfter: String(sim.topic.retryAfterCapSeconds) });
    await sim.runDeliver();
    const sent = sim.fifo.enqueued.length;

    // Act: a sweep every minute through the receiver's wait
    const reports = await sweepEveryMinute(sim, Math.floor((sim.topic.retryAfterCapSeconds * 1000) / MINUTE));
    await sim.runDeliver();

    // Assess: the live group was never taken for stalled, and each task was called once after a's wait
    expect(sim.topic.retryAfterCapSeconds).toBeGreaterThan(sim.topic.backoff.maxSeconds);
    expect(sim.store.tasks.get(a)).toMatchObject({ status: "delivered", attempts: 2 });
    expect(reports.filter((r) => r.groupsRepaired > 0 || r.requeued > 0 || r.forwarded > 0)).toEqual([]);
    expect(sim.fifo.enqueued.length).toBe(sent);
    expect(sim.delivered()).toEqual([a, a, b]);
  });

  it("a head answered 503 whose message is then lost is still re-sent: once idle for the stall window and the topic's Retry-After cap", async () => {
    // Prepare: attempt 1 answers 503 (no Retry-After: the table cannot tell), then the FIFO message is gone
    const sim = simulate();
    const id = await sim.add({ order_id: "o-503-lost" }, { delay_seconds: 0 });
    await sim.runRelay();
    sim.callbacks.answer(id, HTTP(503), HTTP(200));
    await sim.runDeliver();
    sim.fifo.lose();
    const allowanceMs = (sim.topic.retryAfterCapSeconds - sim.topic.backoff.maxSeconds) * 1000;

    // Act
    sim.advance(sim.stalledAfterMs + allowanceMs - 1);
    const early = await sim.sweep();
    sim.advance(1);
    const due = await sim.sweep();
    await sim.runDeliver();

    // Assess
    expect(early).toMatchObject({ groupsExamined: 1, requeued: 0 });
    expect(due).toMatchObject({ requeued: 1, failures: 0 });
    expect(sim.delivered()).toEqual([id, id]);
    expect(sim.status(id)).toBe("delivered");
  });

  it("a replay stopped between its mark and its send is re-sent at the stall window, though its last life ended on a 503", async () => {
    // Prepare: dead-lettered after three 503s, replayed (`queued`, attempts from 0, the log and its sequence kept);
    // the replay died before its send
    const sim = simulate();
    const task = makeTask({
      group: "o-replayed-503",
      dueAtMs: T0,
      acceptedAtMs: T0,
      status: "queued",
      queuedAtMs: T0 + 1_000,
      replays: 1,
      replayedAtMs: T0 + 1_000,
      attempts: 0,
      attemptSeq: 3,
      attemptLog: { "2": { seq: 3, startedAtMs: T0 + 500, durationMs: 20, status: 503, error: "HTTP 503" } },
    });
    await sim.put(task);

    // Act
    sim.advance(1_000 + sim.stalledAfterMs);
    const report = await sim.sweep();
    await sim.runDeliver();

    // Assess
    expect(report).toMatchObject({ requeued: 1, failures: 0 });
    expect(sim.delivered()).toEqual([task.taskId]);
  });

  it("reads a group back the relay's look-back from its indexed candidate: a near-term head outside the index is repaired first", async () => {
    // Prepare: head h is near-term (out of the sweep index, its timer message carries it), follower f rides a
    // schedule (indexed) 200 s later in the same group. The relay forwards h; then its FIFO message is lost, and
    // f's schedule firing is dropped.
    const sim = simulate();
    const h = await sim.add({ order_id: "o-lb", n: "h" }, { delay_seconds: 200 });
    const f = await sim.add({ order_id: "o-lb", n: "f" }, { delay_seconds: 400 });
    expect([h, f].map((id) => sim.store.tasks.get(id)?.sweepShard)).toEqual([undefined, sweepShardOf(f)]);
    sim.advance(200_000);
    await sim.runRelay();
    sim.fifo.lose(h);

    // Act: past f's due time and grace
    sim.advance(200_000 + sim.graceMs + 1_000);
    const report = await sim.sweep();
    await sim.runDeliver();

    // Assess: the group is judged by h, re-sent whole and in order; f is never delivered ahead of h.
    expect(report).toMatchObject({ candidates: 1, forwarded: 2, groupsRepaired: 1 });
    expect(sim.delivered()).toEqual([h, f]);
  });

  it("a sweeper whose clock runs ahead hands a task over that much early: deliver holds it until due, and a task of its group accepted meanwhile with an earlier due time goes after it", async () => {
    // Prepare: the sweeper's host clock 20 s ahead; head h's timer lost; x due at T0 + 140 s.
    const sim = simulate({ sweeper: FULL_INDEX });
    Object.assign(sim.sweeperDeps, { clock: () => sim.clock.now + 20_000 });
    sim.timer.dropNext = 1;
    const h = await sim.add({ order_id: "o-skew", n: "h" }, { delay_seconds: 0 });
    const x = await sim.add({ order_id: "o-skew", n: "x" }, { delay_seconds: 140 });
    const calledAt = new Map<string, number>();
    const post = sim.callbacks.post.bind(sim.callbacks);
    sim.callbacks.post = async (request) => {
      calledAt.set(request.headers["webhook-id"] ?? "", sim.clock.now);
      return post(request);
    };

    // Act: at T0 + 120 s (the sweeper reads T0 + 140 s) h is past the grace, and its group is sent up to x; then y
    // is accepted, due now, 20 s before x.
    sim.advance(120_000);
    await sim.sweep();
    const y = await sim.add({ order_id: "o-skew", n: "y" }, { delay_seconds: 0 });
    await sim.runRelay();
    await sim.runDeliver();
    sim.advance(20_000);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess: x was never called before its due time; y, due earlier, came after it (README, "Ordering").
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([h, x, y]);
    expect(sim.delivered()).toEqual([h, x, y]);
    expect(calledAt.get(x)).toBe(T0 + 140_000);
  });

  it("forwards only what is due, in due order; a later task waits for its own timer (never early)", async () => {
    const sim = simulate({ sweeper: FULL_INDEX });
    sim.timer.dropNext = 2;
    const first = await sim.add({ order_id: "o-11", n: 1 }, { delay_seconds: 0 });
    const second = await sim.add({ order_id: "o-11", n: 2 }, { delay_seconds: 1 });
    const later = await sim.add({ order_id: "o-11", n: 3 }, { delay_seconds: 200 });

    sim.advance(1_000 + sim.graceMs);
    const report = await sim.sweep();
    await sim.runDeliver();

    expect(report.forwarded).toBe(2);
    expect(sim.delivered()).toEqual([first, second]);
    expect(sim.status(later)).toBe("scheduled");
    sim.advance(200_000);
    await sim.runRelay();
    await sim.runDeliver();
    expect(sim.delivered()).toEqual([first, second, later]);
  });

  it("never resurrects a delivered, failed or cancelled task, and a cancel racing a repair wins", async () => {
    // Prepare: finished tasks (out of the sweep index) and one orphan that is cancelled mid-repair.
    const sim = simulate({ sweeper: FULL_INDEX });
    sim.timer.dropNext = 4;
    const ids = [];
    for (const n of [1, 2, 3, 4]) ids.push(await sim.add({ order_id: `o-12-${n}` }, { delay_seconds: 0 }));
    const [delivered, failed, cancelled, racing] = ids as [string, string, string, string];
    await sim.store.startAttempt(delivered, T0);
    await sim.store.markDelivered(delivered, { atMs: T0, latenessMs: 0, deliveryLatencyMs: 1, expiresAt: 1 });
    await sim.store.startAttempt(failed, T0);
    await sim.store.markFailed(failed, { error: "x", atMs: T0, expiresAt: 1 });
    await sim.store.cancel(cancelled, T0, 1);
    const list = sim.store.listUnfinishedInGroup.bind(sim.store);
    sim.store.listUnfinishedInGroup = async (pk, from, to) => {
      const read = await list(pk, from, to);
      if (read.tasks.some((t) => t.taskId === racing)) await sim.store.cancel(racing, sim.clock.now, 1);
      return read;
    };
    sim.advance(10 * MINUTE);

    // Act
    const report = await sim.sweep();
    await sim.runDeliver();

    // Assess
    expect(report.candidates).toBe(1);
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([racing]);
    expect(sim.delivered()).toEqual([]);
    expect(ids.map((id) => sim.status(id))).toEqual(["delivered", "failed", "cancelled", "cancelled"]);
  });
});

describe("a lagging sweep index (a GSI's reads are eventually consistent; DynamoDB refuses ConsistentRead on one)", () => {
  // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html: "All reads
  // from GSIs and streams are eventually consistent". dynalite updates its indexes with the write, so only a store
  // whose index lags shows what the sweeper does with entries that are stale or not there yet.
  it("still lists tasks finished since: the sweeper judges them by the table and sends nothing", async () => {
    // Prepare: three orphans in the index, finished after the index last caught up
    const sim = simulate({ sweeper: FULL_INDEX });
    sim.timer.dropNext = 3;
    const ids = [];
    for (const n of [1, 2, 3]) ids.push(await sim.add({ order_id: `lag-${n}` }, { delay_seconds: 0 }));
    const [delivered, failed, cancelled] = ids as [string, string, string];
    sim.store.lagSweepIndex();
    await sim.store.startAttempt(delivered, T0);
    await sim.store.markDelivered(delivered, { atMs: T0, latenessMs: 0, deliveryLatencyMs: 1, expiresAt: 1 });
    await sim.store.startAttempt(failed, T0);
    await sim.store.markFailed(failed, { error: "x", atMs: T0, expiresAt: 1 });
    await sim.store.cancel(cancelled, T0, 1);
    sim.advance(10 * MINUTE);

    // Act
    const report = await sim.sweep();
    await sim.runDeliver();

    // Assess: read as candidates, left alone
    expect(report.candidates).toBe(3);
    expect(sim.fifo.enqueued).toEqual([]);
    expect(sim.delivered()).toEqual([]);
    expect(ids.map((id) => sim.status(id))).toEqual(["delivered", "failed", "cancelled"]);
  });

  it("does not list a task yet: the run misses it, and a run after the index caught up delivers it, once", async () => {
    // Prepare: an orphan (its timer message lost) that entered the index after it last caught up
    const sim = simulate({ sweeper: FULL_INDEX });
    sim.store.lagSweepIndex();
    sim.timer.dropNext = 1;
    const taskId = await sim.add({ order_id: "lag-late" }, { delay_seconds: 0 });
    sim.advance(10 * MINUTE);
    const missed = await sim.sweep();
    await sim.runDeliver();
    sim.store.catchUpSweepIndex();
    sim.advance(MINUTE);

    // Act
    const caught = await sim.sweep();
    await sim.runDeliver();

    // Assess
    expect(missed.candidates).toBe(0);
    expect(caught).toMatchObject({ candidates: 1, forwarded: 1 });
    expect(sim.delivered()).toEqual([taskId]);
  });
});

describe("reading the sweep index", () => {
  it("only unfinished tasks are in it, spread over the shards", async () => {
    const sim = simulate({ sweeper: FULL_INDEX });
    const ids = [];
    for (let i = 0; i < 600; i++) ids.push(await sim.add({ order_id: `s-${i}` }, { delay_seconds: 0 }));
    await sim.store.cancel(ids[0] as string, T0, 1);

    const shards = new Set(ids.map(sweepShardOf));
    const indexed = await Promise.all(
      Array.from({ length: SWEEP_SHARDS }, (_, shard) => sim.store.listUnfinishedDueBy(shard, T0, 10_000)),
    );

    expect(shards.size).toBe(SWEEP_SHARDS);
    expect(indexed.flatMap((r) => r.tasks.map((t) => t.taskId)).sort()).toEqual(ids.slice(1).sort());
  });

  it("a shard cut short is read only up to its last due time in every shard, and the rest is deferred", async () => {
    // The oldest part alone: a group budget under two per shard leaves the index's moving window no entries (the
    // window, which reads past this cut, is specified under "…under a backlog of overdue indexed tasks").
    const sim = simulate({ limits: { maxGroups: SWEEP_SHARDS } });
    const tasks = [0, 1, 2, 3].map((i) =>
      makeTask({ group: `cut-${i}`, dueAtMs: T0 + i * 1_000, acceptedAtMs: T0 }),
    );
    for (const t of tasks) await sim.put(t);
    const real = sim.store.listUnfinishedDueBy.bind(sim.store);
    const cutShard = sweepShardOf((tasks[1] as { taskId: string }).taskId);
    sim.store.listUnfinishedDueBy = async (shard, dueBy, limit) => {
      const all = await real(shard, dueBy, 10_000);
      if (shard !== cutShard) return all;
      // This shard answers only up to tasks[1]'s due time, as if its page limit had been reached there.
      const upTo = all.tasks.filter((t) => t.dueAtMs <= T0 + 1_000);
      return { tasks: upTo.slice(0, limit), truncated: true };
    };
    sim.advance(sim.graceMs + 10_000);

    const report = await sim.sweep();

    expect(report).toMatchObject({ candidates: 2, forwarded: 2, deferred: true });
    expect(sim.fifo.enqueued.map((m) => m.taskId).sort()).toEqual(
      [tasks[0]?.taskId, tasks[1]?.taskId].sort(),
    );
  });

  it("when a shard cannot be read, only groups named by dead-letter messages are repaired this run", async () => {
    const sim = simulate();
    sim.timer.dropNext = 2;
    const plain = await sim.add({ order_id: "r-1" }, { delay_seconds: 0 });
    const pointed = await sim.add({ order_id: "r-2" }, { delay_seconds: 0 });
    sim.timerDlq.put(taskMessageBody(pointed));
    sim.store.listUnfinishedDueBy = async (shard) => {
      if (shard === 3) throw new Error("ProvisionedThroughputExceededException");
      return { tasks: [], truncated: false };
    };
    sim.advance(sim.graceMs);

    const report = await sim.sweep();

    expect(report.failures).toBe(1);
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([pointed]);
    expect(sim.status(plain)).toBe("scheduled");
  });

  it("starts no group when the invocation is about to time out, and says the work was deferred", async () => {
    const sim = simulate({ sweeper: FULL_INDEX });
    sim.timer.dropNext = 1;
    const id = await sim.add({ order_id: "t-1" }, { delay_seconds: 0 });
    sim.advance(sim.graceMs);

    const report = await sweep({ ...sim.sweeperDeps, remainingMs: () => 5_000 });

    expect(report).toMatchObject({ candidates: 1, groupsExamined: 0, deferred: true });
    expect(sim.status(id)).toBe("scheduled");
  });

  it("does not re-arm or drain a DLQ message whose re-arm failed", async () => {
    const sim = simulate();
    const id = await sim.add({ order_id: "t-2" }, { delay_seconds: 600 });
    sim.scheduleDlq.put(taskMessageBody(id));
    sim.timer.failNext = 1;

    const report = await sim.sweep();

    expect(report).toMatchObject({ rearmed: 0, failures: 1, pointersResolved: 0 });
    expect(sim.scheduleDlq.messages).toHaveLength(1);
    expect(SCHEDULE_DLQ_URL).not.toBe(TIMER_DLQ_URL);
  });
});

describe("the group budget (maxGroups) under a backlog of healthy groups", () => {
  it("a stalled group newer than `maxGroups` long-waiting healthy groups is still repaired within a few runs", async () => {
    // Prepare: more old groups than the budget, each waiting legitimately (its head backing off after a failed
    // attempt, as in a receiver's outage or a paused topic), and one newer group whose timer was lost.
    const sim = simulate({ limits: { maxGroups: 2 } });
    const waiting = [0, 1, 2, 3].map((i) =>
      makeTask({
        group: `waiting-${i}`,
        dueAtMs: T0 + i * 1_000,
        acceptedAtMs: T0,
        status: "delivering",
        attempts: 1,
        lastAttemptAtMs: T0,
      }),
    );
    for (const t of waiting) await sim.put(t);
    const lost = makeTask({ group: "lost", dueAtMs: T0 + 10_000, acceptedAtMs: T0 });
    await sim.put(lost);
    sim.advance(10_000 + sim.graceMs);

    // Act: a run a minute, the waiting heads attempted again between runs (they are alive, not stalled)
    const reports = [];
    for (let run = 0; run < 6 && sim.status(lost.taskId) === "scheduled"; run++) {
      for (const t of waiting) {
        const stored = sim.store.tasks.get(t.taskId);
        if (stored) sim.store.tasks.set(t.taskId, { ...stored, lastAttemptAtMs: sim.clock.now });
      }
      reports.push(await sim.sweep());
      sim.advance(MINUTE);
    }

    // Assess: the oldest groups no longer take the whole budget on every run
    expect(reports[0]).toMatchObject({ groupsExamined: 2, deferred: true });
    expect(sim.status(lost.taskId)).toBe("queued");
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([lost.taskId]);
  });
});

describe("the sweep index read (candidatesPerShard) under a backlog of overdue indexed tasks", () => {
  /** A task of `group` due at `dueAtMs` whose id falls in sweep shard `shard`. */
  function inShard(shard: number, options: Parameters<typeof makeTask>[0]) {
    for (;;) {
      const task = makeTask(options);
      if (sweepShardOf(task.taskId) === shard) return task;
    }
  }

  /** Heads attempted again between runs: overdue in the index, but alive (a receiver's outage, a paused topic). */
  function keepAlive(sim: Sim, tasks: readonly { taskId: string }[]) {
    for (const t of tasks) {
      const stored = sim.store.tasks.get(t.taskId);
      if (stored) sim.store.tasks.set(t.taskId, { ...stored, lastAttemptAtMs: sim.clock.now });
    }
  }

  function waitingTask(shard: number, i: number) {
    return inShard(shard, {
      group: `waiting-${shard}-${i}`,
      dueAtMs: T0 + i * 1_000,
      acceptedAtMs: T0,
      status: "delivering",
      attempts: 1,
      lastAttemptAtMs: T0,
    });
  }

  it("a task whose timer was lost behind more than a read's worth of older waiting tasks is repaired within a bounded number of runs", async () => {
    // Prepare: in one shard, five waiting heads older than a newer task whose timer was lost; a read of two
    // entries per shard and run, and a group budget leaving the younger share one entry per shard
    const sim = simulate({ limits: { candidatesPerShard: 2, maxGroups: 2 * SWEEP_SHARDS } });
    const shard = 5;
    const waiting = [0, 1, 2, 3, 4].map((i) => waitingTask(shard, i));
    for (const t of waiting) await sim.put(t);
    const lost = inShard(shard, { group: "lost", dueAtMs: T0 + 10_000, acceptedAtMs: T0 });
    await sim.put(lost);
    sim.advance(10_000 + sim.graceMs);

    // Act: a run a minute; the waiting heads stay alive (the window moves one entry per run through the shard)
    const reports = [];
    for (let run = 0; run < 10 && sim.status(lost.taskId) === "scheduled"; run++) {
      keepAlive(sim, waiting);
      reports.push(await sim.sweep());
      sim.advance(MINUTE);
    }

    // Assess: oldest first alone read the same two waiting heads on every run and never reached it
    expect(reports[0]).toMatchObject({ deferred: true, failures: 0 });
    // Within (the shard's overdue entries ÷ the window's entries per shard) runs: here 6 ÷ 1.
    expect(reports.length).toBeLessThanOrEqual(6);
    expect(sim.status(lost.taskId)).toBe("queued");
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([lost.taskId]);
  });

  it("a lost task read in the oldest part but past the oldest half of the group budget is reached by the window too", async () => {
    // Prepare: four waiting heads in every shard, three read per shard (so the oldest part is complete up to the
    // third of shard 0); the group budget's oldest half takes the first of each shard, and the window fills its
    // younger half. Shard 7's second entry is a task whose timer was lost.
    const sim = simulate({ limits: { candidatesPerShard: 3, maxGroups: 2 * SWEEP_SHARDS } });
    const waiting = [];
    let lost: ReturnType<typeof makeTask> | undefined;
    for (let i = 0; i < 4; i++) {
      for (let shard = 0; shard < SWEEP_SHARDS; shard++) {
        const dueAtMs = T0 + (i * SWEEP_SHARDS + shard) * 1_000;
        if (i === 1 && shard === 7) {
          lost = inShard(shard, { group: "lost-middle", dueAtMs, acceptedAtMs: T0 });
          await sim.put(lost);
          continue;
        }
        const t = inShard(shard, {
          group: `w-${shard}-${i}`,
          dueAtMs,
          acceptedAtMs: T0,
          status: "delivering",
          attempts: 1,
          lastAttemptAtMs: T0,
        });
        waiting.push(t);
        await sim.put(t);
      }
    }
    const id = lost?.taskId as string;
    sim.advance(4 * SWEEP_SHARDS * 1_000 + sim.graceMs);

    // Act
    const reports = [];
    for (let run = 0; run < 4 && sim.status(id) === "scheduled"; run++) {
      keepAlive(sim, waiting);
      reports.push(await sim.sweep());
      sim.advance(MINUTE);
    }

    // Assess
    expect(reports[0]).toMatchObject({ groupsExamined: 2 * SWEEP_SHARDS, deferred: true });
    expect(sim.status(id)).toBe("queued");
  });

  it("a window position past the index's read range (the windows were lengthened since) is dropped, not a failure on every run", async () => {
    // Prepare: as above, with the shard's stored window position later than what a run reads up to
    const sim = simulate({ limits: { candidatesPerShard: 2, maxGroups: 2 * SWEEP_SHARDS } });
    const shard = 6;
    const waiting = [0, 1, 2].map((i) => waitingTask(shard, i));
    for (const t of waiting) await sim.put(t);
    const lost = inShard(shard, { group: "lost-late", dueAtMs: T0 + 10_000, acceptedAtMs: T0 });
    await sim.put(lost);
    sim.store.sweepCursor = { [shard]: { taskId: lost.taskId, dueAtMs: T0 + 365 * 24 * 60 * MINUTE } };
    sim.advance(10_000 + sim.graceMs);

    // Act
    const reports = [];
    for (let run = 0; run < 5 && sim.status(lost.taskId) === "scheduled"; run++) {
      keepAlive(sim, waiting);
      reports.push(await sim.sweep());
      sim.advance(MINUTE);
    }

    // Assess
    expect(sim.status(lost.taskId)).toBe("queued");
    expect(reports.map((r) => r.failures)).toEqual(reports.map(() => 0));
  });

  it("a group found past the complete part of the index is read back to it: an earlier unread head goes first", async () => {
    // Prepare: group g's head h sits behind a backlog in its shard (read two entries per shard and run), its
    // follower f, 20 minutes later (beyond the relay's look-back), in another shard; both timers were lost. The
    // window reaches f a run before h.
    const sim = simulate({ limits: { candidatesPerShard: 2, maxGroups: 2 * SWEEP_SHARDS } });
    const waiting = [0, 1, 2].map((i) => waitingTask(3, i));
    for (const t of waiting) await sim.put(t);
    const h = inShard(3, { group: "g", dueAtMs: T0 + 10_000, acceptedAtMs: T0 });
    const f = inShard(9, { group: "g", dueAtMs: T0 + 10_000 + 20 * MINUTE, acceptedAtMs: T0 });
    for (const t of [h, f]) await sim.put(t);
    sim.advance(10_000 + 20 * MINUTE + sim.graceMs);

    // Act
    const reports = [];
    for (let run = 0; run < 4 && sim.status(f.taskId) === "scheduled"; run++) {
      keepAlive(sim, waiting);
      reports.push(await sim.sweep());
      sim.advance(MINUTE);
    }
    await sim.runDeliver();

    // Assess: never f without h ahead of it
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([h.taskId, f.taskId]);
    expect(sim.delivered()).toEqual([h.taskId, f.taskId]);
  });
});
