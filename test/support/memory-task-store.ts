import {
  type AbortOptions,
  type AttemptFailure,
  type BatchClaimOutcome,
  type BatchStart,
  type BatchStartOutcome,
  type CancelOptions,
  type CancelOutcome,
  type DeadLettering,
  type DueSchedule,
  type FinishWrite,
  GROUP_TASK_REF_ATTRIBUTES,
  type GroupItemStatus,
  type GroupPage,
  type GroupReadOptions,
  type GroupTaskRef,
  hasStarted,
  type IdempotencyClaim,
  type IdempotencyOutcome,
  type InsertManyOutcome,
  isOwnFailed,
  type ListFailedOptions,
  MAX_READ_PAST_STARTED,
  type ManyRead,
  type NewTaskEntry,
  type NewTaskOptions,
  type PageKey,
  type PutManyFailure,
  type ReplayOptions,
  type ReplayOutcome,
  type ReplayRevert,
  type RescheduleOutcome,
  type ScheduleChange,
  type SchedulePage,
  type ScheduleUpdateOutcome,
  STARTED_OVERTAKE_MARGIN_MS,
  type SweepCursor,
  type SweepPosition,
  startedTask,
  type TaskPage,
  type TaskStore,
  type UnfinishedTaskRef,
} from "#shared/adapters/task-store.js";
import { type AttemptLogEntry, attemptLogSlot, awaitingRetry } from "#shared/domain/attempt-log.js";
import { bySortKey, parseTaskId } from "#shared/domain/keys.js";
import { retryWaitLeftMs } from "#shared/domain/retry-wait.js";
import { parseScheduleId, type ScheduleRecord, schedulePartitionKey } from "#shared/domain/schedule.js";
import { sweepShardOf, UNFINISHED_STATUSES } from "#shared/domain/sweep.js";
import {
  DELIVERABLE_STATUSES,
  retentionEnded,
  type TaskRecord,
  type TaskStatus,
  type TaskSummary,
  TERMINAL_STATUSES,
} from "#shared/domain/task.js";
import { MemoryDestinations } from "./memory-destinations.js";

/**
 * An in-memory TaskStore with the same conditional semantics as the DynamoDB one, for unit tests. Like the table,
 * it keeps `sweepShard` on a task while it is unfinished and off the near-term happy path (as the table does), and
 * answers the sweep-index query from it.
 */
export class MemoryTaskStore implements TaskStore {
  readonly tasks = new Map<string, TaskRecord>();
  readonly idempotency = new Map<string, IdempotencyClaim>();
  readonly schedules = new Map<string, ScheduleRecord>();
  /** Destinations (issue 14), delegated to their own fake. */
  readonly destinations = new MemoryDestinations(() => this.nowSeconds?.());
  readonly getDestination = this.destinations.getDestination.bind(this.destinations);
  readonly listDestinations = this.destinations.listDestinations.bind(this.destinations);
  readonly takeRateToken = this.destinations.takeRateToken.bind(this.destinations);
  readonly acquireLease = this.destinations.acquireLease.bind(this.destinations);
  readonly releaseLease = this.destinations.releaseLease.bind(this.destinations);
  readonly recordDestinationFailure = this.destinations.recordDestinationFailure.bind(this.destinations);
  readonly openCircuit = this.destinations.openCircuit.bind(this.destinations);
  readonly claimProbe = this.destinations.claimProbe.bind(this.destinations);
  readonly releaseProbe = this.destinations.releaseProbe.bind(this.destinations);
  readonly closeCircuit = this.destinations.closeCircuit.bind(this.destinations);

  async putNew(task: TaskRecord, options: NewTaskOptions = {}): Promise<"created" | "exists"> {
    if (this.tasks.has(task.taskId)) return "exists";
    this.store(task, options.sweepIndex);
    return "created";
  }

  private store(task: TaskRecord, sweepIndex: boolean | undefined): void {
    const stored =
      TERMINAL_STATUSES.has(task.status) || task.fanOut !== undefined || sweepIndex === false
        ? structuredClone(task)
        : { ...structuredClone(task), sweepShard: sweepShardOf(task.taskId) };
    this.tasks.set(task.taskId, stored);
  }

  /** Conditional puts, as the table's INSERTs: an existing task is left as it is (and counts as written). */
  async insertNewMany(entries: readonly NewTaskEntry[]): Promise<InsertManyOutcome[]> {
    const existing: InsertManyOutcome[] = [];
    for (const { task, sweepIndex } of entries) {
      if (this.tasks.has(task.taskId)) existing.push({ taskId: task.taskId, exists: true });
      else this.store(task, sweepIndex);
    }
    return existing;
  }

  /** Unconditional puts, as BatchWriteItem's: an existing item is overwritten. Every put is processed. */
  async putNewMany(entries: readonly NewTaskEntry[], _options?: AbortOptions): Promise<PutManyFailure[]> {
    for (const { task, sweepIndex } of entries) this.store(task, sweepIndex);
    return [];
  }

  async get(taskId: string, _options?: AbortOptions): Promise<TaskRecord | undefined> {
    const task = this.tasks.get(taskId);
    return task && structuredClone(task);
  }

  async removeScheduled(taskId: string, _options?: AbortOptions): Promise<boolean> {
    return this.tasks.get(taskId)?.status === "scheduled" && this.tasks.delete(taskId);
  }

