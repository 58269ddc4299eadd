import { type HttpError, idempotencyConflict, serviceUnavailable } from "#shared/api/errors.js";
import { type TopicConfig, timerSettings, topicConfig } from "#shared/config/index.js";
import {
  aggregateStatus,
  copiesMayHaveExpired,
  deliveryFromLink,
  expandFanOut,
  type FanOutLink,
  type Subscriber,
  type SubscriberStatus,
  withParentFloor,
} from "#shared/domain/fan-out.js";
import { indexedOnAdd } from "#shared/domain/sweep.js";
import { retentionExpiry, type TaskRecord, type TaskStatus } from "#shared/domain/task.js";
import { planTimer } from "#shared/domain/timing.js";
import { forEachBounded } from "#shared/runtime/async.js";
import {
  type AddTaskDeps,
  arm,
  CLEAN_UP_CALL_RESERVE_MS,
  CLEAN_UP_RESERVE_MS,
  checkItemSize,
  claimExpiry,
  cleanUpCall,
  EXPIRED_KEY_MESSAGE,
  FOLLOW_UP_CALL_MS,
  inTime,
  keptWhileClaimed,
  leaveForTheSweeper,
  ON_ITS_WAY,
  timerNow,
} from "../add-task.js";

/** What the fan-out add needs of the add's ports. */
export type FanOutAddDeps = Pick<
  AddTaskDeps,
  "store" | "timerQueue" | "scheduler" | "config" | "onError" | "now" | "timerClock" | "timeLeftMs"
>;

/** Writes or arms in flight at once for one add: every subscriber of a topic (≤ 10) side by side. */
const ADD_CONCURRENCY = 10;

/**
 * How far an add got when it failed, which is what its clean-up must look at: `parent`, no copy was written;
 * `copies`, copies may be written, none armed; `arming`, every copy written and the parent read back not cancelled
 * after those writes (`cancelledMeanwhile`), `armed` holding the copies whose timer was sent.
 */
interface AddProgress {
  stage: "parent" | "copies" | "arming";
  readonly armed: Set<string>;
}

/**
 * Adds a task on a fan-out topic: the parent, then every delivery task, then every delivery's timer, and only
 * then the caller's 2xx. So an acknowledged task has all its copies written and armed — it is never half-added.
 *
 * Not one transaction: DynamoDB's TransactWriteItems could write the items at once (dynalite, the local cloud's
 * table, has none), but the timers are SQS messages or Scheduler schedules outside any DynamoDB transaction anyway;
 * what makes the add safe is the order and the answer, as for a plain task (shared/services/add-task.ts):
 * - the parent first, so no delivery task exists without the parent that shows it;
 * - each copy enters the sweep index with its write only off the near-term happy path (`indexedOnAdd`, issue
 *   13.2): a near-term copy's timer message carries it, as a plain task's does, and every failure below that
 *   leaves a copy unarmed puts it in the index itself (`leaveUnarmedCopies`);
 * - a failure before the answer: without an idempotency key every item written is removed again (best effort;
 *   nobody was told the id) and the caller gets the error; with a key everything is left for the retry, which
 *   finds the parent through the claim and completes it (`completeFanOut`): missing copies recreated from the
 *   parent's links (deterministic ids), scheduled ones re-armed (a second timer message is harmless).
 */
