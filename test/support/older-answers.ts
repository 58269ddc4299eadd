/**
 * Answers as a deployment from before a field was added sent them (docs/OPERATIONS.md, "Upgrading: clients and
 * deployments"): what the client's and the CLI's version-skew tests read.
 */

export const OLDER_SCHEDULE_ID = "orders.schedule.01JD3AAAAAAAAAAAAAAAAAAAAA";

/** A schedule's pause or delete from before `cancels_deferred`. */
export const olderScheduleChange = (status: "paused" | "deleted") => ({
  schedule_id: OLDER_SCHEDULE_ID,
  topic: "orders",
  cron: "0 * * * *",
  timezone: "UTC",
  status,
  content: "{}",
  created_at: "2026-11-30T00:00:00.000Z",
  updated_at: "2026-11-30T01:00:00.000Z",
  materialized_until: "2026-11-30T01:04:00.000Z",
  next_occurrences: [],
  cancelled_occurrences: 2,
});

/** A group cancel from before `cancel_requested`. */
export const olderGroupCancel = { cancelled: 3, not_cancelled: [], more: false, next_cursor: null };
