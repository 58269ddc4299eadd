import type { TaskRecord } from "#shared/domain/task.js";

export interface IdempotencyClaim {
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
   * (strongly consistent).
   */
  listScheduledInGroup(pk: string, fromMs: number, toMs: number): Promise<TaskRecord[]>;
  /** `scheduled → queued`; false when the task had moved on (cancelled, or already being delivered). */
  markQueued(taskId: string, nowMs: number): Promise<boolean>;
  /**
   * Starts a delivery attempt: `scheduled|queued|delivering → delivering`, attempts + 1. Returns the updated
   * task, or undefined when the task is missing or already delivered / failed / cancelled.
   */
  startAttempt(taskId: string, nowMs: number): Promise<TaskRecord | undefined>;
  markDelivered(
    taskId: string,
    result: { atMs: number; latenessMs: number; deliveryLatencyMs: number; expiresAt: number },
  ): Promise<void>;
  recordAttemptFailure(taskId: string, failure: { error: string; atMs: number }): Promise<void>;
  markFailed(taskId: string, failure: { error: string; atMs: number; expiresAt: number }): Promise<void>;
}
