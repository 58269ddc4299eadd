import type { ScheduleChange } from "#shared/adapters/task-store.js";
import { conflict, notFound } from "#shared/api/errors.js";
import type { ScheduleView } from "#shared/api/schemas/schedules.js";
import { topicConfig } from "#shared/config/index.js";
import type { ScheduleStatus } from "#shared/domain/schedule.js";
import { INLINE_WRITE_UNITS } from "#shared/domain/schedule-cron.js";
import { retentionExpiry } from "#shared/domain/task.js";
import { type StopDeps, settleStoppedEpoch } from "./stop.js";
import { scheduleView } from "./view.js";
import { scheduleItemUnits, WriteBudget } from "./write-budget.js";

/*
 * The pause and delete routes. Apart from create and resume (manage.ts), so that their functions bundle neither
 * the create request's schemas nor the inline materialization.
 */

type ChangeView = ScheduleView & { cancelled_occurrences: number; cancels_deferred: boolean };

/**
 * Pause and delete: one conditional write, then settling the stopped epoch (stop.ts): the ones made ahead are
 * cancelled and the occurrences a run under way has leased become cancelled tasks, within the inline write budget;
 * deliver's schedule check cancels the rest when delivery reaches them (`cancels_deferred`).
 */
export type StopScheduleDeps = StopDeps;

/**
 * `POST /v1/schedules/{id}/pause`: no new occurrences; the ones already made tasks and not yet due are
 * cancelled (one already handed to delivery runs). Pausing a paused schedule answers it as it is (and finishes
 * cancelling, should an earlier pause have stopped part-way).
 */
export async function pauseSchedule(deps: StopScheduleDeps, id: string | undefined): Promise<ChangeView> {
  const nowMs = deps.now();
  return stopSchedule(deps, id, ["active"], "paused", {
    set: { status: "paused", pausedAtMs: nowMs, updatedAtMs: nowMs },
    remove: ["scheduleShard", "materializeAtMs"],
  });
}

/** `DELETE /v1/schedules/{id}`: as pause, for good; the item stays readable for the topic's retention period. */
export async function deleteSchedule(deps: StopScheduleDeps, id: string | undefined): Promise<ChangeView> {
  const nowMs = deps.now();
  // A schedule id starts with its topic's name (no topic is named "": an empty or missing id finds none).
  const retentionDays = (topicConfig(deps.config, id?.split(".")[0] ?? "") ?? deps.config.system)
    .retentionDays;
  return stopSchedule(deps, id, ["active", "paused", "ended"], "deleted", {
    set: {
      status: "deleted",
      deletedAtMs: nowMs,
      updatedAtMs: nowMs,
      expiresAt: retentionExpiry(nowMs, retentionDays),
    },
    remove: ["scheduleShard", "materializeAtMs"],
  });
}

async function stopSchedule(
  deps: StopScheduleDeps,
  id: string | undefined,
  from: readonly ScheduleStatus[],
  to: ScheduleStatus,
  change: Omit<ScheduleChange, "ifStatus">,
): Promise<ChangeView> {
  if (!id) throw notFound("no such schedule");
  const result = await deps.store.updateSchedule(id, { ...change, ifStatus: from });
  if (result.outcome === "not-found") throw notFound("no such schedule");
  // A repeat (already paused / deleted) cancels what is ahead again: the first call may have stopped part-way
  // through its cancels (and answered 503); what it did cancel only conflicts now, uncounted.
  if (result.outcome === "conflict" && result.schedule.status !== to) {
    throw conflict(`the schedule is ${result.schedule.status}`, { schedule_status: result.schedule.status });
  }
  // The status write just made counts against the call's budget: the schedule's item carries its content.
  const budget = new WriteBudget(INLINE_WRITE_UNITS - scheduleItemUnits(result.schedule));
  const settled = await settleStoppedEpoch(deps, result.schedule, deps.now(), budget);
  return {
    ...scheduleView(result.schedule, deps.now()),
    cancelled_occurrences: settled.cancelled,
    cancels_deferred: settled.deferred,
  };
}
