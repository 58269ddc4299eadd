import { parseTaskId } from "#shared/domain/keys.js";
import type { AcceptedTask, Findings, ObservedCallback } from "../verify.js";

/**
 * Cancelled with a 200, yet called back (a task called back before its cancel: after the cancel was sent); or
 * answered 202 (its callback in flight) and called back after the cancel was sent other than by that one attempt.
 */
export function deliveredAfterCancel(
  accepted: readonly AcceptedTask[],
  byTask: ReadonlyMap<string, readonly ObservedCallback[]>,
): string[] {
  return accepted
    .filter((t) => {
      const callbacks = byTask.get(t.taskId) ?? [];
      if (t.cancel?.outcome === "cancelled") return calledBackAfterCancel(t, callbacks);
      return t.cancel?.outcome === "cancel-requested" && calledBackAfterRequest(t, callbacks);
    })
    .map((t) => t.taskId);
}

/**
 * A 202: the attempt in flight when the cancel landed goes on (a callback cannot be unsent), and its request may
 * reach the receiver after the DELETE was sent — at most once, numbered as the answer counted it (`punctual-attempt`
 * ≤ `inFlightAttempt`: earlier attempts' callbacks may have arrived late too). Any callback after the DELETE was sent
 * beyond that one, or numbered after it, is an attempt started after the cancel: the violation. Without the number
 * (an answer that did not say, a callback without the header) only the one callback is excused.
 */
function calledBackAfterRequest(task: AcceptedTask, callbacks: readonly ObservedCallback[]): boolean {
  const since = task.cancel?.cancelSentAtMs;
  const limit = task.cancel?.inFlightAttempt;
  const after = callbacks.filter((c) => since === undefined || c.arrivalMs >= since);
  const numbered = (c: ObservedCallback) => Number(c.attemptHeader);
  const later = after.some((c) => limit !== undefined && numbered(c) > limit);
  const theInFlightOne = after.filter(
    (c) => limit === undefined || c.attemptHeader === undefined || numbered(c) === limit,
  );
  return later || theInFlightOne.length > 1;
}

/**
 * A task cancelled with a 200 while `scheduled` or `queued` (the sweeper's re-send; chaos replays nothing) must
 * never have been called back at all. A dead-lettered one discarded with a 200 (DELETE of a `failed` task), or a
 * `delivering` one cancelled while it waited for its retry, was called back before; a callback arriving after the
 * first DELETE was sent is the violation — but for the one attempt in flight as it was sent, which ended before the
 * cancel landed (the cancel met it in flight, its request lost to that attempt's recorded failure, and the task,
 * waiting for its retry then, was cancelled): once, numbered (`punctual-attempt`) within the attempts the 200
 * counted (`attemptsAtCancel`).
 */
function calledBackAfterCancel(task: AcceptedTask, callbacks: readonly ObservedCallback[]): boolean {
  const since = task.cancel?.cancelSentAtMs;
  const after = callbacks.filter((c) => since === undefined || c.arrivalMs >= since);
  const counted = task.cancel?.attemptsAtCancel;
  if (since === undefined || counted === undefined) return after.length > 0;
  // The attempt in flight as the DELETE was sent, ended before the cancel landed (its answer counts it): once.
  return after.length > 1 || after.some((c) => !(Number(c.attemptHeader) <= counted));
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
