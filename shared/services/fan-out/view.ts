import type { TaskStore } from "#shared/adapters/task-store.js";
import { notFanOut, notFound, unknownSubscriber } from "#shared/api/errors.js";
import { fanOutTaskView } from "#shared/api/fan-out-view.js";
import { type TaskView, taskView } from "#shared/api/task-view.js";
import { type PunctualConfig, topicConfig } from "#shared/config/index.js";
import { echoed } from "#shared/domain/echoed.js";
import { completedAndExpired, laneHash } from "#shared/domain/fan-out.js";
import type { TaskRecord, TaskSummary } from "#shared/domain/task.js";
import { forEachBounded } from "#shared/runtime/async.js";

/** What tells a fan-out task that completed and expired from one whose copies are still to be written. */
export interface ExpiryClock {
  readonly config: PunctualConfig;
  readonly now: () => number;
}

/** The answer to a fan-out task that completed and expired (completedAndExpired): as if its TTL had removed it. */
export const COMPLETED_AND_EXPIRED = "no such task: it completed and its subscribers' copies have expired";

/** Whether `parent`, whose copies read as `copies`, completed and expired (shared/domain/fan-out.ts). */
export function expiredParent(clock: ExpiryClock, parent: TaskSummary, copies: readonly unknown[]): boolean {
  const retentionDays = topicConfig(clock.config, parent.topic)?.retentionDays;
  return completedAndExpired(parent, copies, retentionDays, clock.now());
}

/**
 * The view of a task as the API answers it: a fan-out parent with its subscribers' rows (one strongly consistent
 * read per subscriber, side by side: ≤ 10), any other task as it is. With `clock`, a fan-out task that completed
 * and expired is a 404, as GET answers it.
 */
export async function viewOf(
  store: Pick<TaskStore, "get">,
  task: TaskRecord,
  clock?: ExpiryClock,
): Promise<TaskView> {
  if (!task.fanOut) return taskView(task);
  const copies = await Promise.all(task.fanOut.map((link) => store.get(link.taskId)));
  if (clock && expiredParent(clock, task, copies)) throw notFound(COMPLETED_AND_EXPIRED);
  return fanOutTaskView(task, copies);
}

/** Reads in flight at once for a page of fan-out tasks (each one read per subscriber). */
const LIST_READS = 16;

/**
 * A page of tasks as the API lists them: a fan-out parent with its subscribers' rows (one read per subscriber per
 * parent, bounded side by side: docs/COST-AND-SCALE.md), any other task as it is, in the page's order. A fan-out
 * task that completed and expired is left out, as GET answers it 404 (the page may then hold fewer than its limit).
 */
export async function viewsOf(
  store: Pick<TaskStore, "get">,
  tasks: readonly TaskSummary[],
  clock: ExpiryClock,
): Promise<TaskView[]> {
  const views: TaskView[] = tasks.map(taskView);
  const parents = tasks.flatMap((task, i) => (task.fanOut ? [{ task, i }] : []));
  const copies = new Map<string, TaskRecord | undefined>();
  const ids = parents.flatMap(({ task }) => (task.fanOut ?? []).map((link) => link.taskId));
  await forEachBounded(ids, LIST_READS, async (id) => {
    copies.set(id, await store.get(id));
  });
  const expired = new Set<number>();
  for (const { task, i } of parents) {
    const own = (task.fanOut ?? []).map((link) => copies.get(link.taskId));
    if (expiredParent(clock, task, own)) expired.add(i);
    views[i] = fanOutTaskView(task, own);
  }
  return views.filter((_view, i) => !expired.has(i));
}

/**
 * The partition of one subscriber's copies of a group (`GET /v1/tasks?topic&group&subscriber`): the lane deliver
 * works through for that subscriber, in its order. The subscriber must be one of the topic's (as configured now).
 */
export function subscriberLane(
  config: PunctualConfig,
  topic: string,
  subscriber: string,
  group: string,
): string {
  const subscribers = topicConfig(config, topic)?.subscribers;
  if (!subscribers) throw notFanOut(`topic "${echoed(topic)}"`);
  if (!subscribers.some((s) => s.id === subscriber)) {
    throw unknownSubscriber(
      subscriber,
      subscribers.map((s) => s.id),
    );
  }
  // The ULID only matters for a copy without a group value, which this never is.
  return `${topic}#${laneHash(topic, subscriber, group, "")}`;
}
