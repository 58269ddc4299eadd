import type { SQSBatchResponse, SQSRecord } from "aws-lambda";
import { type BatchStart, type FinishWrite, startedTask } from "#shared/adapters/task-store.js";
import type { TopicConfig } from "#shared/config/index.js";
import { attemptsUsedUp } from "#shared/domain/attempt-log.js";
import { isFanOutParent } from "#shared/domain/fan-out.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { parseTaskMessage } from "#shared/domain/messages.js";
import { occurrenceStop, scheduleToCheck } from "#shared/domain/occurrence-hold.js";
import { retryWaitLeftMs } from "#shared/domain/retry-wait.js";
import type { ScheduleRecord } from "#shared/domain/schedule.js";
import { DELIVERABLE_STATUSES, type TaskRecord, TERMINAL_STATUSES } from "#shared/domain/task.js";
import { errorText, withinMs } from "#shared/runtime/async.js";
import type { CallbackSigner } from "#shared/security/signing.js";
import { protectsDestinations } from "./destination-gate.js";
import { groupKey, groupsInBatchOrder } from "./group-runner.js";
import { readSchedules } from "./held-occurrence.js";
import { retryGroupAfterFirstStep } from "./outcome.js";
import type { BatchContext, PendingDelivered, PreparedRecord, StartedAttempt } from "./types.js";
import {
  DEFAULT_WATCHDOG_MARGIN_MS,
  handOverTime,
  invocationLeftMs,
  RecordFailedError,
  timeLeftFor,
} from "./types.js";

/**
 * Deliver's writes in batches (docs/RELIABILITY.md "Deliver's writes in batches"): at the start of a batch, one
 * BatchGetItem reads the tasks of every record that would take the fast path and one BatchExecuteStatement starts
 * all that can start (each statement conditioned on the task as read); at the end, one BatchExecuteStatement
 * writes every `delivered` and gives back the starts no callback used. A batch of ten costs three requests instead
 * of twenty. Anything unusual falls back to the per-record path (attempt.ts) at the record's turn.
 */

/** Below this many startable records the per-record fast path (one UpdateItem each) costs no more. */
export const MIN_UP_FRONT = 2;

interface Candidate {
  readonly record: SQSRecord;
  readonly taskId: string;
  readonly topic: TopicConfig;
  readonly signer: CallbackSigner;
  readonly handedOverAtMs: number | undefined;
}

/**
 * The batch start, waited for no longer than the watchdog margin (bounded by the invocation's time): it is an
 * optimisation, so if it fails or hangs every record takes the per-record path at its turn. A start that answers
 * after the batch moved on is given back at once wherever it was written (its records no longer use it).
 */
export async function startUpFrontWithin(ctx: BatchContext, records: readonly SQSRecord[]): Promise<void> {
  const decided = new Map<string, PreparedRecord>();
  const work = startUpFront(ctx, decided, records).then(
    () => "done" as const,
    (error: unknown) => {
      ctx.deps.logger.warn("starting the batch up front failed; records start one by one", {
        error: errorText(error),
      });
      return "done" as const;
    },
  );
  const margin = ctx.deps.watchdogMarginMs ?? DEFAULT_WATCHDOG_MARGIN_MS;
  const budgetMs = Math.min(margin, invocationLeftMs(ctx));
  const settled = await withinMs(work, budgetMs);
  // Starts already made stay prepared (given back at the end unless used); decisions not made are absent.
  if (settled === "done") {
    for (const [messageId, prepared] of decided) ctx.prepared.set(messageId, prepared);
    return;
  }
  ctx.deps.logger.error("starting the batch up front did not answer in time; records start one by one", {
    budgetMs,
  });
  void work.then(() => giveBackAbandoned(ctx, decided));
}

/** The starts of a batch start that answered too late: written back at once (conditioned on being unused). */
function giveBackAbandoned(ctx: BatchContext, decided: ReadonlyMap<string, PreparedRecord>): void {
  for (const prepared of decided.values()) {
    if (prepared.kind === "started") writeGiveBack(ctx, prepared.read, prepared.started);
    if (prepared.kind === "readPath" && prepared.maybeWritten)
      writeGiveBack(ctx, prepared.read, prepared.expected, true);
  }
}

