import { decodeTime } from "ulid";
import type { TaskStore } from "#shared/adapters/task-store.js";
import { isHttpError } from "#shared/api/errors.js";
import { type TopicConfig, timerSettings, topicConfig } from "#shared/config/index.js";
import type { AddTaskRequest } from "#shared/domain/add-task-request.js";
import { expandFanOut } from "#shared/domain/fan-out.js";
import { makeTaskKey, newUlid, parseTaskId } from "#shared/domain/keys.js";
import type { ScheduleRecord } from "#shared/domain/schedule.js";
import { occurrencesBetween, uncomputableProblem } from "#shared/domain/schedule-cron.js";
import { retentionExpiry, type TaskRecord } from "#shared/domain/task.js";
import { planTimer } from "#shared/domain/timing.js";
import { forEachBounded } from "#shared/runtime/async.js";
import {
  type CheckedAddRequest,
  checkParsedAddRequest,
  claimExpiry,
  hashRequest,
  newRecord,
} from "../add-task.js";
import { cancelOccurrenceTask } from "./cancel-occurrence.js";
import {
  type CancelOccurrencesDeps,
  cancelOccurrences,
  occurrenceRequest,
  occurrencesAhead,
} from "./materialize.js";
import { specOf } from "./view.js";
import { cancelUnits, fenceUnits, scheduleItemUnits, WriteBudget } from "./write-budget.js";

/**
 * What settling a stopped epoch needs: the claims, the cancel, and writing a task as `cancelled` (never armed,
 * so a stop sends nothing to a queue and creates no timer).
 */
export interface StopDeps extends CancelOccurrencesDeps {
  readonly store: CancelOccurrencesDeps["store"] &
    Pick<TaskStore, "updateSchedule" | "claimIdempotencyKey" | "putNew" | "get">;
  readonly newUlid?: (nowMs: number) => string;
}

/** How many leased occurrences one stop settles side by side. */
const FENCE_CONCURRENCY = 4;

/** What settling a stopped epoch did inside the call. */
export interface SettleResult {
  /** Tasks that existed and were cancelled (the view's count; not the ones this call wrote as cancelled). */
  readonly cancelled: number;
  /**
   * Whether the write budget left occurrences uncancelled (made ahead) or unfenced (leased): deliver's schedule
   * check cancels each when delivery reaches it, never calling it (occurrence-hold.ts); a repeated stop goes on.
   */
  readonly deferred: boolean;
}

/**
 * What a stopped epoch (paused or deleted) is owed before the stop answers, and again before a resume leaves the
 * epoch behind (the pause may have answered 503 part-way): the ones made ahead are cancelled, and the occurrences
 * a run has leased beyond the cursor are made cancelled tasks — within `budget` (INLINE_WRITE_UNITS, or what a
 * resume's inline pass leaves of it), soonest due first. A one-second cron makes up to 240 ahead, each cancel billed
 * on its content (up to 256 KiB): unbounded, one stop wrote ~60,000 units into one partition, throttled far past the
 * route's timeout. What the budget leaves is no longer what keeps the stopped schedule from calling: deliver reads
 * an occurrence's schedule before its attempt and cancels one whose schedule is stopped.
 */
export async function settleStoppedEpoch(
  deps: StopDeps,
  schedule: ScheduleRecord,
  nowMs: number,
  budget: WriteBudget = new WriteBudget(),
): Promise<SettleResult> {
  // Of a schedule this release cannot compute, the leased window is not fenced: without the pattern, a cancelled
  // task written under every second's key would be a task for instants that are no occurrence. Those made ahead
  // are still found, by their keys (occurrencesAhead).
  const computable = uncomputableProblem(schedule) === undefined;
  const ahead = occurrencesAhead(schedule, nowMs);
  // The lease's release (a write of the schedule's item, which carries the content) is reserved first.
  const releasing = computable && leasedBeyondCursor(schedule) && budget.take(scheduleItemUnits(schedule));
  // Those made ahead are due before the leased window (it lies beyond the cursor): they take the budget next.
  let cancelled = await cancelOccurrences(deps, schedule, ahead, {
    budget,
    units: cancelUnits(deps, schedule),
    read: (taskId) => deps.store.get(taskId),
  });
  const fence = computable ? await fenceLeased(deps, schedule, budget) : { cancelled: 0, whole: true };
  cancelled += fence.cancelled;
  // A window fenced in part keeps its lease: a repeated stop (or the resume's settle) fences the rest.
  if (releasing && fence.whole) await releaseFencedLease(deps, schedule);
  return { cancelled, deferred: budget.spent };
}

