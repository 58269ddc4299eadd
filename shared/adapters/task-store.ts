import type { AttemptLogEntry } from "#shared/domain/attempt-log.js";
import type { TaskRecord, TaskStatus } from "#shared/domain/task.js";

/** A claim on an idempotency key. Keys are scoped per topic: `invoice-42` on two topics is two keys. */
export interface IdempotencyClaim {
  readonly topic: string;
  readonly key: string;
  readonly taskId: string;
  /** Hash of the normalised request, so a repeat with a different body is told apart (409). */
  readonly requestHash: string;
  readonly expiresAt: number;
}

export type IdempotencyOutcome =
  | { readonly status: "claimed" }
  | { readonly status: "existing"; readonly taskId: string; readonly requestHash: string };

export type CancelOutcome =
  | { readonly outcome: "cancelled"; readonly task: TaskRecord }
  | { readonly outcome: "not-found" }
  | { readonly outcome: "conflict"; readonly task: TaskRecord };

export type RescheduleOutcome =
  | { readonly outcome: "rescheduled"; readonly task: TaskRecord }
  | { readonly outcome: "not-found" }
  | { readonly outcome: "conflict"; readonly task: TaskRecord };

/** One page of a group's unfinished tasks in group order, and where the next page starts. */
export interface GroupPage {
  readonly tasks: TaskRecord[];
  /** The sort key to continue after; undefined when the group has been read to its end. */
  readonly lastSk?: string;
}

export type ReplayOutcome =
  | { readonly outcome: "replayed"; readonly task: TaskRecord }
  | { readonly outcome: "not-found" }
  | { readonly outcome: "conflict"; readonly task: TaskRecord };

/** An unfinished task as the sweep index holds it: enough to find its group. */
export interface UnfinishedTaskRef {
  readonly taskId: string;
  readonly pk: string;
  readonly dueAtMs: number;
}

/** Where a page of a list ends: DynamoDB's LastEvaluatedKey, unmarshalled (the API turns it into a cursor). */
export type PageKey = Readonly<Record<string, string | number>>;

/** One page of a list, and where the next begins (absent on the last page). */
export interface TaskPage {
  readonly tasks: TaskRecord[];
  readonly next?: PageKey;
}

/**
 * Task persistence. Every status change is a conditional write, so concurrent relays, deliveries and cancels
 * can race freely: exactly one of them wins each transition.
 */
