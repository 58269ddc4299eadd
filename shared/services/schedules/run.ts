import type { DueSchedule, TaskStore } from "#shared/adapters/task-store.js";
import { MAX_OCCURRENCES_PER_RUN, SCHEDULE_SHARDS } from "#shared/domain/schedule.js";
import { forEachBounded } from "#shared/runtime/async.js";
import { FailedAfterSkipping, type MaterializeDeps, materializeSchedule } from "./materialize.js";

export interface MaterializerRunDeps extends MaterializeDeps {
  readonly store: MaterializeDeps["store"] & Pick<TaskStore, "getSchedule" | "listSchedulesDue">;
  readonly onScheduleError?: (scheduleId: string, error: unknown) => void;
  /** The invocation's time left (Lambda context); absent in tests, where time never runs out. */
  readonly remainingMs?: () => number;
}

export interface MaterializerRunSummary {
  readonly schedules: number;
  readonly occurrences: number;
  /** Occurrences the add-task checks refused and that were skipped (each schedule's view names the last). */
  readonly skipped: number;
  readonly failures: number;
  /**
   * How far behind the run left the materializer: at its end, whole seconds (rounded up) since the longest-due
   * schedule it left due became due (its next occurrence minus the horizon); 0 when it left none. Left due: not
   * started for want of time, never read (its shard held more due than a run takes), or still behind after its
   * MAX_OCCURRENCES_PER_RUN. Not a schedule that failed (`failures` counts those, and the next run retries them).
   * Past the horizon (4 minutes; a topic's maxDelay if shorter), that schedule's next occurrence is late.
   */
  readonly lagSeconds: number;
}

/** Schedules taken per shard per run; the rest wait a minute (their occurrences are still ahead of the horizon). */
const SCHEDULES_PER_SHARD = 250;
/** Schedules materialized side by side (each adds up to 4 occurrences at a time). */
const SCHEDULE_CONCURRENCY = 4;
/**
 * No schedule is started with less time left than this: one schedule's worst case (150 occurrences, 4 at a time)
 * must finish inside the invocation; the rest wait for the next run, still ahead of their horizon.
 */
const STOP_STARTING_MS = 15_000;

/**
 * One run of the materializer (EventBridge, every minute): every active schedule whose next occurrence has
 * entered the horizon, from the sparse schedule index, re-read strongly consistent (the index lags), then
 * materialized. One schedule failing does not stop the others; the next run retries it (its cursor has not moved).
 */
export async function runMaterializer(deps: MaterializerRunDeps): Promise<MaterializerRunSummary> {
  const startMs = deps.now();
  const { work, unread } = await dueLongestFirst(deps, startMs);
  // What the run leaves due (schedule id → due since): all it read, until the run brings each up to date.
  const left = new Map([...work, ...unread].map((d) => [d.scheduleId, d.materializeAtMs]));
  let occurrences = 0;
  let skipped = 0;
  let failures = 0;
  await forEachBounded(work, SCHEDULE_CONCURRENCY, async ({ scheduleId: id }) => {
    if (deps.remainingMs && deps.remainingMs() < STOP_STARTING_MS) return;
    try {
      const schedule = await deps.store.getSchedule(id);
      const result = schedule && (await materializeSchedule(deps, schedule, MAX_OCCURRENCES_PER_RUN));
      occurrences += result?.occurrences ?? 0;
      skipped += result?.skipped ?? 0;
      // Still due by the run's start after its occurrences of this run (a cron too far behind for one run's cap).
      const dueAgain = result?.materializeAtMs;
      if (dueAgain !== undefined && dueAgain <= startMs) left.set(id, dueAgain);
      else left.delete(id);
    } catch (error) {
      failures++;
      left.delete(id);
      const skippedFirst = error instanceof FailedAfterSkipping;
      if (skippedFirst) skipped += error.skipped;
      deps.onScheduleError?.(id, skippedFirst ? error.failure : error);
    }
  });
  const lagSeconds = lagAt(left, deps.now());
  return { schedules: work.length, occurrences, skipped, failures, lagSeconds };
}

/** Whole seconds, rounded up, since the longest-due schedule left became due; 0 when none is left. */
function lagAt(left: ReadonlyMap<string, number>, endMs: number): number {
  if (left.size === 0) return 0;
  return Math.max(0, Math.ceil((endMs - Math.min(...left.values())) / 1000));
}

/**
 * Every shard's due schedules in one list, longest due first (`work`). Shard by shard instead, a run short of time
 * would spend it on the first shards every minute while a later shard's schedules waited for ever. Each shard is
 * read one past what a run takes: that one (`unread`) says the shard holds more due than this run reaches, and
 * since when the longest due of those has waited.
 */
async function dueLongestFirst(
  deps: MaterializerRunDeps,
  nowMs: number,
): Promise<{ work: DueSchedule[]; unread: DueSchedule[] }> {
  const work: DueSchedule[] = [];
  const unread: DueSchedule[] = [];
  for (let shard = 0; shard < SCHEDULE_SHARDS; shard++) {
    const due = await deps.store.listSchedulesDue(shard, nowMs, SCHEDULES_PER_SHARD + 1);
    work.push(...due.slice(0, SCHEDULES_PER_SHARD));
    unread.push(...due.slice(SCHEDULES_PER_SHARD));
  }
  return { work: work.sort((a, b) => a.materializeAtMs - b.materializeAtMs), unread };
}
