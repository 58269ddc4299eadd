import type { TaskStore } from "#shared/adapters/task-store.js";
import { notFound } from "#shared/api/errors.js";
import type { ScheduleView } from "#shared/api/schemas/schedules.js";
import { scheduleView } from "./view.js";

/**
 * `GET /v1/schedules/{id}`, apart from manage.ts (the write paths, the add-task service among them) and from
 * list.ts (its query schema's module builds every schedule schema): the function bundles neither.
 */
export async function getSchedule(
  deps: { readonly store: Pick<TaskStore, "getSchedule">; readonly now: () => number },
  id: string | undefined,
): Promise<ScheduleView> {
  const schedule = id ? await deps.store.getSchedule(id) : undefined;
  if (!schedule) throw notFound("no such schedule");
  return scheduleView(schedule, deps.now());
}
