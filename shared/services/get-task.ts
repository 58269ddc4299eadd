import type { TaskStore } from "#shared/adapters/task-store.js";
import { notFound } from "#shared/api/errors.js";
import { type TaskView, taskView } from "#shared/api/task-view.js";
import { parseTaskId } from "#shared/domain/keys.js";

export interface GetTaskDeps {
  readonly store: Pick<TaskStore, "get">;
}

/** A malformed id is answered like a missing task: nothing can exist under it, and 404 leaks nothing. */
export async function getTask(deps: GetTaskDeps, taskId: string | undefined): Promise<TaskView> {
  if (!taskId || !parseTaskId(taskId)) throw notFound();
  const task = await deps.store.get(taskId);
  if (!task) throw notFound();
  return taskView(task);
}
