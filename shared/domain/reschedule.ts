import { makeTaskKey, parseTaskId, scheduleNameFor } from "./keys.js";
import type { TaskRecord } from "./task.js";
import type { TimerPlan } from "./timing.js";

/**
 * A rescheduled task's successor. Ids carry the due time, so a new due time is a new item: the same content,
 * callback, group, idempotency key, schedule, acceptance time and acceptance ULID, so among tasks of its group due in the
 * same millisecond it keeps its place (sort key = due time, then the ULID). Attempts start again at 0: a
 * `scheduled` task has made none.
 */
export function successorKey(task: Pick<TaskRecord, "taskId" | "topic" | "groupValue">, dueAtMs: number) {
  const key = parseTaskId(task.taskId);
  if (!key) throw new Error(`malformed task id: ${task.taskId}`);
  return makeTaskKey(task.topic, task.groupValue, dueAtMs, key.ulid);
}

export function successorRecord(task: TaskRecord, dueAtMs: number, plan: TimerPlan): TaskRecord {
  const key = successorKey(task, dueAtMs);
  return {
    pk: key.pk,
    sk: key.sk,
    taskId: key.taskId,
    topic: task.topic,
    ...(task.groupValue !== undefined ? { groupValue: task.groupValue } : {}),
    status: "scheduled",
    dueAtMs,
    acceptedAtMs: task.acceptedAtMs,
    content: task.content,
    callbackUrl: task.callbackUrl,
    timer: plan.kind,
    ...(plan.kind === "schedule" ? { scheduleName: scheduleNameFor(key.taskId) } : {}),
    ...(task.idempotencyKey !== undefined ? { idempotencyKey: task.idempotencyKey } : {}),
    // A moved occurrence of a recurring schedule is still that schedule's (its view's schedule_id).
    ...(task.scheduleId !== undefined ? { scheduleId: task.scheduleId } : {}),
    ...(task.scheduleEpoch !== undefined ? { scheduleEpoch: task.scheduleEpoch } : {}),
    rescheduledFrom: task.taskId,
    // The old item's TTL, known here: the successor, once finished, outlives it (TaskRecord.expiresAtFloor).
    ...(task.expiresAt !== undefined ? { expiresAtFloor: task.expiresAt } : {}),
    attempts: 0,
  };
}

/**
 * The ids a moved task's idempotency claim may still name when the task moves on: its own, or the item it was
 * moved from — a move that answered 503 at arming stopped before pointing the claim at its successor, and a move
 * of that successor settles the earlier item, so nothing else would point the claim on.
 */
export function claimHolders(task: Pick<TaskRecord, "taskId" | "rescheduledFrom">): string[] {
  return task.rescheduledFrom === undefined ? [task.taskId] : [task.taskId, task.rescheduledFrom];
}

/** The due time a `rescheduled` task's successor has (its id carries it). */
export function successorDueAtMs(task: Pick<TaskRecord, "rescheduledTo">): number | undefined {
  return task.rescheduledTo ? parseTaskId(task.rescheduledTo)?.dueAtMs : undefined;
}
