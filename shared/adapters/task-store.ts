import type { AttemptLogEntry } from "#shared/domain/attempt-log.js";
import type { DestinationRecord } from "#shared/domain/destination.js";
import type { ScheduleRecord, ScheduleStatus } from "#shared/domain/schedule.js";
import type { TaskRecord, TaskStatus, TaskSummary } from "#shared/domain/task.js";

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

/**
 * A claim of `claimIdempotencyKeys`: `claimed` when this call wrote it; `not-claimed` otherwise — the key is held
 * (perhaps by a claim past its expiry, which `claimIdempotencyKey` would have overwritten), or the outcome is
 * unknown (the statement or the call failed). The caller settles a `not-claimed` key through the single claim.
 */
export type BatchClaimOutcome = "claimed" | "not-claimed";

export type CancelOutcome =
  | { readonly outcome: "cancelled"; readonly task: TaskRecord }
  /**
   * An operator's cancel (`awaitingRetry`) met a `delivering` task whose callback is in flight: the cancel is
   * recorded on it (`cancelRequestedAtMs`), and that attempt's outcome ends it — `delivered` on a 2xx (a callback
   * cannot be unsent), `cancelled` otherwise; no further attempt starts (TaskRecord.cancelRequestedAtMs).
   */
  | { readonly outcome: "cancel-requested"; readonly task: TaskRecord }
  | { readonly outcome: "not-found" }
  | { readonly outcome: "conflict"; readonly task: TaskRecord };

/**
 * `awaitingRetry`: a `delivering` task with no callback in flight (its last attempt's outcome recorded, it waits for
 * its retry: attempt-log.ts, awaitingRetry) is cancelled too — by an operator's cancel (DELETE, a group cancel, and a
 * fan-out parent's copies through them). The write is conditioned on that attempt (`attemptSeq`) still being the
 * current, recorded one, so it loses to a start of the next attempt; that start refuses a cancelled task. One whose
 * callback is in flight (that attempt's outcome not recorded) gets a cancel request instead (`cancel-requested`),
 * conditioned on that attempt still being current and unrecorded: it loses to the outcome's write, and the cancel
 * then finds the task finished or waiting for its retry.
 */
export interface CancelOptions {
  readonly awaitingRetry?: boolean;
}

/**
 * How the bulk replay reads the failed index: oldest failure first, so that a group's dead letters — a head fails
 * before its followers, which it blocks until then — are replayed in the group's order across calls too.
 */
export interface ListFailedOptions {
  readonly oldestFirst?: boolean;
  /** Only tasks dead-lettered at or after this time (a key condition: older ones are not read). */
  readonly failedFromMs?: number;
}

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

/** How a replay whose send failed is undone (revertReplay): the task as it was before it. */
export interface ReplayRevert {
  readonly replays: number;
  readonly attempts: number;
  readonly expiresAt: number;
  readonly status?: "failed" | "delivered";
}

export interface ReplayOptions {
  /** Replay only a `failed` task (a `delivered` one is a conflict). */
  readonly onlyFailed?: boolean;
}

/** An unfinished task as the sweep index holds it: enough to find its group. */
export interface UnfinishedTaskRef {
  readonly taskId: string;
  readonly pk: string;
  readonly dueAtMs: number;
}

/**
 * Where the sweeper's moving window over one shard of the sweep index stopped: the last entry it examined. A
 * read `after` it resumes just past that entry (the index's own order), whether or not the entry is still there.
 */
export type SweepPosition = Pick<UnfinishedTaskRef, "taskId" | "dueAtMs">;

/** The moving window's position in each shard of the sweep index (absent: the window starts afresh). */
export type SweepCursor = Readonly<Record<number, SweepPosition>>;

/** One item of a group as a read back from its end sees it: enough to tell whether it is unfinished. */
export type GroupItemStatus = Pick<TaskRecord, "taskId" | "dueAtMs" | "status" | "sweepShard">;

/**
 * What the relay reads of a group's tasks (`listScheduledInGroup`): their order, status, and whether one is a
 * fan-out parent (never sent). Not the content: the relay holds a group's due tasks in memory at once, and
 * 2,000 of them at 256 KiB would pass its 512 MB on AWS (DynamoDB still reads, and bills, whole items).
 */
export type GroupTaskRef = Pick<
  TaskRecord,
  "taskId" | "pk" | "sk" | "status" | "dueAtMs" | "fanOut" | "scheduleId" | "lastAttemptAtMs"
>;
/** The attributes of a `GroupTaskRef`, for a store's projection. */
export const GROUP_TASK_REF_ATTRIBUTES = [
  "taskId",
  "pk",
  "sk",
  "status",
  "dueAtMs",
  "fanOut",
  // An occurrence's message carries it, so deliver skips the start that would refuse it (messages.ts).
  "scheduleId",
  // A `scheduled` task with a start on record is on its FIFO queue already (handedOver, relay.ts).
  "lastAttemptAtMs",
] as const satisfies readonly (keyof GroupTaskRef)[];