export async function addFanOut(
  deps: FanOutAddDeps,
  task: TaskRecord,
  topic: TopicConfig,
  subscribers: readonly Subscriber[],
): Promise<TaskRecord> {
  const expanded = expandFanOut(task, subscribers);
  // The parent is never finished by a delivery, so it gets its TTL now: as long as its idempotency claim lives
  // (due time + the longest the copies' attempts can take + retention + a day). A keyed one is kept that long once
  // cancelled too (its floor, as a plain keyed task's: keptWhileClaimed): a cancel gave it the retention after the
  // cancel, and a retry of its add after TTL had removed it, the claim still live, wrote it and its copies again —
  // delivered to every subscriber though the DELETE had answered 200.
  const parent = keptWhileClaimed({ ...expanded.parent, expiresAt: claimExpiry(task.dueAtMs, topic) }, topic);
  const deliveries = expanded.deliveries.map((delivery) => withParentFloor(delivery, parent));
  for (const record of [parent, ...deliveries]) checkItemSize(record);
  const progress: AddProgress = { stage: "parent", armed: new Set() };
  let put: "created" | "exists";
  // Each step is given up near the deadline (`inTime`) so that its clean-up runs as after a failed call: a call
  // still in flight may then land after it (what `eachSettled` otherwise waits out), which beats no clean-up at all.
  try {
    put = await inTime(deps, (signal) => deps.store.putNew(parent, { signal }));
  } catch (error) {
    throw await undoOrKeep(deps, parent, deliveries, error, progress);
  }
  if (put === "exists" && parent.idempotencyKey !== undefined) return goOnWithStored(deps, parent.taskId);
  try {
    progress.stage = "copies";
    await inTime(deps, (signal) => eachSettled(deliveries, (delivery) => putCopy(deps, delivery, signal)));
    // A group cancel can find the parent before its copies exist (the group's list shows parents).
    if (await cancelledMeanwhile(deps, parent, deliveries)) return { ...parent, status: "cancelled" };
    progress.stage = "arming";
    await inTime(deps, () => armAll(deps, deliveries, progress.armed));
    return parent;
  } catch (error) {
    const failure = await undoOrKeep(deps, parent, deliveries, error, progress);
    if (failure instanceof Accepted) return { ...parent, status: failure.status };
    throw failure;
  }
}

/**
 * What the clean-up answers when it finds every copy already on its way (its timer message went out after all: SQS
 * took it and its answer was lost, or the call was given up on): the task was accepted, and is answered 201. A 503
 * would have the client add it again, every subscriber's callback twice (as `removeUnarmed` for a plain task).
 * `status` is the one its copies give it (`aggregateStatus`, as a read shows it), not the parent's `scheduled`.
 */
class Accepted {
  constructor(readonly status: TaskStatus) {}
}

/**
 * A keyed add that finds its parent written already: a repeat that lost the key's claim and read the claim's task
 * before the first add wrote it (or the first add itself, after such a repeat wrote it first). The stored parent is
 * the task — it may have been cancelled, or its copies gone on, since — so the add completes it as any repeat does
 * (`completeFanOut`: missing copies recreated, `scheduled` ones re-armed, nothing else touched) and answers it as
 * stored; it never arms copies already on their way, nor undoes what the other add wrote.
 */
async function goOnWithStored(deps: FanOutAddDeps, taskId: string): Promise<TaskRecord> {
  const stored = await deps.store.get(taskId);
  if (!stored?.fanOut) {
    throw serviceUnavailable("the task changed while it was added; retry the request");
  }
  return { ...stored, status: await completeFanOut(deps, stored, deps.now()) };
}

/** A copy's write: in the sweep index only off the near-term happy path, as a plain task's (issue 13.2). */
function putCopy(deps: FanOutAddDeps, copy: TaskRecord, signal?: AbortSignal): Promise<"created" | "exists"> {
  return deps.store.putNew(copy, { sweepIndex: indexedOnAdd(copy, deps.config.sweeper), signal });
}

/**
 * Every item through `fn`, side by side (≤ ADD_CONCURRENCY); the failure of the first item in order is thrown only
 * once every call has settled. The clean-up after a failure must come after every write and arm the add started: a
 * write still in flight could land after it, leaving a copy unremoved, or unarmed and outside the sweep index. And a
 * Lambda function's work still pending when it answers is frozen with it. Through `forEachBounded`, not p-map's
 * `pMapSettled`: this module is in create-schedule's bundle, which carries forEachBounded already and sits at the
 * 250 KB budget (test/unit/bench/bundle-size.test.ts), where p-map would add 2.3 KB.
 */
async function eachSettled<T>(items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  const failures: { readonly index: number; readonly reason: unknown }[] = [];
  const indexed = items.map((item, index) => ({ item, index }));
  await forEachBounded(indexed, ADD_CONCURRENCY, async ({ item, index }) => {
    try {
      await fn(item);
    } catch (reason) {
      failures.push({ index, reason });
    }
  });
  const first = failures.reduce<(typeof failures)[number] | undefined>(
    (earliest, failure) => (earliest === undefined || failure.index < earliest.index ? failure : earliest),
    undefined,
  );
  if (first) throw first.reason;
}

/**
 * A repeat of an idempotent add whose parent exists: every copy made sure of (recreated if missing, re-armed if
 * still scheduled); answers the parent's status as the subscribers' copies make it. When no copy is left past the
 * retention (each finished and expired, or never written and retried too late) it is the plain task's repeat once
 * its task is gone, a 409: the parent alone would read `scheduled`, a task still to come that never will.
 */
