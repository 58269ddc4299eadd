import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bySortKey, parseTaskId } from "#shared/domain/keys.js";
import { HTTP } from "../../support/fakes/callbacks.js";
import { propertyRuns } from "../../support/fast-check-runs.js";
import { QUEUE_URL, type Sim, simulate } from "../../support/pipeline-sim.js";

/**
 * The timer stage (relay, sweeper) under a hostile world, as one property: random interleavings of adds (near-term
 * and Scheduler-path, some written up to 10 s after their due time was floored or re-created by an idempotent
 * retry, some with their timer message late), cancels, moves, relay runs that die before their batch is
 * acknowledged or whose SendMessageBatch fails part-way (a whole call refused), re-arms that fail, deliver runs
 * with failing receivers or a read-free start refunded unused (its answer lost: the task `scheduled` again, its start
 * on record), and sweeper runs overlapping the relay and deliver — then a long drain. Checked from
 * outside, as the chaos run checks the local cloud: every accepted task ends delivered or dead-lettered (a
 * cancelled one cancelled and never called, a moved one `rescheduled`), no callback before its task's due time,
 * and each group's first callbacks in group order wherever the chaos checker's rule asks it: the earlier task
 * acknowledged before the later one was due (a late write may sort before a task already called; a moved task's
 * new id aside: it goes behind what was already due when it moved, docs/API.md "reschedule", which its sort key,
 * keeping the acceptance ULID, does not say). Between steps, a `scheduled` task with a start on record has its
 * record on the FIFO queue (unless a step lost it): the relay and the sweeper's timer grace leave such a task to
 * it. No message is lost here (a loss reorders by itself: the sweeper's crash-point specs cover those), and a
 * refused entry is never followed by an accepted one of its group in the same call: that is the documented known limit (docs/RELIABILITY.md, "One SendMessageBatch per wave"), pinned in
 * waiting-in-fifo.test.ts.
 */

/** An add to one of `groups` groups, due after one of `delaySeconds`. */
const addStep = (groups: number, delaySeconds: fc.Arbitrary<number>) =>
  fc.record({
    kind: fc.constant("add" as const),
    group: fc.integer({ min: 0, max: groups - 1 }),
    delaySeconds,
    // Up to 4 failing answers: past the topic's 3 attempts the task is dead-lettered.
    failures: fc.integer({ min: 0, max: 4 }),
    // A write landing late: accepted (its due time floored, its ULID drawn) up to 10 s before it lands, the API
    // routes' bound; or a first write that failed, re-created by the idempotent retry with its original due.
    late: fc.option(fc.record({ byMs: fc.integer({ min: 1, max: 10_000 }), firstWriteFails: fc.boolean() }), {
      freq: 2,
    }),
    // Its timer message late (a standard queue promises no time; a throttled poller).
    timerLateMs: fc.option(fc.integer({ min: 1_000, max: 60_000 }), { freq: 2 }),
  });

const relayStep = fc.record({
  kind: fc.constant("relay" as const),
  dies: fc.boolean(),
  refusedAt: fc.option(fc.integer({ min: 0, max: 2 })),
});

/**
 * A deliver run whose first read-free start is written and its answer lost (the SDK gave up, or the watchdog cut
 * it off): deliver refunds that start unused, which gives the task back the status it came from (`scheduled` for
 * a task the relay handed over, its start kept on record), and the record goes back to the FIFO queue's head.
 */
const unusedStartStep = fc.record({
  kind: fc.constant("unusedStart" as const),
  messages: fc.integer({ min: 1, max: 3 }),
});

/** Weighted toward what makes groups meet in one send: adds, relay runs and short waits. */
const step = fc.oneof(
  {
    weight: 4,
    arbitrary: addStep(
      3,
      fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 19 }) },
        { weight: 1, arbitrary: fc.integer({ min: 150, max: 449 }) },
      ),
    ),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cancel" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("move" as const),
      pick: fc.nat(),
      delaySeconds: fc.integer({ min: 0, max: 29 }),
    }),
  },
  { weight: 3, arbitrary: relayStep },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("deliver" as const), messages: fc.integer({ min: 1, max: 5 }) }),
  },
  { weight: 1, arbitrary: unusedStartStep },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("overlap" as const),
      failedRearm: fc.option(fc.nat()),
      withDeliver: fc.boolean(),
    }),
  },
  // SQS refusing every send for a while: the relay and a sweeper run meanwhile.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("outage" as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 0, max: 30_000 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 400_000 }) },
      ),
    }),
  },
);
/** A message SQS had accepted, gone (purged by hand, or moved by a queue's receive-count backstop). */
const loss = fc.record({
  kind: fc.constant("lose" as const),
  pick: fc.nat(),
  queue: fc.constantFrom("timer" as const, "fifo" as const),
});
const stepWithLosses = fc.oneof({ weight: 15, arbitrary: step }, { weight: 1, arbitrary: loss });
/**
 * Late writes meeting started tasks: one group, adds seconds apart and due at once or soon, half of them written
 * late, relay runs and deliveries between them. What a late write needs to be overtaken: a later task of its group
 * started before it landed, and its own timer message late or its send refused.
 */