/** How `listScheduledInGroup` reads a group's window. */
export interface GroupReadOptions {
  /**
   * Read latest first and stop `STARTED_OVERTAKE_MARGIN_MS` of due time below the latest task whose attempt has
   * started (`delivering`, `delivered`, `failed`; never a fan-out parent, which deliver never starts): only what
   * it read is listed (and put in `others`). Deliver starts a task only when its FIFO message arrives, and FIFO
   * hands a group's messages over in order, so whatever of the group its relay found before it is on its way
   * already. Its relay could not find a task written after it ran that still sorts before it (see the margin):
   * that one is read here, or a later task would overtake it. Without the stop a hot group's window — its
   * delivered history, content included, which DynamoDB bills whether filtered or not — was read whole for every
   * due message.
   */
  readonly stopAtStarted?: boolean;
}

// The relay's group read stops by these (GroupReadOptions); the rule is shared/domain/group-read.ts.
export { MAX_READ_PAST_STARTED, STARTED_OVERTAKE_MARGIN_MS } from "#shared/domain/group-read.js";

/** Whether a task's attempt has started: it came off its FIFO queue (see `GroupReadOptions`). */
export function hasStarted(task: Pick<TaskRecord, "status" | "fanOut">): boolean {
  return (
    task.fanOut === undefined &&
    (task.status === "delivering" || task.status === "delivered" || task.status === "failed")
  );
}

/** Where a page of a list ends: DynamoDB's LastEvaluatedKey, unmarshalled (the API turns it into a cursor). */
export type PageKey = Readonly<Record<string, string | number>>;

/** One page of a list, and where the next begins (absent on the last page). */
export interface TaskPage<T = TaskRecord> {
  readonly tasks: T[];
  readonly next?: PageKey;
}

/**
 * Task persistence. Every status change is a conditional write, so concurrent relays, deliveries and cancels
 * can race freely: exactly one of them wins each transition.
 */
// --- issue 14 (breaker): protecting receivers (appended block) ---
/**
 * Per-destination state in the task table (one item per topic and callback host, under the `destination`
 * partition, and one counter item per host and second for rate limits): the circuit breaker, concurrency leases,
 * rate tokens. Part of the task store so the stack's exact DynamoDB grants cover it like every other call.
 */
export interface DestinationListQuery {
  readonly limit: number;
  readonly after?: PageKey;
  readonly circuit?: "open" | "closed";
}

/** A page of destination items; `next` (a table key in the `destination` partition) where the next begins. */
export interface DestinationPage {
  readonly destinations: DestinationRecord[];
  readonly next?: PageKey;
}

export interface DestinationStore {
  /**
   * The topic's view of a host (strongly consistent), or undefined before its first failure or lease (or once TTL
   * removed it, idle and closed). `signal` aborts the read (and, on the guards below, the write): deliver's step
   * given up by its watchdog.
   */
  getDestination(topic: string, host: string, options?: AbortOptions): Promise<DestinationRecord | undefined>;
  /**
   * One page of the destination items, all topics, in key order (`<topic>#<host>`): one strongly consistent Query
   * of the `destination` partition that evaluates at most `limit` items after `after`; `circuit` keeps only the
   * open (open and half-open) or the closed ones of those (so a page may hold fewer, even none, and a `next`).
   */
  listDestinations(query: DestinationListQuery): Promise<DestinationPage>;
  /** Counts one callback in `second`'s window unless `rate` were already counted there: true when counted. */
  takeRateToken(
    topic: string,
    host: string,
    second: number,
    rate: number,
    options?: AbortOptions,
  ): Promise<boolean>;
  /** Takes a free (or expired) lease slot of `max` until `expiresAtMs`; answers its number, or undefined. */
  acquireLease(
    topic: string,
    host: string,
    max: number,
    nowMs: number,
    expiresAtMs: number,
    options?: AbortOptions,
  ): Promise<number | undefined>;
  /** Frees a slot taken by `acquireLease` (only if it is still that lease). */
  releaseLease(topic: string, host: string, slot: number, expiresAtMs: number): Promise<void>;
  /** One more consecutive failure (creating the item); answers the item after the write. */
  recordDestinationFailure(
    topic: string,
    host: string,
    nowMs: number,
    error: string,
  ): Promise<DestinationRecord>;
  /**
   * Opens the circuit: `opened` from closed, `reopened` when it was open already (a failed probe, or a failure of
   * an attempt admitted before it opened). A reopening removes only the caller's own probe claim
   * (`ownProbeUntilMs`, a failed probe's): the claim of a probe still in flight stays, so no second prober is elected
   * beside it. `closed`: it was open, and closed (a reset, a probe's success) before the reopening's write, which
   * then wrote nothing: the circuit stays closed.
   *
   * `failuresAtLeast` (the threshold the caller's count reached): a closed circuit is opened only while its failure
   * count still reaches it. A close landing between that count and this write (a reset by hand, another delivery's
   * success) zeroed it: the circuit then stays closed (`closed`), and the failure counts afresh, as it would had it
   * come after the close. Without it, the opening was written on a count the reset had cleared: open with
   * `failures: 0` right after the reset answered `closed`.
   */
  openCircuit(
    topic: string,
    host: string,
    nowMs: number,
    nextProbeAtMs: number,
    ownProbeUntilMs?: number,
    failuresAtLeast?: number,
  ): Promise<"opened" | "reopened" | "closed">;
  /** Elects the one prober of a half-open circuit: true for the caller that claimed it (until `untilMs`). */
  claimProbe(
    topic: string,
    host: string,
    nowMs: number,
    untilMs: number,
    options?: AbortOptions,
  ): Promise<boolean>;
  /** Gives back a probe claim that ends without a verdict (only if the claim is still the one until `untilMs`). */
  releaseProbe(topic: string, host: string, untilMs: number): Promise<void>;
  /** Failures back to 0, circuit closed; answers the item as it was before, undefined when there was none. */
  closeCircuit(topic: string, host: string, nowMs: number): Promise<DestinationRecord | undefined>;
}

