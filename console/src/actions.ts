/**
 * The console's action buttons outside the dead-letter replays (dead-letter-actions.ts), without the DOM: each
 * asks, calls the API and answers the line its panel shows — what it did, or the API's error — through
 * runAction, which never rejects. test/unit/console/actions.test.ts.
 */
import * as z from "zod";
import { MAX_SUBSCRIBERS, RESET_CIRCUITS_PER_TOPIC } from "../../shared/domain/view-bounds.js";
import { type Ask, cut, errorText, parseAnswer, runAction } from "./action.js";
import { call, query, type TopicView } from "./api.js";

/** Pause or resume a topic (POST /v1/topics/{topic}/pause|resume). */
export function toggleTopic(topic: TopicView, ask: Ask): Promise<string | undefined> {
  const [action, done, button] = topic.paused
    ? ["resume", "resumed", "Resume"]
    : ["pause", "paused", "Pause"];
  const question = topic.paused
    ? `Resume topic ${topic.topic}? Its waiting tasks are delivered again, in group order.`
    : `Pause topic ${topic.topic}? Due tasks wait in its queue until resumed.`;
  return runAction(ask, {
    confirm: { question, button },
    run: () => call("POST", `/v1/topics/${encodeURIComponent(topic.topic)}/${action}`),
    done: () => `${topic.topic} ${done}`,
    failed: `${topic.topic} not ${done}`,
    unsure: `${topic.topic} may have been ${done}`,
  });
}

/**
 * Cancel a scheduled task from its view (DELETE /v1/tasks/{id}); a 409 (it went on meanwhile) says so. `copies`: a
 * fan-out task's subscriber rows, whose finished copies its question names.
 */
export function cancelTask(
  id: string,
  ask: Ask,
  retrying = false,
  copies?: readonly { readonly status: string }[],
): Promise<string | undefined> {
  // A delivering task was called already: the cancel stops its retries (a callback being made goes on, and the task
  // ends after it: the API's 202), so "never delivered" would be untrue of a receiver that answered 500 after acting.
  const outcome = retrying ? "its receiver will not be called again" : "it will never be delivered";
  const question = copies
    ? fanOutCancelQuestion(id, retrying, copies)
    : retrying
      ? `Cancel task ${id}? It is retrying: its receiver will not be called again (a callback being made now cannot be unsent; the task ends after it).`
      : `Cancel task ${id}? It will never be delivered.`;
  return runAction(ask, {
    confirm: { question, button: "Cancel task" },
    run: () => call<unknown>("DELETE", `/v1/tasks/${encodeURIComponent(id)}`),
    done: (answer) => cancelledLine(id, outcome, answer),
    // The id: a panel shows one line for several rows, and the task view may show another task by the answer.
    failed: `${id} not cancelled`,
    unsure: `${id} may have been cancelled`,
  });
}

/**
 * A fan-out task's cancel question. Its DELETE also discards every dead-lettered copy (no later replay delivers it)
 * and leaves the delivered ones: "it will never be delivered" was untrue of a task one copy of which was delivered,
 * and said nothing of the dead letters given up on.
 */
function fanOutCancelQuestion(id: string, retrying: boolean, copies: readonly { readonly status: string }[]) {
  const count = (status: string) => copies.filter((copy) => copy.status === status).length;
  const [failed, delivered] = [count("failed"), count("delivered")];
  const pending = retrying
    ? "Its copies not yet delivered are not called again (a callback being made now cannot be unsent; that copy ends after it)."
    : "Its copies not yet delivered will never be delivered.";
  const discarded =
    failed > 0 ? ` Its dead-lettered copies (${failed}) are discarded: no replay delivers them.` : "";
  const kept = delivered > 0 ? ` Its delivered copies (${delivered}) stay delivered.` : "";
  return `Cancel task ${id}? ${pending}${discarded}${kept}`;
}

/** What a cancel's answer says of callbacks in flight: the task's own, or its fan-out copies'. */
const CancelledCopies = z.object({
  cancel_requested: z.boolean().optional(),
  subscribers: z.array(z.object({ cancel_requested: z.boolean().optional() })).optional(),
});

/** How a callback in flight ends once its cancel is requested (the API's 202). */
const AFTER_ITS_ATTEMPT = "delivered if it succeeds, cancelled otherwise; not called again";

