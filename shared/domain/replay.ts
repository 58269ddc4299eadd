import type { TaskRecord } from "./task.js";

/**
 * The FIFO MessageDeduplicationId of a task's messages in its current life: the task id, then `<id>#r<n>` after
 * the n-th replay. SQS FIFO drops a message whose dedup id was seen in the last 5 minutes, so a replay (on the
 * topic queue) and a replay that fails again (on the topic DLQ) need ids of their own; repeats within one life
 * (a retried send, the sweeper's re-send) keep the same id and stay deduplicated.
 */
export function replayDeduplicationId(task: Pick<TaskRecord, "taskId" | "replays">): string {
  return task.replays ? `${task.taskId}#r${task.replays}` : task.taskId;
}

/**
 * Which life of `taskId` a message sent under `deduplicationId` belongs to (0 before any replay, n after the
 * n-th); undefined for an id that is neither form.
 */
export function replayLifeOf(taskId: string, deduplicationId: string): number | undefined {
  if (deduplicationId === taskId) return 0;
  const suffix = deduplicationId.startsWith(`${taskId}#r`) ? deduplicationId.slice(taskId.length + 2) : "";
  return /^[1-9]\d*$/.test(suffix) ? Number(suffix) : undefined;
}
