import type { TaskRecord } from "#shared/domain/task.js";
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
 */

/** What the attempt log and (on a first attempt) the task's error say of a start ended by its cancel request. */
export const CANCELLED_BEFORE_CALLBACK =
  "attempt given back: its task's cancel was requested before its callback";

/**
 * Whether the follower's task, read again after its wait, carries a cancel request (and was ended `cancelled`,
 * no callback to make). A read that fails leaves it unknown: no call is made on it — the start is given back and
 * the error fails the record, which comes back with its group after the first backoff step.
 */
export async function cancelledWhileWaiting(
  ctx: BatchContext,
  scope: RecordScope,
  prepared: Extract<PreparedRecord, { kind: "started" }>,
  attempt: StartedAttempt,
): Promise<boolean> {
  if (!prepared.follower) return false;
  const waitedMs = attempt.startedAt - (prepared.started.lastAttemptAtMs ?? attempt.startedAt);
  if (waitedMs < (ctx.deps.cancelCheckAfterMs ?? DEFAULT_CANCEL_CHECK_AFTER_MS)) return false;
  let current: TaskRecord | undefined;
  try {
    current = await ctx.deps.store.get(prepared.started.taskId, scope);
  } catch (error) {
    giveBack(ctx, prepared.read, prepared.started);
    throw error;
  }
  return endedAsRequested(ctx, scope, attempt, current);
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
