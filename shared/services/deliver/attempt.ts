import type { SQSRecord } from "aws-lambda";
import type { CallbackResult } from "#shared/adapters/callback-client.js";
import { startedTask } from "#shared/adapters/task-store.js";
import { attemptsUsedUp } from "#shared/domain/attempt-log.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { parseTaskMessage, type TaskMessage } from "#shared/domain/messages.js";
import { retryWaitLeftMs } from "#shared/domain/retry-wait.js";
import { type TaskRecord, TERMINAL_STATUSES } from "#shared/domain/task.js";
import type { CallbackSigner } from "#shared/security/signing.js";
import { callbackRequest } from "./callback-request.js";
import { cancelledWhileWaiting, endedWhileWaiting } from "./cancel-while-waiting.js";
import {
  type Admission,
  admissionCovers,
  admitToDestination,
  noteDestinationOutcome,
  protectsDestinations,
  releaseAdmission,
  releaseProbe,
  withdrawAdmission,
} from "./destination-gate.js";
import { cancelHeldOccurrence, heldOccurrenceStop } from "./held-occurrence.js";
import {
  deadLetter,
  failedAttemptWait,
  recordDelivered,
  recordFailedAttempt,
  refundStart,
} from "./outcome.js";
import {
  type BatchContext,
  handOverTime,
  type PreparedRecord,
  RecordFailedError,
  type RecordScope,
  type StartedAttempt,
  stopIfGivenUp,
  timeLeftFor,
} from "./types.js";
import { claimStarted, droppedAsFanOutParent, giveBack, takePrepared, warnLostGiveBack } from "./up-front.js";

/**
 * One record: its task's attempt is started (the fast path, else the read path), its callback made and the
 * outcome recorded. Returns normally when the record is done with (delivered, dead-lettered or dropped);
 * throws when it must come back (RecordFailedError, its group's outcome set) or something failed unexpectedly.
 */
export async function deliverRecord(ctx: BatchContext, record: SQSRecord, scope: RecordScope): Promise<void> {
  const message = parseTaskMessage(record.body);
  if (!message) {
    ctx.deps.logger.error("dropping topic message: not a task message", { messageId: record.messageId });
    return;
  }
  // Only a message sent by hand names another topic's task: delivered here, it would be signed with this topic's
  // key and held to its limits. Its task has its own message on its own queue (or the sweeper's repair).
  const owner = parseTaskId(message.taskId)?.topic;
  if (owner !== undefined && owner !== scope.binding.topic.name) {
    ctx.deps.logger.error("dropping topic message: its task belongs to another topic", {
      messageId: record.messageId,
      taskId: message.taskId,
      topic: scope.binding.topic.name,
    });
    return;
  }
  const timeoutMs = scope.binding.topic.callbackTimeoutSeconds * 1000;
  const handedOver = handOverTime(record);
  const prepared = takePrepared(ctx, record.messageId);
  if (prepared?.kind === "drop") return;
  if (prepared?.kind === "stopped") {
    // The batch read found its schedule stopped: cancelled now; refused (an attempt under way), read again.
    if (await cancelHeldOccurrence(ctx, scope.binding.topic, prepared.task, prepared.stop)) return;
  }
  if (prepared?.kind === "exhausted") {
    await deadLetter(ctx, scope.binding, prepared.task, prepared.task.lastError ?? "attempts exhausted");
    return;
  }
  const attempt =
    prepared?.kind === "started"
      ? claimStarted(ctx, scope.group, prepared, timeoutMs)
      : prepared?.kind === "readPath"
        ? await startAfterReading(ctx, message.taskId, scope, timeoutMs, handedOver, prepared)
        : await startPerRecord(ctx, message, scope, timeoutMs, handedOver);
  if (!attempt) return;
  // Started up front, it may have waited behind its group's earlier callbacks: a cancel requested meanwhile stops it.
  // A start made here (per record) is followed by its callback at once, and refuses a task carrying a request.
  if (prepared?.kind === "started" && (await cancelledWhileWaiting(ctx, scope, prepared, attempt))) return;
  await attemptCallback(ctx, scope, attempt, timeoutMs);
}

/** The per-record start: the fast path, else the read path (or the read path at once: `readsFirst`). */
async function startPerRecord(
  ctx: BatchContext,
  message: TaskMessage,
  scope: RecordScope,
  timeoutMs: number,
  handedOverAtMs: number | undefined,
): Promise<StartedAttempt | undefined> {
  const { taskId } = message;
  return (
    (readsFirst(scope, message)
      ? undefined
      : await startWithoutReading(ctx, taskId, scope, timeoutMs, handedOverAtMs)) ??
    (await startAfterReading(ctx, taskId, scope, timeoutMs, handedOverAtMs))
  );
}

