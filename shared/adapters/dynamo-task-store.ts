import { randomBytes } from "node:crypto";
import {
  type AttributeValue,
  BatchExecuteStatementCommand,
  BatchGetItemCommand,
  type BatchStatementRequest,
  BatchWriteItemCommand,
  type BatchWriteItemCommandOutput,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandOutput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { type AttemptLogEntry, attemptLogSlot, awaitingRetry } from "#shared/domain/attempt-log.js";
import type { DestinationRecord } from "#shared/domain/destination.js";
import {
  DESTINATION_PARTITION,
  destinationIdleExpiry,
  OPEN_CIRCUIT_HOLD_SECONDS,
} from "#shared/domain/destination-item.js";
import {
  FAILED_INDEX_NAME,
  FAILED_SORT_ATTRIBUTE,
  FAILED_TOPIC_ATTRIBUTE,
} from "#shared/domain/failed-index.js";
import {
  type GroupItemView,
  type GroupPageStep,
  type GroupReadState,
  readGroupPage,
  startGroupRead,
} from "#shared/domain/group-read.js";
import { parseTaskId, sortKeyLowerBound, sortKeyUpperBound } from "#shared/domain/keys.js";
import { RETRY_WAIT_MARGIN_MS } from "#shared/domain/retry-wait.js";
import {
  parseScheduleId,
  SCHEDULE_INDEX_NAME,
  SCHEDULE_SHARD_ATTRIBUTE,
  SCHEDULE_SORT_ATTRIBUTE,
  type ScheduleRecord,
  scheduleIdPrefix,
  schedulePartitionKey,
} from "#shared/domain/schedule.js";
import {
  SWEEP_INDEX_NAME,
  SWEEP_SHARD_ATTRIBUTE,
  SWEEP_SORT_ATTRIBUTE,
  sweepShardOf,
  UNFINISHED_STATUSES,
} from "#shared/domain/sweep.js";
import {
  DELIVERABLE_STATUSES,
  retentionEnded,
  type TaskRecord,
  type TaskStatus,
  type TaskSummary,
  TERMINAL_STATUSES,
} from "#shared/domain/task.js";
import { inRounds, untilAborted } from "#shared/runtime/async.js";
import { chunksOf } from "#shared/runtime/chunks.js";
import { abortableCall } from "./abort-signals.js";
import { marshallItem } from "./flat-marshall.js";
import { BATCH_STATEMENT_SIZE, insertStatement, updateStatement } from "./partiql.js";
import {
  type AbortOptions,
  type AttemptFailure,
  type BatchClaimOutcome,
  type BatchStart,
  type BatchStartOutcome,
  type CancelOptions,
  type CancelOutcome,
  type DeadLettering,
  type DeliverStoreMethod,
  type DestinationListQuery,
  type DestinationPage,
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
  type SweepCursor,
  type SweepPosition,
  startedTask,
  type TaskPage,
  type TaskStore,
  type UnfinishedTaskRef,
} from "./task-store.js";

/**
 * Destination items (issue 14): one per topic and callback host in the single `destination` partition, so
 * `GET /v1/destinations` is one Query instead of a Scan of the task table. Hosts cannot hold `#` and neither can
 * topic names. The partition is written on failures, circuit changes and lease changes only (never per success
 * on the happy path); DynamoDB splits a hot partition between sort keys (the table has no local index), and the
 * per-second rate counters live in partitions of their own (`rate#<topic>#<host>`, sort key = the second).
 * Neither can meet a task: a task's partition key is `<topic>#<hash or _ulid>`, with exactly one `#`.
 */
export { DESTINATION_PARTITION };

const destinationKey = (topic: string, host: string) => ({
  pk: DESTINATION_PARTITION,
  sk: `${topic}#${host}`,
});
/**
 * The sweeper's moving window over the sweep index (sweeper/candidates.ts): one item, written by the sweeper once
 * a run, read at the next. Its partition key holds no `#`, so it can never meet a task's.
 */
const SWEEP_CURSOR_KEY = { pk: "sweeper", sk: "sweep-index-cursor" } as const;

/** The sweep index's key of the entry at `position` (index keys and table key), to resume a Query just past it. */
function sweepIndexKey(shard: number, position: SweepPosition): Record<string, AttributeValue> | undefined {
  const key = parseTaskId(position.taskId);
  if (!key) return undefined;
  return toWire({
    [SWEEP_SHARD_ATTRIBUTE]: shard,
    [SWEEP_SORT_ATTRIBUTE]: position.dueAtMs,
    pk: key.pk,
    sk: key.sk,
  });
}

/** A rate counter item outlives its second by this long before TTL removes it. */
const RATE_ITEM_TTL_SECONDS = 120;
const LEASE_ATTRIBUTE = /^lease(\d+)$/;
/** A lease take's id (`leaseId<n>`, beside its slot, 8 characters): how a resend recognises its own take. */
const LEASE_CLAIM_ATTRIBUTE = /^leaseId\d+$/;
/** The item's keys and its expiry bookkeeping: not the breaker's state. */
const NOT_RECORD_ATTRIBUTES = new Set([
  "pk",
  "sk",
  "expiresAt",
  "ttlHoldSeconds",
  "probeClaimId",
  "lastFailureId",
  "openId",
  "closeId",
  "closedCircuit",
  "closedFailures",
]);

/**
 * A destination item's expiry (docs/CALLBACKS.md "Protecting receivers"): every write that uses the item refreshes it. A
 * write that does not know the circuit's state adds the item's hold (`ttlHoldSeconds`: set while open, absent
 * while closed) to its idle expiry, in the same atomic UpdateItem, so an open circuit's item never expires and a
 * closed one expires DESTINATION_IDLE_SECONDS after its last use; the writes that open (or keep open) a circuit
 * set the hold with the expiry, the close removes it.
 */
const EXPIRY_NAMES = { "#expiresAt": "expiresAt", "#hold": "ttlHoldSeconds" } as const;
const REFRESH_EXPIRY = "#expiresAt = if_not_exists(#hold, :noHold) + :idle";
const refreshExpiryValues = (nowMs: number) => ({ ":noHold": 0, ":idle": destinationIdleExpiry(nowMs) });
const HOLD_EXPIRY = "#hold = :hold, #expiresAt = :held";
const holdExpiryValues = (nowMs: number) => ({
  ":hold": OPEN_CIRCUIT_HOLD_SECONDS,
  ":held": destinationIdleExpiry(nowMs) + OPEN_CIRCUIT_HOLD_SECONDS,
});

/**
 * An entry past its expiry is a host never met (docs/CALLBACKS.md "Protecting receivers"), though DynamoDB deletes it
 * only some time after, showing it to every read and write until then
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ttl-expired-items.html: expired when its TTL is
 * equal to or less than the current time). So the reads leave it out, and a write that would count on it (a failure's
 * ADD, a lease's take, a close) is conditioned on NOT_EXPIRED; refused there, the entry is first cleared by
 * FORGET_EXPIRED. An open circuit's entry carries its hold (a century on), so this only ever meets closed ones.
 */
const NOT_EXPIRED = "(attribute_not_exists(#expiresAt) OR #expiresAt > :nowSeconds)";
/**
 * Clears what an expired entry holds of the breaker, on condition that it is still expired, and starts its idle time
 * (its hold is absent: only a closed entry expires). Whoever clears it first wins; every other clear is refused (the
 * entry no longer expired), so a failure another container counted on the cleared entry is never cleared again.
 * Its lease slots are left: each holds an expiry long past, a free slot.
 */
const FORGET_EXPIRED =
  "SET #expiresAt = :idle REMOVE failures, lastError, lastFailureAtMs, lastFailureId, circuit, openedAtMs, " +
  "nextProbeAtMs, probeUntilMs, closeId, closedCircuit, closedFailures";
/** The `:nowSeconds` of NOT_EXPIRED for a write at `nowMs` (the TTL attribute is in epoch seconds). */
const nowSecondsOf = (nowMs: number) => Math.floor(nowMs / 1000);
/** Whether a stored destination item has expired at `nowSeconds` (its TTL passed; DynamoDB may not have deleted it). */
function expiredAt(item: Record<string, AttributeValue> | undefined, nowSeconds: number): boolean {
  const expiresAt = item?.expiresAt?.N;
  return expiresAt !== undefined && Number(expiresAt) <= nowSeconds;
}

/** A destination item as the port shows it: the lease slots gathered from their `lease<n>` attributes. */
function destinationOf(item: Record<string, AttributeValue> | undefined): DestinationRecord | undefined {
  const raw = fromWire<Record<string, unknown>>(item);
  if (!raw) return undefined;
  const leases: Record<number, number> = {};
  const record: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    const slot = LEASE_ATTRIBUTE.exec(name)?.[1];
    if (slot !== undefined) leases[Number(slot)] = value as number;
    else if (!NOT_RECORD_ATTRIBUTES.has(name) && !LEASE_CLAIM_ATTRIBUTE.test(name)) record[name] = value;
  }
  return { failures: 0, circuit: "closed", ...record, leases } as DestinationRecord;
}

/**
 * A page's filter: the entries not expired (NOT_EXPIRED), of `circuit` when asked. An item a lease made before any
 * failure has no `circuit`: closed.
 */
function destinationFilter(circuit: "open" | "closed" | undefined): string {
  if (circuit === undefined) return NOT_EXPIRED;
  const state =
    circuit === "open" ? "circuit = :open" : "(attribute_not_exists(circuit) OR circuit <> :open)";
  return `${NOT_EXPIRED} AND ${state}`;
}

/**
 * Idempotency items live in the task table under their own partition, one per topic and key. Topic names cannot
 * hold `#` (shared/config), so `idem#<topic>#<key>` is unambiguous. (Before keys were scoped per topic the item was
 * `idem#<key>`; nothing was deployed with that layout, so there is nothing to migrate.)
 */
export const IDEMPOTENCY_SORT_KEY = "idem";
export function idempotencyPartitionKey(topic: string, key: string): string {
  return `idem#${topic}#${key}`;
}

/** A DynamoDB API call the store makes, and where: the table itself or its sparse sweep index. */
export interface DynamoOperation {
  readonly action:
    | "GetItem"
    | "BatchGetItem"
    | "PutItem"
    | "BatchWriteItem"
    | "UpdateItem"
    | "DeleteItem"
    | "Query"
    /** BatchExecuteStatement of UPDATE statements (the IAM action PartiQL updates need, shared/adapters/partiql.ts). */
    | "PartiQLUpdate"
    /** BatchExecuteStatement of INSERT statements (the batch add's idempotency claims). */
    | "PartiQLInsert";
  readonly on: "table" | "sweepIndex" | "failedIndex" | "scheduleIndex";
}
// Marked free of side effects: the table below is the CDK's (grants) and its tests', and a function's bundle keeps
// a top-level table built with calls unless esbuild knows the calls do nothing else.
const onTable = /* @__NO_SIDE_EFFECTS__ */ (action: DynamoOperation["action"]): DynamoOperation => ({
  action,
  on: "table",
});

/**
 * The DynamoDB calls each TaskStore method of this adapter sends (including through the methods it calls).
 * The stack grants each function exactly the union over the methods its use-cases call (PIPELINE_STORE_METHODS and the
 * route table's `store` lists),
 * so no role holds BatchWriteItem, DeleteItem or Scan it never uses. test/cdk/dynamodb-grants.test.ts reads this
 * class's source and the bundled functions and fails when a method or a function makes a call not listed here.
 */
export const TASK_STORE_OPERATIONS: { readonly [M in keyof TaskStore]: readonly DynamoOperation[] } = {
  putNew: [onTable("PutItem")],
  putNewMany: [onTable("BatchWriteItem")],
  get: [onTable("GetItem")],
  removeScheduled: [onTable("DeleteItem")],
  claimIdempotencyKey: [onTable("PutItem"), onTable("GetItem")],
  claimIdempotencyKeys: [onTable("PartiQLInsert")],
  insertNewMany: [onTable("PartiQLInsert")],
  cancel: [onTable("UpdateItem"), onTable("GetItem")],
  restoreFanOutParent: [onTable("UpdateItem")],
  listScheduledInGroup: [onTable("Query")],
  markQueued: [onTable("UpdateItem")],
  enterSweepIndex: [onTable("UpdateItem")],
  startAttempt: [onTable("UpdateItem"), onTable("GetItem")],
  // A refused write is read once, to recognise its own earlier try (a resend whose answer was lost).
  markDelivered: [onTable("UpdateItem"), onTable("GetItem")],
  // Deliver's batch start and finish (docs/RELIABILITY.md "Deliver's writes in batches").
  readMany: [onTable("BatchGetItem")],
  // A refused statement's item, when its answer lacks it, is read (withRefusedItems).
  startAttempts: [onTable("PartiQLUpdate"), onTable("BatchGetItem")],
  finishAttempts: [onTable("PartiQLUpdate"), onTable("BatchGetItem")],
  recordAttemptFailure: [onTable("UpdateItem")],
  // As markDelivered: a refusal without its item (ALL_OLD) is read once, to recognise its own earlier try.
  markFailed: [onTable("UpdateItem"), onTable("GetItem")],
  listUnfinishedDueBy: [{ action: "Query", on: "sweepIndex" }],
  readSweepCursor: [onTable("GetItem")],
  writeSweepCursor: [onTable("PutItem")],
  markRequeued: [onTable("UpdateItem")],
  listUnfinishedInGroup: [onTable("Query")],
  listGroupStatusesLatestFirst: [onTable("Query")],
  markRescheduled: [onTable("UpdateItem"), onTable("GetItem")],
  settleRescheduled: [onTable("UpdateItem")],
  moveIdempotencyClaim: [onTable("UpdateItem")],
  listGroupPage: [onTable("Query")],
  listGroup: [onTable("Query")],
  listFailed: [{ action: "Query", on: "failedIndex" }],
  markReplayed: [onTable("UpdateItem"), onTable("GetItem")],
  revertReplay: [onTable("UpdateItem")],
  keepFanOutParent: [onTable("UpdateItem")],
  // Issue 14, point 4: recurring schedules.
  putSchedule: [onTable("PutItem")],
  getSchedule: [onTable("GetItem")],
  listSchedules: [onTable("Query")],
  listSchedulesDue: [{ action: "Query", on: "scheduleIndex" }],
  updateSchedule: [onTable("UpdateItem"), onTable("GetItem")],
  findIdempotencyClaim: [onTable("GetItem")],
  readIdempotencyClaim: [onTable("GetItem")],
  // --- issue 14 (breaker): destinations ---
  getDestination: [onTable("GetItem")],
  listDestinations: [onTable("Query")],
  takeRateToken: [onTable("UpdateItem")],
  acquireLease: [onTable("GetItem"), onTable("UpdateItem")],
  releaseLease: [onTable("UpdateItem")],
  // A refused write whose answer lacks the item it met (dynalite: no ALL_OLD) reads it, to recognise its own resend.
  recordDestinationFailure: [onTable("UpdateItem"), onTable("GetItem")],
  openCircuit: [onTable("UpdateItem"), onTable("GetItem")],
  claimProbe: [onTable("UpdateItem"), onTable("GetItem")],
  releaseProbe: [onTable("UpdateItem")],
  closeCircuit: [onTable("UpdateItem"), onTable("GetItem")],
  discardFailed: [onTable("UpdateItem"), onTable("GetItem")],
};

/**
 * Which TaskStore methods the pipeline's functions (`functions/<name>.ts`) call, through the services they run. An
 * API function's list is its row's `store` in the route table (shared/api/routes.ts).
 */
export const PIPELINE_STORE_METHODS = {
  // Issue 14, point 4: occurrences through the add-task service, the cursor, undoing a run a pause overtook.
  "schedule-materializer": [
    "listSchedulesDue",
    "getSchedule",
    "claimIdempotencyKey",
    "readIdempotencyClaim",
    "putNew",
    "get",
    "removeScheduled",
    "updateSchedule",
    "findIdempotencyClaim",
    "cancel",
    "restoreFanOutParent",
    "settleRescheduled",
    "enterSweepIndex",
  ],
  // The relay only reads: it records nothing per task (shared/services/relay.ts).
  relay: ["get", "listScheduledInGroup"],
  deliver: [
    "get",
    "startAttempt",
    "markDelivered",
    "readMany",
    "startAttempts",
    "finishAttempts",
    "recordAttemptFailure",
    "markFailed",
    // A held occurrence of a stopped schedule: its schedule read, the task cancelled (deliver/held-occurrence.ts).
    "getSchedule",
    "cancel",
    "settleRescheduled",
    // Protecting receivers (issue 14): the breaker, leases and rate tokens.
    "getDestination",
    "takeRateToken",
    "acquireLease",
    "releaseLease",
    "recordDestinationFailure",
    "openCircuit",
    "claimProbe",
    "releaseProbe",
    "closeCircuit",
  ],
  sweeper: [
    "get",
    "listUnfinishedDueBy",
    // The index's moving window (sweeper/candidates.ts).
    "readSweepCursor",
    "writeSweepCursor",
    "listUnfinishedInGroup",
    "listGroupStatusesLatestFirst",
    "markQueued",
    "markRequeued",
    "markFailed",
    // A task whose message the topic DLQ's backstop took: into the sweep index, for the stall repair.
    "enterSweepIndex",
    // Finishing a reschedule that stopped after its first write.
    "putNew",
    "settleRescheduled",
    "moveIdempotencyClaim",
  ],
} as const satisfies Record<string, readonly StoreMethod[]>;

