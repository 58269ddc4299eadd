import { randomUUID } from "node:crypto";
import type { TaskStore } from "#shared/adapters/task-store.js";
import type { TopicQueue } from "#shared/adapters/topic-queue.js";
import { replayDeduplicationId } from "#shared/domain/replay.js";
import { finishedExpiry, type TaskRecord } from "#shared/domain/task.js";

/**
 * Moves a task to its topic's FIFO dead-letter queue and records it `failed`. DLQ first, status second: a crash in
 * between leaves the task `delivering` with its attempts used up, which the deliver function (on the retried
 * record) or the sweeper finishes; the repeated DLQ send is deduplicated by task id. `failed` is written only while
 * the task is in the attempt `task` was read or started in (`attemptSeq`): a redelivery that began the next attempt
 * meanwhile keeps the task and records its own outcome. Whether `failed` was written (false: already final, or in
 * another attempt; true for a resend that met its own earlier write, whose answer was lost — not for another
 * writer's identical `failed`: each call's write carries its own id).
 */
export async function deadLetterTask(
  deps: {
    readonly topicQueue: Pick<TopicQueue, "sendToDeadLetter">;
    readonly store: Pick<TaskStore, "markFailed">;
  },
  target: { readonly dlqUrl: string; readonly retentionDays: number },
  task: Pick<TaskRecord, "pk" | "taskId" | "replays" | "expiresAtFloor" | "attemptSeq">,
  reason: string,
  atMs: () => number,
): Promise<boolean> {
  await deps.topicQueue.sendToDeadLetter(
    target.dlqUrl,
    task.pk,
    task.taskId,
    reason,
    replayDeduplicationId(task),
  );
  const failedAtMs = atMs();
  return deps.store.markFailed(task.taskId, {
    error: reason,
    atMs: failedAtMs,
    expiresAt: finishedExpiry(task, failedAtMs, target.retentionDays),
    // Only while the task is still in the attempt that dead-letters it: the DLQ send takes no signal, so a step
    // given up during it goes on, and its `failed` could land on the redelivery's attempt.
    ...(task.attemptSeq !== undefined && { attemptSeq: task.attemptSeq }),
    writeId: deadLetteringWriteId(),
  });
}

/**
 * A fresh id for one writer's `failed` (DeadLettering.writeId): the SDK's resends of that write carry it, another
 * writer's never does — two overlapping sweeper runs on one clock write the same instant, error and attempt.
 */
export function deadLetteringWriteId(): string {
  return randomUUID();
}
