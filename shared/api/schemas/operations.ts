/**
 * Requests and answers of the operations routes of issue 11 scope H (list, replay): the handlers validate with
 * these schemas, the client parses with them, and the OpenAPI document is generated from them.
 */

import { rfc3339DateTime } from "#shared/domain/rfc3339.js";
import { notWellFormed } from "#shared/domain/well-formed.js";
import { msAtOrAfterInstant } from "#shared/domain/whole-ms.js";
import * as z from "#shared/zod.js";
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX } from "./list-limits.js";
import { cursorParam, nextCursorSchema } from "./next-cursor.js";
import { PLAIN_DIGITS_NOTE, queryInteger } from "./query.js";
import { taskViewSchema } from "./tasks.js";

export { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX } from "./list-limits.js";

/** `GET /v1/tasks`: exactly one of `group` and `status=failed`. `limit` in plain decimal digits (query.ts). */
export const listTasksQuerySchema = z
  .strictObject({
    topic: z.withMeta(z.string().check(z.minLength(1), z.maxLength(64)), { description: "the topic" }),
    // No minimum: an add takes `""` as a group value (only an absent or null field makes a task its own group).
    group: z.withMeta(z.optional(z.string().check(z.maxLength(1024))), {
      description:
        'the deliverBy field\'s value: list that ordering group in delivery order (empty: the group of the value `""`)',
    }),
    status: z.withMeta(z.optional(z.literal("failed")), {
      description: "`failed`: list the topic's dead-lettered tasks, newest first",
    }),
    limit: z.withMeta(
      // prefault, not default: zod documents no default for a preprocessed input
      z.prefault(queryInteger({ min: 1, max: LIST_LIMIT_MAX }), LIST_LIMIT_DEFAULT),
      { description: `page size, 1–${LIST_LIMIT_MAX} (default ${LIST_LIMIT_DEFAULT}), ${PLAIN_DIGITS_NOTE}` },
    ),
    cursor: cursorParam("the previous page's `next_cursor`"),
    subscriber: z.withMeta(z.optional(z.string().check(z.minLength(1), z.maxLength(64))), {
      description:
        "a fan-out topic, with `group`: list that subscriber's copies of the group, in the order it receives them",
    }),
  })
  .check(
    z.refine((q) => (q.group === undefined) !== (q.status === undefined), {
      message: "give exactly one of group and status=failed",
      path: ["group"],
    }),
    z.refine((q) => q.subscriber === undefined || q.group !== undefined, {
      message: "a subscriber's copies are listed per group: give `group` too",
      path: ["subscriber"],
    }),
  );
export type ListTasksQuery = z.output<typeof listTasksQuerySchema>;

export const taskListSchema = z.looseObject({
  tasks: z.array(taskViewSchema),
  next_cursor: nextCursorSchema,
});
export type TaskList = z.output<typeof taskListSchema>;

/**
 * A bulk replay handles at most this many tasks per call, and a filter reads at most this many (within API
 * Gateway's 30 s); `next_cursor` continues.
 */
export const BULK_REPLAY_MAX = 1_000;

/** A string with no lone surrogate, refused with its reason (notWellFormed). */
const wellFormed = z.superRefine((value: string, ctx) => {
  const reason = notWellFormed(value);
  if (reason) ctx.addIssue({ code: "custom", message: reason, input: value });
});

/** As `due_at` is read: one rule for every date-time a request sends (shared/domain/rfc3339.ts). */
const dateTimeInput = rfc3339DateTime;

/** `POST /v1/topics/{topic}/replay`: the task ids, or a filter over the topic's dead-lettered tasks (none: all). */
export const bulkReplayBodySchema = z
  .strictObject({
    task_ids: z.optional(
      z
        .array(z.string().check(z.minLength(1), z.maxLength(200)))
        .check(z.minLength(1), z.maxLength(BULK_REPLAY_MAX)),
    ),
    failed_after: z.withMeta(z.optional(dateTimeInput), {
      description: "only tasks dead-lettered at or after this time",
    }),
    failed_before: z.withMeta(z.optional(dateTimeInput), {
      description: "only tasks dead-lettered before this time",
    }),
    // A lone surrogate has no UTF-8 form, so no stored error holds one (shared/domain/well-formed.ts): such a filter
    // could only answer `matched: 0`, "nothing to replay", where the text sent was not what was meant.
    error_contains: z.withMeta(z.optional(z.string().check(z.minLength(1), z.maxLength(200), wellFormed)), {
      description: "only tasks whose last error contains this text",
    }),
    dry_run: z.withMeta(z.optional(z.boolean()), { description: "count what matches; replay nothing" }),
    cursor: cursorParam("the previous call's `next_cursor`, with the same filter"),
  })
  .check(
    z.refine(
      (b) =>
        b.task_ids === undefined ||
        (b.failed_after === undefined &&
          b.failed_before === undefined &&
          b.error_contains === undefined &&
          b.cursor === undefined),
      {
        message: "give task_ids or a filter (failed_after, failed_before, error_contains), not both",
        path: ["task_ids"],
      },
    ),
    // An empty range is a mistake, not a filter: its dry run would answer `matched: 0`, "nothing to replay". Read
    // as the filter reads them (whole ms, rounded up), so a range holding no whole millisecond is empty too.
    z.refine(
      (b) =>
        b.failed_after === undefined ||
        b.failed_before === undefined ||
        msAtOrAfterInstant(b.failed_before) > msAtOrAfterInstant(b.failed_after),
      { message: "must be after failed_after", path: ["failed_before"] },
    ),
  );
export type BulkReplayBody = z.output<typeof bulkReplayBodySchema>;

export const bulkReplayResponseSchema = z.looseObject({
  matched: z.number().check(z.int(), z.nonnegative()),
  replayed: z.number().check(z.int(), z.nonnegative()),
  failed: z.array(z.looseObject({ task_id: z.string(), reason: z.string() })),
  /** More dead-lettered tasks may match: call again with this cursor. */
  next_cursor: nextCursorSchema,
});
export type BulkReplayResult = z.output<typeof bulkReplayResponseSchema>;