/**
 * Whether the record skips the start without a read. A protected topic must know the task's host before its
 * attempt is counted. An occurrence's message says so (its `scheduleId`, messages.ts): that start would be refused
 * (`attribute_not_exists(scheduleId)`, its schedule must be read first), its write unit spent for nothing. A message
 * wrong either way is still delivered as its task says: the read path decides from the item, and a plain task's
 * message without the field keeps the fast path (an occurrence's without it, from before, is refused there as ever).
 */
function readsFirst(scope: RecordScope, message: TaskMessage): boolean {
  return protectsDestinations(scope.binding.topic) || message.scheduleId !== undefined;
}

/**
 * The common case in one DynamoDB call instead of two: the task id carries the due time, so a task that is due,
 * with time left for its callback and a signer at hand, is started by a single conditional write that also
 * refuses final and exhausted tasks. Undefined whenever anything is unusual (not due, no time, no signer,
 * the write refused): the caller then reads the task and decides exactly as it always did.
 */
async function startWithoutReading(
  ctx: BatchContext,
  taskId: string,
  scope: RecordScope,
  timeoutMs: number,
  handedOverAtMs: number | undefined,
): Promise<StartedAttempt | undefined> {
  const { topic } = scope.binding;
  const key = parseTaskId(taskId);
  if (!key || key.dueAtMs > ctx.clock()) return undefined;
  let signer: CallbackSigner;
  try {
    signer = await ctx.deps.signer(topic.name);
  } catch {
    return undefined;
  }
  // After the signer, which may wait for its secret's re-read: the time left is what the callback would have.
  if (!timeLeftFor(ctx, timeoutMs)) return undefined;
  stopIfGivenUp(scope);
  const startedAt = ctx.clock();
  let started: TaskRecord | undefined;
  try {
    started = await ctx.deps.store.startAttempt(taskId, startedAt, topic.maxAttempts, handedOverAtMs, scope);
  } catch (error) {
    // Cut off by the watchdog's abort, or its answer lost: the start may be written all the same.
    await refundUnreadStart(ctx, taskId, startedAt);
    throw error;
  }
  return started && { started, signer, startedAt };
}

/** What a start refunded unused says: its log entry's error (and the task's, on a first attempt). */
const UNUSED_START = "attempt given back: its start went unused";

/**
 * A read-free start no callback uses (its step given up, or its call failed: written or not). There is no task as
 * read to restore, so its attempt is refunded as a failed probe's is — one less counted, set rather than subtracted,
 * only while the task is still in that start (its `attemptSeq`; the start recognised by its `lastAttemptAtMs`, read
 * once when its answer never came). A start never written, or already followed by another, changes nothing.
 * The refund logs that attempt as ended (no status: nothing was sent), in the same write: without its entry the task
 * read as having a callback in flight (awaitingRetry), and an operator's cancel was refused until another attempt
 * recorded an outcome. It is what happened — this start ends here, no call made on it.
 * The same write gives the task back the status the start found (`startedFrom`, recorded by the start's own write:
 * `scheduled`, `queued`, or `delivering` for a retry), so GET, PATCH and run-now see it as before the start; its
 * record, still on the FIFO queue, starts it again (docs/RELIABILITY.md, "An unused read-free start").
 */
async function refundUnreadStart(
  ctx: BatchContext,
  taskId: string,
  startedAt: number,
  started?: TaskRecord,
): Promise<void> {
  // A failed read leaves it unknown whether the start was written: no warning (as for a lost answer's give-back).
  const task = started ?? (await ctx.deps.store.get(taskId).catch(() => undefined));
  if (task?.status !== "delivering" || task.lastAttemptAtMs !== startedAt || task.attemptSeq === undefined)
    return;
  await refundStart(ctx, task, startedAt, UNUSED_START, { restore: true }).catch(() =>
    warnLostGiveBack(ctx, taskId),
  );
}

/**
 * The read path: the task is read and every unusual case decided — gone or final (dropped), exhausted
 * (dead-lettering finished), not due or no time left (the group comes back) — before its attempt is started.
 */
