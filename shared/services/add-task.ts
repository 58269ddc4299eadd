import { createHash } from "node:crypto";
import { setMaxListeners } from "node:events";
import { decodeTime } from "ulid";
import type { TaskScheduler } from "#shared/adapters/task-scheduler.js";
import type { TaskStore } from "#shared/adapters/task-store.js";
import type { TimerQueue } from "#shared/adapters/timer-queue.js";
import { EARLY_ANSWER_MS } from "#shared/api/early-answer.js";
import {
  fanOutCallback,
  idempotencyConflict,
  internalError,
  isHttpError,
  payloadTooLarge,
  serviceUnavailable,
  unknownTopic,
  validationFailed,
} from "#shared/api/errors.js";
import { rfc3339 } from "#shared/api/task-view.js";
import { type PunctualConfig, type TopicConfig, timerSettings, topicConfig } from "#shared/config/index.js";
import {
  type AddTaskRequest,
  type KeyOwner,
  MAX_CALLBACK_URL_LENGTH,
  type MaxDelayOf,
  parseAddTaskRequest,
} from "#shared/domain/add-task-request.js";
import { resolveCallback } from "#shared/domain/callback-resolution.js";
import { echoed } from "#shared/domain/echoed.js";
import { isLosslessNumber, toJsNumber } from "#shared/domain/exact-json.js";
import { ITEM_GROWTH_BYTES, MAX_ITEM_BYTES, taskItemSizeBound } from "#shared/domain/item-size.js";
import {
  groupValueOf,
  makeTaskKey,
  newUlid,
  parseTaskId,
  scheduleNameFor,
  type TaskKey,
} from "#shared/domain/keys.js";
import { indexedOnAdd } from "#shared/domain/sweep.js";
import {
  claimExpiry,
  mayHaveFinishedAndExpired,
  type TaskRecord,
  type TaskStatus,
} from "#shared/domain/task.js";
import { planTimer, requestedDueMs, type TimerPlan, tooFarAheadMessage } from "#shared/domain/timing.js";
import { checkCallbackUrl } from "#shared/security/ssrf.js";
import { addFanOut, completeFanOut } from "./fan-out/add.js";

export interface AddTaskDeps {
  readonly store: Pick<
    TaskStore,
    | "putNew"
    | "get"
    | "removeScheduled"
    | "claimIdempotencyKey"
    | "readIdempotencyClaim"
    | "enterSweepIndex"
    | "cancel"
  >;
  readonly timerQueue: Pick<TimerQueue, "arm">;
  readonly scheduler: Pick<TaskScheduler, "createTaskSchedule">;
  readonly config: PunctualConfig;
  readonly now: () => number;
  readonly newUlid?: (nowMs: number) => string;
  /**
   * The clock a timer is planned by when it is armed, where `now` is pinned to an earlier acceptance time (a
   * batch's fallen-back lane adds its items one after another under the batch's clock): the delay is the time left
   * until the due time when the timer is sent, or the task fires late by however long the lane took. `now` when
   * absent.
   */
  readonly timerClock?: () => number;
  /** Told about failures the caller only sees as a 503 (arming, clean-up). */
  readonly onError?: (message: string, error: unknown, taskId: string) => void;
  /**
   * The invocation's time left (the HTTP routes'; absent elsewhere): a task write or timer call still unanswered
   * `CLEAN_UP_RESERVE_MS` before the end is given up as failed (`inTime`), so the add's own clean-up runs.
   */
  readonly timeLeftMs?: () => number;
}

export interface AddTaskInput {
  /** The JSON-parsed body. */
  readonly body: unknown;
  readonly idempotencyKeyHeader?: string | undefined;
  /**
   * Set by the schedule materializer only: the schedule this task is an occurrence of (kept on the task). Its
   * adds alone may carry the reserved `schedule:` key prefix.
   */
  readonly scheduleId?: string | undefined;
  /** With `scheduleId`: the schedule's epoch the occurrence is made in (kept on the task, occurrence-hold.ts). */
  readonly scheduleEpoch?: number | undefined;
}

export interface AddTaskResponse {
  readonly task_id: string;
  readonly topic: string;
  readonly status: TaskStatus;
  readonly due_at: string;
  /** A fan-out task (issue 14, point 3): each subscriber's copy, by id. */
  readonly subscribers?: readonly { readonly id: string; readonly task_id: string }[];
}

export interface AddTaskResult {
  /** 201 for a new task; 200 when an idempotency key returned an existing one. */
  readonly statusCode: 200 | 201;
  readonly body: AddTaskResponse;
}

/**
 * POST /v1/tasks. Order matters: everything that can refuse the request with a 4xx runs before anything is
 * written, so a refused request leaves nothing behind; then the task is written, then its timer armed. A
 * task whose timer cannot be armed gets a retryable 503 and is never acknowledged; without an idempotency key
 * it is removed again, with one it stays for the retry to re-arm (see `armOrRemove`). Nothing is acknowledged
 * before its timer is armed.
 */