export async function completeFanOut(
  deps: FanOutAddDeps,
  parent: TaskRecord,
  nowMs: number,
): Promise<TaskStatus> {
  const statuses: SubscriberStatus[] = [];
  const links = parent.fanOut ?? [];
  try {
    const found = new Map<string, TaskRecord | undefined>();
    await eachSettled(links, async (link) => {
      found.set(link.taskId, await deps.store.get(link.taskId));
    });
    const expirable = !siblingKept([...found.values()], nowMs) && mayHaveExpired(deps, parent, nowMs);
    await eachSettled(links, async (link) => {
      const copy = { found: found.get(link.taskId), expirable, nowMs };
      statuses.push(await ensureDelivery(deps, parent, link, copy));
    });
  } catch (error) {
    deps.onError?.("completing a fan-out task failed", error, parent.taskId);
    throw serviceUnavailable("could not complete the task's deliveries; retry the request", error);
  }
  const noneLeft = statuses.length > 0 && statuses.every((status) => status === "missing");
  if (noneLeft && parent.status !== "cancelled" && mayHaveExpired(deps, parent, nowMs)) {
    throw idempotencyConflict(EXPIRED_KEY_MESSAGE);
  }
  return aggregateStatus(statuses, parent.status);
}

/**
 * One subscriber's copy on a retry. A cancelled parent gets no new copy, and a copy of it still `scheduled` is taken
 * back (the cancel has been answered, a late retry must not undo it: such a copy is one the cancel has yet to reach,
 * which it would cancel, or one an add took back but could not remove, which the relay's sweep of its lane, or the
 * sweeper, would otherwise deliver). Nor is a copy recreated that may have finished and expired (`expirable`: the
 * parent and the claim outlive a copy's retention, siblingKept). `found`: the copy as this retry read it. A copy this
 * retry cannot arm stays for the sweeper.
 */
async function ensureDelivery(
  deps: FanOutAddDeps,
  parent: TaskRecord,
  link: FanOutLink,
  { found, expirable, nowMs }: { found: TaskRecord | undefined; expirable: boolean; nowMs: number },
): Promise<SubscriberStatus> {
  if (parent.status === "cancelled") return cancelledCopy(deps, parent, found, nowMs);
  if (!found) {
    if (expirable) return "missing";
    return recreateDelivery(deps, parent, deliveryFromLink(parent, link));
  }
  if (found.status === "scheduled") {
    try {
      await armAll(deps, [found]);
    } catch (error) {
      await leaveUnarmedCopies(deps, parent, [found], false);
      throw error;
    }
  }
  return found.status;
}

/**
 * A cancelled parent's copy on a retry: cancelled if its attempt has not started, `scheduled` or `queued` (one
 * conditional write, as the parent's cancel does: a copy the sweeper sent again, held past its grace in a paused
 * topic, is `queued` and would otherwise be delivered); its status as the retry leaves it. Cancelled, not removed: a DELETE of the parent that is still
 * on its way to this copy must find it. Removed, it found nothing there, and when its other copies had gone on it
 * answered 409 and restored the parent — the task goes on, it said — while this subscriber's copy was gone.
 */
async function cancelledCopy(
  deps: FanOutAddDeps,
  parent: TaskRecord,
  found: TaskRecord | undefined,
  nowMs: number,
): Promise<SubscriberStatus> {
  if (found?.status !== "scheduled" && found?.status !== "queued") return found?.status ?? "missing";
  const retentionDays =
    topicConfig(deps.config, parent.topic)?.retentionDays ?? deps.config.system.retentionDays;
  const outcome = await deps.store.cancel(found.taskId, nowMs, retentionExpiry(nowMs, retentionDays));
  return outcome.outcome === "not-found" ? "missing" : outcome.task.status;
}

/** A missing copy written again, exactly as the add made it, and armed; left for the sweeper if it cannot be. */
async function recreateDelivery(
  deps: FanOutAddDeps,
  parent: TaskRecord,
  copy: TaskRecord,
): Promise<SubscriberStatus> {
  let checked = false;
  try {
    await putCopy(deps, copy);
    if (await cancelledMeanwhile(deps, parent, [copy])) return "missing";
    checked = true;
    const delivery = (await deps.store.get(copy.taskId)) ?? copy;
    if (delivery.status === "scheduled") await armAll(deps, [delivery]);
    return delivery.status;
  } catch (error) {
    await leaveUnarmedCopies(deps, parent, [copy], checked);
    throw error;
  }
}

