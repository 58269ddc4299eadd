import type { TaskScheduler } from "#shared/adapters/task-scheduler.js";
import type { CancelOptions, CancelOutcome, TaskStore } from "#shared/adapters/task-store.js";
import { conflict, notFound } from "#shared/api/errors.js";
import { fanOutTaskView } from "#shared/api/fan-out-view.js";
import type { TaskView } from "#shared/api/task-view.js";
import { type PunctualConfig, timerSettings, topicConfig } from "#shared/config/index.js";
import { copiesMayHaveExpired } from "#shared/domain/fan-out.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { successorDueAtMs, successorRecord } from "#shared/domain/reschedule.js";
import { claimExpiry, finishedExpiry, retentionExpiry, type TaskRecord } from "#shared/domain/task.js";
import { planTimer } from "#shared/domain/timing.js";
import {
  cancelFanOutCopies,
  type DiscardCopy,
  type FanOutCancelResult,
  fanOutCancelOutcome,
  restoreFanOutParent,
} from "./fan-out/cancel.js";
import { COMPLETED_AND_EXPIRED, expiredParent, viewOf } from "./fan-out/view.js";

/**
 * An operator's cancel (DELETE /v1/tasks/{id}, the group cancel, and a fan-out parent's copies through them) also
 * stops a task that keeps failing: `delivering` with no callback in flight, waiting for its retry (the store's write
 * is conditioned on that attempt, so it loses to the next attempt's start; attempt-log.ts, awaitingRetry). Its
 * message, invisible until its backoff ends, then finds it cancelled and is consumed without a call, and the
 * group's followers go on. A schedule's stop keeps to tasks not started (schedules/cancel-occurrence.ts).
 */
export const OPERATOR_CANCEL: CancelOptions = { awaitingRetry: true };

export interface CancelTaskDeps extends CancelDeps {
  /**
   * `get`: a fan-out task's answer shows its subscribers' copies (shared/services/fan-out/view.ts).
   * `putNew`: the successor of a move stopped part-way is written `cancelled` in its place (fenceSuccessor).
   */
  readonly store: Pick<
    TaskStore,
    | "cancel"
    | "restoreFanOutParent"
    | "discardFailed"
    | "get"
    | "settleRescheduled"
    | "putNew"
    | "keepFanOutParent"
  >;
}

/** What a dead letter a replay has marked is until its attempt ends (markReplayed: `queued`, then started). */
const REPLAYED: ReadonlySet<string> = new Set(["queued", "delivering"]);

/** A DELETE's discard, then its cancel of a task replayed meanwhile, then a discard of that replay undone: at most. */
const DISCARD_ROUNDS = 3;

/** What the cancel of one scheduled task needs (the group cancel passes a store without `discardFailed`). */
export interface CancelDeps {
  /**
   * `restoreFanOutParent`: a fan-out parent's cancel that cancelled no copy is undone (a 409 changes nothing).
   * `settleRescheduled`: a cancelled successor's move is settled (see settleMove). `get`: a copy cancelled while
   * that undoing was under way is found after it (cancelStandingMeanwhile); optional here only because the schedule
   * layer's deps do not name it — every function that cancels (DELETE, the group cancel, a schedule's stop, its
   * materializer, create and resume) has a store with `get` and is granted it.
   */
  readonly store: Pick<TaskStore, "cancel" | "restoreFanOutParent" | "settleRescheduled"> &
    Partial<Pick<TaskStore, "get">>;
  readonly scheduler: Pick<TaskScheduler, "deleteTaskSchedule">;
  readonly config: PunctualConfig;
  readonly now: () => number;
  /** Told about a schedule that could not be deleted (harmless, see below). */
  readonly onScheduleDeleteError?: (error: unknown, scheduleName: string) => void;
}