export type StoreMethod = keyof TaskStore;

/** The distinct DynamoDB operations a function calling these store methods sends. */
export function dynamoOperationsOf(methods: readonly StoreMethod[]): DynamoOperation[] {
  const seen = new Map<string, DynamoOperation>();
  for (const method of methods) {
    for (const op of TASK_STORE_OPERATIONS[method]) seen.set(`${op.action}@${op.on}`, op);
  }
  return [...seen.values()];
}

export interface DynamoTaskStoreOptions {
  readonly tableName: string;
  /**
   * The plain client: items are marshalled here rather than by lib-dynamodb's document client, which refuses
   * `cacheMiddleware` (shared/adapters/aws-clients.ts) — on the busiest client that option saves the most.
   */
  readonly client: DynamoDBClient;
  /** Clock for treating idempotency claims past their TTL as absent (TTL deletion lags up to ~48 h). */
  readonly nowSeconds?: () => number;
}

/** Optional TaskRecord fields are simply absent; DynamoDB refuses explicit undefined (flat-marshall.ts: marshall's answer). */
const toWire = (value: Record<string, unknown>) => marshallItem(value);
const fromWire = <T>(item: Record<string, AttributeValue> | undefined): T | undefined =>
  item ? (unmarshall(item) as T) : undefined;

/** A conditional write's answer: written, or refused — with the item its condition met when DynamoDB sent it. */
type ConditionalAnswer = { readonly written: true } | { readonly written: false; readonly item?: TaskRecord };

/** The relay's group read (`stopAtStarted`) ends a margin below the latest started task. */
const RELAY_VIEW: GroupItemView<GroupTaskRef> = { dueAtMs: (t) => t.dueAtMs, started: hasStarted };
/** Without the stop nothing counts as started: the read takes the whole window, in DynamoDB's own pages. */
const WHOLE_VIEW: GroupItemView<GroupTaskRef> = { dueAtMs: (t) => t.dueAtMs, started: () => false };

/** The values of `pk = :pk AND sk BETWEEN :from AND :to`: a group's tasks due in [fromMs, toMs]. */
const groupRange = (pk: string, fromMs: number, toMs: number) => ({
  ":pk": pk,
  ":from": sortKeyLowerBound(fromMs),
  ":to": sortKeyUpperBound(toMs),
});

/** Removes the sweep index attribute: the task has reached delivered, failed or cancelled. */
const LEAVE_SWEEP_INDEX = `REMOVE ${SWEEP_SHARD_ATTRIBUTE}`;
/**
 * The TTL a requested cancel's end writes: the one its request recorded (`cancelExpiresAt`); the fallback only
 * keeps an item that somehow lacks it (the request writes both attributes in one write).
 */
const REQUESTED_CANCEL_EXPIRY = "if_not_exists(cancelExpiresAt, :fallbackExpiry)";

/** The fallback of REQUESTED_CANCEL_EXPIRY: 30 days from `atMs` (epoch seconds). */
function fallbackCancelExpiry(atMs: number): number {
  return Math.ceil(atMs / 1000) + 30 * 24 * 3600;
}

/**
 * Whether a refused outcome write may have been refused by a cancel request: the item its refusal answered with
 * (ALL_OLD) carries one, or there is none to tell (dynalite never sends it). Only then is the cancel's end written.
 */
function mayCarryRequest(answer: Extract<ConditionalAnswer, { written: false }>): boolean {
  return answer.item === undefined || answer.item.cancelRequestedAtMs !== undefined;
}

/** The statuses a cancel takes: no attempt has started. */
const CANCELLABLE: ReadonlySet<TaskStatus> = new Set(["scheduled", "queued"]);

/**
 * Conditional writes one cancel makes at most (DynamoTaskStore.cancel: a floor, a give-back, one of each); a move's
 * first write too (markRescheduled: give-backs).
 */
export const CANCEL_WRITES = 3;

/** A refused move whose read found the task `scheduled` again: deliver's start given back in between. */
function isGivenBack(outcome: RescheduleOutcome): boolean {
  return (
    outcome.outcome === "conflict" &&
    outcome.task.status === "scheduled" &&
    outcome.task.cancelRequestedAtMs === undefined
  );
}

/** Which of the retention and the floor a cancel keeps, and the floor's condition for that choice to be the later. */
interface CancelExpiry {
  readonly value: string;
  readonly floorCondition: string;
}
/** The floor where there is one and it is not earlier than the retention; else the retention (no floor). */
const FLOOR_IF_LATER: CancelExpiry = {
  value: "if_not_exists(expiresAtFloor, :expiresAt)",
  floorCondition: "expiresAtFloor >= :expiresAt",
};
/** The retention, over a floor earlier than it. */
const RETENTION_IF_LATER: CancelExpiry = {
  value: ":expiresAt",
  floorCondition: "expiresAtFloor < :expiresAt",
};
/**
 * Puts a task in the sweep index unless it is there: a write that already happens off the happy path (a failed
 * attempt, a reschedule, the sweeper's own forward) carries it, so entering costs one index write and no request.
 * Rewriting the same shard would change no index key, so `if_not_exists` is for clarity, not cost.
 */
const ENTER_SWEEP_INDEX = `${SWEEP_SHARD_ATTRIBUTE} = if_not_exists(${SWEEP_SHARD_ATTRIBUTE}, :sweepShard)`;

/**
 * An unused start's refund gives the task back the status that start found (`startedFrom`, written by the start's
 * own UpdateItem): `scheduled`, `queued` or `delivering` (a retry). The refund's condition holds it to that very
 * start (`delivering`, its `attemptSeq`), so `startedFrom` is that start's. An item started by older code has none:
 * `if_not_exists` keeps it `delivering`, as before (a SET naming a missing attribute would be refused).
 */
const RESTORE_STARTED_FROM = "#status = if_not_exists(startedFrom, #status)";

/**
 * The store in layers, so that a function builds the narrowest class its services take and its bundle leaves out
 * the methods it never calls (a class's methods are bundled all or none): DynamoAddStore (the add route), and on it
 * DynamoScheduleStore (the schedule write routes; DynamoMaterializerStore, the materializer, on it),
 * DynamoBatchAddStore (the batch add) and DynamoDeliverStore (deliver), each apart; DynamoTaskStore (every other
 * function) has them all (the schedule, schedule-index and batch-add layers are mixins, see StoreClass). This first layer: the single add's methods, and the reads and writes the others share.
 */
