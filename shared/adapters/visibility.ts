import { ChangeMessageVisibilityBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { MAX_VISIBILITY_SECONDS } from "#shared/config/schema.js";
import { chunksOf } from "#shared/runtime/chunks.js";

/** One received message's new visibility: hidden for `seconds` from now, then received again. */
export interface VisibilityChange {
  readonly receiptHandle: string;
  readonly seconds: number;
}

/** SQS takes at most 10 entries per batch call. */
const BATCH_LIMIT = 10;

/**
 * Changes the visibility of received messages, 10 per ChangeMessageVisibilityBatch, the calls side by side. Never
 * throws: resolves with the receipt handles whose change failed (per entry in `Failed`, or the whole call), which
 * then come back after the visibility they already had.
 */
export async function changeVisibility(
  sqs: SQSClient,
  queueUrl: string,
  changes: readonly VisibilityChange[],
): Promise<{ failed: string[] }> {
  const failed: string[] = [];
  await Promise.all(
    chunksOf(changes, BATCH_LIMIT).map(async (chunk) => {
      try {
        const out = await sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((change, i) => ({
              Id: `v${i}`,
              ReceiptHandle: change.receiptHandle,
              VisibilityTimeout: clampVisibility(change.seconds),
            })),
          }),
        );
        for (const f of out.Failed ?? []) {
          const change = chunk[Number(f.Id?.slice(1))];
          if (change) failed.push(change.receiptHandle);
        }
      } catch {
        failed.push(...chunk.map((c) => c.receiptHandle));
      }
    }),
  );
  return { failed };
}

function clampVisibility(seconds: number): number {
  if (!Number.isFinite(seconds)) return 0;
  return Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(seconds)));
}