/** Reads and starts the batch's fast-path records up front; records what it decided in `prepared`. */
async function startUpFront(
  ctx: BatchContext,
  prepared: Map<string, PreparedRecord>,
  records: readonly SQSRecord[],
): Promise<void> {
  const candidates = await candidatesOf(ctx, records);
  if (candidates.length < MIN_UP_FRONT) return;
  const { tasks, unread } = await ctx.deps.store.readMany(candidates.map((c) => c.taskId));
  const behindRetry = behindRetriedHead(candidates, tasks, unread);
  const schedules = await readSchedules(ctx, schedulesToCheck(ctx, candidates, tasks, behindRetry));
  const atMs = ctx.clock();
  const startable: { candidate: Candidate; start: BatchStart }[] = [];
  for (const candidate of candidates) {
    if (unread.has(candidate.taskId)) continue;
    const task = tasks.get(candidate.taskId);
    const decided = decide(ctx, candidate, task, atMs, schedules);
    if (decided === "start" && task && !behindRetry.has(candidate.record.messageId)) {
      startable.push({ candidate, start: { read: task, atMs, ...handedOver(candidate.handedOverAtMs) } });
    } else if (typeof decided === "object") prepared.set(candidate.record.messageId, decided);
  }
  if (startable.length === 0) return;
  const outcomes = await ctx.deps.store.startAttempts(startable.map((s) => s.start));
  const followers = followersOf(records);
  for (const { candidate, start } of startable) {
    const started = startedTask(start.read, start.atMs, start.handedOverAtMs);
    const outcome = outcomes.get(candidate.taskId);
    const { messageId } = candidate.record;
    prepared.set(
      messageId,
      outcome === "started"
        ? {
            kind: "started",
            read: start.read,
            started,
            signer: candidate.signer,
            follower: followers.has(messageId),
          }
        : { kind: "readPath", read: start.read, expected: started, maybeWritten: outcome !== "refused" },
    );
  }
}

/** The message ids of the records behind an earlier one of their group in the batch (their turn comes later). */
export function followersOf(records: readonly SQSRecord[]): Set<string> {
  return new Set(groupsInBatchOrder(records).flatMap((group) => group.slice(1).map((r) => r.messageId)));
}

/**
 * The records behind their group's first record of the batch when that one is a retry (an attempt counted before):
 * its group is known to be failing, so they are left to the per-record path, which starts each at its turn, i.e.
 * only once the head is delivered. Started up front, they read `delivering` for the whole of each retry's callback
 * (up to the callback timeout, on every retry), so a cancel, group cancel or move of a task never called was
 * refused as too late, and the group cancel an operator makes because a receiver fails left them to be delivered
 * after it (test/e2e/operator-sequences.test.ts, "…against a hanging receiver…"). A head the batch read left unread
 * (UnprocessedKeys) is not known to be a first attempt, so it counts as one back for a retry: its followers cost
 * a request each, never a refused cancel.
 */
function behindRetriedHead(
  candidates: readonly Candidate[],
  tasks: ReadonlyMap<string, TaskRecord>,
  unread: ReadonlySet<string>,
): ReadonlySet<string> {
  const headRetried = new Map<string, boolean>();
  const behind = new Set<string>();
  for (const { record, taskId } of candidates) {
    const group = groupKey(record);
    const retried = headRetried.get(group);
    if (retried === undefined) headRetried.set(group, unread.has(taskId) || isRetry(tasks.get(taskId)));
    else if (retried) behind.add(record.messageId);
  }
  return behind;
}

/** Back for another attempt: one was counted and the task did not finish (a finished one is dropped). */
const isRetry = (task: TaskRecord | undefined) => task?.status === "delivering" && task.attempts > 0;

const handedOver = (ms: number | undefined) => (ms === undefined ? {} : { handedOverAtMs: ms });

