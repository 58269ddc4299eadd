import { PunctualClient, type TaskView, type Unknown } from "punctual/client";
import { afterEach, describe, expect, it } from "vitest";
import type * as z from "zod/mini";
import { createScheduleBodySchema } from "#shared/api/schemas/schedules.js";
import { ROUTES } from "../../../client/routes.js";
import { answeringServer } from "../../support/answering-server.js";
import { OLDER_SCHEDULE_ID, olderGroupCancel, olderScheduleChange } from "../../support/older-answers.js";
import {
  addAnswer,
  destinationViewAnswer,
  scheduleViewAnswer,
  scriptedFetch,
  taskId,
  taskViewAnswer,
} from "./fakes.js";

/**
 * Clients and deployments are upgraded independently (one deployment per environment), so a client reads answers
 * of older and newer releases of the API: a field a later release added is read as what the older answer means,
 * and a field the client does not know yet passes through.
 */
const API = "http://127.0.0.1:3000";

/** A client whose API answers these bodies (200) in order; one attempt per call, so each body is one call's. */
function clientAnswering(...bodies: unknown[]) {
  const { fetch } = scriptedFetch(...bodies.map((body) => ({ status: 200, body })));
  return new PunctualClient({ apiUrl: API, fetch, retry: { maxAttempts: 1 } });
}

describe("a newer client against an older deployment: a field added later reads as its default", () => {
  it("pauseSchedule and deleteSchedule: an answer without cancels_deferred reads cancels_deferred: false", async () => {
    // Prepare
    const client = clientAnswering(olderScheduleChange("paused"), olderScheduleChange("deleted"));

    // Act
    const paused = await client.pauseSchedule(OLDER_SCHEDULE_ID);
    const deleted = await client.deleteSchedule(OLDER_SCHEDULE_ID);

    // Assess
    expect(paused).toMatchObject({ status: "paused", cancelled_occurrences: 2, cancels_deferred: false });
    expect(deleted).toMatchObject({ status: "deleted", cancelled_occurrences: 2, cancels_deferred: false });
  });

  it("cancelGroup: an answer without cancel_requested reads cancel_requested: []", async () => {
    // Prepare
    const client = clientAnswering(olderGroupCancel);

    // Act
    const answer = await client.cancelGroup("orders", "A-1");

    // Assess
    expect(answer).toEqual({ ...olderGroupCancel, cancel_requested: [] });
  });

  it("the fields as a current deployment sends them are read as sent, not as the default", async () => {
    // Prepare
    const requested = [{ task_id: taskId("orders") }];
    const client = clientAnswering(
      { ...olderScheduleChange("paused"), cancels_deferred: true },
      { ...olderGroupCancel, cancel_requested: requested },
    );

    // Act
    const paused = await client.pauseSchedule(OLDER_SCHEDULE_ID);
    const cancelled = await client.cancelGroup("orders", "A-1");

    // Assess
    expect(paused.cancels_deferred).toBe(true);
    expect(cancelled.cancel_requested).toEqual(requested);
  });

  it("a field present with a wrong type is still an invalid_response (only an absent one is defaulted)", async () => {
    // Prepare
    const client = clientAnswering({ ...olderScheduleChange("paused"), cancels_deferred: "no" });

    // Act
    const error = await client.pauseSchedule(OLDER_SCHEDULE_ID).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response" });
  });
});

describe("an older client against a newer deployment: fields it does not know are no error", () => {
  it("a task view with a field added after this client is read, the field passed through", async () => {
    // Prepare
    const id = taskId();
    const client = clientAnswering(
      taskViewAnswer(id, {
        a_later_field: { nested: true },
        attempt_log: [
          { started_at: "2026-11-23T12:01:30.000Z", duration_ms: 5, status: 200, a_later_detail: 1 },
        ],
      }),
    );

    // Act
    const task = await client.getTask(id);

    // Assess
    expect(task).toMatchObject({ task_id: id, a_later_field: { nested: true } });
    expect(task.attempt_log[0]).toMatchObject({ a_later_detail: 1 });
  });

  it("no response schema the client reads refuses an unknown field (no strict object anywhere in them)", () => {
    // Act
    const strict = Object.entries(ROUTES).flatMap(([name, route]) =>
      strictObjectsIn(route.response).map((path) => `${name}: ${path || "(answer)"}`),
    );

    // Assess: none; and the walk does find one where there is one (a request body, strict on purpose)
    expect(strict).toEqual([]);
    expect(strictObjectsIn(createScheduleBodySchema)).toEqual(["", ".callback"]);
  });
});

