import { aggregateStatus, type FanOutLink, type SubscriberStatus } from "#shared/domain/fan-out.js";
import type { TaskSummary } from "#shared/domain/task.js";
import { cancelPending, rfc3339, type TaskView, taskView } from "./task-view.js";

/** One subscriber's row in a fan-out task's view (issue 14, point 3): its copy's delivery at a glance. */
export interface SubscriberView {
  readonly id: string;
  /** The copy's own task id: GET it for its whole view, replay or cancel it like any task. */
  readonly task_id: string;
  readonly callback_url: string;
  /** `missing`: the copy's item is not there (an add that stopped before it was acknowledged, or retention ran out). */
  readonly status: SubscriberStatus;
  readonly attempts: number;
  readonly last_error?: string;
  readonly last_attempt_at?: string;
  readonly delivered_at?: string;
  readonly failed_at?: string;
  readonly replays?: number;
  /** The copy's callback was in flight when an operator's cancel met it (TaskView's `cancel_requested`). */
  readonly cancel_requested?: true;
}

function subscriberView(link: FanOutLink, copy: TaskSummary | undefined): SubscriberView {
  if (!copy)
    return {
      id: link.subscriber,
      task_id: link.taskId,
      callback_url: link.url,
      status: "missing",
      attempts: 0,
    };
  const view: SubscriberView = {
    id: link.subscriber,
    task_id: link.taskId,
    callback_url: copy.callbackUrl,
    status: copy.status,
    attempts: copy.attempts,
    ...(copy.lastError !== undefined ? { last_error: copy.lastError } : {}),
    ...(copy.lastAttemptAtMs !== undefined ? { last_attempt_at: rfc3339(copy.lastAttemptAtMs) } : {}),
    ...(copy.deliveredAtMs !== undefined ? { delivered_at: rfc3339(copy.deliveredAtMs) } : {}),
    ...(copy.failedAtMs !== undefined ? { failed_at: rfc3339(copy.failedAtMs) } : {}),
    ...(copy.replays !== undefined ? { replays: copy.replays } : {}),
    ...(cancelPending(copy) ? { cancel_requested: true as const } : {}),
  };
  return view;
}

/**
 * A fan-out parent's view: the task as added (id, topic, due, group, acceptance) with `subscribers`, one row per
 * subscriber in configured order. Its `status` sums them up (`aggregateStatus`) and `attempts` is the total over
 * the copies; `callback_url` is empty (the subscribers' URLs are in their rows). `copies[i]` is the copy the
 * parent's i-th link names, or undefined when it is missing.
 */
export function fanOutTaskView(parent: TaskSummary, copies: readonly (TaskSummary | undefined)[]): TaskView {
  const links = parent.fanOut ?? [];
  const subscribers = links.map((link, i) => subscriberView(link, copies[i]));
  return {
    ...taskView(parent),
    status: aggregateStatus(
      subscribers.map((s) => s.status),
      parent.status,
    ),
    attempts: subscribers.reduce((sum, s) => sum + s.attempts, 0),
    ...(subscribers.some((s) => s.cancel_requested) ? { cancel_requested: true as const } : {}),
    subscribers,
  };
}
