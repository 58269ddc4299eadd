/**
 * What each route accepts and answers, as the zod schemas the handlers validate with and the client parses with:
 * the one source the OpenAPI document (shared/api/openapi.ts → docs/openapi.json, `GET /v1/openapi.json`) is
 * generated from. Every row of the route table (shared/api/routes.ts) has an entry here (a spec checks it).
 *
 * Adding a route: its entry below, with the same request schema its handler parses and its response schemas
 * (shared/api/schemas/…), then `npm run openapi` to regenerate docs/openapi.json.
 */
import * as z from "zod";
import { addTaskBodySchema, IDEMPOTENCY_HEADER } from "#shared/domain/add-task-request.js";
import {
  bulkReplayBodySchema,
  bulkReplayResponseSchema,
  listTasksQuerySchema,
  taskListSchema,
} from "./schemas/operations.js";
import { addTaskResponseSchema, errorBodySchema, taskViewSchema } from "./schemas/tasks.js";

export interface ResponseSpec {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** Response headers worth documenting (name → description). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RouteContract {
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  readonly pathParams?: z.ZodObject;
  readonly query?: z.ZodObject;
  /** Request headers worth documenting (name → description). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: z.ZodType;
  readonly responses: Readonly<Record<string, ResponseSpec>>;
}

const taskIdParams = z.object({ id: z.string().min(1).meta({ description: "the task id" }) });
const error = (description: string): ResponseSpec => ({ description, schema: errorBodySchema });

/** Errors every JSON route may answer besides its own. */
export const COMMON_ERRORS: Readonly<Record<string, ResponseSpec>> = {
  "400": error("the request is invalid (`validation_failed`, `invalid_json`, `unknown_topic`)"),
  "403": { description: "API Gateway refused the caller (IAM or JWT auth)" },
  "405": error("the path exists under other methods (`method_not_allowed`, with an `Allow` header)"),
  "503": {
    description: "a dependency is unavailable (`service_unavailable`); nothing was changed — retry",
    schema: errorBodySchema,
    headers: { "Retry-After": "seconds to wait before retrying" },
  },
};

export const API_CONTRACT = {
  "POST /v1/tasks": {
    summary: "Schedule a task",
    tags: ["tasks"],
    headers: { [IDEMPOTENCY_HEADER]: "optional; same key + same body → the same task (200), else 409" },
    body: addTaskBodySchema,
    responses: {
      "201": {
        description: "accepted",
        schema: addTaskResponseSchema,
        headers: { Location: "the task's URL" },
      },
      "200": {
        description: "an idempotency key found the task it made before",
        schema: addTaskResponseSchema,
      },
      "409": error("the idempotency key was used with a different body (`idempotency_conflict`)"),
      "413": error("the content is larger than the topic allows (`payload_too_large`)"),
      "415": error("send `content-type: application/json` (`unsupported_media_type`)"),
    },
  },
  "GET /v1/tasks/{id}": {
    summary: "Read a task: status, attempts, last error, timestamps, lateness",
    tags: ["tasks"],
    pathParams: taskIdParams,
    responses: {
      "200": { description: "the task", schema: taskViewSchema },
      "404": error("no such task (`not_found`)"),
    },
  },
  "DELETE /v1/tasks/{id}": {
    summary: "Cancel a task that has not been handed to its FIFO queue",
    tags: ["tasks"],
    pathParams: taskIdParams,
    responses: {
      "200": { description: "cancelled", schema: taskViewSchema },
      "404": error("no such task (`not_found`)"),
      "409": error("the task is already queued, delivered or final (`conflict`, with `task_status`)"),
    },
  },
  // --- issue 11, scope H: find and replay (appended block) ---
  "GET /v1/tasks": {
    summary:
      "List one ordering group's tasks in delivery order, or a topic's dead-lettered tasks newest first",
    description:
      "Exactly one of `group` and `status=failed`. Paginated: pass `next_cursor` back as `cursor` until it is null.",
    tags: ["tasks"],
    query: listTasksQuerySchema,
    responses: {
      "200": { description: "one page", schema: taskListSchema },
    },
  },
  "POST /v1/tasks/{id}/replay": {
    summary: "Deliver a failed or delivered task again (same id, history kept, `replays` + 1)",
    description:
      "The task goes back on its topic's FIFO queue in its group; attempts count afresh (the topic's maxAttempts applies per replay) and the attempt log continues.",
    tags: ["tasks"],
    pathParams: taskIdParams,
    responses: {
      "202": { description: "replayed: the task is queued again", schema: taskViewSchema },
      "404": error("no such task (`not_found`)"),
      "409": error("the task is not finished (`conflict`, with `task_status`)"),
    },
  },
  "POST /v1/topics/{topic}/replay": {
    summary: "Replay a topic's dead-lettered tasks (by id, or by filter) in group order",
    description:
      "At most 1,000 tasks per call; a filter continues with `next_cursor`. Replayed tasks go through the topic's FIFO queue and deliver function, so the receiver sees no more than the topic's concurrency. `dry_run` counts what matches.",
    tags: ["topics"],
    pathParams: z.object({ topic: z.string().min(1).meta({ description: "the topic" }) }),
    body: bulkReplayBodySchema,
    responses: {
      "200": {
        description: "what matched, what was replayed, what could not be",
        schema: bulkReplayResponseSchema,
      },
      "415": error("send `content-type: application/json` (`unsupported_media_type`)"),
    },
  },
} as const satisfies Readonly<Record<string, RouteContract>>;
