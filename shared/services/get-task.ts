import type { TaskStore } from "#shared/adapters/task-store.js";
import { type WithTopicSettings, withCurrentSettings } from "#shared/adapters/topic-settings.js";
import { notFound, validationFailed } from "#shared/api/errors.js";
import { getTaskQuerySchema } from "#shared/api/schemas/tasks.js";
import type { TaskView } from "#shared/api/task-view.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { toIssues } from "#shared/domain/request-issues.js";
import { type ExpiryClock, viewOf } from "./fan-out/view.js";

export interface GetTaskDeps extends ExpiryClock, WithTopicSettings {
  readonly store: Pick<TaskStore, "get">;
}

/** A malformed id is answered like a missing task: nothing can exist under it, and 404 leaks nothing. */
export async function getTask(
  deps: GetTaskDeps,
  taskId: string | undefined,
  rawQuery: Readonly<Record<string, string | undefined>> = {},
): Promise<TaskView> {
  const query = getTaskQuerySchema.safeParse(rawQuery);
  if (!query.success) throw validationFailed(toIssues(query.error.issues, rawQuery));
  if (!taskId || !parseTaskId(taskId)) throw notFound();
  const task = await deps.store.get(taskId);
  if (!task) throw notFound();
  // A fan-out task whose copies are all missing completed and expired, or is still to have them written, by its
  // topic's retention: the runtime settings' (as DELETE, the list and the add read it), or GET answered 404
  // "completed and expired" for a task they still served. Read only then, so no other GET waits on AppConfig.
  const clock = task.fanOut ? await withCurrentSettings(deps) : deps;
  const view = await viewOf(deps.store, task, clock);
  return query.data.include === "content" ? { ...view, content: task.content } : view;
}