async function startAfterReading(
  ctx: BatchContext,
  taskId: string,
  scope: RecordScope,
  timeoutMs: number,
  handedOverAtMs: number | undefined,
  batchStart?: Extract<PreparedRecord, { kind: "readPath" }>,
): Promise<StartedAttempt | undefined> {
  const { deps } = ctx;
  const { topic } = scope.binding;
  const task = await readForStart(ctx, taskId, scope, batchStart);
  if (!task) {
    deps.logger.warn("task not found; message dropped", { taskId });
    return undefined;
  }
  // A parent is refused by the read-free start (and never started up front): its message is consumed here.
  if (droppedAsFanOutParent(ctx, task)) return undefined;
  if (TERMINAL_STATUSES.has(task.status)) {
    deps.logger.info("task already final; not delivered again", { taskId, status: task.status });
    return undefined;
  }
  // The batch's own start, whose answer was lost or refused on a retry of a call that had been written: it is
  // used as it is (no second attempt counted), or given back if its callback no longer fits.
  if (batchStart && isStart(task, batchStart.expected)) {
    // Read at its turn: a cancel requested while it waited is seen here, with no read more, and an occurrence's
    // schedule stopped since the batch read it (one read more: cancel-while-waiting.ts).
    const start = { read: batchStart.read, started: task };
    if (await endedWhileWaiting(ctx, scope, start, { started: task, startedAt: ctx.clock() }, task))
      return undefined;
    const signer = await signerOrGiveBack(ctx, topic.name, batchStart.read, task);
    return claimStarted(
      ctx,
      scope.group,
      { ...batchStart, kind: "started", started: task, signer },
      timeoutMs,
    );
  }
  // A read answered after the step was given up decides nothing more (the batch's own start, recognised above, is
  // given back before its callback): its group's outcome is the watchdog's.
  stopIfGivenUp(scope);
  // Attempts already used up (a crash after recording the last failure, before dead-lettering): finish the
  // dead-lettering without calling the receiver again. A last attempt with no recorded outcome gets one more call.
  if (attemptsUsedUp(task, topic.maxAttempts)) {
    await deadLetter(ctx, scope.binding, task, task.lastError ?? "attempts exhausted");
    return undefined;
  }
  refuseIfNotDue(ctx, scope.group, taskId, task.dueAtMs);
  refuseIfWaitingForRetry(ctx, scope.group, task);
  // A held occurrence whose schedule was stopped since it was made is cancelled, not called (held-occurrence.ts).
  if (await cancelledAsStopped(ctx, scope, task)) return undefined;
  refuseIfNoTimeLeft(ctx, scope.group, taskId, timeoutMs);
  // The signer first: a secret that cannot be loaded must not use up an attempt.
  const signer = await deps.signer(topic.name);
  // Again after the signer (its secret's re-read may have taken a second): no attempt is started without the time.
  refuseIfNoTimeLeft(ctx, scope.group, taskId, timeoutMs);
  // Then the destination (protected topics): a delivery it cannot take now waits, its attempt not counted.
  const admission = protectsDestinations(topic)
    ? await admitToDestination(ctx, scope, task, timeoutMs)
    : undefined;
  // A rate-limited attempt starts at its token's instant (docs/CALLBACKS.md "Protecting receivers"), after its due check.
  const startedAt = admission?.countedAtMs ?? ctx.clock();
  let started: TaskRecord | undefined;
  try {
    stopIfGivenUp(scope);
    started = await startAfterRead(ctx, task, startedAt, handedOverAtMs, scope);
  } finally {
    if (!started) await withdrawAdmission(ctx, topic, admission);
  }
  if (!started) {
    deps.logger.info("task moved on before its attempt; not delivered", { taskId });
    return undefined;
  }
  if (admission && !admissionCovers(admission, ctx.clock(), timeoutMs)) {
    return giveBackOutlived(ctx, scope, task, started, admission);
  }
  return { started, signer, startedAt, read: task, ...(admission && { admission }) };
}

/**
 * The read path's start. Should the call fail — its answer cut off by the watchdog's abort, or lost — the start may
 * be written all the same: it is given back (on condition that the task is exactly as this start left it), so no
 * attempt is counted for a callback never sent.
 */
async function startAfterRead(
  ctx: BatchContext,
  read: TaskRecord,
  startedAt: number,
  handedOverAtMs: number | undefined,
  scope: RecordScope,
): Promise<TaskRecord | undefined> {
  try {
    return await ctx.deps.store.startAttempt(read.taskId, startedAt, undefined, handedOverAtMs, scope);
  } catch (error) {
    giveBack(ctx, read, startedTask(read, startedAt, handedOverAtMs), true);
    throw error;
  }
}

