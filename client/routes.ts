/**
 * Every API route the client calls, one row each: the client's methods are made from this table, so a new route
 * is a new row (and its response schema in schemas.ts; a field added to an answer later, its default for older
 * deployments in answer-schemas.ts). A row's method takes the path's `{params}` in order, then
 * the body (or query) when the route has one, then per-call options.
 */

import type { LosslessNumber } from "lossless-json";
import type * as z from "zod/mini";
import { addTasksBatchDocSchema } from "#shared/api/schemas/batch.js";
import {
  destinationResetQuerySchema,
  listDestinationsQuerySchema,
} from "#shared/api/schemas/destinations.js";
import { cancelGroupQuerySchema, GROUP_IN_QUERY, MAX_GROUP_PAGE } from "#shared/api/schemas/groups.js";
import { LIST_LIMIT_DEFAULT } from "#shared/api/schemas/list-limits.js";
import {
  BULK_REPLAY_MAX,
  bulkReplayBodySchema,
  bulkReplayResponseSchema,
  listTasksQuerySchema,
} from "#shared/api/schemas/operations.js";
import { createScheduleBodySchema, listSchedulesQuerySchema } from "#shared/api/schemas/schedules.js";
import { replayTaskQuerySchema } from "#shared/api/schemas/tasks.js";
import { topicListSchema, topicPauseResponseSchema, topicViewSchema } from "#shared/api/schemas/topics.js";
import { addTaskBodySchema, rescheduleBodySchema } from "#shared/domain/add-task-request.js";
import { MAX_LISTED_TOPICS, MAX_SUBSCRIBERS, RESET_CIRCUITS_PER_TOPIC } from "#shared/domain/view-bounds.js";
import { cancelGroupAnswerSchema, scheduleChangeAnswerSchema } from "./answer-schemas.js";
import {
  addTaskResponseSchema,
  addTasksBatchResponseSchema,
  destinationListSchema,
  destinationResetResponseSchema,
  rescheduleResponseSchema,
  scheduleListSchema,
  scheduleViewSchema,
  taskListSchema,
  taskViewSchema,
} from "./schemas.js";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * - `idempotency-key`: a create; retried only with an idempotency key (the caller's, or one the client makes)
 *   so a repeat after a lost answer finds the first task instead of making a second.
 * - `safe`: reading, or idempotent by contract (DELETE of a cancelled task answers 200 again); retried as is.
 * - `item-keys`: a batch of creates; every item without an `idempotency_key` gets one the client makes, once per
 *   call, so a repeat after a lost answer finds each item's first task (200) instead of making a second.
 * - `never`: each call acts once more (replay, run now); a failure is reported, never repeated.
 */
export type RetryMode = "idempotency-key" | "item-keys" | "safe" | "never";

/** What a route takes besides its path parameters. `T` is only a type: what the caller passes. */
export interface RouteInput<T> {
  readonly in: "body" | "query";
  readonly schema: z.ZodMiniType;
  readonly _type?: T;
}

/** Switches a method takes among its per-call options: each, when true, sends its query parameters. */
export type OptionQuery = Readonly<Record<string, Readonly<Record<string, string>>>>;

export interface RouteDescriptor<
  P extends string = string,
  I extends RouteInput<unknown> | undefined = RouteInput<unknown> | undefined,
  R extends z.ZodMiniType = z.ZodMiniType,
  F extends OptionQuery | undefined = OptionQuery | undefined,
> {
  readonly method: HttpMethod;
  readonly path: P;
  readonly input?: I;
  readonly response: R;
  readonly retry: RetryMode;
  /** Query parameters the method always sends (two methods on one route, e.g. `status=failed`). */
  readonly fixedQuery?: Readonly<Record<string, string>>;
  /**
   * Path parameters sent in the query instead (`query` names it there), their path segment written as the
   * route's `segment`: a value such as `.` or `..` would be removed from a path by URL normalization (ours and
   * any proxy's).
   */
  readonly pathParamsInQuery?: Readonly<Record<string, { readonly query: string; readonly segment: string }>>;
  /** Boolean options the method takes beside `signal` (`getTask(id, { includeContent: true })`), and what each sends. */
  readonly optionQuery?: F;
  /**
   * The answer's field each such option adds (`includeContent` → `content`), which the API then always sends: an
   * answer without it (a cache or proxy that dropped the query) is `invalid_response`, not the view shown as if
   * the task had nothing there.
   */
  readonly optionAnswers?: Readonly<Record<string, string>>;
  /**
   * A list of the input's `topic` (and `group`, when the input has one): the answer's array of this name holds only
   * items of it. A cache keying the route without its query answers another topic's list; shown as this one's, it
   * told an operator that topic's tasks were this one's. A group's task list holds no subscriber's copy, and a
   * subscriber's lane (`subscriber`) only that subscriber's copies, both of the group (listedOf). A
   * destination reset given a `topic` answers that topic's circuits only.
   */
  readonly lists?: "tasks" | "schedules" | "destinations";
  /**
   * The answer is the object the path names: its field of this name holds the path parameter of this name (else the
   * body's field of this name: an add's `topic`, its `task_id` of that topic too), as the API answers it. An answer
   * naming another (a proxy's or cache's answer to another request) is `invalid_response`, not another task's state
   * shown as this one's (a `cancelled` for a cancel that did not happen), nor another topic's task as an add's.
   */
  readonly answersFor?: "task_id" | "schedule_id" | "topic";
  /**
   * With `answersFor: "task_id"`: the answer may also be the task the asked one was moved to, its
   * `rescheduled_from` the asked id (a reschedule or run answers the task moved, or unmoved).
   */
  readonly answersMoved?: true;
  /**
   * The answer's arrays of these names list tasks (`task_id`) of the path's `topic` (a group cancel's, a topic
   * replay's): their answers name no topic, so one naming another topic's task (a proxy's or cache's answer to
   * another request) is `invalid_response`, not its counts and tasks shown as this call's. A task the call named
   * (`task_ids`: the API lists one of another topic as not found) may be any.
   */
  readonly listsTopicTasks?: readonly string[];
  /**
   * The path parameter holding the group of a route whose input may name a `subscriber` (a lane cancel): the
   * `listsTopicTasks` arrays of such a call list only that subscriber's copies of that group, ids in its lane
   * (laneHash). A parent, another subscriber's copy or another group's there is another request's answer.
   */
  readonly listsLaneOf?: string;
  /**
   * A page of the answer's array of this name, asked for with `limit` rows: the call's, else the API's documented
   * default, sent explicitly so the bound is this call's whatever default a deployment has. An answer holding more
   * (a broken API's, or a proxy's or cache's answer to another request) is `invalid_response`, not a page the CLI
   * prints whole while its cursor goes on after it; the console refuses such pages too (console/src/api.ts).
   */
  readonly page?: { readonly items: string; readonly defaultLimit: number };
  /**
   * The most entries the answer's arrays of these names hold together, as the API lists them per call (`atMost` of
   * the call's input, or query): a list with no page (`listTopics`), or an action's answer listing the tasks it
   * could not act on (`cancelGroup`, `replayTopic`). An answer listing more is a broken or hostile API's: it is
   * `invalid_response`, not read whole into the client's memory and printed by the CLI. Only a bound the API keeps
   * is one here; `page` bounds a list page by its `limit`.
   */
  readonly listsAtMost?: {
    readonly items: readonly string[];
    /** What they list, for the error: `topics`, `tasks`. */
    readonly of: string;
    readonly atMost: (input: unknown) => number;
    /**
     * The answer's counts of those same entries (a group cancel's `cancelled`, a replay's `matched` and `replayed`),
     * each at most `atMost` too: the call counts each task it handled at most once in each. A larger count is a
     * broken or hostile API's, `invalid_response`, not a total the CLI adds up and prints with exit 0.
     */
    readonly counts?: readonly string[];
  };
}

/** A JSON body validated by `schema` on the server; `T` defaults to the schema's input type. */
export function jsonBody<T>(schema: z.ZodMiniType): RouteInput<T> {
  return { in: "body", schema };
}

/** Query parameters, for the list routes to come. */
export function queryParams<T extends Record<string, string | number | boolean | undefined>>(
  schema: z.ZodMiniType,
): RouteInput<T> {
  return { in: "query", schema };
}

function route<
  const P extends string,
  I extends RouteInput<unknown> | undefined,
  R extends z.ZodMiniType,
  F extends OptionQuery | undefined = undefined,
>(descriptor: RouteDescriptor<P, I, R, F>): RouteDescriptor<P, I, R, F> {
  return descriptor;
}

/**
 * The timing fields the API reads digit for digit (a part below the millisecond rounds up, never early): a number,
 * or a lossless-json `LosslessNumber` to send digits past a double's (`new LosslessNumber("1767225600.0000001")`,
 * due at `…00.001Z`; as a JS number it is 1767225600), written as its text (client/body-text.ts).
 */
export type ExactTiming = {
  readonly timing_moment?: number | LosslessNumber;
  readonly delay_seconds?: number | LosslessNumber;
};

/**
 * What `addTask` takes: the server's schema's input, except `content`, which the schema types as `unknown` (it
 * parses it itself), and the timing fields (ExactTiming). An object is sent as `JSON.stringify` writes it; to send
 * numbers no JS number holds (64-bit ids, `1.0`), pass the content's JSON text as a string: the API stores it
 * exactly as written.
 */
export type AddTaskInput = Omit<z.input<typeof addTaskBodySchema>, "content" | keyof ExactTiming> &
  ExactTiming & {
    readonly content: Record<string, unknown> | string;
  };

/** What `addTasks` takes: up to 100 add bodies (POST /v1/tasks/batch). */
export type AddTasksInput = { readonly tasks: readonly AddTaskInput[] };

export type RescheduleInput = Omit<z.input<typeof rescheduleBodySchema>, keyof ExactTiming> & ExactTiming;
/**
 * `subscriber` (a fan-out topic): cancel only that subscriber's copies of the group (its lane), not the tasks
 * themselves nor another subscriber's copies.
 */
export type CancelGroupInput = {
  readonly limit?: number;
  readonly cursor?: string;
  readonly subscriber?: string;
};
type Page = { readonly limit?: number; readonly cursor?: string };
/** `subscriber` (a fan-out topic): that subscriber's copies of the group, in its delivery order. */
export type ListGroupInput = {
  readonly topic: string;
  readonly group: string;
  readonly subscriber?: string;
} & Page;
export type ListFailedInput = { readonly topic: string } & Page;
/** What `createSchedule` takes: the server's schema's input, `content` as for `addTask` (object or exact JSON text). */
export type CreateScheduleInput = Omit<z.input<typeof createScheduleBodySchema>, "content"> & {
  readonly content: Record<string, unknown> | string;
};
export type ListSchedulesInput = { readonly topic: string } & Page;
/** `state`: `open` for the circuits that hold deliveries back (open and half-open), `closed` for the others. */
export type ListDestinationsInput = { readonly state?: "open" | "closed" } & Page;
export type ReplayTaskInput = { readonly subscriber?: string };

export const ROUTES = {
  addTask: route({
    method: "POST",
    path: "/v1/tasks",
    input: jsonBody<AddTaskInput>(addTaskBodySchema),
    response: addTaskResponseSchema,
    retry: "idempotency-key",
    answersFor: "topic",
  }),
  /**
   * Up to 100 adds in one request; the answer has one result per item in request order (`results[i].status`:
   * 201/200 added, 4xx refused, 503 retry that item with the same key: its key finds or makes the one task). The
   * client sends 503 items again itself, with the keys it gave them (client.ts, `#addTasks`).
   */
  addTasks: route({
    method: "POST",
    path: "/v1/tasks/batch",
    input: jsonBody<AddTasksInput>(addTasksBatchDocSchema),
    response: addTasksBatchResponseSchema,
    retry: "item-keys",
  }),
  /** `{ includeContent: true }`: the view has `content` too, the task's content as JSON text, exactly as delivered. */
  getTask: route({
    method: "GET",
    path: "/v1/tasks/{task_id}",
    optionQuery: { includeContent: { include: "content" } },
    optionAnswers: { includeContent: "content" },
    response: taskViewSchema,
    retry: "safe",
    answersFor: "task_id",
  }),
  cancelTask: route({
    method: "DELETE",
    path: "/v1/tasks/{task_id}",
    response: taskViewSchema,
    retry: "safe",
    answersFor: "task_id",
  }),
  // Operations routes, scope I2: reschedule, run now, group cancel.
  /**
   * Same request again answers the moved task (its target taken as it was at the move, so `delay_seconds` too):
   * safe to retry.
   */
  rescheduleTask: route({
    method: "PATCH",
    path: "/v1/tasks/{task_id}",
    input: jsonBody<RescheduleInput>(rescheduleBodySchema),
    response: rescheduleResponseSchema,
    retry: "safe",
    answersFor: "task_id",
    answersMoved: true,
  }),
  /** A repeat finds the task already due and answers it: safe to retry. */
  runTask: route({
    method: "POST",
    path: "/v1/tasks/{task_id}/run",
    response: rescheduleResponseSchema,
    retry: "safe",
    answersFor: "task_id",
    answersMoved: true,
  }),
  /**
   * Cancelling what is cancelled changes nothing: safe to retry. The group always goes in `?group=` (the path
   * says `-`), so any name arrives as given, `.` and `..` included.
   */
  cancelGroup: route({
    method: "POST",
    path: "/v1/topics/{topic}/groups/{value}/cancel",
    pathParamsInQuery: { value: { query: "group", segment: GROUP_IN_QUERY } },
    input: queryParams<CancelGroupInput>(cancelGroupQuerySchema),
    response: cancelGroupAnswerSchema,
    retry: "safe",
    listsTopicTasks: ["not_cancelled", "cancel_requested"],
    listsLaneOf: "value",
    listsAtMost: {
      items: ["not_cancelled", "cancel_requested"],
      of: "tasks",
      atMost: groupCancelListsAtMost,
      counts: ["cancelled"],
    },
  }),
  // --- issue 11, scope H: find and replay (appended block) ---
  /** One ordering group's tasks in delivery order; pass `next_cursor` back as `cursor` for the next page. */
  listGroupTasks: route({
    method: "GET",
    path: "/v1/tasks",
    input: queryParams<ListGroupInput>(listTasksQuerySchema),
    response: taskListSchema,
    lists: "tasks",
    page: { items: "tasks", defaultLimit: LIST_LIMIT_DEFAULT },
    retry: "safe",
  }),
  /** A topic's dead-lettered tasks, newest first. */
  listFailedTasks: route({
    method: "GET",
    path: "/v1/tasks",
    input: queryParams<ListFailedInput>(listTasksQuerySchema),
    fixedQuery: { status: "failed" },
    response: taskListSchema,
    lists: "tasks",
    page: { items: "tasks", defaultLimit: LIST_LIMIT_DEFAULT },
    retry: "safe",
  }),
  /**
   * Delivers a failed or delivered task again (202); each call replays once more, so it is never retried. A
   * fan-out task: `{ subscriber }` replays only that subscriber's copy (issue 14, point 3).
   */
  replayTask: route({
    method: "POST",
    path: "/v1/tasks/{task_id}/replay",
    input: queryParams<ReplayTaskInput>(replayTaskQuerySchema),
    response: taskViewSchema,
    retry: "never",
    answersFor: "task_id",
  }),
  /** Replays a topic's dead-lettered tasks in group order; follow `next_cursor` for more than 1,000. */
  replayTopic: route({
    method: "POST",
    path: "/v1/topics/{topic}/replay",
    input: jsonBody<z.input<typeof bulkReplayBodySchema>>(bulkReplayBodySchema),
    response: bulkReplayResponseSchema,
    retry: "never",
    listsTopicTasks: ["failed"],
    listsAtMost: {
      items: ["failed"],
      of: "tasks",
      atMost: replayListsAtMost,
      counts: ["matched", "replayed"],
    },
  }),
  // Topic routes, scope J: hold a topic, show topics.
  /** Pausing a paused topic leaves it paused: safe to retry (same for resume). */
  pauseTopic: route({
    method: "POST",
    path: "/v1/topics/{topic}/pause",
    response: topicPauseResponseSchema,
    retry: "safe",
    answersFor: "topic",
  }),
  resumeTopic: route({
    method: "POST",
    path: "/v1/topics/{topic}/resume",
    response: topicPauseResponseSchema,
    retry: "safe",
    answersFor: "topic",
  }),
  /**
   * Every topic, no page: at most MAX_LISTED_TOPICS, as the console lists them (a deployed stack holds about 13, and
   * the configuration refuses more than MAX_LISTED_TOPICS in any environment, shared/domain/view-bounds.ts).
   */
  listTopics: route({
    method: "GET",
    path: "/v1/topics",
    response: topicListSchema,
    retry: "safe",
    listsAtMost: { items: ["topics"], of: "topics", atMost: () => MAX_LISTED_TOPICS },
  }),
  // Issue 14 (breaker): destinations.
  /** One page in topic and host order; pass `next_cursor` back as `cursor` (same `state`) for the next. */
  listDestinations: route({
    method: "GET",
    path: "/v1/destinations",
    input: queryParams<ListDestinationsInput>(listDestinationsQuerySchema),
    response: destinationListSchema,
    page: { items: "destinations", defaultLimit: LIST_LIMIT_DEFAULT },
    retry: "safe",
  }),
  resetDestination: route({
    method: "POST",
    path: "/v1/destinations/{host}/reset",
    input: queryParams<{ topic?: string }>(destinationResetQuerySchema),
    response: destinationResetResponseSchema,
    // A reset of one topic's circuit (`topic`) answers only that topic's: another topic's is no answer to this call.
    lists: "destinations",
    listsAtMost: { items: ["destinations"], of: "destinations", atMost: resetListsAtMost },
    // Idempotent by contract: closing a closed circuit again changes nothing.
    retry: "safe",
  }),
  getTopic: route({
    method: "GET",
    path: "/v1/topics/{topic}",
    response: topicViewSchema,
    retry: "safe",
    answersFor: "topic",
  }),
  // --- issue 14, point 4: recurring schedules (appended block) ---
  /**
   * A repeat would make a second schedule (there is no idempotency key for schedules): never retried. Its answer is
   * a schedule of the topic asked for, as an add's is a task of it: another topic's (a proxy's answer to another
   * request) is no schedule this call made.
   */
  createSchedule: route({
    method: "POST",
    path: "/v1/schedules",
    input: jsonBody<CreateScheduleInput>(createScheduleBodySchema),
    response: scheduleViewSchema,
    retry: "never",
    answersFor: "topic",
  }),
  getSchedule: route({
    method: "GET",
    path: "/v1/schedules/{schedule_id}",
    response: scheduleViewSchema,
    retry: "safe",
    answersFor: "schedule_id",
  }),
  /** One topic's schedules in creation order; pass `next_cursor` back as `cursor` for the next page. */
  listSchedules: route({
    method: "GET",
    path: "/v1/schedules",
    input: queryParams<ListSchedulesInput>(listSchedulesQuerySchema),
    response: scheduleListSchema,
    lists: "schedules",
    page: { items: "schedules", defaultLimit: LIST_LIMIT_DEFAULT },
    retry: "safe",
  }),
  /** Pausing a paused schedule (or deleting a deleted one) answers it as it is: safe to retry. */
  pauseSchedule: route({
    method: "POST",
    path: "/v1/schedules/{schedule_id}/pause",
    response: scheduleChangeAnswerSchema,
    retry: "safe",
    answersFor: "schedule_id",
  }),
  resumeSchedule: route({
    method: "POST",
    path: "/v1/schedules/{schedule_id}/resume",
    response: scheduleViewSchema,
    retry: "safe",
    answersFor: "schedule_id",
  }),
  deleteSchedule: route({
    method: "DELETE",
    path: "/v1/schedules/{schedule_id}",
    response: scheduleChangeAnswerSchema,
    retry: "safe",
    answersFor: "schedule_id",
  }),
} as const;

/**
 * A group cancel reads one page of the group, `limit` tasks (default and most MAX_GROUP_PAGE), and lists each of
 * them at most once, in `not_cancelled` or `cancel_requested` (shared/services/cancel-group.ts, cancelListed). A
 * `limit` the API refuses is its 400, never a list.
 */
function groupCancelListsAtMost(query: unknown): number {
  const limit = (query as CancelGroupInput | undefined)?.limit;
  return typeof limit === "number" && limit >= 1 ? Math.min(limit, MAX_GROUP_PAGE) : MAX_GROUP_PAGE;
}

/**
 * A bulk replay lists in `failed` each task it handled at most once (shared/services/replay-topic.ts): by filter, one
 * of the at most BULK_REPLAY_MAX it read; by `task_ids`, a task named (the API drops repeats) or one of a named fan-out
 * task's subscribers' copies (at most MAX_SUBSCRIBERS each), which it replays in that task's stead.
 */
function replayListsAtMost(body: unknown): number {
  const ids = (body as { task_ids?: unknown } | undefined)?.task_ids;
  if (!Array.isArray(ids)) return BULK_REPLAY_MAX;
  return new Set(ids).size * (1 + MAX_SUBSCRIBERS);
}

/**
 * A destination reset lists each circuit it closed: on each topic it covers (the one named, else every deployed
 * topic, at most MAX_LISTED_TOPICS), the host's entry and its former NAT64 key's (RESET_CIRCUITS_PER_TOPIC,
 * shared/services/destinations.ts resetDestination).
 */
function resetListsAtMost(query: unknown): number {
  const topic = (query as { topic?: unknown } | undefined)?.topic;
  return RESET_CIRCUITS_PER_TOPIC * (topic === undefined ? MAX_LISTED_TOPICS : 1);
}

export type Routes = typeof ROUTES;

/** `"/v1/tasks/{task_id}"` → `[string]`: one string argument per path parameter. */
type PathArgs<P extends string> = P extends `${string}{${string}}${infer Rest}`
  ? [string, ...PathArgs<Rest>]
  : [];
type InputArgs<I> = I extends RouteInput<infer T> ? [input: T] : [];
type OptionSwitches<F> = F extends OptionQuery ? { readonly [K in keyof F]?: boolean } : unknown;

export interface CallOptions {
  /**
   * `addTask` only: the key to send (else the body's `idempotency_key`, else one the client makes). Any other
   * method refuses it (`addTasks`' items carry their own keys; schedules have none).
   */
  readonly idempotencyKey?: string;
  readonly signal?: AbortSignal;
}

/** The options of a method: `idempotencyKey` only where the route is keyed by it (`addTask`). */
type OptionsOf<K extends keyof Routes> = (K extends "addTask"
  ? CallOptions
  : Omit<CallOptions, "idempotencyKey">) &
  OptionSwitches<Routes[K]["optionQuery"]>;

export type RouteArgs<K extends keyof Routes> = [
  ...PathArgs<Routes[K]["path"]>,
  ...InputArgs<Routes[K]["input"]>,
  options?: OptionsOf<K>,
];

export type RouteMethods = {
  readonly [K in keyof Routes]: (...args: RouteArgs<K>) => Promise<z.output<Routes[K]["response"]>>;
};

/** The `{name}` placeholders of a path template, in order. */
export function pathParamNames(path: string): string[] {
  return [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
}
