import type { SQSBatchResponse, SQSRecord } from "aws-lambda";
import type { VisibilityChange } from "#shared/adapters/topic-queue.js";
import { topicMaxReceiveCount, topicQueueVisibilitySeconds } from "#shared/config/index.js";
import { MAX_VISIBILITY_SECONDS } from "#shared/config/schema.js";
import { abortedAfterMs } from "#shared/runtime/async.js";
import { groupKey } from "./group-runner.js";
import {
  type BatchContext,
  type DeliverBinding,
  type DeliverDeps,
  type GroupOutcome,
  visibilityLeftMs,
} from "./types.js";

/** When the batch's records were received (`batchStartMs`, the invocation's start) and the clock to read now. */
export interface ReceiptClock {
  readonly batchStartMs: number;
  readonly clock: () => number;
}

/**
 * Every failed record's visibility is set to its group's decision (the head's and its followers', else the
 * followers would stay hidden for the queue's whole visibility timeout and hold the group back), one call per
 * queue, cut to what is left of the record's 12 hours (`secondsLeftOfReceipt`).
 */
export async function applyVisibility(
  deps: DeliverDeps,
  records: readonly SQSRecord[],
  response: SQSBatchResponse,
  outcomeOf: (record: SQSRecord) => GroupOutcome | undefined,
  receipt: ReceiptClock,
  signal?: AbortSignal,
): Promise<void> {
  const failedIds = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  if (failedIds.size === 0) return;
  const failed = records.filter((record) => failedIds.has(record.messageId));
  const receives = mostReceivesByGroup(failed);
  const byQueue = new Map<string, VisibilityChange[]>();
  for (const record of failed) {
    const binding = deps.bindingFor(record.eventSourceARN);
    const seconds = visibilitySeconds(outcomeOf(record), receives.get(groupKey(record)) ?? 1, binding);
    // Unknown queue or no decision: leave the queue's own visibility timeout in place.
    if (seconds === undefined || !binding) continue;
    const changes = byQueue.get(binding.queueUrl) ?? [];
    const left = secondsLeftOfReceipt(record, receipt, queueVisibilityOf(binding));
    changes.push({ receiptHandle: record.receiptHandle, seconds: Math.min(seconds, left) });
    byQueue.set(binding.queueUrl, changes);
  }
  await Promise.all(
    [...byQueue.entries()].map(async ([queueUrl, changes]) => {
      const { failed } = await deps.topicQueue.setVisibility(queueUrl, changes, signal);
      if (failed.length > 0) {
        // Not fatal: those records come back after the queue's visibility timeout instead.
        deps.logger.warn("changing message visibility failed", { queueUrl, count: failed.length });
      }
    }),
  );
}

/**
 * The batch's visibility changes (`applyVisibility`), waited for no longer than `VISIBILITY_WAIT_MS` and the
 * invocation allows (`visibilityLeftMs`); past that they are given up (their calls aborted) and the batch answers all
 * the same. A hung call (an answer lost: the SDK sets no request timeout by default) held the invocation to Lambda's
 * timeout, which fails the whole batch: every record, acknowledged ones too, then stays in flight for the queue's
 * visibility timeout (210 s as deployed), and an in-flight message holds its FIFO group's next ones back ("Inflight
 * messages block delivery of available messages within the same message group",
 * https://repost.aws/knowledge-center/sqs-fifo-messages-not-returned) — one lost answer made up to ten groups 3.5
 * minutes late. Now it costs them at most the wait, and the records whose change it held come back after the
 * visibility timeout, as a failed change's do.
 */
export async function applyVisibilityWithin(
  ctx: BatchContext,
  records: readonly SQSRecord[],
  response: SQSBatchResponse,
  batchStartMs: number,
): Promise<void> {
  const budgetMs = visibilityLeftMs(ctx);
  const outcome = await abortedAfterMs(
    (signal) =>
      applyVisibility(
        ctx.deps,
        records,
        response,
        (record) => ctx.outcomes.get(groupKey(record)),
        { batchStartMs, clock: ctx.clock },
        signal,
      ),
    budgetMs,
  );
  if (outcome !== "overdue") return;
  ctx.deps.logger.error(
    "the batch's visibility changes did not answer in time; the batch answers without them",
    {
      budgetMs,
    },
  );
}

/**
 * Kept off what is left of a receipt's 12 hours: SQS's timestamps and the function's clock may disagree by a little
 * (and a first receive's invocation follows its receive by a little).
 */
export const RECEIPT_CLOCK_MARGIN_SECONDS = 60;

