/**
 * What each route accepts and answers, as the zod schemas the handlers validate with and the client parses with:
 * the one source the OpenAPI document (shared/api/openapi.ts → docs/openapi.json, `GET /v1/openapi.json`) is
 * generated from. Every row of the route table (shared/api/routes.ts) has an entry here (a spec checks it).
 *
 * Adding a route: its entry below, with the same request schema its handler parses and its response schemas
 * (shared/api/schemas/…), then `npm run openapi` to regenerate docs/openapi.json.
 */

import { IDEMPOTENCY_HEADER, idempotencyKeySchema } from "#shared/domain/add-task-request.js";
import { destinationHostOf } from "#shared/domain/destination.js";
import * as z from "#shared/zod.js";
import { addTasksBatchDocSchema, addTasksBatchResponseSchema } from "./schemas/batch.js";
import {
  destinationListSchema,
  destinationResetQuerySchema,
  destinationResetResponseSchema,
  listDestinationsQuerySchema,
} from "./schemas/destinations.js";
import {
  addTaskBodyDocSchema,
  bulkReplayBodyDocSchema,
  rescheduleBodyDocSchema,
} from "./schemas/doc-rules.js";
import { cancelGroupParamsSchema, cancelGroupQuerySchema } from "./schemas/groups.js";
import { bulkReplayResponseSchema, listTasksQuerySchema, taskListSchema } from "./schemas/operations.js";
import {
  createScheduleBodySchema,
  listSchedulesQuerySchema,
  scheduleChangeResponseSchema,
  scheduleListSchema,
  scheduleParamsSchema,
  scheduleViewSchema,
} from "./schemas/schedules.js";
import {
  addTaskResponseSchema,
  cancelGroupResponseSchema,
  errorBodySchema,
  getTaskQuerySchema,
  replayTaskQuerySchema,
  rescheduleResponseSchema,
  taskViewSchema,
} from "./schemas/tasks.js";
import {
  topicListSchema,
  topicParamsSchema,
  topicPauseResponseSchema,
  topicViewSchema,
} from "./schemas/topics.js";

export interface ResponseSpec {
  readonly description: string;
  readonly schema?: z.ZodMiniType;
  /** Response headers worth documenting (name → description). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RouteContract {
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  readonly pathParams?: z.ZodMiniObject;
  readonly query?: z.ZodMiniObject;
  /** Request headers worth documenting: name → description, and the schema the route checks the value with. */
  readonly headers?: Readonly<
    Record<string, { readonly description: string; readonly schema: z.ZodMiniType }>
  >;
  readonly body?: z.ZodMiniType;
  readonly responses: Readonly<Record<string, ResponseSpec>>;
}

const taskIdParams = z.object({
  id: z.withMeta(z.string().check(z.minLength(1)), { description: "the task id" }),
});
/**
 * The route's own rule (shared/domain/destination.ts), not a pattern of its own: a URL's host may hold `$`, `~`,
 * `!`…, and every host the list shows must name itself. Here, not beside the list's schemas, which the console's
 * page bundles.
 */
const destinationParamsSchema = z.object({
  host: z.withMeta(
    z.string().check(z.refine((host) => destinationHostOf(host) !== undefined, "not a callback host")),
    {
      description:
        "the callback host, `host[:port]` as in GET /v1/destinations (URL-encoded); also as its callback URL spells it: any case, a trailing dot, `[::ffff:a.b.c.d]` or `[64:ff9b::a.b.c.d]` for `a.b.c.d`; an IDN in its `xn--` form, as listed",
    },
  ),
});
const error = (description: string): ResponseSpec => ({ description, schema: errorBodySchema });

/** Every JSON-body route: the body must be uncompressed JSON (shared/api/middleware/json-body.ts). */
const UNSUPPORTED_MEDIA_TYPE = error(
  "send `content-type: application/json`, uncompressed: any `content-encoding` but `identity` (gzip, br, deflate, …) is refused before the body is read, with `Accept-Encoding: identity` (`unsupported_media_type`)",
);

/** The body of an answer API Gateway writes itself (`{"message":"Internal Server Error"}`), not the error shape. */
const gatewayMessageSchema = z.object({ message: z.string() });