  /**
   * Clock (epoch seconds) for treating a claim past its `expiresAt` as absent, as the table's conditional claim
   * does; without it no claim expires.
   */
  nowSeconds: (() => number) | undefined = undefined;

  /** Keyed like the table's items: per topic and key. */
  async claimIdempotencyKey(claim: IdempotencyClaim): Promise<IdempotencyOutcome> {
    const id = `${claim.topic}#${claim.key}`;
    const existing = this.idempotency.get(id);
    const expired =
      existing !== undefined &&
      this.nowSeconds !== undefined &&
      existing.expiresAt < this.nowSeconds() &&
      !this.heldByTask(existing.taskId, this.nowSeconds());
    // A claim of this very task (the table's retried Put after a lost answer; a batch settling its own claim).
    const own = existing?.taskId === claim.taskId && existing.requestHash === claim.requestHash;
    if (existing && !expired && !own) {
      return { status: "existing", taskId: existing.taskId, requestHash: existing.requestHash };
    }
    this.idempotency.set(id, claim);
    return { status: "claimed" };
  }

  /**
   * As the table's: an expired claim whose task is still there within its retention still holds the key; a fan-out
   * parent's, while one of its copies is.
   */
  private heldByTask(taskId: string, nowSeconds: number): boolean {
    const task = this.tasks.get(taskId);
    if (task === undefined) return false;
    const held = (t: TaskRecord | undefined) => t !== undefined && !retentionEnded(t, nowSeconds * 1000);
    return held(task) || (task.fanOut ?? []).some((link) => held(this.tasks.get(link.taskId)));
  }

  async readIdempotencyClaim(
    topic: string,
    key: string,
  ): Promise<{ taskId: string; requestHash: string } | undefined> {
    const claim = this.idempotency.get(`${topic}#${key}`);
    const now = this.nowSeconds?.();
    if (!claim || (now !== undefined && claim.expiresAt < now && !this.heldByTask(claim.taskId, now)))
      return undefined;
    return { taskId: claim.taskId, requestHash: claim.requestHash };
  }

  /** As the table's INSERTs: any claim of the key, expired or not, refuses the new one (DuplicateItem). */
  async claimIdempotencyKeys(
    claims: readonly IdempotencyClaim[],
    _options?: AbortOptions,
  ): Promise<BatchClaimOutcome[]> {
    return claims.map((claim) => {
      const id = `${claim.topic}#${claim.key}`;
      if (this.idempotency.has(id)) return "not-claimed";
      this.idempotency.set(id, claim);
      return "claimed";
    });
  }

  async cancel(
    taskId: string,
    nowMs: number,
    expiresAt: number,
    options: CancelOptions = {},
  ): Promise<CancelOutcome> {
    const task = this.tasks.get(taskId);
    if (!task) return { outcome: "not-found" };
    // Between two attempts (its last one's outcome recorded), as the table's write conditioned on that attempt.
    const between = options.awaitingRetry === true && awaitingRetry(task);
    // A moved task is kept to its floor, as the table's conditional pair of writes keeps it.
    const kept = Math.max(expiresAt, task.expiresAtFloor ?? 0);
    // Its callback in flight: the cancel is requested on that attempt, as the table's requestCancelWith.
    if (
      options.awaitingRetry === true &&
      !between &&
      task.status === "delivering" &&
      task.attemptSeq !== undefined
    ) {
      const requested: TaskRecord = {
        ...task,
        cancelRequestedAtMs: task.cancelRequestedAtMs ?? nowMs,
        cancelExpiresAt: kept,
      };
      this.tasks.set(taskId, requested);
      return { outcome: "cancel-requested", task: structuredClone(requested) };
    }
    if (task.status !== "scheduled" && task.status !== "queued" && !between) {
      return { outcome: "conflict", task: structuredClone(task) };
    }
    const cancelled: TaskRecord = {
      ...finished(task),
      status: "cancelled",
      cancelledAtMs: nowMs,
      expiresAt: kept,
    };
    this.tasks.set(taskId, cancelled);
    return { outcome: "cancelled", task: structuredClone(cancelled) };
  }

  async restoreFanOutParent(
    taskId: string,
    cancelledAtMs: number,
    expiresAt: number,
    cancelExpiresAt?: number,
  ): Promise<boolean> {
    const task = this.tasks.get(taskId);
    if (task?.status !== "cancelled" || task.cancelledAtMs !== cancelledAtMs || !task.fanOut) return false;
    const { cancelledAtMs: _, ...rest } = task;
    const raisedSince = cancelExpiresAt !== undefined && (task.expiresAt ?? 0) > cancelExpiresAt;
    this.tasks.set(taskId, {
      ...rest,
      status: "scheduled",
      expiresAt: raisedSince ? task.expiresAt : expiresAt,
    });
    return true;
  }