/**
 * Once the leased window is fenced, the stopped epoch's lease is given back (set to the cursor): each of its
 * occurrences has a task now, so a later settle (a repeated pause, a delete, a resume, however long after) has
 * nothing to fence again. Kept, a resume after the claims had expired (the topic's retention and a day past due)
 * claimed those keys afresh and wrote a cancelled task for each, long past. One conditional write on the status,
 * epoch and lease read, and only when a run had leased beyond the cursor; nothing else moves a stopped schedule's
 * lease (a run's lease and cursor writes require it active). A settle that fails before it keeps the lease, and the
 * next one fences again.
 */
async function releaseFencedLease(deps: StopDeps, schedule: ScheduleRecord): Promise<void> {
  await deps.store.updateSchedule(schedule.scheduleId, {
    ifStatus: [schedule.status],
    ifEpoch: schedule.epoch,
    ifLeasedUntilMs: schedule.leasedUntilMs,
    set: { leasedUntilMs: schedule.materializedUntilMs },
  });
}

function leasedBeyondCursor(schedule: ScheduleRecord): boolean {
  return schedule.leasedUntilMs !== undefined && schedule.leasedUntilMs > schedule.materializedUntilMs;
}

/**
 * The leased window (cursor, lease]: a run may be adding these right now, or add them after the stop answered.
 * Each occurrence's task is made to exist as `cancelled` under its idempotency key, so the run's own add finds
 * it and creates nothing. Past-due ones included: the run would add them due now. Those the budget leaves, a run
 * under way may still add after the stop answered: it cancels them itself once its cursor write finds the schedule
 * stopped, and should it crash first, deliver's schedule check does. `whole`: every one was fenced.
 */
async function fenceLeased(
  deps: StopDeps,
  schedule: ScheduleRecord,
  budget: WriteBudget,
): Promise<{ readonly cancelled: number; readonly whole: boolean }> {
  const leasedUntilMs = schedule.leasedUntilMs ?? schedule.materializedUntilMs;
  if (leasedUntilMs <= schedule.materializedUntilMs) return { cancelled: 0, whole: true };
  const leased = occurrencesBetween(
    specOf(schedule),
    schedule.materializedUntilMs,
    leasedUntilMs,
    Number.MAX_SAFE_INTEGER,
  );
  const units = fenceUnits(deps, schedule);
  let cancelled = 0;
  let whole = true;
  await forEachBounded(leased, FENCE_CONCURRENCY, async (occurrenceMs) => {
    if (!budget.take(units)) {
      whole = false;
      return;
    }
    if (await fenceOccurrence(deps, schedule, occurrenceMs)) cancelled++;
  });
  return { cancelled, whole };
}

/**
 * One occurrence as the add-task service would add it, but `cancelled`, and cancelled if a run made it already.
 * True when a task the run made was cancelled.
 */
async function fenceOccurrence(
  deps: StopDeps,
  schedule: ScheduleRecord,
  occurrenceMs: number,
): Promise<boolean> {
  const fenced = await writeOccurrenceCancelled(deps, schedule, occurrenceMs);
  if (fenced?.outcome !== "exists") return false;
  return (await cancelOccurrenceTask(deps, fenced.taskId, schedule.topic)).outcome === "cancelled";
}

/**
 * One occurrence as the add-task service would add it, but `cancelled`: its key claimed as the add claims it (or
 * a run's claim found), its task written `cancelled` unless it exists. `exists`: a run made it (or is making it:
 * its write then finds this one). Undefined when the add-task checks refuse it (4xx), as they refuse the run's add.
 */
export async function writeOccurrenceCancelled(
  deps: StopDeps,
  schedule: ScheduleRecord,
  occurrenceMs: number,
): Promise<{ readonly outcome: "created" | "exists"; readonly taskId: string } | undefined> {
  const nowMs = deps.now();
  const occurrence = occurrenceRequest(schedule, occurrenceMs);
  const checked = occurrence && checkedAsSomeSettingsTakeIt(deps.config, occurrence, nowMs);
  if (!checked) return undefined;
  const { request, topic, dueAtMs, groupValue } = checked;
  const fresh = makeTaskKey(topic.name, groupValue, dueAtMs, (deps.newUlid ?? newUlid)(nowMs));
  const requestHash = hashRequest(request);
  const claim = await deps.store.claimIdempotencyKey({
    topic: topic.name,
    key: request.idempotencyKey as string,
    taskId: fresh.taskId,
    requestHash,
    expiresAt: claimExpiry(dueAtMs, topic),
  });
  // A claim with another hash is not an occurrence's: the run's add is refused by it (409), nothing to do.
  if (claim.status === "existing" && claim.requestHash !== requestHash) return undefined;
  const taskId = claim.status === "existing" ? claim.taskId : fresh.taskId;
  const task = cancelledTask(deps, taskId, checked, schedule.scheduleId, nowMs);
  return { outcome: await deps.store.putNew(task, { sweepIndex: false }), taskId };
}

