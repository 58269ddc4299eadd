/**
 * The schemas the client reads two answers with: the API's (shared/api/schemas/), except that a field a later
 * release added reads as what an older deployment's answer without it means. Clients and deployments are upgraded
 * independently (one deployment per environment), so a newer client meets older answers; the API's schemas, and the
 * OpenAPI document made from them, keep each field required, as every deployment since sends it. Only an absent
 * field is defaulted: one present but malformed is still an `invalid_response`.
 *
 * The other way round needs nothing here: every answer object is loose (or strips), so an older client reads a
 * newer answer, a field it does not know passed through (test/unit/client/version-skew.test.ts checks both).
 */

import { scheduleChangeResponseSchema } from "#shared/api/schemas/schedules.js";
import { cancelGroupResponseSchema } from "#shared/api/schemas/tasks.js";
import * as z from "#shared/zod.js";

/**
 * Schedule pause and delete. A deployment from before `cancels_deferred` cancelled every occurrence made ahead
 * inside the call (or failed it): none was left to delivery.
 */
export const scheduleChangeAnswerSchema = z.extend(scheduleChangeResponseSchema, {
  cancels_deferred: z._default(scheduleChangeResponseSchema.shape.cancels_deferred, false),
});
export type ScheduleChangeAnswer = z.output<typeof scheduleChangeAnswerSchema>;

/**
 * Group cancel. A deployment from before `cancel_requested` recorded no cancel on a task whose callback was in
 * flight (it listed such a task in `not_cancelled`): none was requested.
 */
export const cancelGroupAnswerSchema = z.extend(cancelGroupResponseSchema, {
  cancel_requested: z._default(cancelGroupResponseSchema.shape.cancel_requested, () => []),
});
export type CancelGroupAnswer = z.output<typeof cancelGroupAnswerSchema>;