/**
 * The records the fast path would start: unprotected topic, a task message, due, time left for the callback and
 * a signer at hand; a task id carried twice counts once (its second record takes the per-record path).
 */
async function candidatesOf(ctx: BatchContext, records: readonly SQSRecord[]): Promise<Candidate[]> {
  const candidates: Candidate[] = [];
  const seen = new Set<string>();
  for (const record of records) {
    const topic = ctx.deps.bindingFor(record.eventSourceARN)?.topic;
    const message = parseTaskMessage(record.body);
    if (!topic || !message || protectsDestinations(topic) || seen.has(message.taskId)) continue;
    const key = parseTaskId(message.taskId);
    // Another topic's task (a message sent by hand) takes the per-record path, which drops it.
    if (!key || key.topic !== topic.name || key.dueAtMs > ctx.clock()) continue;
    if (!timeLeftFor(ctx, topic.callbackTimeoutSeconds * 1000)) continue;
    let signer: CallbackSigner;
    try {
      signer = await ctx.deps.signer(topic.name);
    } catch {
      continue;
    }
    seen.add(message.taskId);
    candidates.push({
      record,
      taskId: message.taskId,
      topic,
      signer,
      handedOverAtMs: handOverTime(record),
    });
  }
  return candidates;
}

/**
 * The schedules of the occurrences the batch would start (held-occurrence.ts): read before their start, one GetItem
 * per schedule, only when the batch holds occurrences (a batch of plain tasks reads nothing more).
 */
function schedulesToCheck(
  ctx: BatchContext,
  candidates: readonly Candidate[],
  tasks: ReadonlyMap<string, TaskRecord>,
  behindRetry: ReadonlySet<string>,
): Set<string> {
  const ids = new Set<string>();
  for (const { record, taskId } of candidates) {
    const task = tasks.get(taskId);
    const id = task && !behindRetry.has(record.messageId) ? scheduleToCheck(task, ctx.clock()) : undefined;
    if (id !== undefined) ids.add(id);
  }
  return ids;
}

/**
 * The read path's decisions from the batch read: dropped, exhausted, stopped (an occurrence whose schedule is),
 * `start`, or left to the per-record path (also an occurrence whose schedule could not be read).
 */
function decide(
  ctx: BatchContext,
  { record, taskId, topic }: Candidate,
  task: TaskRecord | undefined,
  nowMs: number,
  schedules: ReadonlyMap<string, ScheduleRecord | undefined>,
): PreparedRecord | "start" | "perRecord" {
  if (!task) {
    ctx.deps.logger.warn("task not found; message dropped", { taskId, messageId: record.messageId });
    return { kind: "drop" };
  }
  if (droppedAsFanOutParent(ctx, task)) return { kind: "drop" };
  if (TERMINAL_STATUSES.has(task.status)) {
    ctx.deps.logger.info("task already final; not delivered again", { taskId, status: task.status });
    return { kind: "drop" };
  }
  if (attemptsUsedUp(task, topic.maxAttempts)) return { kind: "exhausted", task };
  if (!DELIVERABLE_STATUSES.includes(task.status)) {
    ctx.deps.logger.info("task moved on before its attempt; not delivered", { taskId, status: task.status });
    return { kind: "drop" };
  }
  // Not due by its stored time (the id says it is), or back before its retry wait ends (attempt.ts): the
  // per-record path decides at its turn, as always.
  if (task.dueAtMs > nowMs || retryWaitLeftMs(task, nowMs) > 0) return "perRecord";
  const scheduleId = scheduleToCheck(task, nowMs);
  if (scheduleId === undefined) return "start";
  if (!schedules.has(scheduleId)) return "perRecord";
  const stop = occurrenceStop(task, schedules.get(scheduleId));
  return stop === undefined ? "start" : { kind: "stopped", task, stop };
}