/**
 * What deliver calls: its attempt writes, the dead-letter write and the destination guards (every destination
 * method but the operators' `listDestinations`). DynamoDeliverStore implements exactly these.
 */
export type DeliverStoreMethod =
  | "get"
  | "readMany"
  | "startAttempt"
  | "startAttempts"
  | "finishAttempts"
  | "markDelivered"
  | "recordAttemptFailure"
  | "markFailed"
  | "getSchedule"
  | "cancel"
  | "settleRescheduled"
  | Exclude<keyof DestinationStore, "listDestinations">;

/** A task's dead-lettering as recorded (`markFailed`). */
export interface DeadLettering {
  readonly error: string;
  readonly atMs: number;
  readonly expiresAt: number;
  /** The attempt that dead-letters it: written only while the task is still in it. */
  readonly attemptSeq?: number;
  /**
   * This dead-lettering's own id (`failedWriteId`), fresh per writer (deadLetteringWriteId): with `attemptSeq`,
   * a refusal that meets it is this very write, sent again (its first answer lost). Without it a refusal is never
   * taken for this write's: two writers of one attempt's `failed` at the same instant with the same error write
   * identical items, and both once counted the dead-lettering.
   */
  readonly writeId?: string;
}

/**
 * Whether the `failed` a dead-lettering's write was refused by is its own (an earlier try of it, its answer lost):
 * the same attempt and write id. The instant and error alone do not tell: two writers of one attempt's `failed` on
 * the same clock write both alike (two overlapping sweeper runs), and both counted the one dead-lettering.
 */
export function isOwnFailed(current: TaskRecord | undefined, failure: DeadLettering): boolean {
  return (
    failure.attemptSeq !== undefined &&
    failure.writeId !== undefined &&
    current?.status === "failed" &&
    current.attemptSeq === failure.attemptSeq &&
    current.failedWriteId === failure.writeId
  );
}

/** A failed attempt as deliver records it (`recordAttemptFailure`). */
export interface AttemptFailure {
  readonly error: string;
  readonly atMs: number;
  readonly attempt?: AttemptLogEntry;
  /** The attempt is given back (a failed probe, a refusal while settings settle). */
  readonly refund?: boolean;
  /**
   * With `refund`: the start went unused (no call made), so the task is given back the status that start came
   * from (`TaskRecord.startedFrom`), in the same write. Without a recorded `startedFrom` it stays `delivering`.
   */
  readonly restore?: boolean;
  /** The attempt it belongs to: written only while the task is still in it. */
  readonly attemptSeq?: number;
  /** That attempt's count: a refund sets one less (written twice, it refunds once). */
  readonly attempts?: number;
  /** The end of the wait before the next attempt (TaskRecord.retryNotBeforeMs), written with the failure. */
  readonly retryNotBeforeMs?: number;
}