export async function addTask(deps: AddTaskDeps, input: AddTaskInput): Promise<AddTaskResult> {
  const nowMs = deps.now();
  const parsed = parseAddTaskRequest(
    input.body,
    input.idempotencyKeyHeader,
    // The one seam where the reserved key prefix is allowed: the materializer's adds, which name their schedule.
    input.scheduleId !== undefined ? "schedule" : "caller",
    maxDelayOf(deps.config),
  );
  if (!parsed.ok) throw validationFailed(parsed.issues);
  let checked: CheckedAddRequest;
  try {
    checked = checkParsedAddRequest(deps.config, parsed.value, nowMs);
  } catch (error) {
    const repeat = await repeatOfRefused(deps, parsed.value, error);
    if (repeat) return repeat;
    throw error;
  }
  const { request, topic, dueAtMs, groupValue, callbackUrl } = checked;
  const content = request.content.text;

  const ulid = (deps.newUlid ?? newUlid)(nowMs);
  const key = makeTaskKey(topic.name, groupValue, dueAtMs, ulid);
  const fields: TaskFields = {
    content,
    callbackUrl,
    groupValue,
    idempotencyKey: request.idempotencyKey,
    scheduleId: input.scheduleId,
    scheduleEpoch: input.scheduleEpoch,
  };

  if (request.idempotencyKey !== undefined) {
    const requestHash = hashRequest(request);
    const claim = await deps.store.claimIdempotencyKey({
      topic: topic.name,
      key: request.idempotencyKey,
      taskId: key.taskId,
      requestHash,
      expiresAt: claimExpiry(dueAtMs, topic),
    });
    if (claim.status === "existing") {
      const keyField = keyFieldOf(input);
      if (claim.requestHash !== requestHash) {
        throw idempotencyConflict("this idempotency key was already used with a different request", keyField);
      }
      return replay(deps, claim.taskId, topic, fields).catch((error: unknown) => {
        throw atKeyField(error, keyField);
      });
    }
  }

  const task = newRecord(key, nowMs, planTimer(dueAtMs, nowMs, timerSettings(deps.config)), fields);
  checkItemSize(task);
  if (topic.subscribers) {
    // Issue 14, point 3: the parent and one delivery task per subscriber (shared/services/fan-out/add.ts).
    return {
      statusCode: 201,
      body: addResponse(await addFanOut(deps, task, topic, topic.subscribers)),
    };
  }
  return writeAndArm(deps, keptWhileClaimed(task, topic));
}

/**
 * A keyed task kept, once finished, at least as long as its idempotency claim (`expiresAtFloor`, which every write
 * finishing it honours: finishedExpiry): while a repeat can reach it through the claim, a task that was written is
 * still there, so a missing one was never written and `replay` recreating it delivers nothing twice. Kept only for
 * the retention after its finish, a task delivered under a 1-day retention was gone on the third day while its claim
 * lived on, and once a runtime document (or a deploy) had raised the retention past that age, a repeat took it for
 * one never written (the check in `replay` reads the retention of now) and delivered it again. Fan-out copies are
 * kept to their parent's TTL the same way (withParentFloor).
 */
export function keptWhileClaimed(task: TaskRecord, topic: TopicConfig): TaskRecord {
  if (task.idempotencyKey === undefined) return task;
  return { ...task, expiresAtFloor: claimExpiry(task.dueAtMs, topic) };
}

/**
 * The single add's last steps for a new task (its key claimed, when it has one): write, arm, 201. Also the batch
 * add's, for an item whose claim it made itself in a lane that falls back to one item at a time.
 */
export async function writeAndArm(deps: AddTaskDeps, task: TaskRecord): Promise<AddTaskResult> {
  // "exists" is no reason to skip arming: the Put may have succeeded on an attempt whose answer was lost and been
  // retried by the SDK (the key holds a fresh ULID, so nobody else wrote it), or a concurrent repeat with the same
  // idempotency key recreated it. Either way the task must not be acknowledged without a timer; a second timer
  // message is harmless (the relay and FIFO deduplication absorb it).
  const put = await writeOrRemove(deps, task);
  const status = await armOrRemove(deps, task);
  if (put === "created") return { statusCode: 201, body: { ...addResponse(task), status } };
  return { statusCode: 201, body: { ...addResponse(task), status: await storedStatus(deps, task, status) } };
}

/**
 * The status of a task this add found already written: a concurrent repeat's replay wrote and armed it first, and it
 * may have moved on since (its timer fired, or a cancel through the id that repeat answered). Answered `scheduled`,
 * the add told its caller a task still to come that was queued, delivered or cancelled, where a GET or the repeat
 * said otherwise. One read, on this rare path only, bounded as the add's other calls; unread, the add's own status.
 * Also the batch add's, for a keyed item its batch write found there (add-tasks-batched.ts, `acceptedItem`).
 */
export async function storedStatus(
  deps: AddTaskDeps,
  task: TaskRecord,
  status: TaskStatus,
): Promise<TaskStatus> {
  const read = (signal: AbortSignal) => deps.store.get(task.taskId, { signal });
  const stored = await inTime(deps, read).catch(() => undefined);
  return stored?.status ?? status;
}

/** A request that passed every check that can refuse it: what the task will be made of. */
export interface CheckedAddRequest {
  readonly request: AddTaskRequest;
  readonly topic: TopicConfig;
  readonly dueAtMs: number;
  readonly groupValue: string | undefined;
  readonly callbackUrl: string;
}

