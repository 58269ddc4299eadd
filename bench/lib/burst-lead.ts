import type { RunResult } from "./workloads.js";

/** What an adds workload's result says about its rate (results saved before the warm-up have none). */
export type AddsFigures = Partial<Pick<RunResult, "tasks" | "addRate" | "warmUp">>;

/**
 * How far ahead of its due second the bench adds the burst: room for its tasks at the single-add rate measured
 * (300/s without one), at least 5 s. The burst adds on a fresh system, so the rate is the one from that system's
 * start, warm-up included, as the adds figure was until the warm-up was split off (2026-12-04): the warmed figure
 * alone would give the burst less room than it needs while it compiles, and change its lead from earlier runs'.
 * bench/run.ts and bench/repredict.ts both use this, so the planner is given the lead the bench used.
 */
export function burstLeadMs(burstTasks: number, adds: AddsFigures | undefined): number {
  return Math.max(5_000, (burstTasks / Math.max(50, addRateFromStart(adds) ?? 300)) * 1100 + 2_000);
}

/** Adds/s over the warm-up and the measurement together (the measurement's alone without a warm-up). */
function addRateFromStart(adds: AddsFigures | undefined): number | undefined {
  if (adds?.addRate === undefined) return undefined;
  const { warmUp, tasks, addRate } = adds;
  if (!warmUp || !tasks || addRate <= 0 || warmUp.addRate <= 0) return addRate;
  return (warmUp.tasks + tasks) / (warmUp.tasks / warmUp.addRate + tasks / addRate);
}
