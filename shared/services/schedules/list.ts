import type { TaskStore } from "#shared/adapters/task-store.js";
import { decodeCursor, encodeCursor } from "#shared/api/cursor.js";
import { unknownTopic, validationFailed } from "#shared/api/errors.js";
import { listSchedulesQuerySchema } from "#shared/api/schemas/schedule-list-query.js";
import type { ScheduleView } from "#shared/api/schemas/schedules.js";
import { type PunctualConfig, topicConfig } from "#shared/config/index.js";
import { toIssues } from "#shared/domain/request-issues.js";
import { parseScheduleId, schedulePartitionKey } from "#shared/domain/schedule.js";
import * as z from "#shared/zod.js";
import { scheduleView } from "./view.js";

// Apart from manage.ts, so the list function bundles none of the write paths (the add-task service).

/**
 * `GET /v1/schedules?topic=`: one topic's schedules in creation order, every status, paginated; also a topic
 * since removed from the config, while it has schedules.
 */
export async function listSchedules(
  deps: {
    readonly store: Pick<TaskStore, "listSchedules">;
    readonly now: () => number;
    readonly config: PunctualConfig;
  },
  rawQuery: Readonly<Record<string, string | undefined>> | undefined,
): Promise<{ schedules: ScheduleView[]; next_cursor: string | null }> {
  const raw = rawQuery ?? {};
  const parsed = listSchedulesQuerySchema.safeParse(raw);
  if (!parsed.success) throw validationFailed(toIssues(parsed.error.issues, raw));
  const query = parsed.data;
  const pk = schedulePartitionKey(query.topic);
  // One of this topic's schedule ids: the Query reads only those (store), and a start key outside its key range
  // is a DynamoDB ValidationException, a 500.
  const cursorSchema = z.strictObject({
    pk: z.literal(pk),
    sk: z.string().check(z.refine((sk) => parseScheduleId(sk)?.topic === query.topic)),
  });
  const page = await deps.store.listSchedules(
    query.topic,
    query.limit,
    decodeCursor(query.cursor, cursorSchema),
  );
  if (page.schedules.length === 0 && !(await listable(deps, query.topic, query.cursor !== undefined))) {
    throw unknownTopic(query.topic, Object.keys(deps.config.resolvedTopics));
  }
  const nowMs = deps.now();
  return {
    schedules: page.schedules.map((s) => scheduleView(s, nowMs)),
    next_cursor: encodeCursor(page.next),
  };
}

/**
 * Whether a topic whose page came back empty is one to list. A topic a deploy removed keeps its schedules (paused by
 * the materializer): listed, so they can be found and deleted. A topic neither in the config nor with a schedule is
 * an unknown topic (a typo), as for every other route, with or without a cursor: a cursor is only a position, and a
 * well-formed one is easily made up. A removed topic's empty page after a cursor is its last page (DynamoDB gives a
 * cursor after a page that ended on the partition's last item) while it still has a schedule: one more read, of its
 * first schedule, on that empty page alone.
 */
async function listable(
  deps: { readonly store: Pick<TaskStore, "listSchedules">; readonly config: PunctualConfig },
  topic: string,
  paged: boolean,
): Promise<boolean> {
  if (topicConfig(deps.config, topic) !== undefined) return true;
  return paged && (await deps.store.listSchedules(topic, 1)).schedules.length > 0;
}
