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

/** What `changeVisibility` could not do: the receipt handles, and why (each distinct error code or name once). */
export interface VisibilityOutcome {
  readonly failed: string[];
  readonly errors?: string[];
}

/**
 * Changes the visibility of received messages, 10 per ChangeMessageVisibilityBatch, the calls side by side. Never
 * throws: resolves with the receipt handles whose change failed (per entry in `Failed`, or the whole call), which
 * then come back after the visibility they already had, and the errors' codes (an entry's `Code`, such as
 * ReceiptHandleIsInvalid or MessageNotInflight; a refused call's name, such as AccessDenied), so a log can tell a
 * message already gone from a missing grant
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibilityBatch.html).
 */
export async function changeVisibility(
  sqs: SQSClient,
  queueUrl: string,
  changes: readonly VisibilityChange[],
): Promise<VisibilityOutcome> {
  const failed: string[] = [];
  const errors = new Set<string>();
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
          errors.add(f.Code ?? "unknown");
        }
      } catch (error) {
        failed.push(...chunk.map((c) => c.receiptHandle));
        errors.add(error instanceof Error ? error.name : "unknown");
      }
    }),
  );
  return errors.size > 0 ? { failed, errors: [...errors] } : { failed };
}

function clampVisibility(seconds: number): number {
  if (!Number.isFinite(seconds)) return 0;
  return Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(seconds)));
}