/**
 * Every JSON-body route: the body's byte caps (json-body.ts; the batch states its own 4 MiB). A route's own 413
 * (content over its topic's limit) says this too.
 */
const BODY_CAPS =
  "the body is over 1 MiB as sent, or over 5 MiB once escaped into the function's event (quotes and backslashes count twice, non-ASCII characters six bytes each)";

/**
 * A 413: ours (`payload_too_large`), or API Gateway's own for a body past its 10 MB (local/runtime/api-server.ts
 * answers the same), which never reaches a function and has API Gateway's `{"message"}` body.
 */
const tooLarge = (description: string): ResponseSpec => ({
  description: `${description}; a body over 10 MB API Gateway refuses itself, with its own \`{"message":"Request Entity Too Large"}\``,
  schema: z.union([errorBodySchema, gatewayMessageSchema]),
});

/** Errors every route that takes a JSON body may answer besides its own (openapi.ts adds them). */
export const BODY_ERRORS: Readonly<Record<string, ResponseSpec>> = {
  "413": tooLarge(`${BODY_CAPS} (\`payload_too_large\`)`),
  "415": UNSUPPORTED_MEDIA_TYPE,
};

/** Errors every JSON route may answer besides its own. */
export const COMMON_ERRORS: Readonly<Record<string, ResponseSpec>> = {
  "401": {
    description:
      'API Gateway refused the caller (a JWT stack: no token, or one expired, not signed by the issuer, or for another audience); API Gateway\'s own body, `{"message":"Unauthorized"}`',
  },
  "400": error(
    "the request is invalid (`validation_failed`, `invalid_json`, `unknown_topic`); a query parameter given more than once is a `validation_failed` naming it; so is an `Idempotency-Key` header on a route that changes something and keeps no key (all but `POST /v1/tasks`): nothing was changed",
  ),
  "403": { description: "API Gateway refused the caller (IAM or JWT auth)" },
  "405": error("the path exists under other methods (`method_not_allowed`, with an `Allow` header)"),
  "500": {
    description:
      'an unexpected fault (`internal_error`: a generic message, nothing internal shown; the request may be retried unless the route\'s own 500 says otherwise), or API Gateway\'s own `{"message":"Internal Server Error"}` when the function itself failed',
    schema: z.union([errorBodySchema, gatewayMessageSchema]),
  },
  // https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html
  "429": {
    description:
      'API Gateway throttled the request (the stage\'s or the account\'s rate or burst limit) before any function ran: nothing was changed; retry with backoff. API Gateway\'s own body, `{"message":"Too Many Requests"}`',
  },
  // https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html (local/runtime/api-server.ts)
  "431": {
    description:
      'the request line and header values together are over 10,240 bytes (an HTTP API quota: say, a long group value percent-encoded in the path or `?group=` beside a long token), refused before any function ran: nothing was changed; a repeat is refused the same, shorten the request. The local cloud answers 431 with `{"message":"Request Header Fields Too Large"}`; AWS documents the quota, not the status it answers (a 4xx)',
  },
  "503": {
    description:
      'a dependency is unavailable (`service_unavailable`); retry (an add with its idempotency key). An add with a key may have stored its task: it is kept, delivered even without a retry, and the retry answers it. Otherwise nothing was changed, with two exceptions (docs/API.md, "POST /v1/tasks"): an add whose clean-up failed too (left to the sweeper, delivered at least once), and a fan-out add without a key whose `details` name `task_id` and `subscribers_delivering`, the copies already on their way. A route that acts on many things (group cancel, topic replay, schedule pause or delete) may have stopped part-way: what it did stays done, and a repeat goes on from there. A route that cannot be repeated safely once it may have acted (a replay whose write failed other than throttled on a single SDK attempt, or that failed after a fan-out copy was replayed; a schedule create whose store failed other than throttled on a single SDK attempt or that timed out) answers 500 saying what was or may have been done instead',
    schema: errorBodySchema,
    headers: { "Retry-After": "seconds to wait before retrying" },
  },
};

