import type { CallbackResult } from "#shared/adapters/callback-client.js";
import type { AbortOptions } from "#shared/adapters/task-store.js";
import type { TopicConfig } from "#shared/config/index.js";
import { type AttemptLogEntry, deadLettersAtOnce } from "#shared/domain/attempt-log.js";
import { backoffSeconds } from "#shared/domain/backoff.js";
import { hostFailed, parseRetryAfter, retryAfterWait, waitSeconds } from "#shared/domain/destination.js";
import { finishedExpiry, type TaskRecord } from "#shared/domain/task.js";
import { visible } from "#shared/domain/visible-text.js";
import { deadLetterTask } from "../dead-letter.js";
import { nextProbeSeconds, protectsDestinations } from "./destination-gate.js";
import {
  type BatchContext,
  type DeliverBinding,
  RecordFailedError,
  type RecordScope,
  type StartedAttempt,
  stopIfGivenUp,
} from "./types.js";

/** What an attempt's answer leads to: delivered, retried after a backoff, or dead-lettered. */

/**
 * A 2xx: the task is delivered, with its lateness and the callback's latency. On an unprotected topic the write
 * waits for the batch's finishing call (up-front.ts), which decides whether the record is acknowledged; a protected
 * topic, a task carried by two records of the batch, or a step finishing after that call writes at once.
 */
export async function recordDelivered(
  ctx: BatchContext,
  scope: RecordScope,
  { started, startedAt }: StartedAttempt,
  result: CallbackResult,
): Promise<void> {
  const { topic } = scope.binding;
  const finishedAt = ctx.clock();
  const latenessMs = Math.max(0, startedAt - started.dueAtMs);
  const delivered = {
    atMs: finishedAt,
    latenessMs,
    deliveryLatencyMs: result.durationMs,
    expiresAt: finishedExpiry(started, finishedAt, topic.retentionDays),
    attempt: logEntry(started, startedAt, result),
  };
  if (deferrable(ctx, scope, started) && scope.messageId && started.attemptSeq !== undefined) {
    ctx.finishing.delivered.push({
      messageId: scope.messageId,
      group: scope.group,
      topic,
      taskId: started.taskId,
      attemptSeq: started.attemptSeq,
      attempt: started.attempts,
      status: result.status,
      ...(started.attemptLog !== undefined && { attemptLog: started.attemptLog }),
      ...(started.replays ? { replayed: true } : {}),
      result: {
        atMs: delivered.atMs,
        latenessMs,
        deliveryLatencyMs: delivered.deliveryLatencyMs,
        expiresAt: delivered.expiresAt,
        // No log to write into (an attempt started before the log existed): the entry is left out, as before.
        ...(started.attemptLog !== undefined && { attempt: delivered.attempt }),
        // Started up front behind others of its group: the callback's real start, not the batch's.
        ...(started.lastAttemptAtMs !== startedAt && { lastAttemptAtMs: startedAt }),
      },
    });
    return;
  }
  if (!(await ctx.deps.store.markDelivered(started.taskId, inAttempt(started, delivered), scope))) {
    return notRecorded(ctx, scope, started, "delivered");
  }
  ctx.deps.metrics.delivered(topic.name, started.replays ? undefined : latenessMs, result.durationMs);
  ctx.deps.logger.debug("delivered", {
    taskId: started.taskId,
    attempt: started.attempts,
    status: result.status,
    latenessMs,
    durationMs: result.durationMs,
  });
}

/** Whether a `delivered` write may wait for the batch's finishing call. */
function deferrable(ctx: BatchContext, scope: RecordScope, started: TaskRecord): boolean {
  return (
    !ctx.finishing.closed &&
    !protectsDestinations(scope.binding.topic) &&
    !ctx.repeatedTaskIds.has(started.taskId)
  );
}

/**
 * A failed attempt is recorded, then: a destination refused for good or the last attempt → dead-lettered (the record
 * succeeds); otherwise the group is retried after the attempt's backoff step (the record fails).
 */
