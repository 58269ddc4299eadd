import type { TopicConfig } from "#shared/config/index.js";
import type { AttemptLogEntry } from "./attempt-log.js";
import type { FanOutLink } from "./fan-out.js";

export const TASK_STATUSES = [
  "scheduled",
  "queued",
  "delivering",
  "delivered",
  "failed",
  "cancelled",
  "rescheduled",
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set([
  "delivered",
  "failed",
  "cancelled",
  "rescheduled",
]);

/**
 * The only moves a task may make. `scheduled → delivering` exists because the relay sends to the FIFO queue
 * before it records `queued` (so a crash between the two never strands a task), and a fast deliver function
 * may get there first.
 */
const TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  scheduled: ["queued", "delivering", "cancelled", "rescheduled"],
  queued: ["delivering", "cancelled"],
  // `cancelled`: an operator's cancel of a task waiting for its retry (no callback in flight: attempt-log.ts,
  // awaitingRetry), or the end of the attempt in flight when one was requested (cancelRequestedAtMs); its next
  // start refuses it.
  delivering: ["delivering", "delivered", "failed", "cancelled"],
  delivered: [],
  failed: [],
  cancelled: [],
  rescheduled: [],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Statuses from which a delivery attempt may start. */
export const DELIVERABLE_STATUSES: readonly TaskStatus[] = (Object.keys(TRANSITIONS) as TaskStatus[]).filter(
  (s) => canTransition(s, "delivering"),
);

/** How a task's timer was armed: straight onto the timer queue, or through an EventBridge Scheduler schedule. */
export type TimerKind = "queue" | "schedule";

/** The task as stored in the table (one item per task). Times are epoch milliseconds. */
export interface TaskRecord {
  /** Partition key: the ordering group (`<topic>#<group hash>`), also the FIFO MessageGroupId. */
  readonly pk: string;
  /** Sort key: `<due ms, zero-padded>#<ulid>` so a group's tasks sort by due time, then acceptance. */
  readonly sk: string;
  readonly taskId: string;
  readonly topic: string;
  /** The deliverBy field's value, when the task has one (kept for GET and for operators). */
  readonly groupValue?: string;
  readonly status: TaskStatus;
  readonly dueAtMs: number;
  readonly acceptedAtMs: number;
  /** The task's content as JSON text, exactly as it will be delivered. */
  readonly content: string;
  readonly callbackUrl: string;
  readonly timer: TimerKind;
  readonly scheduleName?: string;
  readonly idempotencyKey?: string;
  /** The recurring schedule this task is an occurrence of (issue 14, point 4). */
  readonly scheduleId?: string;
  /**
   * The schedule's epoch when the materializer made this occurrence (also in its idempotency key, which a fan-out
   * copy does not carry): deliver cancels an occurrence whose schedule was resumed since (occurrence-hold.ts).
   */
  readonly scheduleEpoch?: number;
  readonly attempts: number;
  readonly lastError?: string;
  readonly queuedAtMs?: number;
  readonly lastAttemptAtMs?: number;
  /**
   * The end of the wait a failed attempt set before the next (its backoff step, or the receiver's `Retry-After` in
   * its place), written by that attempt's failure write (recordAttemptFailure: no write of its own). SQS may hand
   * the message back before it: a later receive's 12 hours count from up to the queue's visibility timeout before
   * its batch, so a wait over 40,585 s (120 s callbacks) is cut to what is left of them. Deliver starts no attempt
   * before it (shared/domain/retry-wait.ts): the record is hidden again for the rest. Absent on tasks that never
   * waited for a retry, and on items written before it existed; a past value means nothing. Nothing shows it.
   */
  readonly retryNotBeforeMs?: number;
  /**
   * The status the latest start without a read (TaskStore.startAttempt with `maxAttempts`) found, written by that
   * start's own UpdateItem: what a refund of that start, unused, gives back (`AttemptFailure.restore`), and removed
   * by it. Absent on items started before it existed; starts after a read do not write it (their give-back restores
   * the task as read), so a later one may leave an earlier start's value, which nothing then reads (a refund with
   * `restore` is conditioned on the read-free start that wrote it: its `attemptSeq`). Nothing shows it.
   */
  readonly startedFrom?: TaskStatus;
  /** The last time the sweeper put the task back on its FIFO queue (its message had gone missing). */
  readonly requeuedAtMs?: number;
  readonly deliveredAtMs?: number;
  readonly failedAtMs?: number;
  /**
   * The id of the write that dead-lettered the task (DeadLettering.writeId): how that write, sent again with its
   * first answer lost, tells its own `failed` from another writer's identical one. Kept, as failedAtMs, after a
   * replay; absent on items failed before it existed. Nothing shows it.
   */
  readonly failedWriteId?: string;
  readonly cancelledAtMs?: number;
  /**
   * An operator's cancel met this `delivering` task with its callback in flight (its attempt started, no outcome
   * recorded): a callback cannot be unsent, so the cancel is recorded here instead (TaskStore.cancel,
   * `cancel-requested`). That attempt's outcome write then ends the task: `delivered` on a 2xx, `cancelled` where
   * it would have been retried or dead-lettered; and no attempt starts on a task carrying it (startAttempt refuses
   * it and finishes the cancel). The first request's time is kept (a repeat changes nothing).
   */
  readonly cancelRequestedAtMs?: number;
  /** The TTL the cancel request would have written (the cancel's retention, its floor kept): the cancel's end writes it. */
  readonly cancelExpiresAt?: number;
  /**
   * A `rescheduled` task's successor: the id of the task with the new due time (ids carry the due time, so a
   * new due time is a new item). The old item stays as a forwarding pointer (GET answers `rescheduled_to`).
   */
  readonly rescheduledTo?: string;
  readonly rescheduledAtMs?: number;
  /**
   * A successor's predecessor (the item it was moved from). A cancel or a further move of the successor settles
   * that item's move: left unsettled (the move stopped before its last write), the sweeper would find it at its
   * old due time and, the successor gone with its retention by then, write and deliver it again.
   */
  readonly rescheduledFrom?: string;
  /** Callback start time minus due time, for the attempt that succeeded. */
  readonly latenessMs?: number;
  /** How long the successful callback took to answer. */
  readonly deliveryLatencyMs?: number;
  /** DynamoDB TTL (epoch seconds): set when the task completes, retention after it (at least expiresAtFloor). */
  readonly expiresAt?: number;
  /**
   * A successor's floor for its own `expiresAt` (epoch seconds): the TTL of the item it was moved from, which a
   * move stopped before its last write leaves in the sweep index. Every write that finishes the task keeps it at
   * least this long (finishedExpiry), so when the sweeper finds that item at its old due time — for a task run a
   * month early, weeks after this one finished — its conditional write of the successor finds this one finished
   * and only settles the move, instead of writing and delivering it again. Absent on items written before it
   * existed, and on tasks never moved: their retention alone.
   */
  readonly expiresAtFloor?: number;
  /**
   * Sweep index partition key (shared/domain/sweep.ts): present exactly while the task is unfinished. The store
   * sets it on `putNew` and removes it on delivered / failed / cancelled; nothing else reads or writes it.
   */
  readonly sweepShard?: number;
  /**
   * Failed index partition key (shared/domain/failed-index.ts): the topic, present exactly while the task is
   * dead-lettered and not replayed. Set by markFailed, removed by a replay.
   */
  readonly failedTopic?: string;
  /** Attempts over the task's whole life, replays included: the attempt log's sequence (attempt-log.ts). */
  readonly attemptSeq?: number;
  /** The last ten attempts as a ring keyed by slot (shared/domain/attempt-log.ts). */
  readonly attemptLog?: Readonly<Record<string, AttemptLogEntry>>;
  /** How many times the task was replayed (POST /v1/tasks/{id}/replay or a topic's bulk replay). */
  readonly replays?: number;
  /** When the latest replay was accepted. */
  readonly replayedAtMs?: number;
  /**
   * A fan-out parent's latest TTL raise by a copy's replay (`keepFanOutParent`, epoch seconds). A cancel's write
   * replaces `expiresAt`; its undoing (`restoreFanOutParent`) puts this back, never less: a replay under way as the
   * cancel read the copies has kept the parent, but not yet marked its copy.
   */
  readonly keptExpiresAt?: number;
  // --- issue 14, point 3: fan-out (shared/domain/fan-out.ts) ---
  /** A fan-out parent: its delivery task per subscriber. A parent is never delivered itself. */
  readonly fanOut?: readonly FanOutLink[];
  /** A delivery task: the parent it is a copy of, and the subscriber it goes to. */
  readonly parentTaskId?: string;
  readonly subscriber?: string;
}

/**
 * A task without its content, as the lists that hold many tasks at once read them: the sweeper's group read (up
 * to 1,001 tasks of a group, 8 groups at once, in 256 MB) and the failed list (a bulk replay holds up to 1,000).
 * At 256 KiB a task, those would pass their function's memory on AWS. A step that needs the content reads the
 * task by id.
 */
export type TaskSummary = Omit<TaskRecord, "content">;

/**
 * When a task's idempotency claim may be forgotten (epoch seconds): the claim must outlive the task, so a repeat is
 * recognised for as long as GET can show it: due time, plus the longest the deliveries can take, plus the retention
 * period, plus a day of slack for slow queues. The longest pause after a failed attempt is the backoff's longest
 * step or, when the receiver answers `429`/`503` with `Retry-After`, the topic's cap on that (which replaces the
 * step, and may be the longer of the two).
 */
/**
 * Whether a task with an idempotency key, missing from the table, may have finished and been removed by its TTL: it
 * finishes no earlier than its due time (delivered or dead-lettered once due; a cancel or a move keeps it at least to
 * its claim's expiry, `expiresAtFloor`) nor than its acceptance, and its TTL is at least `retentionDays` after its
 * finish. Before that, a missing task was never written (an add that stopped, or is still writing) and may be written
 * now; from then on it may be gone for good. Without a retention to go by (a topic no longer configured), it may.
 */
export function mayHaveFinishedAndExpired(
  task: Pick<TaskRecord, "acceptedAtMs" | "dueAtMs">,
  retentionDays: number | undefined,
  nowMs: number,
): boolean {
  const earliestFinish = Math.max(task.acceptedAtMs, task.dueAtMs);
  return retentionDays === undefined || nowMs - earliestFinish >= retentionDays * 86_400_000;
}

export function claimExpiry(
  dueAtMs: number,
  topic: Pick<
    TopicConfig,
    "maxAttempts" | "backoff" | "retryAfterCapSeconds" | "callbackTimeoutSeconds" | "retentionDays"
  >,
): number {
  const pauseSeconds = Math.max(topic.backoff.maxSeconds, topic.retryAfterCapSeconds);
  const deliveryWindowMs = topic.maxAttempts * (pauseSeconds + topic.callbackTimeoutSeconds) * 1000;
  return retentionExpiry(dueAtMs + deliveryWindowMs + 86_400_000, topic.retentionDays);
}

/**
 * Whether `task`'s retention has ended at `nowMs` (its `expiresAt` passed, in whole seconds as DynamoDB's TTL
 * compares). TTL deletes lazily, up to days later, so such an item may still be read: the replays treat it as
 * gone, and the store refuses to replay it (markReplayed's condition).
 */
export function retentionEnded(task: Pick<TaskRecord, "expiresAt">, nowMs: number): boolean {
  return task.expiresAt !== undefined && task.expiresAt < Math.floor(nowMs / 1000);
}

/**
 * The `expiresAt` a write that finishes `task` (delivered, dead-lettered, cancelled) sets: its topic's retention
 * from `completedAtMs`, but never before the task's floor (`expiresAtFloor`, a moved task's: see there).
 */
export function finishedExpiry(
  task: Pick<TaskRecord, "expiresAtFloor">,
  completedAtMs: number,
  retentionDays: number,
): number {
  return Math.max(retentionExpiry(completedAtMs, retentionDays), task.expiresAtFloor ?? 0);
}

/** Epoch seconds at which a task completed at `completedAtMs` may be forgotten. */
export function retentionExpiry(completedAtMs: number, retentionDays: number): number {
  return Math.ceil(completedAtMs / 1000 + retentionDays * 86_400);
}
