import fc from "fast-check";
import { parse } from "lossless-json";
import { describe, expect, it } from "vitest";
import { isHttpError } from "#shared/api/errors.js";
import { occurrenceOfKey, occurrenceStop, scheduleToCheck } from "#shared/domain/occurrence-hold.js";
import { occurrencesBetween } from "#shared/domain/schedule-cron.js";
import { TERMINAL_STATUSES } from "#shared/domain/task.js";
import { completeMove, rescheduleTask, runTask } from "#shared/services/reschedule-task.js";
import { createSchedule, resumeSchedule, type ScheduleRouteDeps } from "#shared/services/schedules/manage.js";
import { type MaterializerRunDeps, runMaterializer } from "#shared/services/schedules/run.js";
import { deleteSchedule, pauseSchedule } from "#shared/services/schedules/stop-routes.js";
import { specOf } from "#shared/services/schedules/view.js";
import { ManualClock } from "../../support/clock.js";
import { FakeScheduler } from "../../support/fakes/scheduler.js";
import { FakeTimerQueue } from "../../support/fakes/timer-queue.js";
import { propertyRuns, propertyScale } from "../../support/fast-check-runs.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { simConfig } from "../../support/pipeline-sim.js";

/**
 * A recurring schedule's occurrence path against AWS partial failures (review s46-sched), as a property: random
 * interleavings of materializer runs, delivery of due occurrences, and an operator's pause, resume, delete, run now
 * and PATCH of an occurrence, while any store call of any of them may fail once: refused before it landed, applied
 * with its answer lost (the caller sees an error), or applied and resent by the SDK (the caller sees the resend's
 * answer: a conditional write's refusal, a claim found taken). Each through its real service on the memory store.
 * Delivery is modelled as deliver's schedule check (shared/domain/occurrence-hold.ts, as held-occurrence.ts runs it:
 * read the schedule, cancel a stopped one's occurrence with the operator's cancel) followed by the call, atomically.
 * Checked: each occurrence instant called at most once; none of an epoch called after a pause or delete of that epoch
 * answered 200 (save an occurrence moved past its occurrence time, docs/API.md "Pause"); and, once the faults stop
 * and the materializer and delivery have run a few minutes, every occurrence of the active (or ended) epoch from its
 * start on called, none left out (under `catch_up` `latest` and `none`, which skip what a run finds missed, those due
 * since the drain began). Played for each policy, with and without an end_at, at a 10 s and a one-second pace (the
 * latter's stops overrun their write budget) and across New York's DST changes.
 */

const FAULTED_METHODS = [
  "updateSchedule",
  "getSchedule",
  "claimIdempotencyKey",
  "putNew",
  "get",
  "cancel",
  "findIdempotencyClaim",
  "markRescheduled",
  "moveIdempotencyClaim",
  "settleRescheduled",
  "restoreFanOutParent",
  "listSchedulesDue",
] as const;

const fault = fc.record({
  method: fc.constantFrom(...FAULTED_METHODS),
  /** Which of that method's next calls fails (from 0). */
  nth: fc.integer({ min: 0, max: 2 }),
  kind: fc.constantFrom("refused" as const, "lost" as const, "resent" as const),
});

const step = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("materialize" as const) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("deliver" as const) }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
  },
  // To an occurrence instant (every 10 s) exactly, or a millisecond either side: a stop or resume at its instant.
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("toInstant" as const),
      offset: fc.integer({ min: -1, max: 1 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("pause" as const), repeat: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("resume" as const), repeat: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), repeat: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("runNow" as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("patch" as const),
      pick: fc.nat(),
      delaySeconds: fc.integer({ min: 0, max: 60 }),
    }),
  },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("fault" as const), fault }) },
  // A call stalled at its `at`-th store call (a Lambda paused, a slow network), going on `after` steps later.
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("stall" as const),
      call: fc.constantFrom("materialize" as const, "pause" as const, "resume" as const, "delete" as const),
      at: fc.integer({ min: 0, max: 12 }),
      after: fc.integer({ min: 1, max: 6 }),
    }),
  },
  // Two calls side by side (their store calls interleave): a run beside another run or an operator's stop or resume.
  // Not delivery beside a stop: an attempt begun before the stop answered may end after it (docs/API.md "Pause").
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("together" as const),
      first: fc.constantFrom("materialize" as const, "pause" as const, "resume" as const),
      second: fc.constantFrom("materialize" as const, "pause" as const, "resume" as const, "delete" as const),
    }),
  },
);

