/**
 * The API's response bodies as zod schemas: the client parses every answer with them and the OpenAPI document
 * (shared/api/openapi.ts) is generated from them.
 *
 * Objects are loose (`z.looseObject`): a field the server adds later passes through to the caller instead of
 * failing older clients or being silently dropped.
 */

import { TASK_STATUSES } from "#shared/domain/task.js";
import * as z from "#shared/zod.js";
import { nextCursorSchema } from "./next-cursor.js";

const dateTime = z.iso.datetime({ offset: true });

export const taskStatusSchema = z.enum(TASK_STATUSES);

/** One subscriber of a fan-out task (shared/api/fan-out-view.ts `SubscriberView`). */
export const subscriberViewSchema = z.looseObject({
  id: z.string(),
  task_id: z.withMeta(z.string(), {
    description: "the subscriber's copy: GET, replay or cancel it like any task",
  }),
  callback_url: z.string(),
  status: z.withMeta(z.union([taskStatusSchema, z.literal("missing")]), {
    description:
      "the copy's status; `missing` when its item is not there (an add stopped before it was acknowledged, or retention ran out)",
  }),
  attempts: z.number().check(z.int(), z.nonnegative()),
  last_error: z.optional(z.string()),
  last_attempt_at: z.optional(dateTime),
  delivered_at: z.optional(dateTime),
  failed_at: z.optional(dateTime),
  replays: z.optional(z.number().check(z.int(), z.nonnegative())),
  cancel_requested: z.withMeta(z.optional(z.literal(true)), {
    description:
      "an operator's cancel met this task with its callback in flight: that attempt goes on (a callback cannot be unsent); on a 2xx the task is `delivered`, otherwise `cancelled`, and no further attempt is made; a task deliver started with its batch behind others of its group, not yet called, ends `cancelled` without a call once it has waited a second or more for its turn, or at its next start once that start was given back (`scheduled`)",
  }),
});

/** `GET /v1/tasks/{id}`, and a successful `DELETE` (shared/api/task-view.ts `TaskView`). */
export const taskViewSchema = z.looseObject({
  task_id: z.string(),
  topic: z.string(),
  status: taskStatusSchema,
  due_at: dateTime,
  accepted_at: dateTime,
  attempts: z.number().check(z.int(), z.nonnegative()),
  last_error: z.optional(z.string()),
  queued_at: z.optional(dateTime),
  last_attempt_at: z.optional(dateTime),
  delivered_at: z.optional(dateTime),
  failed_at: z.optional(dateTime),
  cancelled_at: z.optional(dateTime),
  cancel_requested: z.withMeta(z.optional(z.literal(true)), {
    description:
      "an operator's cancel met this task with its callback in flight: that attempt goes on (a callback cannot be unsent); on a 2xx the task is `delivered`, otherwise `cancelled`, and no further attempt is made (a fan-out task: one of its copies is so; a DELETE that leaves one so answers 202); a task deliver started with its batch behind others of its group, not yet called, ends `cancelled` without a call once it has waited a second or more for its turn, or at its next start once that start was given back (`scheduled`: it cannot be moved then)",
  }),
  rescheduled_to: z.optional(z.string()),
  rescheduled_at: z.optional(dateTime),
  lateness_ms: z.optional(z.number()),
  delivery_latency_ms: z.optional(z.number()),
  callback_url: z.string(),
  group: z.optional(z.string()),
  attempt_log: z.array(
    z.looseObject({
      // Optional for clients: a server from before the field answers without it.
      attempt: z.withMeta(z.optional(z.number().check(z.int(), z.positive())), {
        description:
          "the attempt's number over the task's life (replays continue it); a number missing between two entries is an attempt whose outcome was never recorded",
      }),
      started_at: dateTime,
      duration_ms: z.number().check(z.nonnegative()),
      status: z.optional(z.number().check(z.int())),
      error: z.optional(z.string()),
    }),
  ),
  replays: z.optional(z.number().check(z.int(), z.nonnegative())),
  replayed_at: z.optional(dateTime),
  content: z.withMeta(z.optional(z.string()), {
    description: "the task's content as JSON text, exactly as it is delivered; only with `?include=content`",
  }),
  schedule_id: z.withMeta(z.optional(z.string()), {
    description: "the recurring schedule this task is an occurrence of",
  }),
  // Issue 14, point 3: fan-out.
  subscribers: z.withMeta(z.optional(z.array(subscriberViewSchema)), {
    description: "a fan-out task: one row per subscriber, each its own delivery task",
  }),
  parent_task_id: z.withMeta(z.optional(z.string()), {
    description: "a subscriber's copy: the fan-out task it belongs to",
  }),
  subscriber: z.withMeta(z.optional(z.string()), {
    description: "a subscriber's copy: the subscriber it goes to",
  }),
});
export type TaskView = z.output<typeof taskViewSchema>;