/**
 * A cancel of the parent (DELETE, or a group cancel that listed it) between its write, or this retry's read of
 * it, and the copies' writes did not see those copies (it found nothing to cancel) and may have answered 200:
 * read the parent again after the writes and take the copies back (none is armed yet). Either the cancel's write
 * comes after this read, and then its copy cancels follow the copies' writes and find them, or this read sees it:
 * no order of the two leaves a copy the cancel missed. One read per add.
 */
async function cancelledMeanwhile(
  deps: FanOutAddDeps,
  parent: TaskRecord,
  copies: readonly TaskRecord[],
): Promise<boolean> {
  // The read is a step of the add (given up with the clean-up's reserve left, as the writes before it), the
  // removals a clean-up (given up before the route's early answer, `cleanUpCall`). A removal that hung is followed
  // by the add's own clean-up: the removal again (`removeCopies`), the parent's read, then the copy's take-back or
  // sweep index entry (`leaveUnarmedCopies`). Given up at their deadline, it left them none: refused, and the
  // cancelled parent's copy stayed `scheduled` for a later task of its lane to have the relay forward it.
  if (!(await cancelled(deps, parent, CLEAN_UP_RESERVE_MS))) return false;
  const removal = (copy: TaskRecord) => (signal: AbortSignal) =>
    deps.store.removeScheduled(copy.taskId, { signal });
  await eachSettled(copies, (copy) => cleanUpCall(deps, removal(copy), { followUps: 3 }));
  return true;
}

/**
 * Whether the parent reads cancelled; the read is given up (`inTime`, aborted) `reserveMs` before the end and then
 * fails as a failed read: by default a clean-up call's with one call after it (`cleanUpCall`, `FOLLOW_UP_CALL_MS`),
 * the copies' sweep index entries or their removals.
 */
async function cancelled(
  deps: FanOutAddDeps,
  parent: TaskRecord,
  reserveMs = CLEAN_UP_CALL_RESERVE_MS + FOLLOW_UP_CALL_MS,
): Promise<boolean> {
  const read = (signal: AbortSignal) => deps.store.get(parent.taskId, { signal });
  return (await inTime(deps, read, { reserveMs }))?.status === "cancelled";
}

/**
 * Copies written (or perhaps written) and not armed, that stay in the table: into the sweep index, as a plain
 * task's `leaveForTheSweeper`, so the sweeper delivers them once past due if no retry comes. Unless the parent has
 * been cancelled: a cancel that ran before these copies existed found none and may have answered 200, so they must
 * never be delivered — and a `scheduled` copy left in the table would be, unarmed and outside the index or not: the
 * relay forwards every due `scheduled` task of a lane when a later task of that lane (the same group, the same
 * subscriber) comes due, the sweeper every one of a lane it repairs, and a copy with a schedule timer is in the
 * index from its write. So they are taken back (`takeBack`).
 * `checked`: the parent was read not cancelled after these copies' writes, so a later cancel finds them (as in
 * `cancelledMeanwhile`); otherwise it is read now, and a read that fails leaves them as they are (only the retry
 * then settles them: the caller was not told 2xx).
 */
async function leaveUnarmedCopies(
  deps: FanOutAddDeps,
  parent: TaskRecord,
  copies: readonly TaskRecord[],
  checked: boolean,
): Promise<void> {
  if (copies.length === 0) return;
  if (!checked) {
    try {
      if (await cancelled(deps, parent)) return await takeBack(deps, copies);
    } catch (error) {
      deps.onError?.(
        "reading a fan-out parent before indexing its unarmed copies failed",
        error,
        parent.taskId,
      );
      return;
    }
  }
  // Every one, as a plain task's clean-up does: whether a copy's write indexed it was decided by the config of the
  // add that wrote it (a retry may run after a deploy), and entering is `if_not_exists`, on a failure path only.
  await eachSettled(copies, (copy) => leaveForTheSweeper(deps, copy.taskId));
}

/**
 * Removes the `scheduled` copies of a cancelled parent (as `cancelledMeanwhile` does), each reported instead of
 * thrown: the add's own failure is what its caller gets. A copy already moved on is left (the removal is
 * conditional), and one that cannot be removed stays for a keyed retry (`ensureDelivery`) to take back.
 */
