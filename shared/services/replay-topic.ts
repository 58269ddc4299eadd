import type { PageKey, TaskStore } from "#shared/adapters/task-store.js";
import { decodeCursor, encodeCursor, filterBinding, replayCursorSchema } from "#shared/api/cursor.js";
import { unknownTopic, validationFailed } from "#shared/api/errors.js";
import {
  BULK_REPLAY_MAX,
  type BulkReplayBody,
  type BulkReplayResult,
  bulkReplayBodySchema,
} from "#shared/api/schemas/operations.js";
import { type PunctualConfig, topicConfig } from "#shared/config/index.js";
import { toIssues } from "#shared/domain/add-task-request.js";
import { bySortKey, parseTaskId } from "#shared/domain/keys.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { forEachBounded } from "#shared/runtime/async.js";
import { type ReplayDeps, sendReplayed } from "./replay-task.js";

export interface ReplayTopicDeps extends ReplayDeps {
  readonly store: Pick<TaskStore, "markReplayed" | "get" | "listFailed">;
  readonly config: PunctualConfig;
}

type Failure = BulkReplayResult["failed"][number];

/** Groups are replayed side by side, at most this many at once; a group's own tasks strictly one after another. */
const GROUP_CONCURRENCY = 8;

/**
 * `POST /v1/topics/{topic}/replay`: replays the topic's dead-lettered tasks named by id or matched by a filter,
 * at most BULK_REPLAY_MAX per call (a filter reads at most that many; `next_cursor` continues it), in group order: matched tasks are sorted by
 * group, then sort key (due time, then acceptance), and each group's tasks are marked and sent one after another,
 * so its FIFO queue holds them in delivery order. The receiver sees no more than the topic's concurrency: replayed
 * tasks travel the topic's FIFO queue and deliver function like any other, bounded by its event source's
 * MaximumConcurrency. A send that fails stops its group (the rest stay `failed`, reported, so a retry keeps order);
 * the task whose send failed is `queued` and re-sent by the sweeper (see replayTask).
 */
export async function replayTopic(
  deps: ReplayTopicDeps,
  topic: string | undefined,
  rawBody: unknown,
): Promise<BulkReplayResult> {
  if (!topic || !topicConfig(deps.config, topic)) {
    throw unknownTopic(topic ?? "", Object.keys(deps.config.resolvedTopics));
  }
  const parsed = bulkReplayBodySchema.safeParse(rawBody ?? {});
  if (!parsed.success) throw validationFailed(toIssues(parsed.error.issues, rawBody));
  const body = parsed.data;
  const { matched, failed, next } = body.task_ids
    ? await matchIds(deps, topic, body.task_ids)
    : await matchFilter(deps, topic, body);
  const next_cursor = encodeCursor(next);
  if (body.dry_run) return { matched: matched.length, replayed: 0, failed, next_cursor };
  const replayed = await replayInGroupOrder(deps, matched, failed);
  return { matched: matched.length, replayed, failed, next_cursor };
}

async function matchIds(deps: ReplayTopicDeps, topic: string, ids: readonly string[]) {
  const matched: TaskRecord[] = [];
  const failed: Failure[] = [];
  for (const id of new Set(ids)) {
    const task = parseTaskId(id)?.topic === topic ? await deps.store.get(id) : undefined;
    if (!task) failed.push({ task_id: id, reason: "not_found" });
    else if (task.status !== "failed") failed.push({ task_id: id, reason: `status ${task.status}` });
    else matched.push(task);
  }
  return { matched, failed, next: undefined };
}

/**
 * Pages through the failed index (newest first), reading at most BULK_REPLAY_MAX tasks (so matching at most as
 * many): a selective filter over a long dead-letter list answers within the API's time with a cursor, even when
 * nothing it read matched, rather than scanning the whole list in one call. Older than `failed_after` ends the scan.
 */
async function matchFilter(deps: ReplayTopicDeps, topic: string, body: BulkReplayBody) {
  const after = body.failed_after ? Date.parse(body.failed_after) : -Infinity;
  const before = body.failed_before ? Date.parse(body.failed_before) : Infinity;
  const matched: TaskRecord[] = [];
  let read = 0;
  // Times as instants, so the same filter written with another offset keeps its cursor.
  const filter = filterBinding([
    Number.isFinite(after) ? after : null,
    Number.isFinite(before) ? before : null,
    body.error_contains ?? null,
  ]);
  let cursor = listKeyOf(decodeCursor(body.cursor, replayCursorSchema(topic, filter)));
  do {
    const page = await deps.store.listFailed(topic, Math.min(100, BULK_REPLAY_MAX - read), cursor);
    cursor = page.next;
    read += page.tasks.length;
    for (const task of page.tasks) {
      const at = task.failedAtMs ?? 0;
      if (at < after) return { matched, failed: [], next: undefined };
      if (at < before && (!body.error_contains || task.lastError?.includes(body.error_contains)))
        matched.push(task);
    }
  } while (cursor && read < BULK_REPLAY_MAX);
  return { matched, failed: [] as Failure[], next: cursor && { ...cursor, filter } };
}

/** The failed list's own key, without the filter binding DynamoDB knows nothing of. */
function listKeyOf(cursor: PageKey | undefined): PageKey | undefined {
  if (!cursor) return undefined;
  const { filter: _filter, ...key } = cursor;
  return key;
}

async function replayInGroupOrder(
  deps: ReplayTopicDeps,
  matched: TaskRecord[],
  failed: Failure[],
): Promise<number> {
  const groups = new Map<string, TaskRecord[]>();
  for (const task of [...matched].sort(bySortKey))
    groups.set(task.pk, [...(groups.get(task.pk) ?? []), task]);
  let replayed = 0;
  await forEachBounded([...groups.values()], GROUP_CONCURRENCY, async (tasks) => {
    for (const [i, task] of tasks.entries()) {
      // Only a task still dead-lettered: the list (an eventually consistent index, or a read before a concurrent
      // replay) may show one already replayed and delivered, which another replay would deliver twice.
      const result = await deps.store.markReplayed(task.taskId, deps.now(), { onlyFailed: true });
      if (result.outcome !== "replayed") {
        failed.push({
          task_id: task.taskId,
          reason: result.outcome === "conflict" ? `status ${result.task.status}` : "not_found",
        });
        continue;
      }
      replayed++;
      if (!(await sendReplayed(deps, result.task))) {
        for (const rest of tasks.slice(i + 1))
          failed.push({
            task_id: rest.taskId,
            reason: "an earlier task of its group could not be sent; retry",
          });
        return;
      }
    }
  });
  return replayed;
}