export async function recordFailedAttempt(
  ctx: BatchContext,
  scope: RecordScope,
  { started, startedAt, admission }: StartedAttempt,
  result: CallbackResult,
): Promise<void> {
  const { binding, group } = scope;
  const { topic } = binding;
  const attempt = started.attempts;
  const error = result.error ?? "callback failed";
  // A circuit breaker's failed probe gives its attempt back (same write): a host's outage costs no attempts. So
  // does a refusal this container's settings may be too old to make (settlingRefusal).
  const settling = settlingRefusal(ctx, started, result);
  const refund = (admission?.probe === true && hostFailed(result) === true) || settling;
  const atMs = ctx.clock();
  const backoff = refund ? undefined : backoffAhead(ctx, topic, started, result);
  const failure = {
    error,
    atMs,
    attempt: logEntry(started, startedAt, result),
    ...(refund && { refund }),
    ...(backoff && { retryNotBeforeMs: atMs + backoff.seconds * 1000 }),
  };
  const recorded = await ctx.deps.store.recordAttemptFailure(
    started.taskId,
    inAttempt(started, failure),
    scope,
  );
  if (!recorded) return notRecorded(ctx, scope, started, "failed");
  // Given up while the failure was recorded: the redelivery decides from it (attempts used up: it dead-letters).
  stopIfGivenUp(scope);
  // Not counted as a failed attempt: it would count towards the alarm that rolls back the settings deployment
  // whose rollout it waits for. Nor waited for when its cancel ended it (cancelledInFlight).
  if (settling && recorded === "cancelled") return cancelledInFlight(ctx, started, error);
  if (settling) waitForSettings(ctx, group, started);
  // Callback latency counts answers and timeouts; a refused or reset connection says nothing about it.
  const answered = result.status !== undefined || error.startsWith("timeout");
  ctx.deps.metrics.attemptFailed(topic.name, answered ? result.durationMs : undefined);
  if (recorded === "cancelled") return cancelledInFlight(ctx, started, error);
  if (result.refused && logRefusal(ctx, started, result, error))
    return deadLetter(ctx, binding, started, error);
  if (refund) waitForNextProbe(ctx, group, topic, started, result);
  if (attempt >= topic.maxAttempts || !backoff) return deadLetter(ctx, binding, started, error);
  retryAfterBackoff(ctx, group, topic, started, result, backoff);
}

/**
 * The wait before the next attempt when the failure leads to one (not the last attempt, nor a refusal that
 * dead-letters at once), decided before the failure is written: its end rides in that write
 * (`TaskRecord.retryNotBeforeMs`), so a record SQS hands back before it — a wait longer than what is left of a later
 * receive's 12 hours is cut to that (visibility.ts) — is hidden again for the rest instead of attempted early
 * (attempt.ts). A refunded attempt's wait is not recorded: a failed probe's is its circuit's (`nextProbeAtMs`, which
 * the destination gate holds every delivery to), a refusal's while settings settle costs no promise to a receiver.
 */
function backoffAhead(
  ctx: BatchContext,
  topic: TopicConfig,
  started: TaskRecord,
  result: CallbackResult,
): { seconds: number; retryAfter?: number } | undefined {
  if (started.attempts >= topic.maxAttempts) return undefined;
  if (result.refused && deadLettersAtOnce(result.error ?? "callback failed")) return undefined;
  return failedAttemptWait(ctx, topic, started, result);
}

/**
 * Logs a refusal by policy, with what the host resolved to (the log only: the stored error is readable by the
 * caller), and tells whether it dead-letters the task now. The SSRF / URL policy's verdict on a URL, an address
 * literal or the allow-list cannot change on a retry, so no attempt is wasted on it; a name that resolved to
 * refused addresses only is retried like any failed attempt (`deadLettersAtOnce`).
 */
function logRefusal(ctx: BatchContext, started: TaskRecord, result: CallbackResult, error: string): boolean {
  const atOnce = deadLettersAtOnce(error);
  const message = atOnce
    ? "destination refused by policy; dead-lettered without retrying"
    : "destination's name resolves to refused addresses only; retried after its backoff step";
  ctx.deps.logger.warn(message, {
    taskId: started.taskId,
    attempt: started.attempts,
    error,
    ...(result.detail && { detail: result.detail }),
  });
  return atOnce;
}

/**
 * A refusal by policy of a task accepted less than the settings' propagation time ago (`settingsSettleMs`): the
 * add that accepted it may have read a newer document than this container holds (an allow-list widened at
 * runtime reaches functions over a rollout and a cache), so its refusal may be stale. Dead-lettering it would
 * lose a task the API accepted under the current settings. A replay counts from its own time: a dead letter refused
 * by policy is replayed once the allow-list has been widened, and failed again at once by a container still on
 * the previous settings, the operator's replay was lost.
 */
function settlingRefusal(ctx: BatchContext, started: TaskRecord, result: CallbackResult): boolean {
  const settleMs = ctx.deps.settingsSettleMs ?? 0;
  return result.refused === true && ctx.clock() - settlesFrom(started) < settleMs;
}

/** When the settings a task was last put forward under were read: its acceptance, or its latest replay. */
function settlesFrom(task: TaskRecord): number {
  return Math.max(task.acceptedAtMs, task.replayedAtMs ?? 0);
}

