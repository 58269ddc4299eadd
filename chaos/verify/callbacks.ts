import { parseTaskId } from "#shared/domain/keys.js";
import type { AcceptedTask, Findings, ObservedCallback } from "../verify.js";

/** Cancelled with a 200, yet called back (a task called back before its cancel: after the cancel was sent). */
export function deliveredAfterCancel(
  accepted: readonly AcceptedTask[],
  byTask: ReadonlyMap<string, readonly ObservedCallback[]>,
): string[] {
  return accepted
    .filter((t) => t.cancel?.outcome === "cancelled" && calledBackAfterCancel(t, byTask.get(t.taskId) ?? []))
    .map((t) => t.taskId);
}

/**
 * A task cancelled with a 200 while `scheduled` or `queued` (the sweeper's re-send; chaos replays nothing) must
 * never have been called back at all. A dead-lettered one discarded with a 200 (DELETE of a `failed` task), or a
 * `delivering` one cancelled while it waited for its retry, was called back before; a callback arriving after the
 * first DELETE was sent is the violation.
 */
function calledBackAfterCancel(task: AcceptedTask, callbacks: readonly ObservedCallback[]): boolean {
  const since = task.cancel?.cancelSentAtMs;
  return callbacks.some((c) => since === undefined || c.arrivalMs >= since);
}

/** Checks every callback on its own: early (before the due time encoded in the task id), webhook id, signature. */
export function checkEachCallback(
  callbacks: readonly ObservedCallback[],
): Pick<Findings, "deliveredBeforeDue" | "webhookIdMismatches" | "invalidSignatures"> {
  const deliveredBeforeDue: { taskId: string; earlyByMs: number }[] = [];
  let webhookIdMismatches = 0;
  let invalidSignatures = 0;
  for (const callback of callbacks) {
    const due = parseTaskId(callback.taskId)?.dueAtMs;
    if (due !== undefined && callback.arrivalMs < due)
      deliveredBeforeDue.push({ taskId: callback.taskId, earlyByMs: due - callback.arrivalMs });
    if (callback.webhookId !== callback.taskId) webhookIdMismatches++;
    if (callback.signatureValid === false) invalidSignatures++;
  }
  return { deliveredBeforeDue, webhookIdMismatches, invalidSignatures };
}

/** Callbacks for task ids the client was never acknowledged (a refused add whose clean-up failed, etc.). */
export function unacknowledged(
  accepted: readonly AcceptedTask[],
  byTask: ReadonlyMap<string, readonly ObservedCallback[]>,
): Findings["unacknowledged"] {
  const acceptedIds = new Set(accepted.map((t) => t.taskId));
  const unknown = [...byTask.keys()].filter((id) => !acceptedIds.has(id));
  return {
    tasks: unknown.length,
    callbacks: unknown.reduce((n, id) => n + (byTask.get(id)?.length ?? 0), 0),
  };
}