const lateWriteStep = fc.oneof(
  { weight: 4, arbitrary: addStep(1, fc.integer({ min: 0, max: 5 })) },
  { weight: 3, arbitrary: relayStep },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("deliver" as const), messages: fc.integer({ min: 1, max: 5 }) }),
  },
  { weight: 1, arbitrary: unusedStartStep },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 12_000 }) }),
  },
);
type Loss = typeof loss extends fc.Arbitrary<infer L> ? L : never;
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;

interface World {
  readonly sim: Sim;
  readonly accepted: string[];
  readonly cancelled: Set<string>;
  readonly moved: Set<string>;
  /** A moved task's new id: it keeps its acceptance ULID but goes behind what was already due (docs/API.md). */
  readonly successors: Set<string>;
  readonly calls: { readonly id: string; readonly atMs: number; readonly ok: boolean }[];
  /** When each add was answered 2xx (sim clock, and the step: one clock reading spans many steps). */
  readonly acks: Map<string, Ack>;
  steps: number;
  lastSweepMs: number;
  /** The next read-free start's answer is lost (`unusedStart`). */
  loseStartAnswer: boolean;
  /** Read-free starts whose answer was lost, so refunded unused. */
  unusedStarts: number;
  /** Broken rules seen between steps (`handedOverWithoutRecord`). */
  readonly problems: string[];
  /** Tasks whose FIFO record a `lose` step removed: one may then be without it. */
  readonly lostRecords: Set<string>;
}

interface Ack {
  readonly atMs: number;
  readonly step: number;
  /** Accepted before it was written: its request began before steps already played. */
  readonly late: boolean;
}

function world(relayMemory: boolean, indexNearTermTasks = true, sweeperSkewMs = 0): World {
  const sim = simulate({ sweeper: { indexNearTermTasks }, relayMemory });
  // The sweeper's host clock may run ahead of or behind the others'.
  Object.assign(sim.sweeperDeps, { clock: () => sim.clock.now + sweeperSkewMs });
  const w: World = {
    sim,
    accepted: [],
    cancelled: new Set(),
    moved: new Set(),
    successors: new Set(),
    calls: [],
    acks: new Map(),
    steps: 0,
    lastSweepMs: sim.clock.now,
    loseStartAnswer: false,
    unusedStarts: 0,
    problems: [],
    lostRecords: new Set(),
  };
  hookStartAttempt(w);
  const post = sim.callbacks.post.bind(sim.callbacks);
  sim.callbacks.post = async (request) => {
    const result = await post(request);
    w.calls.push({ id: request.headers["webhook-id"] ?? "", atMs: sim.clock.now, ok: result.ok });
    return result;
  };
  return w;
}

const picked = (w: World, pick: number) => w.accepted[pick % w.accepted.length] as string;

async function addTask(w: World, s: Extract<Step, { kind: "add" }>) {
  const id = await w.sim.add(
    { order_id: `g${s.group}`, n: w.accepted.length },
    { delay_seconds: s.delaySeconds },
    s.late === null ? {} : { lateByMs: s.late.byMs, firstWriteFails: s.late.firstWriteFails },
  );
  w.accepted.push(id);
  w.acks.set(id, { atMs: w.sim.clock.now, step: w.steps, late: s.late !== null });
  if (s.failures > 0) w.sim.callbacks.answer(id, ...Array.from({ length: s.failures }, () => HTTP(503)));
  if (s.timerLateMs !== null)
    for (const m of w.sim.timer.messages) if (m.taskId === id) m.visibleAtMs += s.timerLateMs;
}

async function moveTask(w: World, s: Extract<Step, { kind: "move" }>) {
  const id = picked(w, s.pick);
  const view = await w.sim.reschedule(id, { delay_seconds: s.delaySeconds }).catch(() => undefined);
  const to = (view as { task_id?: string } | undefined)?.task_id;
  if (to !== undefined && to !== id) {
    w.moved.add(id);
    w.successors.add(to);
    w.accepted.push(to);
  }
}

