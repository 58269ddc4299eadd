import type { OccurrenceStop } from "#shared/domain/occurrence-hold.js";
import { retentionExpiry, type TaskRecord, TERMINAL_STATUSES } from "#shared/domain/task.js";
import { heldOccurrenceStop } from "./held-occurrence.js";
import { refundStart } from "./outcome.js";
import {
  type BatchContext,
  DEFAULT_CANCEL_CHECK_AFTER_MS,
  type PreparedRecord,
  type RecordScope,
  type StartedAttempt,
} from "./types.js";
import { giveBack } from "./up-front.js";

/**
 * A follower's cancel, requested while it waited for its turn. The batch start (up-front.ts) starts a group's later
 * records with its first, so each is `delivering`, its attempt counted, for as long as the callbacks before it take
 * (a slow receiver: seconds). An operator's cancel then meets an attempt with no recorded outcome and is recorded
 * as a request (202 `cancel_requested`), which that attempt's outcome honours — but no callback was under way: the
 * operator expects none. So a follower that waited at least `cancelCheckAfterMs` reads its task again (one
 * strongly consistent GetItem) before its callback, and a request found there ends the task `cancelled` without a
 * call. A group's first record and a follower that waited less read nothing: the happy path pays nothing, and a
 * follower called within that threshold of the batch's start was as good as in flight when the cancel came.
 *
 * An occurrence among those followers had its schedule read by the batch's start, before its wait: a pause or
 * delete answered meanwhile does not cancel it (it is due, not made ahead: deliver's check is the only one that
 * stops it), so it reads its schedule again too (one more GetItem) and a stopped schedule ends it the same way.
 */

/** What the attempt log and (on a first attempt) the task's error say of a start ended by its cancel request. */
export const CANCELLED_BEFORE_CALLBACK =
  "attempt given back: its task's cancel was requested before its callback";

/**
 * Whether the follower's task, read again after its wait, carries a cancel request or (an occurrence) its schedule
 * was stopped, and was ended `cancelled`: no callback to make. A read that fails leaves it unknown: no call is made
 * on it — the start is given back and the error fails the record, which comes back with its group after the first
 * backoff step.
 */
export async function cancelledWhileWaiting(
  ctx: BatchContext,
  scope: RecordScope,
  prepared: StartedRecord,
  attempt: StartedAttempt,
): Promise<boolean> {
  const waitedMs = attempt.startedAt - (prepared.started.lastAttemptAtMs ?? attempt.startedAt);
  if (!readsAgainAfterWaiting(prepared.follower === true, waitedMs, ctx.deps.cancelCheckAfterMs))
    return false;
  let current: TaskRecord | undefined;
  try {
    current = await ctx.deps.store.get(prepared.started.taskId, scope);
  } catch (error) {
    giveBack(ctx, prepared.read, prepared.started);
    throw error;
  }
  return endedWhileWaiting(ctx, scope, prepared, attempt, current);
}

/**
 * Whether a record started with its batch reads its task again before its callback: a follower (behind an earlier
 * record of its group in the batch, up-front.ts `followersOf`) that waited `cancelCheckAfterMs` or more for its turn
 * since the batch's start. Also what the capacity planner charges its read by (plan/model/deliver.ts).
 */
export function readsAgainAfterWaiting(
  follower: boolean,
  waitedMs: number,
  cancelCheckAfterMs = DEFAULT_CANCEL_CHECK_AFTER_MS,
): boolean {
  return follower && waitedMs >= cancelCheckAfterMs;
}

type StartedRecord = Extract<PreparedRecord, { kind: "started" }>;

/**
 * Whether a start made with the batch, its task read since (`current`), ended without a call: a cancel requested on
 * it, or (an occurrence) its schedule stopped since the batch's start read it. `start`: the task as read before that
 * start and as started, for the give-back should a read or the cancel fail (the record then comes back).
 */