/**
 * Every check of POST /v1/tasks that can refuse a request with a 4xx (body, topic, content size, due time,
 * ordering field, callback and its SSRF policy), without writing anything. Schedules run their occurrence
 * template through it at creation, so a schedule is refused for exactly what its tasks would be.
 */
export function checkAddRequest(
  config: PunctualConfig,
  body: unknown,
  nowMs: number,
  idempotencyKeyHeader?: string,
  keyOwner: KeyOwner = "caller",
): CheckedAddRequest {
  const parsed = parseAddTaskRequest(body, idempotencyKeyHeader, keyOwner, maxDelayOf(config));
  if (!parsed.ok) throw validationFailed(parsed.issues);
  return checkParsedAddRequest(config, parsed.value, nowMs);
}

/** Each configured topic's maxDelay, for the body's rules to name (`parseAddTaskRequest`). */
export function maxDelayOf(config: PunctualConfig): MaxDelayOf {
  return (topic) => topicConfig(config, topic)?.maxDelaySeconds;
}

/** `checkAddRequest`'s checks past the body's own rules, for a request already parsed (`parseAddTaskRequest`). */
export function checkParsedAddRequest(
  config: PunctualConfig,
  request: AddTaskRequest,
  nowMs: number,
): CheckedAddRequest {
  const topic = topicConfig(config, request.topic);
  if (!topic) throw unknownTopic(request.topic, Object.keys(config.resolvedTopics));

  // The limit is on what is stored and delivered: the content's JSON text, in UTF-8 bytes.
  const contentBytes = Buffer.byteLength(request.content.text, "utf8");
  if (contentBytes > topic.maxPayloadBytes) {
    throw payloadTooLarge(
      `content is ${contentBytes} bytes; topic "${topic.name}" allows at most ${topic.maxPayloadBytes}`,
      "content",
    );
  }
  const dueAtMs = dueTime(request, topic, nowMs);
  const deliverBy = request.deliverBy ?? topic.deliverBy;
  const group = groupValueOf(orderingView(request.content.value, deliverBy), deliverBy);
  if (!group.ok)
    throw validationFailed([{ path: `content.${echoed(deliverBy ?? "")}`, message: group.error }]);
  const callbackUrl = topic.subscribers
    ? noCallbackOnFanOut(request, topic)
    : callbackFor(request, topic, config);
  return { request, topic, dueAtMs, groupValue: group.value, callbackUrl };
}

/**
 * The ordering group a parsed request's task would join (`topic` + group value), or undefined when the request would
 * be refused before it has one. The same steps as `addTask` (topic, deliver_by, group value), without writing: a
 * batch adds the items of one group one after another, in request order, as a sequential client would.
 */
export function orderingLaneOf(config: PunctualConfig, request: AddTaskRequest): string | undefined {
  const topic = topicConfig(config, request.topic);
  if (!topic) return undefined;
  const deliverBy = request.deliverBy ?? topic.deliverBy;
  const group = groupValueOf(orderingView(request.content.value, deliverBy), deliverBy);
  if (!group.ok) return undefined;
  return laneKey(topic.name, group.value);
}

/** An ordering lane's key: its topic and group value; none without a group (the task is a lane of its own). */
export function laneKey(topic: string, groupValue: string | undefined): string | undefined {
  return groupValue === undefined ? undefined : JSON.stringify([topic, groupValue]);
}

/**
 * Writes a new task. A write that fails may still have happened (its answer was lost); a task without an
 * idempotency key is then removed again, best effort, so that a refused request (5xx) leaves no task behind that
 * the sweeper would later find and deliver, while the client sends it again as a new task. A task with a key is
 * left alone: the retry with the key finds it (or recreates it) and arms it.
 */
async function writeOrRemove(deps: AddTaskDeps, task: TaskRecord): Promise<"created" | "exists"> {
  try {
    return await inTime(deps, (signal) =>
      deps.store.putNew(task, { sweepIndex: indexedOnAdd(task, deps.config.sweeper), signal }),
    );
  } catch (error) {
    if (wasNeverSent(error)) throw error;
    if (task.idempotencyKey === undefined) {
      try {
        const removal = (signal: AbortSignal) => deps.store.removeScheduled(task.taskId, { signal });
        await cleanUpCall(deps, removal, { followUps: 1 });
      } catch (cleanupError) {
        deps.onError?.("removing a task whose write failed failed", cleanupError, task.taskId);
        await leaveForTheSweeper(deps, task.taskId);
      }
    } else await leaveForTheSweeper(deps, task.taskId);
    throw error;
  }
}

/**
 * A task written (or perhaps written) but not armed, that stays: it is off the near-term happy path, so it goes
 * into the sweep index, and the sweeper delivers it once past due if nobody retries (at-least-once for an outcome
 * the client was told is unknown; the retry with the key yields the same task id). Best effort: the client was
 * not told 2xx, so no acknowledged task depends on it; a missing task is simply not indexed.
 */
export async function leaveForTheSweeper(
  deps: Pick<AddTaskDeps, "store" | "onError" | "timeLeftMs">,
  taskId: string,
  reserveMs = CLEAN_UP_CALL_RESERVE_MS,
): Promise<void> {
  try {
    await cleanUpCall(deps, (signal) => deps.store.enterSweepIndex(taskId, { signal }), { reserveMs });
  } catch (error) {
    deps.onError?.("indexing an unarmed task for the sweeper failed", error, taskId);
  }
}

