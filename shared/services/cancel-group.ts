import type { CancelOutcome, TaskStore } from "#shared/adapters/task-store.js";
import { decodeCursor, encodeCursor, groupCancelCursorSchema } from "#shared/api/cursor.js";
import { notFound, serviceUnavailable, validationFailed } from "#shared/api/errors.js";
import {
  type CancelGroupQuery,
  cancelGroupParamsSchema,
  cancelGroupQuerySchema,
  GROUP_IN_QUERY,
  MAX_GROUP_PAGE,
} from "#shared/api/schemas/groups.js";
import type { CancelGroupResponse } from "#shared/api/schemas/tasks.js";
import { topicConfig } from "#shared/config/index.js";
import { echoed } from "#shared/domain/echoed.js";
import { copiesMayHaveExpired } from "#shared/domain/fan-out.js";
import { groupPartitionKey, parseTaskId } from "#shared/domain/keys.js";
import { toIssues } from "#shared/domain/request-issues.js";
import { type TaskRecord, TERMINAL_STATUSES } from "#shared/domain/task.js";
import { forEachBounded } from "#shared/runtime/async.js";
import {
  type CancelDeps,
  cancelAndDisarm,
  fenceSuccessor,
  finishFanOutCancel,
  isUnsettledMove,
  keepCancelledParent,
  OPERATOR_CANCEL,
} from "./cancel-task.js";
import { subscriberLane } from "./fan-out/view.js";
import { cancelOccurrenceTask } from "./schedules/cancel-occurrence.js";

export interface CancelGroupDeps extends Omit<CancelDeps, "store"> {
  /**
   * `get`: the successor of a listed move that is still unsettled (settleCancelledMove); `putNew`: one not written
   * yet, written `cancelled` (fenceSuccessor).
   */
  readonly store: Pick<
    TaskStore,
    | "listGroupPage"
    | "cancel"
    | "restoreFanOutParent"
    | "settleRescheduled"
    | "get"
    | "putNew"
    | "keepFanOutParent"
  >;
  /** The invocation's time left; without it the call is not bounded by time (tests, scripts). */
  readonly remainingMs?: () => number;
}

/**
 * No task's cancel is started with less than this left of the invocation: the ones under way then finish before
 * the route's early answer (http-route.ts, 500 ms before the deadline), which answered a bare 503 "retry" however
 * many had been cancelled, and froze those under way mid-cancel (a fan-out parent marked, its copies not yet).
 */
export const GROUP_CANCEL_TIME_MARGIN_MS = 2_500;

/** Conditional cancels in flight at once: each is one UpdateItem (and maybe one DeleteSchedule). */
const CANCEL_CONCURRENCY = 8;

/**
 * `POST /v1/topics/{topic}/groups/{value}/cancel`. One strongly consistent Query reads up to `limit` of the
 * group's tasks in delivery order (the group partition, no index); each `scheduled` or `queued` one (no attempt
 * started), or `delivering` one waiting for its retry (no callback in flight), is cancelled exactly as DELETE
 * /v1/tasks/{id} cancels it (conditional write, then its schedule deleted). A task whose callback is in flight
 * (`delivering`; a fan-out parent: one of its copies') has its cancel requested, as DELETE does (it ends after that
 * attempt, never called again), and is listed in `cancel_requested` (a fan-out parent, whose cancel stands, is counted
 * in `cancelled` too). One that moved on between the read and its
 * cancel is listed in `not_cancelled`; finished tasks are neither (a fan-out parent whose copies all finished, or finished
 * and expired, included: listedAsNotCancelled, copiesAllExpired). So is a task caught mid-move (`rescheduled`, its
 * move not settled): its successor may be written and armed after this call (by the move or the sweeper's repair), so the caller is
 * told where it went (`rescheduled_to`) rather than answered as if the group held nothing more. A fan-out parent
 * cancelled before has its copies still `scheduled` or `queued` cancelled (an earlier cancel may have stopped part-way), and
 * counts when that cancels any. The cursor is the last sort key read, so the next call goes on after it; an unknown
 * topic is 404, as the topic is part of the resource's path. The group is the path's value, or `?group=` when that
 * value is `-` (GROUP_IN_QUERY: names such as `.` and `..` cannot travel in a path). With `?subscriber=` (a fan-out
 * topic) the call cancels that subscriber's lane of the group instead, each copy as above (partitionOf): a broken
 * or retired subscriber's pending copies, the other subscribers' and the parents left as they are.
 */