  async listScheduledInGroup(
    pk: string,
    fromMs: number,
    toMs: number,
    others?: Map<string, TaskStatus>,
    options: GroupReadOptions = {},
  ): Promise<GroupTaskRef[]> {
    refuseInvertedRange(fromMs, toMs);
    let inWindow = [...this.tasks.values()]
      .filter((t) => t.pk === pk && t.dueAtMs >= fromMs && t.dueAtMs <= toMs)
      .sort(bySortKey);
    const started = options.stopAtStarted ? inWindow.findLastIndex(hasStarted) : -1;
    if (started >= 0) {
      // As DynamoDB reads it latest first: back to the margin below the latest started task, at most
      // MAX_READ_PAST_STARTED items below it.
      const floorMs = (inWindow[started] as TaskRecord).dueAtMs - STARTED_OVERTAKE_MARGIN_MS;
      inWindow = inWindow.filter((t, i) => t.dueAtMs >= floorMs && i >= started - MAX_READ_PAST_STARTED);
    }
    for (const t of inWindow) if (t.status !== "scheduled") others?.set(t.taskId, t.status);
    // Only what DynamoDB's projection returns: a caller relying on more fails here too.
    const projected = (t: TaskRecord) =>
      structuredClone(
        Object.fromEntries(
          GROUP_TASK_REF_ATTRIBUTES.filter((name) => t[name] !== undefined).map((name) => [name, t[name]]),
        ) as GroupTaskRef,
      );
    return inWindow.filter((t) => t.status === "scheduled").map(projected);
  }

  async markQueued(taskId: string, nowMs: number): Promise<boolean> {
    const task = this.tasks.get(taskId);
    if (task?.status !== "scheduled") return false;
    this.tasks.set(taskId, { ...indexed(task), status: "queued", queuedAtMs: nowMs });
    return true;
  }

  /** Calls of the batch methods (deliver's batch start and finish), for tests that count requests. */
  readonly batchCalls = { readMany: 0, startAttempts: 0, finishAttempts: 0 };
  /**
   * `start:<task id>` / `finish:<task id>`: the error code that task's next start / finishing statement answers
   * instead of being written (as DynamoDB's per-statement `Error.Code` in an HTTP 200).
   */
  readonly statementErrors = new Map<string, string>();
  /** Task ids `readMany` leaves unread (as DynamoDB's UnprocessedKeys). */
  readonly unreadIds = new Set<string>();
  /** When set, the next call of this batch method fails as a whole (`Error` thrown by the store's call). */
  failNextBatchCall?: "readMany" | "startAttempts" | "finishAttempts";
  /** When set, the next call of this batch method is written and then answered as failed (a lost answer). */
  loseNextBatchAnswer?: "startAttempts" | "finishAttempts";

  readMany(taskIds: readonly string[]): Promise<ManyRead>;
  readMany(taskIds: readonly string[], options: { readonly summaries: true }): Promise<ManyRead<TaskSummary>>;
  async readMany(
    taskIds: readonly string[],
    options?: { readonly summaries: true },
  ): Promise<ManyRead<TaskSummary>> {
    this.batchCalls.readMany++;
    if (this.takeBatchFailure("readMany")) return { tasks: new Map(), unread: new Set(taskIds) };
    const tasks = new Map<string, TaskSummary>();
    const unread = new Set<string>();
    for (const taskId of taskIds) {
      const task = this.tasks.get(taskId);
      if (this.unreadIds.has(taskId)) unread.add(taskId);
      else if (task) tasks.set(taskId, structuredClone(options?.summaries ? withoutContent(task) : task));
    }
    return { tasks, unread };
  }

  async startAttempts(starts: readonly BatchStart[]): Promise<Map<string, BatchStartOutcome>> {
    this.batchCalls.startAttempts++;
    const failed = this.takeBatchFailure("startAttempts");
    const outcomes = new Map<string, BatchStartOutcome>();
    for (const { read, atMs, handedOverAtMs } of starts) {
      if (failed) {
        outcomes.set(read.taskId, "unknown");
        continue;
      }
      const code = this.takeStatementError(`start:${read.taskId}`);
      const task = this.tasks.get(read.taskId);
      const unchanged =
        task?.status === read.status &&
        task.attempts === read.attempts &&
        task.attemptSeq === read.attemptSeq &&
        task.cancelRequestedAtMs === undefined;
      if (code === undefined && unchanged) {
        this.tasks.set(read.taskId, startedTask(task, atMs, handedOverAtMs));
      }
      const outcome = code ?? (unchanged ? undefined : "ConditionalCheckFailed");
      outcomes.set(
        read.taskId,
        outcome === undefined ? "started" : outcome === "ConditionalCheckFailed" ? "refused" : "unknown",
      );
    }
    if (this.loseNextBatchAnswer === "startAttempts") {
      this.loseNextBatchAnswer = undefined;
      for (const taskId of outcomes.keys()) outcomes.set(taskId, "unknown");
    }
    return outcomes;
  }

  async finishAttempts(writes: readonly FinishWrite[]): Promise<Set<string>> {
    this.batchCalls.finishAttempts++;
    const failed = new Set<string>();
    const callFailed = this.takeBatchFailure("finishAttempts");
    for (const write of writes) {
      const taskId = write.kind === "delivered" ? write.taskId : write.read.taskId;
      if (callFailed || this.takeStatementError(`finish:${taskId}`) !== undefined || !this.finishOne(write)) {
        failed.add(taskId);
      }
    }
    if (this.loseNextBatchAnswer === "finishAttempts") {
      this.loseNextBatchAnswer = undefined;
      for (const write of writes) failed.add(write.kind === "delivered" ? write.taskId : write.read.taskId);
    }
    return failed;
  }