/**
 * `scheduled | queued → cancelled` in one conditional write; that write is the cancel, so a 200 means no delivery
 * will start (the relay and deliver re-read the status). `queued` is a task the sweeper sent again (a held task of
 * a paused topic, once its grace has passed) or a replay: its attempt has not started either. The task's schedule, if it has one, is deleted afterwards
 * on a best-effort basis: a schedule that still fires only wakes the relay, which drops cancelled tasks, so a
 * failed delete costs one wasted invocation, not a wrong delivery.
 *
 * A dead-lettered (`failed`) task is discarded instead: `failed → cancelled` in one conditional write, which
 * takes it out of the dead-letter list (the failed index), so it can no longer be replayed. Its message on the
 * topic's dead-letter queue is left to the sweeper, which deletes a DLQ message whose task is no longer
 * `failed` (shared/services/sweeper/topic-dead-letters.ts): the queue's depth follows within one sweep.
 *
 * Cancelling a task that is already cancelled answers 200 with the task (DELETE is idempotent: a client that
 * retries after a lost response gets the answer it was waiting for). A `delivering` task waiting for its retry (its
 * last attempt ended, no callback in flight) is cancelled too (OPERATOR_CANCEL); one whose callback is being made (it
 * cannot be unsent) gets its cancel requested: the view says `cancel_requested` (the route answers 202), and that
 * attempt ends the task, `delivered` or `cancelled` (TaskRecord.cancelRequestedAtMs). Any other status is a 409
 * (delivered, rescheduled).
 */
export async function cancelTask(deps: CancelTaskDeps, taskId: string | undefined): Promise<TaskView> {
  const key = taskId ? parseTaskId(taskId) : undefined;
  if (!taskId || !key) throw notFound();
  let result = await cancelAndDisarm(deps, taskId, key.topic, OPERATOR_CANCEL, discardCopy(deps, key.topic));
  // The common case (a scheduled task) pays one write; a dead-lettered one pays the failed read and a second
  // conditional write, and a task that moved on in between is a conflict like any other.
  // Replayed between the cancel's write and the discard's (a single or bulk replay's mark; its attempt maybe
  // started): cancelled as a DELETE after that replay cancels it — 200, or 202 with its attempt in flight. Answered
  // 409 "delivery was starting its attempt each time the cancel was written", it matched no order of the two
  // requests. That replay undone in turn (its send failed) is a dead letter again: discarded. Bounded.
  for (
    let round = 0;
    round < DISCARD_ROUNDS && result.outcome === "conflict" && !result.task.fanOut;
    round++
  ) {
    if (result.task.status === "failed") result = await discardDeadLettered(deps, result.task, key.topic);
    else if (round > 0 && REPLAYED.has(result.task.status))
      result = await cancelAndDisarm(deps, taskId, key.topic, OPERATOR_CANCEL);
    else break;
  }
  // A move stopped part-way (its PATCH answered 5xx): the 409 names a successor the move's retry or the sweeper
  // writes and arms later, so its DELETE would be a 404 followed by a delivery. It is written `cancelled` first.
  if (result.outcome === "conflict" && isUnsettledMove(result.task)) await fenceSuccessor(deps, result.task);

  switch (result.outcome) {
    case "not-found":
      throw notFound();
    case "conflict":
      if (result.task.status === "cancelled") return viewOf(deps.store, result.task);
      // A moved task lives on under another id: name it, or a caller holding the old id reads "too late".
      throw conflict(conflictMessage(result.task), {
        task_status: result.task.status,
        ...(result.task.rescheduledTo ? { rescheduled_to: result.task.rescheduledTo } : {}),
      });
    case "cancelled":
    // The callback in flight (a fan-out task: a copy's) goes on; the task ends after it, never called again. The
    // view says so (`cancel_requested`), and the route answers 202 for it.
    case "cancel-requested":
      return cancelledView(deps, result.task);
  }
}

/**
 * The answer to a cancel that marked its task. A fan-out parent none of whose copies is left once they may have
 * expired is a task that completed and expired (shared/domain/fan-out.ts, completedAndExpired): the mark is undone
 * and the DELETE answers 404, as GET does. A younger parent's missing copies may still be written by its add: that
 * cancel stands, so the add writes them cancelled. Only the DELETE route answers so: a group cancel skips such a
 * parent before its write (cancel-group.ts, copiesAllExpired).
 */
async function cancelledView(deps: CancelTaskDeps, task: TaskRecord): Promise<TaskView> {
  if (!task.fanOut) return viewOf(deps.store, task);
  const copies = await Promise.all(task.fanOut.map((link) => deps.store.get(link.taskId)));
  if (expiredParent(deps, { ...task, status: "scheduled" }, copies)) {
    await restoreFanOutParent(deps, task, topicConfig(deps.config, task.topic));
    throw notFound(COMPLETED_AND_EXPIRED);
  }
  // Only a cancel that stands keeps its parent longer: kept before the check above, the restore kept that raise
  // (it never lowers a TTL), and a task GET and DELETE answer 404 for lingered a delivery window more.
  await keepCancelledParent(deps, task);
  return fanOutTaskView(task, await stopLateCopies(deps, task, copies));
}