export interface TaskStore extends DestinationStore {
  /**
   * Creates the task unless an item with its key exists. An unfinished task goes into the sweep index unless
   * `sweepIndex` is false (a near-term add: its timer message is durable, shared/domain/sweep.ts). `signal` aborts
   * the write (an add that gave it up): the SDK then never sends it again.
   */
  putNew(task: TaskRecord, options?: NewTaskOptions): Promise<"created" | "exists">;
  /**
   * Writes tasks under keys nobody else can hold yet (fresh ULIDs, no idempotency key), without `putNew`'s
   * condition, in as few calls as the store allows; resolves with the tasks that were not written (or perhaps
   * written: `maybeWritten`), so the caller answers and cleans up each of them. `signal` as for `putNew`.
   */
  putNewMany(entries: readonly NewTaskEntry[], options?: AbortOptions): Promise<PutManyFailure[]>;
  /**
   * `putNew` for many tasks (keyed ones, whose key a concurrent repeat of the request may create too): never
   * overwrites; a task that exists counts as written. Resolves with the tasks whose write is unknown
   * (`PutManyFailure`), and those found already there (`{ exists: true }`: `putNew`'s "exists").
   */
  insertNewMany(entries: readonly NewTaskEntry[], options?: AbortOptions): Promise<InsertManyOutcome[]>;
  /**
   * Puts an unfinished task in the sweep index (a task that left the near-term happy path without a write of
   * its own that would carry it); false when the task is finished or missing. `signal`
   * aborts it (an add's clean-up given up near its deadline).
   */
  enterSweepIndex(taskId: string, options?: AbortOptions): Promise<boolean>;
  /** Strongly consistent read; `signal` aborts it (deliver's step given up by its watchdog). */
  get(taskId: string, options?: AbortOptions): Promise<TaskRecord | undefined>;
  /**
   * Removes a task that is still `scheduled` (used when arming its timer failed and the add is refused); false
   * when there was none to remove (missing, or moved on). `signal` aborts it (an add's clean-up given up near its
   * deadline).
   */
  removeScheduled(taskId: string, options?: AbortOptions): Promise<boolean>;
  /**
   * Claims a key: `claimed` when no live claim of it exists, or when the live one is this very claim (same task id
   * and hash: the write's answer was lost and the retry met it); otherwise `existing` with what the claim holds.
   */
  claimIdempotencyKey(claim: IdempotencyClaim): Promise<IdempotencyOutcome>;
  /**
   * The live claim of a key (a read only: it never claims), its task id and request hash; a claim past its expiry,
   * which `claimIdempotencyKey` would take over, is none.
   */
  readIdempotencyClaim(
    topic: string,
    key: string,
  ): Promise<{ readonly taskId: string; readonly requestHash: string } | undefined>;
  /**
   * Claims many keys in as few calls as the store allows, each only where no claim of that key exists (live or
   * expired); one outcome per claim, in order. The claims must be of distinct keys. `signal` aborts it (the batch
   * add's claims given up near its deadline).
   */
  claimIdempotencyKeys(
    claims: readonly IdempotencyClaim[],
    options?: AbortOptions,
  ): Promise<BatchClaimOutcome[]>;
  /**
   * `scheduled | queued → cancelled`: a task whose attempt has not started (deliver's conditional start, which
   * takes only `scheduled` or `queued`, is the fence); any other status is a conflict. `expiresAt` is the
   * retention's; a moved task is kept to its `expiresAtFloor` when that is later (finishedExpiry), which the
   * caller, writing without a read, does not know. With `awaitingRetry` (CancelOptions), a `delivering` task waiting
   * for its retry as well.
   */
  cancel(taskId: string, nowMs: number, expiresAt: number, options?: CancelOptions): Promise<CancelOutcome>;
  /**
   * Undoes a fan-out parent's `cancel` that cancelled none of its copies (each had gone on, so the cancel is a
   * 409): `cancelled → scheduled`, without `cancelledAtMs`, its TTL `expiresAt` again — or, given the TTL that
   * cancel wrote (`cancelExpiresAt`), the one a copy's replay raised it to since (keepFanOutParent), never lowered.
   * Only on condition that it is still that cancel (`cancelledAtMs`); false when it is not.
   */
  restoreFanOutParent(
    taskId: string,
    cancelledAtMs: number,
    expiresAt: number,
    cancelExpiresAt?: number,
  ): Promise<boolean>;
  /**
   * The group's tasks still `scheduled` with due time in [fromMs, toMs], in order of due time then acceptance
   * (strongly consistent), as `GroupTaskRef`s: no content. When `others` is given, the status of every other task of the group in that window
   * is put in it (task id → status): the same read answers "is this message's task still pending?" without
   * one more read per message.
   */
  listScheduledInGroup(
    pk: string,
    fromMs: number,
    toMs: number,
    others?: Map<string, TaskStatus>,
    options?: GroupReadOptions,
  ): Promise<GroupTaskRef[]>;
  /** `scheduled → queued`; false when the task had moved on (cancelled, or already being delivered). */
  markQueued(taskId: string, nowMs: number): Promise<boolean>;
  /**
   * Starts a delivery attempt: `scheduled|queued|delivering → delivering`, attempts + 1. Returns the updated
   * task, or undefined when the task is missing or already delivered / failed / cancelled. With `maxAttempts`,
   * also undefined for a task already `delivering` whose attempts reached it (it must be dead-lettered instead):
   * then one conditional write both checks and starts, where a read and a write were needed — and undefined for an
   * occurrence of a recurring schedule (`scheduleId`), whose schedule deliver reads before its start (occurrence-
   * hold.ts): that write is made without a read. `handedOverAtMs`
   * (the FIFO message's SentTimestamp) becomes `queuedAtMs` unless one is recorded: the relay records nothing, so
   * the hand-over time rides on this write. `signal` aborts it (deliver's step given up by its watchdog): the SDK
   * then never sends it again; a write already made stays, its answer lost (an attempt counted that made no call).
   * A task with a cancel request (`cancelRequestedAtMs`) is refused too, and its cancel finished (`cancelled`, one
   * conditional write): its in-flight attempt's outcome write was lost (the function timed out mid-attempt) and its
   * message came back. A fan-out parent (`fanOut`) is refused too, with or without `maxAttempts`: only its copies
   * are delivered (deliver's read path then drops the message).
   */
  startAttempt(
    taskId: string,
    nowMs: number,
    maxAttempts?: number,
    handedOverAtMs?: number,
    options?: AbortOptions,
  ): Promise<TaskRecord | undefined>;
  /**
   * Strongly consistent reads of up to 100 tasks in one call (deliver's batch start): the tasks found, and the ids
   * that were not read (unprocessed, or the call failed) — for those the caller decides nothing.
   */
  readMany(taskIds: readonly string[]): Promise<ManyRead>;
  /**
   * The same reads without the tasks' content (`TaskSummary`): a bulk replay by ids holds up to 1,000 named tasks
   * (and their copies) at once, and sends none of their contents.
   */
  readMany(taskIds: readonly string[], options: { readonly summaries: true }): Promise<ManyRead<TaskSummary>>;
  /**
   * Starts several attempts in as few calls as the store allows, each as `startedTask(read, …)` and each only if
   * the task is still exactly as read (status, attempts, attemptSeq: optimistic concurrency) and carries no cancel
   * request (`cancelRequestedAtMs`). Answers, per task id, whether its start was written (`started`), refused
   * (`refused`: the task moved on) or is unknown (`unknown`: the call failed, it may have been written).
   */
  startAttempts(starts: readonly BatchStart[]): Promise<Map<string, BatchStartOutcome>>;
  /**
   * Deliver's finishing writes of one batch in as few calls as the store allows: `delivered` (as markDelivered,
   * on condition that the task is still in the attempt `attemptSeq`), and `giveBack` (an attempt started up front
   * but never called back: the task restored as read, on condition that it is still in that start — or, when a
   * cancel was requested on that start, restored and ended `cancelled`, as the request's attempt ends it; a task
   * another writer ended `cancelled` meanwhile needs none). Answers the task ids whose write was not made or may not
   * have been (refused, failed, or the call failed).
   */
  finishAttempts(writes: readonly FinishWrite[]): Promise<Set<string>>;
  /**
   * `delivered`, from `delivering` only. With `attempt`, the attempt's entry goes into the attempt log ring in the
   * same write. With `attemptSeq`, only while the task is still in that attempt: an outcome landing after the
   * next attempt began (a step its watchdog gave up on) is refused. False when nothing was written; a resend
   * refused by its own earlier, written try (the answer lost) is recognised and answers true.
   */
  markDelivered(
    taskId: string,
    result: {
      atMs: number;
      latenessMs: number;
      deliveryLatencyMs: number;
      expiresAt: number;
      attempt?: AttemptLogEntry;
      attemptSeq?: number;
    },
    options?: AbortOptions,
  ): Promise<boolean>;
  /**
   * A failed attempt: its error and log entry, from `delivering` only and, with `attemptSeq`, only while the task
   * is still in that attempt (as markDelivered). `refund` (issue 14: a circuit breaker's failed probe) gives the
   * attempt back in the same write, so waiting for a host to recover costs the task no attempt; with `attempts`
   * (what the attempt counted) it sets one less instead of subtracting one, so a resend of the write (its first
   * answer lost) gives the attempt back once. False when nothing was written. `"cancelled"`: an operator's cancel
   * was requested while this attempt was in flight (`cancelRequestedAtMs`), so the failure ended the task instead
   * (`cancelled`, its entry logged, the cancel's TTL): the caller schedules no retry and dead-letters nothing.
   */
  recordAttemptFailure(
    taskId: string,
    failure: AttemptFailure,
    options?: AbortOptions,
  ): Promise<boolean | "cancelled">;
  /**
   * `failed`, from `delivering` only and, with `attemptSeq`, only while the task is still in that attempt: a
   * dead-lettering that lands after the next attempt began (its DLQ send answered after its step was given up, or
   * the sweeper's finishing of a dead-lettering it read before a redelivery started) is refused instead of failing
   * the task under that attempt. False when nothing was written; a resend refused by its own earlier, written try
   * (the answer lost) is recognised by its `writeId` and answers true, so its dead-lettering is counted once —
   * another writer's identical `failed` (same attempt, instant and error) answers false.
   */
  markFailed(taskId: string, failure: DeadLettering): Promise<boolean>;
  /**
   * Unfinished tasks (`scheduled`, `queued`, `delivering`) of one sweep shard due at or before `dueByMs`, oldest
   * first, at most `limit` (`truncated` when more remain); with `after`, those past that position only. Read
   * from the sparse sweep index, so eventually consistent: callers re-read before acting.
   */
  listUnfinishedDueBy(
    shard: number,
    dueByMs: number,
    limit: number,
    after?: SweepPosition,
  ): Promise<{ tasks: UnfinishedTaskRef[]; truncated: boolean }>;
  /** The sweeper's moving window over the sweep index, as its last run left it (sweeper/candidates.ts). */
  readSweepCursor(): Promise<SweepCursor>;
  writeSweepCursor(cursor: SweepCursor): Promise<void>;
  /**
   * A group's unfinished tasks with due time in [fromMs, toMs], in group order (due time, then acceptance),
   * strongly consistent; also the `rescheduled` tasks still in the sweep index (a reschedule that stopped
   * before its successor was settled, for the sweeper to finish). With `limit`, only the first `limit` of them;
   * with `maxScanned`, the read stops after that many of the group's items (finished ones included, which the
   * read passes over) and `complete` is false when it stopped before `toMs` (what it found is then the group's
   * first unfinished tasks from `fromMs`, in order). Without their content (`TaskSummary`), and without fan-out
   * parents (never delivered themselves, they stay `scheduled`).
   */
  listUnfinishedInGroup(
    pk: string,
    fromMs: number,
    toMs: number,
    limit?: number,
    maxScanned?: number,
  ): Promise<{ tasks: TaskSummary[]; complete: boolean }>;
  /**
   * The status of a group's items with due time in [fromMs, toMs], latest first (the reverse of group order),
   * strongly consistent: at most `maxItems` of them read, `complete` when none remain before the last one; fan-out
   * parents (never delivered themselves, they stay `scheduled`) are read but not returned. What the sweeper reads
   * back from a candidate when a forward read passed over only finished tasks (repair.ts).
   */
  listGroupStatusesLatestFirst(
    pk: string,
    fromMs: number,
    toMs: number,
    maxItems: number,
  ): Promise<{ items: GroupItemStatus[]; complete: boolean }>;
  /**
   * Records that the sweeper put a `queued` / `delivering` task back on its FIFO queue (`requeuedAtMs`), which
   * restarts its stall clock; false when the task is no longer queued or delivering. With `life`, only while the
   * task is in that replay (`replays`): the bulk replay's send of another replay's pending mark went under that
   * life's dedup id, and marked on a later life (that replay undone, the task marked again) it kept the later
   * replay from undoing its own failed send, answered as replayed with no message of its life sent.
   */
  markRequeued(taskId: string, nowMs: number, life?: { readonly replays: number }): Promise<boolean>;