  /** One finishing write, with the table's condition; false when refused. */
  private finishOne(write: FinishWrite): boolean {
    if (write.kind === "delivered") {
      const task = this.tasks.get(write.taskId);
      // As the table's store: already delivered in this very attempt (an earlier try of this write) is done.
      if (task?.status === "delivered" && task.attemptSeq === write.attemptSeq) return true;
      if (task?.status !== "delivering" || task.attemptSeq !== write.attemptSeq) return false;
      const { result } = write;
      const logged = write.attemptLog === undefined ? undefined : result.attempt;
      this.tasks.set(write.taskId, {
        ...withLogged(
          { ...finished(task), ...(write.attemptLog && { attemptLog: write.attemptLog }) },
          logged,
        ),
        status: "delivered",
        deliveredAtMs: result.atMs,
        latenessMs: result.latenessMs,
        deliveryLatencyMs: result.deliveryLatencyMs,
        expiresAt: result.expiresAt,
        ...(result.lastAttemptAtMs !== undefined && { lastAttemptAtMs: result.lastAttemptAtMs }),
      });
      return true;
    }
    const { read, started } = write;
    const task = this.tasks.get(read.taskId);
    // As the table's store (ALL_OLD): a task still exactly as read — the start never written — needs no give-back.
    if (
      task?.status === read.status &&
      task.attempts === read.attempts &&
      task.attemptSeq === read.attemptSeq
    ) {
      return true;
    }
    // As the table's store: a task another writer ended `cancelled` meanwhile leaves nothing to give back.
    if (task?.status === "cancelled") return true;
    if (
      task?.status !== "delivering" ||
      task.attemptSeq !== started.attemptSeq ||
      task.lastAttemptAtMs !== started.lastAttemptAtMs
    ) {
      return false;
    }
    const { lastAttemptAtMs: _, attemptSeq: __, attemptLog: ___, queuedAtMs: ____, ...rest } = task;
    const restored: TaskRecord = {
      ...rest,
      status: read.status,
      attempts: read.attempts,
      ...(read.lastAttemptAtMs !== undefined && { lastAttemptAtMs: read.lastAttemptAtMs }),
      ...(read.attemptSeq !== undefined && { attemptSeq: read.attemptSeq }),
      ...(read.attemptLog !== undefined && { attemptLog: read.attemptLog }),
      ...(read.queuedAtMs !== undefined && { queuedAtMs: read.queuedAtMs }),
    };
    // As the table: a cancel requested on that start ends the task `cancelled` (its second statement).
    this.tasks.set(
      read.taskId,
      task.cancelRequestedAtMs === undefined
        ? restored
        : {
            ...finished(restored),
            status: "cancelled",
            cancelledAtMs: write.atMs,
            expiresAt: task.cancelExpiresAt ?? task.expiresAt,
          },
    );
    return true;
  }

  private takeBatchFailure(method: NonNullable<MemoryTaskStore["failNextBatchCall"]>): boolean {
    if (this.failNextBatchCall !== method) return false;
    this.failNextBatchCall = undefined;
    return true;
  }

  private takeStatementError(key: string): string | undefined {
    const code = this.statementErrors.get(key);
    this.statementErrors.delete(key);
    return code;
  }

  async enterSweepIndex(taskId: string, _options?: AbortOptions): Promise<boolean> {
    const task = this.tasks.get(taskId);
    if (!task || !UNFINISHED_STATUSES.includes(task.status)) return false;
    this.tasks.set(taskId, indexed(task));
    return true;
  }

  async startAttempt(
    taskId: string,
    nowMs: number,
    maxAttempts?: number,
    handedOverAtMs?: number,
  ): Promise<TaskRecord | undefined> {
    const task = this.tasks.get(taskId);
    if (!task || !DELIVERABLE_STATUSES.includes(task.status)) return undefined;
    // A cancel requested while an attempt was in flight whose outcome never landed: finished, as the table does.
    if (task.cancelRequestedAtMs !== undefined) {
      this.tasks.set(taskId, {
        ...finished(task),
        status: "cancelled",
        cancelledAtMs: nowMs,
        expiresAt: task.cancelExpiresAt ?? task.expiresAt,
      });
      return undefined;
    }
    if (maxAttempts !== undefined && task.status === "delivering" && task.attempts >= maxAttempts)
      return undefined;
    // As the table: a fan-out parent is never started (only its copies are delivered).
    if (task.fanOut !== undefined) return undefined;
    // As the table: a start without a read (maxAttempts given) refuses an occurrence, whose schedule is read first,
    // and a task still waiting for its retry.
    if (maxAttempts !== undefined && task.scheduleId !== undefined) return undefined;
    if (maxAttempts !== undefined && retryWaitLeftMs(task, nowMs) > 0) return undefined;
    const updated: TaskRecord = {
      ...task,
      status: "delivering",
      // As the table: a start without a read (maxAttempts given) keeps the status it found, for its refund.
      ...(maxAttempts !== undefined && { startedFrom: task.status }),
      attempts: task.attempts + 1,
      lastAttemptAtMs: nowMs,
      attemptSeq: (task.attemptSeq ?? 0) + 1,
      attemptLog: task.attemptLog ?? {},
      ...(task.queuedAtMs === undefined && handedOverAtMs !== undefined
        ? { queuedAtMs: handedOverAtMs }
        : {}),
    };
    this.tasks.set(taskId, updated);
    return structuredClone(updated);
  }

