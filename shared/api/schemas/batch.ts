/**
 * `POST /v1/tasks/batch`: up to MAX_BATCH_TASKS add bodies in one request, one result per item in request order
 * (the shape of SQS's batch answers: each item succeeds or fails on its own; the request as a whole answers 200).
 */
import * as z from "zod";
import { addTaskBodySchema } from "#shared/domain/add-task-request.js";
import { MAX_BATCH_TASKS } from "./batch-request.js";
import { errorIssueSchema, taskStatusSchema } from "./tasks.js";

// The request's limits and schema are in batch-request.ts, so the function bundles none of the answer's schemas
// (they are the client's and the OpenAPI document's).
export { addTasksBatchBodySchema, MAX_BATCH_BODY_BYTES, MAX_BATCH_TASKS } from "./batch-request.js";

/** The batch body as the OpenAPI document shows it (items typed as add bodies). */
export const addTasksBatchDocSchema = z
  .object({ tasks: z.array(addTaskBodySchema).min(1).max(MAX_BATCH_TASKS) })
  .strict();

/** One item's result: 201/200 with the task, or its error as the single add would have answered it. */
export const batchItemResultSchema = z.looseObject({
  status: z
    .number()
    .int()
    .meta({ description: "201 added, 200 found by its idempotency key, 4xx refused, 503 retry it" }),
  task_id: z.string().optional(),
  topic: z.string().optional(),
  task_status: taskStatusSchema.optional(),
  due_at: z.iso.datetime({ offset: true }).optional(),
  subscribers: z
    .array(z.looseObject({ id: z.string(), task_id: z.string() }))
    .optional()
    .meta({ description: "a fan-out task: each subscriber's copy, by id" }),
  error: z
    .looseObject({ code: z.string(), message: z.string(), issues: z.array(errorIssueSchema).optional() })
    .optional(),
});
export type BatchItemResult = z.output<typeof batchItemResultSchema>;

export const addTasksBatchResponseSchema = z.looseObject({
  results: z.array(batchItemResultSchema),
  added: z.number().int().nonnegative().meta({ description: "items answered 201 or 200" }),
  failed: z.number().int().nonnegative().meta({ description: "items answered 4xx or 5xx" }),
});
export type AddTasksBatchResponse = z.output<typeof addTasksBatchResponseSchema>;