export async function cancelGroup(
  deps: CancelGroupDeps,
  params: { readonly topic: string | undefined; readonly value: string | undefined },
  query: Record<string, string | undefined> | null | undefined,
): Promise<CancelGroupResponse> {
  // The query first, as on every route (the others' query guard runs before their handler looks at the path).
  const parsed = parseQuery(query);
  const { topic, value } = params;
  if (!topic || value === undefined || value === "" || !topicConfig(deps.config, topic)) {
    throw notFound(`no such topic "${echoed(topic ?? "")}"`);
  }
  // The path's group is held to the rules its `?group=` form and every task's group follow (at most 1,024
  // characters, the OpenAPI document's rule): a longer one names no group, and a 200 that cancelled nothing
  // would tell the caller its group is clear.
  const path = cancelGroupParamsSchema.safeParse({ topic, value });
  if (!path.success) throw validationFailed(toIssues(path.error.issues, { topic, value }));
  const group = groupOf(value, parsed);
  const pk = partitionOf(deps, topic, group, parsed.subscriber);
  // The cursor names its group: another group's (a script that kept it from the group before) would silently
  // skip this group's tasks due before that position, so it is a 400 like any cursor this list did not give out.
  const start = decodeCursor(parsed.cursor, groupCancelCursorSchema(pk));
  const startAfter = typeof start?.sk === "string" ? start.sk : undefined;
  // A task moved (PATCH, run) since the first call may now sort behind the cursor: later calls read such moves too.
  const since =
    typeof start?.since === "number" ? start.since : Math.max(0, deps.now() - MOVED_SINCE_MARGIN_MS);
  const movedSince = startAfter === undefined ? undefined : since;
  const page = await deps.store.listGroupPage(pk, parsed.limit ?? MAX_GROUP_PAGE, startAfter, movedSince);

  const tally: Tally = { cancelled: 0, notCancelled: [], cancelRequested: [] };
  // Tasks are started in page order, so those started are a prefix of the page: `started` long.
  let started = 0;
  let outOfTime = false;
  await forEachBounded(page.tasks, CANCEL_CONCURRENCY, async (task) => {
    outOfTime ||= deps.remainingMs !== undefined && deps.remainingMs() < GROUP_CANCEL_TIME_MARGIN_MS;
    if (outOfTime) return;
    started++;
    if (!inLane(task, parsed.subscriber)) return;
    await cancelListed(deps, task, topic, startAfter, tally);
  });
  const order = new Map(page.tasks.map((t, i) => [t.taskId, i]));
  tally.notCancelled.sort((a, b) => (order.get(a.task_id) ?? 0) - (order.get(b.task_id) ?? 0));
  tally.cancelRequested.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
  const lastSk = outOfTime ? lastHandled(page.tasks, started) : page.lastSk;
  return {
    cancelled: tally.cancelled,
    not_cancelled: tally.notCancelled,
    cancel_requested: tally.cancelRequested.map((taskId) => ({ task_id: taskId })),
    more: lastSk !== undefined,
    next_cursor: lastSk === undefined ? null : encodeCursor({ pk, sk: lastSk, since }),
  };
}

/**
 * The partition a call reads: the group's (its tasks; on a fan-out topic its parents, whose cancel cancels every
 * subscriber's copy), or with `subscriber` that subscriber's lane of the group (subscriberLane, as `GET
 * /v1/tasks?subscriber=` lists it): its copies only, each cancelled as DELETE of the copy's id cancels it, the
 * parents and the other subscribers' copies untouched. A plain topic, or a subscriber the topic does not have now,
 * is a 400 before anything is read. A lane holds no move: PATCH and run refuse a copy (fan_out_unsupported).
 */
function partitionOf(
  deps: CancelGroupDeps,
  topic: string,
  group: string,
  subscriber: string | undefined,
): string {
  // A group's value of any task names one partition; the ULID only matters for tasks without a group.
  if (subscriber === undefined) return groupPartitionKey(topic, group, "");
  return subscriberLane(deps.config, topic, subscriber, group);
}

/**
 * Whether a task read is one this call may cancel: any of a group's, or with `subscriber` only that subscriber's
 * copy. A lane's partition holds nothing else (laneHash: no group value a caller writes names one); this keeps the
 * promise "never another subscriber's copy, never a parent" whatever a store answers.
 */
function inLane(task: TaskRecord, subscriber: string | undefined): boolean {
  if (subscriber === undefined) return true;
  return task.subscriber === subscriber && task.parentTaskId !== undefined && task.fanOut === undefined;
}