/** The parts of a task that come from the request rather than from its key. */
export interface TaskFields {
  readonly content: string;
  readonly callbackUrl: string;
  readonly groupValue: string | undefined;
  readonly idempotencyKey: string | undefined;
  readonly scheduleId?: string | undefined;
  readonly scheduleEpoch?: number | undefined;
}

/**
 * A repeat of an idempotent request. The task normally exists: answer with it, and re-arm it if it is still
 * `scheduled` (the first attempt may have crashed between writing the task and arming it; a second timer
 * message is harmless, since the relay and FIFO deduplication absorb duplicates, whereas a missing one would
 * strand the task forever).
 *
 * If it does not exist, the first attempt stopped between claiming the key and writing the task (a crash, or a
 * failed write), or has not written it yet (a concurrent copy of the request). The claim holds the task id, and
 * the id holds the task's whole key (group, due time, acceptance ULID), so the very same task is created now
 * (whoever writes it second finds it and arms it too). A task can
 * also be missing because it completed and its retention ran out; one whose due time (or acceptance, if later) is less
 * than a retention period ago cannot have (`mayHaveFinishedAndExpired`: TTL never deletes early), which tells the two
 * cases apart.
 */
async function replay(
  deps: AddTaskDeps,
  taskId: string,
  topic: TopicConfig,
  fields: TaskFields,
): Promise<AddTaskResult> {
  const nowMs = deps.now();
  const found = await deps.store.get(taskId);
  if (found) return repeatOf(deps, found, nowMs);

  const key = parseTaskId(taskId);
  if (!key) throw internalError(new Error(`idempotency claim holds a malformed task id: ${taskId}`));
  const acceptedAtMs = decodeTime(key.ulid);
  // Counted from acceptance alone, a task due in 10 days on a topic retained 3 days, whose keyed add stopped before
  // its write (a 503 "retry with the same key"), was "completed and expired" to that retry on day 4: never delivered.
  if (mayHaveFinishedAndExpired({ acceptedAtMs, dueAtMs: key.dueAtMs }, topic.retentionDays, nowMs)) {
    throw idempotencyConflict(EXPIRED_KEY_MESSAGE);
  }
  const task = newRecord(
    key,
    acceptedAtMs,
    planTimer(key.dueAtMs, nowMs, timerSettings(deps.config)),
    fields,
  );
  if (topic.subscribers) {
    return {
      statusCode: 200,
      body: addResponse(await addFanOut(deps, task, topic, topic.subscribers)),
    };
  }
  // A write that fails may still have happened: the task (it has a key) is handed to the sweeper, as a first add's.
  const kept = keptWhileClaimed(task, topic);
  const put = await writeOrRemove(deps, kept);
  // Armed even when it "exists": another replay recreated it a moment ago, or this Put's own answer was lost.
  await armOrRemove(deps, kept);
  if (put === "created") return { statusCode: 200, body: addResponse(kept) };
  const raced = await deps.store.get(taskId);
  return { statusCode: 200, body: addResponse(raced ?? kept) };
}

/**
 * A repeat whose task exists: answered as stored (200), re-armed if still `scheduled` (the first attempt may have
 * crashed between its write and its timer; a second timer message is harmless), a fan-out task completed
 * (`completeFanOut`), a moved one followed to the task it became.
 */
async function repeatOf(deps: AddTaskDeps, found: TaskRecord, nowMs: number): Promise<AddTaskResult> {
  if (found.status === "rescheduled") return { statusCode: 200, body: await currentTask(deps, found) };
  if (found.fanOut) {
    const status = await completeFanOut(deps, found, nowMs);
    return { statusCode: 200, body: { ...addResponse(found), status } };
  }
  if (found.status === "scheduled") {
    try {
      await inTime(deps, () =>
        arm(deps, found.taskId, planTimer(found.dueAtMs, timerNow(deps), timerSettings(deps.config))),
      );
    } catch (error) {
      deps.onError?.("re-arming a replayed task failed", error, found.taskId);
      await leaveForTheSweeper(deps, found.taskId);
      throw serviceUnavailable("could not arm the task's timer; retry the request", error);
    }
  }
  return { statusCode: 200, body: addResponse(found) };
}

/**
 * A keyed request that today's settings refuse (4xx) may repeat one they accepted before a change (a topic turned
 * fan-out now refuses its `callback`, one turned plain needs one; a narrowed allow-list, a lower size or delay
 * limit): "same key, same body, the same task (200)" holds, or the caller is told its task was refused while it is
 * delivered. So the key's live claim is read: the same body with its task still there is answered as any repeat.
 * Otherwise (no claim, another body, no task) the refusal stands, and nothing is written. Only on this path: an
 * accepted request pays no extra read.
 */
async function repeatOfRefused(
  deps: AddTaskDeps,
  request: AddTaskRequest,
  refusal: unknown,
): Promise<AddTaskResult | undefined> {
  const topic = topicConfig(deps.config, request.topic);
  if (request.idempotencyKey === undefined || !topic || !isClientError(refusal)) return undefined;
  const claim = await deps.store.readIdempotencyClaim(topic.name, request.idempotencyKey);
  if (!claim || claim.requestHash !== hashRequest(request)) return undefined;
  const found = await deps.store.get(claim.taskId);
  return found ? repeatOf(deps, found, deps.now()) : undefined;
}