  async markDelivered(
    taskId: string,
    result: {
      atMs: number;
      latenessMs: number;
      deliveryLatencyMs: number;
      expiresAt: number;
      attempt?: AttemptLogEntry;
      attemptSeq?: number;
    },
    _options?: AbortOptions,
  ): Promise<boolean> {
    const task = this.tasks.get(taskId);
    if (!task || !inAttempt(task, result.attemptSeq)) {
      // As the table: a resend of a write already made (its first answer lost) is recognised as written.
      return (
        result.attemptSeq !== undefined &&
        task?.status === "delivered" &&
        task.attemptSeq === result.attemptSeq &&
        task.deliveredAtMs === result.atMs
      );
    }
    this.tasks.set(taskId, {
      ...withLogged(finished(task), result.attempt),
      status: "delivered",
      deliveredAtMs: result.atMs,
      latenessMs: result.latenessMs,
      deliveryLatencyMs: result.deliveryLatencyMs,
      expiresAt: result.expiresAt,
    });
    return true;
  }

  async recordAttemptFailure(
    taskId: string,
    failure: AttemptFailure,
    _options?: AbortOptions,
  ): Promise<boolean | "cancelled"> {
    const task = this.tasks.get(taskId);
    if (!task || !inAttempt(task, failure.attemptSeq)) return false;
    if (task.cancelRequestedAtMs !== undefined) {
      // A cancel requested while this attempt was in flight: its failure ends the task, as the table's second write.
      this.tasks.set(taskId, {
        ...finished(withLogged(task, failure.attempt)),
        status: "cancelled",
        cancelledAtMs: failure.atMs,
        lastError: failure.error,
        expiresAt: task.cancelExpiresAt ?? task.expiresAt,
        ...(failure.refund && { attempts: (failure.attempts ?? task.attempts) - 1 }),
      });
      return "cancelled";
    }
    const { startedFrom, ...rest } = task;
    // As the table: an unused start's refund gives back the status it started from (none recorded: `delivering`).
    const restored =
      failure.refund && failure.restore ? { ...rest, status: startedFrom ?? task.status } : task;
    this.tasks.set(taskId, {
      ...indexed(withLogged(restored, failure.attempt)),
      lastError: failure.error,
      ...(failure.refund && { attempts: (failure.attempts ?? task.attempts) - 1 }),
      ...(failure.retryNotBeforeMs !== undefined && { retryNotBeforeMs: failure.retryNotBeforeMs }),
    });
    return true;
  }

  async markFailed(taskId: string, failure: DeadLettering): Promise<boolean> {
    const task = this.tasks.get(taskId);
    // As the table: a resend of a write already made (its first answer lost) is recognised as written.
    if (!task || !inAttempt(task, failure.attemptSeq)) return isOwnFailed(task, failure);
    if (task.cancelRequestedAtMs !== undefined) {
      // A cancel requested while its attempt was in flight: it ends `cancelled`, not dead-lettered (as the table).
      this.tasks.set(taskId, {
        ...finished(task),
        status: "cancelled",
        cancelledAtMs: failure.atMs,
        expiresAt: task.cancelExpiresAt ?? task.expiresAt,
      });
      return false;
    }
    this.tasks.set(taskId, {
      ...finished(task),
      status: "failed",
      lastError: failure.error,
      failedAtMs: failure.atMs,
      ...(failure.writeId !== undefined && { failedWriteId: failure.writeId }),
      expiresAt: failure.expiresAt,
      failedTopic: task.topic,
    });
    return true;
  }

  async listUnfinishedDueBy(
    shard: number,
    dueByMs: number,
    limit: number,
    after?: SweepPosition,
  ): Promise<{ tasks: UnfinishedTaskRef[]; truncated: boolean }> {
    if (after && after.dueAtMs > dueByMs) {
      // As DynamoDB: "The provided starting key is outside query boundaries based on provided condition".
      throw new Error("ValidationException: the starting key is outside the query's boundaries");
    }
    const indexOrder = (a: SweepPosition, b: SweepPosition) =>
      a.dueAtMs - b.dueAtMs || (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0);
    const matching = (this.laggingSweepIndex ?? [...this.tasks.values()])
      .filter((t) => t.sweepShard === shard && t.dueAtMs <= dueByMs && (!after || indexOrder(t, after) > 0))
      .sort(indexOrder)
      .map(({ taskId, pk, dueAtMs }) => ({ taskId, pk, dueAtMs }));
    return { tasks: matching.slice(0, limit), truncated: matching.length > limit };
  }

  /**
   * The sweep index as a lagging GSI answers it (its reads are eventually consistent): while set, the index is read
   * as it stood when `lagSweepIndex` was called, whatever the table holds now; `undefined` when caught up.
   */
  private laggingSweepIndex?: readonly Pick<TaskRecord, "taskId" | "pk" | "dueAtMs" | "sweepShard">[];

  /** From now on the sweep index answers as it stands now, until `catchUpSweepIndex`. */
  lagSweepIndex(): void {
    this.laggingSweepIndex = [...this.tasks.values()].map(({ taskId, pk, dueAtMs, sweepShard }) => ({
      taskId,
      pk,
      dueAtMs,
      sweepShard,
    }));
  }

  catchUpSweepIndex(): void {
    this.laggingSweepIndex = undefined;
  }

  /** The sweeper's window position, as the table's cursor item would hold it. */
  sweepCursor: SweepCursor = {};

  async readSweepCursor(): Promise<SweepCursor> {
    return { ...this.sweepCursor };
  }