/**
 * The copies of a parent whose cancel stands, as its answer shows them: one read `scheduled` was written after this
 * cancel's write to it found nothing (its add, or a keyed retry, racing the DELETE: it takes the copy back once it
 * reads the cancel, after this answer), and the 200 said the task `scheduled`, that subscriber's row too. It is
 * cancelled now, as the cancel's own write would have (one conditional write, only in that race): the answer tells
 * what the DELETE did. Never armed (the add arms only after reading the parent not cancelled, which a copy written
 * after this cancel's writes cannot be), so no schedule to delete. A `queued` one is left: a replay after the cancel.
 */
async function stopLateCopies(
  deps: CancelTaskDeps,
  parent: TaskRecord,
  copies: readonly (TaskRecord | undefined)[],
): Promise<(TaskRecord | undefined)[]> {
  if (!copies.some((copy) => copy?.status === "scheduled")) return [...copies];
  const nowMs = deps.now();
  const expiresAt = retentionExpiry(nowMs, retentionDaysOf(deps.config, parent.topic));
  return Promise.all(
    copies.map(async (copy) => {
      if (copy?.status !== "scheduled") return copy;
      const result = await deps.store.cancel(copy.taskId, nowMs, expiresAt, OPERATOR_CANCEL);
      // Taken back by its add meanwhile: not there.
      return result.outcome === "not-found" ? undefined : result.task;
    }),
  );
}

/**
 * Why a cancel was refused. A fan-out parent's status is its copies': its DELETE cancels copies whose attempt has not
 * started and discards dead-lettered ones (docs/API.md "Fan-out"), so it is refused only when every copy was
 * delivered — or, rarely, each moved on between the cancel's writes (a replay's attempt starting, say); the plain
 * task's list of what can be cancelled would not say why.
 */
function conflictMessage(task: TaskRecord): string {
  if (task.fanOut) {
    return `task is ${task.status}; no subscriber's copy could be cancelled or discarded (each was delivered, or moved on as the cancel was written)`;
  }
  // Read back cancellable after the store's last refused write (DynamoTaskStore.cancel): deliver held it at each
  // write and gave its start back before each read. A repeat will find it still waiting, or started for good.
  if (task.status === "scheduled" || task.status === "queued") {
    return `task is ${task.status}, but delivery was starting its attempt each time the cancel was written; repeat the cancel`;
  }
  // A delivering task is cancelled, or its cancel requested on the attempt in flight: refused only when its attempt
  // changed at each write (one attempt ending, the next starting), or it predates the attempt count (no attemptSeq).
  if (task.status === "delivering") {
    return "task is delivering, and its attempt changed each time the cancel was written; repeat the cancel";
  }
  return `task is ${task.status}; only a task whose attempt has not started (scheduled, queued), a delivering one waiting for its retry, or a dead-lettered (failed) one can be cancelled`;
}

/**
 * A fan-out parent's DELETE discards its dead-lettered copies (fan-out/cancel.ts, discardDeadLetter) exactly as
 * DELETE of each copy's own id would: discardDeadLettered's write and TTL. A copy is never moved (PATCH of a copy is
 * refused), so it has no move to settle.
 */
function discardCopy(deps: CancelTaskDeps, topicName: string): DiscardCopy {
  return async (copy) => {
    const nowMs = deps.now();
    const expiresAt = finishedExpiry(copy, nowMs, retentionDaysOf(deps.config, topicName));
    return deps.store.discardFailed(copy.taskId, nowMs, expiresAt);
  };
}

/**
 * `failed → cancelled`, with the topic's retention as for any finished task, and no shorter than the floor a moved
 * task carries (finishedExpiry): kept only for the retention, a discarded successor whose move's settling below
 * never happened (the function died first, and the client did not repeat the DELETE) was gone before the sweeper
 * found the old item at its old due time, and written and delivered again.
 */