/**
 * The group waits, its attempt given back, until every function holds settings at least as new as the ones the
 * task was accepted under; a refusal then is the current settings' and dead-letters it as always.
 */
function waitForSettings(ctx: BatchContext, group: string, started: TaskRecord): never {
  const settleMs = ctx.deps.settingsSettleMs ?? 0;
  const seconds = waitSeconds(settlesFrom(started) + settleMs - ctx.clock());
  ctx.outcomes.set(group, { kind: "wait", seconds });
  ctx.deps.logger.info(
    "destination refused by policy for a task accepted or replayed moments ago; the attempt is given back and the group waits until every function has the current topic settings",
    { taskId: started.taskId, waitSeconds: seconds },
  );
  throw new RecordFailedError("refused while topic settings propagate");
}

/** The circuit stays open after a failed probe: the group waits for the next probe, its attempt given back. */
function waitForNextProbe(
  ctx: BatchContext,
  group: string,
  topic: TopicConfig,
  started: TaskRecord,
  result: CallbackResult,
): never {
  const seconds = nextProbeSeconds(topic, result, ctx.clock());
  ctx.outcomes.set(group, { kind: "wait", seconds });
  ctx.deps.logger.info("probe failed; the attempt is given back and the group waits for the next probe", {
    taskId: started.taskId,
    cooldownSeconds: seconds,
  });
  throw new RecordFailedError("circuit probe failed");
}

/**
 * An outcome write for `started`'s attempt: the store writes it only while the task is still in that attempt, and
 * a refund sets the attempt's own count less one (a resend of the write refunds once).
 */
function inAttempt<T extends object>(
  started: TaskRecord,
  write: T,
): T & { attemptSeq?: number; attempts?: number } {
  return started.attemptSeq === undefined
    ? write
    : { ...write, attemptSeq: started.attemptSeq, attempts: started.attempts };
}

/**
 * The outcome's write was refused: the task is no longer in this attempt. In practice a step the watchdog gave up
 * on, whose write (sent before the give-up) landed after the redelivery began the next attempt: written, it would
 * mark the task delivered under that attempt, or put this attempt's failure (error, refund) on it. The attempt that
 * holds the task records its own outcome, so nothing is written, counted or retried here (an error would bring the
 * record back for yet another attempt); it is logged, and a given-up step stops as it does elsewhere.
 */
function notRecorded(
  ctx: BatchContext,
  scope: RecordScope,
  started: TaskRecord,
  outcome: "delivered" | "failed",
): void {
  ctx.deps.logger.warn("attempt outcome not recorded: the task is no longer in that attempt", {
    taskId: started.taskId,
    attemptSeq: started.attemptSeq,
    outcome,
  });
  stopIfGivenUp(scope);
}

/**
 * An operator cancelled the task while this attempt's callback was in flight (TaskRecord.cancelRequestedAtMs): its
 * failure ended the task `cancelled` (the store's write), so no retry is scheduled and nothing is dead-lettered — the
 * record succeeds and its message is consumed. The failed call is counted as any (the receiver's failure).
 */
function cancelledInFlight(ctx: BatchContext, started: TaskRecord, error: string): void {
  ctx.deps.logger.info(
    "callback failed after its task's cancel was requested; the task is cancelled, not retried",
    {
      taskId: started.taskId,
      attempt: started.attempts,
      error,
    },
  );
}

/**
 * A start no callback used, ended as an attempt that made no call: its count given back (set to one less than it
 * counted, only while the task is still in that start: `attemptSeq`) and its log entry written with `reason` (no
 * status: nothing was sent) — `reason` is the task's error too unless it has one. A task carrying a cancel request
 * is ended `cancelled` by the same call, as a failed attempt's is (`"cancelled"`). With `restore`, the task is also
 * given back the status the start came from (a read-free start's: `AttemptFailure.restore`).
 */
export function refundStart(
  ctx: BatchContext,
  started: TaskRecord,
  startedAt: number,
  reason: string,
  options?: AbortOptions & { readonly restore?: boolean },
): Promise<boolean | "cancelled"> {
  const atMs = ctx.clock();
  const entry = { seq: started.attemptSeq ?? started.attempts, startedAtMs: startedAt };
  const failure = {
    error: started.lastError ?? reason,
    atMs,
    attempt: { ...entry, durationMs: Math.max(0, atMs - startedAt), error: reason },
    refund: true,
    ...(options?.restore && { restore: true }),
  };
  return ctx.deps.store.recordAttemptFailure(started.taskId, inAttempt(started, failure), options);
}