async function relayOnce(w: World, s: Extract<Step, { kind: "relay" }>) {
  if (s.refusedAt !== null) {
    let calls = 1;
    w.sim.fifo.failNext = () =>
      calls-- > 0 ? { failAt: s.refusedAt as number, error: "Throttled" } : undefined;
  }
  await w.sim.runRelay({ dieBeforeAck: s.dies });
  w.sim.fifo.failNext = undefined;
}

/** The next read-free start (`startAttempt`) is written, then answered with an SDK timeout. */
function loseNextStartAnswer(w: World) {
  w.loseStartAnswer = true;
}

/** Hooks the store's `startAttempt` for `loseNextStartAnswer`. */
function hookStartAttempt(w: World) {
  const store = w.sim.store;
  const start = store.startAttempt.bind(store);
  store.startAttempt = async (...args: Parameters<typeof start>) => {
    const started = await start(...args);
    if (!w.loseStartAnswer || started === undefined) return started;
    w.loseStartAnswer = false;
    w.unusedStarts++;
    throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
  };
}

async function overlap(w: World, s: Extract<Step, { kind: "overlap" }>) {
  if (s.failedRearm !== null && w.accepted.length > 0) w.sim.timer.failTaskIds.add(picked(w, s.failedRearm));
  await Promise.all([w.sim.sweep(), w.sim.runRelay(), s.withDeliver ? w.sim.runDeliver(2) : undefined]);
  w.sim.timer.failTaskIds.clear();
}

async function play(w: World, s: Step | Loss) {
  w.steps++;
  if (s.kind === "lose") {
    const id = w.accepted.length > 0 ? picked(w, s.pick) : undefined;
    if (id !== undefined) (s.queue === "timer" ? w.sim.timer : w.sim.fifo).lose(id);
    if (id !== undefined && s.queue === "fifo") w.lostRecords.add(id);
  } else if (s.kind === "add") await addTask(w, s);
  else if (s.kind === "cancel" && w.accepted.length > 0) {
    const id = picked(w, s.pick);
    const out = await w.sim.store.cancel(id, w.sim.clock.now, Number.MAX_SAFE_INTEGER);
    if (out.outcome === "cancelled") w.cancelled.add(id);
  } else if (s.kind === "move" && w.accepted.length > 0) await moveTask(w, s);
  else if (s.kind === "relay") await relayOnce(w, s);
  else if (s.kind === "deliver") await w.sim.runDeliver(s.messages);
  else if (s.kind === "unusedStart") {
    loseNextStartAnswer(w);
    await w.sim.runDeliver(s.messages);
    w.loseStartAnswer = false;
  } else if (s.kind === "overlap") await overlap(w, s);
  else if (s.kind === "outage") {
    w.sim.fifo.failSends = true;
    await Promise.all([w.sim.runRelay(), w.sim.sweep()]);
    w.sim.fifo.failSends = false;
  } else if (s.kind === "advance") w.sim.advance(s.ms);
  // The sweeper's rule: once a minute.
  if (w.sim.clock.now - w.lastSweepMs >= 60_000) {
    w.lastSweepMs = w.sim.clock.now;
    await w.sim.sweep();
  }
  w.problems.push(...handedOverWithoutRecord(w));
}

/**
 * The relay leaves a `scheduled` task with a start on record alone (relay.ts `handedOver`) and the sweeper gives it
 * the stall window, not the timer grace (repair.ts `isStalled`): both count on its record still being on the FIFO
 * queue. Where nothing was lost, one without a record would wait for the stall window, late.
 */
function handedOverWithoutRecord(w: World): string[] {
  const onQueue = new Set(w.sim.fifo.idsIn(QUEUE_URL));
  return [...w.sim.store.tasks.values()]
    .filter((t) => t.status === "scheduled" && t.lastAttemptAtMs !== undefined)
    .filter((t) => !onQueue.has(t.taskId) && !w.lostRecords.has(t.taskId))
    .map((t) => `${t.taskId} is scheduled with a start on record (step ${w.steps}) and no FIFO record`);
}

/** Two hours of the functions running on their own: what is still undone then never will be. */
async function drain(w: World) {
  for (let i = 0; i < 240; i++) {
    w.sim.advance(30_000);
    await w.sim.runRelay();
    await w.sim.runDeliver();
    if (i % 2 === 0) await w.sim.sweep();
  }
}