export interface TaskStore {
  /** Creates the task unless an item with its key exists. */
  putNew(task: TaskRecord): Promise<"created" | "exists">;
  /** Strongly consistent read. */
  get(taskId: string): Promise<TaskRecord | undefined>;
  /** Removes a task that is still `scheduled` (used when arming its timer failed and the add is refused). */
  removeScheduled(taskId: string): Promise<void>;
  claimIdempotencyKey(claim: IdempotencyClaim): Promise<IdempotencyOutcome>;
  /** `scheduled → cancelled`; any other status is a conflict. */
  cancel(taskId: string, nowMs: number, expiresAt: number): Promise<CancelOutcome>;
  /**
   * The group's tasks still `scheduled` with due time in [fromMs, toMs], in order of due time then acceptance
   * (strongly consistent). When `others` is given, the status of every other task of the group in that window
   * is put in it (task id → status): the same read answers "is this message's task still pending?" without
   * one more read per message.
   */
  listScheduledInGroup(
    pk: string,
    fromMs: number,
    toMs: number,
    others?: Map<string, TaskStatus>,
  ): Promise<TaskRecord[]>;
  /** `scheduled → queued`; false when the task had moved on (cancelled, or already being delivered). */
  markQueued(taskId: string, nowMs: number): Promise<boolean>;
  /**
   * Starts a delivery attempt: `scheduled|queued|delivering → delivering`, attempts + 1. Returns the updated
   * task, or undefined when the task is missing or already delivered / failed / cancelled. With `maxAttempts`,
   * also undefined for a task already `delivering` whose attempts reached it (it must be dead-lettered instead):
   * then one conditional write both checks and starts, where a read and a write were needed.
   */
  startAttempt(taskId: string, nowMs: number, maxAttempts?: number): Promise<TaskRecord | undefined>;
  /** With `attempt`, the attempt's entry goes into the attempt log ring in the same write. */
  markDelivered(
    taskId: string,
    result: {
      atMs: number;
      latenessMs: number;
      deliveryLatencyMs: number;
      expiresAt: number;
      attempt?: AttemptLogEntry;
    },
  ): Promise<void>;
  recordAttemptFailure(
    taskId: string,
    failure: { error: string; atMs: number; attempt?: AttemptLogEntry },
  ): Promise<void>;
  markFailed(taskId: string, failure: { error: string; atMs: number; expiresAt: number }): Promise<void>;
  /**
   * Unfinished tasks (`scheduled`, `queued`, `delivering`) of one sweep shard due at or before `dueByMs`, oldest
   * first, at most `limit` (`truncated` when more remain). Read from the sparse sweep index, so eventually
   * consistent: callers re-read before acting.
   */
  listUnfinishedDueBy(
    shard: number,
    dueByMs: number,
    limit: number,
  ): Promise<{ tasks: UnfinishedTaskRef[]; truncated: boolean }>;
  /**
   * A group's unfinished tasks with due time in [fromMs, toMs], in group order (due time, then acceptance),
   * strongly consistent; also the `rescheduled` tasks still in the sweep index (a reschedule that stopped
   * before its successor was settled, for the sweeper to finish).
   */
  listUnfinishedInGroup(pk: string, fromMs: number, toMs: number): Promise<TaskRecord[]>;
  /**
   * Records that the sweeper put a `queued` / `delivering` task back on its FIFO queue (`requeuedAtMs`), which
   * restarts its stall clock; false when the task is no longer queued or delivering.
   */
  markRequeued(taskId: string, nowMs: number): Promise<boolean>;

  // Operations routes (issue 11, scope I2: reschedule, run now, group cancel).
  /**
   * `scheduled → rescheduled` with `rescheduledTo`, in one conditional write; the task stays in the sweep index
   * until `settleRescheduled`, so the sweeper finishes a reschedule that stopped after this write.
   */
  markRescheduled(
    taskId: string,
    change: { readonly to: string; readonly atMs: number; readonly expiresAt: number },
  ): Promise<RescheduleOutcome>;
  /** Takes a `rescheduled` task out of the sweep index (its successor exists); false when it is not rescheduled. */
  settleRescheduled(taskId: string): Promise<boolean>;
  /**
   * Up to `limit` items of one group read in group order after `startAfterSk` (strongly consistent), of which
   * the unfinished ones are returned: bounded work per call for bulk operations on a group.
   */
  listGroupPage(pk: string, limit: number, startAfterSk?: string): Promise<GroupPage>;
  // --- issue 11, scope H: listing (appended block) ---
  /** One ordering group's tasks in delivery order (sort key ascending), strongly consistent, one page. */
  listGroup(pk: string, limit: number, after?: PageKey): Promise<TaskPage>;
  /** A topic's dead-lettered tasks, newest failure first, from the sparse failed index (eventually consistent). */
  listFailed(topic: string, limit: number, after?: PageKey): Promise<TaskPage>;
  // --- issue 11, scope H: replay (appended block) ---
  /**
   * `failed | delivered → queued` for another delivery: replays + 1, attempts back to 0 (maxAttempts applies per
   * replay; `attemptSeq` and the attempt log continue), out of the failed index, back in the sweep index, TTL
   * removed. The caller then sends the task to its FIFO queue.
   */
  markReplayed(taskId: string, nowMs: number): Promise<ReplayOutcome>;
  // --- issue 12: discard a dead-lettered task (appended block) ---
  /**
   * `failed → cancelled` (the operator gives up on a dead-lettered task): out of the failed index, TTL set to
   * `expiresAt`; any other status is a conflict. History (failedAtMs, lastError, the attempt log) is kept.
   */
  discardFailed(taskId: string, nowMs: number, expiresAt: number): Promise<CancelOutcome>;
}
