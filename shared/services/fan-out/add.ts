import { type HttpError, serviceUnavailable } from "#shared/api/errors.js";
import { type TopicConfig, timerSettings, topicConfig } from "#shared/config/index.js";
import {
  aggregateStatus,
  deliveryFromLink,
  expandFanOut,
  type FanOutLink,
  type Subscriber,
  type SubscriberStatus,
} from "#shared/domain/fan-out.js";
import type { TaskRecord, TaskStatus } from "#shared/domain/task.js";
import { planTimer } from "#shared/domain/timing.js";
import { forEachBounded } from "#shared/runtime/async.js";
import { type AddTaskDeps, arm, checkItemSize, claimExpiry } from "../add-task.js";

/** What the fan-out add needs of the add's ports. */
export type FanOutAddDeps = Pick<AddTaskDeps, "store" | "timerQueue" | "scheduler" | "config" | "onError">;

/** Writes or arms in flight at once for one add: every subscriber of a topic (≤ 10) side by side. */
const ADD_CONCURRENCY = 10;

/**
 * Adds a task on a fan-out topic: the parent, then every delivery task, then every delivery's timer, and only
 * then the caller's 2xx. So an acknowledged task has all its copies written and armed — it is never half-added.
 *
 * Not one transaction: DynamoDB's TransactWriteItems could write the items at once (dynalite, the local cloud's
 * table, has none), but the timers are SQS messages or Scheduler schedules outside any DynamoDB transaction anyway;
 * what makes the add safe is the order and the answer, as for a plain task (shared/services/add-task.ts):
 * - the parent first, so no delivery task exists without the parent that shows it;
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
  nowMs: number,
): Promise<TaskRecord> {
  const expanded = expandFanOut(task, subscribers);
  // The parent is never finished by a delivery, so it gets its TTL now: as long as its idempotency claim lives
  // (due time + the longest the copies' attempts can take + retention + a day).
  const parent = { ...expanded.parent, expiresAt: claimExpiry(task.dueAtMs, topic) };
  const { deliveries } = expanded;
  for (const record of [parent, ...deliveries]) checkItemSize(record);
  let arming = false;
  try {
    await deps.store.putNew(parent);
    await forEachBounded(deliveries, ADD_CONCURRENCY, async (delivery) => {
      await deps.store.putNew(delivery);
    });
    // A group cancel can find the parent before its copies exist (the group's list shows parents).
    if (await cancelledMeanwhile(deps, parent, deliveries)) return { ...parent, status: "cancelled" };
    arming = true;
    await armAll(deps, deliveries, nowMs);
    return parent;
  } catch (error) {
    throw await undoOrKeep(deps, parent, deliveries, error, arming);
  }
}

/**
 * A repeat of an idempotent add whose parent exists: every copy made sure of (recreated if missing, re-armed if
 * still scheduled); answers the parent's status as the subscribers' copies make it.
 */
export async function completeFanOut(
  deps: FanOutAddDeps,
  parent: TaskRecord,
  nowMs: number,
): Promise<TaskStatus> {
  const statuses: SubscriberStatus[] = [];
  try {
    await forEachBounded(parent.fanOut ?? [], ADD_CONCURRENCY, async (link) => {
      statuses.push(await ensureDelivery(deps, parent, link, nowMs));
    });
  } catch (error) {
    deps.onError?.("completing a fan-out task failed", error, parent.taskId);
    throw serviceUnavailable("could not complete the task's deliveries; retry the request", error);
  }
  return aggregateStatus(statuses, parent.status);
}

async function ensureDelivery(
  deps: FanOutAddDeps,
  parent: TaskRecord,
  link: FanOutLink,
  nowMs: number,
): Promise<SubscriberStatus> {
  let delivery = await deps.store.get(link.taskId);
  // A cancelled parent gets no new copy: the cancel has been answered, a late retry must not undo it.
  if (!delivery && parent.status === "cancelled") return "missing";
  // Nor does a copy that may have finished and expired: the parent (and the claim) outlive a copy's retention.
  if (!delivery && mayHaveExpired(deps, parent, nowMs)) return "missing";
  if (!delivery) {
    const recreated = deliveryFromLink(parent, link);
    await deps.store.putNew(recreated);
    if (await cancelledMeanwhile(deps, parent, [recreated])) return "missing";
    delivery = (await deps.store.get(link.taskId)) ?? recreated;
  }
  if (delivery.status === "scheduled") await armAll(deps, [delivery], nowMs);
  return delivery.status;
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
  if ((await deps.store.get(parent.taskId))?.status !== "cancelled") return false;
  await forEachBounded(copies, ADD_CONCURRENCY, (copy) => deps.store.removeScheduled(copy.taskId));
  return true;
}

