import { hashSeed, mulberry32 } from "#local/aws/faults.js";

/** One task the chaos client will try to get accepted, decided up front from the seed. */
export interface PlannedTask {
  /** The client's name for it, carried in the content as `chaos_id` (the receiver keys its moods on it). */
  readonly clientKey: string;
  /** `order_id` of the content; undefined → the task is its own group. */
  readonly group: string | undefined;
  /** Due this long after the client sends it… */
  readonly delayMs: number;
  /** …unless it shares the previous task of its group's due time exactly (acceptance order then decides). */
  readonly sameDueAsPrevious: boolean;
  /** Which receiver path: `flaky` (seeded moods), `fail` (always 500: a poison head), `ok`. */
  readonly path: "flaky" | "fail" | "ok";
  /** Sent with an idempotency key (header or body field, alternately). */
  readonly idempotencyKey: string | undefined;
  /** How many identical requests go out at once (idempotent tasks only). */
  readonly copies: number;
  /** An identical request repeated this long after acceptance (must answer the same task). */
  readonly repeatAfterMs: number | undefined;
  /** A DELETE this long after acceptance. */
  readonly cancelAfterMs: number | undefined;
  /** Sent as a one-item POST /v1/tasks/batch (its key in the body), retried the same way: the batched path. */
  readonly viaBatch: boolean;
}

export interface WorkloadShape {
  readonly tasks: number;
  readonly groups: number;
  /** Share of tasks without an ordering group. */
  readonly ungroupedShare: number;
  /** Near-term tasks are due within this many seconds (the timer queue's horizon must cover it). */
  readonly nearMaxSeconds: number;
  /** Share of tasks due beyond the horizon (the Scheduler path), due in [schedulerMin, schedulerMax] s. */
  readonly schedulerShare: number;
  readonly schedulerMinSeconds: number;
  readonly schedulerMaxSeconds: number;
  readonly cancelShare: number;
  readonly idempotentShare: number;
  /** Share of grouped tasks due exactly when the previous task of their group is. */
  readonly sameDueShare: number;
  /** Share of tasks whose callback always fails (dead-lettered heads that must not block their group). */
  readonly poisonShare: number;
  /** Share of tasks sent through the batch API (absent: none), to put its batched path under the same faults. */
  readonly batchShare?: number;
  /** Multi-item batches (absent: none): runs of one group's tasks in one keyed request (`planBatches`). */
  readonly batches?: BatchShape;
}

/**
 * The work, grouped in lanes: one lane per ordering group (its tasks are sent one after another, so acceptance
 * order is the lane's order) and one per ungrouped task.
 */
export function planWorkload(shape: WorkloadShape, seed: number): PlannedTask[][] {
  const random = mulberry32(hashSeed(seed, "workload"));
  const pick = (share: number) => random() < share;
  const between = (min: number, max: number) => min + random() * (max - min);
  const lanes = new Map<string, PlannedTask[]>();
  const ungrouped: PlannedTask[][] = [];
  for (let i = 0; i < shape.tasks; i++) {
    const grouped = !pick(shape.ungroupedShare);
    const group = grouped ? `order-${seed}-${Math.floor(random() * shape.groups)}` : undefined;
    const lane = group ? (lanes.get(group) ?? []) : [];
    const schedulerPath = pick(shape.schedulerShare);
    const delayMs = schedulerPath
      ? between(shape.schedulerMinSeconds, shape.schedulerMaxSeconds) * 1000
      : pick(0.08)
        ? 0
        : between(0, shape.nearMaxSeconds) * 1000;
    const idempotent = pick(shape.idempotentShare);
    const copiesDraw = random();
    const task: PlannedTask = {
      clientKey: `c${seed}-${i}`,
      group,
      delayMs: Math.round(delayMs),
      sameDueAsPrevious: group !== undefined && lane.length > 0 && pick(shape.sameDueShare),
      path: pick(shape.poisonShare) ? "fail" : pick(0.02) ? "ok" : "flaky",
      idempotencyKey: idempotent ? `idem-${seed}-${i}` : undefined,
      copies: idempotent ? (copiesDraw < 0.6 ? 1 : copiesDraw < 0.85 ? 2 : 3) : 1,
      repeatAfterMs: idempotent && pick(0.35) ? Math.round(between(0, 3000)) : undefined,
      cancelAfterMs: pick(shape.cancelShare)
        ? // Half early (the cancel should win), half around the due time (a race either side may win).
          Math.round(
            pick(0.5) ? between(0, Math.max(0, delayMs - 1500)) : between(delayMs - 800, delayMs + 300),
          )
        : undefined,
      viaBatch: pick(shape.batchShare ?? 0),
    };
    if (group) {
      lane.push(task);
      lanes.set(group, lane);
    } else ungrouped.push([task]);
  }
  // Interleave ordering groups and ungrouped tasks so both kinds are in flight all along.
  const all = [...lanes.values(), ...ungrouped];
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j] as PlannedTask[], all[i] as PlannedTask[]];
  }
  return all;
}

/** A multi-item POST /v1/tasks/batch: every item keyed (in the body), sent in request order, retried whole. */
export interface PlannedBatch {
  /**
   * Request order: a run of 2–8 consecutive tasks of one group, sometimes interleaved with another group's run
   * (its order kept) and with ungrouped tasks. Each group's items are consecutive in its lane.
   */
  readonly items: readonly PlannedTask[];
  /** Identical copies of the whole request sent at once, each retried whole with the same keys. */
  readonly copies: number;
  /** The whole request repeated this long after it settled (every item must answer the same task). */
  readonly repeatAfterMs: number | undefined;
}