function isClientError(error: unknown): boolean {
  return isHttpError(error) && error.status >= 400 && error.status < 500;
}

/** A repeat whose task is gone after its retention (a fan-out task's: every copy). */
export const EXPIRED_KEY_MESSAGE =
  "this idempotency key belongs to a task that has completed and expired; use a new key for a new task";

/** How many reschedules a repeated add follows; each is one read, and nobody moves one task this often. */
const MAX_RESCHEDULE_HOPS = 32;

/**
 * The idempotency claim keeps the id the task was accepted under (rewriting it on every reschedule would cost a
 * write and a grant, and a crash between the two writes could leave it pointing nowhere): a repeated add follows
 * the `rescheduled` items' `rescheduledTo` to the task as it is now. A successor that does not exist yet (a
 * reschedule stopped after its first write; the sweeper or a retried PATCH creates it) is answered from its id.
 */
async function currentTask(deps: AddTaskDeps, task: TaskRecord): Promise<AddTaskResponse> {
  let current = task;
  for (let hop = 0; hop < MAX_RESCHEDULE_HOPS && current.rescheduledTo; hop++) {
    const next = await deps.store.get(current.rescheduledTo);
    if (!next) {
      const key = parseTaskId(current.rescheduledTo);
      if (!key) break;
      return { task_id: key.taskId, topic: key.topic, status: "scheduled", due_at: rfc3339(key.dueAtMs) };
    }
    current = next;
  }
  return addResponse(current);
}

export function newRecord(
  key: TaskKey,
  acceptedAtMs: number,
  plan: TimerPlan,
  fields: TaskFields,
): TaskRecord {
  return {
    pk: key.pk,
    sk: key.sk,
    taskId: key.taskId,
    topic: key.topic,
    ...(fields.groupValue !== undefined ? { groupValue: fields.groupValue } : {}),
    status: "scheduled",
    dueAtMs: key.dueAtMs,
    acceptedAtMs,
    content: fields.content,
    callbackUrl: fields.callbackUrl,
    timer: plan.kind,
    ...(plan.kind === "schedule" ? { scheduleName: scheduleNameFor(key.taskId) } : {}),
    ...(fields.idempotencyKey !== undefined ? { idempotencyKey: fields.idempotencyKey } : {}),
    ...(fields.scheduleId !== undefined ? { scheduleId: fields.scheduleId } : {}),
    ...(fields.scheduleId !== undefined && fields.scheduleEpoch !== undefined
      ? { scheduleEpoch: fields.scheduleEpoch }
      : {}),
    attempts: 0,
  };
}

/**
 * Arms the task's timer; if that fails, answers 503. A task without an idempotency key is removed first (nobody
 * else knows its id, so nobody can have been told it was accepted). A task WITH one is left in place, unarmed:
 * a concurrent request with the same key may already have answered 2xx for this very task (its own arming
 * succeeded), and removing it would lose an acknowledged task. The client's retry with the key re-arms it.
 * Resolves with the status the task is answered with: `scheduled`, or the one it has already moved on to when
 * its timer went out after all (`removeUnarmed`).
 */
async function armOrRemove(deps: AddTaskDeps, task: TaskRecord): Promise<TaskStatus> {
  try {
    await inTime(deps, () =>
      arm(deps, task.taskId, planTimer(task.dueAtMs, timerNow(deps), timerSettings(deps.config))),
    );
    return task.status;
  } catch (error) {
    if (task.idempotencyKey !== undefined) {
      deps.onError?.(
        "arming the task's timer failed; kept for a retry with its idempotency key",
        error,
        task.taskId,
      );
      await leaveForTheSweeper(deps, task.taskId);
      throw serviceUnavailable(
        "could not arm the task's timer; retry the request with the same idempotency key",
        error,
      );
    }
    deps.onError?.("arming the task's timer failed; removing the task", error, task.taskId);
    const fired = await removeUnarmed(deps, task.taskId);
    if (fired !== "removed") return fired.status;
    throw serviceUnavailable(
      "could not arm the task's timer; the task was not accepted, retry the request",
      error,
    );
  }
}

/**
 * Removes a task without an idempotency key whose arming failed (nobody else knows its id, so nobody was told it
 * was accepted). `fired`, with the status read back, when the removal found it moved on from `scheduled`: its timer
 * message went out after all (SQS took it, its answer was lost, or the call was given up on) and the relay or
 * deliver has the task, so it was accepted and is answered so (201, with that status: `scheduled` would tell the
 * client a task still to come that may already be delivered); a 503 "not accepted" would have the client add it
 * again, delivered twice. When the removal fails, the task goes to the sweeper (docs/API.md, `POST /v1/tasks`: a 503 whose clean-up failed).
 * `reserveMs`: as `cleanUpCall`'s.
 */