/** The longest a wait that uses no attempt is stretched to: a disruption's end is seen within a quarter hour. */
export const STRETCHED_WAIT_CAP_SECONDS = 900;

/**
 * The visibility a failed record gets from its group's outcome (undefined keeps the queue's own timeout), given the
 * most receives among the group's failed records. SQS counts every receive towards the queue's `maxReceiveCount`,
 * attempt or not, and moves a message past it to the DLQ, where the alarm pages and the group's later messages,
 * received fewer times, overtake it. Attempts are bounded by `maxAttempts`, which the backstop is sized for; a wait
 * that uses none (DynamoDB or the signing secret unavailable, a destination that makes it wait, no time left) is
 * not, and at a few seconds per receive a disruption of a quarter of an hour spent the whole backstop. So once a
 * group's messages have used half of it, each such wait doubles (2 s, 4 s, … up to 15 minutes): the second half
 * lasts over ten hours of disruption (over five days on a protected topic), and a group is back within 15 minutes
 * of its end. A backoff after a failed attempt is left as it is, and so is a wait until the task is due.
 */
export function visibilitySeconds(
  outcome: GroupOutcome | undefined,
  receives: number,
  binding: Pick<DeliverBinding, "topic" | "maxReceiveCount"> | undefined,
): number | undefined {
  if (!outcome) return undefined;
  const seconds = outcome.kind === "immediate" ? 0 : outcome.seconds;
  if (!binding || outcome.kind === "backoff" || outcome.kind === "until-due") return seconds;
  const backstop = binding.maxReceiveCount ?? topicMaxReceiveCount(binding.topic);
  const pastHalf = receives - Math.floor(backstop / 2);
  if (pastHalf <= 0) return seconds;
  return Math.max(seconds, Math.min(STRETCHED_WAIT_CAP_SECONDS, 2 ** pastHalf));
}

/**
 * What is left of the 12 hours SQS allows a received message to stay hidden, counted from the receive that returned
 * its receipt handle: SQS refuses a visibility that passes them (it does not cut it down: "If you attempt to set the
 * VisibilityTimeout to an amount more than the maximum time left, Amazon SQS returns an error",
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html), and the
 * message is then back after the queue's visibility timeout, a receive spent every few minutes towards the DLQ (a
 * message due days ahead). A first receive is `ApproximateFirstReceiveTimestamp`. A later one's time Lambda does not
 * pass on, and it is not the batch's start: Lambda retries an invocation throttled for want of concurrency with the
 * messages it has received "until the message's timestamp exceeds your queue's visibility timeout"
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html), so the receive may precede the
 * invocation by up to the queue's visibility timeout (`queueVisibilitySeconds`). Counted from the batch's start, the
 * latest it can be, a message due days ahead was asked to hide for the whole rest, refused on AWS whenever its
 * invocation had waited over a minute, and back after the visibility timeout, as often as throttling lasted.
 */
export function secondsLeftOfReceipt(
  record: SQSRecord,
  receipt: ReceiptClock,
  queueVisibilitySeconds = 0,
): number {
  const firstReceivedAtMs = Number(record.attributes?.ApproximateFirstReceiveTimestamp);
  const isFirst = (Number(record.attributes?.ApproximateReceiveCount) || 1) <= 1;
  const receivedAtMs =
    isFirst && Number.isFinite(firstReceivedAtMs) && firstReceivedAtMs > 0
      ? Math.min(firstReceivedAtMs, receipt.batchStartMs)
      : receipt.batchStartMs - queueVisibilitySeconds * 1000;
  const elapsedSeconds = Math.ceil(Math.max(0, receipt.clock() - receivedAtMs) / 1000);
  return Math.max(0, MAX_VISIBILITY_SECONDS - elapsedSeconds - RECEIPT_CLOCK_MARGIN_SECONDS);
}

/** The visibility timeout of a binding's queue as deployed (see DeliverBinding); 0 for an unknown queue. */
function queueVisibilityOf(binding: DeliverBinding | undefined): number {
  if (!binding) return 0;
  return binding.queueVisibilitySeconds ?? topicQueueVisibilitySeconds(binding.topic);
}

/** Group key → the most receives (ApproximateReceiveCount) among the group's records: the one nearest the backstop. */
function mostReceivesByGroup(records: readonly SQSRecord[]): Map<string, number> {
  const most = new Map<string, number>();
  for (const record of records) {
    const receives = Number(record.attributes?.ApproximateReceiveCount) || 1;
    const key = groupKey(record);
    most.set(key, Math.max(most.get(key) ?? 0, receives));
  }
  return most;
}