async function discardDeadLettered(
  deps: CancelTaskDeps,
  failed: TaskRecord,
  topicName: string,
): Promise<CancelOutcome> {
  const nowMs = deps.now();
  const result = await deps.store.discardFailed(
    failed.taskId,
    nowMs,
    finishedExpiry(failed, nowMs, retentionDaysOf(deps.config, topicName)),
  );
  // Discarded, it is cancelled like any other: its move, if it was a successor, is settled (see settleMove).
  if (result.outcome !== "not-found") await settleMove(deps, result.task);
  return result;
}

function retentionDaysOf(config: PunctualConfig, topicName: string): number {
  return (topicConfig(config, topicName) ?? config.system).retentionDays;
}

/**
 * A group cancel's repeat on a fan-out parent it (or a DELETE) cancelled already: its copies still `scheduled` or
 * `queued` are cancelled, as a repeated DELETE does — the cancel that marked the parent may have stopped part-way.
 */
export async function finishFanOutCancel(deps: CancelDeps, parent: TaskRecord): Promise<FanOutCancelResult> {
  const nowMs = deps.now();
  const expiresAt = retentionExpiry(nowMs, retentionDaysOf(deps.config, parent.topic));
  const copies = await cancelFanOutCopies(deps, parent, nowMs, expiresAt, OPERATOR_CANCEL);
  const parentExpiresAt = cancelledExpiry(deps, parent.topic, nowMs, expiresAt);
  await holdParentCancel(deps, parent, copies, { nowMs, parentExpiresAt, options: OPERATOR_CANCEL });
  return copies;
}

/**
 * The cancel itself, shared by DELETE /v1/tasks/{id} and the group cancel: the conditional write, then the
 * best-effort schedule delete. It only ever cancels `scheduled` or `queued` tasks — and, with `awaitingRetry`
 * (OPERATOR_CANCEL), `delivering` ones between two attempts: a group cancel leaves dead-lettered ones
 * `failed` (they stay in the dead-letter list, to replay or discard one by one).
 */
export async function cancelAndDisarm(
  deps: CancelDeps,
  taskId: string,
  topicName: string,
  options: CancelOptions = {},
  discard?: DiscardCopy,
): Promise<CancelOutcome> {
  const nowMs = deps.now();
  const retentionDays = retentionDaysOf(deps.config, topicName);
  const expiresAt = retentionExpiry(nowMs, retentionDays);
  const result = await deps.store.cancel(
    taskId,
    nowMs,
    cancelledExpiry(deps, topicName, nowMs, expiresAt),
    options,
  );
  // A fan-out parent (issue 14, point 3): the outcome is its copies' — also on a repeat (the parent already
  // cancelled), which finishes a cancel that stopped part-way. A conflict (no copy cancelled) leaves the parent
  // as it was.
  const parent = result.outcome === "not-found" ? undefined : result.task;
  if (parent?.fanOut && parent.status === "cancelled") {
    const parentExpiresAt = cancelledExpiry(deps, topicName, nowMs, expiresAt);
    const marked = result.outcome === "cancelled";
    return cancelParent(deps, parent, {
      topicName,
      nowMs,
      expiresAt,
      parentExpiresAt,
      marked,
      options,
      discard,
    });
  }
  if (result.outcome !== "not-found") await settleMove(deps, result.task);
  if (result.outcome !== "cancelled") return result;
  const { task } = result;
  if (task.timer === "schedule" && task.scheduleName) {
    try {
      await deps.scheduler.deleteTaskSchedule(task.scheduleName);
    } catch (error) {
      deps.onScheduleDeleteError?.(error, task.scheduleName);
    }
  }
  return result;
}

/** One cancel of a fan-out parent, as cancelAndDisarm made its write. */
interface ParentCancel {
  readonly topicName: string;
  readonly nowMs: number;
  /** The copies' TTL (the retention from now) and the parent's (cancelledExpiry). */
  readonly expiresAt: number;
  readonly parentExpiresAt: number;
  /** Whether this call's write marked the parent `cancelled` (else an earlier cancel's did: this is its repeat). */
  readonly marked: boolean;
  readonly options: CancelOptions;
  readonly discard?: DiscardCopy;
}

/**
 * A fan-out parent marked cancelled (by this call, or before it): the outcome is its copies' — also on a repeat,
 * which finishes a cancel that stopped part-way. A conflict (no copy cancelled) puts the parent back as it was.
 */