  // Operations routes (issue 11, scope I2: reschedule, run now, group cancel).
  /**
   * `scheduled → rescheduled` with `rescheduledTo`, in one conditional write; the task stays in the sweep index
   * until `settleRescheduled`, so the sweeper finishes a reschedule that stopped after this write. A `scheduled`
   * task carrying a cancel request (deliver's start given back with it) is a conflict: its successor would drop it.
   */
  markRescheduled(
    taskId: string,
    change: { readonly to: string; readonly atMs: number; readonly expiresAt: number },
  ): Promise<RescheduleOutcome>;
  /** Takes a `rescheduled` task out of the sweep index (its successor exists); false when it is not rescheduled. */
  settleRescheduled(taskId: string): Promise<boolean>;
  /**
   * Points a key's idempotency claim at a moved task's successor, kept until `expiresAt` (epoch seconds; the
   * successor's due time's claim expiry): a task moved later than its first due time would outlive the claim its add
   * wrote, and the items it was moved from. Only a claim naming one of `from` (the task moved, and the item it was
   * moved from: that earlier move may have stopped before pointing the claim on) or already the successor (`to`) is
   * changed: none, or another task's, is left as it is.
   */
  moveIdempotencyClaim(
    topic: string,
    key: string,
    move: { readonly from: readonly string[]; readonly to: string; readonly expiresAt: number },
  ): Promise<void>;
  /**
   * Up to `limit` items of one group read in group order after `startAfterSk` (strongly consistent), of which
   * the unfinished ones are returned, and the cancelled fan-out parents (a repeated group cancel finishes their
   * copies): bounded work per call for bulk operations on a group. A `rescheduled` item whose move is not settled
   * (still in the sweep index: its successor may not be written yet) counts as unfinished; with `movedSinceMs`,
   * so does any `rescheduled` item moved at or after it (its new id may sort before `startAfterSk`).
   */
  listGroupPage(pk: string, limit: number, startAfterSk?: string, movedSinceMs?: number): Promise<GroupPage>;
  // --- issue 11, scope H: listing (appended block) ---
  /** One ordering group's tasks in delivery order (sort key ascending), strongly consistent, one page. */
  listGroup(pk: string, limit: number, after?: PageKey): Promise<TaskPage>;
  /**
   * A topic's dead-lettered tasks, newest failure first, from the sparse failed index (eventually consistent).
   * `oldestFirst` reads the other way, from `failedFromMs` on (the bulk replay: see ListFailedOptions). Without
   * their content (`TaskSummary`): a bulk replay holds up to 1,000 of them.
   */
  listFailed(
    topic: string,
    limit: number,
    after?: PageKey,
    options?: ListFailedOptions,
  ): Promise<TaskPage<TaskSummary>>;
  // --- issue 11, scope H: replay (appended block) ---
  /**
   * `failed | delivered → queued` for another delivery: replays + 1, attempts back to 0 (maxAttempts applies per
   * replay; `attemptSeq` and the attempt log continue), out of the failed index, back in the sweep index, TTL
   * removed. The caller then sends the task to its FIFO queue. `onlyFailed`: from `failed` alone — a bulk replay
   * of dead-lettered tasks, which must not replay one that a concurrent replay has meanwhile delivered.
   */
  markReplayed(taskId: string, nowMs: number, options?: ReplayOptions): Promise<ReplayOutcome>;
  /**
   * Undoes a replay whose send failed (`queued → failed` again: back in the failed index with its TTL and
   * attempts as before, out of the sweep index), only while that replay is untouched: this replay's `replays`,
   * no attempt started, no re-send by the sweeper. `replays` stays counted, so the next replay sends under a
   * dedup id of its own, which a lost send that did land cannot swallow. False when the task has moved on.
   * `status`: what the replay took it from (default `failed`); a `delivered` one goes back to `delivered`, out of
   * the failed index.
   */
  revertReplay(taskId: string, replay: ReplayRevert): Promise<boolean>;
  /**
   * Keeps a fan-out parent at least until `expiresAt` (epoch seconds): its TTL raised, never lowered, nor given to
   * a parent without one. False when it is gone, not a fan-out task, or already kept that long.
   */
  keepFanOutParent(taskId: string, expiresAt: number): Promise<boolean>;
  // --- issue 14, point 4: recurring schedules (appended block) ---
  /** Creates a schedule item unless one with its key exists. */
  putSchedule(schedule: ScheduleRecord): Promise<"created" | "exists">;
  /** Strongly consistent read; undefined for a malformed id too. */
  getSchedule(scheduleId: string, options?: AbortOptions): Promise<ScheduleRecord | undefined>;
  /** One topic's schedules in id order (creation order), one page. */
  listSchedules(topic: string, limit: number, after?: PageKey): Promise<SchedulePage>;
  /**
   * Active schedules of one shard whose next occurrence enters the horizon at or before `dueByMs`, longest due
   * first, with that instant, from the sparse schedule index (eventually consistent: callers read the schedule
   * before acting).
   */
  listSchedulesDue(shard: number, dueByMs: number, limit: number): Promise<DueSchedule[]>;
  /** One conditional write (see ScheduleChange); a failed condition answers the schedule as it is. */
  updateSchedule(scheduleId: string, change: ScheduleChange): Promise<ScheduleUpdateOutcome>;
  /** The task id an idempotency key was claimed for (a read only: it never claims). */
  findIdempotencyClaim(topic: string, key: string): Promise<string | undefined>;
  // --- issue 12: discard a dead-lettered task (appended block) ---
  /**
   * `failed → cancelled` (the operator gives up on a dead-lettered task): out of the failed index, TTL set to
   * `expiresAt`; any other status is a conflict. History (failedAtMs, lastError, the attempt log) is kept.
   */
  discardFailed(taskId: string, nowMs: number, expiresAt: number): Promise<CancelOutcome>;
}