export async function removeUnarmed(
  deps: Pick<AddTaskDeps, "store" | "onError" | "timeLeftMs">,
  taskId: string,
  failedMessage = "removing an unarmed task failed",
  reserveMs = CLEAN_UP_CALL_RESERVE_MS,
): Promise<"removed" | { readonly fired: true; readonly status: TaskStatus }> {
  try {
    const removal = (signal: AbortSignal) => deps.store.removeScheduled(taskId, { signal });
    if (await cleanUpCall(deps, removal, { reserveMs, followUps: 1 })) return "removed";
  } catch (cleanupError) {
    deps.onError?.(failedMessage, cleanupError, taskId);
    await leaveForTheSweeper(deps, taskId, reserveMs);
    return "removed";
  }
  // Refused: missing (never written) or moved on. One read, on this rare path only. Only the timer's way moves a
  // task to these; a cancel (a group cancel lists it) or a reschedule keeps the 503.
  const read = (signal: AbortSignal) => deps.store.get(taskId, { signal });
  const current = await cleanUpCall(deps, read, { reserveMs }).catch(() => undefined);
  if (current === undefined || !ON_ITS_WAY.has(current.status)) return "removed";
  deps.onError?.("an unarmed task's timer fired after all; answered as accepted", undefined, taskId);
  return { fired: true, status: current.status };
}

/** The statuses a task reaches through its timer: relayed and swept, attempted, finished by deliver. */
export const ON_ITS_WAY: ReadonlySet<TaskStatus> = new Set(["queued", "delivering", "delivered", "failed"]);

/**
 * What an add keeps of its invocation for its clean-up after a call it gave up on: one conditional delete or
 * update (milliseconds; the rest is margin), before the route's own early answer (`EARLY_ANSWER_MS` before the
 * deadline).
 */
export const CLEAN_UP_RESERVE_MS = 2_000;

/**
 * What a clean-up call leaves of the invocation when it is given up (`cleanUpCall`): the route's early answer and a
 * margin for the items' answers to be made and sent before it.
 */
export const CLEAN_UP_CALL_RESERVE_MS = EARLY_ANSWER_MS + 250;

/**
 * A clean-up call (a removal, the read after a refused one, a sweep index entry) under `inTime`, given up — and
 * aborted — `CLEAN_UP_CALL_RESERVE_MS` before the end, and failing then as it fails on an error. Unbounded, one that
 * hung (the degraded table that had the add give its call up in the first place) ran past the route's early answer,
 * a 503 "retry" for the whole request: for a batch, over items already answered 201 — written and armed, so
 * delivered —, which a client without idempotency keys then added again; for a fan-out add (fan-out/add.ts), over
 * its own answer: a 201 when every copy had gone on, or the 503 naming the subscribers its task still reaches.
 * `reserveMs`: more, for a clean-up with work after it (the batch add's writes': the arms of the tasks written).
 */
export function cleanUpCall<T>(
  deps: Pick<AddTaskDeps, "timeLeftMs">,
  call: (signal: AbortSignal) => Promise<T>,
  { reserveMs = CLEAN_UP_CALL_RESERVE_MS, followUps = 0 }: CleanUpCallOptions = {},
): Promise<T> {
  return inTime(deps, call, { reserveMs: reserveMs + followUps * FOLLOW_UP_CALL_MS });
}

export interface CleanUpCallOptions {
  /** What the last call of the clean-up leaves of the invocation. */
  readonly reserveMs?: number;
  /**
   * The clean-up calls that may follow this one in turn (a removal that hung: then the copy's read back, then its
   * sweep index entry), each given `FOLLOW_UP_CALL_MS` of its own before its deadline.
   */
  readonly followUps?: number;
}

/**
 * The time each follow-up of a clean-up call has to itself: a healthy DynamoDB call and a retry of it. Given up at
 * one deadline, a removal that hung left the sweep index entry or the read back after it no time at all: aborted
 * (or, now, refused) as it went out, so a copy or task left in the table after a 503 was never put in the sweep
 * index, and a fan-out add whose copies had all gone on answered 503 instead of 201 (only a fake that answers at
 * once hid it).
 */
export const FOLLOW_UP_CALL_MS = 250;

/**
 * `call`, or a failure once the invocation has only `CLEAN_UP_RESERVE_MS` left. An AWS call can hang far longer
 * than the function runs (a dropped connection: the SDK's socket timeout is 5 minutes); left to the route's early
 * timeout, the add answered "timed out" with nothing cleaned up, and a near-term task stayed `scheduled`, unarmed
 * and outside the sweep index. Given up on, the call is one whose outcome is unknown, which the add's clean-up
 * already handles (`writeOrRemove`, `armOrRemove`).
 *
 * A given-up call is aborted through `call`'s signal, which the task writes pass to the SDK: left running, the SDK
 * would send a hung write again once its socket timed out (a timeout is retryable), in this invocation or, after a
 * freeze, in a later one — a task without a key written after its removal, the client told 503 "not accepted" and
 * adding it again. Aborted, it is never sent again; only a request already on its way and held there (seconds)
 * can still land after the clean-up, as a function that died there leaves it. A timer call that lands later is
 * harmless (the relay finds no task, or a kept one).
 *
 * `keepsWhatIsDone`: `call` answers for itself once aborted, with what it finished by then (`armMany`: the timers
 * sent), and is given `ABORTED_ANSWER_MS` to do so before it fails as a whole. Failed whole, one hung batch of a
 * batch add's ten timer calls answered 503 for all hundred items, every timer already sent included.
 *
 * `reserveMs`: the time left when `call` is given up, for a step that still has work after it besides the clean-up
 * (the batch add's writes: the tasks written by then are armed next).
 */
