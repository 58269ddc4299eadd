import type { Context, SQSRecord } from "aws-lambda";
import type { CallbackClient } from "#shared/adapters/callback-client.js";
import type {
  DeliveredResult,
  DeliverStoreMethod,
  FinishWrite,
  TaskStore,
} from "#shared/adapters/task-store.js";
import type { TopicQueue } from "#shared/adapters/topic-queue.js";
import { VISIBILITY_CHANGE_WAIT_MS } from "#shared/adapters/visibility.js";
import type { TopicConfig } from "#shared/config/index.js";
import type { OccurrenceStop } from "#shared/domain/occurrence-hold.js";
import type { TaskRecord } from "#shared/domain/task.js";
import type { ServiceLogger } from "#shared/runtime/observability.js";
import type { CallbackSigner } from "#shared/security/signing.js";
import type { Admission, DestinationCache } from "./destination-gate.js";

/** The deliver use case's ports and settings, and the working state one batch passes between its steps. */

/** What the deliver function knows about the FIFO queue a record came from (its topology delivery + config). */
export interface DeliverBinding {
  readonly topic: TopicConfig;
  readonly queueUrl: string;
  readonly dlqUrl: string;
  /**
   * The queue's redrive `maxReceiveCount` as deployed (`topicMaxReceiveCount` of the deployed topic): a runtime
   * document that lowers `maxAttempts` changes no queue. Absent: computed from `topic`.
   */
  readonly maxReceiveCount?: number;
  /**
   * The queue's visibility timeout as deployed (`topicQueueVisibilitySeconds` of the deployed topic): how long before
   * the invocation a later receive of its records may have been (`secondsLeftOfReceipt`). Absent: computed from
   * `topic`.
   */
  readonly queueVisibilitySeconds?: number;
}

export interface DeliveryMetricsSink {
  /**
   * `latenessMs` is undefined for a replay's delivery: late by however long the task was dead-lettered, it says
   * nothing of the pipeline's punctuality, and counted it paged the topic's p99 lateness alarm after a replay.
   */
  delivered(topic: string, latenessMs: number | undefined, callbackLatencyMs: number): void;
  /** `callbackLatencyMs` is undefined when the request never got an answer or a timeout (refused, reset…). */
  attemptFailed(topic: string, callbackLatencyMs: number | undefined): void;
  deadLettered(topic: string): void;
  /** A destination host's circuit opened (from closed) / closed again (after a probe's success or a reset). */
  circuitOpened(topic: string): void;
  circuitClosed(topic: string): void;
  /** Called once at the end of every batch. */
  flush(): void;
}

export interface DeliverDeps {
  readonly store: Pick<TaskStore, DeliverStoreMethod>;
  readonly topicQueue: Pick<TopicQueue, "sendToDeadLetter" | "setVisibility">;
  /** The binding for a record's `eventSourceARN`, or undefined for a queue this function does not serve. */
  readonly bindingFor: (eventSourceArn: string) => DeliverBinding | undefined;
  /** The (cached, keep-alive) callback client for a topic: its SSRF policy depends on the topic's allow-list. */
  readonly callbackClientFor: (topic: TopicConfig) => CallbackClient;
  readonly signer: (topic: string) => Promise<CallbackSigner>;
  readonly metrics: DeliveryMetricsSink;
  readonly logger: ServiceLogger;
  readonly clock?: () => number;
  readonly random?: () => number;
  /**
   * Time kept free after a callback's timeout for recording the outcome, dead-lettering and setting
   * visibilities. A record is not started when less than `callbackTimeout + safetyMargin` remains.
   */
  readonly safetyMarginMs?: number;
  /**
   * How many message groups of a batch are delivered side by side (each group's records always in order, a
   * group's first failure failing the rest of that group). 1 (the default): one group after another. The
   * deployed function uses the batch size, so a batch costs about one callback's time instead of one per record.
   */
  readonly groupConcurrency?: number;
  /**
   * How long past a record's callback timeout the group runner waits for that record's step (its DynamoDB/SQS
   * bookkeeping included) before it stops waiting and fails the rest of the group. A backstop: the callback
   * client settles every attempt by its deadline, so this fires only if something else hangs.
   */
  readonly watchdogMarginMs?: number;
  /**
   * The container's cache of destination state (circuit breaker), kept across batches so a host's item is read
   * at most once per DESTINATION_CACHE_MS per container. Default: a cache per batch.
   */
  readonly destinationCache?: DestinationCache;
  /**
   * How long a runtime topic settings change takes to reach every function (`settingsPropagationSeconds`): a task
   * accepted more recently than that and refused by policy waits (its attempt given back) instead of being
   * dead-lettered, since the add that accepted it may have read newer settings than this container. Default 0.
   */
  readonly settingsSettleMs?: number;
  /**
   * How long a follower started up front (a record behind others of its group in the batch) may have waited for
   * its turn before its task is read again, strongly consistent, ahead of its callback: a cancel requested while it
   * waited then ends it `cancelled` without a call (cancel-while-waiting.ts). One read per follower that waited this
   * long; none for a group's first record or a quicker follower. Default `DEFAULT_CANCEL_CHECK_AFTER_MS`.
   */
  readonly cancelCheckAfterMs?: number;
}

