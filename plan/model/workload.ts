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
