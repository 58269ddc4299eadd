import type { TopicConfig } from "#shared/config/index.js";
import { type OccurrenceStop, occurrenceStop, scheduleToCheck } from "#shared/domain/occurrence-hold.js";
import type { ScheduleRecord } from "#shared/domain/schedule.js";
import { retentionExpiry, type TaskRecord, TERMINAL_STATUSES } from "#shared/domain/task.js";
import { errorText } from "#shared/runtime/async.js";
import type { BatchContext, RecordScope } from "./types.js";

/**
 * Deliver's check of a held occurrence (shared/domain/occurrence-hold.ts; docs/RELIABILITY.md "Recurring
 * schedules"): before its attempt starts, an occurrence whose schedule was deleted, paused or resumed since it was
 * made is cancelled — the same conditional cancel as `DELETE /v1/tasks/{id}`, so an attempt start racing it is
 * safe — and its record is done with: the group moves on. A plain task never gets here (no read, no write more).
 */

/** What stops `task` (read before its start), or undefined: delivered. One GetItem, only for an occurrence. */
export async function heldOccurrenceStop(
  ctx: BatchContext,
  task: TaskRecord,
  scope?: RecordScope,
): Promise<OccurrenceStop | undefined> {
  const scheduleId = scheduleToCheck(task, ctx.clock());
  if (scheduleId === undefined) return undefined;
  return occurrenceStop(task, await ctx.deps.store.getSchedule(scheduleId, scope));
}

/**
 * The schedules of the batch's occurrences, each read once (a batch's occurrences are usually one schedule's).
 * A schedule whose read failed is absent: its occurrences are left to the per-record path, which reads it again.
 */
export async function readSchedules(
  ctx: BatchContext,
  scheduleIds: ReadonlySet<string>,
): Promise<Map<string, ScheduleRecord | undefined>> {
  const read = new Map<string, ScheduleRecord | undefined>();
  await Promise.all(
    [...scheduleIds].map(async (id) => {
      try {
        read.set(id, await ctx.deps.store.getSchedule(id));
      } catch (error) {
        ctx.deps.logger.warn("reading an occurrence's schedule failed; its records start one by one", {
          scheduleId: id,
          error: errorText(error),
        });
      }
    }),
  );
  return read;
}

/**
 * Cancels a held occurrence its schedule stops. True when the record is done with (cancelled, or found final or
 * gone); false when the cancel was refused by a task still unfinished — an attempt under way or one whose outcome
 * was never recorded (its invocation died mid-call), which the cancel cannot tell from a callback in flight: the
 * record then goes on as before the check.
 */
export async function cancelHeldOccurrence(
  ctx: BatchContext,
  topic: TopicConfig,
  task: TaskRecord,
  stop: OccurrenceStop,
): Promise<boolean> {
  const nowMs = ctx.clock();
  // A waiting retry too (awaitingRetry), as an operator's cancel: a stopped schedule calls nothing more.
  const result = await ctx.deps.store.cancel(
    task.taskId,
    nowMs,
    retentionExpiry(nowMs, topic.retentionDays),
    {
      awaitingRetry: true,
    },
  );
  const fields = { taskId: task.taskId, scheduleId: task.scheduleId, schedule: stop };
  if (result.outcome === "cancelled") {
    // A moved occurrence's old item leaves the sweep index, as every cancel of a successor settles it.
    if (task.rescheduledFrom !== undefined) await ctx.deps.store.settleRescheduled(task.rescheduledFrom);
    ctx.deps.logger.info("occurrence of a stopped schedule cancelled, not delivered", fields);
    return true;
  }
  if (result.outcome === "not-found" || TERMINAL_STATUSES.has(result.task.status)) {
    ctx.deps.logger.info("occurrence of a stopped schedule already final; not delivered", fields);
    return true;
  }
  ctx.deps.logger.warn("occurrence of a stopped schedule could not be cancelled; delivered as before", {
    ...fields,
    status: result.task.status,
  });
  return false;
}
