/**
 * Requests and answers of the schedule routes (issue 14, point 4): the handlers validate with these schemas, the
 * client parses with them, and the OpenAPI document is generated from them.
 */

import { contentSchema, MAX_CALLBACK_URL_LENGTH } from "#shared/domain/add-task-request.js";
import { rfc3339DateTime } from "#shared/domain/rfc3339.js";
import { CATCH_UP_POLICIES, SCHEDULE_STATUSES } from "#shared/domain/schedule.js";
import * as z from "#shared/zod.js";
import { nextCursorSchema } from "./next-cursor.js";

// Its own module, so the list function bundles none of the other schedule schemas (nor the add-task content).
export { listSchedulesQuerySchema } from "./schedule-list-query.js";

const dateTime = /* @__PURE__ */ z.iso.datetime({ offset: true });
/** A date-time the request sends, read as `due_at` is (shared/domain/rfc3339.ts: one rule for every route). */
const dateTimeInput = rfc3339DateTime;

const catchUpSchema = /* @__PURE__ */ z.enum(CATCH_UP_POLICIES);

/** `POST /v1/schedules`. Cron and time zone are checked by croner and Intl after this (shared/domain/schedule.ts). */
export const createScheduleBodySchema = /* @__PURE__ */ z.strictObject({
  topic: /* @__PURE__ */ z.string().check(/* @__PURE__ */ z.minLength(1), /* @__PURE__ */ z.maxLength(64)),
  cron: /* @__PURE__ */ z.withMeta(
    /* @__PURE__ */ z.string().check(/* @__PURE__ */ z.minLength(1), /* @__PURE__ */ z.maxLength(256)),
    {
      description:
        "5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; croner syntax (`L`, `#`, `W`, nicknames such as `@daily`)",
    },
  ),
  timezone: /* @__PURE__ */ z.withMeta(
    /* @__PURE__ */ z.string().check(/* @__PURE__ */ z.minLength(1), /* @__PURE__ */ z.maxLength(64)),
    {
      description: "an IANA time zone, e.g. `Europe/Berlin` or `UTC`",
    },
  ),
  content: contentSchema,
  callback: /* @__PURE__ */ z.optional(
    /* @__PURE__ */ z.strictObject({
      url: /* @__PURE__ */ z
        .string()
        .check(/* @__PURE__ */ z.minLength(1), /* @__PURE__ */ z.maxLength(MAX_CALLBACK_URL_LENGTH)),
    }),
  ),
  deliver_by: /* @__PURE__ */ z.optional(
    /* @__PURE__ */ z.string().check(/* @__PURE__ */ z.minLength(1), /* @__PURE__ */ z.maxLength(128)),
  ),
  start_at: /* @__PURE__ */ z.withMeta(/* @__PURE__ */ z.optional(dateTimeInput), {
    description:
      "no occurrence before this instant (inclusive); before 3000-01-01T00:00:00 in `timezone` (the schedule engine computes no occurrence from then on: later is a 400)",
  }),
  end_at: /* @__PURE__ */ z.withMeta(/* @__PURE__ */ z.optional(dateTimeInput), {
    description:
      "no occurrence at or after this instant; at or before 3000-01-01T00:00:00 in `timezone` (the schedule engine computes no occurrence from then on: later is a 400)",
  }),
  catch_up: /* @__PURE__ */ z.withMeta(/* @__PURE__ */ z.optional(catchUpSchema), {
    description:
      "missed occurrences (due over 5 min before a materializer run): `all` (default) made late, `latest` only the most recent, `none` none; skips count in `skipped_occurrences`",
  }),
});

export const scheduleStatusSchema = /* @__PURE__ */ z.enum(SCHEDULE_STATUSES);