/** A schedule the materializer has work for, and since when (the index's sort key): runs take the longest due first. */
export interface DueSchedule {
  readonly scheduleId: string;
  readonly materializeAtMs: number;
}

/** One page of a topic's schedules, and where the next begins (absent on the last page). */
export interface SchedulePage {
  readonly schedules: ScheduleRecord[];
  readonly next?: PageKey;
}

/** Fields of a schedule a change may set (the keys and creation fields never change). */
export type ScheduleSettable = Partial<
  Pick<
    ScheduleRecord,
    | "status"
    | "updatedAtMs"
    | "materializedUntilMs"
    | "epoch"
    | "leasedUntilMs"
    | "pausedAtMs"
    | "deletedAtMs"
    | "scheduleShard"
    | "materializeAtMs"
    | "expiresAt"
    | "skippedOccurrences"
    | "lastSkipped"
  >
>;

/**
 * A conditional change of a schedule: applied only while the schedule is in one of `ifStatus` and, when given,
 * its cursor and epoch are still the ones the caller read (so two materializer runs never both advance it).
 */
export interface ScheduleChange {
  readonly ifStatus: readonly ScheduleStatus[];
  readonly ifMaterializedUntilMs?: number;
  readonly ifEpoch?: number;
  /** The lease the caller read (`null`: none), so two runs never both extend it and it never shrinks. */
  readonly ifLeasedUntilMs?: number | null;
  readonly set: ScheduleSettable;
  readonly remove?: readonly ("scheduleShard" | "materializeAtMs" | "pausedAtMs")[];
}

