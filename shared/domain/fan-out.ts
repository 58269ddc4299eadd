import { parseTaskId, scheduleNameFor, type TaskKey } from "./keys.js";
import { laneTaskIdPrefix } from "./lane-hash.js";
import { mayHaveFinishedAndExpired, retentionEnded, type TaskRecord, type TaskStatus } from "./task.js";

/**
 * Fan-out (issue 14, point 3): a topic with `subscribers` delivers each task to every subscriber independently.
 *
 * A task added to such a topic is stored as its *parent* (the id the caller gets; never delivered itself, not in
 * the sweep index) plus one ordinary *delivery task* per subscriber. A delivery task is a task like any other:
 * own id, attempts, backoff, status, dead-lettering, replay and cancel, through the one pipeline. Its ordering
 * lane is the parent's group scoped by the subscriber (another partition key, so another FIFO MessageGroupId):
 * one subscriber's retries hold back only its own lane, and order per group holds per subscriber.
 */

// In ./lane-hash.ts (node:crypto only), where the client reads it to check a lane cancel's answer (client/client.ts).
export { laneHash } from "./lane-hash.js";
// In ./view-bounds.ts (no node: imports), where the console's browser bundle reads it to bound a task view.
export { MAX_SUBSCRIBERS } from "./view-bounds.js";

/** A subscriber id: a short slug, used in the signing key's derivation, the CLI and the task view. */
export const SUBSCRIBER_ID_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** A topic's subscriber as configured. */
export interface Subscriber {
  readonly id: string;
  readonly url: string;
}

/**
 * What the parent stores of each subscriber: which delivery task carries its copy, and where it goes (so a retried
 * add recreates a missing copy as it was accepted, whatever the topic's settings say by then).
 */
export interface FanOutLink {
  readonly subscriber: string;
  readonly taskId: string;
  readonly url: string;
}

/**
 * The key of a parent's delivery task for one subscriber: same topic, due time and acceptance ULID as the parent
 * (so within a lane deliveries keep the parents' order), the subscriber's lane as the group. Deterministic, so a
 * retried add with an idempotency key (whose claim holds the parent id) finds or recreates exactly these tasks.
 */
export function deliveryKey(parent: TaskKey, groupValue: string | undefined, subscriber: string): TaskKey {
  const lane = laneTaskIdPrefix(parent.topic, subscriber, groupValue, parent.ulid);
  const key = parseTaskId(`${lane}${parent.dueAtMs.toString(36)}.${parent.ulid}`);
  if (!key) throw new Error(`cannot derive a delivery task id from ${parent.taskId}`);
  return key;
}

/**
 * A fan-out parent: only a view of its copies, never delivered itself. It is `scheduled` (until cancelled) in its
 * group's partition, which plain tasks of the same group share once the topic's subscribers change (runtime
 * settings or a deploy turn a plain topic into a fan-out one or back, with tasks of both kinds still pending): the
 * relay's and the sweeper's reads of a group skip it, so it is never handed to delivery nor taken for a head.
 */
export function isFanOutParent(task: Pick<TaskRecord, "fanOut">): boolean {
  return task.fanOut !== undefined;
}

/** A subscriber row's status: a delivery task's status, or `missing` when its item is not there (see below). */
export type SubscriberStatus = TaskStatus | "missing";

/**
 * The parent's one status, from its subscribers' (the parent item itself stays `scheduled`, or `cancelled`):
 * - anything still moving wins, the furthest along first: `delivering`, then `queued`, then `scheduled`;
 * - when every copy is finished: `failed` if any was dead-lettered (someone must look), else `delivered` if any
 *   was, else `cancelled`.
 * A `missing` copy (an add that stopped before it was acknowledged; or retention expired) counts as nothing.
 */
export function aggregateStatus(statuses: readonly SubscriberStatus[], parentStatus: TaskStatus): TaskStatus {
  const has = (s: SubscriberStatus) => statuses.includes(s);
  for (const moving of ["delivering", "queued", "scheduled"] as const) if (has(moving)) return moving;
  for (const finished of ["failed", "delivered", "cancelled"] as const) if (has(finished)) return finished;
  return parentStatus;
}

/**
 * Whether a parent's missing copy may have finished and expired: a copy's TTL is set when it finishes, at least
 * `retentionDays` after that, and a copy finishes no earlier than its due time (delivered or dead-lettered once
 * due; no reschedule or run of a copy; a cancel of the parent stops any recreating, and one of the copy's own id
 * keeps it to the parent's TTL, withParentFloor) — nor than its acceptance. So before the retention after the later
 * of the two, a missing copy was never written (an add that stopped, or is still writing) and may still be; from
 * then on it may be gone for good. Counted from acceptance alone, a task due in 10 days on a topic retained 3 days
 * whose keyed add stopped before its copies was, on day 4, "completed and expired" to its retry (409) and to GET
 * (404): told done, nothing delivered. Without a retention to go by (a topic no longer configured), it may have.
 */