/**
 * The read path's read. If it fails (an aborted read included: its step given up by the watchdog), the record comes
 * back without using the batch's own start, whose answer was lost: that start is given back, as the batch's end
 * gives back one whose record never ran (written or not: the give-back's condition tells).
 */
async function readForStart(
  ctx: BatchContext,
  taskId: string,
  scope: RecordScope,
  batchStart: Extract<PreparedRecord, { kind: "readPath" }> | undefined,
): Promise<TaskRecord | undefined> {
  try {
    return await ctx.deps.store.get(taskId, scope);
  } catch (error) {
    if (batchStart?.maybeWritten) giveBack(ctx, batchStart.read, batchStart.expected, true);
    throw error;
  }
}

/**
 * The start took longer than its destination admission's margins: no callback is sent on it (it could outlive
 * its lease or probe claim). The start is given back, and what it was admitted with; the group waits a second,
 * as for a limit.
 */
async function giveBackOutlived(
  ctx: BatchContext,
  scope: RecordScope,
  read: TaskRecord,
  started: TaskRecord,
  admission: Admission,
): Promise<never> {
  giveBack(ctx, read, started);
  await withdrawAdmission(ctx, scope.binding.topic, admission);
  ctx.outcomes.set(scope.group, { kind: "wait", seconds: 1 });
  ctx.deps.logger.warn(
    "the attempt's start outlasted its destination admission; start given back, the group waits",
    {
      taskId: started.taskId,
    },
  );
  throw new RecordFailedError("destination admission outlasted by the start");
}

/** The topic's signer for a start already written; if the secret cannot be loaded, the start is given back. */
async function signerOrGiveBack(
  ctx: BatchContext,
  topic: string,
  read: TaskRecord,
  started: TaskRecord,
): Promise<CallbackSigner> {
  try {
    return await ctx.deps.signer(topic);
  } catch (error) {
    giveBack(ctx, read, started);
    throw error;
  }
}

/** Whether `task` is exactly the start `expected` describes (same attempt, same start time). */
function isStart(task: TaskRecord, expected: TaskRecord): boolean {
  return (
    task.status === "delivering" &&
    task.attemptSeq === expected.attemptSeq &&
    task.lastAttemptAtMs === expected.lastAttemptAtMs
  );
}

/** Whether `task` is an occurrence its schedule stops, now cancelled (its record done with). */
async function cancelledAsStopped(ctx: BatchContext, scope: RecordScope, task: TaskRecord): Promise<boolean> {
  const stop = await heldOccurrenceStop(ctx, task, scope);
  if (stop === undefined) return false;
  stopIfGivenUp(scope);
  return cancelHeldOccurrence(ctx, scope.binding.topic, task, stop);
}

/** The relay never forwards early; this guards the invariant anyway (e.g. a hand-redriven message). */
function refuseIfNotDue(ctx: BatchContext, group: string, taskId: string, dueAtMs: number): void {
  const now = ctx.clock();
  if (dueAtMs <= now) return;
  ctx.outcomes.set(group, { kind: "until-due", seconds: Math.ceil((dueAtMs - now) / 1000) });
  ctx.deps.logger.warn("task not due yet; retried at its due time", { taskId });
  throw new RecordFailedError("not due yet");
}

/**
 * Never attempt before the wait the last failed attempt set (its backoff step, or the receiver's `Retry-After`):
 * SQS hands a record back early when that wait was longer than what was left of a later receive's 12 hours
 * (visibility.ts, `secondsLeftOfReceipt`). The group is hidden again for the rest, its followers behind it; that
 * rest always fits the new receipt, so a wait costs one receive more at most.
 */
function refuseIfWaitingForRetry(ctx: BatchContext, group: string, task: TaskRecord): void {
  const leftMs = retryWaitLeftMs(task, ctx.clock());
  if (leftMs <= 0) return;
  ctx.outcomes.set(group, { kind: "backoff", seconds: Math.ceil(leftMs / 1000) });
  ctx.deps.logger.info("back before its retry wait ends; hidden again for the rest", {
    taskId: task.taskId,
    waitSeconds: Math.ceil(leftMs / 1000),
  });
  throw new RecordFailedError("retry wait not over");
}

