import type { SQSRecord } from "aws-lambda";
import { errorText } from "#shared/runtime/async.js";
import { deliverRecord } from "./attempt.js";
import { groupKey } from "./group-runner.js";
import { retryGroupAfterFirstStep } from "./outcome.js";
import {
  type BatchContext,
  DEFAULT_WATCHDOG_MARGIN_MS,
  invocationLeftMs,
  RecordFailedError,
} from "./types.js";

/** One record as the group runner sees it: its queue's binding looked up, and any failure fails it. */

/** Delivers one record; throws (failing it and the rest of its group) when it must come back. */
export async function handleRecord(ctx: BatchContext, record: SQSRecord, signal: AbortSignal): Promise<void> {
  const binding = ctx.deps.bindingFor(record.eventSourceARN);
  if (!binding) {
    ctx.deps.logger.error("record from a queue this function does not serve", {
      eventSourceArn: record.eventSourceARN,
      messageId: record.messageId,
    });
    throw new RecordFailedError("unknown event source");
  }
  const group = groupKey(record);
  try {
    await deliverRecord(ctx, record, {
      binding,
      group,
      messageId: record.messageId,
      signal,
    });
  } catch (error) {
    // An unexpected failure (DynamoDB, SQS…): retry after the topic's first backoff step.
    retryGroupAfterFirstStep(ctx, group, binding.topic);
    // A call aborted because the watchdog gave the step up: already reported (onOverdue), not a new failure.
    if (!(error instanceof RecordFailedError) && !signal.aborted) {
      ctx.deps.logger.error("delivering a record failed", {
        messageId: record.messageId,
        topic: binding.topic.name,
        error: errorText(error),
      });
    }
    throw error;
  }
}

/** How long the group runner waits for one record's step (see `watchdogMarginMs`). */
export function stepBudgetMs(ctx: BatchContext, record: SQSRecord): number {
  const timeoutMs = (ctx.deps.bindingFor(record.eventSourceARN)?.topic.callbackTimeoutSeconds ?? 0) * 1000;
  const margin = ctx.deps.watchdogMarginMs ?? DEFAULT_WATCHDOG_MARGIN_MS;
  return Math.min(timeoutMs + margin, invocationLeftMs(ctx));
}

/**
 * A step the runner stopped waiting for: its group goes back after the first backoff step, not the queue's — and
 * no sooner than the topic's callback timeout. The step's callback may still be open (one that started late in
 * the step, after a slow read, runs up to its timeout past the give-up less the margin): a redelivery sooner would
 * call the receiver beside it, and its follower's callback could arrive while the head's is still open — one
 * group, one callback at a time.
 */
export function onOverdue(ctx: BatchContext, record: SQSRecord, budgetMs: number): void {
  const binding = ctx.deps.bindingFor(record.eventSourceARN);
  if (binding) {
    const group = groupKey(record);
    retryGroupAfterFirstStep(ctx, group, binding.topic);
    const outcome = ctx.outcomes.get(group);
    const seconds = outcome && outcome.kind !== "immediate" ? outcome.seconds : 0;
    const floor = Math.ceil(binding.topic.callbackTimeoutSeconds);
    if (outcome && seconds < floor) {
      ctx.outcomes.set(
        group,
        outcome.kind === "immediate" ? { kind: "retry", seconds: floor } : { ...outcome, seconds: floor },
      );
    }
  }
  ctx.deps.logger.error("a record's step did not settle in time; its group is returned to the queue", {
    messageId: record.messageId,
    budgetMs,
  });
}
