import type { SQSBatchResponse, SQSRecord } from "aws-lambda";
import type { VisibilityChange } from "#shared/adapters/topic-queue.js";
import { topicMaxReceiveCount } from "#shared/config/index.js";
import { groupKey } from "./group-runner.js";
import type { DeliverBinding, DeliverDeps, GroupOutcome } from "./types.js";

/**
 * Every failed record's visibility is set to its group's decision (the head's and its followers', else the
 * followers would stay hidden for the queue's whole visibility timeout and hold the group back), one call per
 * queue.
 */
export async function applyVisibility(
  deps: DeliverDeps,
  records: readonly SQSRecord[],
  response: SQSBatchResponse,
  outcomeOf: (record: SQSRecord) => GroupOutcome | undefined,
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
    changes.push({ receiptHandle: record.receiptHandle, seconds });
    byQueue.set(binding.queueUrl, changes);
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