  async writeSweepCursor(cursor: SweepCursor): Promise<void> {
    this.sweepCursor = { ...cursor };
  }

  async markRequeued(taskId: string, nowMs: number, life?: { readonly replays: number }): Promise<boolean> {
    const task = this.tasks.get(taskId);
    if (task?.status !== "queued" && task?.status !== "delivering") return false;
    if (life !== undefined && (task.replays ?? 0) !== life.replays) return false;
    this.tasks.set(taskId, { ...task, requeuedAtMs: nowMs });
    return true;
  }

  async listUnfinishedInGroup(
    pk: string,
    fromMs: number,
    toMs: number,
    limit = Number.POSITIVE_INFINITY,
    maxScanned = Number.POSITIVE_INFINITY,
  ): Promise<{ tasks: TaskSummary[]; complete: boolean }> {
    refuseInvertedRange(fromMs, toMs);
    const inRange = [...this.tasks.values()]
      .filter((t) => t.pk === pk && t.dueAtMs >= fromMs && t.dueAtMs <= toMs)
      .sort(bySortKey);
    const scanned = inRange.slice(0, maxScanned);
    this.groupItemsScanned.push(scanned.length);
    const tasks = scanned
      .filter(
        (t) =>
          t.fanOut === undefined &&
          (!TERMINAL_STATUSES.has(t.status) || (t.status === "rescheduled" && t.sweepShard !== undefined)),
      )
      .slice(0, limit)
      // As DynamoDB's projection: no content.
      .map(({ content: _content, ...summary }) => structuredClone(summary));
    // As DynamoDB: a read that stops at its bound cannot tell whether more follow.
    return { tasks, complete: inRange.length < maxScanned || tasks.length >= limit };
  }

  async listGroupStatusesLatestFirst(
    pk: string,
    fromMs: number,
    toMs: number,
    maxItems: number,
  ): Promise<{ items: GroupItemStatus[]; complete: boolean }> {
    refuseInvertedRange(fromMs, toMs);
    const inRange = [...this.tasks.values()]
      .filter((t) => t.pk === pk && t.dueAtMs >= fromMs && t.dueAtMs <= toMs)
      .sort(bySortKey)
      .reverse();
    const read = inRange.slice(0, maxItems);
    this.groupItemsScanned.push(read.length);
    return {
      // As the table's filter: parents are read (and counted in `maxItems`), not returned.
      items: read
        .filter((t) => t.fanOut === undefined)
        .map(({ taskId, dueAtMs, status, sweepShard }) => ({
          taskId,
          dueAtMs,
          status,
          ...(sweepShard === undefined ? {} : { sweepShard }),
        })),
      // As DynamoDB: a read that stops at its bound cannot tell whether more follow.
      complete: inRange.length < maxItems,
    };
  }

  /** Items each group read passed over (listUnfinishedInGroup), finished ones included: what it cost. */
  readonly groupItemsScanned: number[] = [];

  // Operations routes, scope I2.
  async markRescheduled(
    taskId: string,
    change: { readonly to: string; readonly atMs: number; readonly expiresAt: number },
  ): Promise<RescheduleOutcome> {
    const task = this.tasks.get(taskId);
    if (!task) return { outcome: "not-found" };
    if (task.status !== "scheduled" || task.cancelRequestedAtMs !== undefined)
      return { outcome: "conflict", task: structuredClone(task) };
    // In the sweep index until settleRescheduled, as in the table.
    const updated: TaskRecord = {
      ...indexed(task),
      status: "rescheduled",
      rescheduledTo: change.to,
      rescheduledAtMs: change.atMs,
      expiresAt: change.expiresAt,
    };
    this.tasks.set(taskId, updated);
    return { outcome: "rescheduled", task: structuredClone(updated) };
  }

  async moveIdempotencyClaim(
    topic: string,
    key: string,
    move: { readonly from: readonly string[]; readonly to: string; readonly expiresAt: number },
  ): Promise<void> {
    const claim = this.idempotency.get(`${topic}#${key}`);
    if (!claim || (!move.from.includes(claim.taskId) && claim.taskId !== move.to)) return;
    this.idempotency.set(`${topic}#${key}`, { ...claim, taskId: move.to, expiresAt: move.expiresAt });
  }

  async settleRescheduled(taskId: string): Promise<boolean> {
    const task = this.tasks.get(taskId);
    if (task?.status !== "rescheduled") return false;
    this.tasks.set(taskId, finished(task));
    return true;
  }

  /** Like the table's Query with `Limit`: `limit` items of the group are read, the unfinished ones returned. */
  async listGroupPage(
    pk: string,
    limit: number,
    startAfterSk?: string,
    movedSinceMs?: number,
  ): Promise<GroupPage> {
    const group = [...this.tasks.values()]
      .filter((t) => t.pk === pk && (startAfterSk === undefined || t.sk > startAfterSk))
      .sort(bySortKey);
    const read = group.slice(0, limit);
    const unsettled = (t: TaskRecord) =>
      t.status === "rescheduled" &&
      (t.sweepShard !== undefined ||
        (movedSinceMs !== undefined && t.rescheduledAtMs !== undefined && t.rescheduledAtMs >= movedSinceMs));
    const tasks = read
      .filter(
        (t) =>
          UNFINISHED_STATUSES.includes(t.status) || (t.status === "cancelled" && t.fanOut) || unsettled(t),
      )
      .map((t) => structuredClone(t));
    const last = read[read.length - 1];
    // DynamoDB answers a LastEvaluatedKey whenever `Limit` stopped the read, even with nothing after it.
    return read.length === limit && last ? { tasks, lastSk: last.sk } : { tasks };
  }