export class DynamoAddStore
  implements
    Pick<
      TaskStore,
      | "putNew"
      | "enterSweepIndex"
      | "get"
      | "removeScheduled"
      | "claimIdempotencyKey"
      | "readIdempotencyClaim"
      | "cancel"
    >
{
  protected readonly client: DynamoDBClient;
  protected readonly table: string;
  protected readonly nowSeconds: () => number;

  constructor(options: DynamoTaskStoreOptions) {
    this.table = options.tableName;
    this.client = options.client;
    this.nowSeconds = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  }

  async putNew(task: TaskRecord, options: NewTaskOptions = {}): Promise<"created" | "exists"> {
    return this.putIfAbsent(this.newTaskItem(task, options.sweepIndex), options.signal);
  }

  async enterSweepIndex(taskId: string, options?: AbortOptions): Promise<boolean> {
    return this.transition(
      taskId,
      UNFINISHED_STATUSES,
      `SET ${ENTER_SWEEP_INDEX}`,
      { ":sweepShard": sweepShardOf(taskId) },
      {},
      options?.signal,
    );
  }

  /**
   * A moved task's old item leaves the sweep index: its successor exists. Beside the cancel because every cancel
   * calls it too (cancel-task.ts, settleMove): the schedule stop routes' and deliver's cancel of a held occurrence.
   */
  async settleRescheduled(taskId: string): Promise<boolean> {
    return this.transition(taskId, ["rescheduled"], LEAVE_SWEEP_INDEX, {});
  }

  /** Here, not with the other schedule methods: deliver reads an occurrence's schedule (occurrence-hold.ts). */
  async getSchedule(scheduleId: string, options?: AbortOptions): Promise<ScheduleRecord | undefined> {
    const key = parseScheduleId(scheduleId);
    if (!key) return undefined;
    const stored = await this.readItem({ pk: key.pk, sk: key.sk }, options?.signal);
    return fromWire<ScheduleRecord>(stored);
  }

  async cancel(
    taskId: string,
    nowMs: number,
    expiresAt: number,
    options: CancelOptions = {},
  ): Promise<CancelOutcome> {
    let outcome: CancelOutcome = await this.cancelWith(taskId, nowMs, expiresAt, FLOOR_IF_LATER);
    for (let writes = 1; writes < CANCEL_WRITES && outcome.outcome === "conflict"; writes++) {
      // The read that explains a refusal shows a cancellable task when (a) its floor is earlier than the retention
      // (a floor from a shorter retention: written again with the retention), or (b) deliver held it at the write
      // and gave its start back before the read (its batch's give-back): written again, not answered 409 "task is
      // queued; only scheduled, queued can be cancelled", or (c) it is `delivering` between two attempts and the
      // caller cancels such a task (awaitingRetry): written again on condition of that very attempt. Bounded: a
      // task deliver keeps starting and giving back answers the conflict as read.
      const { task } = outcome;
      const keep =
        task.expiresAtFloor !== undefined && task.expiresAtFloor < expiresAt
          ? RETENTION_IF_LATER
          : FLOOR_IF_LATER;
      if (CANCELLABLE.has(task.status)) outcome = await this.cancelWith(taskId, nowMs, expiresAt, keep);
      else if (options.awaitingRetry && awaitingRetry(task) && task.attemptSeq !== undefined) {
        outcome = await this.cancelWith(taskId, nowMs, expiresAt, keep, task.attemptSeq);
      } else if (options.awaitingRetry && task.status === "delivering" && task.attemptSeq !== undefined) {
        // (d) its callback is in flight: the cancel is requested on that attempt (requestCancelWith). Refused
        // because the attempt's outcome landed first, the read shows it finished or waiting for its retry (c).
        outcome = await this.requestCancelWith(taskId, nowMs, expiresAt, keep, task.attemptSeq);
      } else break;
    }
    return outcome;
  }

  /**
   * The cancel request on a `delivering` task whose attempt `attemptSeq` is in flight (its outcome not in its log
   * slot): `cancelRequestedAtMs` (the first request's kept) and the TTL the cancel's end writes (`cancelExpiresAt`,
   * the later of the retention and the floor, as cancelWith chooses). Conditioned on that attempt still being current
   * and unrecorded, so it never lands on a finished task, nor on one whose failure was recorded first (that one is
   * cancelled outright on the next round): each of the outcome write and this request sees the other's or refuses.
   */
  private requestCancelWith(
    taskId: string,
    nowMs: number,
    expiresAt: number,
    keep: CancelExpiry,
    attemptSeq: number,
  ) {
    return this.updateOrExplain(taskId, "cancel-requested", {
      UpdateExpression: `SET cancelRequestedAtMs = if_not_exists(cancelRequestedAtMs, :now), cancelExpiresAt = ${keep.value}`,
      ConditionExpression: `#status = :delivering AND attemptSeq = :seq AND NOT (attemptLog.#slot.#seq = :seq) AND (attribute_not_exists(expiresAtFloor) OR ${keep.floorCondition})`,
      ExpressionAttributeNames: { "#status": "status", "#slot": attemptLogSlot(attemptSeq), "#seq": "seq" },
      ExpressionAttributeValues: toWire({
        ":delivering": "delivering" satisfies TaskStatus,
        ":seq": attemptSeq,
        ":now": nowMs,
        ":expiresAt": expiresAt,
      }),
    });
  }

  /**
   * The cancel's conditional write, keeping the later of the retention (`expiresAt`) and the task's floor: an update
   * expression has no `max`, so the choice rides on the condition. A keyed task, a fan-out copy and a moved task all
   * carry a floor, usually the later: one write takes it (`if_not_exists` reads the floor where there is one).
   * With `attemptSeq`: a `delivering` task still in that attempt, whose outcome is recorded in its log slot — no
   * callback in flight. A start of the next attempt bumps `attemptSeq` first (startAttempt, the batch's start), so
   * this write and that start exclude each other: whichever DynamoDB applies first makes the other's condition fail.
   */
  private cancelWith(
    taskId: string,
    nowMs: number,
    expiresAt: number,
    keep: CancelExpiry,
    attemptSeq?: number,
  ) {
    const between = attemptSeq !== undefined;
    return this.updateOrExplain(taskId, "cancelled", {
      UpdateExpression: `SET #status = :cancelled, cancelledAtMs = :now, expiresAt = ${keep.value} ${LEAVE_SWEEP_INDEX}`,
      // `queued` too: the sweeper marks a held task it sent again so (a paused topic's), and a replay its task;
      // neither has started an attempt, and deliver's conditional start refuses a cancelled task.
      ConditionExpression: `${between ? "#status = :delivering AND attemptSeq = :seq AND attemptLog.#slot.#seq = :seq" : "#status IN (:scheduled, :queued)"} AND (attribute_not_exists(expiresAtFloor) OR ${keep.floorCondition})`,
      ExpressionAttributeNames: {
        "#status": "status",
        ...(between && { "#slot": attemptLogSlot(attemptSeq), "#seq": "seq" }),
      },
      ExpressionAttributeValues: toWire({
        ":cancelled": "cancelled" satisfies TaskStatus,
        ...(between
          ? { ":delivering": "delivering" satisfies TaskStatus, ":seq": attemptSeq }
          : { ":scheduled": "scheduled" satisfies TaskStatus, ":queued": "queued" satisfies TaskStatus }),
        ":now": nowMs,
        ":expiresAt": expiresAt,
      }),
    });
  }

  /**
   * A conditional UpdateItem on a task that answers the updated item; when the condition fails, the rare losing
   * path pays one read, to tell "moved on" (conflict, with the task as it is) from "missing".
   */
  protected async updateOrExplain<O extends string>(
    taskId: string,
    outcome: O,
    update: Omit<UpdateItemCommandInput, "TableName" | "Key" | "ReturnValues">,
  ): Promise<
    { outcome: O; task: TaskRecord } | { outcome: "conflict"; task: TaskRecord } | { outcome: "not-found" }
  > {
    const key = parseTaskId(taskId);
    if (!key) return { outcome: "not-found" };
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          ...update,
          TableName: this.table,
          Key: toWire({ pk: key.pk, sk: key.sk }),
          ReturnValues: "ALL_NEW",
        }),
      );
      return { outcome, task: fromWire<TaskRecord>(out.Attributes) as TaskRecord };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const current = await this.get(taskId);
    return current ? { outcome: "conflict", task: current } : { outcome: "not-found" };
  }

  async get(taskId: string, options?: AbortOptions): Promise<TaskRecord | undefined> {
    const key = parseTaskId(taskId);
    if (!key) return undefined;
    const stored = await this.readItem({ pk: key.pk, sk: key.sk }, options?.signal);
    return fromWire<TaskRecord>(stored);
  }

  async removeScheduled(taskId: string, options?: AbortOptions): Promise<boolean> {
    const key = parseTaskId(taskId);
    if (!key) return false;
    return conditional(
      this.client.send(
        ...abortableCall(
          this.client,
          new DeleteItemCommand({
            TableName: this.table,
            Key: toWire({ pk: key.pk, sk: key.sk }),
            ConditionExpression: "#status = :scheduled",
            ExpressionAttributeNames: { "#status": "status" },
            ExpressionAttributeValues: toWire({ ":scheduled": "scheduled" satisfies TaskStatus }),
          }),
          options?.signal,
        ),
      ),
    );
  }

  /**
   * One conditional Put: the first request with a key wins. A claim past its expiry (TTL deletes it only some time
   * later) is taken over only once its task is gone or past its own retention (`heldByTask`): the expiry is a bound
   * counted from the due time, and a task can wait far longer (a topic paused for days, a replayed dead letter,
   * which has no TTL until it finishes again). Taken over at its expiry, a repeat of a still-waiting task made a
   * second task for the key, both delivered (docs/API.md: the key is kept as long as its task is retained).
   */
  async claimIdempotencyKey(claim: IdempotencyClaim, retries = 2): Promise<IdempotencyOutcome> {
    const pk = idempotencyPartitionKey(claim.topic, claim.key);
    if (await this.putClaim(claim, "attribute_not_exists(pk)")) return { status: "claimed" };
    const stored = await this.readItem({ pk, sk: IDEMPOTENCY_SORT_KEY });
    const item = fromWire<{ taskId?: string; requestHash?: string; expiresAt?: number }>(stored);
    // Deleted (TTL) between our Put and Get: the key is free again, so claim it afresh.
    if ((!item?.taskId || !item.requestHash) && retries > 0)
      return this.claimIdempotencyKey(claim, retries - 1);
    // Not the key itself: a 500's cause is logged in full, and an idempotency key is the caller's, like its content.
    if (!item?.taskId || !item.requestHash)
      throw new Error(`idempotency claim of ${claim.topic} is unreadable`);
    // Our own claim: the Put was written but its answer lost, and the SDK's retry met it. Its task id holds a ULID
    // minted for this request alone, so no other request holds it: the key is ours, the task is new (201).
    if (item.taskId === claim.taskId && item.requestHash === claim.requestHash) return { status: "claimed" };
    const expired = item.expiresAt !== undefined && item.expiresAt < this.nowSeconds();
    if (expired && !(await this.heldByTask(item.taskId))) {
      // Only that very claim is taken over: another request that took it over first wins, as for a fresh key.
      if (await this.putClaim(claim, "taskId = :heldBy AND expiresAt < :now", item.taskId))
        return { status: "claimed" };
      if (retries > 0) return this.claimIdempotencyKey(claim, retries - 1);
      throw new Error(`idempotency claim of ${claim.topic} keeps changing`);
    }
    return { status: "existing", taskId: item.taskId, requestHash: item.requestHash };
  }

  /** The claim's conditional Put; `heldBy`: the task id of the expired claim it may replace. */
  private putClaim(claim: IdempotencyClaim, condition: string, heldBy?: string): Promise<boolean> {
    return conditional(
      this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: toWire({
            pk: idempotencyPartitionKey(claim.topic, claim.key),
            sk: IDEMPOTENCY_SORT_KEY,
            taskId: claim.taskId,
            requestHash: claim.requestHash,
            expiresAt: claim.expiresAt,
          }),
          ConditionExpression: condition,
          ...(heldBy === undefined
            ? {}
            : { ExpressionAttributeValues: toWire({ ":heldBy": heldBy, ":now": this.nowSeconds() }) }),
        }),
      ),
    );
  }

  /**
   * Whether an expired claim's task is still in the table within its retention: the key is still its own. A fan-out
   * parent is never finished itself: its TTL, set at its add, is its claim's expiry, so it reads "retention ended"
   * just as the claim expires however long its copies wait (a topic paused for days); it holds the key while one of
   * its copies does. Judged by the parent alone, a repeat then took the key over and added a second parent and
   * copies: every subscriber was delivered the task twice.
   */
  private async heldByTask(taskId: string): Promise<boolean> {
    const task = await this.get(taskId);
    if (task === undefined) return false;
    const nowMs = this.nowSeconds() * 1000;
    if (!retentionEnded(task, nowMs)) return true;
    const copies = await Promise.all((task.fanOut ?? []).map((link) => this.get(link.taskId)));
    return copies.some((copy) => copy !== undefined && !retentionEnded(copy, nowMs));
  }

  async readIdempotencyClaim(
    topic: string,
    key: string,
  ): Promise<{ readonly taskId: string; readonly requestHash: string } | undefined> {
    const stored = await this.readItem({ pk: idempotencyPartitionKey(topic, key), sk: IDEMPOTENCY_SORT_KEY });
    const item = fromWire<{ taskId?: string; requestHash?: string; expiresAt?: number }>(stored);
    if (!item?.taskId) return undefined;
    // Past its expiry it still holds the key while its task waits, as `claimIdempotencyKey` counts it.
    const expired = item.expiresAt !== undefined && item.expiresAt < this.nowSeconds();
    if (expired && !(await this.heldByTask(item.taskId))) return undefined;
    return { taskId: item.taskId, requestHash: item.requestHash ?? "" };
  }

  /** A new task as stored: in the sweep index unless finished, a fan-out parent or told not to be. */
  protected newTaskItem(task: TaskRecord, sweepIndex: boolean | undefined): Record<string, unknown> {
    // A fan-out parent (issue 14, point 3) is never delivered itself: it stays out of the sweep index.
    return TERMINAL_STATUSES.has(task.status) || task.fanOut !== undefined || sweepIndex === false
      ? { ...task }
      : { ...task, [SWEEP_SHARD_ATTRIBUTE]: sweepShardOf(task.taskId) };
  }

  /** Writes an item unless one with its key exists (tasks, schedules). */
  protected async putIfAbsent(
    item: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<"created" | "exists"> {
    const created = await conditional(
      this.client.send(
        ...abortableCall(
          this.client,
          new PutItemCommand({
            TableName: this.table,
            Item: toWire(item),
            ConditionExpression: "attribute_not_exists(pk)",
          }),
          signal,
        ),
      ),
    );
    return created ? "created" : "exists";
  }

  /** One strongly consistent GetItem: every read of ours must see the writes acknowledged before it. */
  protected async readItem(key: { readonly pk: string; readonly sk: string }, signal?: AbortSignal) {
    const out = await this.client.send(
      ...abortableCall(
        this.client,
        new GetItemCommand({ TableName: this.table, Key: toWire({ ...key }), ConsistentRead: true }),
        signal,
      ),
    );
    return out.Item;
  }

  /** A conditional UpdateItem from one of `from`; false when the task is missing or elsewhere. */
  protected async transition(
    taskId: string,
    from: readonly TaskStatus[],
    update: string,
    values: Record<string, unknown>,
    names: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<boolean> {
    const fromNames = from.map((_, i) => `:from${i}`);
    return this.conditionalUpdate(
      taskId,
      {
        UpdateExpression: update,
        ConditionExpression:
          fromNames.length === 1 ? `#status = ${fromNames[0]}` : `#status IN (${fromNames.join(", ")})`,
        ExpressionAttributeNames: { "#status": "status", ...names },
        ExpressionAttributeValues: toWire({
          ...Object.fromEntries(from.map((status, i) => [`:from${i}`, status])),
          ...values,
        }),
      },
      signal,
    );
  }

  /** A conditional UpdateItem of a task's item; false when the task is missing or the condition refused it. */
  protected async conditionalUpdate(
    taskId: string,
    update: Omit<UpdateItemCommandInput, "TableName" | "Key">,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const key = parseTaskId(taskId);
    if (!key) return false;
    return conditional(
      this.client.send(
        ...abortableCall(
          this.client,
          new UpdateItemCommand({
            ...update,
            TableName: this.table,
            Key: toWire({ pk: key.pk, sk: key.sk }),
          }),
          signal,
        ),
      ),
    );
  }

  /**
   * One BatchExecuteStatement: per statement, in order, undefined when it was written or its error code; undefined
   * as a whole when the call failed (then any statement may or may not have been written).
   */
  protected async executeBatch(
    statements: readonly BatchStatementRequest[],
    signal?: AbortSignal,
  ): Promise<(StatementFailure | undefined)[] | undefined> {
    const batch = new BatchExecuteStatementCommand({ Statements: [...statements] });
    try {
      const out = await untilAborted(this.client.send(...abortableCall(this.client, batch, signal)), signal);
      return statements.map((_, i) => {
        const response = out.Responses?.[i];
        if (!response) return { code: "NoResponse" };
        if (!response.Error) return undefined;
        const item = fromWire<TaskRecord>(response.Error.Item);
        return { code: response.Error.Code ?? "Unknown", ...(item && { item }) };
      });
    } catch {
      return undefined;
    }
  }
}

/**
 * A class of the add layer or one built on it, which the schedule, schedule-index and batch-add methods extend as
 * mixins: a function builds the narrowest class it needs (the schedule routes DynamoScheduleStore, the materializer
 * DynamoMaterializerStore, the batch add DynamoBatchAddStore, deliver DynamoDeliverStore without any) and its bundle
 * holds only those layers' methods; DynamoTaskStore applies all three to deliver's. The annotations let the bundler drop the classes a function never
 * builds: a call in `extends` could otherwise have side effects.
 */
// biome-ignore lint/suspicious/noExplicitAny: TypeScript requires a mixin's base constructor to take `any[]`.
type StoreClass = new (...args: any[]) => DynamoAddStore;

/**
 * restoreFanOutParent's write: the parent `scheduled` again, only while it is the cancel `cancelledAtMs` made. With
 * `cancelExpiresAt` (the TTL that cancel wrote), `expiresAt` is written only over that TTL (`expiresAt` given), or
 * the TTL is left as it is only when a keep raised it above (`expiresAt` undefined).
 */
function restoreUpdate(
  cancelledAtMs: number,
  expiresAt: number | undefined,
  cancelExpiresAt: number | undefined,
) {
  const ttl =
    cancelExpiresAt === undefined
      ? ""
      : expiresAt === undefined
        ? " AND expiresAt > :was"
        : " AND expiresAt = :was";
  return {
    UpdateExpression: `SET #status = :scheduled${expiresAt === undefined ? "" : ", expiresAt = :expiresAt"} REMOVE cancelledAtMs`,
    ConditionExpression: `#status = :cancelled AND cancelledAtMs = :cancelledAt AND attribute_exists(fanOut)${ttl}`,
    ExpressionAttributeNames: { "#status": "status" },
    ExpressionAttributeValues: toWire({
      ":scheduled": "scheduled" satisfies TaskStatus,
      ":cancelled": "cancelled" satisfies TaskStatus,
      ":cancelledAt": cancelledAtMs,
      ...(expiresAt === undefined ? {} : { ":expiresAt": expiresAt }),
      ...(cancelExpiresAt === undefined ? {} : { ":was": cancelExpiresAt }),
    }),
  };
}

/**
 * The store's methods that the schedule write routes call besides the adding ones (create, pause, resume, delete:
 * a schedule itself, and the occurrences they add or cancel): those functions build this class.
 */
function withScheduleMethods<Base extends StoreClass>(base: Base) {
  class ScheduleMethods
    extends base
    implements
      Pick<TaskStore, "restoreFanOutParent" | "putSchedule" | "updateSchedule" | "findIdempotencyClaim">
  {
    async restoreFanOutParent(
      taskId: string,
      cancelledAtMs: number,
      expiresAt: number,
      cancelExpiresAt?: number,
    ): Promise<boolean> {
      const restored = await this.conditionalUpdate(
        taskId,
        restoreUpdate(cancelledAtMs, expiresAt, cancelExpiresAt),
      );
      if (restored || cancelExpiresAt === undefined) return restored;
      // Refused: restored already, cancelled again, or kept longer since the cancel by a copy's replay
      // (keepFanOutParent), whose TTL it keeps — an update expression has no `max`, so the choice rides on the condition.
      return this.conditionalUpdate(taskId, restoreUpdate(cancelledAtMs, undefined, cancelExpiresAt));
    }

    // Issue 14, point 4: recurring schedules.
    async putSchedule(schedule: ScheduleRecord): Promise<"created" | "exists"> {
      return this.putIfAbsent({ ...schedule });
    }

    async updateSchedule(scheduleId: string, change: ScheduleChange): Promise<ScheduleUpdateOutcome> {
      const key = parseScheduleId(scheduleId);
      if (!key) return { outcome: "not-found" };
      try {
        const out = await this.client.send(
          new UpdateItemCommand({
            ...scheduleUpdate(change),
            TableName: this.table,
            Key: toWire({ pk: key.pk, sk: key.sk }),
            ReturnValues: "ALL_NEW",
          }),
        );
        return { outcome: "updated", schedule: fromWire<ScheduleRecord>(out.Attributes) as ScheduleRecord };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const current = await this.getSchedule(scheduleId);
      return current ? { outcome: "conflict", schedule: current } : { outcome: "not-found" };
    }

    async findIdempotencyClaim(topic: string, key: string): Promise<string | undefined> {
      return (await this.readIdempotencyClaim(topic, key))?.taskId;
    }
  }
  return ScheduleMethods;
}

export class DynamoScheduleStore extends /* @__PURE__ */ withScheduleMethods(DynamoAddStore) {}

/**
 * The materializer's own read (the schedule index), a mixin on the schedule layer: the materializer builds
 * DynamoMaterializerStore, so its bundle leaves out the methods of the other functions (~22 KB of the whole
 * DynamoTaskStore), and the schedule routes, which never read the index, leave this one out.
 */
function withScheduleIndex<Base extends StoreClass>(base: Base) {
  class ScheduleIndexMethods extends base implements Pick<TaskStore, "listSchedulesDue"> {
    async listSchedulesDue(shard: number, dueByMs: number, limit: number): Promise<DueSchedule[]> {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: SCHEDULE_INDEX_NAME,
          KeyConditionExpression: "#shard = :shard AND #next <= :dueBy",
          ExpressionAttributeNames: { "#shard": SCHEDULE_SHARD_ATTRIBUTE, "#next": SCHEDULE_SORT_ATTRIBUTE },
          ExpressionAttributeValues: toWire({ ":shard": shard, ":dueBy": dueByMs }),
          Limit: limit,
        }),
      );
      // Ascending by the index's sort key (the Query's default order): the longest due first.
      return (out.Items ?? []).map((item) => {
        const { sk, materializeAtMs } = unmarshall(item);
        return { scheduleId: String(sk), materializeAtMs: Number(materializeAtMs) };
      });
    }
  }
  return ScheduleIndexMethods;
}

export class DynamoMaterializerStore extends /* @__PURE__ */ withScheduleIndex(DynamoScheduleStore) {}

/**
 * The batch add's writes (BatchWriteItem, PartiQL INSERTs), a mixin: the batch add route builds
 * DynamoBatchAddStore, these methods on the add layer alone.
 */