function endStateProblems(w: World): string[] {
  const problems: string[] = [...w.problems];
  for (const id of w.accepted) {
    const status = w.sim.status(id);
    if (w.cancelled.has(id)) {
      if (status !== "cancelled") problems.push(`cancelled ${id} ends ${status}`);
      if (w.calls.some((c) => c.id === id)) problems.push(`cancelled ${id} was called`);
    } else if (w.moved.has(id)) {
      if (status !== "rescheduled") problems.push(`moved ${id} ends ${status}`);
    } else if (status !== "delivered" && status !== "failed") problems.push(`${id} ends ${status}`);
  }
  for (const { id, atMs } of w.calls) {
    const due = parseTaskId(id)?.dueAtMs ?? Number.POSITIVE_INFINITY;
    if (atMs < due) problems.push(`${id} called ${due - atMs} ms before due`);
  }
  return problems;
}

/**
 * The chaos checker's rule (chaos/verify/order.ts): for X before Y in a group's order, X acknowledged before Y was
 * due goes first — its first callback, and its first successful one, before Y's. A task written late may sort
 * before one already called; only if it was acknowledged after that one came due.
 */
function orderProblems(w: World): string[] {
  const firstCall = new Map<string, number>();
  const firstSuccess = new Map<string, number>();
  w.calls.forEach(({ id, ok }, i) => {
    if (!firstCall.has(id)) firstCall.set(id, i);
    if (ok && !firstSuccess.has(id)) firstSuccess.set(id, i);
  });
  const groups = new Map<string, { sk: string; id: string; dueAtMs: number }[]>();
  for (const id of w.accepted) {
    const key = parseTaskId(id);
    if (!key || !firstCall.has(id) || w.successors.has(id)) continue;
    groups.set(key.pk, [...(groups.get(key.pk) ?? []), { sk: key.sk, id, dueAtMs: key.dueAtMs }]);
  }
  const problems: string[] = [];
  for (const tasks of groups.values()) {
    tasks.sort(bySortKey);
    tasks.forEach((x, i) => {
      for (const y of tasks.slice(i + 1)) {
        if (!ackedBeforeDue(w, x.id, y)) continue;
        if ((firstCall.get(y.id) as number) < (firstCall.get(x.id) as number))
          problems.push(`${y.id} called before ${x.id}`);
        const [xOk, yOk] = [firstSuccess.get(x.id), firstSuccess.get(y.id)];
        if (xOk !== undefined && yOk !== undefined && yOk < xOk)
          problems.push(`${y.id} delivered before ${x.id}`);
      }
    });
  }
  return problems;
}

/**
 * Whether X was acknowledged before Y was due. At one clock reading the steps' order says it, unless Y's request
 * began before X's answer (a late write).
 */
function ackedBeforeDue(w: World, xId: string, y: { id: string; dueAtMs: number }): boolean {
  const [x, yAck] = [w.acks.get(xId) as Ack, w.acks.get(y.id) as Ack];
  return x.atMs < y.dueAtMs || (x.atMs === y.dueAtMs && x.step < yAck.step && !yAck.late);
}

describe("the timer stage under partial failures, deaths, overlaps, cancels and moves", () => {
  it("loses nothing, calls nothing early or after its cancel, and keeps each group's order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.boolean(),
        // Behind only: a sweeper clock ahead hands a task over that much before its due time (deliver holds it
        // until due), and a task accepted meanwhile due earlier then goes behind it (README, "Ordering").
        fc.integer({ min: -30_000, max: 0 }),
        fc.array(step, { minLength: 40, maxLength: 120, size: "max" }),
        async (relayMemory, indexNearTermTasks, sweeperSkewMs, steps) => {
          // Nothing is lost here, so the default index (near-term tasks outside it) must be enough.
          const w = world(relayMemory, indexNearTermTasks, sweeperSkewMs);
          for (const s of steps) await play(w, s);
          await drain(w);
          expect([...endStateProblems(w), ...orderProblems(w)]).toEqual([]);
        },
      ),
      propertyRuns(40),
    );
  }, 120_000);

  it("keeps each group's order for writes landing up to 10 s late, and idempotent retries re-creating them", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(lateWriteStep, { minLength: 5, maxLength: 60 }),
        async (relayMemory, steps) => {
          const w = world(relayMemory);
          for (const s of steps) await play(w, s);
          await drain(w);
          expect([...endStateProblems(w), ...orderProblems(w)]).toEqual([]);
        },
      ),
      propertyRuns(60),
    );
  }, 120_000);

  it("with messages lost as well (every task in the sweep index): still nothing lost, early or after its cancel", async () => {
    // A loss may reorder its group (the sweeper re-sends what it finds, not what a lost message would have done
    // first: index.ts, "What the sweeper cannot undo"), so only the end state and the due times are checked.
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.integer({ min: -30_000, max: 30_000 }),
        fc.array(stepWithLosses, { minLength: 40, maxLength: 120, size: "max" }),
        async (relayMemory, sweeperSkewMs, steps) => {
          const w = world(relayMemory, true, sweeperSkewMs);
          for (const s of steps) await play(w, s);
          await drain(w);
          expect(endStateProblems(w)).toEqual([]);
        },
      ),
      propertyRuns(40),
    );
  }, 120_000);
});

