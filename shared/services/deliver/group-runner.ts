import type { SQSBatchResponse, SQSRecord } from "aws-lambda";
import { withinMs } from "#shared/runtime/async.js";

/**
 * Why our own runner and not Powertools' SqsFifoPartialProcessorAsync: that processor handles a batch's records
 * one after another, so a batch of ten groups would take ten callbacks' time and one slow receiver would hold up
 * every group behind it. This runner keeps its `skipGroupOnError` semantics and runs the groups side by side.
 */

/** A record's ordering group: its queue and its MessageGroupId (groups of different queues never mix). */
export function groupKey(record: SQSRecord): string {
  return `${record.eventSourceARN}|${record.attributes.MessageGroupId ?? ""}`;
}

export interface GroupRunnerOptions {
  /** How many groups run at once. */
  readonly limit: number;
  /** How long the runner waits for one record's step before it stops waiting (the watchdog). */
  readonly budgetMs: (record: SQSRecord) => number;
  /** Told about a step the runner stopped waiting for. */
  readonly onOverdue: (record: SQSRecord, budgetMs: number) => void;
}

/**
 * FIFO batch processing with `skipGroupOnError` semantics — each group's records in order, and from a group's
 * first failure on, the rest of that group fails unattempted — with up to `limit` groups of a batch running side
 * by side. Groups are independent by definition, so a batch of ten groups takes one callback's time instead of
 * ten: one slow receiver delays no other group's callback. It does delay their next messages: the batch's records
 * leave the queue only when the invocation returns, so the groups that shared a batch with a slow receiver wait
 * for it (at most its watchdog budget) before their next tasks are received. Failures are reported in the batch's
 * order.
 *
 * Watchdog: a step that has not settled within its budget counts as failed (with the rest of its group), so one
 * hung step can hold neither the other groups' results nor the invocation. Its records are reported failed, never
 * acknowledged, so SQS delivers them again. The step cannot be stopped from outside (a hung call is a promise), so
 * its group's signal is aborted: the step's AWS calls take it (the SDK tears a hung request down and never sends it
 * again) and the step checks it before each thing it cannot take back, so a step that goes on once a hung call
 * answers starts, sends and records nothing beside the redelivery of the records it was given up with.
 */
export async function runGroups(
  records: readonly SQSRecord[],
  handleRecord: (record: SQSRecord, signal: AbortSignal) => Promise<void>,
  options: GroupRunnerOptions,
): Promise<SQSBatchResponse> {
  const queue = groupsInBatchOrder(records);
  const failed = new Set<string>();
  const worker = async () => {
    for (let group = queue.shift(); group; group = queue.shift()) {
      for (const messageId of await runGroup(group, handleRecord, options)) failed.add(messageId);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.limit, queue.length) }, worker));
  return {
    batchItemFailures: records
      .filter((r) => failed.has(r.messageId))
      .map((r) => ({ itemIdentifier: r.messageId })),
  };
}

/** The batch's records by group, groups in the order of their first record, each group's records in order. */
export function groupsInBatchOrder(records: readonly SQSRecord[]): SQSRecord[][] {
  const groups = new Map<string, SQSRecord[]>();
  for (const record of records) {
    const group = groups.get(groupKey(record));
    if (group) group.push(record);
    else groups.set(groupKey(record), [record]);
  }
  return [...groups.values()];
}

/**
 * One group's records in order until the first failure; returns the message ids of that record and the rest. The
 * group's signal is aborted when the watchdog gives its step up (the group stops there: one signal serves it).
 */
async function runGroup(
  group: readonly SQSRecord[],
  handleRecord: (record: SQSRecord, signal: AbortSignal) => Promise<void>,
  { budgetMs, onOverdue }: GroupRunnerOptions,
): Promise<string[]> {
  const watchdog = new AbortController();
  for (const [i, record] of group.entries()) {
    const budget = budgetMs(record);
    const settled = await withinBudget(handleRecord(record, watchdog.signal), budget);
    if (settled === "done") continue;
    if (settled === "overdue") {
      watchdog.abort();
      onOverdue(record, budget);
    }
    return group.slice(i).map((rest) => rest.messageId);
  }
  return [];
}

/** Whether a step settled (`done` / `failed`) within `budgetMs`, or was still running then (`overdue`). */
function withinBudget(step: Promise<void>, budgetMs: number): Promise<"done" | "failed" | "overdue"> {
  // Both outcomes handled here, so a step that rejects after the runner gave up on it is not unhandled.
  const settled = step.then(
    () => "done" as const,
    () => "failed" as const,
  );
  return withinMs(settled, budgetMs);
}