type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;
type Fault = typeof fault extends fc.Arbitrary<infer F> ? F : never;

interface Call {
  readonly occurrenceMs: number;
  readonly epoch: number;
  readonly seq: number;
  readonly atMs: number;
  /** Moved by an operator and past its occurrence time: no longer the schedule's (scheduleToCheck). */
  readonly unchecked: boolean;
  /** Moved by an operator (PATCH, run now). */
  readonly moved: boolean;
}

/** A fault armed on a method's `call`-th call (from 0, counted since the store was made). */
type Armed = Fault & { readonly call: number };

/** The memory store, each method of FAULTED_METHODS failing once as the armed faults say (`fired` counts them). */
function faultyStore(
  store: MemoryTaskStore,
  pending: Armed[],
  counts: Map<string, number>,
  fired: { n: number },
) {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || !(FAULTED_METHODS as readonly string[]).includes(String(prop))) {
        return typeof value === "function" ? value.bind(target) : value;
      }
      return async (...args: unknown[]) => {
        const n = counts.get(String(prop)) ?? 0;
        counts.set(String(prop), n + 1);
        const at = pending.findIndex((f) => f.method === prop && f.call === n);
        if (at < 0) return value.apply(target, args);
        const { kind } = pending.splice(at, 1)[0] as Armed;
        fired.n++;
        if (kind === "refused")
          throw Object.assign(new Error(`${String(prop)} refused`), { $fault: "server" });
        await value.apply(target, args);
        if (kind === "lost")
          throw Object.assign(new Error(`${String(prop)} answer lost`), { $fault: "server" });
        // Resent by the SDK: the answer the caller sees is the second attempt's.
        return value.apply(target, args);
      };
    },
  });
}

function world(startIso: string) {
  const clock = new ManualClock(Date.parse(startIso));
  const store = new MemoryTaskStore();
  const pending: Armed[] = [];
  const counts = new Map<string, number>();
  const fired = { n: 0 };
  const deps: ScheduleRouteDeps & MaterializerRunDeps & { readonly store: MemoryTaskStore } = {
    store: faultyStore(store, pending, counts, fired),
    timerQueue: new FakeTimerQueue(clock.now),
    scheduler: new FakeScheduler(),
    config: simConfig(),
    now: clock.now,
  };
  return {
    clock,
    store,
    pending,
    counts,
    fired,
    deps,
    calls: [] as Call[],
    /** The seq at which a stop of each epoch first answered 200. */
    stoppedAt: new Map<number, number>(),
    /** Each epoch's first instant (the clock when the call that started it ran). */
    epochStart: new Map<number, number>(),
    /** When the drain began (the materializer running every 20 s from then on). */
    drainedFromMs: 0,
    /** Calls stalled: released once `left` more steps have run (or when draining). */
    stalls: [] as { left: number; release: () => void; done: Promise<void> }[],
    /** The event counter (shared by a stalled call's copy of the world). */
    events: { seq: 0 },
    problems: [] as string[],
  };
}

type World = ReturnType<typeof world>;

type CatchUp = "all" | "latest" | "none";

/**
 * Every 10 s with a small content; or every second with 30 KB, whose stop and resume overrun their inline write budget
 * (INLINE_WRITE_UNITS): the pause leaves cancels to delivery, the resume's pass leaves occurrences to the materializer.
 * Or every 10 s in New York from 10 s before its spring-forward (2027-03-14, 02:00 EST is 03:00 EDT), or every 10 s of
 * 01:xx local from 10 s before its fall-back (2027-11-07: 01:xx comes twice).
 */
