import type { TaskStore } from "#shared/adapters/task-store.js";
import { topicConfig } from "#shared/config/index.js";
import {
  CLOCK_SKEW_MARGIN_MS,
  MATERIALIZE_HORIZON_MS,
  occurrenceIdempotencyKey,
  type ScheduleRecord,
} from "#shared/domain/schedule.js";
import { occurrencesBetween } from "#shared/domain/schedule-cron.js";
import { claimExpiry, type TaskRecord, type TaskStatus } from "#shared/domain/task.js";
import { forEachBounded } from "#shared/runtime/async.js";
import { specOf } from "./view.js";

export interface CalledAheadDeps {
  readonly store: Pick<TaskStore, "readIdempotencyClaim" | "get" | "claimIdempotencyKey">;
  readonly config: Parameters<typeof topicConfig>[0];
}

/**
 * A task in one of these was called (or its attempt is under way): the pause could not cancel it. A cancelled one
 * was too once it counts an attempt (deliver's check cancels a retry of an older epoch's occurrence).
 */
const CALLED: ReadonlySet<TaskStatus> = new Set(["delivered", "failed", "delivering"]);
/** How many moves of one occurrence are followed (as a repeated add follows them, add-task.ts). */
const MAX_MOVES = 32;
/** Claims read side by side: one schedule's, its caller waiting. */
const READ_CONCURRENCY = 8;

/**
 * Before a resume leaves `paused`'s epoch behind: each of its occurrences still ahead (after now, up to its cursor or
 * lease) whose task was already called — an operator ran it now or moved it earlier, and it was delivered (or
 * failed, or its attempt is under way) — has the new epoch's idempotency key claimed for that same task. The new
 * epoch's add of that instant (the resume's inline pass, or the materializer up to 4 minutes later) then finds the
 * task the old epoch called (200, nothing created), and so does each later epoch's resume, reading this epoch's
 * claim in turn: an instant is called at most once across epochs. Read up to the horizon from now, not only to the
 * paused epoch's cursor: a resumed epoch's cursor is where its inline pass stopped (125 s of a five-second cron),
 * and a claim carried into it further ahead, paused again before a run reached it, was not read by the next resume,
 * whose epoch called that instant a second time. No epoch made anything further ahead than the horizon from its
 * run's now, which is before this one — on that run's clock, though, another host's: a materializer whose clock read
 * 10 ms ahead made (and an earlier resume carried) an instant 10 ms past this resume's now + horizon, which this
 * resume did not read, and its epoch called that instant again. So the read goes CLOCK_SKEW_MARGIN_MS (1 s) further.
 * Not past what it may, the other way: the lower end is this resume's now, the very instant the new epoch's cursor
 * starts from (resumeChange), so an instant this read leaves out the new epoch never makes. An occurrence the pause
 * cancelled (or left to deliver's check, which cancels one of an older epoch) is not called, and is made afresh.
 *
 * Why this and not a list of the instants called ahead on the schedule's item (written by run now and PATCH): that
 * needs the task routes to write the schedule too, a second write that can fail after the move, racing the stop and
 * the resume; here the claims that already name each occurrence's task are the record, read only at a resume, only
 * for the instants between now and the horizon's end and its margin (or the paused epoch's cursor, if later: at most
 * 241), and one claim write per instant found called. A claim's request hash leaves out its key (add-task.ts, hashRequest), so the old claim's
 * hash is the new epoch's add's. Returns how many instants were carried over.
 */
export async function carryCalledAhead(
  deps: CalledAheadDeps,
  paused: ScheduleRecord,
  nowMs: number,
): Promise<number> {
  const topic = topicConfig(deps.config, paused.topic);
  const untilMs = Math.max(
    paused.materializedUntilMs,
    paused.leasedUntilMs ?? 0,
    nowMs + MATERIALIZE_HORIZON_MS + CLOCK_SKEW_MARGIN_MS,
  );
  if (!topic) return 0;
  const ahead = occurrencesBetween(specOf(paused), nowMs, untilMs, Number.MAX_SAFE_INTEGER);
  let carried = 0;
  await forEachBounded(ahead, READ_CONCURRENCY, async (occurrenceMs) => {
    const oldKey = occurrenceIdempotencyKey(paused.scheduleId, paused.epoch, occurrenceMs);
    const claim = await deps.store.readIdempotencyClaim(topic.name, oldKey);
    if (!claim || !(await wasCalled(deps, claim.taskId))) return;
    await deps.store.claimIdempotencyKey({
      topic: topic.name,
      key: occurrenceIdempotencyKey(paused.scheduleId, paused.epoch + 1, occurrenceMs),
      taskId: claim.taskId,
      requestHash: claim.requestHash,
      expiresAt: claimExpiry(occurrenceMs, topic),
    });
    carried++;
  });
  return carried;
}

/** Whether the occurrence's task, followed through its moves, was called. A move not written through is not. */
async function wasCalled(deps: CalledAheadDeps, taskId: string): Promise<boolean> {
  let task: TaskRecord | undefined = await deps.store.get(taskId);
  for (let move = 0; move < MAX_MOVES && task?.status === "rescheduled" && task.rescheduledTo; move++)
    task = await deps.store.get(task.rescheduledTo);
  if (task === undefined) return false;
  return CALLED.has(task.status) || (task.status === "cancelled" && task.attempts > 0);
}
