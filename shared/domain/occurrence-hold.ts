import { RESERVED_KEY_PREFIX } from "./reserved-keys.js";
import type { ScheduleRecord } from "./schedule.js";
import type { TaskRecord } from "./task.js";

/**
 * Deliver's schedule check (docs/RELIABILITY.md "Recurring schedules", "Held occurrences"). A schedule's pause or
 * delete cancels the occurrences made ahead; one already due but held — its topic paused, its group's head retried,
 * its destination's circuit open, a late one of a catch-up run — reaches deliver after the stop has answered.
 * Before deliver starts its attempt it reads the schedule and cancels the occurrence instead of calling it when
 * the schedule is deleted (or gone: its item expires after the topic's retention), paused, or resumed since the
 * occurrence was made (a newer epoch: occurrences that fell in the pause are skipped, not made up).
 */

/** Why a held occurrence is not delivered; undefined: it is delivered. */
export type OccurrenceStop = "deleted" | "paused" | "resumed";

/** The part of a task the check reads. */
export type OccurrenceFields = Pick<
  TaskRecord,
  "scheduleId" | "scheduleEpoch" | "idempotencyKey" | "dueAtMs" | "rescheduledFrom" | "replays"
>;

/**
 * The schedule whose state decides whether `task` is delivered, or undefined when none does: a plain task; an
 * occurrence an operator replayed (an explicit request to deliver it, whatever became of its schedule); one an
 * operator moved whose occurrence time has passed (no longer the schedule's, as for a stop: docs/API.md "Pause").
 */
export function scheduleToCheck(task: OccurrenceFields, nowMs: number): string | undefined {
  if (task.scheduleId === undefined) return undefined;
  if ((task.replays ?? 0) > 0) return undefined;
  if (task.rescheduledFrom !== undefined) {
    const occurrenceMs = occurrenceOfKey(task.idempotencyKey)?.occurrenceMs;
    if (occurrenceMs === undefined || occurrenceMs <= nowMs) return undefined;
  }
  return task.scheduleId;
}

/**
 * Whether the schedule (as read; undefined: no item) stops `task`. A missing item is a deleted schedule whose
 * retention ended: only the materializer stamps `scheduleId`, and only from a schedule it read. `ended` delivers:
 * its occurrences were made before its end (a resume that ends a paused one does so in a new epoch: manage.ts). The epoch is the task's (`scheduleEpoch`), or its idempotency key's for
 * a task made before that field; a fan-out copy of such a task has neither, and is checked by the status alone.
 */
export function occurrenceStop(
  task: OccurrenceFields,
  schedule: Pick<ScheduleRecord, "status" | "epoch"> | undefined,
): OccurrenceStop | undefined {
  if (!schedule || schedule.status === "deleted") return "deleted";
  if (schedule.status === "paused") return "paused";
  const epoch = task.scheduleEpoch ?? occurrenceOfKey(task.idempotencyKey)?.epoch;
  if (epoch !== undefined && schedule.epoch > epoch) return "resumed";
  return undefined;
}

/** The epoch and occurrence instant an occurrence's idempotency key (`schedule:<id>:<epoch>:<ms>`) carries. */
export function occurrenceOfKey(
  key: string | undefined,
): { epoch: number; occurrenceMs: number } | undefined {
  if (!key?.startsWith(RESERVED_KEY_PREFIX)) return undefined;
  const match = /:(\d+):(\d+)$/.exec(key);
  if (!match) return undefined;
  return { epoch: Number(match[1]), occurrenceMs: Number(match[2]) };
}
