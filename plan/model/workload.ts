import * as z from "#shared/zod.js";

/** What the planner is asked about: a burst due at once, or a steady rate, over some groups. */
export interface Workload {
  /** N tasks all due in the same second, added ahead of it by `clients` callers (the bench's burst). */
  readonly burst?: number;
  /** Tasks per second for `durationSeconds`, each due `delaySeconds` after it is sent (the bench's sustained run). */
  readonly rate?: number;
  readonly durationSeconds?: number;
  /** Delay of each task (sustained), or how far ahead of the due second the burst starts adding. */
  readonly delaySeconds: number;
  /** Ordering groups: task i belongs to group i mod groups. */
  readonly groups: number;
  /** The caller's connections: adds in flight at once, burst or rate (the bench's pool of 64). */
  readonly clients?: number;
  /** Most adds in flight for the sustained rate before the caller falls behind (the bench's 1,024). */
  readonly maxInFlight?: number;
}

export const DEFAULT_CLIENTS = 64;
export const DEFAULT_MAX_IN_FLIGHT = 1024;

export function describeWorkload(w: Workload): string {
  if (w.burst !== undefined)
    return `burst of ${w.burst} over ${w.groups} groups, adds start ${w.delaySeconds} s ahead`;
  return `${w.rate}/s for ${w.durationSeconds} s, delay ${w.delaySeconds} s, ${w.groups} groups`;
}

export function taskCount(w: Workload): number {
  return w.burst ?? Math.round((w.rate ?? 0) * (w.durationSeconds ?? 0));
}

/**
 * The most tasks one run simulates: the model keeps every task and its events in memory (a burst of 200,000 took
 * 336 MB and 77 s on the 2-core dev machine, 2026-12-04), so a billion would run out of memory after minutes. A
 * sustained rate needs no long run: a shorter --duration at the same --rate gives the same figures.
 */
export const MAX_SIMULATED_TASKS = 500_000;

/** A year: past it a due time is not a task anyone schedules (and 1e300 s is no date at all). */
const MAX_DELAY_SECONDS = 365 * 86_400;

const whole = (min: number) =>
  z.optional(z.number().check(z.int(), z.gte(min), z.lte(Number.MAX_SAFE_INTEGER)));
const positive = () => z.optional(z.number().check(z.gt(0), z.lte(Number.MAX_SAFE_INTEGER)));

const workloadSchema = z
  .strictObject({
    burst: whole(1),
    rate: positive(),
    durationSeconds: positive(),
    delaySeconds: z.number().check(z.gte(0), z.lte(MAX_DELAY_SECONDS)),
    groups: z.number().check(z.int(), z.gte(1), z.lte(Number.MAX_SAFE_INTEGER)),
    clients: whole(1),
    maxInFlight: whole(1),
  })
  .check(
    z.refine((w) => (w.burst === undefined) !== (w.rate === undefined), {
      message: "give --burst N or --rate R --duration S, not both",
    }),
    z.refine((w) => w.burst !== undefined || w.durationSeconds !== undefined, {
      message: "a rate needs --duration",
      path: ["durationSeconds"],
    }),
    z.refine((w) => taskCount(w) >= 1, {
      message: "the rate and duration make no whole task (rate × duration < 0.5)",
    }),
    z.refine((w) => taskCount(w) <= MAX_SIMULATED_TASKS, {
      message: `more than ${MAX_SIMULATED_TASKS.toLocaleString("en-US")} tasks to simulate: a shorter --duration at the same --rate gives the same figures`,
    }),
  );

/**
 * The workload if the model can answer for it, else an error naming each input at fault: a burst of 0, a fraction
 * of a group, no caller or NaN would otherwise be "predicted" (no task, every task in one group `gNaN`, nothing
 * ever added) with exit code 0.
 */
export function checkedWorkload(workload: Workload): Workload {
  const checked = z.safeParse(workloadSchema, workload);
  if (checked.success) return workload;
  const problems = checked.error.issues.map((i) => `${["workload", ...i.path].join(".")}: ${i.message}`);
  throw new Error(problems.join("; "));
}