const SCENES = {
  tenSeconds: { startIso: "2027-03-14T06:59:50.300Z", cron: "*/10 * * * * *", timezone: "UTC", bytes: 4 },
  heavySecond: { startIso: "2027-03-14T06:59:50.300Z", cron: "* * * * * *", timezone: "UTC", bytes: 30_000 },
  springForward: {
    startIso: "2027-03-14T06:59:50.300Z",
    cron: "*/10 * * * * *",
    timezone: "America/New_York",
    bytes: 4,
  },
  fallBack: {
    startIso: "2027-11-07T05:59:50.300Z",
    cron: "*/10 * 1 * * *",
    timezone: "America/New_York",
    bytes: 4,
  },
} as const;

type Pace = keyof typeof SCENES;

const body = (catchUp: CatchUp, pace: Pace, endAfterMs?: number) =>
  parse(
    JSON.stringify({
      topic: "demo",
      ...(endAfterMs !== undefined && {
        end_at: new Date(Date.parse(SCENES[pace].startIso) + endAfterMs).toISOString(),
      }),
      catch_up: catchUp,
      cron: SCENES[pace].cron,
      timezone: SCENES[pace].timezone,
      content: { order_id: "o-1", note: "x".repeat(SCENES[pace].bytes) },
      callback: { url: "https://receiver.example/hook" },
    }),
  );

/** A call the client makes: a 4xx or 5xx is an answer it may see; anything else thrown is a defect. */
async function client<T>(w: World, call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (isHttpError(error)) return undefined;
    if ((error as { $fault?: string }).$fault) return undefined;
    w.problems.push(`unexpected error: ${String(error)}`);
    return undefined;
  }
}

/**
 * The sweeper's part: a move that stopped after marking its old item (still in the sweep index) is finished once
 * that item's due time has passed (sweeper/repair.ts, finishReschedules: the same steps as completeMove).
 */
async function sweep(w: World): Promise<void> {
  const nowMs = w.clock.nowMs;
  for (const old of [...w.store.tasks.values()]) {
    if (old.status !== "rescheduled" || old.sweepShard === undefined || old.dueAtMs > nowMs) continue;
    await client(w, () => completeMove(w.deps, old));
  }
}

/** Deliver's check and call of every due occurrence (held-occurrence.ts), one by one. */
async function deliver(w: World, id: string): Promise<void> {
  await sweep(w);
  const nowMs = w.clock.nowMs;
  const due = [...w.store.tasks.values()].filter(
    (t) => (t.status === "scheduled" || t.status === "queued") && t.dueAtMs <= nowMs,
  );
  for (const task of due.sort((a, b) => a.dueAtMs - b.dueAtMs)) {
    try {
      const checked = scheduleToCheck(task, nowMs);
      if (checked !== undefined) {
        const stop = occurrenceStop(task, await w.deps.store.getSchedule(checked));
        if (stop) {
          const result = await w.deps.store.cancel(task.taskId, nowMs, nowMs / 1000 + 86_400, {
            awaitingRetry: true,
          });
          if (result.outcome === "not-found" || TERMINAL_STATUSES.has(result.task?.status ?? "cancelled"))
            continue;
          if (result.outcome === "cancelled") continue;
        }
      }
      const current = w.store.tasks.get(task.taskId);
      if (!current || (current.status !== "scheduled" && current.status !== "queued")) continue;
      w.store.tasks.set(task.taskId, { ...current, status: "delivered" });
      const occurrence = occurrenceOfKey(current.idempotencyKey);
      if (!occurrence || current.scheduleId !== id) continue;
      w.calls.push({
        ...occurrence,
        seq: ++w.events.seq,
        atMs: nowMs,
        unchecked: checked === undefined,
        moved: current.rescheduledFrom !== undefined,
      });
    } catch (error) {
      if (!(error as { $fault?: string }).$fault) w.problems.push(`deliver: ${String(error)}`);
    }
  }
}