/**
 * A fan-out parent is never delivered itself, only its copies (shared/domain/fan-out.ts): nothing sends its id to a
 * topic queue, so a message naming one was sent by hand (or by a bug). It is dropped, the parent left as it is —
 * started, its empty callback URL would fail until dead-lettered `failed`, and its view with it.
 */
export function droppedAsFanOutParent(ctx: BatchContext, task: TaskRecord): boolean {
  if (!isFanOutParent(task)) return false;
  ctx.deps.logger.warn("fan-out parent: never delivered itself (its copies are); message dropped", {
    taskId: task.taskId,
  });
  return true;
}

/** The batch start's decision for a record, taken at its turn (what is left untaken at the end is given back). */
export function takePrepared(ctx: BatchContext, messageId: string): PreparedRecord | undefined {
  const prepared = ctx.prepared.get(messageId);
  ctx.prepared.delete(messageId);
  return prepared;
}

/**
 * A record started up front, at its turn: its callback starts now, so the attempt's start (signature time,
 * lateness, attempt log, `lastAttemptAtMs` in the finishing write) is now, not the batch's start. A record whose
 * callback no longer fits in the invocation gives its start back and returns to the queue at once.
 */
export function claimStarted(
  ctx: BatchContext,
  group: string,
  prepared: Extract<PreparedRecord, { kind: "started" }>,
  timeoutMs: number,
): StartedAttempt {
  if (!timeLeftFor(ctx, timeoutMs)) {
    giveBack(ctx, prepared.read, prepared.started);
    ctx.outcomes.set(group, { kind: "immediate" });
    ctx.deps.logger.info("not enough time left for a callback; start given back, record returned", {
      taskId: prepared.started.taskId,
    });
    throw new RecordFailedError("not enough time left");
  }
  // `started` stays the item as stored (its `lastAttemptAtMs` the batch's start): the finishing write sees the
  // difference and records the real start.
  return { started: prepared.started, signer: prepared.signer, startedAt: ctx.clock(), read: prepared.read };
}

/**
 * A start this batch made and no callback will use: restored in the finishing call — or, for a step that gets
 * there after that call (past the watchdog), written on its own, as a late `delivered` is. `maybeWritten`: a start
 * whose answer was lost, written or not (if not, the give-back's condition finds nothing to restore: no warning).
 * A cancel requested on the start meanwhile (DELETE of a `delivering` task answers 202) ends the task `cancelled`
 * in the same call instead (the store's give-back: no callback was made, none will be).
 */
export function giveBack(
  ctx: BatchContext,
  read: TaskRecord,
  started: TaskRecord,
  maybeWritten = false,
): void {
  if (!ctx.finishing.closed) {
    ctx.finishing.giveBacks.push({ kind: "giveBack", read, started, atMs: ctx.clock() });
    if (maybeWritten) ctx.finishing.uncertain.add(read.taskId);
    return;
  }
  writeGiveBack(ctx, read, started, maybeWritten);
}

/** One give-back written on its own, not awaited: its record is already failed; the write settles on its own. */
function writeGiveBack(ctx: BatchContext, read: TaskRecord, started: TaskRecord, maybeWritten = false): void {
  const warn = () => {
    if (!maybeWritten) warnLostGiveBack(ctx, read.taskId);
  };
  ctx.deps.store.finishAttempts([{ kind: "giveBack", read, started, atMs: ctx.clock() }]).then((failed) => {
    if (failed.size > 0) warn();
  }, warn);
}

export function warnLostGiveBack(ctx: BatchContext, taskId: string): void {
  // Its record is already failed: it comes back as a `delivering` task, this attempt counted as used.
  ctx.deps.logger.warn("giving back an unused start failed; that attempt counts", { taskId });
}

/**
 * The batch's finishing call: every deferred `delivered` write and every give-back (starts made up front whose
 * record never ran: its group failed before it). A record whose `delivered` write failed is reported failed —
 * never acknowledged — so SQS brings it back (a `delivering` task: delivered again, with the same webhook-id).
 */