// biome-ignore lint/complexity/noExcessiveLinesPerFunction: a mixin: the function is its class, whose methods are short.
function withBatchAdd<Base extends StoreClass>(base: Base) {
  class BatchAddMethods
    extends base
    implements Pick<TaskStore, "putNewMany" | "insertNewMany" | "claimIdempotencyKeys">
  {
    /**
     * New tasks in BatchWriteItem calls of 25 (its maximum), all chunks at once. BatchWriteItem takes no condition,
     * so unlike `putNew` an existing item would be overwritten: only tasks under keys minted just now may come here
     * (a fresh ULID in the key, no idempotency key, so nobody else can have written or touched that key before this
     * call returns; the caller arms their timers only afterwards). Each put is charged as the PutItem it replaces.
     * DynamoDB may leave any put of a call unprocessed (throttling, an internal failure) without an error; those are
     * sent again, with backoff, up to UNPROCESSED_ROUNDS times, then reported as not written. A chunk whose call
     * threw (after the SDK's own retries) is reported as perhaps written: its answer may have been lost.
     */
    async putNewMany(
      entries: readonly NewTaskEntry[],
      options: AbortOptions = {},
    ): Promise<PutManyFailure[]> {
      const failed = await Promise.all(
        chunksOf(entries, BATCH_WRITE_SIZE).map((chunk) => this.writeChunk(chunk, options.signal)),
      );
      return failed.flat();
    }

    /**
     * The batch add's claims, as PartiQL INSERTs (`insertAll`). An INSERT never overwrites: a key already claimed —
     * even by a claim past its expiry that `claimIdempotencyKey` would take over — answers DuplicateItem, so it is
     * `not-claimed` and the caller settles it through the single claim; so is a claim whose outcome is unknown.
     */
    async claimIdempotencyKeys(
      claims: readonly IdempotencyClaim[],
      options: AbortOptions = {},
    ): Promise<BatchClaimOutcome[]> {
      const outcomes = await this.insertAll(
        claims.map((claim) => ({
          pk: idempotencyPartitionKey(claim.topic, claim.key),
          sk: IDEMPOTENCY_SORT_KEY,
          taskId: claim.taskId,
          requestHash: claim.requestHash,
          expiresAt: claim.expiresAt,
        })),
        options.signal,
      );
      return outcomes.map((outcome) => (outcome === "written" ? "claimed" : "not-claimed"));
    }

    /**
     * `putNew` for many tasks at once, as PartiQL INSERTs (`insertAll`): unlike `putNewMany`'s BatchWriteItem, an
     * existing task is never overwritten. For keyed tasks: a concurrent repeat of the request finds the claim and
     * may create the very same task (and it may already be delivering) before this write lands. A task that exists
     * counts as written (`putNew`'s "exists": the caller arms it all the same); one whose outcome is unknown is
     * reported as perhaps written.
     */
    async insertNewMany(
      entries: readonly NewTaskEntry[],
      options: AbortOptions = {},
    ): Promise<InsertManyOutcome[]> {
      const outcomes = await this.insertAll(
        entries.map((e) => this.newTaskItem(e.task, e.sweepIndex)),
        options.signal,
      );
      return entries.flatMap(({ task: { taskId } }, i): InsertManyOutcome[] => {
        if (outcomes[i] === "unknown") return [{ taskId, maybeWritten: true }];
        return outcomes[i] === "exists" ? [{ taskId, exists: true }] : [];
      });
    }

    /** One chunk of `putNewMany`: the call, then its unprocessed puts again, with backoff, a bounded number of times. */
    protected async writeChunk(
      chunk: readonly NewTaskEntry[],
      signal?: AbortSignal,
    ): Promise<PutManyFailure[]> {
      const puts = chunk.map((entry) => ({
        taskId: entry.task.taskId,
        request: { PutRequest: { Item: toWire(this.newTaskItem(entry.task, entry.sweepIndex)) } },
      }));
      const thrown: PutManyFailure[] = [];
      const unprocessed = await inRounds(
        puts,
        UNPROCESSED_ROUNDS,
        async (pending) => {
          // Given up (aborted): no further round; what is pending was not written (unprocessed).
          if (signal?.aborted) return pending;
          const write = new BatchWriteItemCommand({
            RequestItems: { [this.table]: pending.map((p) => p.request) },
          });
          let out: BatchWriteItemCommandOutput;
          try {
            out = await untilAborted(this.client.send(...abortableCall(this.client, write, signal)), signal);
          } catch {
            // The call's answer is lost: any of these may have been written; no further round.
            thrown.push(...pending.map((p) => ({ taskId: p.taskId, maybeWritten: true })));
            return [];
          }
          const left = new Set(
            (out.UnprocessedItems?.[this.table] ?? []).map((request) => keyOf(request.PutRequest?.Item)),
          );
          return pending.filter((p) => left.has(keyOf(p.request.PutRequest.Item)));
        },
        signal,
      );
      return [...thrown, ...unprocessed.map((p) => ({ taskId: p.taskId, maybeWritten: false }))];
    }

    /**
     * New items as PartiQL INSERTs in BatchExecuteStatement calls of 25, all chunks at once, each billed as the
     * PutItem it replaces; per item, in order: written, `exists` (DuplicateItem: an item with its key was there, and
     * is left as it was), or `unknown`. Statements that failed for a reason a retry can change are sent again (a few
     * rounds, with backoff); an earlier try that was written after all then answers DuplicateItem. A call that
     * failed outright is not retried here (the SDK retried it): its items are unknown.
     */
    protected async insertAll(
      items: readonly Record<string, unknown>[],
      signal?: AbortSignal,
    ): Promise<InsertOutcome[]> {
      const outcomes: InsertOutcome[] = items.map(() => "unknown");
      const indexed = items.map((item, index) => ({ item, index }));
      await Promise.all(
        chunksOf(indexed, BATCH_STATEMENT_SIZE).map((chunk) =>
          inRounds(
            chunk,
            INSERT_ROUNDS,
            async (pending) => {
              // Given up (aborted): no further round; what is pending stays unknown (an earlier round may have landed).
              if (signal?.aborted) return [];
              const answers = await this.executeBatch(
                pending.map(({ item }) => insertStatement({ table: this.table, item })),
                signal,
              );
              if (!answers) return [];
              return pending.filter(({ index }, i) => {
                const answer = answers[i];
                if (answer === undefined) outcomes[index] = "written";
                else if (answer.code === "DuplicateItem") outcomes[index] = "exists";
                return answer !== undefined && RETRYABLE_STATEMENT_CODES.has(answer.code);
              });
            },
            signal,
          ),
        ),
      );
      return outcomes;
    }
  }
  return BatchAddMethods;
}

export class DynamoBatchAddStore extends /* @__PURE__ */ withBatchAdd(DynamoAddStore) {}

/**
 * What deliver calls (attempt starts and finishes, the failure and dead-letter writes, the destination guards of
 * protected topics): the deliver function builds this class, on the add layer alone (its `get`, reads and
 * transitions, and the PartiQL batch call); DynamoTaskStore adds the schedule, schedule-index and batch-add
 * mixins on top of it.
 */