describe("an older client against a newer deployment: a value it does not know in a closed set is read as sent", () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((close) => close()));
  });

  /** A client of a real HTTP server on loopback answering `answer(method, path)` (200). */
  async function clientOf(answer: (method: string, path: string) => unknown) {
    const server = await answeringServer(answer);
    closers.push(server.close);
    return new PunctualClient({ apiUrl: server.url, retry: { maxAttempts: 1 }, addBatching: false });
  }

  it("getTask, cancelTask, listGroupTasks and listFailedTasks: a task status added later (`archived`) is the task's status", async () => {
    // Prepare: a stack a release ahead, whose tasks (and a fan-out task's copies) may be `archived`
    const id = taskId("orders");
    const archived = taskViewAnswer(id, {
      topic: "orders",
      status: "archived",
      subscribers: [
        {
          id: "audit",
          task_id: taskId("orders"),
          callback_url: "https://a.example/",
          status: "archived",
          attempts: 1,
        },
      ],
    });
    const client = await clientOf((method, path) =>
      path === "/v1/tasks"
        ? { tasks: [archived], next_cursor: null }
        : method === "GET" || method === "DELETE"
          ? archived
          : undefined,
    );

    // Act
    const got = await client.getTask(id);
    const cancelled = await client.cancelTask(id);
    const group = await client.listGroupTasks({ topic: "orders", group: "A-1" });
    const failed = await client.listFailedTasks({ topic: "orders" });

    // Assess
    expect(got.status).toBe("archived");
    expect(got.subscribers?.[0]?.status).toBe("archived");
    expect(cancelled.status).toBe("archived");
    expect(group.tasks.map((t) => t.status)).toEqual(["archived"]);
    expect(failed.tasks.map((t) => t.status)).toEqual(["archived"]);
  });

  it("addTask, rescheduleTask and cancelGroup: a task status added later is read as sent", async () => {
    // Prepare
    const id = taskId("orders");
    const client = await clientOf((method, path) => {
      if (path === "/v1/tasks") return { ...addAnswer(id), topic: "orders", status: "parked" };
      if (method === "PATCH") return taskViewAnswer(id, { topic: "orders", status: "parked" });
      return {
        cancelled: 0,
        not_cancelled: [{ task_id: id, status: "parked" }],
        cancel_requested: [],
        more: false,
        next_cursor: null,
      };
    });

    // Act
    const added = await client.addTask({ topic: "orders", delay_seconds: 60, content: {} });
    const moved = await client.rescheduleTask(id, { delay_seconds: 60 });
    const cancelled = await client.cancelGroup("orders", "A-1");

    // Assess
    expect(added.status).toBe("parked");
    expect(moved.status).toBe("parked");
    expect(cancelled.not_cancelled).toEqual([{ task_id: id, status: "parked" }]);
  });

  it("addTasks: an item's task_status added later is read as sent", async () => {
    // Prepare
    const id = taskId("orders");
    const item = {
      status: 201,
      task_id: id,
      topic: "orders",
      task_status: "parked",
      due_at: "2026-11-23T12:01:30.000Z",
    };
    const client = await clientOf(() => ({ results: [item], added: 1, failed: 0 }));

    // Act
    const answer = await client.addTasks({
      tasks: [{ topic: "orders", delay_seconds: 60, content: {}, idempotency_key: "k-1" }],
    });

    // Assess
    expect(answer.results[0]).toMatchObject({ status: 201, task_status: "parked" });
  });

  it("getSchedule, listSchedules and pauseSchedule: a schedule status and catch_up policy added later are read as sent", async () => {
    // Prepare
    const view = scheduleViewAnswer("orders", { status: "suspended", catch_up: "earliest" });
    const client = await clientOf((method, path) =>
      path === "/v1/schedules"
        ? { schedules: [view], next_cursor: null }
        : method === "POST"
          ? { ...view, cancelled_occurrences: 0, cancels_deferred: false }
          : view,
    );

    // Act
    const got = await client.getSchedule(view.schedule_id);
    const list = await client.listSchedules({ topic: "orders" });
    const paused = await client.pauseSchedule(view.schedule_id);

    // Assess
    expect(got).toMatchObject({ status: "suspended", catch_up: "earliest" });
    expect(list.schedules[0]).toMatchObject({ status: "suspended", catch_up: "earliest" });
    expect(paused).toMatchObject({ status: "suspended", catch_up: "earliest" });
  });

  it("listDestinations and resetDestination: a circuit state added later is read as sent", async () => {
    // Prepare
    const destination = destinationViewAnswer("orders", { state: "throttled" });
    const client = await clientOf((_method, path) =>
      path === "/v1/destinations"
        ? { destinations: [destination], next_cursor: null }
        : { host: destination.host, destinations: [destination] },
    );

    // Act
    const list = await client.listDestinations({});
    const reset = await client.resetDestination(destination.host, {});

    // Assess
    expect(list.destinations[0]?.state).toBe("throttled");
    expect(reset.destinations[0]?.state).toBe("throttled");
  });

  it("the type of such a value is its set's known values or Unknown, so an exhaustive switch stays checked", () => {
    // Prepare: a switch naming every known task status; a status added to the set and not named here would reach
    // `default` and fail to compile there (no literal is assignable to Unknown)
    function shown(status: TaskView["status"]): string {
      switch (status) {
        case "scheduled":
        case "queued":
        case "delivering":
        case "rescheduled":
          return "pending";
        case "delivered":
        case "failed":
        case "cancelled":
          return "ended";
        default: {
          const unknown: Unknown = status;
          return `as sent: ${unknown}`;
        }
      }
    }
    // @ts-expect-error a known value is no Unknown
    const known: Unknown = "scheduled";

    // Act & Assess
    expect(shown("delivered")).toBe("ended");
    expect(shown("archived" as Unknown)).toBe("as sent: archived");
    expect(known).toBe("scheduled");
  });

  it.each([
    ["a number", 3],
    ["null", null],
    ["an empty string", ""],
    ["a string of 65 characters", "a".repeat(65)],
  ])("a status that is %s is still an invalid_response", async (_what, status) => {
    // Prepare
    const id = taskId();
    const client = await clientOf(() => taskViewAnswer(id, { status }));

    // Act
    const error = await client.getTask(id).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response" });
  });

  it("a catch_up or circuit state of a wrong type is still an invalid_response", async () => {
    // Prepare
    const schedule = scheduleViewAnswer("orders", { catch_up: 1 });
    const client = await clientOf((_method, path) =>
      path === "/v1/destinations"
        ? {
            destinations: [destinationViewAnswer("orders", { host: "h", state: "" })],
            next_cursor: null,
          }
        : schedule,
    );

    // Act
    const scheduleError = await client.getSchedule(schedule.schedule_id).catch((e: unknown) => e);
    const destinationsError = await client.listDestinations({}).catch((e: unknown) => e);

    // Assess
    expect(scheduleError).toMatchObject({ code: "invalid_response" });
    expect(destinationsError).toMatchObject({ code: "invalid_response" });
  });
});

/** Where in `schema` an object refuses keys it does not name (`z.strictObject`: its catchall is `never`). */
function strictObjectsIn(schema: z.ZodMiniType, path = "", seen = new Set<unknown>()): string[] {
  if (seen.has(schema)) return [];
  seen.add(schema);
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  const inner = (value: unknown, at = path) => strictObjectsIn(value as z.ZodMiniType, at, seen);
  switch (def.type) {
    case "object": {
      const catchall = def.catchall as z.ZodMiniType | undefined;
      const own = catchall?._zod.def.type === "never" ? [path] : [];
      const shape = def.shape as Record<string, unknown>;
      return [...own, ...Object.entries(shape).flatMap(([key, value]) => inner(value, `${path}.${key}`))];
    }
    case "array":
      return inner(def.element, `${path}[]`);
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
    case "nonoptional":
    case "catch":
      return inner(def.innerType);
    case "union":
      return (def.options as unknown[]).flatMap((option) => inner(option));
    case "intersection":
      return [...inner(def.left), ...inner(def.right)];
    case "pipe":
      return [...inner(def.in), ...inner(def.out)];
    case "record":
      return inner(def.valueType, `${path}[*]`);
    default:
      return [];
  }
}