function pick(w: World, id: string, n: number) {
  const live = [...w.store.tasks.values()]
    .filter((t) => t.scheduleId === id && t.status === "scheduled")
    .sort((a, b) => a.dueAtMs - b.dueAtMs);
  return live.length === 0 ? undefined : live[n % live.length];
}

async function play(w: World, id: string, s: Step): Promise<void> {
  switch (s.kind) {
    case "materialize":
      await client(w, () => runMaterializer(w.deps));
      return;
    case "deliver":
      return deliver(w, id);
    case "advance":
      w.clock.advance(s.ms);
      return;
    case "stall": {
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let calls = 0;
      const store = new Proxy(w.deps.store, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver);
          if (typeof value !== "function") return value;
          return async (...args: unknown[]) => {
            if (calls++ === s.at) await gate;
            return value.apply(target, args);
          };
        },
      });
      const stalled = { ...w, deps: { ...w.deps, store } };
      const done = play(stalled, id, { kind: s.call, repeat: false } as Step);
      w.stalls.push({ left: s.after, release, done });
      return;
    }
    case "together":
      await Promise.all([
        play(w, id, { kind: s.first, repeat: false } as Step),
        play(w, id, { kind: s.second, repeat: false } as Step),
      ]);
      return;
    case "toInstant":
      w.clock.nowMs = (Math.floor(w.clock.nowMs / 10_000) + 1) * 10_000 + s.offset;
      return;
    case "fault":
      w.pending.push({ ...s.fault, call: (w.counts.get(s.fault.method) ?? 0) + s.fault.nth });
      return;
    case "runNow": {
      const task = pick(w, id, s.pick);
      if (task) await client(w, () => runTask(w.deps, task.taskId));
      return;
    }
    case "patch": {
      const task = pick(w, id, s.pick);
      if (task) await client(w, () => rescheduleTask(w.deps, task.taskId, { delay_seconds: s.delaySeconds }));
      return;
    }
    case "resume": {
      const before = w.store.schedules.get(id)?.epoch;
      for (let i = 0; i < (s.repeat ? 2 : 1); i++) await client(w, () => resumeSchedule(w.deps, id));
      const after = w.store.schedules.get(id)?.epoch;
      if (after !== undefined && after !== before) w.epochStart.set(after, w.clock.nowMs);
      return;
    }
    case "pause":
    case "delete": {
      const epoch = w.store.schedules.get(id)?.epoch as number;
      const stop = s.kind === "pause" ? pauseSchedule : deleteSchedule;
      for (let i = 0; i < (s.repeat ? 2 : 1); i++) {
        const answer = await client(w, () => stop(w.deps, id));
        if (answer?.cancels_deferred) coverage.deferred++;
        if (answer && !w.stoppedAt.has(epoch)) w.stoppedAt.set(epoch, ++w.events.seq);
      }
      return;
    }
  }
}

async function releaseStalls(w: World, due: (stall: World["stalls"][number]) => boolean): Promise<void> {
  const released = w.stalls.filter(due);
  w.stalls = w.stalls.filter((stall) => !released.includes(stall));
  for (const stall of released) {
    stall.release();
    await stall.done;
  }
}

/** Faults off: the materializer and delivery run every 20 s for five minutes. */
async function drain(w: World, id: string): Promise<void> {
  w.pending.length = 0;
  w.drainedFromMs = w.clock.nowMs;
  for (let i = 0; i < 15; i++) {
    await client(w, () => runMaterializer(w.deps));
    await deliver(w, id);
    w.clock.advance(20_000);
  }
  await deliver(w, id);
}

/**
 * Whether `call` is of an instant an earlier epoch called ahead of its time (run now, moved earlier): a resume before
 * that instant carries it into the new epoch, which does not call it again (called-ahead.ts), so it is not owed there.
 */
