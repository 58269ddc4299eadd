import { addTaskBodySchema, rescheduleBodySchema } from "#shared/domain/add-task-request.js";
import * as z from "#shared/zod.js";
import { bulkReplayBodySchema } from "./operations.js";

/*
 * Request bodies as the OpenAPI document shows them, with rules their handlers apply as zod refinements, which
 * zod's JSON Schema output cannot carry, written out as JSON Schema. Without them the document calls bodies valid
 * that the route refuses with a 400. Validation is unchanged: the handlers parse with the same zod schemas.
 */

/** The add and reschedule bodies: `exactlyOneTiming` (shared/domain/add-task-request.ts). */
const EXACTLY_ONE_TIMING = {
  description: "exactly one of `timing_moment`, `due_at` or `delay_seconds`",
  oneOf: [{ required: ["timing_moment"] }, { required: ["due_at"] }, { required: ["delay_seconds"] }],
};

export const addTaskBodyDocSchema = z.withMeta(addTaskBodySchema, EXACTLY_ONE_TIMING);
export const rescheduleBodyDocSchema = z.withMeta(rescheduleBodySchema, EXACTLY_ONE_TIMING);

/** The topic replay: task ids or a filter, not both (bulkReplayBodySchema's first refinement). */
export const bulkReplayBodyDocSchema = z.withMeta(bulkReplayBodySchema, {
  description:
    "`task_ids`, or a filter (`failed_after`, `failed_before`, `error_contains`, continued with `cursor`), not both; `failed_before` after `failed_after`",
  not: {
    required: ["task_ids"],
    anyOf: [
      { required: ["failed_after"] },
      { required: ["failed_before"] },
      { required: ["error_contains"] },
      { required: ["cursor"] },
    ],
  },
});
