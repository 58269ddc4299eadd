import type {
  CancelOutcome,
  IdempotencyClaim,
  IdempotencyOutcome,
  TaskStore,
} from "#shared/adapters/task-store.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { DELIVERABLE_STATUSES, type TaskRecord } from "#shared/domain/task.js";

/** An in-memory TaskStore with the same conditional semantics as the DynamoDB one, for unit tests. */
export class MemoryTaskStore implements TaskStore {
  readonly tasks = new Map<string, TaskRecord>();
  readonly idempotency = new Map<string, IdempotencyClaim>();

  async putNew(task: TaskRecord): Promise<"created" | "exists"> {
    if (this.tasks.has(task.taskId)) return "exists";
    this.tasks.set(task.taskId, structuredClone(task));
    return "created";
  }

  async get(taskId: string): Promise<TaskRecord | undefined> {
    const task = this.tasks.get(taskId);
    return task && structuredClone(task);
  }

  async removeScheduled(taskId: string): Promise<void> {
    if (this.tasks.get(taskId)?.status === "scheduled") this.tasks.delete(taskId);
  }

  async claimIdempotencyKey(claim: IdempotencyClaim): Promise<IdempotencyOutcome> {
    const existing = this.idempotency.get(claim.key);
    if (existing) return { status: "existing", taskId: existing.taskId, requestHash: existing.requestHash };
    this.idempotency.set(claim.key, claim);
    return { status: "claimed" };
  }

  async cancel(taskId: string, nowMs: number, expiresAt: number): Promise<CancelOutcome> {
    const task = this.tasks.get(taskId);
    if (!task) return { outcome: "not-found" };
    if (task.status !== "scheduled") return { outcome: "conflict", task: structuredClone(task) };
    const cancelled: TaskRecord = { ...task, status: "cancelled", cancelledAtMs: nowMs, expiresAt };
    this.tasks.set(taskId, cancelled);
    return { outcome: "cancelled", task: structuredClone(cancelled) };
  }

  async listScheduledInGroup(pk: string, fromMs: number, toMs: number): Promise<TaskRecord[]> {
    return [...this.tasks.values()]
      .filter((t) => t.pk === pk && t.status === "scheduled" && t.dueAtMs >= fromMs && t.dueAtMs <= toMs)
      .sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0))
      .map((t) => structuredClone(t));
  }

  async markQueued(taskId: string, nowMs: number): Promise<boolean> {
    const task = this.tasks.get(taskId);
    if (task?.status !== "scheduled") return false;
    this.tasks.set(taskId, { ...task, status: "queued", queuedAtMs: nowMs });
    return true;
  }

  async startAttempt(taskId: string, nowMs: number): Promise<TaskRecord | undefined> {
    const task = this.tasks.get(taskId);
    if (!task || !DELIVERABLE_STATUSES.includes(task.status)) return undefined;
    const updated: TaskRecord = {
      ...task,
      status: "delivering",
      attempts: task.attempts + 1,
      lastAttemptAtMs: nowMs,
    };
    this.tasks.set(taskId, updated);
    return structuredClone(updated);
  }

  async markDelivered(
    taskId: string,
    result: { atMs: number; latenessMs: number; deliveryLatencyMs: number; expiresAt: number },
  ): Promise<void> {
    const task = this.tasks.get(taskId);
    if (task?.status !== "delivering") return;
    this.tasks.set(taskId, {
      ...task,
      status: "delivered",
      deliveredAtMs: result.atMs,
      latenessMs: result.latenessMs,
      deliveryLatencyMs: result.deliveryLatencyMs,
      expiresAt: result.expiresAt,
    });
  }

  async recordAttemptFailure(taskId: string, failure: { error: string; atMs: number }): Promise<void> {
    const task = this.tasks.get(taskId);
    if (task?.status !== "delivering") return;
    this.tasks.set(taskId, { ...task, lastError: failure.error });
  }

  async markFailed(
    taskId: string,
    failure: { error: string; atMs: number; expiresAt: number },
  ): Promise<void> {
    const task = this.tasks.get(taskId);
    if (task?.status !== "delivering") return;
    this.tasks.set(taskId, {
      ...task,
      status: "failed",
      lastError: failure.error,
      failedAtMs: failure.atMs,
      expiresAt: failure.expiresAt,
    });
  }

  /** Test helper: the key the store would use, proving ids parse. */
  keyOf(taskId: string) {
    return parseTaskId(taskId);
  }
}
