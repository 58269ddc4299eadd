/**
 * `POST /v1/tasks/batch`: up to MAX_BATCH_TASKS add bodies in one request, one result per item in request order
 * (the shape of SQS's batch answers: each item succeeds or fails on its own; the request as a whole answers 200).
 */

import * as z from "#shared/zod.js";
import { MAX_BATCH_TASKS } from "./batch-request.js";
import { addTaskBodyDocSchema } from "./doc-rules.js";
import { errorIssueSchema, taskStatusSchema } from "./tasks.js";

// The request's limits and schema are in batch-request.ts, so the function bundles none of the answer's schemas
// (they are the client's and the OpenAPI document's).
export { addTasksBatchBodySchema, MAX_BATCH_BODY_BYTES, MAX_BATCH_TASKS } from "./batch-request.js";

/** The batch body as the OpenAPI document shows it (items typed as add bodies). */
export const addTasksBatchDocSchema = z.strictObject({
  tasks: z.array(addTaskBodyDocSchema).check(z.minLength(1), z.maxLength(MAX_BATCH_TASKS)),
});

/** One item's result: 201/200 with the task, or its error as the single add would have answered it. */
export const batchItemResultSchema = z.looseObject({
  status: z.withMeta(z.number().check(z.int()), {
    description: "201 added, 200 found by its idempotency key, 4xx refused, 503 retry it",
  }),
  task_id: z.optional(z.string()),
  topic: z.optional(z.string()),
  task_status: z.optional(taskStatusSchema),
  due_at: z.optional(z.iso.datetime({ offset: true })),
  subscribers: z.withMeta(z.optional(z.array(z.looseObject({ id: z.string(), task_id: z.string() }))), {
    description: "a fan-out task: each subscriber's copy, by id",
  }),
  error: z.optional(
    z.looseObject({ code: z.string(), message: z.string(), issues: z.optional(z.array(errorIssueSchema)) }),
  ),
});
export type BatchItemResult = z.output<typeof batchItemResultSchema>;

export const addTasksBatchResponseSchema = z.looseObject({
  results: z.array(batchItemResultSchema),
  added: z.withMeta(z.number().check(z.int(), z.nonnegative()), { description: "items answered 201 or 200" }),
  failed: z.withMeta(z.number().check(z.int(), z.nonnegative()), {
    description: "items answered 4xx or 5xx",
  }),
});
export type AddTasksBatchResponse = z.output<typeof addTasksBatchResponseSchema>;