async function cancelParent(
  deps: CancelDeps,
  parent: TaskRecord,
  cancel: ParentCancel,
): Promise<CancelOutcome> {
  const { nowMs, topicName } = cancel;
  const copies = await cancelFanOutCopies(
    deps,
    parent,
    nowMs,
    cancel.expiresAt,
    cancel.options,
    cancel.discard,
  );
  if (!cancel.marked) await holdParentCancel(deps, parent, copies, cancel);
  const expirable = copiesMayHaveExpired(parent, topicConfig(deps.config, topicName)?.retentionDays, nowMs);
  const outcome = fanOutCancelOutcome(parent, copies, expirable);
  if (outcome.outcome !== "conflict") return outcome;
  const topic = topicConfig(deps.config, topicName);
  const restored = await restoreFanOutParent(deps, parent, topic, copies.lastReplayedAtMs);
  const standing = await cancelStandingMeanwhile(deps, parent, cancel);
  return standing ?? { outcome: "conflict", task: { ...restored, status: outcome.task.status } };
}

type ParentMark = Pick<ParentCancel, "nowMs" | "parentExpiresAt" | "options">;

/**
 * A repeat that cancelled a copy (or requested its cancel) under a parent an earlier cancel marked: that earlier one
 * may be answering 409 — every copy it read had gone on, this one's replayed since — and putting the parent back
 * `scheduled` (restoreFanOutParent). So the parent is marked again after this repeat's copies: put back already, it
 * is `cancelled` again (one conditional write, a no-op while it still is); put back later, the earlier cancel finds
 * this copy after its undoing (cancelStandingMeanwhile). Left `scheduled` under this repeat's 200, the parent's item
 * said a task never cancelled to what reads it rather than its copies (a keyed retry of the add, the 404 of a task
 * whose copies all expired).
 */
async function holdParentCancel(
  deps: CancelDeps,
  parent: TaskRecord,
  copies: FanOutCancelResult,
  mark: ParentMark,
): Promise<void> {
  if (copies.cancelled + copies.cancelRequested === 0) return;
  await deps.store.cancel(parent.taskId, mark.nowMs, mark.parentExpiresAt, mark.options);
}

/**
 * After a cancel answered 409 put its parent back: a copy cancelled (or its cancel requested) since this cancel read
 * it — by a repeat that found the parent marked by this one (holdParentCancel covers a repeat after the undoing), or
 * by DELETE of the copy's own id — is a cancel that stands, so this one stands too: the parent is marked again and
 * the call answers so, as it answers a parent with a copy already cancelled. A DELETE's or group cancel's read counts
 * a copy already cancelled, so what this finds happened since. A schedule's pause reads copies without
 * `awaitingRetry`: a copy whose cancel was requested before it (its own DELETE, a lane cancel) is found here too and
 * turns the pause's 409 into cancel-requested — true of that copy, so harmless. Read only on a 409, one read per
 * subscriber, by a caller that has `get`.
 */
async function cancelStandingMeanwhile(
  deps: CancelDeps,
  parent: TaskRecord,
  mark: ParentMark,
): Promise<CancelOutcome | undefined> {
  const get = deps.store.get?.bind(deps.store);
  if (!get) return undefined;
  const copies = await Promise.all((parent.fanOut ?? []).map((link) => get(link.taskId)));
  const requested = copies.some(
    (copy) => copy?.status === "delivering" && copy.cancelRequestedAtMs !== undefined,
  );
  if (!requested && !copies.some((copy) => copy?.status === "cancelled")) return undefined;
  const again = await deps.store.cancel(parent.taskId, mark.nowMs, mark.parentExpiresAt, mark.options);
  if (again.outcome === "not-found" || again.task.status !== "cancelled") return undefined;
  return { outcome: requested ? "cancel-requested" : "cancelled", task: again.task };
}

/**
 * The TTL a cancel writes: the retention from now, or on a fan-out topic (where the task may be a parent) as long as
 * a copy the cancel cannot stop may live — one delivering, or replayed up to now (keepParents), finishes within the
 * delivery window, then kept the retention: `claimExpiry` from now. With the retention alone, the parent of such a
 * copy expired first (DynamoDB's TTL removed it, its id a 404: no view of the copy's fate, no replay through it)
 * while the copy was still delivered or dead-lettered. A plain task there is only kept that much longer.
 */