async function takeBack(deps: FanOutAddDeps, copies: readonly TaskRecord[]): Promise<void> {
  await eachSettled(copies, (copy) => removeQuietly(deps, copy.taskId));
}

/**
 * A missing copy was either never written (an add that stopped before its answer) or finished and removed by its
 * TTL, which never comes before acceptance + retention (as for a plain task's repeat, shared/services/add-task.ts
 * `replay`): only before that can it be recreated without delivering a finished copy a second time. A topic no
 * longer configured has no retention to go by, so nothing is recreated for it.
 */
/**
 * Whether a copy of the parent is still kept by its floor (`withParentFloor`: the parent's TTL): it was written by
 * an add that gives every copy that floor, so a sibling missing now, written by the same add or a retry, would be
 * kept as long — it was never written. Without this, on a topic retained 0.1 day, an add whose last copy's write
 * failed (503) and whose retry came 3 hours after the due time left that subscriber without its copy and was
 * answered 200 `delivered` (its siblings'), though the parent and its claim lived a day and more longer.
 */
function siblingKept(copies: readonly (TaskRecord | undefined)[], nowMs: number): boolean {
  return copies.some((copy) => copy?.expiresAtFloor !== undefined && copy.expiresAtFloor * 1000 > nowMs);
}

function mayHaveExpired(deps: FanOutAddDeps, parent: TaskRecord, nowMs: number): boolean {
  return copiesMayHaveExpired(parent, topicConfig(deps.config, parent.topic)?.retentionDays, nowMs);
}

/**
 * Arms every copy's timer, each planned from the time it is sent (`timerNow`), not the add's start: the writes
 * before it take time, and a delay counted from the start would fire the copy that much late. `armed` collects the
 * copies whose timer was sent.
 */
async function armAll(
  deps: FanOutAddDeps,
  deliveries: readonly TaskRecord[],
  armed = new Set<string>(),
): Promise<void> {
  await eachSettled(deliveries, async (delivery) => {
    await arm(deps, delivery.taskId, planTimer(delivery.dueAtMs, timerNow(deps), timerSettings(deps.config)));
    armed.add(delivery.taskId);
  });
}

/**
 * After a failed add: remove what was written (no idempotency key) or keep it for the retry; the error to throw.
 *
 * Without a key, a copy whose timer was armed can be forwarded by the relay (a copy due now, at once) before this
 * clean-up: it is no longer `scheduled`, cannot be removed, and will be delivered. Its parent then stays, so that
 * copy's `parent_task_id` shows the task (the removed copies as `missing`), and the 503 names the task and the
 * subscribers it still reaches instead of "not accepted" — or, when every copy has gone on, the add was accepted
 * after all (`Accepted`: 201). No timer and no transaction can close that window
 * (docs/API.md "Fan-out"); an idempotency key avoids it, as the retry then completes the same task for everyone.
 */
async function undoOrKeep(
  deps: FanOutAddDeps,
  parent: TaskRecord,
  deliveries: readonly TaskRecord[],
  error: unknown,
  progress: AddProgress,
): Promise<unknown> {
  const retryable = parent.idempotencyKey !== undefined;
  deps.onError?.(
    retryable
      ? "adding a fan-out task failed; kept for a retry with its idempotency key"
      : "adding a fan-out task failed; removing what was written",
    error,
    parent.taskId,
  );
  const arming = progress.stage === "arming";
  if (!retryable)
    return removeWritten(deps, parent, progress.stage === "parent" ? [] : deliveries, error, progress);
  // A retry may never come: what stays unarmed goes to the sweeper, as a plain task kept for its key does.
  if (progress.stage !== "parent") {
    const unarmed = deliveries.filter((delivery) => !progress.armed.has(delivery.taskId));
    await leaveUnarmedCopies(deps, parent, unarmed, arming);
  }
  if (!arming) return error;
  return serviceUnavailable(
    "could not arm the task's timers; retry the request with the same idempotency key",
    error,
  );
}

/**
 * The clean-up without a key: the copies, then the parent. A copy that cannot be removed stays (in the sweep index
 * if unarmed, `leaveUnarmedCopies`, as a plain task whose removal failed), and so does its parent, to show it.
 */