  // --- issue 11, scope H: listing (appended block) ---

  /** Pages like the table: `next` is the last returned item's key (here only when more items remain). */
  async listGroup(pk: string, limit: number, after?: PageKey): Promise<TaskPage> {
    const group = [...this.tasks.values()].filter((t) => t.pk === pk).sort(bySortKey);
    const start = after ? group.findIndex((t) => t.sk > String(after.sk)) : 0;
    return pageOf(start < 0 ? [] : group.slice(start), limit, (t) => ({ pk: t.pk, sk: t.sk }));
  }

  async listFailed(
    topic: string,
    limit: number,
    after?: PageKey,
    options: ListFailedOptions = {},
  ): Promise<TaskPage<TaskSummary>> {
    type Position = Pick<TaskRecord, "failedAtMs" | "sk">;
    const newestFirst = (a: Position, b: Position) =>
      (b.failedAtMs ?? 0) - (a.failedAtMs ?? 0) || bySortKey(b, a);
    const order = (a: Position, b: Position) => (options.oldestFirst ? newestFirst(b, a) : newestFirst(a, b));
    const from = options.failedFromMs ?? Number.NEGATIVE_INFINITY;
    const failed = [...this.tasks.values()]
      .filter((t) => t.failedTopic === topic && (t.failedAtMs ?? 0) >= from)
      .sort(order);
    // As DynamoDB's ExclusiveStartKey: the page starts after the key's position, whether or not an item is still
    // there (a task replayed since has left the index; starting over would read what lies before it again).
    const at = after && { sk: String(after.sk), failedAtMs: Number(after.failedAtMs) };
    const start = at ? failed.findIndex((t) => order(t, at) > 0) : 0;
    const page = pageOf(failed.slice(start < 0 ? failed.length : start), limit, (t) => ({
      pk: t.pk,
      sk: t.sk,
      failedTopic: topic,
      failedAtMs: t.failedAtMs ?? 0,
    }));
    // As DynamoDB's projection: no content.
    return { ...page, tasks: page.tasks.map(({ content: _content, ...summary }) => summary) };
  }

  // --- issue 11, scope H: replay (appended block) ---

  async markReplayed(taskId: string, nowMs: number, options?: ReplayOptions): Promise<ReplayOutcome> {
    const task = this.tasks.get(taskId);
    if (!task) return { outcome: "not-found" };
    const replayable = task.status === "failed" || (!options?.onlyFailed && task.status === "delivered");
    // As the table's condition: not a task past its retention that TTL has not deleted yet.
    if (!replayable || retentionEnded(task, nowMs))
      return { outcome: "conflict", task: structuredClone(task) };
    const {
      failedTopic: _,
      expiresAt: __,
      requeuedAtMs: ___,
      cancelRequestedAtMs: ____,
      cancelExpiresAt: _____,
      retryNotBeforeMs: ______,
      ...rest
    } = task;
    const replayed: TaskRecord = {
      ...rest,
      status: "queued",
      queuedAtMs: nowMs,
      replayedAtMs: nowMs,
      replays: (task.replays ?? 0) + 1,
      attempts: 0,
      sweepShard: sweepShardOf(taskId),
    };
    this.tasks.set(taskId, replayed);
    return { outcome: "replayed", task: structuredClone(replayed) };
  }

  async revertReplay(taskId: string, replay: ReplayRevert): Promise<boolean> {
    const task = this.tasks.get(taskId);
    const untouched =
      task?.status === "queued" &&
      task.replays === replay.replays &&
      task.attempts === 0 &&
      task.requeuedAtMs === undefined;
    if (!task || !untouched) return false;
    const { sweepShard: _, ...rest } = task;
    const status = replay.status ?? "failed";
    this.tasks.set(taskId, {
      ...rest,
      status,
      attempts: replay.attempts,
      expiresAt: replay.expiresAt,
      ...(status === "failed" ? { failedTopic: task.topic } : {}),
    });
    return true;
  }

  async keepFanOutParent(taskId: string, expiresAt: number): Promise<boolean> {
    const task = this.tasks.get(taskId);
    if (!task?.fanOut || task.expiresAt === undefined || task.expiresAt >= expiresAt) return false;
    this.tasks.set(taskId, { ...task, expiresAt, keptExpiresAt: expiresAt });
    return true;
  }

  // --- issue 12: discard a dead-lettered task (appended block) ---

  async discardFailed(taskId: string, nowMs: number, expiresAt: number): Promise<CancelOutcome> {
    const task = this.tasks.get(taskId);
    if (!task) return { outcome: "not-found" };
    if (task.status !== "failed") return { outcome: "conflict", task: structuredClone(task) };
    const { failedTopic: _, ...rest } = finished(task);
    const cancelled: TaskRecord = { ...rest, status: "cancelled", cancelledAtMs: nowMs, expiresAt };
    this.tasks.set(taskId, cancelled);
    return { outcome: "cancelled", task: structuredClone(cancelled) };
  }

  /** Test helper: the key the store would use, proving ids parse. */
  keyOf(taskId: string) {
    return parseTaskId(taskId);
  }