/** Never start a callback that could outlive the invocation: no attempt is counted, retried at once. */
function refuseIfNoTimeLeft(ctx: BatchContext, group: string, taskId: string, timeoutMs: number): void {
  if (timeLeftFor(ctx, timeoutMs)) return;
  returnForNoTime(ctx, group, taskId);
}

/** The group comes back at once (visibility 0): the attempt was not counted, or was given back. */
function returnForNoTime(ctx: BatchContext, group: string, taskId: string): never {
  ctx.outcomes.set(group, { kind: "immediate" });
  ctx.deps.logger.info("not enough time left for a callback; record returned to the queue", { taskId });
  throw new RecordFailedError("not enough time left");
}

/** One callback attempt of a started task, and its outcome recorded. */
async function attemptCallback(
  ctx: BatchContext,
  scope: RecordScope,
  attempt: StartedAttempt,
  timeoutMs: number,
): Promise<void> {
  const { topic } = scope.binding;
  const client = ctx.deps.callbackClientFor(topic);
  await stopBeforeCallback(ctx, scope, attempt, timeoutMs);
  let result: CallbackResult;
  try {
    result = await client.post(callbackRequest(attempt, timeoutMs));
  } catch (error) {
    // Nothing was learned of the host: a probe's claim goes back (its lease in `finally`).
    await releaseProbe(ctx, topic, attempt.admission);
    throw error;
  } finally {
    await releaseAdmission(ctx, topic, attempt.admission);
  }
  // The task's outcome first (a failed probe's attempt is given back there), then the host's circuit: whoever
  // sees the circuit reopened sees the probe's attempt given back.
  try {
    // Given up while the callback ran: the redelivery finds the task `delivering` with this attempt counted and
    // decides (and records) from there; an outcome written now could land on the redelivery's own attempt.
    stopIfGivenUp(scope);
    if (result.ok) await recordDelivered(ctx, scope, attempt, result);
    else await recordFailedAttempt(ctx, scope, attempt, result);
  } finally {
    // The host's verdict stands whoever records the task's: the circuit hears it either way.
    if (await noteDestinationOutcome(ctx, topic, attempt.admission, result)) {
      waitAsOnClosedCircuit(ctx, scope, attempt, result);
    }
  }
}

/**
 * A failed probe's group was told to wait for the next probe (`recordFailedAttempt`, its attempt given back), but its
 * circuit had been closed while it ran (a reset by hand, another delivery's success) and stays closed: there is no
 * next probe, and a cool-down's wait (up to `circuitCooldownSeconds`, or a Retry-After up to its cap) would hold the
 * group on a circuit the operator reopened to traffic. It waits as a failed attempt on a closed circuit does.
 */
function waitAsOnClosedCircuit(
  ctx: BatchContext,
  scope: RecordScope,
  attempt: StartedAttempt,
  result: CallbackResult,
): void {
  if (ctx.outcomes.get(scope.group)?.kind !== "wait") return;
  const { seconds } = failedAttemptWait(ctx, scope.binding.topic, attempt.started, result);
  ctx.outcomes.set(scope.group, { kind: "backoff", seconds });
  ctx.deps.logger.info("probe failed on a circuit closed while it ran; its group waits its backoff step", {
    taskId: attempt.started.taskId,
    backoffSeconds: seconds,
  });
}

/**
 * A step given up by the watchdog once its attempt was started sends no callback, nor does one whose callback no
 * longer fits in the invocation (the start and, on a protected topic, its admission took the time the check before
 * them counted on: a slow write, a throttled retry). The start is given back (to the task as read before it; a start
 * made without a read has its attempt refunded) with what its destination admitted it with, as for a start no
 * callback uses; short of time, the record returns at once (visibility 0), as the checks before the start do.
 * Without this a callback could start with less than its timeout left: the watchdog gave it up mid-call, its
 * answer went unrecorded and the receiver was called again.
 */
async function stopBeforeCallback(
  ctx: BatchContext,
  scope: RecordScope,
  attempt: StartedAttempt,
  timeoutMs: number,
): Promise<void> {
  if (!scope.signal?.aborted && timeLeftFor(ctx, timeoutMs)) return;
  if (attempt.read) giveBack(ctx, attempt.read, attempt.started);
  else await refundUnreadStart(ctx, attempt.started.taskId, attempt.startedAt, attempt.started);
  await withdrawAdmission(ctx, scope.binding.topic, attempt.admission);
  stopIfGivenUp(scope);
  returnForNoTime(ctx, scope.group, attempt.started.taskId);
}
