import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { parseTaskMessage } from "#shared/domain/messages.js";
import { DestinationCache } from "./destination-gate.js";
import { runGroups } from "./group-runner.js";
import { handleRecord, onOverdue, stepBudgetMs } from "./record.js";
import { type BatchContext, DEFAULT_SAFETY_MARGIN_MS, type DeliverDeps } from "./types.js";
import { finishBatch, startUpFrontWithin } from "./up-front.js";
import { applyVisibilityWithin } from "./visibility.js";

export { callbackBody, callbackHeaders } from "./callback-request.js";
export { DestinationCache } from "./destination-gate.js";
export { PowertoolsDeliveryMetrics } from "./metrics.js";
export type { DeliverBinding, DeliverDeps, DeliveryMetricsSink } from "./types.js";
export {
  DEFAULT_SAFETY_MARGIN_MS,
  DEFAULT_WATCHDOG_MARGIN_MS,
  DEPLOYED_GROUP_CONCURRENCY,
  DEPLOYED_THREAD_POOL_SIZE,
} from "./types.js";

/**
 * The deliver use case for one batch from a topic FIFO queue: the batch's groups run side by side (up to
 * `groupConcurrency`), each group's records in order, a failed record failing the rest of its group (order) while
 * other groups go on. Afterwards every failed record's visibility is set to its group's decision, waited for no
 * longer than the invocation allows (`applyVisibilityWithin`).
 *
 * The steps live beside this file: group-runner.ts (groups side by side, the watchdog), record.ts (one record:
 * its queue, its failure, its budget), attempt.ts (starting an attempt: the fast path and the read path),
 * destination-gate.ts (protected topics: circuit, lease and rate token before an attempt is counted),
 * callback-request.ts (body, headers, signature), cancel-while-waiting.ts (a follower started up front whose cancel
 * was requested while it waited: not called), outcome.ts (delivered, backoff, dead-letter), visibility.ts
 * (each failed record's visibility), metrics.ts (EMF per topic), up-front.ts (the batch's start and finishing
 * writes: one read and two BatchExecuteStatement calls per batch instead of two writes per record).
 */
export async function deliverBatch(
  deps: DeliverDeps,
  event: SQSEvent,
  lambda: Pick<Context, "getRemainingTimeInMillis">,
): Promise<SQSBatchResponse> {
  const ctx = batchContext(deps, lambda, event.Records);
  // The latest the batch's records can have been received: their visibility's 12 hours count from then.
  const batchStartMs = ctx.clock();
  let response: SQSBatchResponse;
  try {
    await startUpFrontWithin(ctx, event.Records);
    response = await runGroups(event.Records, (record, signal) => handleRecord(ctx, record, signal), {
      limit: deps.groupConcurrency ?? 1,
      budgetMs: (record) => stepBudgetMs(ctx, record),
      onOverdue: (record, budgetMs) => onOverdue(ctx, record, budgetMs),
    });
    // Before the visibilities: a record whose `delivered` write failed is not acknowledged.
    response = await finishBatch(ctx, event.Records, response);
  } finally {
    deps.metrics.flush();
  }
  await applyVisibilityWithin(ctx, event.Records, response, batchStartMs);
  return response;
}

function batchContext(
  deps: DeliverDeps,
  lambda: Pick<Context, "getRemainingTimeInMillis">,
  records: readonly SQSRecord[],
): BatchContext {
  return {
    prepared: new Map(),
    finishing: { closed: false, delivered: [], giveBacks: [], uncertain: new Set() },
    repeatedTaskIds: repeatedTaskIds(records),
    deps,
    clock: deps.clock ?? Date.now,
    random: deps.random ?? Math.random,
    safetyMarginMs: deps.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS,
    lambda,
    outcomes: new Map(),
    destinations: deps.destinationCache ?? new DestinationCache(),
  };
}

/** Task ids carried by more than one record of the batch (a re-sent copy next to its original). */
function repeatedTaskIds(records: readonly SQSRecord[]): Set<string> {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const record of records) {
    const taskId = parseTaskMessage(record.body)?.taskId;
    if (taskId === undefined) continue;
    if (seen.has(taskId)) repeated.add(taskId);
    seen.add(taskId);
  }
  return repeated;
}
