import { ChangeMessageVisibilityBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { MAX_VISIBILITY_SECONDS } from "#shared/config/schema.js";
import { abortableCall } from "./abort-signals.js";
import { sendInBatches } from "./sqs-batch.js";

/** One received message's new visibility: hidden for `seconds` from now, then received again. */
export interface VisibilityChange {
  readonly receiptHandle: string;
  readonly seconds: number;
}

/**
 * The longest a caller waits for `changeVisibility` before giving it up (its signal aborted): deliver at the end of
 * a batch, the relay for its retry backoff. 5 s covers the SDK's three attempts of a throttled call: it waits at most
 * 1 s, then at most 2 s, between them (a random part of 500 ms × 2^n: @smithy/core retry,
 * `THROTTLING_RETRY_DELAY_BASE`); a call still unanswered after that has lost its answer (the SDK sets no request
 * timeout). Held to the function's timeout instead, the whole batch would fail and every record in it wait out the
 * queue's visibility timeout.
 */
export const VISIBILITY_CHANGE_WAIT_MS = 5_000;

/** What `changeVisibility` could not do: the receipt handles, and why (each distinct error code or name once). */
export interface VisibilityOutcome {
  readonly failed: string[];
  readonly errors?: string[];
}

/**
 * Changes the visibility of received messages, 10 per ChangeMessageVisibilityBatch, the calls side by side; an entry
 * SQS failed on its own side is sent again (`sendInBatches`). Never throws: resolves with the receipt handles whose
 * change failed (per entry in `Failed`, or the whole call), which then come back after the visibility they already
 * had, and the errors' codes (an entry's `Code`, such as ReceiptHandleIsInvalid or MessageNotInflight; a refused
 * call's name, such as AccessDenied), so a log can tell a message already gone from a missing grant
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibilityBatch.html).
 * `signal` gives the changes up: a call in flight is torn down, and nothing more is sent.
 */
export async function changeVisibility(
  sqs: SQSClient,
  queueUrl: string,
  changes: readonly VisibilityChange[],
  signal?: AbortSignal,
): Promise<VisibilityOutcome> {
  const left = await sendInBatches(
    changes,
    "v",
    (pending) =>
      sqs.send(
        ...abortableCall(
          sqs,
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: queueUrl,
            Entries: pending.map((change, i) => ({
              Id: `v${i}`,
              ReceiptHandle: change.receiptHandle,
              VisibilityTimeout: clampVisibility(change.seconds),
            })),
          }),
          signal,
        ),
      ),
    signal,
  );
  const failed = left.notDone.map((change) => change.receiptHandle);
  return left.errors.size > 0 ? { failed, errors: [...left.errors] } : { failed };
}

function clampVisibility(seconds: number): number {
  if (!Number.isFinite(seconds)) return 0;
  return Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(seconds)));
}