async function removeWritten(
  deps: FanOutAddDeps,
  parent: TaskRecord,
  written: readonly TaskRecord[],
  error: unknown,
  progress: AddProgress,
): Promise<unknown> {
  const arming = progress.stage === "arming";
  const { goneOn, stayed, onTheirWay } = await removeCopies(deps, written, arming);
  const unarmed = stayed.filter((copy) => !progress.armed.has(copy.taskId));
  await leaveUnarmedCopies(deps, parent, unarmed, arming);
  if (written.length > 0 && onTheirWay.length === written.length) {
    deps.onError?.("every copy's timer went out after all; answered as accepted", undefined, parent.taskId);
    return new Accepted(aggregateStatus(onTheirWay, parent.status));
  }
  if (goneOn.length > 0) return partlyDelivering(parent, goneOn, error);
  if (stayed.length === 0) await removeQuietly(deps, parent.taskId);
  if (!arming) return error;
  return serviceUnavailable(
    "could not arm the task's timers; the task was not accepted, retry the request",
    error,
  );
}

/**
 * Removes every copy still `scheduled` (before any timer was armed nothing can have moved, so nothing is read
 * back); answers the subscribers whose copies are still there, handed to delivery already (`goneOn`), and the
 * copies that may still be there otherwise (`stayed`): still `scheduled` after a removal that failed, or armed and
 * not read back (the removal's condition fails silently on a copy that has gone on, so only the read tells; one
 * that cannot be read is kept in view, with its parent, as one whose removal failed); `onTheirWay`: the statuses of
 * those read back in a status only their timer leads to (`ON_ITS_WAY`: not a cancel's).
 */
async function removeCopies(
  deps: FanOutAddDeps,
  deliveries: readonly TaskRecord[],
  arming: boolean,
): Promise<{ goneOn: string[]; stayed: TaskRecord[]; onTheirWay: TaskStatus[] }> {
  const goneOn: string[] = [];
  const stayed: TaskRecord[] = [];
  const onTheirWay: TaskStatus[] = [];
  await forEachBounded(deliveries, ADD_CONCURRENCY, async (delivery) => {
    // Then its read back (arming) or its parent's read (`leaveUnarmedCopies`), then its sweep index entry.
    const removed = await removeQuietly(deps, delivery.taskId, 2);
    const left = arming ? await readBack(deps, delivery.taskId) : undefined;
    if (left && left !== "unread" && ON_ITS_WAY.has(left.status)) onTheirWay.push(left.status);
    if (left && left !== "unread" && left.status !== "scheduled") goneOn.push(delivery.subscriber ?? "");
    else if (!removed || left === "unread") stayed.push(delivery);
  });
  goneOn.sort((a, b) => subscriberIndex(deliveries, a) - subscriberIndex(deliveries, b));
  return { goneOn, stayed, onTheirWay };
}

/** A copy as the clean-up finds it after its removal: `unread` when the read failed (reported). */
async function readBack(deps: FanOutAddDeps, taskId: string): Promise<TaskRecord | undefined | "unread"> {
  try {
    // Then, if the copy stayed, its sweep index entry (`leaveUnarmedCopies`).
    return await cleanUpCall(deps, (signal) => deps.store.get(taskId, { signal }), { followUps: 1 });
  } catch (error) {
    deps.onError?.("reading back part of a refused fan-out task failed", error, taskId);
    return "unread";
  }
}

function subscriberIndex(deliveries: readonly TaskRecord[], subscriber: string): number {
  return deliveries.findIndex((d) => d.subscriber === subscriber);
}

/**
 * Removes a `scheduled` item, reporting a failure instead of throwing it; false when the removal failed, or hung
 * and was given up (`cleanUpCall`, with time left for `followUps` calls after it).
 */
async function removeQuietly(deps: FanOutAddDeps, taskId: string, followUps = 0): Promise<boolean> {
  try {
    await cleanUpCall(deps, (signal) => deps.store.removeScheduled(taskId, { signal }), { followUps });
    return true;
  } catch (cleanupError) {
    deps.onError?.("removing part of a refused fan-out task failed", cleanupError, taskId);
    return false;
  }
}

/** The 503 of an add whose clean-up found copies already on their way: the task id and who still gets it. */
function partlyDelivering(parent: TaskRecord, subscribers: readonly string[], error: unknown): HttpError {
  return serviceUnavailable(
    `could not arm every subscriber's timer; the task was removed except the copies of ${subscribers.join(", ")}, ` +
      `already on their way (task ${parent.taskId}); send it with an idempotency key so a retry completes it`,
    error,
    { task_id: parent.taskId, subscribers_delivering: subscribers.join(",") },
  );
}