export const API_CONTRACT = {
  "POST /v1/tasks": {
    summary: "Schedule a task",
    tags: ["tasks"],
    headers: {
      [IDEMPOTENCY_HEADER]: {
        description:
          "optional; same key + same body → the same task (200), else 409; a key starting `schedule:` (reserved for schedule occurrences) is refused (400)",
        schema: idempotencyKeySchema,
      },
    },
    body: addTaskBodyDocSchema,
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
      "400": error(
        "the request is invalid (`validation_failed`, `invalid_json`, `unknown_topic`); a `callback` on a fan-out topic (`fan_out_callback`)",
      ),
      "409": error(
        "the idempotency key was used with a different body, or its task may have completed and expired (`idempotency_conflict`; the issue names the field the key came in: `idempotency_key` or `Idempotency-Key`)",
      ),
      "413": tooLarge(`the content is larger than the topic allows, or ${BODY_CAPS} (\`payload_too_large\`)`),
      "415": UNSUPPORTED_MEDIA_TYPE,
    },
  },
  // Issue 13, scope L: batch add.
  "POST /v1/tasks/batch": {
    summary: "Schedule up to 100 tasks, one result per item in request order",
    description:
      "Each item is a `POST /v1/tasks` body and is added exactly as a single add would add it (its own `idempotency_key`, its topic's limits). The request answers 200 with `results[i].status` per item: 201 added, 200 found by its idempotency key, 4xx refused (with the single add's error), 503 a dependency failed for that item (retry it with its key). Items sharing an idempotency key are settled in request order: the earlier one is added, a later one answers what a later request with that key would (200 with that task, or 409 for another body; 503 when the earlier one answered 503). Whole-request problems answer the usual 400/413. Body cap: 4 MiB, and 5 MiB once escaped into the function's event (quotes and backslashes count twice, non-ASCII characters six bytes each).",
    tags: ["tasks"],
    body: addTasksBatchDocSchema,
    responses: {
      "200": { description: "one result per item, in request order", schema: addTasksBatchResponseSchema },
      "400": error(
        "not a batch: not JSON (`invalid_json`), not an object, no `tasks`, 0 or more than 100 items, unknown fields, a key given twice, nested too deep; or an `Idempotency-Key` header, which a batch does not take (each item has its own `idempotency_key`) (`validation_failed`)",
      ),
      "413": tooLarge(
        "the body is over 4 MiB, or over 5 MiB once escaped into the function's event (`payload_too_large`)",
      ),
      "415": UNSUPPORTED_MEDIA_TYPE,
    },
  },
  "GET /v1/tasks/{id}": {
    summary: "Read a task: status, attempts, last error, timestamps, lateness",
    tags: ["tasks"],
    pathParams: taskIdParams,
    query: getTaskQuerySchema,
    responses: {
      "200": { description: "the task", schema: taskViewSchema },
      "404": error(
        "no such task (`not_found`); also a fan-out task that completed and expired (no subscriber's copy left past the topic's retention)",
      ),
    },
  },
  "DELETE /v1/tasks/{id}": {
    summary: "Cancel a scheduled, retrying or delivering task, or discard a dead-lettered (failed) one",
    description:
      "A task whose first attempt has not started is cancelled (its schedule, if any, is deleted): `scheduled`, also while it waits in its FIFO queue, or `queued` (sent again by the sweeper, or replayed). So is a `delivering` task waiting for its retry (its last attempt ended and was recorded, no callback in flight): its next retry calls nothing and consumes its message, and its ordering group goes on. A `delivering` task whose callback is in flight (it cannot be unsent) has the cancel recorded on it: 202 with `cancel_requested: true`, status still `delivering`; that attempt ends it — `delivered` on a 2xx, `cancelled` otherwise — and no further attempt is made (a repeat answers the same until then). A task deliver started with its batch behind others of its ordering group answers 202 too before its callback is made: once it has waited a second or more for its turn it is read again before that callback and ends `cancelled` without a call. A fan-out task answers 202 likewise when one of its copies' callbacks is in flight (its copies not started are cancelled). A dead-lettered (`failed`) task is discarded: `failed → cancelled`, out of the dead-letter list (it can no longer be replayed); its message on the topic's dead-letter queue is deleted by the next sweep (the sweeper removes DLQ messages whose task is no longer `failed`), so the DLQ depth follows within one sweep. An already `cancelled` task answers 200 again.",
    tags: ["tasks"],
    pathParams: taskIdParams,
    responses: {
      "200": { description: "cancelled", schema: taskViewSchema },
      "202": {
        description:
          "cancel requested: the task's callback (a fan-out task: a copy's) is in flight; the task ends after that attempt, `delivered` if it succeeds, else `cancelled`, and is never called again (`cancel_requested: true`)",
        schema: taskViewSchema,
      },
      "404": error(
        "no such task (`not_found`); also a fan-out task that completed and expired, which is left as it was",
      ),
      "409": error(
        "the task is delivered or rescheduled, a fan-out task's copies have all finished, or a delivering task's attempt changed at each write (`conflict`, with `task_status`; a rescheduled one with `rescheduled_to`, the id it lives on under)",
      ),
    },
  },
  "GET /v1/openapi.json": {
    summary: "This document: the API's OpenAPI 3.1 description",
    tags: ["meta"],
    responses: {
      "200": {
        description: "the OpenAPI document",
        schema: z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) }),
      },
    },
  },
  // Scope I1: hold a topic, show topics.
  "POST /v1/topics/{topic}/pause": {
    summary: "Pause a topic: tasks are still accepted and come due, but wait in its queue (no attempt used)",
    tags: ["topics"],
    pathParams: topicParamsSchema,
    responses: {
      "200": { description: "paused (idempotent)", schema: topicPauseResponseSchema },
      "404": error("no such topic (`not_found`)"),
      "503": {
        description:
          "the topic's deliver mapping is still being updated by a previous pause or resume (`service_unavailable`; Lambda's ResourceInUseException): nothing was changed; retry after `Retry-After` (5 s). Or a dependency is unavailable for now: retry",
        schema: errorBodySchema,
        headers: { "Retry-After": "seconds to wait before retrying" },
      },
    },
  },
  "POST /v1/topics/{topic}/resume": {
    summary: "Resume a paused topic: what waited is delivered in group order, with its true lateness",
    tags: ["topics"],
    pathParams: topicParamsSchema,
    responses: {
      "200": { description: "resumed (idempotent)", schema: topicPauseResponseSchema },
      "404": error("no such topic (`not_found`)"),
      "409": error(
        "the runtime topic settings document holds the topic paused (`conflict`, `reason: paused_by_settings`): set `paused: false` there first; nothing was changed",
      ),
      "503": {
        description:
          "the topic's deliver mapping is still being updated by a previous pause or resume (`service_unavailable`; Lambda's ResourceInUseException): nothing was changed; retry after `Retry-After` (5 s). Or a dependency is unavailable for now: retry",
        schema: errorBodySchema,
        headers: { "Retry-After": "seconds to wait before retrying" },
      },
    },
  },
  "GET /v1/topics": {
    summary: "Every topic: settings, paused, backlog, oldest age, dead-letter count",
    tags: ["topics"],
    responses: { "200": { description: "the topics, by name", schema: topicListSchema } },
  },
  "GET /v1/topics/{topic}": {
    summary: "A topic: settings, paused, backlog, oldest age, dead-letter count",
    tags: ["topics"],
    pathParams: topicParamsSchema,
    responses: {
      "200": { description: "the topic", schema: topicViewSchema },
      "404": error("no such topic (`not_found`)"),
    },
  },
  // Operations routes, scope I2: reschedule, run now, group cancel.
  "PATCH /v1/tasks/{id}": {
    summary: "Reschedule a task that is still scheduled",
    description:
      "Exactly one of due_at, delay_seconds or timing_moment, with the add rules (past → now, beyond the topic's maxDelay → 400). Ids carry the due time, so the answer carries the task's new `task_id`; the old id then reads as `rescheduled` with `rescheduled_to`.",
    tags: ["tasks"],
    pathParams: taskIdParams,
    body: rescheduleBodyDocSchema,
    responses: {
      "200": { description: "rescheduled (or already there)", schema: rescheduleResponseSchema },
      "404": error("no such task (`not_found`)"),
      "409": error(
        "the task is no longer scheduled, or its cancel was requested, or was moved elsewhere (`conflict`, with `task_status`; a rescheduled one with `rescheduled_to`, the id it lives on under), or its topic is no longer configured (`conflict`, with `topic`); a fan-out task or a subscriber's copy (`fan_out_unsupported`)",
      ),
      "415": UNSUPPORTED_MEDIA_TYPE,
    },
  },
  "POST /v1/tasks/{id}/run": {
    summary: "Make a scheduled task due now",
    description: "A reschedule to now: the answer carries the task's new `task_id`.",
    tags: ["tasks"],
    pathParams: taskIdParams,
    responses: {
      "200": { description: "due now", schema: rescheduleResponseSchema },
      "404": error("no such task (`not_found`)"),
      "409": error(
        "the task is no longer scheduled (`conflict`, with `task_status`; a rescheduled one, moved to a later time, with `rescheduled_to`, the id it lives on under), or its topic is no longer configured (`conflict`, with `topic`); a fan-out task or a subscriber's copy (`fan_out_unsupported`)",
      ),
    },
  },
  "POST /v1/topics/{topic}/groups/{value}/cancel": {
    summary: "Cancel every still-scheduled (or retrying) task of one ordering group",
    description:
      "Reads up to `limit` of the group's tasks in delivery order and cancels each scheduled one, and each delivering one waiting for its retry, as DELETE /v1/tasks/{id} does; one whose callback is in flight gets its cancel requested and is listed in `cancel_requested` (one deliver started with its batch behind others of the group, not yet called, that has waited a second or more for its turn then ends `cancelled` without a call); `more` and `next_cursor` continue. With `subscriber` (a fan-out topic) it reads that subscriber's copies of the group instead (its lane, as `GET /v1/tasks?subscriber=` lists it) and cancels each the same way, as DELETE of the copy's id does: no other subscriber's copy, and no fan-out task itself, is touched.",
    tags: ["groups"],
    pathParams: cancelGroupParamsSchema,
    query: cancelGroupQuerySchema,
    responses: {
      "200": { description: "what was cancelled and what could not be", schema: cancelGroupResponseSchema },
      "400": error(
        "the request is invalid (`validation_failed`: a bad `limit`, an unknown parameter, a `cursor` this call did not give out — another group's or lane's); `subscriber` on a topic without subscribers (`not_fan_out`) or one it does not have (`unknown_subscriber`); nothing was cancelled",
      ),
      "404": error("no such topic (`not_found`)"),
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
      "400": error(
        "the request is invalid (`validation_failed`: neither or both of `group` and `status=failed`, a bad `limit`, an unknown or repeated parameter, a `cursor` this list did not give out — another group's, topic's or list's); an unknown topic (`unknown_topic`); `subscriber` on a topic without subscribers (`not_fan_out`) or one it does not have (`unknown_subscriber`)",
      ),
    },
  },
  "POST /v1/tasks/{id}/replay": {
    summary: "Deliver a failed or delivered task again (same id, history kept, `replays` + 1)",
    description:
      "The task goes back on its topic's FIFO queue in its group; attempts count afresh (the topic's maxAttempts applies per replay) and the attempt log continues. A fan-out task: `subscriber` replays only that subscriber's copy; without it, every copy that is failed or delivered is replayed. The answer is then the fan-out task's view with its `subscribers`.",
    tags: ["tasks"],
    pathParams: taskIdParams,
    query: replayTaskQuerySchema,
    responses: {
      "202": { description: "replayed: the task is queued again", schema: taskViewSchema },
      "400": error(
        "`subscriber` for a task that has none (`not_fan_out`) or one it does not have (`unknown_subscriber`); an `Idempotency-Key` header, which a replay does not take (`validation_failed`: a repeated replay delivers again); nothing was changed",
      ),
      "404": error("no such task (`not_found`)"),
      "409": error(
        "the task (or the subscriber's copy) is not finished (`conflict`, with `task_status`; a rescheduled one with `rescheduled_to`, the id it lives on under), or was cancelled before its replay's message could be sent (`task_status: cancelled`), or its topic is no longer configured (`conflict`, with `topic`; an id of such a topic naming no task is a 404)",
      ),
      "503": {
        description:
          "a storage call was throttled before anything changed, or the replay's message could not be sent to its queue (`service_unavailable`): the task (or the subscriber's copy; for every copy, each one whose send failed) was put back as it was, so nothing was replayed. Retry the request",
        schema: errorBodySchema,
        headers: { "Retry-After": "seconds to wait before retrying" },
      },
      "500": error(
        "a storage call failed after the task was or may have been replayed (`internal_error`, its message says so): read the task (GET) before replaying it again, or its receiver may be called once more",
      ),
    },
  },
  "POST /v1/topics/{topic}/replay": {
    summary: "Replay a topic's dead-lettered tasks (by id, or by filter) in group order",
    description:
      "At most 1,000 tasks per call; a filter continues with `next_cursor`, given back with the same filter (another filter's cursor is a 400 that replays nothing). Replayed tasks go through the topic's FIFO queue and deliver function, so the receiver sees no more than the topic's concurrency. `dry_run` counts what matches. A fan-out task's id stands for its subscribers' copies still failed (none: listed in `failed`).",
    tags: ["topics"],
    pathParams: z.object({
      topic: z.withMeta(z.string().check(z.minLength(1)), { description: "the topic" }),
    }),
    body: bulkReplayBodyDocSchema,
    responses: {
      "200": {
        description: "what matched, what was replayed, what could not be",
        schema: bulkReplayResponseSchema,
      },
      "404": error("no such topic (`not_found`), as on every route with the topic in its path"),
      "503": {
        description:
          "a storage call failed (`service_unavailable`), before anything was replayed or part-way: then the message and `matched` / `replayed` in the error say how many tasks were replayed first (each group in order). Repeating the same request (same filter and cursor, or ids) is safe: only tasks still failed are replayed, none twice. An error a retry cannot get past answers the same as a 500 `internal_error`",
        schema: errorBodySchema,
        headers: { "Retry-After": "seconds to wait before retrying" },
      },
      "500": error(
        "a storage call failed, with an error a retry cannot get past, after some tasks were replayed (`internal_error`; `matched` and `replayed` in the error say how many): repeating the same request replays those still failed and none twice",
      ),
      "415": UNSUPPORTED_MEDIA_TYPE,
    },
  },
  // --- issue 14, point 4: recurring schedules (appended block) ---
  "POST /v1/schedules": {
    summary: "Create a recurring schedule: each occurrence becomes an ordinary task",
    description:
      "`cron` (5 fields, or 6 with seconds first) in `timezone` (IANA). Occurrences are made tasks up to 4 minutes ahead (due at the occurrence, idempotent per schedule and occurrence, carrying `schedule_id`), so they are fired by the two-stage timer, ordered, retried and listed like any task. DST: a fixed time (e.g. `30 2 * * *`) in a spring-forward gap runs at the first instant after the gap, and once (the first) when it happens twice; other patterns follow the real clock. The content, callback and deliver_by are checked as a task's. A create takes no idempotency key: an `Idempotency-Key` header is refused (400 `validation_failed`), since it would not be kept.",
    tags: ["schedules"],
    body: createScheduleBodySchema,
    responses: {
      "201": {
        description: "created; the next occurrences are listed",
        schema: scheduleViewSchema,
        headers: { Location: "the schedule's URL" },
      },
      "413": tooLarge(`the content is larger than the topic allows, or ${BODY_CAPS} (\`payload_too_large\`)`),
      "500": error(
        "the schedule may have been stored (`internal_error`): its store failed other than throttled on a single SDK attempt, or the request timed out after it. A create has no idempotency key, so list the topic's schedules (`GET /v1/schedules?topic=`) before creating it again",
      ),
      "415": UNSUPPORTED_MEDIA_TYPE,
    },
  },
  "GET /v1/schedules/{id}": {
    summary: "Read a schedule: status, cursor, next occurrences",
    tags: ["schedules"],
    pathParams: scheduleParamsSchema,
    responses: {
      "200": { description: "the schedule", schema: scheduleViewSchema },
      "404": error("no such schedule (`not_found`)"),
    },
  },
  "GET /v1/schedules": {
    summary: "List a topic's schedules (every status), in creation order",
    description:
      "Paginated: pass `next_cursor` back as `cursor` until it is null. A topic since removed from the config is listed while it has schedules (the materializer paused them); a topic not in the config without any is a 400 `unknown_topic`.",
    tags: ["schedules"],
    query: listSchedulesQuerySchema,
    responses: { "200": { description: "one page", schema: scheduleListSchema } },
  },
  "POST /v1/schedules/{id}/pause": {
    summary: "Pause a schedule: no new occurrences; those made ahead and not yet due are cancelled",
    tags: ["schedules"],
    pathParams: scheduleParamsSchema,
    responses: {
      "200": { description: "paused (idempotent)", schema: scheduleChangeResponseSchema },
      "404": error("no such schedule (`not_found`)"),
      "409": error("the schedule has ended or was deleted (`conflict`, with `schedule_status`)"),
    },
  },
  "POST /v1/schedules/{id}/resume": {
    summary: "Resume a paused schedule from now (occurrences that fell in the pause are skipped)",
    tags: ["schedules"],
    pathParams: scheduleParamsSchema,
    responses: {
      "200": {
        description:
          "active again (idempotent); `status: ended` instead when no occurrence is left (its `end_at` passed during the pause); an active or ended schedule is answered as it is, so a repeat of a resume whose answer was lost answers as the first did",
        schema: scheduleViewSchema,
      },
      "404": error("no such schedule (`not_found`)"),
      "409": error(
        "the schedule was deleted, or its topic is no longer in the config, or this release cannot compute its occurrences (a cron or time zone it no longer takes: resume after a rollback, or delete and create it again), or its occurrences due in the next two minutes would write more inline than a create may (a fast pattern with a large content, created to start later: delete and create it again with a later start_at) (`conflict`, with `schedule_status`)",
      ),
    },
  },
  "DELETE /v1/schedules/{id}": {
    summary: "Delete a schedule: no new occurrences; those made ahead and not yet due are cancelled",
    description: "The schedule reads as `deleted` for the topic's retention period, then disappears.",
    tags: ["schedules"],
    pathParams: scheduleParamsSchema,
    responses: {
      "200": { description: "deleted (idempotent)", schema: scheduleChangeResponseSchema },
      "404": error("no such schedule (`not_found`)"),
    },
  },
  // --- issue 14 (breaker): destinations (appended block) ---
  "GET /v1/destinations": {
    summary:
      "Callback hosts of protected topics: circuit state, consecutive failures, next probe, leases in use",
    description:
      "One entry per topic and callback host (`host[:port]`) that a topic with `circuitFailureThreshold` or `maxConcurrencyPerHost` has met: hosts that failed, or held a lease; a closed circuit's entry expires 30 days after its last use, an open one's never. In topic and host order, a page at a time: pass `next_cursor` back as `cursor` (with the same `state`) until it is null. `state=open` lists every circuit that holds deliveries back; a page may hold fewer than `limit` entries, even none, and still a `next_cursor`.",
    tags: ["destinations"],
    query: listDestinationsQuerySchema,
    responses: { "200": { description: "one page", schema: destinationListSchema } },
  },
  "POST /v1/destinations/{host}/reset": {
    summary:
      "Close a callback host's circuit by hand (every topic, or `?topic=`); its waiting deliveries go again",
    description:
      "Failures back to 0 and the circuit closed; deliver functions see it within their 2-second cache, and the host's waiting deliveries go at their next receive. Without `topic`, every deployed topic's entry; `topic` may also name a topic removed from the configuration, to close a circuit it left open (an open circuit's entry never expires; a closed one's expires 30 days after its last use).",
    tags: ["destinations"],
    pathParams: destinationParamsSchema,
    query: destinationResetQuerySchema,
    responses: {
      "200": { description: "the host's destinations, closed", schema: destinationResetResponseSchema },
      "404": error(
        "no deployed topic has met this host, or `topic` (deployed or removed) has no entry for it (`not_found`)",
      ),
    },
  },
} as const satisfies Readonly<Record<string, RouteContract>>;
