import type { TaskStore } from "#shared/adapters/task-store.js";
import { notFound, validationFailed } from "#shared/api/errors.js";
import {
  type CancelGroupQuery,
  cancelGroupQuerySchema,
  GROUP_IN_QUERY,
  MAX_GROUP_PAGE,
} from "#shared/api/schemas/groups.js";
import type { CancelGroupResponse } from "#shared/api/schemas/tasks.js";
import { topicConfig } from "#shared/config/index.js";
import { toIssues } from "#shared/domain/add-task-request.js";
import { echoed } from "#shared/domain/echoed.js";
import { groupPartitionKey } from "#shared/domain/keys.js";
import type { TaskStatus } from "#shared/domain/task.js";
import { forEachBounded } from "#shared/runtime/async.js";
import { type CancelDeps, cancelAndDisarm, finishFanOutCancel } from "./cancel-task.js";

export interface CancelGroupDeps extends Omit<CancelDeps, "store"> {
  readonly store: Pick<TaskStore, "listGroupPage" | "cancel" | "restoreFanOutParent">;
}

/** Conditional cancels in flight at once: each is one UpdateItem (and maybe one DeleteSchedule). */
const CANCEL_CONCURRENCY = 8;

/**
 * `POST /v1/topics/{topic}/groups/{value}/cancel`. One strongly consistent Query reads up to `limit` of the
 * group's tasks in delivery order (the group partition, no index); each `scheduled` one is cancelled exactly as
 * DELETE /v1/tasks/{id} cancels it (conditional write, then its schedule deleted). A task already handed to
 * delivery (`queued`, `delivering`), or one that moved on between the read and its cancel, is listed in
 * `not_cancelled`; finished tasks are neither. A fan-out parent cancelled before has its copies still `scheduled`
 * cancelled (an earlier cancel may have stopped part-way), and counts when that cancels any. The cursor is the last
 * sort key read, so the next call goes on after it; an unknown topic is 404, as the topic is part of the resource's
 * path. The group is the path's value, or `?group=` when that value is `-` (GROUP_IN_QUERY: names such as `.` and
 * `..` cannot travel in a path).
 */
export async function cancelGroup(
  deps: CancelGroupDeps,
  params: { readonly topic: string | undefined; readonly value: string | undefined },
  query: Record<string, string | undefined> | null | undefined,
): Promise<CancelGroupResponse> {
  const { topic, value } = params;
  if (!topic || value === undefined || value === "" || !topicConfig(deps.config, topic)) {
    throw notFound(`no such topic: ${echoed(topic ?? "")}`);
  }
  const parsed = parseQuery(query);
  const group = groupOf(value, parsed);
  const startAfter = parsed.cursor === undefined ? undefined : decodeCursor(parsed.cursor);
  // A group's value of any task names one partition; the ULID only matters for tasks without a group.
  const pk = groupPartitionKey(topic, group, "");
  const page = await deps.store.listGroupPage(pk, parsed.limit ?? MAX_GROUP_PAGE, startAfter);

  let cancelled = 0;
  const notCancelled: { task_id: string; status: TaskStatus }[] = [];
  await forEachBounded(page.tasks, CANCEL_CONCURRENCY, async (task) => {
    if (task.fanOut && task.status === "cancelled") {
      // Cancelled by an earlier cancel, which may have stopped before all its copies: counted when this finishes it.
      if ((await finishFanOutCancel(deps, task)).cancelled > 0) cancelled++;
      return;
    }
    if (task.status !== "scheduled") {
      notCancelled.push({ task_id: task.taskId, status: task.status });
      return;
    }
    const result = await cancelAndDisarm({ ...deps, store: deps.store }, task.taskId, topic);
    if (result.outcome === "cancelled") cancelled++;
    else if (result.outcome === "conflict" && result.task.status !== "cancelled")
      notCancelled.push({ task_id: task.taskId, status: result.task.status });
  });
  const order = new Map(page.tasks.map((t, i) => [t.taskId, i]));
  notCancelled.sort((a, b) => (order.get(a.task_id) ?? 0) - (order.get(b.task_id) ?? 0));
  return {
    cancelled,
    not_cancelled: notCancelled,
    more: page.lastSk !== undefined,
    next_cursor: page.lastSk === undefined ? null : encodeCursor(page.lastSk),
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

/** Opaque to callers (base64url of the last sort key read), so its form may change. */
function encodeCursor(sk: string): string {
  return Buffer.from(sk, "utf8").toString("base64url");
}

/** A sort key is `<15 digits>#<ULID>`; anything else is a 400, never a Query with a foreign start key. */
function decodeCursor(cursor: string): string {
  const sk = Buffer.from(cursor, "base64url").toString("utf8");
  if (!/^\d{15}#[0-9A-HJKMNP-TV-Z]{26}$/.test(sk)) {
    throw validationFailed([{ path: "cursor", message: "is not a cursor this route answered" }]);
  }
  return sk;
}