export async function endedWhileWaiting(
  ctx: BatchContext,
  scope: RecordScope,
  start: Pick<StartedRecord, "read" | "started">,
  attempt: Pick<StartedAttempt, "started" | "startedAt">,
  current: TaskRecord | undefined,
): Promise<boolean> {
  if (!current || current.cancelRequestedAtMs !== undefined)
    return givenBackIfEndFails(ctx, start, endedAsRequested(ctx, scope, attempt, current));
  let requested: TaskRecord | "final" | undefined;
  try {
    const stop = await heldOccurrenceStop(ctx, current, scope);
    if (stop === undefined) return false;
    requested = await stopRequested(ctx, scope, current, stop);
  } catch (error) {
    // No request recorded, or unknown: the start goes back (counted for no call otherwise), the record comes back.
    giveBack(ctx, start.read, start.started);
    throw error;
  }
  if (requested === "final") return true;
  const ended = await givenBackIfEndFails(ctx, start, endedAsRequested(ctx, scope, attempt, requested));
  // A moved occurrence's old item leaves the sweep index, as every cancel of a successor settles it.
  if (ended && current.rescheduledFrom !== undefined)
    await ctx.deps.store.settleRescheduled(current.rescheduledFrom);
  return ended;
}

/**
 * The write ending a start as requested failed, and may or may not have been written: the start is given back (a
 * give-back refused because the write did land is not warned of), so the attempt is not counted for a call never
 * made, and the error fails the record, which comes back with its group. A give-back that meets the request on
 * its start ends the task `cancelled` itself (the store's second statement), so it never reads `scheduled` with a
 * request; one whose end did land finds the task cancelled already and changes nothing.
 */
async function givenBackIfEndFails(
  ctx: BatchContext,
  start: Pick<StartedRecord, "read" | "started">,
  ending: Promise<boolean>,
): Promise<boolean> {
  try {
    return await ending;
  } catch (error) {
    giveBack(ctx, start.read, start.started, true);
    throw error;
  }
}

/**
 * The stop's cancel of a follower occurrence, made as held-occurrence.ts makes it (`DELETE /v1/tasks/{id}`'s): its
 * attempt is started, so the cancel is recorded on it as a request, which `endedAsRequested` then ends with the
 * attempt given back. Answers the task as the cancel left it, or "final" when the cancel found it final or gone (the
 * record is done, nothing to call); a refused cancel (the task moved on) answers it as read, with no request: its
 * callback is made as before the check.
 */
async function stopRequested(
  ctx: BatchContext,
  scope: RecordScope,
  task: TaskRecord,
  stop: OccurrenceStop,
): Promise<TaskRecord | "final"> {
  const nowMs = ctx.clock();
  const expiresAt = retentionExpiry(nowMs, scope.binding.topic.retentionDays);
  const result = await ctx.deps.store.cancel(task.taskId, nowMs, expiresAt, { awaitingRetry: true });
  const fields = {
    taskId: task.taskId,
    scheduleId: task.scheduleId,
    schedule: stop,
    outcome: result.outcome,
  };
  if (result.outcome === "conflict" && !TERMINAL_STATUSES.has(result.task.status)) {
    ctx.deps.logger.warn(
      "its schedule was stopped while it waited, but its cancel was refused; called",
      fields,
    );
    return task;
  }
  ctx.deps.logger.info("its schedule was stopped while it waited for its turn; not called", fields);
  return result.outcome === "cancel-requested" ? result.task : "final";
}

/**
 * A start whose task carries a cancel request (`current`, read since the start) sends nothing: its attempt is given
 * back in the write that ends the task `cancelled` — the store's path for an attempt in flight whose cancel was
 * requested (recordAttemptFailure), so the request's TTL, the sweep index and the attempt's condition are the same.
 * The record is done (its message consumed) and its group goes on. False when `current` carries no request.
 */
export async function endedAsRequested(
  ctx: BatchContext,
  scope: RecordScope,
  { started, startedAt }: Pick<StartedAttempt, "started" | "startedAt">,
  current: TaskRecord | undefined,
): Promise<boolean> {
  if (current?.cancelRequestedAtMs === undefined) return false;
  const ended = await refundStart(ctx, started, startedAt, CANCELLED_BEFORE_CALLBACK, scope);
  const fields = { taskId: started.taskId, attemptSeq: started.attemptSeq };
  if (ended === "cancelled") {
    ctx.deps.logger.info(
      "cancel requested while it waited for its turn; the task is cancelled, not called",
      fields,
    );
  } else {
    // Refused: the task is no longer in this start (another writer ended it). Still nothing to call.
    ctx.deps.logger.warn(
      "cancel requested while it waited for its turn; not called, the task had moved on",
      fields,
    );
  }
  return true;
}