/**
 * The occurrence checked as an add checks it, with today's topic settings or, where they refuse it, with that topic's
 * limits lifted; undefined when even those refuse it. Settings change without a deploy, and each invocation reads its
 * own: a run under way holds those of its start (taken before a change), and adds an occurrence that today's refuse
 * (a lower `maxPayloadBytes` or `maxDelaySeconds`, a narrower allow-list, a default callback or subscribers removed,
 * an ordering field moved to one the content holds an object in). Left unfenced, it was added after the stop
 * answered, live: delivery checks neither size nor delay again (and a narrowed allow-list only at the attempt).
 */
function checkedAsSomeSettingsTakeIt(
  config: StopDeps["config"],
  occurrence: AddTaskRequest,
  nowMs: number,
): CheckedAddRequest | undefined {
  const topic = topicConfig(config, occurrence.topic);
  const lifted = topic ? liftedTopics(topic, occurrence) : [];
  for (const settings of [config, ...lifted.map((t) => withTopic(config, t))]) {
    try {
      return checkParsedAddRequest(settings, occurrence, nowMs);
    } catch (error) {
      if (!isHttpError(error) || error.status >= 500) throw error;
    }
  }
  return undefined;
}

/**
 * A callback for an occurrence whose topic no longer gives it one (its default callback or its subscribers removed
 * since a run read them): the task it is checked for is written cancelled, never called, so any URL stands in.
 * `.invalid` is reserved (RFC 2606): no host answers it.
 */
const STAND_IN_CALLBACK = "https://fenced-occurrence.invalid/";

/**
 * The topic as an earlier settings document may have had it, for a run still holding that one: its limits lifted, and
 * a callback where it now gives none; then also without its ordering field (the topic's, unlike the schedule's own
 * `deliver_by`, changes at runtime), should that one refuse. The task written under either is the fence's own (its
 * id names its group, and a run finding the claim replays that id), so its group need not be the run's.
 */
function liftedTopics(topic: TopicConfig, occurrence: AddTaskRequest): TopicConfig[] {
  const ownCallback = occurrence.callbackUrl !== undefined;
  const lifted: TopicConfig = {
    ...topic,
    maxPayloadBytes: Number.MAX_SAFE_INTEGER,
    maxDelaySeconds: Number.MAX_SAFE_INTEGER,
    allowedCallbackHosts: ["*"],
    allowHttpCallbacks: true,
    // A topic given subscribers since refuses an occurrence's own callback (fan_out_callback); the run adds it plain.
    ...(ownCallback ? { subscribers: undefined } : {}),
    ...(!ownCallback && !topic.subscribers
      ? { defaultCallbackUrl: topic.defaultCallbackUrl ?? STAND_IN_CALLBACK }
      : {}),
  };
  return occurrence.deliverBy === undefined ? [lifted, { ...lifted, deliverBy: undefined }] : [lifted];
}

function withTopic(config: StopDeps["config"], topic: TopicConfig): StopDeps["config"] {
  return { ...config, resolvedTopics: { ...config.resolvedTopics, [topic.name]: topic } };
}

/**
 * The task an add would write under this id (its acceptance time is its ULID's), already `cancelled`. On a topic
 * with subscribers that is the fan-out parent, its links included and no copy written: the run whose claim it
 * found then finds a cancelled parent (fan-out/add.ts, goOnWithStored), makes no copy, and answers it cancelled.
 * A plain task there was no fan-out task for it to go on with: its add answered 503 and the run failed.
 */
function cancelledTask(
  deps: StopDeps,
  taskId: string,
  checked: CheckedAddRequest,
  scheduleId: string,
  nowMs: number,
): TaskRecord {
  const key = parseTaskId(taskId);
  if (!key) throw new Error(`idempotency claim holds a malformed task id: ${taskId}`);
  const task = newRecord(
    key,
    decodeTime(key.ulid),
    planTimer(key.dueAtMs, nowMs, timerSettings(deps.config)),
    {
      content: checked.request.content.text,
      callbackUrl: checked.callbackUrl,
      groupValue: checked.groupValue,
      idempotencyKey: checked.request.idempotencyKey,
      scheduleId,
    },
  );
  const { subscribers } = checked.topic;
  const written = subscribers ? expandFanOut(task, subscribers).parent : task;
  const retentionDays = (topicConfig(deps.config, key.topic) ?? deps.config.system).retentionDays;
  return {
    ...written,
    status: "cancelled",
    cancelledAtMs: nowMs,
    expiresAt: retentionExpiry(nowMs, retentionDays),
  };
}