export class DynamoDeliverStore extends DynamoAddStore implements Pick<TaskStore, DeliverStoreMethod> {
  async startAttempt(
    taskId: string,
    nowMs: number,
    maxAttempts?: number,
    handedOverAtMs?: number,
    options?: AbortOptions,
  ): Promise<TaskRecord | undefined> {
    const key = parseTaskId(taskId);
    if (!key) return undefined;
    const names = DELIVERABLE_STATUSES.map((_, i) => `:from${i}`);
    // A start without a read keeps the status it found (`startedFrom = #status`) for its refund should it go unused
    // (recordAttemptFailure's `restore`; a start after a read is given back to the task as read instead): every
    // action of an update expression reads the item as it was before the update, not after the actions to its left
    // (AWS, "Using update expressions in DynamoDB"), so it is the old status whatever the order; dynalite agrees
    // ("a start records the status it came from, in its own write", the store's tests).
    // Without a read (maxAttempts given), an occurrence of a recurring schedule is refused: its schedule must be
    // read first (deliver's read path, occurrence-hold.ts). A plain task pays nothing more for it. So is a task
    // still waiting for its retry (`retryNotBeforeMs`, its message back early): the read path hides it again.
    const underLimit =
      maxAttempts === undefined
        ? ""
        : " AND (#status <> :delivering OR attribute_not_exists(attempts) OR attempts < :maxAttempts) AND attribute_not_exists(scheduleId) AND (attribute_not_exists(retryNotBeforeMs) OR retryNotBeforeMs <= :retryBy)";
    try {
      const out = await this.client.send(
        ...abortableCall(
          this.client,
          new UpdateItemCommand({
            TableName: this.table,
            Key: toWire({ pk: key.pk, sk: key.sk }),
            UpdateExpression: `SET ${maxAttempts === undefined ? "" : "startedFrom = #status, "}#status = :to, attempts = if_not_exists(attempts, :zero) + :one, lastAttemptAtMs = :now, attemptSeq = if_not_exists(attemptSeq, :zero) + :one, attemptLog = if_not_exists(attemptLog, :emptyLog)${handedOverAtMs === undefined ? "" : ", queuedAtMs = if_not_exists(queuedAtMs, :handedOver)"}`,
            // `lastAttemptAtMs <> :now` makes the write idempotent: when its answer is lost and the SDK retries it,
            // the retry fails here instead of counting the same attempt twice, and is recognised below.
            // No cancel request: its in-flight attempt's outcome write was lost, and this start would call again.
            // Never a fan-out parent (`fanOut`): only its copies are delivered; a topic message naming one (sent by
            // hand) is refused here and dropped by the read path. One more clause of the same write: free.
            ConditionExpression: `#status IN (${names.join(", ")})${underLimit} AND (attribute_not_exists(lastAttemptAtMs) OR lastAttemptAtMs <> :now) AND attribute_not_exists(cancelRequestedAtMs) AND attribute_not_exists(fanOut)`,
            ExpressionAttributeNames: { "#status": "status" },
            ExpressionAttributeValues: toWire({
              ...Object.fromEntries(DELIVERABLE_STATUSES.map((status, i) => [`:from${i}`, status])),
              ...(maxAttempts === undefined
                ? {}
                : {
                    ":delivering": "delivering" satisfies TaskStatus,
                    ":maxAttempts": maxAttempts,
                    ":retryBy": nowMs + RETRY_WAIT_MARGIN_MS,
                  }),
              ":to": "delivering" satisfies TaskStatus,
              ":emptyLog": {},
              ":zero": 0,
              ":one": 1,
              ":now": nowMs,
              ...(handedOverAtMs === undefined ? {} : { ":handedOver": handedOverAtMs }),
            }),
            ReturnValues: "ALL_NEW",
            // A refusal answers the item it met (no read unit): an occurrence's refused read-free start, a task
            // moved on, our own earlier write, a cancel request, each told apart without a second call.
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
          options?.signal,
        ),
      );
      return fromWire<TaskRecord>(out.Attributes);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // Our own earlier write of this very attempt (a retried request whose first answer was lost)? The item the
      // refusal carries, or (dynalite never sends it) one consistent read.
      const refused = fromWire<TaskRecord>((error as Partial<ConditionalCheckFailedException>).Item);
      const current = refused ?? (await this.get(taskId, options));
      if (current?.cancelRequestedAtMs !== undefined) {
        await this.finishRequestedCancel(current, nowMs);
        return undefined;
      }
      return current?.status === "delivering" && current.lastAttemptAtMs === nowMs ? current : undefined;
    }
  }

  /**
   * A start refused by a cancel request ends the task `cancelled`: the attempt the request met never recorded its
   * outcome (its write lost: the function timed out or died mid-attempt), so nothing else would end it, and the
   * sweeper would keep sending it back. Only while the task is still in the attempt read and unfinished; the TTL is
   * the one the request recorded.
   */
  private async finishRequestedCancel(task: TaskRecord, nowMs: number): Promise<void> {
    if (!DELIVERABLE_STATUSES.includes(task.status)) return;
    const names = DELIVERABLE_STATUSES.map((_, i) => `:from${i}`);
    await this.conditionalUpdate(task.taskId, {
      UpdateExpression: `SET #status = :cancelled, cancelledAtMs = :now, expiresAt = ${REQUESTED_CANCEL_EXPIRY} ${LEAVE_SWEEP_INDEX}`,
      ConditionExpression: `#status IN (${names.join(", ")}) AND attribute_exists(cancelRequestedAtMs) AND ${task.attemptSeq === undefined ? "attribute_not_exists(attemptSeq)" : "attemptSeq = :seq"}`,
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: toWire({
        ...Object.fromEntries(DELIVERABLE_STATUSES.map((status, i) => [`:from${i}`, status])),
        ":cancelled": "cancelled" satisfies TaskStatus,
        ":now": nowMs,
        ":fallbackExpiry": fallbackCancelExpiry(nowMs),
        ...(task.attemptSeq !== undefined && { ":seq": task.attemptSeq }),
      }),
    });
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
    options?: AbortOptions,
  ): Promise<boolean> {
    const answer = await this.transitionLogging(
      taskId,
      {
        set: "#status = :to, deliveredAtMs = :at, latenessMs = :lateness, deliveryLatencyMs = :latency, expiresAt = :expiresAt",
        remove: SWEEP_SHARD_ATTRIBUTE,
      },
      {
        ":to": "delivered",
        ":at": result.atMs,
        ":lateness": result.latenessMs,
        ":latency": result.deliveryLatencyMs,
        ":expiresAt": result.expiresAt,
      },
      result,
      options?.signal,
    );
    if (answer.written || result.attemptSeq === undefined) return answer.written;
    // Refused by the next attempt, or by this very write: an SDK resend whose first try was written, its answer lost.
    const current = await this.refusedItem(taskId, answer, options);
    return (
      current?.status === "delivered" &&
      current.attemptSeq === result.attemptSeq &&
      current.deliveredAtMs === result.atMs
    );
  }

  /**
   * The item a refused write met: the one its refusal carries (ALL_OLD), or — where the answer lacks it (dynalite
   * never sends it) — one consistent read.
   */
  private async refusedItem(
    taskId: string,
    answer: Extract<ConditionalAnswer, { written: false }>,
    options?: AbortOptions,
  ): Promise<TaskRecord | undefined> {
    return answer.item ?? (await this.get(taskId, options));
  }

  readMany(taskIds: readonly string[]): Promise<ManyRead>;
  readMany(taskIds: readonly string[], options: { readonly summaries: true }): Promise<ManyRead<TaskSummary>>;
  async readMany(taskIds: readonly string[], options?: { readonly summaries: true }): Promise<ManyRead> {
    // A projection leaves the content out of the answer (the read costs the same: capacity counts whole items).
    const summary = options?.summaries ? projectionOf(Object.keys(SUMMARY_ATTRIBUTES)) : undefined;
    const tasks = new Map<string, TaskRecord>();
    const unread = new Set<string>();
    const keyed = [...new Set(taskIds)].flatMap((taskId) => {
      const key = parseTaskId(taskId);
      return key ? [{ taskId, key: { pk: key.pk, sk: key.sk } }] : [];
    });
    for (const chunk of chunksOf(keyed, BATCH_GET_SIZE)) {
      try {
        const out = await this.client.send(
          new BatchGetItemCommand({
            RequestItems: {
              [this.table]: {
                Keys: chunk.map((k) => toWire(k.key)),
                ConsistentRead: true,
                ...(summary && {
                  ProjectionExpression: summary.expression,
                  ExpressionAttributeNames: summary.names,
                }),
              },
            },
          }),
        );
        for (const item of out.Responses?.[this.table] ?? []) {
          const task = fromWire<TaskRecord>(item) as TaskRecord;
          tasks.set(task.taskId, task);
        }
        const unprocessed = new Set((out.UnprocessedKeys?.[this.table]?.Keys ?? []).map((k) => keyOf(k)));
        for (const k of chunk) if (unprocessed.has(keyOf(toWire(k.key)))) unread.add(k.taskId);
      } catch {
        for (const k of chunk) unread.add(k.taskId);
      }
    }
    return { tasks, unread };
  }

  async startAttempts(starts: readonly BatchStart[]): Promise<Map<string, BatchStartOutcome>> {
    const outcomes = new Map<string, BatchStartOutcome>();
    for (const chunk of chunksOf(starts, BATCH_STATEMENT_SIZE)) {
      const answers = await this.withRefusedItems(
        await this.executeBatch(chunk.map((start) => this.startStatement(start))),
        chunk.map((start) => start.read.taskId),
      );
      chunk.forEach((start, i) => {
        const answer = answers?.[i];
        const own = answer?.item && isStart(answer.item, startedTask(start.read, start.atMs));
        outcomes.set(
          start.read.taskId,
          !answers
            ? "unknown"
            : answer === undefined || own
              ? "started"
              : answer.code === "ConditionalCheckFailed"
                ? "refused"
                : "unknown",
        );
      });
    }
    return outcomes;
  }

  /**
   * Each chunk's statements, then — a few rounds, with backoff — the ones that failed for a reason a retry can
   * change (throttling, a server error, the call itself failing), as AWS asks of batch callers. A retried
   * statement whose condition fails because its earlier try was written after all (the answer was lost) is
   * recognised from the item DynamoDB returns with it (ALL_OLD), so it is not reported as failed. A give-back
   * refused by a cancel requested on its start (DELETE answered 202 while it was `delivering`) is then written as
   * that cancel's end, one more statement each (no PartiQL UPDATE can choose a status from the item's own
   * attributes: SET takes values and LIST_APPEND, SET_ADD, SET_DELETE only): rare, so the common give-back stays
   * one write. A cancel's end refused because another DELETE rewrote the request's TTL meanwhile (cancelExpiresAt:
   * each DELETE of a `delivering` task writes its own) is written again with the TTL now on the item, a few times
   * at most (CANCEL_WRITES, as a cancel's own writes): left `delivering`, the task would wait for its record.
   */
  async finishAttempts(writes: readonly FinishWrite[]): Promise<Set<string>> {
    let { failed, cancelEnds } = await this.finishInRounds(writes);
    for (let round = 1; cancelEnds.length > 0; round++) {
      if (round > CANCEL_WRITES) {
        for (const end of cancelEnds) failed.add(finishedTaskId(end));
        break;
      }
      const next = await this.finishInRounds(cancelEnds);
      for (const taskId of next.failed) failed.add(taskId);
      cancelEnds = next.cancelEnds;
    }
    return failed;
  }

  private async finishInRounds(
    writes: readonly StoreFinish[],
  ): Promise<{ failed: Set<string>; cancelEnds: CancelEnd[] }> {
    const failed = new Set<string>();
    const cancelEnds: CancelEnd[] = [];
    for (const chunk of chunksOf(writes, BATCH_STATEMENT_SIZE)) {
      const unsettled = await inRounds(chunk, FINISH_ROUNDS, async (pending) => {
        const answers = await this.withRefusedItems(
          await this.executeBatch(pending.map((write) => this.finishStatement(write))),
          pending.map(finishedTaskId),
        );
        if (!answers) return pending;
        return pending.filter((write, i) => {
          const answer = answers[i];
          if (
            answer === undefined ||
            (answer.item && (isFinished(answer.item, write) || hasEnded(answer.item, write)))
          )
            return false;
          const end = answer.item && cancelEndOf(write, answer.item);
          if (end) cancelEnds.push(end);
          else if (RETRYABLE_STATEMENT_CODES.has(answer.code)) return true;
          else failed.add(finishedTaskId(write));
          return false;
        });
      });
      for (const write of unsettled) failed.add(finishedTaskId(write));
    }
    return { failed, cancelEnds };
  }

  /**
   * The answers, each refused condition given the item it met. AWS documents that ALL_OLD returns it with the
   * error, but a public emulator's capture against DynamoDB (nubo-db/dynoxide, eu-west-2, 2026) found
   * BatchExecuteStatement never does; without it a retry refused by its own earlier, written try (the answer
   * lost) would count as refused. So the items missing from those answers are read (consistently, one call); an
   * item that cannot be read stays unknown, and its statement counts as refused, as before.
   */
  private async withRefusedItems(
    answers: (StatementFailure | undefined)[] | undefined,
    taskIds: readonly string[],
  ): Promise<(StatementFailure | undefined)[] | undefined> {
    const bare = (answer: StatementFailure | undefined) =>
      answer?.code === "ConditionalCheckFailed" && answer.item === undefined;
    const unread = taskIds.filter((_, i) => bare(answers?.[i]));
    if (!answers || unread.length === 0) return answers;
    const { tasks } = await this.readMany(unread);
    return answers.map((answer, i) => {
      const item = bare(answer) ? tasks.get(taskIds[i] as string) : undefined;
      return answer && item ? { ...answer, item } : answer;
    });
  }

  async recordAttemptFailure(
    taskId: string,
    failure: AttemptFailure,
    options?: AbortOptions,
  ): Promise<boolean | "cancelled"> {
    // A failed attempt takes the task off the happy path: into the sweep index (crash point 8 of the sweeper).
    // A refund with the attempt's count sets one less: written twice (an SDK resend), it still refunds once.
    const refund = failure.attempts === undefined ? "attempts - :one" : ":refunded";
    const set = failure.refund ? `lastError = :error, attempts = ${refund}` : "lastError = :error";
    // An unused start's refund restores its status too: a resend of it is then refused (no longer `delivering`),
    // which its caller (refundUnreadStart) does not read.
    const restore = failure.refund && failure.restore ? `, ${RESTORE_STARTED_FROM}` : "";
    const values = {
      ":error": failure.error,
      ...(failure.refund
        ? failure.attempts === undefined
          ? { ":one": 1 }
          : { ":refunded": failure.attempts - 1 }
        : {}),
    };
    // The wait before the next attempt rides in the same write (no write of its own); a cancel's end has no use for it.
    const wait = failure.retryNotBeforeMs === undefined ? "" : ", retryNotBeforeMs = :retryNotBefore";
    const answer = await this.transitionLogging(
      taskId,
      {
        set: `${set}${restore}${wait}, ${ENTER_SWEEP_INDEX}`,
        ...(restore ? { remove: "startedFrom" } : {}),
      },
      {
        ...values,
        ":sweepShard": sweepShardOf(taskId),
        ...(failure.retryNotBeforeMs === undefined ? {} : { ":retryNotBefore": failure.retryNotBeforeMs }),
      },
      failure,
      options?.signal,
      "attribute_not_exists(cancelRequestedAtMs)",
    );
    if (answer.written) return true;
    if (!mayCarryRequest(answer)) return false;
    // Refused: perhaps by a cancel requested while this attempt was in flight. Then this failure ends the task
    // `cancelled` instead, and no retry follows.
    const cancelled = await this.endRequestedCancel(taskId, failure, { set, values }, options?.signal);
    return cancelled ? "cancelled" : false;
  }

  /**
   * The end of a cancel requested while the attempt (`attemptSeq`) was in flight, written by that attempt's failure
   * or dead-lettering (whose own write the request refused): `cancelled`, the attempt's entry logged, the TTL the
   * request recorded, out of the sweep index. A second conditional write, on the request and the attempt; false
   * when the task has no request (the refusal was another's: a later attempt, a finished task).
   */
  private async endRequestedCancel(
    taskId: string,
    failure: { readonly atMs: number; readonly attempt?: AttemptLogEntry; readonly attemptSeq?: number },
    extra: { readonly set?: string; readonly values?: Record<string, unknown> } = {},
    signal?: AbortSignal,
  ): Promise<boolean> {
    const answer = await this.transitionLogging(
      taskId,
      {
        set: `${extra.set ? `${extra.set}, ` : ""}#status = :cancelled, cancelledAtMs = :at, expiresAt = ${REQUESTED_CANCEL_EXPIRY}`,
        remove: SWEEP_SHARD_ATTRIBUTE,
      },
      {
        ...extra.values,
        ":cancelled": "cancelled" satisfies TaskStatus,
        ":at": failure.atMs,
        ":fallbackExpiry": fallbackCancelExpiry(failure.atMs),
      },
      failure,
      signal,
      "attribute_exists(cancelRequestedAtMs)",
    );
    return answer.written;
  }

  /**
   * A `delivering → …` transition that also writes the attempt's entry into its attempt-log slot, in the same
   * UpdateItem. An item whose attempt started before the log existed has no `attemptLog` map, and DynamoDB
   * refuses a SET into a missing map (ValidationException): then the transition is made without the entry.
   * With `attemptSeq`, only while the task is still in that attempt: the condition costs no extra unit or call,
   * and an outcome that lands after the next attempt began (a request sent before its step was given up) is
   * refused instead of written over that attempt. A refusal answers the item its condition met when DynamoDB sends
   * it (ReturnValuesOnConditionCheckFailure ALL_OLD: no extra call, no read unit), so the caller can tell its own
   * earlier try (an SDK resend whose first answer was lost) from another writer's.
   */
  private async transitionLogging(
    taskId: string,
    update: { readonly set: string; readonly remove?: string },
    values: Record<string, unknown>,
    { attempt, attemptSeq }: { readonly attempt?: AttemptLogEntry; readonly attemptSeq?: number },
    signal: AbortSignal | undefined,
    condition?: string,
  ): Promise<ConditionalAnswer> {
    const expression = (set: string) => `SET ${set}${update.remove ? ` REMOVE ${update.remove}` : ""}`;
    // Here, not in `transition`: every store class bundles that, and only deliver conditions on the attempt.
    const inAttempt = attemptSeq === undefined ? {} : { ":attemptSeq": attemptSeq };
    const write = (set: string, extra: Record<string, unknown>, names: Record<string, string>) =>
      this.updateAnswering(
        taskId,
        {
          UpdateExpression: expression(set),
          ConditionExpression: `#status = :from${attemptSeq === undefined ? "" : " AND attemptSeq = :attemptSeq"}${condition ? ` AND ${condition}` : ""}`,
          ExpressionAttributeNames: { "#status": "status", ...names },
          ExpressionAttributeValues: toWire({ ":from": "delivering", ...values, ...extra, ...inAttempt }),
        },
        signal,
      );
    if (attempt) {
      try {
        return await write(
          `${update.set}, attemptLog.#slot = :attempt`,
          { ":attempt": attempt },
          { "#slot": attemptLogSlot(attempt.seq) },
        );
      } catch (error) {
        if (!(error instanceof Error && error.name === "ValidationException")) throw error;
      }
    }
    return write(update.set, {}, {});
  }

  async markFailed(taskId: string, failure: DeadLettering): Promise<boolean> {
    // The write's id goes in the same UpdateItem (no extra call): only it tells this write's `failed`, sent again,
    // from another writer's identical one.
    const writeId = failure.writeId === undefined ? "" : ", failedWriteId = :writeId";
    // Through transitionLogging, which conditions on the attempt when `attemptSeq` is given (and writes no entry:
    // the attempt's own failure write logged it).
    const answer = await this.transitionLogging(
      taskId,
      {
        // The failed index's keys (failedTopic, failedAtMs) are set here, in the write that records the failure:
        // only a dead-lettered task is ever in that sparse index, and entering it costs no extra request.
        set: `#status = :to, lastError = :error, failedAtMs = :at, expiresAt = :expiresAt, ${FAILED_TOPIC_ATTRIBUTE} = :topic${writeId}`,
        remove: SWEEP_SHARD_ATTRIBUTE,
      },
      {
        ":to": "failed",
        ":error": failure.error,
        ":at": failure.atMs,
        ":expiresAt": failure.expiresAt,
        ":topic": parseTaskId(taskId)?.topic ?? "",
        ...(failure.writeId !== undefined && { ":writeId": failure.writeId }),
      },
      failure,
      undefined,
      "attribute_not_exists(cancelRequestedAtMs)",
    );
    // A cancel requested while the attempt was in flight: the task ends `cancelled`, not dead-lettered (its DLQ
    // message, if sent, is removed by the sweeper's DLQ pass, as for any task not `failed`).
    if (!answer.written && mayCarryRequest(answer) && (await this.endRequestedCancel(taskId, failure))) {
      return false;
    }
    if (answer.written || failure.attemptSeq === undefined || failure.writeId === undefined) {
      return answer.written;
    }
    // Refused by the next attempt or another writer — or by this very write: an SDK resend whose first try was
    // written, its answer lost (what it wrote is all there): that dead-lettering is this one's, its caller counts it.
    const current = await this.refusedItem(taskId, answer);
    return isOwnFailed(current, failure);
  }

  /** A conditional UpdateItem of a task's item; a refusal answers the item its condition met, if DynamoDB sends it. */
  private async updateAnswering(
    taskId: string,
    update: Omit<UpdateItemCommandInput, "TableName" | "Key">,
    signal: AbortSignal | undefined,
  ): Promise<ConditionalAnswer> {
    const key = parseTaskId(taskId);
    if (!key) return { written: false };
    try {
      await this.client.send(
        ...abortableCall(
          this.client,
          new UpdateItemCommand({
            ...update,
            TableName: this.table,
            Key: toWire({ pk: key.pk, sk: key.sk }),
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
          signal,
        ),
      );
      return { written: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const item = fromWire<TaskRecord>((error as Partial<ConditionalCheckFailedException>).Item);
      return { written: false, ...(item && { item }) };
    }
  }

  // --- issue 14 (breaker): destinations (appended block) ---

  async getDestination(
    topic: string,
    host: string,
    options?: AbortOptions,
  ): Promise<DestinationRecord | undefined> {
    const stored = await this.readItem(destinationKey(topic, host), options?.signal);
    return expiredAt(stored, this.nowSeconds()) ? undefined : destinationOf(stored);
  }

  /** One atomic ADD on the second's counter, refused at `rate`: no read, no retry loop under contention. */
  async takeRateToken(
    topic: string,
    host: string,
    second: number,
    rate: number,
    options?: AbortOptions,
  ): Promise<boolean> {
    return conditional(
      this.client.send(
        ...abortableCall(
          this.client,
          new UpdateItemCommand({
            TableName: this.table,
            Key: toWire({ pk: `rate#${topic}#${host}`, sk: String(second) }),
            UpdateExpression: "ADD #n :one SET expiresAt = :expires",
            ConditionExpression: "attribute_not_exists(#n) OR #n < :rate",
            ExpressionAttributeNames: { "#n": "n" },
            ExpressionAttributeValues: toWire({
              ":one": 1,
              ":rate": rate,
              ":expires": second + RATE_ITEM_TTL_SECONDS,
            }),
          }),
          options?.signal,
        ),
      ),
    );
  }

  /**
   * Lease slots `lease0`…`lease<max-1>` hold their lease's expiry, so a lease whose holder crashed frees itself.
   * One strongly consistent read finds the free slots; each try is a conditional write on one slot, so two
   * invocations can never hold the same slot. Up to three tries, then the caller waits (never over the limit).
   */
  async acquireLease(
    topic: string,
    host: string,
    max: number,
    nowMs: number,
    expiresAtMs: number,
    options?: AbortOptions,
  ): Promise<number | undefined> {
    const stored = await this.readItem(destinationKey(topic, host), options?.signal);
    // Expired: cleared first, else the take would carry its month-old failures (and last error) into a live entry.
    const expired = expiredAt(stored, nowSecondsOf(nowMs));
    if (expired) await this.#forgetExpired(topic, host, nowMs, options?.signal);
    const leases = (!expired && destinationOf(stored)?.leases) || {};
    const free = Array.from({ length: max }, (_, slot) => slot).filter(
      (slot) => (leases[slot] ?? 0) <= nowMs,
    );
    for (const slot of free.sort(() => Math.random() - 0.5).slice(0, 3)) {
      if (await this.#takeSlot(topic, host, slot, nowMs, expiresAtMs, options?.signal)) return slot;
    }
    return undefined;
  }

  /**
   * One lease slot, on condition that it is free. The take carries an id drawn for it (`leaseId<n>`), and a
   * refusal answers the item its condition met (ALL_OLD, as `#open`): an SDK resend whose first try took the slot,
   * its answer lost, meets its own id and holds the slot — else the slot stood taken with no callback behind it,
   * and a host limited to one lease got no callback until it expired (a callback timeout and the margins).
   */
  async #takeSlot(
    topic: string,
    host: string,
    slot: number,
    nowMs: number,
    expiresAtMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const claimId = writeId();
    const take = new UpdateItemCommand({
      TableName: this.table,
      Key: toWire(destinationKey(topic, host)),
      UpdateExpression: `SET #slot = :expires, #claim = :claim, topic = :topic, host = :host, ${REFRESH_EXPIRY}`,
      ConditionExpression: `(attribute_not_exists(#slot) OR #slot <= :now) AND ${NOT_EXPIRED}`,
      ExpressionAttributeNames: {
        "#slot": `lease${slot}`,
        "#claim": `leaseId${slot}`,
        ...EXPIRY_NAMES,
      },
      ExpressionAttributeValues: toWire({
        ":expires": expiresAtMs,
        ":claim": claimId,
        ":now": nowMs,
        ":nowSeconds": nowSecondsOf(nowMs),
        ":topic": topic,
        ":host": host,
        ...refreshExpiryValues(nowMs),
      }),
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
    });
    return this.#writeOrOwn(
      topic,
      host,
      take,
      (met) => met[`leaseId${slot}`] === claimId && met[`lease${slot}`] === expiresAtMs,
      signal,
    );
  }

  async releaseLease(topic: string, host: string, slot: number, expiresAtMs: number): Promise<void> {
    await conditional(
      this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: toWire(destinationKey(topic, host)),
          UpdateExpression: "REMOVE #slot, #claim",
          ConditionExpression: "#slot = :mine",
          ExpressionAttributeNames: { "#slot": `lease${slot}`, "#claim": `leaseId${slot}` },
          ExpressionAttributeValues: toWire({ ":mine": expiresAtMs }),
        }),
      ),
    );
  }

  /**
   * One failed attempt counted towards the threshold. `ADD` is no idempotent write: an SDK resend whose first try was
   * written (its answer lost) would count the failure twice, opening a circuit a failure early. So the write carries
   * an id drawn for it (`lastFailureId`) and is refused where that id already stands; such a refusal answers the item
   * (ALL_OLD; read on dynalite), which is this failure's count. It is refused on an expired entry too (NOT_EXPIRED):
   * that entry is cleared and the failure counted again, afresh — else a month-old count below the threshold plus
   * one failure opened the circuit. Two containers counting on one expired entry: the first clear wins, the other is
   * refused, and both ADDs land on the cleared entry (2). DynamoDB's ALL_OLD item is the one the refusal met, so a
   * refusal that is not its own met an expired entry; dynalite's read comes after, and may see another's write since.
   */
  async recordDestinationFailure(
    topic: string,
    host: string,
    nowMs: number,
    error: string,
  ): Promise<DestinationRecord> {
    const id = writeId();
    const first = await this.#countFailure(topic, host, nowMs, error, id);
    if (first.own) return first.record;
    await this.#forgetExpired(topic, host, nowMs);
    return (await this.#countFailure(topic, host, nowMs, error, id)).record;
  }

  /**
   * The failure's ADD (see recordDestinationFailure): `own` when written, or refused by its own earlier try; else it
   * met an expired entry, answered as met.
   */
  async #countFailure(
    topic: string,
    host: string,
    nowMs: number,
    error: string,
    id: string,
  ): Promise<{ own: boolean; record: DestinationRecord }> {
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: toWire(destinationKey(topic, host)),
          UpdateExpression:
            "ADD failures :one SET topic = :topic, host = :host, lastError = :error, lastFailureAtMs = :now, " +
            `lastFailureId = :id, circuit = if_not_exists(circuit, :closed), ${REFRESH_EXPIRY}`,
          ConditionExpression: `(attribute_not_exists(lastFailureId) OR lastFailureId <> :id) AND ${NOT_EXPIRED}`,
          ExpressionAttributeNames: EXPIRY_NAMES,
          ExpressionAttributeValues: toWire({
            ":one": 1,
            ":id": id,
            ":topic": topic,
            ":host": host,
            ":error": error.slice(0, 512),
            ":now": nowMs,
            ":nowSeconds": nowSecondsOf(nowMs),
            ":closed": "closed",
            ...refreshExpiryValues(nowMs),
          }),
          ReturnValues: "ALL_NEW",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return { own: true, record: destinationOf(out.Attributes) as DestinationRecord };
    } catch (refusal) {
      if (!isConditionFailure(refusal)) throw refusal;
      const met = await this.#refusedItem(topic, host, refusal);
      return {
        own: met?.lastFailureId === id,
        record: destinationOf(met && toWire(met)) as DestinationRecord,
      };
    }
  }