describe("a task an idempotent retry re-creates more than the relay's margin after its due time (known limit)", () => {
  // README, honest limits ("The relay looks back 15 minutes"): the relay's group read ends
  // STARTED_OVERTAKE_MARGIN_MS below the group's latest started task, so a task written later than that after its
  // due time is not found by the next task's read, and with its own timer message late the next task goes first,
  // though the retry acknowledged it before that one was due. `it.fails` keeps this spec honest: it turns red the
  // day the order holds, so the limit's text and this marker are removed together.
  it.fails("keeps the order of a task re-created 20 s after its due time", async () => {
    // Prepare: `started` (due 20 s after `recreated`) delivered; `recreated`'s first write failed at its
    // acceptance and the retry writes it now, its timer message a minute late; `next` is accepted after it.
    const w = world(false);
    const content = (n: number) => ({ order_id: "limit", n });
    w.sim.advance(20_000);
    const started = await w.sim.add(content(1));
    await w.sim.runRelay();
    await w.sim.runDeliver();
    const recreated = await w.sim.add(content(0), undefined, { lateByMs: 20_000, firstWriteFails: true });
    for (const m of w.sim.timer.messages) if (m.taskId === recreated) m.visibleAtMs += 60_000;
    const next = await w.sim.add(content(2), { delay_seconds: 1 });

    // Act
    await drain(w);

    // Assess
    expect(w.sim.delivered()).toEqual([started, recreated, next]);
  });

  it.fails("keeps the order of a moved task whose retried PATCH writes it 20 s after its new due time", async () => {
    // Prepare: `moved` is moved to now, but the PATCH stops after marking it (its new id's write fails, 503);
    // `started` (due 20 s later) is delivered; the retried PATCH writes the new id now, its timer message a
    // minute late; `next` is accepted after that 200.
    const w = world(false);
    const content = (n: number) => ({ order_id: "limit-move", n });
    const moved = await w.sim.add(content(0), { delay_seconds: 60 });
    const put = w.sim.store.putNew;
    w.sim.store.putNew = async () => {
      throw Object.assign(new Error("write failed"), { name: "InternalServerError" });
    };
    await expect(w.sim.reschedule(moved, { delay_seconds: 0 })).rejects.toThrow();
    w.sim.store.putNew = put;
    w.sim.advance(20_000);
    const started = await w.sim.add(content(1));
    await w.sim.runRelay();
    await w.sim.runDeliver();
    const movedTo = (await w.sim.reschedule(moved, { delay_seconds: 0 })).task_id;
    for (const m of w.sim.timer.messages) if (m.taskId === movedTo) m.visibleAtMs += 60_000;
    const next = await w.sim.add(content(2), { delay_seconds: 1 });

    // Act
    await drain(w);

    // Assess
    expect(w.sim.delivered()).toEqual([started, movedTo, next]);
  });
});

describe("a task not relayed within the relay's 15-minute look-back (known limit)", () => {
  // README, honest limits ("The relay looks back 15 minutes"): a group's read goes back RELAY_LOOKBACK_MS from a
  // task's due time, the sweeper's repair as far (candidates.ts), so a task still waiting for its timer message to
  // be relayed (a relay outage) is not found by a task of its group due more than that after it, which goes first.
  // Random seeds of the property above find it (FC_SEED=3 FC_RUNS_SCALE=5, shrunk to this). `it.fails` keeps this
  // spec honest: it turns red the day the order holds, so the limit's text and this marker are removed together.
  it.fails("keeps the order of a task whose timer message waits 17 minutes for the relay", async () => {
    // Prepare: `first` due now, near-term (outside the sweep index), and the relay not running; `later`, due
    // 900.001 s after it on the Scheduler path, is in the sweep index, which the sweeper reads after its grace.
    const w = world(false, false);
    const content = (n: number) => ({ order_id: "look-back", n });
    const first = await w.sim.add(content(0));
    w.sim.advance(563_001);
    const later = await w.sim.add(content(1), { delay_seconds: 337 });
    w.sim.advance(487_000);

    // Act: the sweeper hands `later` over alone; then the relay and deliver run again.
    await w.sim.sweep();
    await drain(w);

    // Assess
    expect(w.sim.delivered()).toEqual([first, later]);
  });
});
