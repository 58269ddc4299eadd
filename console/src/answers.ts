/**
 * What the page reads from the API's lists and task view, as zod schemas it parses every load with: an answer
 * of another shape (a proxy's page, a changed API) is the panel's error line, as a malformed action answer is
 * (action.ts), never a view rendered from fields that are not there (a TypeError that leaves the panel blank,
 * or stale, with nothing said). Loose: fields the page does not read pass through. The API's own schemas
 * (shared/api/schemas/) need Node's modules, so the page keeps these, for the fields it shows.
 */
import * as z from "zod";
import {
  ATTEMPT_LOG_SIZE,
  MAX_LISTED_TOPICS,
  MAX_SUBSCRIBERS,
  OPEN_VALUE_MAX_CHARS,
} from "../../shared/domain/view-bounds.js";
import { parseAnswer } from "./action.js";
import { call, callPage } from "./api.js";

const text = z.string();
const optionalText = z.string().optional();
/**
 * A value of one of the API's closed sets (a status, `catch_up`, a circuit's state): any non-empty string up to
 * OPEN_VALUE_MAX_CHARS, shown as sent, so a value a newer API added is no malformed answer (the panel's error line
 * for every task or schedule in it) but shown; the page acts only on the values it knows (schedule-actions.ts).
 */
const closedSetValue = z.string().min(1).max(OPEN_VALUE_MAX_CHARS);

export const topicViewSchema = z.looseObject({
  topic: text,
  paused: z.boolean(),
  backlog: z.looseObject({ waiting: z.number(), in_flight: z.number() }),
  oldest_age_seconds: z.number().nullable(),
  dead_letter_count: z.number(),
});
export type TopicView = z.output<typeof topicViewSchema>;

/**
 * Bounded (MAX_LISTED_TOPICS): each topic is a metrics request and a Pause/Resume row, so a broken API's thousands
 * are refused as malformed (the panel's error line, no metrics asked for) rather than sent and rendered.
 */
export const topicListSchema = z.looseObject({ topics: z.array(topicViewSchema).max(MAX_LISTED_TOPICS) });

const attemptViewSchema = z.looseObject({
  attempt: z.number().optional(),
  started_at: text,
  duration_ms: z.number(),
  status: z.number().optional(),
  error: optionalText,
});
export type AttemptView = z.output<typeof attemptViewSchema>;

/** One subscriber of a fan-out task (shared/api/fan-out-view.ts). */
const subscriberViewSchema = z.looseObject({
  id: text,
  task_id: text,
  callback_url: text,
  status: closedSetValue,
  attempts: z.number(),
  last_error: optionalText,
});
export type SubscriberView = z.output<typeof subscriberViewSchema>;

export const taskViewSchema = z.looseObject({
  task_id: text,
  topic: text,
  status: closedSetValue,
  due_at: text,
  accepted_at: text,
  attempts: z.number(),
  last_error: optionalText,
  queued_at: optionalText,
  delivered_at: optionalText,
  failed_at: optionalText,
  cancelled_at: optionalText,
  replayed_at: optionalText,
  rescheduled_to: optionalText,
  lateness_ms: z.number().optional(),
  callback_url: text,
  group: optionalText,
  content: optionalText,
  // Both bounded as the API bounds them (the attempt log is a ring of ATTEMPT_LOG_SIZE, a task has at most
  // MAX_SUBSCRIBERS copies): more is a broken API's, refused as malformed (the panel's error line) rather than
  // rendered whole, a Replay button on each of thousands of subscriber rows (as api.ts `callPage` refuses a page).
  attempt_log: z.array(attemptViewSchema).max(ATTEMPT_LOG_SIZE),
  /** A fan-out task (issue 14, point 3): one row per subscriber. */
  subscribers: z.array(subscriberViewSchema).max(MAX_SUBSCRIBERS).optional(),
  parent_task_id: optionalText,
  subscriber: optionalText,
});
export type TaskView = z.output<typeof taskViewSchema>;

const nextCursor = z.string().nullable();

export const taskPageSchema = z.looseObject({ tasks: z.array(taskViewSchema), next_cursor: nextCursor });
export type TaskPage = z.output<typeof taskPageSchema>;

/** A recurring schedule as GET /v1/schedules answers (shared/api/schemas/schedules.ts). */
const scheduleViewSchema = z.looseObject({
  schedule_id: text,
  topic: text,
  cron: text,
  timezone: text,
  status: closedSetValue,
  content: text,
  callback_url: optionalText,
  created_at: text,
  paused_at: optionalText,
  deleted_at: optionalText,
  next_occurrences: z.array(text),
  // Absent from an API older than the catch-up policy (then `all`) and while nothing was skipped.
  catch_up: closedSetValue.optional(),
  skipped_occurrences: z.number().optional(),
  last_skipped: z.looseObject({ code: text, message: text }).optional(),
});
export type ScheduleView = z.output<typeof scheduleViewSchema>;

export const schedulePageSchema = z.looseObject({
  schedules: z.array(scheduleViewSchema),
  next_cursor: nextCursor,
});
export type SchedulePage = z.output<typeof schedulePageSchema>;

/** A callback host's circuit on one topic, as GET /v1/destinations answers (shared/api/schemas/destinations.ts). */
const destinationViewSchema = z.looseObject({
  topic: text,
  host: text,
  state: closedSetValue,
  failures: z.number(),
  opened_at: text.nullable(),
  next_probe_at: text.nullable(),
  last_error: text.nullable(),
  in_flight: z.number(),
});
export type DestinationView = z.output<typeof destinationViewSchema>;

export const destinationPageSchema = z.looseObject({
  destinations: z.array(destinationViewSchema),
  next_cursor: nextCursor,
});
export type DestinationPage = z.output<typeof destinationPageSchema>;

/** GET `path` (same origin), its answer as `schema` says, or an Error saying it is malformed. */
export async function load<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
  return parseAnswer(schema, await call("GET", path));
}

/** One page of a list asked with `params.limit` rows (api.ts `callPage`), its answer as `schema` says. */
export async function loadPage<S extends z.ZodType>(
  route: string,
  params: Parameters<typeof callPage>[1],
  rows: string,
  schema: S,
): Promise<z.output<S>> {
  return parseAnswer(schema, await callPage(route, params, rows));
}

/**
 * A task's view, its content included, refused when it is another task's: a proxy or cache in front of the API
 * answering another request's 200 would otherwise show another task's status, timeline and content under this id
 * (the client refuses such an answer too, client/routes.ts `answersFor`).
 */
export async function loadTask(taskId: string): Promise<TaskView> {
  const task = await load(`/v1/tasks/${encodeURIComponent(taskId)}?include=content`, taskViewSchema);
  if (task.task_id !== taskId) throw new Error(`the API's answer is about another task, ${task.task_id}`);
  return task;
}