/**
 * `GET /v1/tasks/{id}?include=content`: the content too (the console's task view). Opt-in: content can be large
 * (up to the topic's maxPayloadBytes) and most reads want only the status. Lists never carry it.
 */
export const getTaskQuerySchema = z.strictObject({
  include: z.withMeta(z.optional(z.literal("content")), { description: "`content`: add the task's content" }),
});

/**
 * `POST /v1/tasks/{id}/replay`: `subscriber` replays one subscriber's copy of a fan-out task (issue 14.3). Strict:
 * an ignored key (`?subscribers=audit`, a typo) would replay every subscriber's copy.
 */
export const replayTaskQuerySchema = z.strictObject({
  subscriber: z.withMeta(z.optional(z.string().check(z.minLength(1), z.maxLength(64))), {
    description: "a fan-out task: replay only this subscriber's copy (the others are not called again)",
  }),
});

/** `POST /v1/tasks`: 201 for a new task, 200 when an idempotency key found the task it made before. */
export const addTaskResponseSchema = z.looseObject({
  task_id: z.string(),
  topic: z.string(),
  status: taskStatusSchema,
  due_at: dateTime,
  subscribers: z.withMeta(z.optional(z.array(z.looseObject({ id: z.string(), task_id: z.string() }))), {
    description: "a fan-out task: each subscriber's copy, by id",
  }),
});
export type AddTaskResponse = z.output<typeof addTaskResponseSchema>;

export const errorIssueSchema = z.object({ path: z.string(), message: z.string() });
export type ErrorIssue = z.output<typeof errorIssueSchema>;

/** Every error the API itself answers (shared/api/errors.ts); extra fields such as `task_status` kept. */
export const errorBodySchema = z.object({
  error: z.looseObject({
    code: z.string(),
    message: z.string(),
    issues: z.optional(z.array(errorIssueSchema)),
  }),
});
export type ErrorBody = z.output<typeof errorBodySchema>;

// Operations routes, scope I2: reschedule, run now, group cancel.

/** `PATCH /v1/tasks/{id}` and `POST /v1/tasks/{id}/run`: the task as it is now, under its new id. */
export const rescheduleResponseSchema = z.extend(taskViewSchema, {
  rescheduled_from: z.withMeta(z.optional(z.string()), {
    description: "the id the task had before this move",
  }),
});
export type RescheduleResponse = z.output<typeof rescheduleResponseSchema>;

/** `POST /v1/topics/{topic}/groups/{value}/cancel`. */
export const cancelGroupResponseSchema = z.looseObject({
  cancelled: z.number().check(z.int(), z.nonnegative()),
  not_cancelled: z.array(
    z.looseObject({
      task_id: z.string(),
      status: taskStatusSchema,
      rescheduled_to: z.withMeta(z.optional(z.string()), {
        description: "a task caught mid-move (`rescheduled`): the id it is moving to",
      }),
    }),
  ),
  // Required: every deployment since it was added sends it; the client reads an older one's answer without it as []
  // (client/answer-schemas.ts).
  cancel_requested: z.withMeta(
    z.array(
      z.looseObject({
        task_id: z.string(),
      }),
    ),
    {
      description:
        "tasks whose callback (a fan-out task: one of its copies' callbacks) was in flight: the cancel is recorded on them, and they end after that attempt — `delivered` if it succeeds, `cancelled` otherwise, never called again; a task deliver started with its batch behind others of the group, its callback not yet made, is listed too, and ends `cancelled` without a call once it has waited a second or more for its turn",
    },
  ),
  more: z.boolean(),
  next_cursor: nextCursorSchema,
});
export type CancelGroupResponse = z.output<typeof cancelGroupResponseSchema>;
