import { parseTaskId } from "#shared/domain/keys.js";
import type { TaskStatus } from "#shared/domain/task.js";
import type { AcceptedTask, FinalState, Findings, ObservedCallback, Outcome } from "../verify.js";

/** What the outcome check contributes to the findings, plus each task's outcome for the order check. */
export interface OutcomeTally {
  readonly outcomes: Record<Outcome, number>;
  readonly lost: { taskId: string; clientKey: string; why: string }[];
  readonly pending: Findings["pending"][number][];
  readonly outcomeOf: Map<string, Outcome>;
  deadLetteredAfterA2xx: number;
  readonly cancels: Record<NonNullable<AcceptedTask["cancel"]>["outcome"], number>;
}

/** Classifies every accepted task (see `verify`), keeping at most `limit` examples of lost and pending ones. */
export function tallyOutcomes(
  accepted: readonly AcceptedTask[],
  byTask: ReadonlyMap<string, readonly ObservedCallback[]>,
  final: FinalState,
  nowMs: number,
  limit: number,
): OutcomeTally {
  const tally: OutcomeTally = {
    outcomes: { delivered: 0, "dead-lettered": 0, cancelled: 0, pending: 0, lost: 0 },
    lost: [],
    pending: [],
    outcomeOf: new Map(),
    deadLetteredAfterA2xx: 0,
    cancels: { cancelled: 0, "cancel-requested": 0, conflict: 0, "not-found": 0, "gave-up": 0 },
  };
  for (const task of accepted) {
    if (task.cancel) tally.cancels[task.cancel.outcome]++;
    const status = final.statuses.get(task.taskId);
    const succeeded = (byTask.get(task.taskId) ?? []).some((c) => c.success);
    const { outcome, why } = classify(task, status, succeeded, final);
    if (outcome === "dead-lettered" && succeeded) tally.deadLetteredAfterA2xx++;
    if (outcome === "pending" && status !== undefined && tally.pending.length < limit)
      tally.pending.push(pendingEntry(task, status, nowMs));
    tally.outcomes[outcome]++;
    tally.outcomeOf.set(task.taskId, outcome);
    if (outcome === "lost" && tally.lost.length < limit)
      tally.lost.push({ taskId: task.taskId, clientKey: task.clientKey, why });
  }
  return tally;
}

/** One task's outcome from its final status, and why it would be lost. */
function classify(
  task: AcceptedTask,
  status: TaskStatus | undefined,
  succeeded: boolean,
  final: FinalState,
): { outcome: Outcome; why: string } {
  if (status === undefined) return { outcome: "lost", why: "no task item at the end" };
  if (status === "delivered")
    return {
      outcome: succeeded ? "delivered" : "lost",
      why: "status delivered, but the receiver never answered 2xx",
    };
  if (status === "failed")
    return {
      outcome: final.deadLetterQueue.has(task.taskId) ? "dead-lettered" : "lost",
      why: "status failed, but not on the dead-letter queue",
    };
  if (status === "cancelled")
    return {
      outcome: task.cancel ? "cancelled" : "lost",
      why: "status cancelled, but the client never cancelled it",
    };
  return { outcome: "pending", why: "" };
}

function pendingEntry(task: AcceptedTask, status: TaskStatus, nowMs: number): Findings["pending"][number] {
  const due = parseTaskId(task.taskId)?.dueAtMs ?? 0;
  return { taskId: task.taskId, clientKey: task.clientKey, status, overdueMs: nowMs - due };
}
