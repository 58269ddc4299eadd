import { addTaskBodySchema, rescheduleBodySchema } from "#shared/domain/add-task-request.js";
import * as z from "#shared/zod.js";

/**
 * The add and reschedule bodies as the OpenAPI document shows them: with the rule their handlers apply (a zod
 * refinement, `exactlyOneTiming`, which JSON Schema output cannot carry) written as JSON Schema — exactly one of
 * the three timing fields. Without it the document calls a body with none, or two, valid.
 */
const EXACTLY_ONE_TIMING = {
  description: "exactly one of `timing_moment`, `due_at` or `delay_seconds`",
  oneOf: [{ required: ["timing_moment"] }, { required: ["due_at"] }, { required: ["delay_seconds"] }],
};

export const addTaskBodyDocSchema = z.withMeta(addTaskBodySchema, EXACTLY_ONE_TIMING);
export const rescheduleBodyDocSchema = z.withMeta(rescheduleBodySchema, EXACTLY_ONE_TIMING);