function calledAheadByAnEarlierEpoch(call: Call, epoch: number): boolean {
  return call.moved && call.epoch < epoch && call.atMs < call.occurrenceMs;
}

function check(w: World, id: string): string[] {
  const problems = [...w.problems];
  const byInstant = new Map<number, Call[]>();
  for (const call of w.calls)
    byInstant.set(call.occurrenceMs, [...(byInstant.get(call.occurrenceMs) ?? []), call]);
  for (const [ms, calls] of byInstant)
    if (calls.length > 1)
      problems.push(`occurrence ${new Date(ms).toISOString()} called ${calls.length} times`);
  for (const call of w.calls) {
    const stopped = w.stoppedAt.get(call.epoch);
    if (stopped !== undefined && call.seq > stopped && !call.unchecked)
      problems.push(
        `occurrence ${new Date(call.occurrenceMs).toISOString()} of epoch ${call.epoch} called after its stop answered`,
      );
  }
  const schedule = w.store.schedules.get(id);
  // Ended in its epoch (a run made its last occurrences) owes them as an active one does.
  const live = schedule?.status === "active" || schedule?.status === "ended";
  if (schedule && live) {
    // Under `latest` and `none` a run skips what it finds missed (due over 5 minutes before it): only what fell due
    // during the drain, whose runs come every 20 s, is owed whatever the policy.
    const started = w.epochStart.get(schedule.epoch) as number;
    const from = (schedule.catchUp ?? "all") === "all" ? started : Math.max(started, w.drainedFromMs);
    // Due by a minute before the drain's end: every one of them must have been called.
    const owed = occurrencesBetween(specOf(schedule), from, w.clock.nowMs - 60_000, 10_000);
    const called = new Set(
      w.calls
        .filter((c) => c.epoch === schedule.epoch || calledAheadByAnEarlierEpoch(c, schedule.epoch))
        .map((c) => c.occurrenceMs),
    );
    const missing = owed.filter((ms) => !called.has(ms));
    if (missing.length > 0)
      problems.push(
        `active epoch ${schedule.epoch}: ${missing.length} occurrences never called, first ${new Date(missing[0] as number).toISOString()}`,
      );
  }
  return problems;
}

async function scenario(
  steps: readonly Step[],
  catchUp: CatchUp = "all",
  pace: Pace = "tenSeconds",
  endAfterMs?: number,
): Promise<string[]> {
  const w = world(SCENES[pace].startIso);
  const created = await createSchedule(w.deps, body(catchUp, pace, endAfterMs));
  const id = created.schedule_id;
  w.epochStart.set(w.store.schedules.get(id)?.epoch as number, w.clock.nowMs);
  for (const s of steps) {
    await play(w, id, s);
    await releaseStalls(w, (stall) => --stall.left <= 0);
  }
  await releaseStalls(w, () => true);
  await drain(w, id);
  coverage.faults += w.fired.n;
  coverage.calls += w.calls.length;
  coverage.stops += w.stoppedAt.size;
  coverage.resumed += w.epochStart.size - 1;
  if (w.store.schedules.get(id)?.status === "ended") coverage.ended++;
  return check(w, id);
}

/** What the runs exercised: the property is vacuous if no fault fires, nothing is called, nothing stopped. */
const coverage = { faults: 0, calls: 0, stops: 0, resumed: 0, deferred: 0, ended: 0 };

async function holds(pace: Pace, runs: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(
      fc.array(step, { minLength: 5, maxLength: 40 }),
      fc.constantFrom<CatchUp>("all", "all", "latest", "none"),
      // An end_at from a minute to 7 minutes on: runs and resumes that end it.
      fc.option(fc.integer({ min: 60_000, max: 420_000 }), { freq: 3 }),
      async (steps, catchUp, endAfterMs) => {
        expect(await scenario(steps, catchUp, pace, endAfterMs ?? undefined)).toEqual([]);
      },
    ),
    propertyRuns(runs),
  );
  expect(coverage.faults).toBeGreaterThan(0);
  expect(coverage.calls).toBeGreaterThan(0);
  expect(coverage.stops).toBeGreaterThan(0);
  expect(coverage.resumed).toBeGreaterThan(0);
  expect(coverage.ended).toBeGreaterThan(0);
  if (process.env.SCHEDULE_FAULTS_COVERAGE) console.log(pace, coverage);
}

