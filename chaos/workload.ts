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