/**
 * The line a cancel's answer shows. A fan-out task's names each copy's new state, as a discard's does (its DELETE
 * also discards the dead-lettered copies and leaves the delivered ones: a count of the copies in flight said nothing
 * of those). A callback being made cannot be unsent: the API records the cancel on it (202, `cancel_requested`) and
 * the task (a fan-out task: that copy) ends after that attempt, so "will not be called again" or "never delivered"
 * would be untrue of it.
 */
function cancelledLine(id: string, outcome: string, answer: unknown): string {
  const view = TaskAfterDelete.safeParse(answer);
  if (view.success && view.data.subscribers !== undefined)
    return `cancelled ${id} ${copiesNow(view.data.status, view.data.subscribers)}`;
  const parsed = CancelledCopies.safeParse(answer);
  if (!parsed.success || parsed.data.cancel_requested !== true) return `cancelled ${id}; ${outcome}`;
  const inFlight = (parsed.data.subscribers ?? []).filter((copy) => copy.cancel_requested === true).length;
  if (parsed.data.subscribers === undefined || inFlight === 0) {
    return `cancel requested for ${id}: its callback is being made now, and it ends after that attempt (${AFTER_ITS_ATTEMPT})`;
  }
  // A broken API's answer naming more copies than a task has (or malformed rows): counted, no row named.
  const which =
    inFlight === 1
      ? "1 copy was being delivered and ends after that attempt"
      : `${inFlight} copies were being delivered and each ends after that attempt`;
  return `cancelled ${id}; ${which} (${AFTER_ITS_ATTEMPT})`;
}

/** The action a task's view offers for its status: its button's label, or none. */
export type TaskViewAction = "Cancel task" | "Discard" | "Discard dead letters";

/**
 * Cancellable until its first attempt starts (`queued` is a replayed task, or one the sweeper sent again), and
 * while `delivering`: between attempts it is cancelled; with its callback being made the API records the cancel
 * (202). A dead-lettered (`failed`) task is discarded by the same DELETE (a fan-out task reading `failed`: every
 * copy finished, one at least dead-lettered). A `delivered` or `cancelled` one offers nothing.
 */
export function taskViewAction(task: {
  readonly status: string;
  readonly subscribers?: readonly unknown[] | undefined;
}): TaskViewAction | undefined {
  if (task.status === "scheduled" || task.status === "queued" || task.status === "delivering")
    return "Cancel task";
  if (task.status === "failed") return deadLetterDiscardLabel(task);
  return undefined;
}

/**
 * Each value a cancel's or discard's line quotes from the answer is cut to this (a broken API's long status is not a
 * page).
 */
const DELETE_PART_CHARS = 100;

/**
 * A cancel's or discard's answer (the task's view after its DELETE): the fields its line reads. At most
 * MAX_SUBSCRIBERS rows, as the task view reads them (answers.ts): more is a broken API's, its line then naming no row.
 */
const TaskAfterDelete = z.object({
  status: z.string(),
  cancel_requested: z.boolean().optional(),
  subscribers: z
    .array(z.object({ id: z.string(), status: z.string(), cancel_requested: z.boolean().optional() }))
    .max(MAX_SUBSCRIBERS)
    .optional(),
});

/**
 * Discard a dead-lettered (`failed`) task from its view or its dead-letter row: DELETE /v1/tasks/{id}, as the
 * CLI's `tasks cancel` does (`failed → cancelled`, out of the dead-letter list, never replayed). A fan-out
 * task reading `failed` has every copy finished and one at least dead-lettered: its DELETE discards each
 * dead-lettered copy, cancels any copy not yet delivered (one replayed since the view was read) and leaves the
 * delivered ones, so its question says all three and its line names each copy's state after the answer.
 */
export function discardTask(id: string, fanOut: boolean, ask: Ask): Promise<string | undefined> {
  const [question, button] = fanOut
    ? [
        `Discard the dead-lettered copies of task ${id}? Each is cancelled and leaves the dead-letter list, so no replay delivers it. A copy not yet delivered (replayed meanwhile) is cancelled too; delivered copies stay delivered.`,
        "Discard dead letters",
      ]
    : [
        `Discard dead-lettered task ${id}? It will not be delivered, and can no longer be replayed.`,
        "Discard",
      ];
  return runAction(ask, {
    confirm: { question, button },
    run: () => call<unknown>("DELETE", `/v1/tasks/${encodeURIComponent(id)}`),
    done: (answer) => discardedLine(id, fanOut, answer),
    failed: `${id} not discarded`,
    unsure: `${id} may have been discarded`,
  });
}