describe("a schedule's occurrences under lost, refused and resent store writes (review s46-sched)", () => {
  it(
    "calls each occurrence at most once, none after its epoch's stop answered, and every one of the active epoch once drained",
    () => holds("tenSeconds", 60),
    60_000 * propertyScale(),
  );

  it(
    "the same for a one-second schedule of 30 KB, whose stops and resumes overrun their inline write budget",
    async () => {
      const deferred = coverage.deferred;
      await holds("heavySecond", 10);
      expect(coverage.deferred).toBeGreaterThan(deferred);
    },
    60_000 * propertyScale(),
  );

  it.each(["springForward", "fallBack"] as const)(
    "the same across New York's DST change (%s)",
    (pace) => holds(pace, 15),
    60_000 * propertyScale(),
  );
});

/** A five-second cron on the ten-second scene, its epoch 0 started now: its runs make occurrences minutes ahead. */
async function createFiveSecondSchedule(w: World): Promise<string> {
  const fiveSeconds = { ...(body("all", "tenSeconds") as Record<string, unknown>), cron: "*/5 * * * * *" };
  const { schedule_id: id } = await createSchedule(w.deps, fiveSeconds);
  w.epochStart.set(0, w.clock.nowMs);
  return id;
}

/** Runs now the occurrence a materializer run made at `instant`, and delivers it (epoch 0 calls it, moved). */
async function runNowAndDeliver(w: World, id: string, instant: number): Promise<void> {
  const ahead = [...w.store.tasks.values()].find((t) => t.scheduleId === id && t.dueAtMs === instant);
  if (!ahead) throw new Error(`the run made no occurrence at ${new Date(instant).toISOString()}`);
  await runTask(w.deps, ahead.taskId);
  await deliver(w, id);
}

/** Pauses and resumes twice with no run between, epochs 1 and 2 starting at each resume, `stepMs` after each. */
async function pauseAndResumeTwice(w: World, id: string, stepMs: number): Promise<void> {
  for (const epoch of [1, 2]) {
    await pauseSchedule(w.deps, id);
    await resumeSchedule(w.deps, id);
    w.epochStart.set(epoch, w.clock.nowMs);
    w.clock.advance(stepMs);
  }
}