  /** FORGET_EXPIRED at `nowMs`: refused (and nothing written) unless the entry exists and has expired. */
  async #forgetExpired(topic: string, host: string, nowMs: number, signal?: AbortSignal): Promise<void> {
    await conditional(
      this.client.send(
        ...abortableCall(
          this.client,
          new UpdateItemCommand({
            TableName: this.table,
            Key: toWire(destinationKey(topic, host)),
            UpdateExpression: FORGET_EXPIRED,
            ConditionExpression: "#expiresAt <= :nowSeconds",
            ExpressionAttributeNames: { "#expiresAt": "expiresAt" },
            ExpressionAttributeValues: toWire({
              ":nowSeconds": nowSecondsOf(nowMs),
              ":idle": destinationIdleExpiry(nowMs),
            }),
          }),
          signal,
        ),
      ),
    );
  }

  async openCircuit(
    topic: string,
    host: string,
    nowMs: number,
    nextProbeAtMs: number,
    ownProbeUntilMs?: number,
    failuresAtLeast?: number,
  ): Promise<"opened" | "reopened" | "closed"> {
    if (await this.#open(topic, host, nowMs, nextProbeAtMs, failuresAtLeast)) return "opened";
    // A failed probe gives up its own claim with the new cool-down; any other reopening (or a prober whose claim
    // was taken over) leaves the claim there is: that probe is still in flight.
    const ownClaimGone =
      ownProbeUntilMs !== undefined &&
      (await this.#reopen(topic, host, nowMs, nextProbeAtMs, "probeUntilMs = :mine", {
        ":mine": ownProbeUntilMs,
      }));
    if (ownClaimGone) return "reopened";
    // Only while still open: a close (a reset, a probe's success) landing since the refused open above has the last
    // word, and this write must not put an open circuit's hold on a closed item (it would never expire).
    const reopened = await this.#reopen(topic, host, nowMs, nextProbeAtMs, "circuit = :open", {
      ":open": "open",
    });
    return reopened ? "reopened" : "closed";
  }

  /**
   * Opens a closed circuit. A refusal answers the item its condition met (ReturnValuesOnConditionCheckFailure
   * ALL_OLD, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html): an SDK resend
   * whose first try opened the circuit, its answer lost, meets that very opening (the `openId` drawn for this
   * call: another container may open it in the same millisecond), and it is this failure's opening all the same —
   * else its `CircuitOpened` (the alarm) and its log line would be lost, the circuit reported as kept open.
   */
  async #open(
    topic: string,
    host: string,
    nowMs: number,
    nextProbeAtMs: number,
    failuresAtLeast?: number,
  ): Promise<boolean> {
    const id = writeId();
    // With the threshold: only while the count that reached it stands (a close since zeroed it: see the port).
    const counted = failuresAtLeast === undefined ? "" : " AND failures >= :threshold";
    const opening = new UpdateItemCommand({
      TableName: this.table,
      Key: toWire(destinationKey(topic, host)),
      UpdateExpression: `SET circuit = :open, openedAtMs = :now, nextProbeAtMs = :next, openId = :id, ${HOLD_EXPIRY} REMOVE probeUntilMs`,
      ConditionExpression: `(attribute_not_exists(circuit) OR circuit <> :open)${counted}`,
      ExpressionAttributeNames: EXPIRY_NAMES,
      ExpressionAttributeValues: toWire({
        ":open": "open",
        ":now": nowMs,
        ":next": nextProbeAtMs,
        ":id": id,
        ...(failuresAtLeast === undefined ? {} : { ":threshold": failuresAtLeast }),
        ...holdExpiryValues(nowMs),
      }),
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
    });
    return this.#writeOrOwn(topic, host, opening, (met) => met.circuit === "open" && met.openId === id);
  }

  /**
   * A reopening of an open circuit, under `condition`: the new cool-down and the open circuit's hold; the prober's
   * own (`:mine`) also gives up its claim.
   */
  #reopen(
    topic: string,
    host: string,
    nowMs: number,
    nextProbeAtMs: number,
    condition: string,
    values: Record<string, unknown>,
  ): Promise<boolean> {
    return conditional(
      this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: toWire(destinationKey(topic, host)),
          UpdateExpression: `SET nextProbeAtMs = :next, ${HOLD_EXPIRY}${":mine" in values ? " REMOVE probeUntilMs" : ""}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: EXPIRY_NAMES,
          ExpressionAttributeValues: toWire({
            ":next": nextProbeAtMs,
            ...values,
            ...holdExpiryValues(nowMs),
          }),
        }),
      ),
    );
  }

  /**
   * Elects this delivery the half-open circuit's one prober. A refusal answers the item its condition met (ALL_OLD,
   * as `#open`): an SDK resend whose first try took the claim, its answer lost, meets that very claim (its
   * `probeClaimId`, drawn for this call: two deliveries claiming in the same millisecond have the same end), and
   * the claim is this delivery's — else it stood with no prober behind it and the host went unprobed until it
   * expired (a callback timeout and the watchdog margin).
   */
  async claimProbe(
    topic: string,
    host: string,
    nowMs: number,
    untilMs: number,
    options?: AbortOptions,
  ): Promise<boolean> {
    const claimId = writeId();
    const claim = new UpdateItemCommand({
      TableName: this.table,
      Key: toWire(destinationKey(topic, host)),
      UpdateExpression: `SET probeUntilMs = :until, probeClaimId = :claim, ${HOLD_EXPIRY}`,
      ConditionExpression:
        "circuit = :open AND nextProbeAtMs <= :now AND (attribute_not_exists(probeUntilMs) OR probeUntilMs <= :now)",
      ExpressionAttributeNames: EXPIRY_NAMES,
      ExpressionAttributeValues: toWire({
        ":open": "open",
        ":now": nowMs,
        ":until": untilMs,
        ":claim": claimId,
        ...holdExpiryValues(nowMs),
      }),
      ReturnValuesOnConditionCheckFailure: "ALL_OLD",
    });
    return this.#writeOrOwn(
      topic,
      host,
      claim,
      (met) => met.probeClaimId === claimId && met.probeUntilMs === untilMs,
      options?.signal,
    );
  }

  /**
   * A destination write that carries an id drawn for it, refused where its condition fails: written, true; refused,
   * whether the item its condition met is this write's own (`isOwn`) — an SDK resend whose first try was written,
   * its answer lost, meets its own id.
   */
  async #writeOrOwn(
    topic: string,
    host: string,
    command: UpdateItemCommand,
    isOwn: (met: Record<string, unknown>) => boolean,
    signal?: AbortSignal,
  ): Promise<boolean> {
    try {
      await this.client.send(...abortableCall(this.client, command, signal));
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const met = await this.#refusedItem(topic, host, error, signal);
      return met !== undefined && isOwn(met);
    }
  }

  /** The destination item a conditional write's refusal met: DynamoDB's ALL_OLD answer, else (dynalite) a read. */
  async #refusedItem(
    topic: string,
    host: string,
    error: unknown,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown> | undefined> {
    const item = (error as Partial<ConditionalCheckFailedException>).Item;
    return fromWire<Record<string, unknown>>(
      item ?? (await this.readItem(destinationKey(topic, host), signal)),
    );
  }

  async releaseProbe(topic: string, host: string, untilMs: number): Promise<void> {
    await conditional(
      this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: toWire(destinationKey(topic, host)),
          UpdateExpression: "REMOVE probeUntilMs",
          // The claim is identified by its end: a later prober's claim (this one expired) is left alone.
          ConditionExpression: "probeUntilMs = :mine",
          ExpressionAttributeValues: toWire({ ":mine": untilMs }),
        }),
      ),
    );
  }

  /**
   * Closes the circuit and answers the item as it was (ALL_OLD): its caller reports a close of an open circuit. An
   * SDK resend whose first try closed it (its answer lost) would answer a closed circuit and the close go unreported
   * (no `CircuitClosed`, no `circuit closed` line), so the write keeps what it closed (`closedCircuit`,
   * `closedFailures`) under an id drawn for it (`closeId`) and is refused where that id stands: the refusal's item
   * (ALL_OLD; read on dynalite) is then answered with what this close closed.
   */
  async closeCircuit(topic: string, host: string, nowMs: number): Promise<DestinationRecord | undefined> {
    const id = writeId();
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: toWire(destinationKey(topic, host)),
          // Closed: its idle time starts now (the hold goes with the circuit that needed it).
          UpdateExpression:
            "SET failures = :zero, circuit = :closed, #expiresAt = :idle, closeId = :id, " +
            "closedCircuit = if_not_exists(circuit, :closed), closedFailures = if_not_exists(failures, :zero) " +
            "REMOVE openedAtMs, nextProbeAtMs, probeUntilMs, #hold",
          // An expired entry is none (NOT_EXPIRED): closing it would carry its last error into a live entry.
          ConditionExpression: `attribute_exists(pk) AND (attribute_not_exists(closeId) OR closeId <> :id) AND ${NOT_EXPIRED}`,
          ExpressionAttributeNames: EXPIRY_NAMES,
          ExpressionAttributeValues: toWire({
            ":zero": 0,
            ":closed": "closed",
            ":id": id,
            ":idle": destinationIdleExpiry(nowMs),
            ":nowSeconds": nowSecondsOf(nowMs),
          }),
          ReturnValues: "ALL_OLD",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return destinationOf(out.Attributes);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const met = await this.#refusedItem(topic, host, error);
      if (met?.closeId !== id) return undefined;
      const closed = destinationOf(toWire(met)) as DestinationRecord;
      return { ...closed, circuit: met.closedCircuit, failures: met.closedFailures } as DestinationRecord;
    }
  }

  /**
   * A batch start (`startedTask`), on condition that the task is still exactly as read. No `fanOut` clause, unlike
   * the read-free startAttempt's `attribute_not_exists(fanOut)`, and none needed: that start has no read, while
   * this one is made only for a task the batch read found to be no parent (up-front.ts drops a parent's message at
   * the read), and its WHERE pins that very item (status, attempts, attemptSeq as read). `fanOut` is written only
   * when a parent is first put (expandFanOut; a put never overwrites), never added to an item, and no id is ever
   * both a plain task's or copy's and a parent's, so the item read cannot have turned into a parent by the write. A
   * copy is fenced by its own item, here as per record: a parent's cancel cancels (or requests the cancel of) each
   * copy by that copy's own write, which changes the status this WHERE pins or sets the request it refuses; neither
   * start reads the parent (test/unit/adapters/deliver-fan-out-parent.test.ts, "a parent's DELETE between the
   * batch read and its start…").
   */
  private startStatement({ read, atMs, handedOverAtMs }: BatchStart): BatchStatementRequest {
    const started = startedTask(read, atMs, handedOverAtMs);
    return updateStatement({
      returnOldOnConditionFailure: true,
      table: this.table,
      key: statementKey(read.taskId),
      set: [
        [["status"], started.status],
        [["attempts"], started.attempts],
        [["lastAttemptAtMs"], started.lastAttemptAtMs],
        [["attemptSeq"], started.attemptSeq],
        ...(read.attemptLog === undefined ? [[["attemptLog"], {}] as const] : []),
        ...(read.queuedAtMs === undefined && started.queuedAtMs !== undefined
          ? [[["queuedAtMs"], started.queuedAtMs] as const]
          : []),
      ],
      where: [
        ["status", read.status],
        ["attempts", read.attempts],
        ["attemptSeq", read.attemptSeq],
        // A cancel requested since the read: the start must not call (see startAttempt).
        ["cancelRequestedAtMs", undefined],
      ],
    });
  }

  /** A finishing write of deliver's batch: delivered (as markDelivered), a start given back, or its cancel's end. */
  private finishStatement(write: StoreFinish): BatchStatementRequest {
    if (write.kind === "delivered") return this.deliveredStatement(write);
    if (write.kind === "cancelEnd") return this.giveBackStatement(write.giveBack, write.requested);
    return this.giveBackStatement(write);
  }

  /**
   * A start given back: the task restored as read, on condition that it is still in that start. Without
   * `requested`, only while it carries no cancel request; with it (the request the refused give-back met), restored
   * and ended `cancelled` as the request's attempt ends it (`cancelledAtMs`, the TTL the request recorded, out of
   * the sweep index), only while it carries exactly that request — the cancel wins only when it is on the item.
   */
  private giveBackStatement(
    { read, started, atMs }: GiveBackWrite,
    requested?: RequestedCancel,
  ): BatchStatementRequest {
    const restoredFields = START_FIELDS.filter((name) => read[name] !== undefined);
    return updateStatement({
      returnOldOnConditionFailure: true,
      table: this.table,
      key: statementKey(read.taskId),
      set: [
        [["status"], requested ? ("cancelled" satisfies TaskStatus) : read.status],
        [["attempts"], read.attempts],
        ...restoredFields.map((name) => [[name], read[name]] as const),
        ...(requested
          ? ([
              [["cancelledAtMs"], atMs],
              [["expiresAt"], requested.cancelExpiresAt ?? fallbackCancelExpiry(atMs)],
            ] as const)
          : []),
      ],
      remove: [
        ...START_FIELDS.filter((name) => read[name] === undefined),
        ...(requested ? [SWEEP_SHARD_ATTRIBUTE] : []),
      ],
      where: [
        ["status", started.status],
        ["attemptSeq", started.attemptSeq],
        ["lastAttemptAtMs", started.lastAttemptAtMs],
        ["cancelRequestedAtMs", requested?.cancelRequestedAtMs],
        ...(requested ? [["cancelExpiresAt", requested.cancelExpiresAt] as const] : []),
      ],
    });
  }

  /** markDelivered's write as a statement, on condition that the task is still in attempt `attemptSeq`. */
  private deliveredStatement({
    taskId,
    attemptSeq,
    result,
    attemptLog,
  }: Extract<FinishWrite, { kind: "delivered" }>): BatchStatementRequest {
    return updateStatement({
      returnOldOnConditionFailure: true,
      table: this.table,
      key: statementKey(taskId),
      set: [
        [["status"], "delivered" satisfies TaskStatus],
        [["deliveredAtMs"], result.atMs],
        [["latenessMs"], result.latenessMs],
        [["deliveryLatencyMs"], result.deliveryLatencyMs],
        [["expiresAt"], result.expiresAt],
        ...(result.lastAttemptAtMs === undefined
          ? []
          : [[["lastAttemptAtMs"], result.lastAttemptAtMs] as const]),
        ...(result.attempt === undefined || attemptLog === undefined
          ? []
          : [
              [
                ["attemptLog"],
                { ...attemptLog, [attemptLogSlot(result.attempt.seq)]: result.attempt },
              ] as const,
            ]),
      ],
      remove: [SWEEP_SHARD_ATTRIBUTE],
      where: [
        ["status", "delivering" satisfies TaskStatus],
        ["attemptSeq", attemptSeq],
      ],
    });
  }
}

