/**
 * The schemas the client reads answers with: the API's (shared/api/schemas/), except that a field a later release
 * added reads as what an older deployment's answer without it means, and a value a later release added to a closed
 * set reads as sent (`OpenValue`). Clients and deployments are upgraded independently (one deployment per
 * environment), so a newer client meets older answers and an older client newer ones; the API's schemas, and the
 * OpenAPI document made from them, stay as every deployment since sends its answers: this tolerance is the client's,
 * not the contract. Only an absent field is defaulted, and only a string is a value: one present but malformed is
 * still an `invalid_response`.
 *
 * A field the client does not know needs nothing here: every answer object is loose (or strips), so it passes
 * through (test/unit/client/version-skew.test.ts checks all three).
 */

import { addTasksBatchResponseSchema, batchItemResultSchema } from "#shared/api/schemas/batch.js";
import {
  destinationListSchema,
  destinationResetResponseSchema,
  destinationViewSchema,
} from "#shared/api/schemas/destinations.js";
import { taskListSchema } from "#shared/api/schemas/operations.js";
import {
  scheduleChangeResponseSchema,
  scheduleListSchema,
  scheduleViewSchema,
} from "#shared/api/schemas/schedules.js";
import {
  addTaskResponseSchema,
  cancelGroupResponseSchema,
  rescheduleResponseSchema,
  subscriberViewSchema,
  taskViewSchema,
} from "#shared/api/schemas/tasks.js";
import { CATCH_UP_POLICIES, SCHEDULE_STATUSES } from "#shared/domain/schedule.js";
import { TASK_STATUSES } from "#shared/domain/task.js";
import { ATTEMPT_LOG_SIZE, MAX_SUBSCRIBERS, OPEN_VALUE_MAX_CHARS } from "#shared/domain/view-bounds.js";
import * as z from "#shared/zod.js";

declare const unknownValue: unique symbol;

/**
 * A value of one of the API's closed sets (a task's or schedule's `status`, `catch_up`, a circuit's `state`) as an
 * answer carries it: one of `T`, or one a later release added, which this client does not know (`Unknown`). An
 * older client reading a newer stack's answer keeps working (as AWS SDK v3's enums accept any string): the value is
 * shown as sent, never guessed at.
 *
 * Unknown is a branded string rather than `T | (string & {})`: narrowed past every known value, what is left is
 * `Unknown`, to which no literal is assignable, so an exhaustive `switch` stays checked (`default: { const
 * rest: Unknown = status; … }` fails to compile once the set gains a value the switch does not handle), and
 * editors still offer the known values.
 */
export type OpenValue<T extends string> = T | Unknown;
export type Unknown = string & { readonly [unknownValue]: true };

export { OPEN_VALUE_MAX_CHARS };

/**
 * Any non-empty string up to OPEN_VALUE_MAX_CHARS (a longer one is a broken answer's, not a value), typed as
 * `OpenValue` of `values`.
 */
function openValue<const T extends string>(_values: readonly T[]): z.ZodMiniType<OpenValue<T>, unknown> {
  return z.string().check(z.minLength(1), z.maxLength(OPEN_VALUE_MAX_CHARS)) as unknown as z.ZodMiniType<
    OpenValue<T>,
    unknown
  >;
}

const taskStatus = openValue(TASK_STATUSES);
const scheduleStatus = openValue(SCHEDULE_STATUSES);
const catchUp = z.optional(openValue(CATCH_UP_POLICIES));

/** A task (GET, DELETE, replay), its fan-out copies' statuses too (`missing`: a copy whose item is not there). */
const subscriberAnswerSchema = z.extend(subscriberViewSchema, {
  status: openValue([...TASK_STATUSES, "missing"]),
});
/**
 * A task: its attempt log and a fan-out task's subscribers bounded as the API bounds them (a ring of
 * ATTEMPT_LOG_SIZE, at most MAX_SUBSCRIBERS copies): more is a broken API's, an `invalid_response`, not thousands of
 * rows `tasks show` prints (the console refuses it too, console/src/answers.ts).
 */
