import { afterEach, describe, expect, it, vi } from "vitest";
import {
  destinationPageSchema,
  loadPage,
  loadTask,
  schedulePageSchema,
  taskPageSchema,
} from "../../../console/src/answers.js";
import { scheduleActions } from "../../../console/src/schedule-actions.js";
import { OPEN_VALUE_MAX_CHARS } from "../../../shared/domain/view-bounds.js";
import { jsonAnswer as json, stubConsoleFetch as stubFetch } from "../../support/fakes/console-fetch.js";
import { destinationViewAnswer, taskViewAnswer } from "../client/fakes.js";

/**
 * The console against an API a release ahead of it (docs/OPERATIONS.md, "Upgrading: clients and deployments"): a
 * value the page does not know in one of the API's closed sets (a task's or schedule's status, `catch_up`, a
 * circuit's state) is shown as sent, not the panel's error line for every row of the answer; a value of a wrong
 * type still is.
 */

afterEach(() => {
  vi.unstubAllGlobals();
});

const taskId = "demo._.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY";
const task = (status: unknown) =>
  taskViewAnswer(taskId, {
    status,
    subscribers: [
      { id: "audit", task_id: `${taskId}~audit`, callback_url: "https://a.example/", status, attempts: 0 },
    ],
  });
const schedule = (status: unknown, catchUp: unknown) => ({
  schedule_id: "demo.schedule.01JD3BBBBBBBBBBBBBBBBBBBBB",
  topic: "demo",
  cron: "@daily",
  timezone: "UTC",
  status,
  content: "{}",
  created_at: "2026-11-23T12:00:00.000Z",
  next_occurrences: [],
  catch_up: catchUp,
});
const destination = (state: unknown) => destinationViewAnswer("demo", { state });

describe("a value a newer API added to a closed set", () => {
  it("a task `archived`, and its copies, is the task's view and a page's row", async () => {
    // Prepare
    stubFetch(({ path }) =>
      json(
        200,
        path.startsWith("/v1/tasks?") ? { tasks: [task("archived")], next_cursor: null } : task("archived"),
      ),
    );

    // Act
    const view = await loadTask(taskId);
    const page = await loadPage("/v1/tasks", { topic: "demo", limit: 20 }, "tasks", taskPageSchema);

    // Assess
    expect(view.status).toBe("archived");
    expect(view.subscribers?.[0]?.status).toBe("archived");
    expect(page.tasks[0]?.status).toBe("archived");
  });

  it("a schedule `suspended` with catch_up `earliest` is a page's row (the schedules panel showed only its error line)", async () => {
    // Prepare
    stubFetch(() => json(200, { schedules: [schedule("suspended", "earliest")], next_cursor: null }));

    // Act
    const page = await loadPage(
      "/v1/schedules",
      { topic: "demo", limit: 20 },
      "schedules",
      schedulePageSchema,
    );

    // Assess
    expect(page.schedules[0]).toMatchObject({ status: "suspended", catch_up: "earliest" });
  });

  it("a circuit `throttled` is a page's row (the destinations panel showed only its error line)", async () => {
    // Prepare
    stubFetch(() => json(200, { destinations: [destination("throttled")], next_cursor: null }));

    // Act
    const page = await loadPage("/v1/destinations", { limit: 100 }, "destinations", destinationPageSchema);

    // Assess
    expect(page.destinations[0]?.state).toBe("throttled");
  });

  it.each([
    ["a number", 3],
    ["null", null],
    ["an empty string", ""],
    [`a string of ${OPEN_VALUE_MAX_CHARS + 1} characters`, "a".repeat(OPEN_VALUE_MAX_CHARS + 1)],
  ])("a status, catch_up or state that is %s is still malformed", async (_what, value) => {
    // Prepare
    stubFetch(({ path }) =>
      json(
        200,
        path.startsWith("/v1/schedules?")
          ? { schedules: [schedule("active", value)], next_cursor: null }
          : path.startsWith("/v1/destinations?")
            ? { destinations: [destination(value)], next_cursor: null }
            : task(value),
      ),
    );

    // Act + Assess
    await expect(loadTask(taskId)).rejects.toThrow(/the API's answer is malformed/);
    await expect(loadPage("/v1/schedules", { limit: 20 }, "schedules", schedulePageSchema)).rejects.toThrow(
      /the API's answer is malformed/,
    );
    await expect(
      loadPage("/v1/destinations", { limit: 100 }, "destinations", destinationPageSchema),
    ).rejects.toThrow(/the API's answer is malformed/);
  });
});

describe("a schedule row's buttons by its status", () => {
  it.each([
    ["active", { resume: false, pause: true, delete: true }],
    ["paused", { resume: true, pause: false, delete: true }],
    ["ended", { resume: false, pause: false, delete: true }],
    ["deleted", { resume: false, pause: false, delete: false }],
    // Not guessed at: neither Pause nor Resume fits a schedule not known to be active or paused; the API answers a Delete.
    ["suspended", { resume: false, pause: false, delete: true }],
  ])("%s", (status, actions) => {
    expect(scheduleActions(status)).toEqual(actions);
  });
});