/**
 * The TaskStore on one DynamoDB table. Every status change is a single conditional UpdateItem on the task's
 * own key (the id encodes it), so racing relays, deliveries and cancels need no locks, and no call needs a
 * transaction (dynalite has none). Reads on the ordering path are strongly consistent.
 *
 * Unfinished tasks off the near-term happy path carry `sweepShard`, the partition key of the sparse sweep index
 * (shared/domain/sweep.ts): `putNew` sets it unless told not to (a near-term add), the writes that take a task off
 * the happy path set it (`enterSweepIndex`, a failed attempt, a reschedule, the sweeper's forward, a replay), and
 * the three writes that finish a task (cancel, markDelivered, markFailed) remove it in the same UpdateItem (a
 * no-op, and no index write, for a task that was never in it).
 */
export class DynamoTaskStore
  extends /* @__PURE__ */ withBatchAdd(
    /* @__PURE__ */ withScheduleIndex(/* @__PURE__ */ withScheduleMethods(DynamoDeliverStore)),
  )
  implements TaskStore
{
  /**
   * Without a FilterExpression when the caller wants the other tasks' statuses: DynamoDB charges a Query for
   * every item it reads, filtered out or not, so reading them costs no more capacity than skipping them. With
   * `stopAtStarted` (the relay), latest first in pages that start small and double, ending a margin below the
   * latest started task: a hot group's window is mostly history, read and billed in full otherwise. The pages and
   * where the read ends are shared/domain/group-read.ts's, which the capacity planner bills by too.
   */
  async listScheduledInGroup(
    pk: string,
    fromMs: number,
    toMs: number,
    others?: Map<string, TaskStatus>,
    options: GroupReadOptions = {},
  ): Promise<GroupTaskRef[]> {
    const tasks: GroupTaskRef[] = [];
    const stop = options.stopAtStarted === true;
    let read: GroupReadState | undefined = startGroupRead(fromMs);
    let startKey: QueryCommandOutput["LastEvaluatedKey"];
    while (read) {
      const out: QueryCommandOutput = await this.client.send(
        this.groupQuery(pk, read.floorMs, toMs, {
          filter: !others && !stop,
          stop,
          limit: read.limit,
          startKey,
        }),
      );
      const items = (out.Items ?? []).map((i) => unmarshall(i) as GroupTaskRef);
      startKey = out.LastEvaluatedKey;
      const step: GroupPageStep = readGroupPage(
        read,
        items,
        stop ? RELAY_VIEW : WHOLE_VIEW,
        startKey !== undefined,
      );
      for (const item of items.slice(0, step.taken)) {
        if (item.status === "scheduled") tasks.push(item);
        else others?.set(item.taskId, item.status);
      }
      read = step.next;
    }
    return stop ? tasks.reverse() : tasks;
  }

  private groupQuery(
    pk: string,
    fromMs: number,
    toMs: number,
    read: {
      filter: boolean;
      stop: boolean;
      limit: number;
      startKey: QueryCommandOutput["LastEvaluatedKey"];
    },
  ): QueryCommand {
    const projection = projectionOf(GROUP_TASK_REF_ATTRIBUTES);
    const status = `#p${GROUP_TASK_REF_ATTRIBUTES.indexOf("status")}`;
    return new QueryCommand({
      TableName: this.table,
      KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
      // No content (GroupTaskRef): the relay holds the group's due tasks in memory at once.
      ProjectionExpression: projection.expression,
      ExpressionAttributeNames: projection.names,
      ...(read.filter
        ? {
            FilterExpression: `${status} = :scheduled`,
            ExpressionAttributeValues: toWire({
              ...groupRange(pk, fromMs, toMs),
              ":scheduled": "scheduled" satisfies TaskStatus,
            }),
          }
        : { ExpressionAttributeValues: toWire(groupRange(pk, fromMs, toMs)) }),
      ...(read.stop ? { ScanIndexForward: false, Limit: read.limit } : {}),
      ConsistentRead: true,
      ExclusiveStartKey: read.startKey,
    });
  }

  async markQueued(taskId: string, nowMs: number): Promise<boolean> {
    // Only the sweeper's forward marks `queued` (the relay records nothing): such a task is off the happy path
    // and stays in the sweep index until it finishes.
    return this.transition(
      taskId,
      ["scheduled"],
      `SET #status = :to, queuedAtMs = :now, ${ENTER_SWEEP_INDEX}`,
      {
        ":to": "queued",
        ":now": nowMs,
        ":sweepShard": sweepShardOf(taskId),
      },
    );
  }

  async listUnfinishedDueBy(
    shard: number,
    dueByMs: number,
    limit: number,
    after?: SweepPosition,
  ): Promise<{ tasks: UnfinishedTaskRef[]; truncated: boolean }> {
    const tasks: UnfinishedTaskRef[] = [];
    let startKey = after ? sweepIndexKey(shard, after) : undefined;
    do {
      const out: QueryCommandOutput = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: SWEEP_INDEX_NAME,
          KeyConditionExpression: "#shard = :shard AND dueAtMs <= :dueBy",
          ExpressionAttributeNames: { "#shard": SWEEP_SHARD_ATTRIBUTE },
          ExpressionAttributeValues: toWire({ ":shard": shard, ":dueBy": dueByMs }),
          Limit: Math.max(1, limit - tasks.length),
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) {
        const { taskId, pk, dueAtMs } = unmarshall(item) as Partial<UnfinishedTaskRef>;
        if (typeof taskId === "string" && typeof pk === "string" && typeof dueAtMs === "number") {
          tasks.push({ taskId, pk, dueAtMs });
        }
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey && tasks.length < limit);
    return { tasks, truncated: startKey !== undefined };
  }

  async readSweepCursor(): Promise<SweepCursor> {
    const stored = fromWire<{ shards?: Record<string, SweepPosition> }>(
      await this.readItem(SWEEP_CURSOR_KEY),
    );
    const cursor: Record<number, SweepPosition> = {};
    for (const [shard, position] of Object.entries(stored?.shards ?? {})) {
      if (typeof position?.taskId === "string" && typeof position.dueAtMs === "number") {
        cursor[Number(shard)] = { taskId: position.taskId, dueAtMs: position.dueAtMs };
      }
    }
    return cursor;
  }

  async writeSweepCursor(cursor: SweepCursor): Promise<void> {
    await this.client.send(
      new PutItemCommand({ TableName: this.table, Item: toWire({ ...SWEEP_CURSOR_KEY, shards: cursor }) }),
    );
  }

  async markRequeued(taskId: string, nowMs: number, life?: { readonly replays: number }): Promise<boolean> {
    if (life === undefined)
      return this.transition(taskId, ["queued", "delivering"], "SET requeuedAtMs = :now", { ":now": nowMs });
    return this.conditionalUpdate(taskId, {
      UpdateExpression: "SET requeuedAtMs = :now",
      ConditionExpression: "#status IN (:queued, :delivering) AND replays = :replays",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: toWire({
        ":queued": "queued",
        ":delivering": "delivering",
        ":replays": life.replays,
        ":now": nowMs,
      }),
    });
  }

  async listUnfinishedInGroup(
    pk: string,
    fromMs: number,
    toMs: number,
    limit = Number.POSITIVE_INFINITY,
    maxScanned = Number.POSITIVE_INFINITY,
  ): Promise<{ tasks: TaskSummary[]; complete: boolean }> {
    const tasks: TaskSummary[] = [];
    const names = UNFINISHED_STATUSES.map((_, i) => `:s${i}`);
    const summary = projectionOf(Object.keys(SUMMARY_ATTRIBUTES));
    let startKey: QueryCommandOutput["LastEvaluatedKey"];
    let scanned = 0;
    do {
      const out: QueryCommandOutput = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
          // Not a fan-out parent: `scheduled` for good (only its copies, in their own lanes, are delivered), it
          // shares its group's partition with plain tasks once the topic's subscribers change, and counted in
          // `limit` a run of them filled every read, so a plain task behind them was never repaired.
          FilterExpression: `(#status IN (${names.join(", ")}) OR (#status = :rescheduled AND attribute_exists(#shard))) AND attribute_not_exists(fanOut)`,
          // Every attribute but the content (TaskSummary): the sweeper holds up to 8 groups' reads at once.
          ProjectionExpression: summary.expression,
          ExpressionAttributeNames: {
            ...summary.names,
            "#status": "status",
            "#shard": SWEEP_SHARD_ATTRIBUTE,
          },
          ExpressionAttributeValues: toWire({
            ...groupRange(pk, fromMs, toMs),
            ...Object.fromEntries(UNFINISHED_STATUSES.map((status, i) => [`:s${i}`, status])),
            ":rescheduled": "rescheduled" satisfies TaskStatus,
          }),
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
          // A Query Limit counts the items read before the filter: it bounds the finished ones passed over.
          ...(Number.isFinite(maxScanned) ? { Limit: Math.max(1, maxScanned - scanned) } : {}),
        }),
      );
      for (const item of out.Items ?? []) tasks.push(unmarshall(item) as TaskSummary);
      scanned += out.ScannedCount ?? 0;
      startKey = out.LastEvaluatedKey;
      // Pages stop once enough unfinished tasks are read, or enough items were passed over.
    } while (startKey && tasks.length < limit && scanned < maxScanned);
    return { tasks: tasks.slice(0, limit), complete: startKey === undefined || tasks.length >= limit };
  }

  async listGroupStatusesLatestFirst(
    pk: string,
    fromMs: number,
    toMs: number,
    maxItems: number,
  ): Promise<{ items: GroupItemStatus[]; complete: boolean }> {
    const items: GroupItemStatus[] = [];
    let startKey: QueryCommandOutput["LastEvaluatedKey"];
    // Items read, parents included: the filter drops them after the Limit counted them.
    let scanned = 0;
    do {
      const out: QueryCommandOutput = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
          ExpressionAttributeValues: toWire(groupRange(pk, fromMs, toMs)),
          // Only what tells an unfinished task (DynamoDB still reads whole items: the Limit bounds that).
          ProjectionExpression: `taskId, dueAtMs, #status, ${SWEEP_SHARD_ATTRIBUTE}`,
          // Not a fan-out parent: `scheduled` for good, it read as an unfinished task and left the group waiting.
          FilterExpression: "attribute_not_exists(fanOut)",
          ExpressionAttributeNames: { "#status": "status" },
          ScanIndexForward: false,
          ConsistentRead: true,
          Limit: maxItems - scanned,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) items.push(unmarshall(item) as GroupItemStatus);
      scanned += out.ScannedCount ?? 0;
      startKey = out.LastEvaluatedKey;
    } while (startKey && scanned < maxItems);
    return { items, complete: startKey === undefined };
  }

  async markRescheduled(
    taskId: string,
    change: { readonly to: string; readonly atMs: number; readonly expiresAt: number },
  ): Promise<RescheduleOutcome> {
    let outcome = await this.markRescheduledOnce(taskId, change);
    // Read back `scheduled` after the refused write: deliver held it (a batch starts a group's tasks up front) at the
    // write and gave the start back before the read. Written again, as a cancel is (CANCEL_WRITES), not answered
    // 409 "task is scheduled; only a scheduled task can be rescheduled".
    for (let writes = 1; writes < CANCEL_WRITES && isGivenBack(outcome); writes++) {
      outcome = await this.markRescheduledOnce(taskId, change);
    }
    return outcome;
  }

  private markRescheduledOnce(
    taskId: string,
    change: { readonly to: string; readonly atMs: number; readonly expiresAt: number },
  ): Promise<RescheduleOutcome> {
    return this.updateOrExplain(taskId, "rescheduled", {
      // Into the sweep index (a near-term task was not in it), and it stays there until its successor exists
      // (settleRescheduled): the sweeper finishes a reschedule that stopped after this write.
      UpdateExpression: `SET #status = :rescheduled, rescheduledTo = :to, rescheduledAtMs = :at, expiresAt = :expiresAt, ${ENTER_SWEEP_INDEX}`,
      // Not one carrying a cancel request (a start given back with it kept): its successor would drop the request.
      ConditionExpression: "#status = :scheduled AND attribute_not_exists(cancelRequestedAtMs)",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: toWire({
        ":rescheduled": "rescheduled" satisfies TaskStatus,
        ":scheduled": "scheduled" satisfies TaskStatus,
        ":to": change.to,
        ":at": change.atMs,
        ":expiresAt": change.expiresAt,
        ":sweepShard": sweepShardOf(taskId),
      }),
    });
  }

  async moveIdempotencyClaim(
    topic: string,
    key: string,
    move: { readonly from: readonly string[]; readonly to: string; readonly expiresAt: number },
  ): Promise<void> {
    const from = move.from.map((_, i) => `:from${i}`);
    await conditional(
      this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: toWire({ pk: idempotencyPartitionKey(topic, key), sk: IDEMPOTENCY_SORT_KEY }),
          UpdateExpression: "SET taskId = :to, expiresAt = :expiresAt",
          ConditionExpression: `taskId IN (${[...from, ":to"].join(", ")})`,
          ExpressionAttributeValues: toWire({
            ...Object.fromEntries(move.from.map((id, i) => [`:from${i}`, id])),
            ":to": move.to,
            ":expiresAt": move.expiresAt,
          }),
        }),
      ),
    );
  }

  /**
   * `Limit` bounds the items DynamoDB reads (filtered or not), so one call's capacity is bounded however many
   * finished tasks the group has; a page may hold fewer than `limit` unfinished tasks and still have a next one.
   */
  async listGroupPage(
    pk: string,
    limit: number,
    startAfterSk?: string,
    movedSinceMs?: number,
  ): Promise<GroupPage> {
    const names = UNFINISHED_STATUSES.map((_, i) => `:s${i}`);
    const moved =
      movedSinceMs === undefined
        ? "attribute_exists(#shard)"
        : "(attribute_exists(#shard) OR rescheduledAtMs >= :since)";
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "pk = :pk",
        FilterExpression: `#status IN (${names.join(", ")}) OR (#status = :cancelled AND attribute_exists(fanOut)) OR (#status = :rescheduled AND ${moved})`,
        ExpressionAttributeNames: { "#status": "status", "#shard": SWEEP_SHARD_ATTRIBUTE },
        ExpressionAttributeValues: toWire({
          ":pk": pk,
          ...Object.fromEntries(UNFINISHED_STATUSES.map((status, i) => [`:s${i}`, status])),
          ":cancelled": "cancelled" satisfies TaskStatus,
          ":rescheduled": "rescheduled" satisfies TaskStatus,
          ...(movedSinceMs === undefined ? {} : { ":since": movedSinceMs }),
        }),
        ConsistentRead: true,
        Limit: limit,
        ...(startAfterSk !== undefined ? { ExclusiveStartKey: toWire({ pk, sk: startAfterSk }) } : {}),
      }),
    );
    const tasks = (out.Items ?? []).map((item) => unmarshall(item) as TaskRecord);
    const last = out.LastEvaluatedKey ? (unmarshall(out.LastEvaluatedKey) as { sk?: unknown }).sk : undefined;
    return { tasks, ...(typeof last === "string" ? { lastSk: last } : {}) };
  }

  // --- issue 11, scope H: listing (appended block) ---

  async listGroup(pk: string, limit: number, after?: PageKey): Promise<TaskPage> {
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: toWire({ ":pk": pk }),
        ConsistentRead: true,
        Limit: limit,
        ExclusiveStartKey: after && toWire(after),
      }),
    );
    return page(out);
  }

  async listFailed(
    topic: string,
    limit: number,
    after?: PageKey,
    options: ListFailedOptions = {},
  ): Promise<TaskPage<TaskSummary>> {
    const from = options.failedFromMs;
    const summary = projectionOf(Object.keys(SUMMARY_ATTRIBUTES));
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: FAILED_INDEX_NAME,
        KeyConditionExpression: `#topic = :topic${from === undefined ? "" : " AND #failedAt >= :from"}`,
        // No content (TaskSummary): a bulk replay holds up to 1,000 of these at once.
        ProjectionExpression: summary.expression,
        ExpressionAttributeNames: {
          ...summary.names,
          "#topic": FAILED_TOPIC_ATTRIBUTE,
          ...(from === undefined ? {} : { "#failedAt": FAILED_SORT_ATTRIBUTE }),
        },
        ExpressionAttributeValues: toWire({
          ":topic": topic,
          ...(from === undefined ? {} : { ":from": from }),
        }),
        ScanIndexForward: options.oldestFirst === true,
        Limit: limit,
        ExclusiveStartKey: after && toWire(after),
      }),
    );
    return page(out);
  }

  // --- issue 11, scope H: replay (appended block) ---

  async markReplayed(taskId: string, nowMs: number, options?: ReplayOptions): Promise<ReplayOutcome> {
    const from: TaskStatus[] = options?.onlyFailed ? ["failed"] : ["failed", "delivered"];
    return this.updateOrExplain(taskId, "replayed", {
      // Unfinished again: back in the sweep index (so a lost message is re-sent), out of the failed index,
      // no TTL. History (deliveredAtMs, failedAtMs, lastError, the attempt log) is kept.
      // A cancel request an earlier life carried (its attempt then succeeded) is that life's: removed, or the
      // replay's start would refuse it. So is the retry wait its last failure set (retryNotBeforeMs), still ahead
      // when it was dead-lettered early (its topic's maxAttempts lowered meanwhile): the replay is attempted now.
      UpdateExpression: `SET #status = :queued, queuedAtMs = :now, replayedAtMs = :now, replays = if_not_exists(replays, :zero) + :one, attempts = :zero, ${SWEEP_SHARD_ATTRIBUTE} = :shard REMOVE ${FAILED_TOPIC_ATTRIBUTE}, expiresAt, requeuedAtMs, cancelRequestedAtMs, cancelExpiresAt, retryNotBeforeMs`,
      // Nor one past its retention that TTL has not deleted yet (retentionEnded): it is gone but for the sweep.
      ConditionExpression: `#status IN (${from.map((_, i) => `:from${i}`).join(", ")}) AND (attribute_not_exists(expiresAt) OR expiresAt >= :nowSeconds)`,
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: toWire({
        ":queued": "queued" satisfies TaskStatus,
        ...Object.fromEntries(from.map((status, i) => [`:from${i}`, status])),
        ":now": nowMs,
        ":nowSeconds": Math.floor(nowMs / 1000),
        ":zero": 0,
        ":one": 1,
        ":shard": sweepShardOf(taskId),
      }),
    });
  }

  async revertReplay(taskId: string, replay: ReplayRevert): Promise<boolean> {
    const failed = (replay.status ?? "failed") === "failed";
    // Only a dead letter goes back to the failed index; a delivered task was never in it.
    const set = failed
      ? `SET #status = :was, attempts = :attempts, expiresAt = :expiresAt, ${FAILED_TOPIC_ATTRIBUTE} = :topic`
      : "SET #status = :was, attempts = :attempts, expiresAt = :expiresAt";
    return this.conditionalUpdate(taskId, {
      UpdateExpression: `${set} ${LEAVE_SWEEP_INDEX}`,
      // Untouched since that replay: no attempt started from its message, no copy sent by the sweeper.
      ConditionExpression:
        "#status = :queued AND replays = :replays AND attempts = :zero AND attribute_not_exists(requeuedAtMs)",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: toWire({
        ":was": replay.status ?? ("failed" satisfies TaskStatus),
        ":queued": "queued" satisfies TaskStatus,
        ":replays": replay.replays,
        ":attempts": replay.attempts,
        ":expiresAt": replay.expiresAt,
        ...(failed ? { ":topic": parseTaskId(taskId)?.topic ?? "" } : {}),
        ":zero": 0,
      }),
    });
  }

  async keepFanOutParent(taskId: string, expiresAt: number): Promise<boolean> {
    // TTL compares `expiresAt` when it deletes, lazily ("typically within two days of expiration"), so a raise
    // written before the deletion keeps the item: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTimeToLive.html
    return this.conditionalUpdate(taskId, {
      // The raise is recorded apart too: a cancel's write replaces expiresAt, and its undoing puts this back.
      UpdateExpression: "SET expiresAt = :expiresAt, keptExpiresAt = :expiresAt",
      ConditionExpression: "attribute_exists(fanOut) AND expiresAt < :expiresAt",
      ExpressionAttributeValues: toWire({ ":expiresAt": expiresAt }),
    });
  }

  async listSchedules(topic: string, limit: number, after?: PageKey): Promise<SchedulePage> {
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.table,
        // Schedule ids only: a topic named `schedules` has task partitions that can share this key (schedule.ts).
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :ids)",
        ExpressionAttributeValues: toWire({
          ":pk": schedulePartitionKey(topic),
          ":ids": scheduleIdPrefix(topic),
        }),
        Limit: limit,
        ConsistentRead: true,
        ...(after ? { ExclusiveStartKey: toWire({ ...after }) } : {}),
      }),
    );
    const schedules = (out.Items ?? []).map((item) => unmarshall(item) as ScheduleRecord);
    return out.LastEvaluatedKey
      ? { schedules, next: unmarshall(out.LastEvaluatedKey) as PageKey }
      : { schedules };
  }

  /**
   * One Query, never more: `Limit` bounds the items it reads (and so its cost) whatever the filter keeps, and
   * strongly consistent, so an open circuit written a moment ago is on its page.
   */
  async listDestinations({ limit, after, circuit }: DestinationListQuery): Promise<DestinationPage> {
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "pk = :pk",
        FilterExpression: destinationFilter(circuit),
        ExpressionAttributeNames: { "#expiresAt": "expiresAt" },
        ExpressionAttributeValues: toWire({
          ":pk": DESTINATION_PARTITION,
          ":nowSeconds": this.nowSeconds(),
          ...(circuit && { ":open": "open" }),
        }),
        ConsistentRead: true,
        Limit: limit,
        ...(after && { ExclusiveStartKey: toWire(after) }),
      }),
    );
    const destinations = (out.Items ?? []).map((item) => destinationOf(item) as DestinationRecord);
    const next = fromWire<PageKey>(out.LastEvaluatedKey);
    return next ? { destinations, next } : { destinations };
  }

  // --- issue 12: discard a dead-lettered task (appended block) ---

  async discardFailed(taskId: string, nowMs: number, expiresAt: number): Promise<CancelOutcome> {
    return this.updateOrExplain(taskId, "cancelled", {
      // A failed task is already out of the sweep index; removing the failed index's key takes it out of the
      // sparse failed index (the dead-letter list) in the same write.
      UpdateExpression: `SET #status = :cancelled, cancelledAtMs = :now, expiresAt = :expiresAt REMOVE ${FAILED_TOPIC_ATTRIBUTE}`,
      ConditionExpression: "#status = :failed",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: toWire({
        ":cancelled": "cancelled" satisfies TaskStatus,
        ":failed": "failed" satisfies TaskStatus,
        ":now": nowMs,
        ":expiresAt": expiresAt,
      }),
    });
  }
}