/** One step of a runner: a task on its own (single add or one-item batch), or a multi-item batch. */
export type PlannedStep =
  | { readonly kind: "task"; readonly task: PlannedTask }
  | { readonly kind: "batch"; readonly batch: PlannedBatch };

export interface BatchShape {
  /** Share of grouped tasks sent in multi-item batches (0: none). */
  readonly multiBatchShare: number;
  /** Share of batch runs that share their request with another group's run (the two lanes run as one). */
  readonly mixedShare: number;
  /** Share of batches that also carry one or two ungrouped tasks. */
  readonly ungroupedRiderShare: number;
}

const RUN_MIN = 2;
const RUN_MAX = 8;

/**
 * The lanes as runners of steps: in each grouped lane, some runs of 2–8 consecutive tasks become one multi-item
 * batch (all keyed: a whole-request retry, or a concurrent copy, must not add an item twice). Some pairs of lanes
 * are merged into one runner whose batch runs may share a request (each lane's order kept, in the request and
 * between steps: a runner sends one step after another), and some batches take ungrouped tasks along (their own
 * lanes then). Drawn from its own stream of the seed, so the tasks themselves are those of `planWorkload`.
 */
export function planBatches(
  lanes: readonly (readonly PlannedTask[])[],
  shape: BatchShape,
  seed: number,
): PlannedStep[][] {
  const random = mulberry32(hashSeed(seed, "batches"));
  const pick = (share: number) => random() < share;
  const riders = lanes.filter((lane) => lane.length === 1 && lane[0]?.group === undefined).map((l) => l[0]);
  const riding = new Set<PlannedTask>();
  const takeRider = (): PlannedTask | undefined => {
    const rider = riders.pop();
    if (rider) riding.add(rider);
    return rider;
  };
  // A run starts with this chance per task so that about `multiBatchShare` of grouped tasks are in runs (mean 5).
  const share = Math.min(1, shape.multiBatchShare);
  const runStart = share >= 1 ? 1 : share / (5 - 4 * share);
  const grouped = lanes.filter((lane) => lane[0]?.group !== undefined);
  const planned = grouped.map((lane) => splitRuns(lane, runStart, random));
  const runners: PlannedStep[][] = [];
  for (let i = 0; i < planned.length; i++) {
    const lane = planned[i] as PlannedStep[];
    const next = planned[i + 1];
    if (next && pick(shape.mixedShare)) {
      runners.push(mergeLanes(lane, next, random));
      i++;
    } else runners.push(lane);
  }
  for (const runner of runners) {
    for (let s = 0; s < runner.length; s++) {
      const step = runner[s] as PlannedStep;
      if (step.kind !== "batch" || !pick(shape.ungroupedRiderShare)) continue;
      const items = [...step.batch.items];
      for (let n = pick(0.5) ? 2 : 1; n > 0; n--) {
        const rider = takeRider();
        if (rider) items.splice(Math.floor(random() * (items.length + 1)), 0, keyed(rider));
      }
      runner[s] = { kind: "batch", batch: { ...step.batch, items } };
    }
  }
  const alone = lanes
    .filter((lane) => lane[0]?.group === undefined && !riding.has(lane[0] as PlannedTask))
    .map((lane) => lane.map((task): PlannedStep => ({ kind: "task", task })));
  return shuffle([...runners, ...alone], random);
}

/** A lane's steps: runs of 2–8 tasks as keyed batches (starting with chance `runStart`), the rest one by one. */
function splitRuns(lane: readonly PlannedTask[], runStart: number, random: () => number): PlannedStep[] {
  const steps: PlannedStep[] = [];
  for (let i = 0; i < lane.length; ) {
    const left = lane.length - i;
    if (left >= RUN_MIN && random() < runStart) {
      const length = Math.min(left, RUN_MIN + Math.floor(random() * (RUN_MAX - RUN_MIN + 1)));
      const copiesDraw = random();
      steps.push({
        kind: "batch",
        batch: {
          items: lane.slice(i, i + length).map(keyed),
          copies: copiesDraw < 0.6 ? 1 : copiesDraw < 0.85 ? 2 : 3,
          repeatAfterMs: random() < 0.35 ? Math.round(random() * 3000) : undefined,
        },
      });
      i += length;
    } else steps.push({ kind: "task", task: lane[i++] as PlannedTask });
  }
  return steps;
}

/**
 * Two lanes as one runner: their steps interleaved (each lane's order kept); where both lanes' next steps are
 * batches, half the time they go as one request, their items interleaved (each group's order kept).
 */
function mergeLanes(
  a: readonly PlannedStep[],
  b: readonly PlannedStep[],
  random: () => number,
): PlannedStep[] {
  const merged: PlannedStep[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (x?.kind === "batch" && y?.kind === "batch" && random() < 0.5) {
      const items = interleave(x.batch.items, y.batch.items, random);
      merged.push({ kind: "batch", batch: { ...x.batch, items } });
      i++;
      j++;
    } else if (x && (!y || random() < 0.5)) {
      merged.push(x);
      i++;
    } else if (y) {
      merged.push(y);
      j++;
    }
  }
  return merged;
}

function interleave<T>(a: readonly T[], b: readonly T[], random: () => number): T[] {
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && (j >= b.length || random() < 0.5)) out.push(a[i++] as T);
    else out.push(b[j++] as T);
  }
  return out;
}

/** A batch item: keyed (its key in the body), alone in its request's copies and repeats (the batch has its own). */
function keyed(task: PlannedTask): PlannedTask {
  return {
    ...task,
    idempotencyKey: task.idempotencyKey ?? `idem-${task.clientKey.slice(1)}`,
    copies: 1,
    repeatAfterMs: undefined,
    viaBatch: true,
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}