/**
 * The line a discard's answer shows: a fan-out task's copies each with its new state (the parent's own status sums
 * them up: `delivered` once its dead letters are discarded beside a delivered copy). A task replayed between the
 * view and the click may have its callback under way (the API's 202): the cancel's line says how it ends.
 */
function discardedLine(id: string, fanOut: boolean, answer: unknown): string {
  const parsed = TaskAfterDelete.safeParse(answer);
  if (!parsed.success)
    return fanOut ? `discarded the dead letters of ${id}` : `discarded ${id}; it will not be delivered`;
  const { subscribers } = parsed.data;
  if (!fanOut || subscribers === undefined) {
    if (parsed.data.cancel_requested === true) return cancelledLine(id, "", answer);
    return `discarded ${id}; it will not be delivered (now ${cut(parsed.data.status, DELETE_PART_CHARS)})`;
  }
  return `discarded the dead letters of ${id} ${copiesNow(parsed.data.status, subscribers)}`;
}

/**
 * A fan-out task after its DELETE, as a cancel's and a discard's line name it: its own status (which sums its copies
 * up) and each copy's, a copy whose callback is under way saying how it ends; every value cut.
 */
function copiesNow(
  status: string,
  copies: readonly {
    readonly id: string;
    readonly status: string;
    readonly cancel_requested?: boolean | undefined;
  }[],
): string {
  const rows = copies.map(
    (copy) =>
      `${cut(copy.id, DELETE_PART_CHARS)} ${cut(copy.status, DELETE_PART_CHARS)}${copy.cancel_requested === true ? ` (cancel requested: ${AFTER_ITS_ATTEMPT})` : ""}`,
  );
  return `(now ${cut(status, DELETE_PART_CHARS)}): ${rows.join(", ")}`;
}

/** The label of a dead-letter row's Discard: the task view's for the same task (tasks.tsx). */
export function deadLetterDiscardLabel(task: {
  readonly subscribers?: readonly unknown[] | undefined;
}): Extract<TaskViewAction, "Discard" | "Discard dead letters"> {
  return task.subscribers ? "Discard dead letters" : "Discard";
}

/**
 * A dead-letter row's Discard: the task view's (discardTask), same DELETE, question and line, so one action has one
 * name on the page (the row's button was "Cancel", its line "cancelled t1", beside the view's Discard).
 */
export function discardDeadLetter(
  task: { readonly task_id: string; readonly subscribers?: readonly unknown[] | undefined },
  ask: Ask,
): Promise<string | undefined> {
  return discardTask(task.task_id, task.subscribers !== undefined, ask);
}

export type ScheduleAction = "pause" | "resume" | "delete";

const SCHEDULE_ACTIONS: Record<
  ScheduleAction,
  { readonly ask: string; readonly button: string; readonly done: string }
> = {
  pause: {
    ask: "No new occurrences; those made ahead and not yet due are cancelled.",
    button: "Pause",
    done: "paused",
  },
  resume: {
    ask: "It runs again from now; occurrences that fell in the pause are skipped.",
    button: "Resume",
    done: "resumed",
  },
  delete: { ask: "No new occurrences, and it cannot be resumed.", button: "Delete", done: "deleted" },
};

/** The fields of a schedule's answer the line reads (shared/api/schemas/schedules.ts needs Node). */
const scheduleAnswerSchema = z.looseObject({ schedule_id: z.string(), status: z.string() });

/** A schedule's Pause / Resume (POST …/pause|resume) or Delete (DELETE); every one asks first. */
export function scheduleAction(
  s: { readonly schedule_id: string; readonly cron: string },
  action: ScheduleAction,
  ask: Ask,
): Promise<string | undefined> {
  const { ask: consequence, button, done } = SCHEDULE_ACTIONS[action];
  const path = `/v1/schedules/${encodeURIComponent(s.schedule_id)}`;
  return runAction(ask, {
    confirm: { question: `${button} schedule ${s.schedule_id} (${s.cron})? ${consequence}`, button },
    run: async () =>
      parseAnswer(
        scheduleAnswerSchema,
        action === "delete" ? await call("DELETE", path) : await call("POST", `${path}/${action}`),
      ),
    done: (after) => `${after.schedule_id} is ${after.status}`,
    failed: `${s.schedule_id} not ${done}`,
    unsure: `${s.schedule_id} may have been ${done}`,
  });
}