/** A Query's items and where the next page starts (DynamoDB says so only when it stopped at the Limit). */
function page<T = TaskRecord>(out: QueryCommandOutput): TaskPage<T> {
  const tasks = (out.Items ?? []).map((item) => unmarshall(item) as T);
  return out.LastEvaluatedKey ? { tasks, next: unmarshall(out.LastEvaluatedKey) as PageKey } : { tasks };
}

/** A statement of a PartiQL batch that was not written: its BatchStatementError code, and the item (ALL_OLD). */
interface StatementFailure {
  readonly code: string;
  readonly item?: TaskRecord;
}

/** BatchStatementError codes a retry can change (the others — a refused condition, a bad statement — cannot). */
const RETRYABLE_STATEMENT_CODES: ReadonlySet<string> = new Set([
  "ThrottlingError",
  "ProvisionedThroughputExceeded",
  "RequestLimitExceeded",
  "InternalServerError",
  "TransactionConflict",
  "NoResponse",
]);
/** Calls per chunk of finishing writes: the first and two retries (50 and 100 ms later). */
const FINISH_ROUNDS = 3;
/** Calls per chunk of the batch add's INSERTs (claims, keyed tasks), as for finishing writes. */
const INSERT_ROUNDS = 3;
type InsertOutcome = "written" | "exists" | "unknown";

/** Whether `item` is the start `started` describes (an answer lost after the start was written). */
function isStart(item: TaskRecord, started: TaskRecord): boolean {
  return (
    item.status === "delivering" &&
    item.attemptSeq === started.attemptSeq &&
    item.lastAttemptAtMs === started.lastAttemptAtMs
  );
}

type GiveBackWrite = Extract<FinishWrite, { kind: "giveBack" }>;

/** The cancel request a refused give-back met on the item: its second statement is conditioned on exactly it. */
type RequestedCancel = Pick<TaskRecord, "cancelRequestedAtMs" | "cancelExpiresAt">;

/** A give-back refused by a cancel requested on its start: written again as that cancel's end. */
interface CancelEnd {
  readonly kind: "cancelEnd";
  readonly giveBack: GiveBackWrite;
  readonly requested: RequestedCancel;
}

/** What the finishing call writes: deliver's writes, and the store's own second statements. */
type StoreFinish = FinishWrite | CancelEnd;

function finishedTaskId(write: StoreFinish): string {
  if (write.kind === "delivered") return write.taskId;
  return write.kind === "cancelEnd" ? write.giveBack.read.taskId : write.read.taskId;
}

/**
 * The cancel's end a refused give-back calls for: the item is still in that start, and a cancel is requested on it.
 * Also for a refused cancel's end (another DELETE rewrote the request's TTL): the same end, with the item's request.
 */
function cancelEndOf(write: StoreFinish, item: TaskRecord): CancelEnd | undefined {
  if (write.kind === "delivered") return undefined;
  const giveBack = write.kind === "cancelEnd" ? write.giveBack : write;
  if (!isStart(item, giveBack.started) || item.cancelRequestedAtMs === undefined) return undefined;
  const { cancelRequestedAtMs, cancelExpiresAt } = item;
  return { kind: "cancelEnd", giveBack, requested: { cancelRequestedAtMs, cancelExpiresAt } };
}

/**
 * Whether a give-back (or its cancel's end) met its task already ended `cancelled` by another writer: nothing is
 * left to give back, no callback was made from the start and none will be. Why: a cancel requested on the start
 * ends the task through a later start's refusal too (the sweeper's resend, a late step), before the give-back or
 * between its two statements; reported failed, deliver logged a lost give-back ("…that attempt counts") for a task
 * that had ended as asked. That path counts the attempt (docs/RELIABILITY.md, "Deliver's writes in batches").
 */
function hasEnded(item: TaskRecord, write: StoreFinish): boolean {
  return write.kind !== "delivered" && item.status === "cancelled";
}

/** Whether `item` already holds what a finishing write writes (an earlier try of it was written). */
function isFinished(item: TaskRecord, write: StoreFinish): boolean {
  if (write.kind === "delivered") return item.status === "delivered" && item.attemptSeq === write.attemptSeq;
  if (write.kind === "cancelEnd") {
    const { read, atMs } = write.giveBack;
    return item.status === "cancelled" && item.cancelledAtMs === atMs && item.attemptSeq === read.attemptSeq;
  }
  const { read } = write;
  return (
    item.status === read.status && item.attempts === read.attempts && item.attemptSeq === read.attemptSeq
  );
}

/**
 * Every attribute a task item holds but its content, as a projection's placeholders (`#p<n>` → name). Typed as
 * a record of every other TaskRecord key, so an attribute added to TaskRecord cannot be left out of the
 * sweeper's reads unnoticed.
 */
const SUMMARY_ATTRIBUTES: Record<keyof TaskSummary, true> = {
  pk: true,
  sk: true,
  taskId: true,
  topic: true,
  groupValue: true,
  status: true,
  dueAtMs: true,
  acceptedAtMs: true,
  callbackUrl: true,
  timer: true,
  scheduleName: true,
  idempotencyKey: true,
  scheduleId: true,
  scheduleEpoch: true,
  attempts: true,
  lastError: true,
  queuedAtMs: true,
  lastAttemptAtMs: true,
  retryNotBeforeMs: true,
  startedFrom: true,
  requeuedAtMs: true,
  deliveredAtMs: true,
  failedAtMs: true,
  failedWriteId: true,
  cancelledAtMs: true,
  cancelRequestedAtMs: true,
  cancelExpiresAt: true,
  rescheduledTo: true,
  rescheduledFrom: true,
  rescheduledAtMs: true,
  latenessMs: true,
  deliveryLatencyMs: true,
  expiresAt: true,
  expiresAtFloor: true,
  sweepShard: true,
  failedTopic: true,
  attemptSeq: true,
  attemptLog: true,
  replays: true,
  replayedAtMs: true,
  keptExpiresAt: true,
  fanOut: true,
  parentTaskId: true,
  subscriber: true,
};
/**
 * A projection of `attributes`, each named by a placeholder (`#p<n>`): `status` is a reserved word, and the
 * projection must not depend on which names are. Built on use, not at module load, so a function that never reads
 * these projections (the add and schedule routes) bundles neither attribute list.
 */
function projectionOf(attributes: readonly string[]): { expression: string; names: Record<string, string> } {
  const names = Object.fromEntries(attributes.map((name, i) => [`#p${i}`, name]));
  return { expression: Object.keys(names).join(", "), names };
}

/** BatchGetItem reads at most 100 keys per call. */
const BATCH_GET_SIZE = 100;
/** BatchWriteItem takes at most 25 puts per call. */
export const BATCH_WRITE_SIZE = 25;
/** Calls per chunk before its still-unprocessed puts are given up on (the caller answers them 503). */
export const UNPROCESSED_ROUNDS = 4;
/** An item's key as one string, to match UnprocessedItems back to the puts that were sent. */
/** What a start sets besides status and attempts: a give-back restores each as read, or removes it. */
const START_FIELDS = ["lastAttemptAtMs", "attemptSeq", "attemptLog", "queuedAtMs"] as const;

/** A statement's key from a task id (a malformed id names no item: its statement finds none). */
function statementKey(taskId: string): { pk: string; sk: string } {
  const key = parseTaskId(taskId);
  return { pk: key?.pk ?? "", sk: key?.sk ?? "" };
}

function keyOf(item: Record<string, AttributeValue> | undefined): string {
  return `${item?.pk?.S ?? ""}\u0000${item?.sk?.S ?? ""}`;
}

/** Resolves true when the write happened, false when its condition failed; other errors propagate. */
/**
 * An id for one conditional write a resend must recognise as its own (a probe claim, a lease take): 48 random bits,
 * 8 characters, so an item holding many stays within its 1 KB write unit.
 */
function writeId(): string {
  return randomBytes(6).toString("base64url");
}

async function conditional(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && error.name === "ConditionalCheckFailedException")
  );
}

/**
 * A ScheduleChange as one UpdateItem: SET the given fields, REMOVE the given ones, on condition that the item
 * exists, is in one of the statuses and (when given) still has the cursor, epoch and lease the caller read.
 */
function scheduleUpdate(
  change: ScheduleChange,
): Pick<
  UpdateItemCommandInput,
  "UpdateExpression" | "ConditionExpression" | "ExpressionAttributeNames" | "ExpressionAttributeValues"
> {
  const names: Record<string, string> = { "#status": "status" };
  const values: Record<string, unknown> = {};
  const sets = Object.entries(change.set)
    .filter(([, value]) => value !== undefined)
    .map(([field, value], i) => {
      names[`#s${i}`] = field;
      values[`:s${i}`] = value;
      return `#s${i} = :s${i}`;
    });
  const removes = (change.remove ?? []).map((field, i) => {
    names[`#r${i}`] = field;
    return `#r${i}`;
  });
  const conditions = [
    "attribute_exists(pk)",
    `#status IN (${change.ifStatus.map((status, i) => {
      values[`:if${i}`] = status;
      return `:if${i}`;
    })})`,
  ];
  if (change.ifMaterializedUntilMs !== undefined) {
    values[":ifUntil"] = change.ifMaterializedUntilMs;
    conditions.push("materializedUntilMs = :ifUntil");
  }
  if (change.ifEpoch !== undefined) {
    values[":ifEpoch"] = change.ifEpoch;
    conditions.push("epoch = :ifEpoch");
  }
  if (change.ifLeasedUntilMs === null) conditions.push("attribute_not_exists(leasedUntilMs)");
  else if (change.ifLeasedUntilMs !== undefined) {
    values[":ifLease"] = change.ifLeasedUntilMs;
    conditions.push("leasedUntilMs = :ifLease");
  }
  return {
    UpdateExpression: [
      sets.length > 0 ? `SET ${sets.join(", ")}` : "",
      removes.length > 0 ? `REMOVE ${removes.join(", ")}` : "",
    ]
      .join(" ")
      .trim(),
    ConditionExpression: conditions.join(" AND "),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: toWire(values),
  };
}
