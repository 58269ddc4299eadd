/** `POST /v1/tasks/batch`'s request: its limits and the schema the function checks it with (batch.ts re-exports them). */
import * as z from "#shared/zod.js";

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
export const addTasksBatchBodySchema = z.strictObject({
  tasks: z
    .array(z.withMeta(z.unknown(), { $ref: undefined }))
    .check(
      z.minLength(1, "must hold at least one task"),
      z.maxLength(MAX_BATCH_TASKS, `must hold at most ${MAX_BATCH_TASKS} tasks`),
    ),
});