/** POST /v1/schedules (the form's own button is the confirmation); the API checks the fields (a 400 says which). */
export function createSchedule(body: Readonly<Record<string, unknown>>): Promise<string | undefined> {
  return runAction(async () => true, {
    run: async () => parseAnswer(scheduleAnswerSchema, await call("POST", "/v1/schedules", body)),
    done: (created) => `created ${created.schedule_id}`,
    failed: "not created",
    // The API's 500 says to list the topic's schedules first: a create has no idempotency key.
    unsure: "the schedule may have been created",
  });
}

/** What the Schedules panel's create form holds: text fields as typed (callback empty for the topic's own). */
export interface ScheduleForm {
  readonly cron: string;
  readonly timezone: string;
  readonly content: string;
  readonly callback: string;
  /** `all` (the API's default) is not sent, so the form's create reads as one made without the field. */
  readonly catchUp: "all" | "latest" | "none";
}

/**
 * The create form's POST. The content goes as the JSON text typed (the API takes a string holding JSON and stores
 * it as written): parsed and re-serialized, `12345678901234567890` became `12345678901234567000` and `1.10`
 * became `1.1` in every occurrence. It is parsed only to refuse a typo before sending.
 */
export function createScheduleFromForm(topic: string, form: ScheduleForm): Promise<string | undefined> {
  try {
    JSON.parse(form.content);
  } catch (error) {
    return Promise.resolve(`content is not JSON: ${errorText(error)}`);
  }
  const { cron, timezone, content, callback, catchUp } = form;
  return createSchedule({
    topic,
    cron,
    timezone,
    content,
    ...(callback ? { callback: { url: callback } } : {}),
    ...(catchUp === "all" ? {} : { catch_up: catchUp }),
  });
}

/**
 * The fields of a reset's answer the line reads (a copy of destinationResetResponseSchema's). A reset of one topic
 * lists at most RESET_CIRCUITS_PER_TOPIC circuits: more is a broken API's (or a proxy's answer to another request),
 * refused as malformed, as the panels refuse an overfull page (api.ts `callPage`), rather than every entry written
 * into the line.
 */
const resetAnswerSchema = z.looseObject({
  host: z.string(),
  destinations: z
    .array(z.looseObject({ topic: z.string(), state: z.string() }))
    .max(RESET_CIRCUITS_PER_TOPIC),
});

/**
 * The answer to a reset of `topic`'s circuit, refused when it lists another topic's: a cache keying the route
 * without its query would show another topic's circuit as this one's reset (the client refuses it too,
 * client/routes.ts `lists`).
 */
function resetAnswerOf(answer: unknown, topic: string): z.output<typeof resetAnswerSchema> {
  const reset = parseAnswer(resetAnswerSchema, answer);
  const other = reset.destinations.find((d) => d.topic !== topic);
  if (other) throw new Error(`the API's answer is about another topic's circuit, ${other.topic}`);
  return reset;
}

/** A circuit's Reset (POST /v1/destinations/{host}/reset?topic=): closes it by hand. */
export function resetDestination(
  d: { readonly host: string; readonly topic: string },
  ask: Ask,
): Promise<string | undefined> {
  const path = `/v1/destinations/${encodeURIComponent(d.host)}/reset?${query({ topic: d.topic })}`;
  return runAction(ask, {
    confirm: {
      question: `Reset the circuit of ${d.host} on ${d.topic}? Its tasks are delivered to it again at once.`,
      button: "Reset",
    },
    run: async () => resetAnswerOf(await call("POST", path), d.topic),
    done: (result) =>
      `reset ${result.host} (${result.destinations.map((r) => `${r.topic}: ${r.state}`).join(", ")})`,
    failed: `${d.host} not reset`,
    unsure: `${d.host} may have been reset`,
  });
}

/**
 * A fan-out subscriber's Replay (POST /v1/tasks/{id}/replay?subscriber=): that copy only, after the page's
 * confirmation, as every action that sends a callback again.
 */
export function replaySubscriber(taskId: string, subscriber: string, ask: Ask): Promise<string | undefined> {
  const path = `/v1/tasks/${encodeURIComponent(taskId)}/replay?${query({ subscriber })}`;
  return runAction(ask, {
    confirm: {
      question: `Replay ${subscriber}'s copy of ${taskId}? Its callback is delivered again.`,
      button: "Replay",
    },
    run: () => call("POST", path),
    done: () => `replaying ${subscriber}`,
    failed: `${subscriber} not replayed`,
    unsure: `${subscriber} may have been replayed`,
  });
}
