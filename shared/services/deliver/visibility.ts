import type { SQSBatchResponse, SQSRecord } from "aws-lambda";
import type { VisibilityChange } from "#shared/adapters/topic-queue.js";
import type { DeliverDeps } from "./types.js";

/**
 * Every failed record's visibility is set to its group's decision (the head's and its followers', else the
 * followers would stay hidden for the queue's whole visibility timeout and hold the group back), one call per
 * queue.
 */
export async function applyVisibility(
  deps: DeliverDeps,
  records: readonly SQSRecord[],
  response: SQSBatchResponse,
  visibilityOf: (record: SQSRecord) => number | undefined,
): Promise<void> {
  const failedIds = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  if (failedIds.size === 0) return;
  const byQueue = new Map<string, VisibilityChange[]>();
  for (const record of records) {
    if (!failedIds.has(record.messageId)) continue;
    const seconds = visibilityOf(record);
    const queueUrl = deps.bindingFor(record.eventSourceARN)?.queueUrl;
    // Unknown queue or no decision: leave the queue's own visibility timeout in place.
    if (seconds === undefined || !queueUrl) continue;
    const changes = byQueue.get(queueUrl) ?? [];
    changes.push({ receiptHandle: record.receiptHandle, seconds });
    byQueue.set(queueUrl, changes);
  }
  await Promise.all(
    [...byQueue.entries()].map(async ([queueUrl, changes]) => {
      const { failed } = await deps.topicQueue.setVisibility(queueUrl, changes);
      if (failed.length > 0) {
        // Not fatal: those records come back after the queue's visibility timeout instead.
        deps.logger.warn("changing message visibility failed", { queueUrl, count: failed.length });
      }
    }),
  );
}
