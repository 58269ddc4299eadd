/**
 * `POST /v1/tasks/batch`: up to MAX_BATCH_TASKS add bodies in one request, one result per item in request order
 * (the shape of SQS's batch answers: each item succeeds or fails on its own; the request as a whole answers 200).
 */
import * as z from "zod";
import { addTaskBodySchema } from "#shared/domain/add-task-request.js";
import { errorIssueSchema, taskStatusSchema } from "./tasks.js";

/** Items per batch: SQS's and DynamoDB's batch calls stop at 10 and 25; 100 keeps one Lambda call under 30 s. */
export const MAX_BATCH_TASKS = 100;

/**
 * The batch body cap, checked before parsing. API Gateway (HTTP API) takes up to 10 MB, but a synchronous Lambda
 * invocation takes at most 6 MB of event, into which API Gateway writes the body escaped as a JSON string: the
 * route also holds the body's escaped size to MAX_EVENT_BODY_BYTES (shared/api/lambda-event-size.ts), which a
 * quote-heavy or non-ASCII body reaches before this cap. Each item's content is still held to its topic's
 * maxPayloadBytes.
 */
export const MAX_BATCH_BODY_BYTES = 4 * 1024 * 1024;

/**
 * The whole request: an object with `tasks`, 1–100 items. Items are checked one by one (each may fail alone), so
 * here an item is only "something"; the OpenAPI document shows it as an add body.
 */
export const addTasksBatchBodySchema = z
  .object({
    tasks: z
      .array(z.unknown().meta({ $ref: undefined }))
      .min(1, "must hold at least one task")
      .max(MAX_BATCH_TASKS, `must hold at most ${MAX_BATCH_TASKS} tasks`),
  })
  .strict();

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
