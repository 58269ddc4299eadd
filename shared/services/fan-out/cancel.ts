import type { TaskScheduler } from "#shared/adapters/task-scheduler.js";
import type { CancelOptions, CancelOutcome, TaskStore } from "#shared/adapters/task-store.js";
import type { TopicConfig } from "#shared/config/index.js";
import { aggregateStatus } from "#shared/domain/fan-out.js";
import type { TaskRecord, TaskStatus } from "#shared/domain/task.js";
import { forEachBounded } from "#shared/runtime/async.js";
import { claimExpiry } from "../add-task.js";

export interface FanOutCancelDeps {
  readonly store: Pick<TaskStore, "cancel" | "restoreFanOutParent">;
  readonly scheduler: Pick<TaskScheduler, "deleteTaskSchedule">;
  readonly onScheduleDeleteError?: (error: unknown, scheduleName: string) => void;
}

/**
 * A dead-lettered copy's discard (`failed → cancelled`, out of the dead-letter list: TaskStore.discardFailed), as
 * DELETE of a plain dead-lettered task discards it. Only the parent's DELETE passes one: a group cancel and a
 * schedule's pause leave dead letters `failed`, as they leave a plain task's.
 */
export type DiscardCopy = (copy: TaskRecord) => Promise<CancelOutcome>;

/** Conditional cancels in flight at once: one per subscriber (≤ 10). */
const CANCEL_CONCURRENCY = 10;

/** What cancelling a parent's copies did: how many it cancelled now, and the status of each it could not. */
export interface FanOutCancelResult {
  readonly cancelled: number;
  /** Copies that were cancelled already (a repeated cancel). */
  readonly alreadyCancelled: number;
  /**
   * Copies whose callback was in flight: the cancel is recorded on them (`cancel-requested`, also on a repeat), and
   * each ends after that attempt — `delivered` on a 2xx, `cancelled` otherwise.
   */
  readonly cancelRequested: number;
  readonly notCancelled: readonly TaskStatus[];
  /** Copies not there (never written, or still being written; or finished and expired). */
  readonly missing: number;
  /** Whether a copy found is kept by its floor (the parent's TTL): a missing sibling was never written, not expired. */
  readonly siblingKept: boolean;
  /** The latest replay of a copy found (`replayedAtMs`; 0 for none), which kept the parent from then (keepParents). */
  readonly lastReplayedAtMs: number;
}

/**
 * Cancelling a fan-out parent (DELETE, a group cancel, a schedule's pause) cancels every copy whose attempt has
 * not started (`scheduled`, or `queued` by a replay or the sweeper), each exactly as a plain task is cancelled (one
 * conditional write, then its schedule deleted, best effort) — and, for an operator's cancel (`awaitingRetry`), a
 * copy `delivering` between two attempts, as DELETE of that copy would; the parent's DELETE also discards a
 * dead-lettered copy (`discard`, as DELETE of that copy would); a copy whose callback is in flight, or finished,
 * goes on as it is — but for the cancel's request an operator's cancel records on a copy in flight
 * (`cancel-requested`): that attempt ends it, and no other starts. Safe to repeat: a cancelled copy only conflicts. The parent item itself is marked `cancelled` first, by the caller's write, so a
 * retried add recreates no copy after it, and a repeated cancel finds it cancelled and finishes the copies. A
 * cancel that cancels no copy at all is a conflict and is undone (`restoreFanOutParent`).
 */
export async function cancelFanOutCopies(
  deps: FanOutCancelDeps,
  parent: TaskRecord,
  nowMs: number,
  expiresAt: number,
  options: CancelOptions = {},
  discard?: DiscardCopy,
): Promise<FanOutCancelResult> {
  let cancelled = 0;
  let alreadyCancelled = 0;
  let cancelRequested = 0;
  let missing = 0;
  let siblingKept = false;
  let lastReplayedAtMs = 0;
  const notCancelled: TaskStatus[] = [];
  await forEachBounded(parent.fanOut ?? [], CANCEL_CONCURRENCY, async (link) => {
    let result: CancelOutcome = await deps.store.cancel(link.taskId, nowMs, expiresAt, options);
    if (discard && result.outcome === "conflict" && result.task.status === "failed") {
      result = await discardDeadLetter(deps, discard, result.task, { nowMs, expiresAt, options });
    }
    if (result.outcome === "not-found") missing++;
    else {
      siblingKept ||= (result.task.expiresAtFloor ?? 0) * 1000 > nowMs;
      lastReplayedAtMs = Math.max(lastReplayedAtMs, result.task.replayedAtMs ?? 0);
    }
    if (result.outcome === "cancelled") {
      cancelled++;
      await deleteSchedule(deps, result.task);
    } else if (result.outcome === "cancel-requested") cancelRequested++;
    else if (result.outcome === "conflict") {
      if (result.task.status === "cancelled") alreadyCancelled++;
      else notCancelled.push(result.task.status);
    }
  });
  return {
    cancelled,
    alreadyCancelled,
    cancelRequested,
    notCancelled,
    missing,
    siblingKept,
    lastReplayedAtMs,
  };
}

