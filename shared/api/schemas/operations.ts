/**
 * Requests and answers of the operations routes of issue 11 scope H (list, replay): the handlers validate with
 * these schemas, the client parses with them, and the OpenAPI document is generated from them.
 */
import * as z from "zod";
import { rfc3339DateTime } from "#shared/domain/rfc3339.js";
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX } from "./list-limits.js";
import { cursorParam, nextCursorSchema } from "./next-cursor.js";
import { PLAIN_DIGITS_NOTE, queryInteger } from "./query.js";
import { taskViewSchema } from "./tasks.js";

export { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX } from "./list-limits.js";

/** `GET /v1/tasks`: exactly one of `group` and `status=failed`. `limit` in plain decimal digits (query.ts). */
export const listTasksQuerySchema = z
  .strictObject({
    topic: z.string().min(1).max(64).meta({ description: "the topic" }),
    group: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .meta({ description: "the deliverBy field's value: list that ordering group in delivery order" }),
    status: z
      .literal("failed")
      .optional()
      .meta({ description: "`failed`: list the topic's dead-lettered tasks, newest first" }),
    limit: queryInteger({ min: 1, max: LIST_LIMIT_MAX })
      .prefault(LIST_LIMIT_DEFAULT) // not default(): zod documents no default for a preprocessed input
      .meta({
        description: `page size, 1–${LIST_LIMIT_MAX} (default ${LIST_LIMIT_DEFAULT}), ${PLAIN_DIGITS_NOTE}`,
      }),
    cursor: cursorParam("the previous page's `next_cursor`"),
    subscriber: z.string().min(1).max(64).optional().meta({
      description:
        "a fan-out topic, with `group`: list that subscriber's copies of the group, in the order it receives them",
    }),
  })
  .refine((q) => (q.group === undefined) !== (q.status === undefined), {
    message: "give exactly one of group and status=failed",
    path: ["group"],
  })
  .refine((q) => q.subscriber === undefined || q.group !== undefined, {
    message: "a subscriber's copies are listed per group: give `group` too",
    path: ["subscriber"],
  });
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

/** As `due_at` is read: one rule for every date-time a request sends (shared/domain/rfc3339.ts). */
const dateTimeInput = rfc3339DateTime;

/** `POST /v1/topics/{topic}/replay`: the task ids, or a filter over the topic's dead-lettered tasks (none: all). */
export const bulkReplayBodySchema = z
  .strictObject({
    task_ids: z.array(z.string().min(1).max(200)).min(1).max(BULK_REPLAY_MAX).optional(),
    failed_after: dateTimeInput
      .optional()
      .meta({ description: "only tasks dead-lettered at or after this time" }),
    failed_before: dateTimeInput
      .optional()
      .meta({ description: "only tasks dead-lettered before this time" }),
    error_contains: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .meta({ description: "only tasks whose last error contains this text" }),
    dry_run: z.boolean().optional().meta({ description: "count what matches; replay nothing" }),
    cursor: cursorParam("the previous call's `next_cursor`, with the same filter"),
  })
  .refine(
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
  )
  // An empty range is a mistake, not a filter: its dry run would answer `matched: 0`, "nothing to replay".
  .refine(
    (b) =>
      b.failed_after === undefined ||
      b.failed_before === undefined ||
      Date.parse(b.failed_before) > Date.parse(b.failed_after),
    { message: "must be after failed_after", path: ["failed_before"] },
  );
export type BulkReplayBody = z.output<typeof bulkReplayBodySchema>;

export const bulkReplayResponseSchema = z.looseObject({
  matched: z.number().int().nonnegative(),
  replayed: z.number().int().nonnegative(),
  failed: z.array(z.looseObject({ task_id: z.string(), reason: z.string() })),
  /** More dead-lettered tasks may match: call again with this cursor. */
  next_cursor: nextCursorSchema,
});
export type BulkReplayResult = z.output<typeof bulkReplayResponseSchema>;