describe("an occurrence run ahead of its time, then a pause and a resume before that time (s46-sched, fixed s46-schedfix)", () => {
  // No fault needed: `run` moves the 07:00:00 occurrence to now and it is called; a pause finds its task final and
  // passes over it; the resume, at 06:59:50, starts a new epoch from now, whose keys are new. It must not make
  // 07:00:00 again: the resume carries the called task into the new epoch's key (called-ahead.ts).
  it("its instant is called once, not again by the resumed epoch", async () => {
    // Prepare
    const w = world(SCENES.tenSeconds.startIso);
    const { schedule_id: id } = await createSchedule(w.deps, body("all", "tenSeconds"));
    w.epochStart.set(0, w.clock.nowMs);
    const next = pick(w, id, 0);
    if (!next) throw new Error("the create made no occurrence");

    // Act
    await runTask(w.deps, next.taskId);
    await deliver(w, id);
    await pauseSchedule(w.deps, id);
    await resumeSchedule(w.deps, id);
    w.clock.advance(20_000);
    await deliver(w, id);

    // Assess
    const calls = w.calls.filter((c) => c.occurrenceMs === Date.parse("2027-03-14T07:00:00.000Z"));
    expect(calls.map((c) => c.epoch)).toEqual([0]);
  });

  it("moved earlier instead (PATCH), called, then paused and resumed twice before its time: called once, and every later occurrence of the last epoch called", async () => {
    // Prepare: the 07:00:00 occurrence moved to 06:59:52.3 and called there.
    const w = world(SCENES.tenSeconds.startIso);
    const { schedule_id: id } = await createSchedule(w.deps, body("all", "tenSeconds"));
    w.epochStart.set(0, w.clock.nowMs);
    const next = pick(w, id, 0);
    if (!next) throw new Error("the create made no occurrence");
    await rescheduleTask(w.deps, next.taskId, { delay_seconds: 2 });
    w.clock.advance(3_000);
    await deliver(w, id);

    // Act: the second resume reads the first resumed epoch's keys, which name the task epoch 0 called.
    await pauseAndResumeTwice(w, id, 1_000);
    await drain(w, id);

    // Assess
    const calls = w.calls.filter((c) => c.occurrenceMs === Date.parse("2027-03-14T07:00:00.000Z"));
    expect(calls.map((c) => [c.epoch, c.moved])).toEqual([[0, true]]);
    expect(w.store.schedules.get(id)?.epoch).toBe(2);
    expect(check(w, id)).toEqual([]);
  });

  // A resume carries an instant called ahead into its new epoch's key (called-ahead.ts), but reads the paused epoch
  // only up to that epoch's cursor. A resumed epoch's cursor is where its inline pass stopped (25 occurrences: 125 s of
  // a five-second cron), short of the 4 minutes the first epoch's runs made ahead: paused again before a run moved it,
  // the carried claim lay past the cursor, the second resume did not read it, and its epoch called the instant again.
  it("run now 3½ minutes ahead (a five-second cron), then paused and resumed twice before a run: called once", async () => {
    // Prepare: the runs have made four minutes ahead; the occurrence at 07:03:20 is run now and called.
    const w = world(SCENES.tenSeconds.startIso);
    const id = await createFiveSecondSchedule(w);
    await runMaterializer(w.deps);
    const instant = Date.parse("2027-03-14T07:03:20.000Z");
    await runNowAndDeliver(w, id, instant);

    // Act: the first resumed epoch's cursor stops near 07:01:55, before 07:03:20; no run comes before the second.
    await pauseAndResumeTwice(w, id, 1_000);
    await drain(w, id);

    // Assess
    const calls = w.calls.filter((c) => c.occurrenceMs === instant);
    expect(calls.map((c) => [c.epoch, c.moved])).toEqual([[0, true]]);
    expect(check(w, id)).toEqual([]);
  });

  // The carry reads up to the horizon from the resume's own clock; the claims it must find were written up to the
  // horizon from another function's clock (the materializer's run, an earlier resume), on another host. A run whose
  // clock read 10 ms ahead made 07:04:00 (its now + 4 minutes); the API's clock, 10 ms behind, then reads up to
  // 07:03:59.99x: the second resume missed the instant the first carried, and its epoch called it again.
  it("the materializer's clock 10 ms ahead of the API's: run now at the horizon's very end, paused and resumed twice, called once", async () => {
    // Prepare: the run, at 07:00:00.000 on its clock, makes up to 07:04:00; the API's clock then reads 06:59:59.990.
    const w = world(SCENES.tenSeconds.startIso);
    const id = await createFiveSecondSchedule(w);
    w.clock.set("2027-03-14T07:00:00.000Z");
    await runMaterializer(w.deps);
    w.clock.set("2027-03-14T06:59:59.990Z");
    const instant = Date.parse("2027-03-14T07:04:00.000Z");
    await runNowAndDeliver(w, id, instant);

    // Act: two pauses and resumes a millisecond apart, before any run.
    await pauseAndResumeTwice(w, id, 1);
    await drain(w, id);

    // Assess
    const calls = w.calls.filter((c) => c.occurrenceMs === instant);
    expect(calls.map((c) => [c.epoch, c.moved])).toEqual([[0, true]]);
    expect(check(w, id)).toEqual([]);
  });
});