/**
 * A missing copy was either never written (an add that stopped before its answer) or finished and removed by its
 * TTL, which never comes before acceptance + retention (as for a plain task's repeat, shared/services/add-task.ts
 * `replay`): only before that can it be recreated without delivering a finished copy a second time. A topic no
 * longer configured has no retention to go by, so nothing is recreated for it.
 */
function mayHaveExpired(deps: FanOutAddDeps, parent: TaskRecord, nowMs: number): boolean {
  const retentionDays = topicConfig(deps.config, parent.topic)?.retentionDays;
  return retentionDays === undefined || nowMs - parent.acceptedAtMs >= retentionDays * 86_400_000;
}

async function armAll(deps: FanOutAddDeps, deliveries: readonly TaskRecord[], nowMs: number): Promise<void> {
  await forEachBounded(deliveries, ADD_CONCURRENCY, (delivery) =>
    arm(deps, delivery.taskId, planTimer(delivery.dueAtMs, nowMs, timerSettings(deps.config))),
  );
}

/**
 * After a failed add: remove what was written (no idempotency key) or keep it for the retry; the error to throw.
 *
 * Without a key, a copy whose timer was armed can be forwarded by the relay (a copy due now, at once) before this
 * clean-up: it is no longer `scheduled`, cannot be removed, and will be delivered. Its parent then stays, so that
 * copy's `parent_task_id` shows the task (the removed copies as `missing`), and the 503 names the task and the
 * subscribers it still reaches instead of "not accepted". No timer and no transaction can close that window
 * (README "Fan-out"); an idempotency key avoids it, as the retry then completes the same task for everyone.
 */
async function undoOrKeep(
  deps: FanOutAddDeps,
  parent: TaskRecord,
  deliveries: readonly TaskRecord[],
  error: unknown,
  arming: boolean,
): Promise<unknown> {
  const retryable = parent.idempotencyKey !== undefined;
  deps.onError?.(
    retryable
      ? "adding a fan-out task failed; kept for a retry with its idempotency key"
      : "adding a fan-out task failed; removing what was written",
    error,
    parent.taskId,
  );
  if (retryable) {
    return arming
      ? serviceUnavailable(
          "could not arm the task's timers; retry the request with the same idempotency key",
          error,
        )
      : error;
  }
  const goneOn = await removeCopies(deps, deliveries, arming);
  if (goneOn.length > 0) return partlyDelivering(parent, goneOn, error);
  await removeQuietly(deps, parent.taskId);
  if (!arming) return error;
  return serviceUnavailable(
    "could not arm the task's timers; the task was not accepted, retry the request",
    error,
  );
}

/**
 * Removes every copy still `scheduled` (before any timer was armed nothing can have moved, so nothing is read
 * back); answers the subscribers whose copies are still there, handed to delivery already.
 */
async function removeCopies(
  deps: FanOutAddDeps,
  deliveries: readonly TaskRecord[],
  arming: boolean,
): Promise<string[]> {
  const goneOn: string[] = [];
  await forEachBounded(deliveries, ADD_CONCURRENCY, async (delivery) => {
    await removeQuietly(deps, delivery.taskId);
    if (!arming) return;
    const left = await deps.store.get(delivery.taskId).catch(() => undefined);
    if (left && left.status !== "scheduled") goneOn.push(delivery.subscriber ?? "");
  });
  return goneOn.sort((a, b) => subscriberIndex(deliveries, a) - subscriberIndex(deliveries, b));
}

function subscriberIndex(deliveries: readonly TaskRecord[], subscriber: string): number {
  return deliveries.findIndex((d) => d.subscriber === subscriber);
}

async function removeQuietly(deps: FanOutAddDeps, taskId: string): Promise<void> {
  try {
    await deps.store.removeScheduled(taskId);
  } catch (cleanupError) {
    deps.onError?.("removing part of a refused fan-out task failed", cleanupError, taskId);
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