export const scheduleViewSchema = /* @__PURE__ */ z.looseObject({
  schedule_id: /* @__PURE__ */ z.string(),
  topic: /* @__PURE__ */ z.string(),
  cron: /* @__PURE__ */ z.string(),
  timezone: /* @__PURE__ */ z.string(),
  status: scheduleStatusSchema,
  content: /* @__PURE__ */ z.withMeta(/* @__PURE__ */ z.string(), {
    description: "each occurrence's content, as JSON text exactly as it is delivered",
  }),
  callback_url: /* @__PURE__ */ z.optional(/* @__PURE__ */ z.string()),
  deliver_by: /* @__PURE__ */ z.optional(/* @__PURE__ */ z.string()),
  catch_up: /* @__PURE__ */ z.withMeta(/* @__PURE__ */ z.optional(catchUpSchema), {
    description: "`all` when not given",
  }),
  start_at: /* @__PURE__ */ z.optional(dateTime),
  end_at: /* @__PURE__ */ z.optional(dateTime),
  created_at: dateTime,
  updated_at: dateTime,
  materialized_until: /* @__PURE__ */ z.withMeta(dateTime, {
    description: "every occurrence up to this instant is already a task (created ahead, up to 4 minutes)",
  }),
  paused_at: /* @__PURE__ */ z.optional(dateTime),
  deleted_at: /* @__PURE__ */ z.optional(dateTime),
  next_occurrences: /* @__PURE__ */ z.withMeta(/* @__PURE__ */ z.array(dateTime), {
    description: "the next occurrences after now (up to 5; empty unless active)",
  }),
  skipped_occurrences: /* @__PURE__ */ z.withMeta(
    /* @__PURE__ */ z.optional(
      /* @__PURE__ */ z.number().check(/* @__PURE__ */ z.int(), /* @__PURE__ */ z.positive()),
    ),
    {
      description:
        "occurrences skipped: refused by the add-task checks (e.g. a callback host no longer allowed), missed under `catch_up`, one for a pause as `invalid_schedule` (see `last_skipped`); absent when none",
    },
  ),
  last_skipped: /* @__PURE__ */ z.withMeta(
    /* @__PURE__ */ z.optional(
      /* @__PURE__ */ z.looseObject({
        occurrence: /* @__PURE__ */ z.withMeta(dateTime, {
          description:
            "when the skipped occurrence was due (for `invalid_schedule`, whose occurrences cannot be computed: the schedule's `materialized_until`)",
        }),
        at: /* @__PURE__ */ z.withMeta(dateTime, { description: "when it was refused" }),
        code: /* @__PURE__ */ z.withMeta(/* @__PURE__ */ z.string(), {
          description:
            "the add's error code, e.g. `validation_failed`; `missed`: skipped by `catch_up`; `invalid_schedule`: this release cannot compute its cron or time zone (it was paused)",
        }),
        message: /* @__PURE__ */ z.withMeta(/* @__PURE__ */ z.string(), {
          description: "the add's error message and the fields at fault",
        }),
      }),
    ),
    { description: "the latest skipped occurrence and why; absent when none" },
  ),
});
export type ScheduleView = z.output<typeof scheduleViewSchema>;

/** Pause and delete: the schedule, how many of its not-yet-due occurrence tasks were cancelled, and whether more are left to delivery. */
export const scheduleChangeResponseSchema = /* @__PURE__ */ z.extend(scheduleViewSchema, {
  cancelled_occurrences: /* @__PURE__ */ z.withMeta(
    /* @__PURE__ */ z.number().check(/* @__PURE__ */ z.int(), /* @__PURE__ */ z.nonnegative()),
    {
      description:
        "occurrence tasks created ahead (not yet due) and cancelled inside this call, soonest first, as many as its write budget (4,000 DynamoDB write units, as a create's) holds; the others (see cancels_deferred), and one already due and still waiting, are cancelled when delivery reaches them, never called (not counted here); one whose attempt has started still runs",
    },
  ),
  cancels_deferred: /* @__PURE__ */ z.withMeta(/* @__PURE__ */ z.boolean(), {
    description:
      "true when this call stopped cancelling at its write budget (a fast schedule with a large content): occurrences it left made ahead still read scheduled until delivery reaches them, which cancels each instead of calling it; a repeated pause or delete cancels more of them now",
  }),
});

export const scheduleParamsSchema = /* @__PURE__ */ z.object({
  id: /* @__PURE__ */ z.withMeta(/* @__PURE__ */ z.string().check(/* @__PURE__ */ z.minLength(1)), {
    description: "the schedule id",
  }),
});

export const scheduleListSchema = /* @__PURE__ */ z.looseObject({
  schedules: /* @__PURE__ */ z.array(scheduleViewSchema),
  next_cursor: nextCursorSchema,
});