export function copiesMayHaveExpired(
  parent: Pick<TaskRecord, "acceptedAtMs" | "dueAtMs">,
  retentionDays: number | undefined,
  nowMs: number,
): boolean {
  return mayHaveFinishedAndExpired(parent, retentionDays, nowMs);
}

/**
 * Whether a fan-out task has completed and expired: not cancelled, and none of its copies left once they may have
 * expired (copiesMayHaveExpired) — each finished and was removed by its TTL, while the parent, kept as long as its
 * idempotency claim, lives on a day and more, its own item still `scheduled`. Such a task is answered as one whose
 * TTL removed it (404), by every route: its status is no longer known, and `scheduled` would be a task still to come
 * that never will (a keyed repeat of its add answers the same: completed and expired).
 */
export function completedAndExpired(
  parent: Pick<TaskRecord, "acceptedAtMs" | "dueAtMs" | "status" | "fanOut" | "expiresAt">,
  copies: readonly unknown[],
  retentionDays: number | undefined,
  nowMs: number,
): boolean {
  return (
    parent.status !== "cancelled" &&
    (parent.fanOut?.length ?? 0) > 0 &&
    copies.every((copy) => copy === undefined) &&
    // Past its own TTL too (DynamoDB removes lazily): its copies are kept only that long (withParentFloor), whatever
    // the retention is now — read with a retention raised since, it was `scheduled` with every subscriber missing.
    (copiesMayHaveExpired(parent, retentionDays, nowMs) || retentionEnded(parent, nowMs))
  );
}

/** A parent and its delivery tasks, as an add writes them. */
export interface FanOutRecords {
  readonly parent: TaskRecord;
  readonly deliveries: readonly TaskRecord[];
}

/**
 * Expands a task accepted on a fan-out topic (`task`: the record a plain add would write, without a callback)
 * into its parent and one delivery task per subscriber. A delivery task is the task itself (content, due time,
 * acceptance, group value for display) with its own key (`deliveryKey`), callback (the subscriber's URL), timer
 * schedule name, and links back to its parent and subscriber. The idempotency key stays on the parent, whose id
 * the claim holds.
 */
export function expandFanOut(task: TaskRecord, subscribers: readonly Subscriber[]): FanOutRecords {
  const parentKey = parseTaskId(task.taskId);
  if (!parentKey) throw new Error(`malformed task id: ${task.taskId}`);
  const { scheduleName: _parentSchedule, idempotencyKey: _key, ...common } = task;
  const deliveries = subscribers.map((subscriber): TaskRecord => {
    const key = deliveryKey(parentKey, task.groupValue, subscriber.id);
    return {
      ...common,
      pk: key.pk,
      sk: key.sk,
      taskId: key.taskId,
      callbackUrl: subscriber.url,
      ...(task.timer === "schedule" ? { scheduleName: scheduleNameFor(key.taskId) } : {}),
      parentTaskId: task.taskId,
      subscriber: subscriber.id,
    };
  });
  const { scheduleName: _unused, ...parentFields } = task;
  const fanOut = deliveries.map((d) => ({
    subscriber: d.subscriber ?? "",
    taskId: d.taskId,
    url: d.callbackUrl,
  }));
  return { parent: { ...parentFields, callbackUrl: "", fanOut }, deliveries };
}

/**
 * The delivery task a parent's link names, recreated exactly as the add made it (a retried add): without what only
 * the parent has — its links, its key, and its TTL (set when the parent is added; a copy gets one only when it
 * finishes, so one waiting on a paused topic or an open circuit never expires unfinished) — but kept to that TTL
 * once finished (`withParentFloor`).
 */
export function deliveryFromLink(parent: TaskRecord, link: FanOutLink): TaskRecord {
  const {
    fanOut: _links,
    idempotencyKey: _key,
    expiresAt: _ttl,
    expiresAtFloor: _floor,
    keptExpiresAt: _kept,
    ...task
  } = parent;
  const [delivery] = expandFanOut({ ...task, callbackUrl: "" }, [
    { id: link.subscriber, url: link.url },
  ]).deliveries;
  if (!delivery || delivery.taskId !== link.taskId) {
    throw new Error(`parent ${parent.taskId} links ${link.taskId}, which its key does not derive`);
  }
  return withParentFloor(delivery, parent);
}

/**
 * A copy kept at least as long as its parent and the parent's idempotency claim (`expiresAtFloor`, which every write
 * finishing it honours: finishedExpiry): while a keyed retry can reach the parent, a copy that was written is still
 * there, so a missing one was never written and recreating it delivers nothing twice. Kept only for the retention
 * after its finish, a copy delivered under a 1-day retention was gone on the third day while its parent lived on,
 * and once a runtime document (or a deploy) had raised the retention past that age, a keyed retry took the missing
 * copy for one never written (`mayHaveExpired` reads the retention of now) and delivered it again.
 */
export function withParentFloor(copy: TaskRecord, parent: Pick<TaskRecord, "expiresAt">): TaskRecord {
  return parent.expiresAt === undefined ? copy : { ...copy, expiresAtFloor: parent.expiresAt };
}