export async function inTime<T>(
  deps: Pick<AddTaskDeps, "timeLeftMs">,
  call: (signal: AbortSignal) => Promise<T>,
  options: { readonly keepsWhatIsDone?: boolean; readonly reserveMs?: number } = {},
): Promise<T> {
  const abort = new AbortController();
  // One signal for a whole step: a batch add's ten SendMessageBatch calls at once, each listened to by its adapter
  // (`untilAborted`) and its request handler until it answers. Past Node's default of 10 listeners, every such
  // batch logged a "possible EventTarget memory leak" warning; the count is calls in flight, not a leak.
  setMaxListeners(0, abort.signal);
  if (!deps.timeLeftMs) return call(abort.signal);
  const timeLeftMs = deps.timeLeftMs() - (options.reserveMs ?? CLEAN_UP_RESERVE_MS);
  // Due past its deadline (the step before it ran late, or many items' clean-ups queued behind each other on a
  // small function's CPU): refused unsent. Sent, it was aborted a tick later all the same, after costing its
  // serialization and request CPU — 190 such calls took ~200 ms here, eating the margin before the route's early
  // answer (docs/RELIABILITY.md, "What one failure costs").
  if (timeLeftMs <= 0) throw Object.assign(outOfTime(), { [NEVER_SENT]: true });
  const started = call(abort.signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    const giveUp = () => {
      if (!options.keepsWhatIsDone) reject(outOfTime());
      abort.abort();
      if (options.keepsWhatIsDone) timer = setTimeout(() => reject(outOfTime()), ABORTED_ANSWER_MS);
    };
    timer = setTimeout(giveUp, timeLeftMs);
  });
  try {
    return await Promise.race([started, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How long an aborted `keepsWhatIsDone` call has to answer: it answers within the same turn of the event loop
 * (`untilAborted` for a call in flight; `inRounds` cuts a back-off between rounds short, which lasts up to 200 ms);
 * this bounds one that does not, out of the clean-up's reserve.
 */
export const ABORTED_ANSWER_MS = 100;

const NEVER_SENT = Symbol("never sent");

/**
 * Whether `error` is `inTime` refusing a call due past its deadline: the call was never made, so it wrote nothing and
 * leaves nothing to clean up (each clean-up call would be one more to the table that made the add run late).
 */
export function wasNeverSent(error: unknown): boolean {
  return typeof error === "object" && error !== null && NEVER_SENT in error;
}

/** A call given up on: named as the SDK names its own timeouts, so it reads as transient (503) wherever it goes. */
function outOfTime(): Error {
  return Object.assign(new Error("an AWS call did not answer within the invocation's time"), {
    name: "TimeoutError",
  });
}

/** The time a timer is planned from: now, as the timer is armed (`timerClock`). */
export function timerNow(deps: Pick<AddTaskDeps, "now" | "timerClock">): number {
  return (deps.timerClock ?? deps.now)();
}

/** Arms a task's timer as planned: the timer queue, or a one-time schedule (also used by reschedule-task). */
export async function arm(
  deps: Pick<AddTaskDeps, "timerQueue" | "scheduler">,
  taskId: string,
  plan: TimerPlan,
): Promise<void> {
  if (plan.kind === "queue") {
    await deps.timerQueue.arm(taskId, plan.delaySeconds);
  } else {
    await deps.scheduler.createTaskSchedule({
      taskId,
      name: scheduleNameFor(taskId),
      expression: plan.expression,
    });
  }
}

/** The due time in epoch ms: a past time means now; further ahead than the topic's maxDelay is refused. */
export function dueTime(
  request: Pick<AddTaskRequest, "due" | "dueField">,
  topic: TopicConfig,
  nowMs: number,
): number {
  const requested = requestedDueMs(request.due, nowMs);
  const path = request.dueField;
  // Too far ahead before unrepresentable: a time past every safe integer of ms (`delay_seconds: 1e15`) is one
  // further ahead than any maxDelay, and is told the limit, as one a second too far is.
  if (requested - nowMs > topic.maxDelaySeconds * 1000) {
    const timingMoment = "timingMoment" in request.due ? request.due.timingMoment : undefined;
    throw validationFailed([{ path, message: tooFarAheadMessage(topic.maxDelaySeconds, timingMoment) }]);
  }
  if (!Number.isSafeInteger(requested))
    throw validationFailed([{ path, message: "is not a representable time" }]);
  return Math.max(requested, nowMs);
}

/**
 * A fan-out topic delivers to its subscribers (issue 14, point 3): a task of its own `callback` is refused with
 * `fan_out_callback`, rather than silently ignored or sent to a fifth party. The parent stores no callback URL.
 */
function noCallbackOnFanOut(request: AddTaskRequest, topic: TopicConfig): string {
  if (request.callbackUrl !== undefined) throw fanOutCallback(topic.name);
  return "";
}

/**
 * The callback URL each topic's settings (the object) last accepted, and its form as stored. A batch's items mostly
 * share one callback, and its check (parsing the URL, matching the host against every allowed pattern: a fifth of
 * an item's validation) is a function of the URL and the topic's settings alone; settings that change are a new
 * object. Only an accepted URL is kept: a refusal is worked out again, with its own path and message.
 */
const acceptedCallbacks = new WeakMap<TopicConfig, { readonly url: string; readonly href: string }>();

function callbackFor(request: AddTaskRequest, topic: TopicConfig, config: PunctualConfig): string {
  const resolved = resolveCallback({
    callbackUrl: request.callbackUrl,
    content: request.content.value,
    services: config.services,
    defaultCallbackUrl: topic.defaultCallbackUrl,
  });
  if (!resolved.ok) throw validationFailed([resolved.issue]);
  const accepted = acceptedCallbacks.get(topic);
  if (accepted?.url === resolved.url) return accepted.href;
  const checked = checkCallbackUrl(resolved.url, topic);
  if (!checked.ok) {
    const message =
      resolved.source === "topic-default"
        ? `the topic's default callback is refused: ${checked.reason}`
        : checked.reason;
    throw validationFailed([{ path: resolved.path, message }]);
  }
  // The cap holds for the URL as stored: a short `callback.url` can grow (percent-encoding), and seed style joins
  // a base URL with `content.url`, which only the content size limit bounded.
  if (checked.url.href.length > MAX_CALLBACK_URL_LENGTH) {
    throw validationFailed([
      {
        path: resolved.path,
        message: `resolves to a callback URL of ${checked.url.href.length} characters; at most ${MAX_CALLBACK_URL_LENGTH} are allowed`,
      },
    ]);
  }
  acceptedCallbacks.set(topic, { url: resolved.url, href: checked.url.href });
  return checked.url.href;
}

/**
 * The content as `groupValueOf` reads it: a lossless number in the ordering field becomes the JS number it was
 * before (so `1` and `1.0` stay one group), unless no JS number holds it: then its text as written, so
 * `12345678901234567890` and `12345678901234567891` are two groups, not one.
 */
function orderingView(
  content: Record<string, unknown>,
  deliverBy: string | undefined,
): Record<string, unknown> {
  if (deliverBy === undefined || !Object.hasOwn(content, deliverBy)) return content;
  const raw = content[deliverBy];
  if (!isLosslessNumber(raw)) return content;
  return { [deliverBy]: toJsNumber(raw) ?? raw.toString() };
}

/**
 * A DynamoDB item holds at most 400 KB (names and values), and a task item grows after it is written (status
 * times, `lastError`). The content limit (≤ 350 KiB) and the URL cap keep every task far below it; this is the
 * check that the sum really fits, so an oversized task is a 413 now rather than a 500 from DynamoDB that no retry
 * can fix. The idempotency item holds only the key, the task id and a hash, so it cannot outgrow the task's.
 */
export function checkItemSize(task: TaskRecord): void {
  const size = taskItemSizeBound(task);
  if (size > MAX_ITEM_BYTES - ITEM_GROWTH_BYTES) {
    throw payloadTooLarge(
      `the task would take ${size} bytes in the task table; at most ${MAX_ITEM_BYTES - ITEM_GROWTH_BYTES} fit`,
      "content",
    );
  }
}

// Where the add and the modules that moved with it (reschedule, fan-out, schedules) have always found it.
export { claimExpiry };

/**
 * The field a caller's key came in, which its conflicts name: the `Idempotency-Key` header when the body (parsed
 * already, so an object) carries none, as the typed client sends every key; else the body's `idempotency_key`.
 */
function keyFieldOf(input: AddTaskInput): string {
  const inBody = (input.body as { readonly idempotency_key?: unknown }).idempotency_key !== undefined;
  return input.idempotencyKeyHeader !== undefined && !inBody ? "Idempotency-Key" : "idempotency_key";
}

/** A repeat's "completed and expired" conflict (its own, or a fan-out task's) named at the key's field. */
function atKeyField(error: unknown, keyField: string): unknown {
  if (!isHttpError(error) || error.code !== "idempotency_conflict") return error;
  return idempotencyConflict(error.message, keyField);
}

/**
 * SHA-256 of the request as the caller meant it: the due time as given (`delay_seconds: 60` is the same
 * request a minute later), the content as an object (its string and object spellings are one request), keys
 * in sorted order (JSON object order carries no meaning).
 */
export function hashRequest(request: AddTaskRequest): string {
  const normalised = {
    topic: request.topic,
    due: request.due,
    content: request.content.value,
    deliver_by: request.deliverBy ?? null,
    callback: request.callbackUrl ?? null,
  };
  return createHash("sha256").update(canonicalJson(normalised)).digest("hex");
}

/** Sorted keys; a lossless number as its token as written (`1.0` and `1` are two requests, as they are two contents). */
export function canonicalJson(value: unknown): string {
  if (isLosslessNumber(value)) return value.toString();
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

export function addResponse(task: TaskRecord): AddTaskResponse {
  return {
    task_id: task.taskId,
    topic: task.topic,
    status: task.status,
    due_at: rfc3339(task.dueAtMs),
    ...(task.fanOut
      ? { subscribers: task.fanOut.map((l) => ({ id: l.subscriber, task_id: l.taskId })) }
      : {}),
  };
}