/** The attempt's attempt-log entry (shared/domain/attempt-log.ts), written with its outcome. */
function logEntry(started: TaskRecord, startedAt: number, result: CallbackResult): AttemptLogEntry {
  return {
    seq: started.attemptSeq ?? started.attempts,
    startedAtMs: startedAt,
    durationMs: Math.round(result.durationMs),
    ...(result.status !== undefined ? { status: result.status } : {}),
    ...(!result.ok ? { error: result.error ?? "callback failed" } : {}),
  };
}

function retryAfterBackoff(
  ctx: BatchContext,
  group: string,
  topic: TopicConfig,
  started: TaskRecord,
  result: CallbackResult,
  { seconds, retryAfter }: { seconds: number; retryAfter?: number },
): never {
  const error = result.error ?? "callback failed";
  ctx.outcomes.set(group, { kind: "backoff", seconds });
  ctx.deps.logger.info("callback failed; retrying after backoff", {
    taskId: started.taskId,
    attempt: started.attempts,
    maxAttempts: topic.maxAttempts,
    status: result.status,
    error,
    durationMs: result.durationMs,
    backoffSeconds: seconds,
    ...askedRetryAfter(retryAfter, result.retryAfter),
  });
  throw new RecordFailedError(error);
}

/** How much of a `Retry-After` no number holds the log line shows. */
const LOGGED_RETRY_AFTER_CHARACTERS = 16;

/**
 * The delay a `Retry-After` asked for, for the retry's log line beside the wait it got (`backoffSeconds`, capped):
 * in seconds, as asked. A value of more digits than a double holds (a hostile receiver's) parses to Infinity, which
 * a JSON log line writes as `null`, as if nothing had been asked; for it the header's first characters, shown as
 * `visible` shows any text a receiver sent (only digits get here today), and its length.
 */
function askedRetryAfter(
  seconds: number | undefined,
  header: string | undefined,
): { retryAfterSeconds: number } | { retryAfter: string } | undefined {
  if (seconds === undefined) return undefined;
  if (Number.isFinite(seconds) || header === undefined) return { retryAfterSeconds: seconds };
  const text = header.trim();
  const shown = visible(text.slice(0, LOGGED_RETRY_AFTER_CHARACTERS));
  return {
    retryAfter: `${shown}${text.length > LOGGED_RETRY_AFTER_CHARACTERS ? "…" : ""} (${text.length} characters)`,
  };
}

/**
 * How long a failed attempt's group waits: a 429/503 with Retry-After, the receiver's own delay (capped, never below
 * the step it replaces) in place of the backoff step. The attempt counts (the receiver was called; maxAttempts bounds
 * the requests a task makes), see docs/RELIABILITY.md.
 */
export function failedAttemptWait(
  ctx: BatchContext,
  topic: TopicConfig,
  started: TaskRecord,
  result: CallbackResult,
): { seconds: number; retryAfter?: number } {
  const retryAfter = parseRetryAfter(result.retryAfter, ctx.clock());
  const step = () => backoffSeconds(started.attempts, topic.backoff, ctx.random);
  if (retryAfter === undefined) return { seconds: step() };
  return { seconds: retryAfterWait(retryAfter, topic.retryAfterCapSeconds, step), retryAfter };
}

/** The task goes to its topic's DLQ and is recorded `failed` (see deadLetterTask for the order). */
export async function deadLetter(
  ctx: BatchContext,
  binding: DeliverBinding,
  task: TaskRecord,
  reason: string,
): Promise<void> {
  const written = await deadLetterTask(
    ctx.deps,
    { dlqUrl: binding.dlqUrl, retentionDays: binding.topic.retentionDays },
    task,
    reason,
    ctx.clock,
  );
  // Already failed (the sweeper or another record finished it), or a redelivery began the next attempt, which
  // records its own outcome: the message sent stays (the sweeper's DLQ pass removes it if the task does not fail).
  if (!written) {
    ctx.deps.logger.warn(
      "dead-lettered, `failed` not written: the task is already final or in a later attempt",
      {
        taskId: task.taskId,
        attemptSeq: task.attemptSeq,
      },
    );
    return;
  }
  ctx.deps.metrics.deadLettered(binding.topic.name);
  ctx.deps.logger.warn("task dead-lettered", { taskId: task.taskId, attempts: task.attempts, error: reason });
}

/**
 * For a failure nothing more specific explains (DynamoDB, SQS, a hung step): the group is retried after the
 * topic's first backoff step, unless an earlier failure of the group already decided. No attempt was used, so the
 * step is stretched once the group's messages near the queue's receive backstop (visibility.ts).
 */
export function retryGroupAfterFirstStep(ctx: BatchContext, group: string, topic: TopicConfig): void {
  if (!ctx.outcomes.has(group)) {
    ctx.outcomes.set(group, { kind: "retry", seconds: backoffSeconds(1, topic.backoff, ctx.random) });
  }
}