export const DEFAULT_SAFETY_MARGIN_MS = 1_000;
export const DEFAULT_CANCEL_CHECK_AFTER_MS = 1_000;
export const DEFAULT_WATCHDOG_MARGIN_MS = 2_000;

/** Why a record failed, which decides the visibility its whole group gets. */
export type GroupOutcome =
  | { readonly kind: "backoff"; readonly seconds: number }
  /** A failure nothing more specific explains (DynamoDB, SQS, the signer, a hung step): no attempt was counted. */
  | { readonly kind: "retry"; readonly seconds: number }
  /** Time guard: retry as soon as possible, no attempt was counted. */
  | { readonly kind: "immediate" }
  /** Not due yet (never deliver early): hide until due. */
  | { readonly kind: "until-due"; readonly seconds: number }
  /** Its destination cannot take it now (circuit open, no rate token or lease): no attempt was counted. */
  | { readonly kind: "wait"; readonly seconds: number };

/** A record failed for a reason already logged and recorded in the batch's outcomes. */
export class RecordFailedError extends Error {
  override readonly name = "RecordFailedError";
}

/**
 * Stops a step the watchdog gave up on (see `RecordScope.signal`) before a thing it cannot take back (a lease, a
 * start, a callback, an outcome): the redelivery of its records does that instead, so doing it here would run beside
 * it — a second attempt counted, a callback sent after a later task's, an outcome written over the redelivery's.
 * Nothing more is logged: the give-up was (onOverdue).
 */
export function stopIfGivenUp(scope: RecordScope): void {
  if (scope.signal?.aborted) throw new RecordFailedError("given up");
}

/** A task whose attempt was counted (`startAttempt` succeeded), ready for its callback. */
export interface StartedAttempt {
  readonly started: TaskRecord;
  readonly signer: CallbackSigner;
  readonly startedAt: number;
  /** What its destination granted (protected topics only): the host, a lease to release, whether it probes. */
  readonly admission?: Admission;
  /** The task as read before this start, when known: what a start no callback uses is given back to. */
  readonly read?: TaskRecord;
}

/** One record's place in the batch: the queue it came from and its ordering group. */
export interface RecordScope {
  readonly binding: DeliverBinding;
  /** The record's SQS message id (its finishing write, when deferred, decides whether it is acknowledged). */
  readonly messageId?: string;
  /** The group key (`groupKey`): its outcome decides the visibility of all its failed records. */
  readonly group: string;
  /**
   * Aborted when the group runner's watchdog gives the record's step up (its group already handed back to the
   * queue): checked before each thing the step cannot take back, and taken by the step's AWS calls — the scope is
   * their `AbortOptions` (it has the one field they read, `signal`: no per-call options object is built).
   */
  readonly signal?: AbortSignal;
}

/** What every step of one batch shares: the ports, the settings resolved once, and each group's outcome. */
export interface BatchContext {
  readonly deps: DeliverDeps;
  readonly clock: () => number;
  readonly random: () => number;
  readonly safetyMarginMs: number;
  readonly lambda: Pick<Context, "getRemainingTimeInMillis">;
  /** Group key → why its first failed record failed. */
  readonly outcomes: Map<string, GroupOutcome>;
  readonly destinations: DestinationCache;
  /** What the batch start (up-front.ts) decided per record (message id); taken at the record's turn. */
  readonly prepared: Map<string, PreparedRecord>;
  /** Deliver's deferred finishing writes and give-backs, written in one call at the batch's end (up-front.ts). */
  readonly finishing: BatchFinish;
  /** Task ids carried by more than one record of the batch: their writes are never deferred. */
  readonly repeatedTaskIds: ReadonlySet<string>;
}

/** A delivered record whose `delivered` write waits for the batch's finishing call. */
export interface PendingDelivered {
  readonly messageId: string;
  readonly group: string;
  readonly topic: TopicConfig;
  readonly taskId: string;
  readonly attemptSeq: number;
  readonly attempt: number;
  readonly status: number | undefined;
  readonly result: DeliveredResult;
  /** A replay's delivery: its lateness is not a metric (DeliveryMetricsSink.delivered). */
  readonly replayed?: boolean;
  /** The attempt log as the start left it (the entry is written into it). */
  readonly attemptLog?: TaskRecord["attemptLog"];
}

