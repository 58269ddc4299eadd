import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bySortKey, parseTaskId } from "#shared/domain/keys.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import { relayTimerMessages } from "#shared/services/relay.js";
import { type SweeperDeps, sweep } from "#shared/services/sweeper/index.js";
import { HTTP } from "../../support/fakes/callbacks.js";
import { propertyRuns } from "../../support/fast-check-runs.js";
import { QUEUE_URL, SIM_RELAY_RANDOM, type Sim, simulate } from "../../support/pipeline-sim.js";

/**
 * The relay and the sweeper as one property under hostile time and a hostile cloud (the scenarios one by one are in
 * hostile-time.test.ts): random interleavings of adds, cancels and moves with relay runs on clocks up to 5 s behind
 * or ahead (some dying before their batch is acknowledged), relays and sweeper runs frozen at their send and thawed
 * steps later, sweeper runs on clocks up to 30 s behind and overlapping runs, deliver runs with failing receivers,
 * and any write of the two answered with an error after it happened (SendMessageBatch to either queue, the
 * sweeper's marks and dead-lettering, re-arms) — then two hours of the functions on their own. Checked from the
 * receiver's side: every accepted task ends delivered or dead-lettered (a cancelled one cancelled, a moved one
 * `rescheduled`), nothing called before its due time or after its cancel, and each group's first callbacks in
 * order wherever the earlier task was acknowledged before the later one was due (a moved task's new id aside, as
 * in timer-stage-hostile.test.ts). No message is lost here: a loss reorders by itself (timer-stage-hostile).
 */

const LOSSY = [
  "markQueued",
  "markRequeued",
  "markFailed",
  "sendInOrder",
  "sendToDeadLetter",
  "sendGroupsInOrder",
  "rearm",
  "armMany",
] as const;
type Lossy = (typeof LOSSY)[number];

