import type { ScheduleView } from "#shared/api/schemas/schedules.js";
import { rfc3339 } from "#shared/api/task-view.js";
import { type ScheduleRecord, VIEW_NEXT_OCCURRENCES } from "#shared/domain/schedule.js";
import { type CronSpec, occurrencesBetween, uncomputableProblem } from "#shared/domain/schedule-cron.js";

/** The cron spec a stored schedule computes its occurrences from. */
export function specOf(schedule: ScheduleRecord): CronSpec {
  return {
    cron: schedule.cron,
    timezone: schedule.timezone,
    ...(schedule.startAtMs !== undefined ? { startAtMs: schedule.startAtMs } : {}),
    ...(schedule.endAtMs !== undefined ? { endAtMs: schedule.endAtMs } : {}),
  };
}

/** What the schedule routes answer: snake_case, RFC 3339 times, absent fields omitted, next occurrences. */
export function scheduleView(schedule: ScheduleRecord, nowMs: number): ScheduleView {
  const time = (ms: number | undefined) => (ms === undefined ? undefined : rfc3339(ms));
  // One schedule this release cannot compute must not turn its view, or its whole topic's list, into a 500.
  const next =
    schedule.status === "active" && uncomputableProblem(schedule) === undefined
      ? occurrencesBetween(specOf(schedule), nowMs, Number.MAX_SAFE_INTEGER, VIEW_NEXT_OCCURRENCES)
      : [];
  const view: Record<string, unknown> = {
    schedule_id: schedule.scheduleId,
    topic: schedule.topic,
    cron: schedule.cron,
    timezone: schedule.timezone,
    status: schedule.status,
    content: schedule.content,
    callback_url: schedule.callbackUrl,
    deliver_by: schedule.deliverBy,
    catch_up: schedule.catchUp ?? "all",
    start_at: time(schedule.startAtMs),
    end_at: time(schedule.endAtMs),
    created_at: rfc3339(schedule.createdAtMs),
    updated_at: rfc3339(schedule.updatedAtMs),
    materialized_until: rfc3339(schedule.materializedUntilMs),
    paused_at: time(schedule.pausedAtMs),
    deleted_at: time(schedule.deletedAtMs),
    next_occurrences: next.map(rfc3339),
    skipped_occurrences: schedule.skippedOccurrences,
    last_skipped: schedule.lastSkipped && {
      occurrence: rfc3339(schedule.lastSkipped.occurrenceMs),
      at: rfc3339(schedule.lastSkipped.atMs),
      code: schedule.lastSkipped.code,
      message: schedule.lastSkipped.message,
    },
  };
  for (const key of Object.keys(view)) if (view[key] === undefined) delete view[key];
  return view as unknown as ScheduleView;
}
