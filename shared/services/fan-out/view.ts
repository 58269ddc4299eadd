import type { TaskStore } from "#shared/adapters/task-store.js";
import { fanOutTaskView } from "#shared/api/fan-out-view.js";
import { type TaskView, taskView } from "#shared/api/task-view.js";
import type { TaskRecord } from "#shared/domain/task.js";

/**
 * The view of a task as the API answers it: a fan-out parent with its subscribers' rows (one strongly consistent
 * read per subscriber, side by side: ≤ 10), any other task as it is.
 */
export async function viewOf(store: Pick<TaskStore, "get">, task: TaskRecord): Promise<TaskView> {
  if (!task.fanOut) return taskView(task);
  const copies = await Promise.all(task.fanOut.map((link) => store.get(link.taskId)));
  return fanOutTaskView(task, copies);
}