/** The batch's finishing writes; once `closed`, a late step (past the watchdog) writes on its own. */
export interface BatchFinish {
  closed: boolean;
  readonly delivered: PendingDelivered[];
  readonly giveBacks: Extract<FinishWrite, { kind: "giveBack" }>[];
  /** Task ids whose give-back is of a start that may not have been written (its answer lost): refused, none lost. */
  readonly uncertain: Set<string>;
}

/** The batch start's decision for one record, from one read of all the batch's tasks. */
export type PreparedRecord =
  /** Missing or already final: the message is dropped (logged when decided). */
  | { readonly kind: "drop" }
  /** An occurrence whose schedule the batch read found stopped: cancelled at its turn (held-occurrence.ts). */
  | { readonly kind: "stopped"; readonly task: TaskRecord; readonly stop: OccurrenceStop }
  /** `delivering` with its attempts used up: dead-lettered without calling the receiver. */
  | { readonly kind: "exhausted"; readonly task: TaskRecord }
  /** Started by the batch's start write: `started` is the task as that write left it. */
  | {
      readonly kind: "started";
      readonly read: TaskRecord;
      readonly started: TaskRecord;
      readonly signer: CallbackSigner;
      /** Behind an earlier record of its group in the batch: it waits for that one's step before its callback. */
      readonly follower?: boolean;
    }
  /**
   * The start write was refused or its answer lost: the read path at the record's turn, which recognises
   * `expected` (the start as it would have left the task) as this batch's own start.
   */
  | {
      readonly kind: "readPath";
      readonly read: TaskRecord;
      readonly expected: TaskRecord;
      /** The start's answer was lost (not refused): it may be written, so it is given back if never used. */
      readonly maybeWritten: boolean;
    };

/** Whether a callback of `timeoutMs` started now still leaves the safety margin before the invocation ends. */
export function timeLeftFor(ctx: BatchContext, timeoutMs: number): boolean {
  return ctx.lambda.getRemainingTimeInMillis() >= timeoutMs + ctx.safetyMarginMs;
}

/** What a wait may use of the invocation: half the safety margin stays free for the visibilities and metrics. */
export function invocationLeftMs(ctx: BatchContext): number {
  return Math.max(0, ctx.lambda.getRemainingTimeInMillis() - ctx.safetyMarginMs / 2);
}

/**
 * The longest the batch's visibility changes are waited for (`VISIBILITY_CHANGE_WAIT_MS`). Every record is done by
 * then, and the acknowledged ones (and, FIFO, their groups' next messages) wait for the batch's answer.
 */
export const VISIBILITY_WAIT_MS = VISIBILITY_CHANGE_WAIT_MS;

/**
 * What the batch's visibility changes may use of the invocation: `VISIBILITY_WAIT_MS`, and at most all but a quarter
 * of the safety margin, kept for answering the batch (the waits before them leave half of it: `invocationLeftMs`).
 */
export function visibilityLeftMs(ctx: BatchContext): number {
  return Math.min(
    VISIBILITY_WAIT_MS,
    Math.max(0, ctx.lambda.getRemainingTimeInMillis() - ctx.safetyMarginMs / 4),
  );
}

/** When the message reached the FIFO queue (its SentTimestamp): recorded as the task's `queuedAtMs` at its start. */
export function handOverTime(record: SQSRecord): number | undefined {
  const sentAt = Number(record.attributes?.SentTimestamp);
  return Number.isFinite(sentAt) && sentAt > 0 ? sentAt : undefined;
}

/** Message groups the deployed deliver function runs side by side: its mapping's largest batch (FIFO: 10). */
export const DEPLOYED_GROUP_CONCURRENCY = 10;

/**
 * libuv threads the deployed deliver function asks for (UV_THREADPOOL_SIZE). The callback client resolves hosts
 * with `dns.lookup`, which runs on libuv's thread pool (4 threads by default) and is bounded only by the system
 * resolver's own timeout, not by our deadline: a receiver whose DNS never answers would hold threads past its
 * attempt and queue the lookups of the other groups of the batch behind it. One thread per group side by side,
 * plus libuv's default four for what else uses the pool (fs, zlib, async crypto); the callback client starts no
 * second lookup of a name whose lookup still runs, so a hung name holds one thread across attempts and invocations.
 */
export const DEPLOYED_THREAD_POOL_SIZE = DEPLOYED_GROUP_CONCURRENCY + 4;