/** What one call of the group cancel did, filled in as its tasks are cancelled. */
interface Tally {
  cancelled: number;
  readonly notCancelled: NotCancelled[];
  /** Tasks whose callback (a fan-out parent: a copy's) was in flight: their cancel requested. */
  readonly cancelRequested: string[];
}

/** One listed task's cancel, as DELETE /v1/tasks/{id} makes it, counted in `tally`. */
async function cancelListed(
  deps: CancelGroupDeps,
  task: TaskRecord,
  topic: string,
  startAfter: string | undefined,
  tally: Tally,
): Promise<void> {
  if (task.fanOut && task.status === "cancelled") {
    // Cancelled by an earlier cancel, which may have stopped before all its copies: counted when this finishes it.
    const finished = await finishFanOutCancel(deps, task);
    // That cancel may also have stopped before keeping the parent (keepCancelledParent after its write), and a
    // repeat after a failed call comes here, not through cancelAndDisarm: kept as long as a copy it did not
    // stop may live, as the DELETE's repeat keeps it.
    if (finished.notCancelled.length + finished.cancelRequested > 0) await keepCancelledParent(deps, task);
    if (finished.cancelled > 0) tally.cancelled++;
    if (finished.cancelRequested > 0) tally.cancelRequested.push(task.taskId);
    return;
  }
  if (task.fanOut && (await copiesAllExpired(deps, task))) return;
  if (task.status === "rescheduled" && !isUnsettledMove(task)) {
    const moved = await cancelMovedBehind(deps, task, topic, startAfter);
    if (moved?.outcome === "cancelled") tally.cancelled++;
    else if (moved?.outcome === "cancel-requested") tally.cancelRequested.push(moved.task.taskId);
    else if (moved?.outcome === "conflict" && !isFinished(moved.task))
      tally.notCancelled.push(notCancelledEntry(moved.task));
    return;
  }
  // `delivering` goes on to the cancel: one waiting for its retry is cancelled (OPERATOR_CANCEL), one whose
  // callback is in flight has its cancel requested (it ends after that attempt), listed in `cancel_requested`.
  if (task.status !== "scheduled" && task.status !== "queued" && task.status !== "delivering") {
    if (task.status === "rescheduled") await settleCancelledMove(deps, task);
    tally.notCancelled.push(notCancelledEntry(task));
    return;
  }
  const result = await cancelAndDisarm({ ...deps, store: deps.store }, task.taskId, topic, OPERATOR_CANCEL);
  // Moved between the page's read and this cancel (a PATCH or run under way, or stopped there): as if listed so.
  if (result.outcome === "conflict" && isUnsettledMove(result.task)) {
    await settleCancelledMove(deps, result.task);
  }
  if (result.outcome === "cancelled") {
    await keepCancelledParent(deps, result.task);
    tally.cancelled++;
  } else if (result.outcome === "cancel-requested") {
    // A fan-out parent's cancel stands (its copies not started are cancelled): counted, and listed for its copy
    // in flight. A plain task is only listed: it ends after that attempt.
    await keepCancelledParent(deps, result.task);
    if (result.task.fanOut) tally.cancelled++;
    tally.cancelRequested.push(task.taskId);
  } else if (result.outcome === "conflict" && listedAsNotCancelled(task, result.task))
    tally.notCancelled.push({ ...notCancelledEntry(result.task), task_id: task.taskId });
}

/**
 * Where a call that ran out of time goes on: after the last task it handled, so the next call (the CLI follows
 * `more`) starts with the first it did not. None handled: a retryable 503 that changed nothing.
 */
function lastHandled(tasks: readonly TaskRecord[], started: number): string {
  const last = tasks[started - 1];
  if (!last) {
    throw serviceUnavailable(
      "the call ran out of time before cancelling any of the group's tasks; nothing was changed, retry it",
    );
  }
  return last.sk;
}

/**
 * A listed `rescheduled` item is one still in the sweep index: its move stopped before settling it. Its successor
 * already cancelled (by an earlier group cancel that failed before settling the move, which this call repeats),
 * the move is settled here, as a repeated DELETE settles it (cancel-task.ts, settleMove); left, the sweeper would
 * find the item at its old due time and, the successor gone with its retention by then, write and deliver it.
 * Not written yet (the move stopped after its first write), the successor is written `cancelled` (fenceSuccessor):
 * the `rescheduled_to` this call lists would otherwise answer a DELETE with 404, and the move's retry or the
 * sweeper then write, arm and deliver it into the group this call cancelled.
 */