/**
 * A dead-lettered copy found by the parent's DELETE is discarded, as that copy's own DELETE would (one conditional
 * write, `failed → cancelled`): nothing of a task its operator deleted is replayed later — a bulk replay of the topic
 * reads the dead-letter list, which it has left. A replay of the copy marking it `queued` between the cancel's write
 * and the discard wins that copy (the discard's condition fails), as it wins a plain task's: as the plain DELETE then
 * cancels the replayed task (cancel-task.ts, REPLAYED), the cancel is written again here, for that copy only — its
 * attempt has not started, so it is cancelled like any `queued` copy (one more conditional write, lost in turn only
 * to deliver starting it).
 */
async function discardDeadLetter(
  deps: FanOutCancelDeps,
  discard: DiscardCopy,
  failed: TaskRecord,
  cancel: { readonly nowMs: number; readonly expiresAt: number; readonly options: CancelOptions },
): Promise<CancelOutcome> {
  const result = await discard(failed);
  if (result.outcome !== "conflict" || !["queued", "scheduled"].includes(result.task.status)) return result;
  return deps.store.cancel(failed.taskId, cancel.nowMs, cancel.expiresAt, cancel.options);
}

/**
 * A parent's cancel as a cancel outcome: `cancel-requested` when a copy's callback is in flight (the cancel stands;
 * that copy stops after its attempt), `cancelled` when at least one copy is cancelled (now or before), or one
 * not there may still be written (`unwritten`), else a conflict carrying the status its copies have moved on to (the
 * parent item itself says `cancelled`: no copy is made after this), as a plain task that has moved on.
 *
 * A copy not there while its parent is young (copiesMayHaveExpired), or while a sibling is kept by its floor, was
 * never written: an add or a keyed retry may be writing it now, and one that reads this cancel after its write
 * takes the copy back (fan-out/add.ts, cancelledMeanwhile). So that copy is stopped by this cancel, which must hold:
 * answered 409 and the parent put back, such a retry had removed the copy meanwhile, answered 200, and that
 * subscriber never got the task the 409 said goes on.
 */
export function fanOutCancelOutcome(
  parent: TaskRecord,
  copies: FanOutCancelResult,
  copiesMayHaveExpired: boolean,
): CancelOutcome {
  const unwritten = copies.missing > 0 && (copies.siblingKept || !copiesMayHaveExpired);
  if (copies.cancelRequested > 0) return { outcome: "cancel-requested", task: parent };
  if (copies.cancelled + copies.alreadyCancelled > 0 || copies.notCancelled.length === 0 || unwritten) {
    return { outcome: "cancelled", task: parent };
  }
  return {
    outcome: "conflict",
    task: { ...parent, status: aggregateStatus(copies.notCancelled, parent.status) },
  };
}

/**
 * A parent whose cancel cancelled none of its copies (a 409: each has gone on) is put back as it was — `scheduled`,
 * no `cancelledAtMs`, the TTL its add gave it (`claimExpiry`, as long as its idempotency claim) — so its view says
 * nothing was cancelled, and a later cancel, replay or keyed retry meets the task the 409 described: a copy replayed
 * since (`queued`) is one a later cancel reaches. Conditional on the cancel being the one this parent shows (`cancelledAtMs`): a concurrent repeat that
 * restored it first, or a cancel after, is left alone.
 *
 * A copy replayed since the add (`replayedSinceMs`, its latest replay) kept the parent as long as the copy's new life
 * (keepParents: `claimExpiry` from the replay), which the cancel's write replaced: that TTL is the one put back, never
 * the add's below it. Put back at the add's, the parent expired (DynamoDB's TTL removed it, its id a 404) while its
 * replayed copy was still being delivered or dead-lettered, which only a replay through the parent's id reaches.
 */
export async function restoreFanOutParent(
  deps: FanOutCancelDeps,
  parent: TaskRecord,
  topic: TopicConfig | undefined,
  replayedSinceMs = 0,
): Promise<TaskRecord> {
  if (parent.cancelledAtMs === undefined) return parent;
  const keptFromMs = Math.max(parent.dueAtMs, replayedSinceMs);
  // Nor below a replay's raise the cancel's write replaced (`keptExpiresAt`): one under way as the cancel read its
  // copies kept the parent before that write and marks its copy after, so no copy read shows it.
  const expiresAt = topic
    ? Math.max(claimExpiry(keptFromMs, topic), parent.keptExpiresAt ?? 0)
    : parent.expiresAt;
  if (expiresAt === undefined) return parent;
  // The cancel's own TTL, which a copy's replay since then may have raised: that raise is kept (never lowered).
  await deps.store.restoreFanOutParent(parent.taskId, parent.cancelledAtMs, expiresAt, parent.expiresAt);
  const { cancelledAtMs: _, ...restored } = parent;
  return { ...restored, status: "scheduled", expiresAt };
}

async function deleteSchedule(deps: FanOutCancelDeps, task: TaskRecord): Promise<void> {
  if (task.timer !== "schedule" || !task.scheduleName) return;
  try {
    await deps.scheduler.deleteTaskSchedule(task.scheduleName);
  } catch (error) {
    deps.onScheduleDeleteError?.(error, task.scheduleName);
  }
}
