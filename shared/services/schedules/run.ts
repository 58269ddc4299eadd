import type { DueSchedule, TaskStore } from "#shared/adapters/task-store.js";
import { MAX_OCCURRENCES_PER_RUN, SCHEDULE_SHARDS } from "#shared/domain/schedule.js";
import { forEachBounded } from "#shared/runtime/async.js";
import { type MaterializeDeps, materializeSchedule } from "./materialize.js";

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
}

/** Schedules read per shard per run; the rest wait a minute (their occurrences are still ahead of the horizon). */
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
  const ids = await dueLongestFirst(deps);
  let occurrences = 0;
  let skipped = 0;
  let failures = 0;
  await forEachBounded(ids, SCHEDULE_CONCURRENCY, async (id) => {
    if (deps.remainingMs && deps.remainingMs() < STOP_STARTING_MS) return;
    try {
      const schedule = await deps.store.getSchedule(id);
      if (!schedule) return;
      const result = await materializeSchedule(deps, schedule, MAX_OCCURRENCES_PER_RUN);
      occurrences += result.occurrences;
      skipped += result.skipped;
    } catch (error) {
      failures++;
      deps.onScheduleError?.(id, error);
    }
  });
  return { schedules: ids.length, occurrences, skipped, failures };
}

/**
 * Every shard's due schedules in one list, longest due first. Shard by shard instead, a run short of time would
 * spend it on the first shards every minute while a later shard's schedules waited for ever.
 */
async function dueLongestFirst(deps: MaterializerRunDeps): Promise<string[]> {
  const nowMs = deps.now();
  const due: DueSchedule[] = [];
  for (let shard = 0; shard < SCHEDULE_SHARDS; shard++) {
    due.push(...(await deps.store.listSchedulesDue(shard, nowMs, SCHEDULES_PER_SHARD)));
  }
  return due.sort((a, b) => a.materializeAtMs - b.materializeAtMs).map((d) => d.scheduleId);
}