export const taskViewAnswerSchema = z.extend(taskViewSchema, {
  status: taskStatus,
  attempt_log: taskViewSchema.shape.attempt_log.check(z.maxLength(ATTEMPT_LOG_SIZE)),
  subscribers: z.optional(z.array(subscriberAnswerSchema).check(z.maxLength(MAX_SUBSCRIBERS))),
});
export type TaskViewAnswer = z.output<typeof taskViewAnswerSchema>;

/** Reschedule and run now: the task as it is now, under its new id. */
export const rescheduleAnswerSchema = z.extend(taskViewAnswerSchema, {
  rescheduled_from: rescheduleResponseSchema.shape.rescheduled_from,
});
export type RescheduleAnswer = z.output<typeof rescheduleAnswerSchema>;

export const taskListAnswerSchema = z.extend(taskListSchema, { tasks: z.array(taskViewAnswerSchema) });
export type TaskListAnswer = z.output<typeof taskListAnswerSchema>;

export const addTaskAnswerSchema = z.extend(addTaskResponseSchema, { status: taskStatus });
export type AddTaskAnswer = z.output<typeof addTaskAnswerSchema>;

const batchItemAnswerSchema = z.extend(batchItemResultSchema, { task_status: z.optional(taskStatus) });
export type BatchItemAnswer = z.output<typeof batchItemAnswerSchema>;
export const addTasksBatchAnswerSchema = z.extend(addTasksBatchResponseSchema, {
  results: z.array(batchItemAnswerSchema),
});
export type AddTasksBatchAnswer = z.output<typeof addTasksBatchAnswerSchema>;

export const scheduleViewAnswerSchema = z.extend(scheduleViewSchema, {
  status: scheduleStatus,
  catch_up: catchUp,
});
export type ScheduleViewAnswer = z.output<typeof scheduleViewAnswerSchema>;

export const scheduleListAnswerSchema = z.extend(scheduleListSchema, {
  schedules: z.array(scheduleViewAnswerSchema),
});
export type ScheduleListAnswer = z.output<typeof scheduleListAnswerSchema>;

const destinationAnswerSchema = z.extend(destinationViewSchema, {
  state: openValue(destinationViewSchema.shape.state.options),
});
export type DestinationAnswer = z.output<typeof destinationAnswerSchema>;
export const destinationListAnswerSchema = z.extend(destinationListSchema, {
  destinations: z.array(destinationAnswerSchema),
});
export type DestinationListAnswer = z.output<typeof destinationListAnswerSchema>;
export const destinationResetAnswerSchema = z.extend(destinationResetResponseSchema, {
  destinations: z.array(destinationAnswerSchema),
});
export type DestinationResetAnswer = z.output<typeof destinationResetAnswerSchema>;

/**
 * Schedule pause and delete. A deployment from before `cancels_deferred` cancelled every occurrence made ahead
 * inside the call (or failed it): none was left to delivery.
 */
export const scheduleChangeAnswerSchema = z.extend(scheduleChangeResponseSchema, {
  status: scheduleStatus,
  catch_up: catchUp,
  cancels_deferred: z._default(scheduleChangeResponseSchema.shape.cancels_deferred, false),
});
export type ScheduleChangeAnswer = z.output<typeof scheduleChangeAnswerSchema>;

/**
 * Group cancel. A deployment from before `cancel_requested` recorded no cancel on a task whose callback was in
 * flight (it listed such a task in `not_cancelled`): none was requested.
 */
export const cancelGroupAnswerSchema = z.extend(cancelGroupResponseSchema, {
  not_cancelled: z.array(
    z.extend(cancelGroupResponseSchema.shape.not_cancelled.def.element, { status: taskStatus }),
  ),
  cancel_requested: z._default(cancelGroupResponseSchema.shape.cancel_requested, () => []),
});
export type CancelGroupAnswer = z.output<typeof cancelGroupAnswerSchema>;