export type ScheduleUpdateOutcome =
  | { readonly outcome: "updated"; readonly schedule: ScheduleRecord }
  | { readonly outcome: "conflict"; readonly schedule: ScheduleRecord }
  | { readonly outcome: "not-found" };

/**
 * A call its caller may give up: a task write an add gives up near its function's deadline
 * (shared/services/add-task.ts, `inTime`), or a call of a deliver step its group runner's watchdog gave up
 * (shared/services/deliver/group-runner.ts). Aborted, the SDK stops it and never sends it again. Otherwise its own
 * retries (after a socket timeout, in a later invocation once the container thaws) could write a task after the add
 * removed it and answered 503 "not accepted", or start an attempt beside the redelivery of the given-up records.
 */
export interface AbortOptions {
  readonly signal?: AbortSignal;
}

/** `putNew`'s options: whether the task goes into the sweep index, and the write's abort signal. */
export interface NewTaskOptions extends AbortOptions {
  readonly sweepIndex?: boolean;
}

/** A task for `putNewMany`, and whether it goes into the sweep index (as `putNew`'s option). */
export interface NewTaskEntry {
  readonly task: TaskRecord;
  readonly sweepIndex: boolean;
}

/** A task `putNewMany` could not write: unprocessed (not written), or its call failed (perhaps written). */
export interface PutManyFailure {
  readonly taskId: string;
  readonly maybeWritten: boolean;
}