async function settleCancelledMove(deps: CancelGroupDeps, task: TaskRecord): Promise<void> {
  if (task.rescheduledTo === undefined) return;
  const successor = await deps.store.get(task.rescheduledTo);
  if (!successor) await fenceSuccessor(deps, task);
  else if (successor.status === "cancelled") await deps.store.settleRescheduled(task.taskId);
}

/**
 * How far before a group cancel's first call a move counts as made during it: the clocks of the function that moved
 * a task and of this one may disagree (a move made before the first call is found by its page read anyway).
 */
const MOVED_SINCE_MARGIN_MS = 60_000;

/**
 * A settled move made since the cancel's first call (listed only then: `movedSince`), whose new id sorts behind
 * the cursor: no page of this cancel reads that id, so it is cancelled here, following any further moves as a
 * schedule's stop does (cancelOccurrenceTask). Before, a task run now between two calls was neither cancelled nor
 * listed, and the last call's `more: false` hid it. A new id ahead of the cursor is left to the page that reads it.
 */
async function cancelMovedBehind(
  deps: CancelGroupDeps,
  task: TaskRecord,
  topic: string,
  startAfter: string | undefined,
): Promise<CancelOutcome | undefined> {
  const successor = task.rescheduledTo ? parseTaskId(task.rescheduledTo) : undefined;
  if (!successor || startAfter === undefined || successor.sk > startAfter) return undefined;
  return cancelOccurrenceTask({ ...deps, store: deps.store }, successor.taskId, topic, OPERATOR_CANCEL);
}

function isFinished(task: TaskRecord): boolean {
  return task.status === "cancelled" || TERMINAL_STATUSES.has(task.status);
}

type NotCancelled = CancelGroupResponse["not_cancelled"][number];

/**
 * A fan-out parent none of whose copies is left once they may have expired (copiesMayHaveExpired): each finished
 * and was removed by its TTL while the parent, kept as long as its idempotency claim, lives on a day and more. It is
 * a finished task, so it is neither cancelled nor counted: cancelled, with no copy left to conflict, it counted as
 * one more cancelled task and read `cancelled` from then on. Only a parent that old pays these reads (one per
 * subscriber); a younger one's missing copy may still be written by its add, which the cancel must reach first.
 */
async function copiesAllExpired(deps: CancelGroupDeps, parent: TaskRecord): Promise<boolean> {
  const retentionDays = topicConfig(deps.config, parent.topic)?.retentionDays;
  if (!copiesMayHaveExpired(parent, retentionDays, deps.now())) return false;
  const copies = await Promise.all((parent.fanOut ?? []).map((link) => deps.store.get(link.taskId)));
  return copies.length > 0 && copies.every((copy) => copy === undefined);
}

/**
 * Whether a task this call could not cancel is listed. A cancelled one is not (nothing is left to do), nor a fan-out
 * parent whose copies have all finished: its own item stays `scheduled` for as long as it is retained (a parent is
 * never delivered itself), so the group's page reads it on every call, and its cancel answers the status its
 * copies finished in (`delivered`, `failed`) — the status of a finished task, which this route does not list.
 */
function listedAsNotCancelled(listed: TaskRecord, now: TaskRecord): boolean {
  if (now.status === "cancelled") return false;
  return !(listed.fanOut && TERMINAL_STATUSES.has(now.status));
}

function notCancelledEntry(task: TaskRecord): NotCancelled {
  return {
    task_id: task.taskId,
    status: task.status,
    ...(task.rescheduledTo !== undefined ? { rescheduled_to: task.rescheduledTo } : {}),
  };
}

function parseQuery(query: Record<string, string | undefined> | null | undefined): CancelGroupQuery {
  const parsed = cancelGroupQuerySchema.safeParse(query ?? {});
  if (!parsed.success) throw validationFailed(toIssues(parsed.error.issues, query ?? {}));
  return parsed.data;
}

/** The group a request names: in the path, or (`-` there) in `?group=`; both at once, or neither, is a 400. */
function groupOf(value: string, query: CancelGroupQuery): string {
  if (value === GROUP_IN_QUERY) {
    if (query.group !== undefined) return query.group;
    throw validationFailed([
      { path: "group", message: `is required when the path's group is ${GROUP_IN_QUERY}` },
    ]);
  }
  if (query.group === undefined) return value;
  throw validationFailed([
    { path: "group", message: `only with ${GROUP_IN_QUERY} as the path's group; the path names one already` },
  ]);
}