  // --- issue 14, point 4: recurring schedules (appended block) ---
  async putSchedule(schedule: ScheduleRecord): Promise<"created" | "exists"> {
    if (this.schedules.has(schedule.scheduleId)) return "exists";
    this.schedules.set(schedule.scheduleId, structuredClone(schedule));
    return "created";
  }

  async getSchedule(scheduleId: string): Promise<ScheduleRecord | undefined> {
    const schedule = this.schedules.get(scheduleId);
    return schedule && structuredClone(schedule);
  }

  /** In id order, as the table's sort key; `after` is the last item's key, as DynamoDB's LastEvaluatedKey. */
  async listSchedules(topic: string, limit: number, after?: PageKey): Promise<SchedulePage> {
    const all = [...this.schedules.values()]
      .filter((s) => s.pk === schedulePartitionKey(topic) && (!after || s.sk > String(after.sk)))
      .sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0));
    const taken = all.slice(0, limit).map((s) => structuredClone(s));
    const last = taken.at(-1);
    return all.length > limit && last
      ? { schedules: taken, next: { pk: last.pk, sk: last.sk } }
      : { schedules: taken };
  }

  async listSchedulesDue(shard: number, dueByMs: number, limit: number): Promise<DueSchedule[]> {
    return [...this.schedules.values()]
      .filter(
        (s) => s.scheduleShard === shard && s.materializeAtMs !== undefined && s.materializeAtMs <= dueByMs,
      )
      .sort((a, b) => (a.materializeAtMs ?? 0) - (b.materializeAtMs ?? 0))
      .slice(0, limit)
      .map((s) => ({ scheduleId: s.scheduleId, materializeAtMs: s.materializeAtMs as number }));
  }

  async updateSchedule(scheduleId: string, change: ScheduleChange): Promise<ScheduleUpdateOutcome> {
    // As DynamoDB: a change that sets and removes nothing is an empty UpdateExpression, refused.
    if (Object.values(change.set).every((v) => v === undefined) && (change.remove ?? []).length === 0) {
      throw Object.assign(new Error("Invalid UpdateExpression: The expression can not be empty;"), {
        name: "ValidationException",
      });
    }
    const current = parseScheduleId(scheduleId) ? this.schedules.get(scheduleId) : undefined;
    if (!current) return { outcome: "not-found" };
    const holds =
      change.ifStatus.includes(current.status) &&
      (change.ifMaterializedUntilMs === undefined ||
        current.materializedUntilMs === change.ifMaterializedUntilMs) &&
      (change.ifEpoch === undefined || current.epoch === change.ifEpoch) &&
      (change.ifLeasedUntilMs === undefined ||
        current.leasedUntilMs === (change.ifLeasedUntilMs ?? undefined));
    if (!holds) return { outcome: "conflict", schedule: structuredClone(current) };
    const updated: Record<string, unknown> = { ...current };
    for (const [field, value] of Object.entries(change.set)) if (value !== undefined) updated[field] = value;
    for (const field of change.remove ?? []) delete updated[field];
    this.schedules.set(scheduleId, updated as unknown as ScheduleRecord);
    return { outcome: "updated", schedule: structuredClone(updated) as unknown as ScheduleRecord };
  }

  async findIdempotencyClaim(topic: string, key: string): Promise<string | undefined> {
    return this.idempotency.get(`${topic}#${key}`)?.taskId;
  }
}

function pageOf(tasks: TaskRecord[], limit: number, keyOf: (task: TaskRecord) => PageKey): TaskPage {
  const taken = tasks.slice(0, limit).map((t) => structuredClone(t));
  const last = taken.at(-1);
  return tasks.length > limit && last ? { tasks: taken, next: keyOf(last) } : { tasks: taken };
}

/** As the table's outcome writes: `delivering`, and in attempt `attemptSeq` when one is given. */
function inAttempt(task: TaskRecord, attemptSeq: number | undefined): boolean {
  return task.status === "delivering" && (attemptSeq === undefined || task.attemptSeq === attemptSeq);
}

/** As the table: the entry goes into its ring slot only when the map exists (startAttempt made it). */
function withLogged(task: TaskRecord, attempt: AttemptLogEntry | undefined): TaskRecord {
  if (!attempt || !task.attemptLog) return task;
  return { ...task, attemptLog: { ...task.attemptLog, [attemptLogSlot(attempt.seq)]: attempt } };
}

/** The task without its sweep index attribute (it has reached delivered, failed or cancelled). */
/** The task with its sweep-index attribute (kept if it has one). */
function indexed(task: TaskRecord): TaskRecord {
  return { ...task, sweepShard: task.sweepShard ?? sweepShardOf(task.taskId) };
}

function finished(task: TaskRecord): TaskRecord {
  const { sweepShard: _, ...rest } = task;
  return rest;
}

/**
 * As DynamoDB (and dynalite) refuse `sk BETWEEN :from AND :to` with from > to. A fake more lenient than the
 * service once hid a relay window whose bounds were inverted for messages arriving long after their due time.
 */
function refuseInvertedRange(fromMs: number, toMs: number): void {
  if (fromMs <= toMs) return;
  throw Object.assign(
    new Error(
      "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound",
    ),
    { name: "ValidationException" },
  );
}

/** A task as a projection without its content reads it (TaskSummary). */
function withoutContent({ content: _content, ...summary }: TaskRecord): TaskSummary {
  return summary;
}
