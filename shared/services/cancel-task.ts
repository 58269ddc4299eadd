import type { TaskScheduler } from "#shared/adapters/task-scheduler.js";
import type { CancelOutcome, TaskStore } from "#shared/adapters/task-store.js";
import { conflict, notFound } from "#shared/api/errors.js";
import { type TaskView, taskView } from "#shared/api/task-view.js";
import { type PunctualConfig, topicConfig } from "#shared/config/index.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { retentionExpiry } from "#shared/domain/task.js";

export interface CancelTaskDeps {
  readonly store: Pick<TaskStore, "cancel">;
  readonly scheduler: Pick<TaskScheduler, "deleteTaskSchedule">;
  readonly config: PunctualConfig;
  readonly now: () => number;
  /** Told about a schedule that could not be deleted (harmless, see below). */
  readonly onScheduleDeleteError?: (error: unknown, scheduleName: string) => void;
}

/**
 * `scheduled → cancelled` in one conditional write; that write is the cancel, so a 200 means no delivery will
 * start (the relay and deliver re-read the status). The task's schedule, if it has one, is deleted afterwards
 * on a best-effort basis: a schedule that still fires only wakes the relay, which drops cancelled tasks, so a
 * failed delete costs one wasted invocation, not a wrong delivery.
 *
 * Cancelling a task that is already cancelled answers 200 with the task (DELETE is idempotent: a client that
 * retries after a lost response gets the answer it was waiting for). Any other status is 409 with the status.
 */
export async function cancelTask(deps: CancelTaskDeps, taskId: string | undefined): Promise<TaskView> {
  const key = taskId ? parseTaskId(taskId) : undefined;
  if (!taskId || !key) throw notFound();
  const result = await cancelAndDisarm(deps, taskId, key.topic);

  switch (result.outcome) {
    case "not-found":
      throw notFound();
    case "conflict":
      if (result.task.status === "cancelled") return taskView(result.task);
      throw conflict(
        `task is ${result.task.status}; only a scheduled task can be cancelled (it has been handed to delivery)`,
        { task_status: result.task.status },
      );
    case "cancelled":
      return taskView(result.task);
  }
}

/**
 * The cancel itself, shared by DELETE /v1/tasks/{id} and the group cancel: the conditional write, then the
 * best-effort schedule delete.
 */
export async function cancelAndDisarm(
  deps: CancelTaskDeps,
  taskId: string,
  topicName: string,
): Promise<CancelOutcome> {
  const nowMs = deps.now();
  const retentionDays = (topicConfig(deps.config, topicName) ?? deps.config.system).retentionDays;
  const result = await deps.store.cancel(taskId, nowMs, retentionExpiry(nowMs, retentionDays));
  if (result.outcome !== "cancelled") return result;
  const { task } = result;
  if (task.timer === "schedule" && task.scheduleName) {
    try {
      await deps.scheduler.deleteTaskSchedule(task.scheduleName);
    } catch (error) {
      deps.onScheduleDeleteError?.(error, task.scheduleName);
    }
  }
  return result;
}
