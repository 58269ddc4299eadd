import type { TaskStore } from "#shared/adapters/task-store.js";
import { notFound, validationFailed } from "#shared/api/errors.js";
import { getTaskQuerySchema } from "#shared/api/schemas/tasks.js";
import type { TaskView } from "#shared/api/task-view.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { toIssues } from "#shared/domain/request-issues.js";
import { type ExpiryClock, viewOf } from "./fan-out/view.js";

export interface GetTaskDeps extends ExpiryClock {
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
  const view = await viewOf(deps.store, task, deps);
  return query.data.include === "content" ? { ...view, content: task.content } : view;
}
