import type { TaskStore } from "#shared/adapters/task-store.js";
import {
  decodeCursor,
  decodeGroupListCursor,
  encodeCursor,
  encodeGroupListCursor,
  failedCursorSchema,
} from "#shared/api/cursor.js";
import { unknownTopic, validationFailed } from "#shared/api/errors.js";
import { type ListTasksQuery, listTasksQuerySchema } from "#shared/api/schemas/operations.js";
import type { TaskView } from "#shared/api/task-view.js";
import { type PunctualConfig, topicConfig } from "#shared/config/index.js";
import { groupPartitionKey } from "#shared/domain/keys.js";
import { toIssues } from "#shared/domain/request-issues.js";
import { subscriberLane, viewsOf } from "./fan-out/view.js";

export interface ListTasksDeps {
  /** `get`: a fan-out task's row shows its subscribers' copies (shared/services/fan-out/view.ts). */
  readonly store: Pick<TaskStore, "listGroup" | "listFailed" | "get">;
  readonly config: PunctualConfig;
  /** With the topics' retention, tells a fan-out task that completed and expired (left out, as GET answers 404). */
  readonly now: () => number;
}

/**
 * `GET /v1/tasks?topic=T&group=V` (one ordering group, delivery order: a Query of the group's partition, sk
 * ascending) or `?topic=T&status=failed` (the sparse failed index, newest first). A group value is hashed into
 * its partition key exactly as add-task does; a value no task carries is an empty partition, so an empty list.
 * Tasks that are their own group (no deliverBy value) have no group to list: read them by id.
 */
export async function listTasks(
  deps: ListTasksDeps,
  rawQuery: Readonly<Record<string, string | undefined>> | undefined,
): Promise<{ tasks: TaskView[]; next_cursor: string | null }> {
  const query = parseListQuery(rawQuery ?? {});
  if (!topicConfig(deps.config, query.topic)) {
    throw unknownTopic(query.topic, Object.keys(deps.config.resolvedTopics));
  }
  if (query.group !== undefined) {
    const page = await listGroupPage(deps, query, query.group);
    return {
      tasks: await viewsOf(deps.store, page.tasks, deps),
      next_cursor: encodeGroupListCursor(page.next),
    };
  }
  const page = await deps.store.listFailed(
    query.topic,
    query.limit,
    decodeCursor(query.cursor, failedCursorSchema(query.topic)),
  );
  return { tasks: await viewsOf(deps.store, page.tasks, deps), next_cursor: encodeCursor(page.next) };
}

function listGroupPage(deps: ListTasksDeps, query: ListTasksQuery, group: string) {
  // The ulid argument only matters for a task without a group value, which this never is.
  const pk =
    query.subscriber === undefined
      ? groupPartitionKey(query.topic, group, "")
      : subscriberLane(deps.config, query.topic, query.subscriber, group);
  return deps.store.listGroup(pk, query.limit, decodeGroupListCursor(query.cursor, pk));
}

export function parseListQuery(raw: Readonly<Record<string, string | undefined>>): ListTasksQuery {
  const parsed = listTasksQuerySchema.safeParse(raw);
  if (!parsed.success) throw validationFailed(toIssues(parsed.error.issues, raw));
  return parsed.data;
}
