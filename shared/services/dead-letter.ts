import type { TaskStore } from "#shared/adapters/task-store.js";
import type { TopicQueue } from "#shared/adapters/topic-queue.js";
import { replayDeduplicationId } from "#shared/domain/replay.js";
import { finishedExpiry, type TaskRecord } from "#shared/domain/task.js";

/**
 * Moves a task to its topic's FIFO dead-letter queue and records it `failed`. DLQ first, status second: a crash in
 * between leaves the task `delivering` with its attempts used up, which the deliver function (on the retried
 * record) or the sweeper finishes; the repeated DLQ send is deduplicated by task id.
 */
export async function deadLetterTask(
  deps: {
    readonly topicQueue: Pick<TopicQueue, "sendToDeadLetter">;
    readonly store: Pick<TaskStore, "markFailed">;
  },
  target: { readonly dlqUrl: string; readonly retentionDays: number },
  task: Pick<TaskRecord, "pk" | "taskId" | "replays" | "expiresAtFloor">,
  reason: string,
  atMs: () => number,
): Promise<void> {
  await deps.topicQueue.sendToDeadLetter(
    target.dlqUrl,
    task.pk,
    task.taskId,
    reason,
    replayDeduplicationId(task),
  );
  const failedAtMs = atMs();
  await deps.store.markFailed(task.taskId, {
    error: reason,
    atMs: failedAtMs,
    expiresAt: finishedExpiry(task, failedAtMs, target.retentionDays),
  });
}