export async function finishBatch(
  ctx: BatchContext,
  records: readonly SQSRecord[],
  response: SQSBatchResponse,
): Promise<SQSBatchResponse> {
  const { finishing } = ctx;
  finishing.closed = true;
  // Starts whose record never ran: the ones known to be written, and those whose answer was lost (written or
  // not — if not, the give-back's condition finds the task as read and changes nothing; a refused one is left).
  for (const prepared of ctx.prepared.values()) {
    if (prepared.kind === "started") giveBack(ctx, prepared.read, prepared.started);
    if (prepared.kind === "readPath" && prepared.maybeWritten)
      giveBack(ctx, prepared.read, prepared.expected, true);
  }
  ctx.prepared.clear();
  const uncertain = new Set(finishing.uncertain);
  finishing.uncertain.clear();
  const delivered = finishing.delivered.splice(0);
  const giveBacks = finishing.giveBacks.splice(0);
  if (delivered.length + giveBacks.length === 0) return response;
  const writes: FinishWrite[] = [
    ...delivered.map((d) => ({
      kind: "delivered" as const,
      taskId: d.taskId,
      attemptSeq: d.attemptSeq,
      result: d.result,
      ...(d.attemptLog !== undefined && { attemptLog: d.attemptLog }),
    })),
    ...giveBacks,
  ];
  const failed = await finishWithinTime(ctx, writes);
  const notAcknowledged = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  for (const d of delivered) {
    if (failed.has(d.taskId)) notAcknowledged.add(d.messageId);
  }
  reportFinished(ctx, delivered, giveBacks, failed, uncertain);
  return {
    batchItemFailures: records
      .filter((r) => notAcknowledged.has(r.messageId))
      .map((r) => ({ itemIdentifier: r.messageId })),
  };
}

/**
 * The finishing call, waited for no longer than the invocation allows (half the safety margin kept free for the
 * visibilities, as the group runner's watchdog does): past that, or if it fails, every write counts as not made —
 * its record comes back, and a `delivered` that did land makes it a dropped duplicate. Without this bound a hung
 * call would hold the invocation until Lambda's timeout, which returns the whole batch at the queue's timeout.
 */
async function finishWithinTime(ctx: BatchContext, writes: readonly FinishWrite[]): Promise<Set<string>> {
  const all = () => new Set(writes.map((w) => (w.kind === "delivered" ? w.taskId : w.read.taskId)));
  const budgetMs = invocationLeftMs(ctx);
  try {
    const answer = await withinMs(ctx.deps.store.finishAttempts(writes), budgetMs);
    if (answer !== "overdue") return answer;
    ctx.deps.logger.error("the batch's finishing writes did not answer in time", { budgetMs });
    return all();
  } catch (error) {
    ctx.deps.logger.error("the batch's finishing writes failed", { error: errorText(error) });
    return all();
  }
}

/** Metrics and logs of the finishing call: delivered (counted now), or back to the queue; lost give-backs. */
function reportFinished(
  ctx: BatchContext,
  delivered: readonly PendingDelivered[],
  giveBacks: readonly Extract<FinishWrite, { kind: "giveBack" }>[],
  failed: ReadonlySet<string>,
  uncertain: ReadonlySet<string>,
): void {
  for (const d of delivered) {
    if (failed.has(d.taskId)) {
      retryGroupAfterFirstStep(ctx, d.group, d.topic);
      ctx.deps.logger.warn("delivered, but recording it failed; the record comes back", { taskId: d.taskId });
      continue;
    }
    const lateness = d.replayed ? undefined : d.result.latenessMs;
    ctx.deps.metrics.delivered(d.topic.name, lateness, d.result.deliveryLatencyMs);
    ctx.deps.logger.debug("delivered", {
      taskId: d.taskId,
      attempt: d.attempt,
      status: d.status,
      latenessMs: d.result.latenessMs,
      durationMs: d.result.deliveryLatencyMs,
    });
  }
  for (const g of giveBacks) {
    if (failed.has(g.read.taskId) && !uncertain.has(g.read.taskId)) warnLostGiveBack(ctx, g.read.taskId);
  }
}