function cancelledExpiry(deps: CancelDeps, topicName: string, nowMs: number, retention: number): number {
  const topic = topicConfig(deps.config, topicName);
  return topic?.subscribers ? Math.max(retention, claimExpiry(nowMs, topic)) : retention;
}

/**
 * A fan-out parent cancelled on a topic whose subscribers were removed since its add (runtime settings or a deploy):
 * cancelledExpiry goes by the topic's settings of now, so the cancel gave it the retention alone, and a copy the
 * cancel could not stop (delivering) outlived it — DynamoDB's TTL removed the parent (its id a 404, no replay
 * through it) while that copy was dead-lettered. Kept as on a fan-out topic (keepFanOutParent: one conditional
 * UpdateItem, never lowers); only there, so a fan-out topic's cancel pays nothing more. A topic no longer
 * configured has no delivery window to count by (remove a topic only once drained: docs/API.md).
 */
export async function keepCancelledParent(
  deps: Pick<CancelDeps, "config" | "now"> & { readonly store: Pick<TaskStore, "keepFanOutParent"> },
  parent: TaskRecord,
): Promise<void> {
  if (!parent.fanOut || parent.status !== "cancelled") return;
  const topic = topicConfig(deps.config, parent.topic);
  if (!topic || topic.subscribers) return;
  await deps.store.keepFanOutParent(parent.taskId, claimExpiry(deps.now(), topic));
}

/** A `rescheduled` item still in the sweep index: its move has not (yet) written, armed and settled its successor. */
export function isUnsettledMove(task: TaskRecord): boolean {
  return task.status === "rescheduled" && task.rescheduledTo !== undefined && task.sweepShard !== undefined;
}

/**
 * The successor of a move stopped after marking its old item, written `cancelled` under its id, so the move's
 * retry or the sweeper's repair finds it there and arms nothing, and a DELETE of the id answers 200. False when
 * the move wrote it first (it is then cancelled like any task, by its own id). The move is settled as a cancel
 * settles it (settleMove), and so is the one that made the old item: left in the sweep index, either item would be
 * found at its old due time and, what it names gone with its retention by then, its move finished.
 */
export async function fenceSuccessor(
  deps: Pick<CancelDeps, "config" | "now"> & {
    readonly store: Pick<TaskStore, "putNew" | "settleRescheduled">;
  },
  old: TaskRecord,
): Promise<boolean> {
  const due = successorDueAtMs(old);
  if (due === undefined) return true;
  const nowMs = deps.now();
  const successor = successorRecord(old, due, planTimer(due, nowMs, timerSettings(deps.config)));
  const fenced: TaskRecord = {
    ...successor,
    status: "cancelled",
    cancelledAtMs: nowMs,
    // As long as the old item that forwards to it, at least: that item names it to a repeated add (its key's claim
    // names the old id) and to the move's retry, which, this item gone first, answered `scheduled` for it.
    expiresAt: Math.max(retentionExpiry(nowMs, retentionDaysOf(deps.config, old.topic)), old.expiresAt ?? 0),
  };
  if ((await deps.store.putNew(fenced, { sweepIndex: false })) !== "created") return false;
  // The move that made the old item is settled too, as completeMove settles it: it may have stopped before its
  // last write, and the sweeper would find that item at its own due time and, the old item gone with its TTL by
  // then, write and deliver the old item's task again after this cancel.
  if (old.rescheduledFrom !== undefined) await deps.store.settleRescheduled(old.rescheduledFrom);
  await deps.store.settleRescheduled(old.taskId);
  return true;
}

/**
 * A cancelled task that a move made (a successor) settles that move: the item it was moved from leaves the sweep
 * index. Left there (the move stopped after arming, before its last write), the sweeper finds it at its old due
 * time and, should the cancelled successor be gone with its retention by then, writes and delivers it again after
 * this cancel's 200. Also on a repeated cancel, so a retry after a failure here finishes it.
 */
async function settleMove(deps: CancelDeps, task: TaskRecord): Promise<void> {
  if (task.status !== "cancelled" || task.rescheduledFrom === undefined) return;
  await deps.store.settleRescheduled(task.rescheduledFrom);
}
