import { attemptLogEntries } from "#shared/domain/attempt-log.js";
import { DELIVERABLE_STATUSES, type TaskStatus, type TaskSummary } from "#shared/domain/task.js";
import type { SubscriberView } from "./fan-out-view.js";

/** What GET (and a successful DELETE) returns: snake_case, RFC 3339 times, absent fields omitted. */
export interface TaskView {
  readonly task_id: string;
  readonly topic: string;
  readonly status: TaskStatus;
  readonly due_at: string;
  readonly accepted_at: string;
  readonly attempts: number;
  readonly last_error?: string;
  readonly queued_at?: string;
  readonly last_attempt_at?: string;
  readonly delivered_at?: string;
  readonly failed_at?: string;
  readonly cancelled_at?: string;
  /**
   * An operator's cancel met the task with its callback in flight (TaskRecord.cancelRequestedAtMs), and that attempt
   * has not ended yet; a fan-out task: one of its copies is so. Absent otherwise.
   */
  readonly cancel_requested?: true;
  /** A `rescheduled` task: the id of the task it became (ids carry the due time). */
  readonly rescheduled_to?: string;
  readonly rescheduled_at?: string;
  readonly lateness_ms?: number;
  readonly delivery_latency_ms?: number;
  readonly callback_url: string;
  /** The deliverBy field's value that put the task in its ordering group. */
  readonly group?: string;
  /** The last ten attempts, oldest first (replays included). */
  readonly attempt_log: readonly AttemptView[];
  /** How many times the task was replayed; absent when never. */
  readonly replays?: number;
  readonly replayed_at?: string;
  /** Only on `GET /v1/tasks/{id}?include=content`. */
  readonly content?: string;
  /** The recurring schedule the task is an occurrence of. */
  readonly schedule_id?: string;
  // --- issue 14, point 3: fan-out (shared/api/fan-out-view.ts) ---
  /** A fan-out task: one row per subscriber, each its own delivery task. */
  readonly subscribers?: readonly SubscriberView[];
  /** A subscriber's copy: the fan-out task it belongs to, and the subscriber. */
  readonly parent_task_id?: string;
  readonly subscriber?: string;
}

export interface AttemptView {
  /**
   * The attempt's number over the task's whole life (replays continue it): every start takes the next one, so a
   * number missing between two entries is an attempt whose outcome was never recorded.
   */
  readonly attempt: number;
  readonly started_at: string;
  readonly duration_ms: number;
  /** The receiver's HTTP status, when it answered. */
  readonly status?: number;
  readonly error?: string;
}

function attemptViews(task: TaskSummary): AttemptView[] {
  return attemptLogEntries(task).map((entry) => ({
    attempt: entry.seq,
    started_at: rfc3339(entry.startedAtMs),
    duration_ms: entry.durationMs,
    ...(entry.status !== undefined ? { status: entry.status } : {}),
    ...(entry.error !== undefined ? { error: entry.error } : {}),
  }));
}

export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Whether a cancel requested while the task's callback was in flight is still pending: the task has not ended (once
 * it has, its status says how: `delivered` or `cancelled`).
 */
export function cancelPending(task: Pick<TaskSummary, "status" | "cancelRequestedAtMs">): boolean {
  return task.cancelRequestedAtMs !== undefined && DELIVERABLE_STATUSES.includes(task.status);
}

export function taskView(task: TaskSummary): TaskView {
  const time = (ms: number | undefined) => (ms === undefined ? undefined : rfc3339(ms));
  const view: Record<string, unknown> = {
    task_id: task.taskId,
    topic: task.topic,
    status: task.status,
    due_at: rfc3339(task.dueAtMs),
    accepted_at: rfc3339(task.acceptedAtMs),
    attempts: task.attempts,
    last_error: task.lastError,
    queued_at: time(task.queuedAtMs),
    last_attempt_at: time(task.lastAttemptAtMs),
    delivered_at: time(task.deliveredAtMs),
    failed_at: time(task.failedAtMs),
    cancelled_at: time(task.cancelledAtMs),
    cancel_requested: cancelPending(task) ? true : undefined,
    rescheduled_to: task.rescheduledTo,
    rescheduled_at: time(task.rescheduledAtMs),
    lateness_ms: task.latenessMs,
    delivery_latency_ms: task.deliveryLatencyMs,
    callback_url: task.callbackUrl,
    group: task.groupValue,
    attempt_log: attemptViews(task),
    replays: task.replays,
    replayed_at: time(task.replayedAtMs),
    schedule_id: task.scheduleId,
    parent_task_id: task.parentTaskId,
    subscriber: task.subscriber,
  };
  for (const key of Object.keys(view)) if (view[key] === undefined) delete view[key];
  return view as unknown as TaskView;
}