const step = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("add" as const),
      group: fc.integer({ min: 0, max: 2 }),
      delaySeconds: fc.oneof(fc.integer({ min: 0, max: 19 }), fc.integer({ min: 150, max: 449 })),
      // Up to 4 failing answers: past the topic's 3 attempts the task is dead-lettered.
      failures: fc.integer({ min: 0, max: 4 }),
    }),
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
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("relay" as const),
      skewMs: fc.integer({ min: -5_000, max: 5_000 }),
      dies: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("frozenRelay" as const),
      skewMs: fc.integer({ min: -3_000, max: 3_000 }),
      thawAfter: fc.integer({ min: 1, max: 15 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("deliver" as const), messages: fc.integer({ min: 1, max: 5 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("sweep" as const),
      // Behind only: a sweeper clock ahead orders within its skew only (README, "Honest limits").
      skewMs: fc.integer({ min: -30_000, max: 0 }),
      overlapping: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("frozenSweep" as const),
      thawAfter: fc.integer({ min: 1, max: 15 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("loseAnswer" as const), of: fc.constantFrom(...LOSSY) }),
  },
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
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;

interface Frozen {
  thawAfter: number;
  readonly thaw: () => void;
  readonly done: Promise<unknown>;
}

interface World {
  readonly sim: Sim;
  /** Writes whose next call is answered with an error after it happened. */
  readonly loseNext: Set<Lossy>;
  readonly calls: { readonly id: string; readonly atMs: number }[];
  readonly accepted: string[];
  readonly ackedAt: Map<string, number>;
  readonly cancelledAt: Map<string, number>;
  readonly moved: Set<string>;
  readonly successors: Set<string>;
  readonly frozen: Frozen[];
  lastSweepMs: number;
}

function world(relayMemory: boolean, indexNearTermTasks: boolean): World {
  const sim = simulate({ relayMemory, sweeper: { indexNearTermTasks } });
  const w: World = {
    sim,
    loseNext: new Set(),
    calls: [],
    accepted: [],
    ackedAt: new Map(),
    cancelledAt: new Map(),
    moved: new Set(),
    successors: new Set(),
    frozen: [],
    lastSweepMs: sim.clock.now,
  };
  loseAnswers(w);
  const post = sim.callbacks.post.bind(sim.callbacks);
  sim.callbacks.post = async (request) => {
    w.calls.push({ id: request.headers["webhook-id"] ?? "", atMs: sim.clock.now });
    return post(request);
  };
  return w;
}

/** Each lossy write, when named in `loseNext`, happens and then throws (its answer lost). */
function loseAnswers(w: World) {
  const { store, fifo, timer } = w.sim;
  const owners: Record<Lossy, object> = {
    markQueued: store,
    markRequeued: store,
    markFailed: store,
    sendInOrder: fifo,
    sendToDeadLetter: fifo,
    sendGroupsInOrder: fifo,
    rearm: timer,
    armMany: timer,
  };
  for (const name of LOSSY) {
    const owner = owners[name] as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const write = (owner[name] as (...args: unknown[]) => Promise<unknown>).bind(owner);
    owner[name] = async (...args: unknown[]) => {
      const result = await write(...args);
      if (w.loseNext.delete(name))
        throw Object.assign(new Error(`${name}: answer lost`), { name: "TimeoutError" });
      return result;
    };
  }
}

/** A gate a frozen step waits at. */
function gate() {
  let thaw: () => void = () => undefined;
  const thawed = new Promise<void>((resolve) => {
    thaw = resolve;
  });
  return { thawed, thaw };
}

/** One relay invocation over the visible timer messages, on a skewed clock, perhaps frozen before its send. */
async function runRelay(
  w: World,
  skewMs: number,
  options: { dies?: boolean; frozenUntil?: Promise<void> } = {},
) {
  const { sim } = w;
  const visible = sim.timer.receive();
  if (visible.length === 0) return;
  const { frozenUntil } = options;
  const topicQueue = frozenUntil
    ? {
        sendGroupsInOrder: async (...args: Parameters<typeof sim.fifo.sendGroupsInOrder>) => {
          await frozenUntil;
          return sim.fifo.sendGroupsInOrder(...args);
        },
      }
    : sim.fifo;
  const deps = {
    store: sim.store,
    topicQueue,
    timer: sim.timer,
    topicQueueUrls: { demo: QUEUE_URL },
    logger: sim.logger,
    clock: () => sim.clock.now + skewMs,
    sleep: async (ms: number) => sim.advance(ms),
    random: SIM_RELAY_RANDOM,
  };
  const messages = visible.map((m) => ({
    messageId: String(m.id),
    body: taskMessageBody(m.taskId),
    receiveCount: m.receives,
    receiptHandle: m.receiptHandle,
  }));
  // The relay never throws; a lost answer thrown by a fake's wrapper fails the whole batch, as Lambda would.
  const result = await relayTimerMessages(deps, messages).catch(() => ({
    failedMessageIds: messages.map((m) => m.messageId),
  }));
  if (options.dies) return;
  const failed = new Set(result.failedMessageIds);
  for (const m of visible) if (!failed.has(String(m.id))) sim.timer.remove(m.id);
}

/** A sweeper run frozen at its first send (FIFO or dead letter) until thawed. */
function frozenSweep(w: World, frozenUntil: Promise<void>): Promise<unknown> {
  const { fifo } = w.sim;
  const topicQueue: SweeperDeps["topicQueue"] = {
    sendInOrder: async (...args) => {
      await frozenUntil;
      return fifo.sendInOrder(...args);
    },
    sendToDeadLetter: async (...args) => {
      await frozenUntil;
      return fifo.sendToDeadLetter(...args);
    },
  };
  return sweep({ ...w.sim.sweeperDeps, topicQueue }).catch(() => undefined);
}

async function freeze(w: World, thawAfter: number, start: (until: Promise<void>) => Promise<unknown>) {
  const { thawed, thaw } = gate();
  w.frozen.push({ thawAfter, thaw, done: start(thawed) });
  // Let it run up to its gate before the world moves on.
  await new Promise((resolve) => setImmediate(resolve));
}

async function addTask(w: World, s: Extract<Step, { kind: "add" }>) {
  const content = { order_id: `g${s.group}`, n: w.accepted.length };
  const id = await w.sim.add(content, { delay_seconds: s.delaySeconds });
  w.accepted.push(id);
  w.ackedAt.set(id, w.sim.clock.now);
  if (s.failures > 0) w.sim.callbacks.answer(id, ...Array.from({ length: s.failures }, () => HTTP(503)));
}

async function moveTask(w: World, s: Extract<Step, { kind: "move" }>) {
  const id = w.accepted[s.pick % w.accepted.length] as string;
  const view = await w.sim.reschedule(id, { delay_seconds: s.delaySeconds }).catch(() => undefined);
  const to = (view as { task_id?: string } | undefined)?.task_id;
  if (to === undefined || to === id) return;
  w.moved.add(id);
  w.successors.add(to);
  w.accepted.push(to);
  w.ackedAt.set(to, w.sim.clock.now);
}

async function cancelTask(w: World, pick: number) {
  const id = w.accepted[pick % w.accepted.length] as string;
  const out = await w.sim.store.cancel(id, w.sim.clock.now, Number.MAX_SAFE_INTEGER);
  if (out.outcome === "cancelled") w.cancelledAt.set(id, w.sim.clock.now);
}

async function sweepOnce(w: World, s: Extract<Step, { kind: "sweep" }>) {
  const skewed = sweep({ ...w.sim.sweeperDeps, clock: () => w.sim.clock.now + s.skewMs });
  await Promise.all([skewed, s.overlapping ? w.sim.sweep() : undefined]);
}

async function play(w: World, s: Step) {
  if (s.kind === "add") await addTask(w, s);
  else if (s.kind === "cancel" && w.accepted.length > 0) await cancelTask(w, s.pick);
  else if (s.kind === "move" && w.accepted.length > 0) await moveTask(w, s);
  else if (s.kind === "relay") await runRelay(w, s.skewMs, { dies: s.dies });
  else if (s.kind === "frozenRelay")
    await freeze(w, s.thawAfter, (until) => runRelay(w, s.skewMs, { frozenUntil: until }));
  else if (s.kind === "deliver") await w.sim.runDeliver(s.messages);
  else if (s.kind === "sweep") await sweepOnce(w, s);
  else if (s.kind === "frozenSweep") await freeze(w, s.thawAfter, (until) => frozenSweep(w, until));
  else if (s.kind === "loseAnswer") w.loseNext.add(s.of);
  else if (s.kind === "advance") w.sim.advance(s.ms);
}

/** A step, then whatever frozen step thaws now, then the sweeper's minute. A lost answer may end a step. */
async function playStep(w: World, s: Step) {
  await play(w, s).catch(() => undefined);
  for (const f of [...w.frozen]) {
    if (--f.thawAfter > 0) continue;
    w.frozen.splice(w.frozen.indexOf(f), 1);
    f.thaw();
    await f.done;
  }
  if (w.sim.clock.now - w.lastSweepMs >= 60_000) {
    w.lastSweepMs = w.sim.clock.now;
    await w.sim.sweep().catch(() => undefined);
  }
}

/** Everything thaws, answers come back, and the functions run on their own for two hours. */
async function drain(w: World) {
  for (const f of w.frozen.splice(0)) {
    f.thaw();
    await f.done;
  }
  w.loseNext.clear();
  for (let i = 0; i < 240; i++) {
    w.sim.advance(30_000);
    await runRelay(w, 0);
    await w.sim.runDeliver();
    if (i % 2 === 0) await w.sim.sweep();
  }
}

function endStateProblems(w: World): string[] {
  const problems: string[] = [];
  for (const id of w.accepted) {
    const status = w.sim.status(id);
    if (w.cancelledAt.has(id)) {
      if (status !== "cancelled") problems.push(`cancelled ${id} ends ${status}`);
    } else if (w.moved.has(id)) {
      if (status !== "rescheduled") problems.push(`moved ${id} ends ${status}`);
    } else if (status !== "delivered" && status !== "failed") problems.push(`${id} ends ${status}`);
  }
  for (const { id, atMs } of w.calls) {
    const due = parseTaskId(id)?.dueAtMs ?? Number.POSITIVE_INFINITY;
    if (atMs < due) problems.push(`${id} called ${due - atMs} ms before due`);
    const cancelledAt = w.cancelledAt.get(id);
    if (cancelledAt !== undefined && atMs >= cancelledAt) problems.push(`${id} called after its cancel`);
  }
  return problems;
}

/** Each group's first callbacks in order, for X before Y where X was acknowledged before Y was due. */
function orderProblems(w: World): string[] {
  const firstCall = new Map<string, number>();
  w.calls.forEach(({ id }, i) => {
    if (!firstCall.has(id)) firstCall.set(id, i);
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
        const xAcked = w.ackedAt.get(x.id) as number;
        if (xAcked < y.dueAtMs && (firstCall.get(y.id) as number) < (firstCall.get(x.id) as number))
          problems.push(`${y.id} called before ${x.id}`);
      }
    });
  }
  return problems;
}

describe("the relay and the sweeper under lost answers, skewed clocks, frozen and overlapping runs", () => {
  it("lose nothing, call nothing early or after its cancel, and keep each group's order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.boolean(),
        fc.array(step, { minLength: 30, maxLength: 120 }),
        async (relayMemory, indexNearTermTasks, steps) => {
          // Prepare
          const w = world(relayMemory, indexNearTermTasks);

          // Act
          for (const s of steps) await playStep(w, s);
          await drain(w);

          // Assess
          expect([...endStateProblems(w), ...orderProblems(w)]).toEqual([]);
        },
      ),
      propertyRuns(40),
    );
  }, 120_000);
});