/** A task `insertNewMany` did not write itself: its write is unknown, or it was there already (`exists`). */
export type InsertManyOutcome = PutManyFailure | { readonly taskId: string; readonly exists: true };

/** What `readMany` found. */
export interface ManyRead<T extends TaskSummary = TaskRecord> {
  readonly tasks: ReadonlyMap<string, T>;
  /** Ids neither found nor known to be missing (unprocessed keys, a failed call). */
  readonly unread: ReadonlySet<string>;
}

/** One attempt to start in a batch: the task as read, and the start's time and hand-over time. */
export interface BatchStart {
  readonly read: TaskRecord;
  readonly atMs: number;
  readonly handedOverAtMs?: number;
}

export type BatchStartOutcome = "started" | "refused" | "unknown";

/** The result fields of a delivered attempt (as `markDelivered` takes them). */
export interface DeliveredResult {
  readonly atMs: number;
  readonly latenessMs: number;
  readonly deliveryLatencyMs: number;
  readonly expiresAt: number;
  readonly attempt?: AttemptLogEntry;
  /** When the callback really started, if later than the start write's `lastAttemptAtMs` (started up front). */
  readonly lastAttemptAtMs?: number;
}

export type FinishWrite =
  | {
      readonly kind: "delivered";
      readonly taskId: string;
      /** The attempt this delivery belongs to: the write is refused if another attempt started since. */
      readonly attemptSeq: number;
      readonly result: DeliveredResult;
      /**
       * The attempt log as the attempt's start left it: with `result.attempt`, written whole with the entry in its
       * slot (a top-level SET: the statements name no nested paths). The condition on `attemptSeq` makes that
       * safe: no other writer touches the log while the task stays in this attempt.
       */
      readonly attemptLog?: TaskRecord["attemptLog"];
    }
  | {
      readonly kind: "giveBack";
      /** The task as read before the start, restored field by field. */
      readonly read: TaskRecord;
      /** The task as the start left it (`startedTask(read, …)`): the write's condition. */
      readonly started: TaskRecord;
      /**
       * When the start is given back: the task's `cancelledAtMs` should a cancel requested on that start (DELETE
       * while it was `delivering`) end it `cancelled` instead of restoring it.
       */
      readonly atMs: number;
    };

/**
 * The task as a batch start leaves it: `delivering`, one more attempt and attempt sequence number, the attempt log
 * made if missing, the hand-over time recorded unless one is. The same fields `startAttempt` sets, computed from
 * the read item instead of returned by the write (a batch of writes returns no items).
 */
export function startedTask(read: TaskRecord, atMs: number, handedOverAtMs?: number): TaskRecord {
  return {
    ...read,
    status: "delivering",
    attempts: read.attempts + 1,
    lastAttemptAtMs: atMs,
    attemptSeq: (read.attemptSeq ?? 0) + 1,
    attemptLog: read.attemptLog ?? {},
    ...(read.queuedAtMs === undefined && handedOverAtMs !== undefined ? { queuedAtMs: handedOverAtMs } : {}),
  };
}
