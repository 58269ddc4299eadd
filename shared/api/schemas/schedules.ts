/**
 * Requests and answers of the schedule routes (issue 14, point 4): the handlers validate with these schemas, the
 * client parses with them, and the OpenAPI document is generated from them.
 */
import * as z from "zod";
import { contentSchema, MAX_CALLBACK_URL_LENGTH } from "#shared/domain/add-task-request.js";
import { rfc3339DateTime } from "#shared/domain/rfc3339.js";
import { CATCH_UP_POLICIES, SCHEDULE_STATUSES } from "#shared/domain/schedule.js";
import { nextCursorSchema } from "./next-cursor.js";

// Its own module, so the list function bundles none of the other schedule schemas (nor the add-task content).
export { listSchedulesQuerySchema } from "./schedule-list-query.js";

const dateTime = /* @__PURE__ */ z.iso.datetime({ offset: true });
/** A date-time the request sends, read as `due_at` is (shared/domain/rfc3339.ts: one rule for every route). */
const dateTimeInput = rfc3339DateTime;

const catchUpSchema = /* @__PURE__ */ z.enum(CATCH_UP_POLICIES);

/** `POST /v1/schedules`. Cron and time zone are checked by croner and Intl after this (shared/domain/schedule.ts). */
export const createScheduleBodySchema = /* @__PURE__ */ z
  .object({
    topic: z.string().min(1).max(64),
    cron: z.string().min(1).max(256).meta({
      description:
        "5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; croner syntax (`L`, `#`, `W`, nicknames such as `@daily`)",
    }),
    timezone: z
      .string()
      .min(1)
      .max(64)
      .meta({ description: "an IANA time zone, e.g. `Europe/Berlin` or `UTC`" }),
    content: contentSchema,
    callback: z
      .object({ url: z.string().min(1).max(MAX_CALLBACK_URL_LENGTH) })
      .strict()
      .optional(),
    deliver_by: z.string().min(1).max(128).optional(),
    start_at: dateTimeInput.optional().meta({ description: "no occurrence before this instant (inclusive)" }),
    end_at: dateTimeInput.optional().meta({ description: "no occurrence at or after this instant" }),
    catch_up: catchUpSchema.optional().meta({
      description:
        "missed occurrences (due over 5 min before a materializer run): `all` (default) made late, `latest` only the most recent, `none` none; skips count in `skipped_occurrences`",
    }),
  })
  .strict();

export const scheduleStatusSchema = /* @__PURE__ */ z.enum(SCHEDULE_STATUSES);

export const scheduleViewSchema = /* @__PURE__ */ z.looseObject({
  schedule_id: z.string(),
  topic: z.string(),
  cron: z.string(),
  timezone: z.string(),
  status: scheduleStatusSchema,
  content: z
    .string()
    .meta({ description: "each occurrence's content, as JSON text exactly as it is delivered" }),
  callback_url: z.string().optional(),
  deliver_by: z.string().optional(),
  catch_up: catchUpSchema.optional().meta({
    description: "`all` when not given",
  }),
  start_at: dateTime.optional(),
  end_at: dateTime.optional(),
  created_at: dateTime,
  updated_at: dateTime,
  materialized_until: dateTime.meta({
    description: "every occurrence up to this instant is already a task (created ahead, up to 4 minutes)",
  }),
  paused_at: dateTime.optional(),
  deleted_at: dateTime.optional(),
  next_occurrences: z
    .array(dateTime)
    .meta({ description: "the next occurrences after now (up to 5; empty unless active)" }),
  skipped_occurrences: z.number().int().positive().optional().meta({
    description:
      "occurrences skipped: refused by the add-task checks (e.g. a callback host no longer allowed), missed under `catch_up`, one for a pause as `invalid_schedule` (see `last_skipped`); absent when none",
  }),
  last_skipped: z
    .looseObject({
      occurrence: dateTime.meta({
        description:
          "when the skipped occurrence was due (for `invalid_schedule`, whose occurrences cannot be computed: the schedule's `materialized_until`)",
      }),
      at: dateTime.meta({ description: "when it was refused" }),
      code: z.string().meta({
        description:
          "the add's error code, e.g. `validation_failed`; `missed`: skipped by `catch_up`; `invalid_schedule`: this release cannot compute its cron or time zone (it was paused)",
      }),
      message: z.string().meta({ description: "the add's error message and the fields at fault" }),
    })
    .optional()
    .meta({ description: "the latest skipped occurrence and why; absent when none" }),
});
export type ScheduleView = z.output<typeof scheduleViewSchema>;

/** Pause and delete: the schedule, and how many of its not-yet-due occurrence tasks were cancelled. */
export const scheduleChangeResponseSchema = /* @__PURE__ */ scheduleViewSchema.extend({
  cancelled_occurrences: z.number().int().nonnegative().meta({
    description:
      "occurrence tasks created ahead (not yet due) and cancelled by this call; one already due, or whose attempt has started, still runs",
  }),
});

export const scheduleParamsSchema = /* @__PURE__ */ z.object({
  id: z.string().min(1).meta({ description: "the schedule id" }),
});

export const scheduleListSchema = /* @__PURE__ */ z.looseObject({
  schedules: z.array(scheduleViewSchema),
  next_cursor: nextCursorSchema,
});
