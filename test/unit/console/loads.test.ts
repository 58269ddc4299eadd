import { afterEach, describe, expect, it, vi } from "vitest";
import {
  load,
  loadPage,
  loadTask,
  taskPageSchema,
  taskViewSchema,
  topicListSchema,
} from "../../../console/src/answers.js";
import { call } from "../../../console/src/api.js";
import { ATTEMPT_LOG_SIZE, MAX_LISTED_TOPICS, MAX_SUBSCRIBERS } from "../../../shared/domain/view-bounds.js";
import { jsonAnswer as json, stubConsoleFetch as stubFetch } from "../../support/fakes/console-fetch.js";

/**
 * What the console's panels load (a task, a page of tasks or schedules, the topics) against a stubbed `fetch`: an
 * answer that is not the API's (a proxy's sign-in page answered 200, a changed API) rejects, so the panel shows its
 * error line; resolved, the page rendered fields that are not there and the panel went blank with nothing said.
 */

afterEach(() => {
  vi.unstubAllGlobals();
});

const html = () =>
  new Response("<html><body>Sign in to continue</body></html>", {
    status: 200,
    headers: { "content-type": "text/html" },
  });

const task = {
  task_id: "demo._.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY",
  topic: "demo",
  status: "failed",
  due_at: "2026-11-23T12:01:30.000Z",
  accepted_at: "2026-11-23T12:00:00.000Z",
  attempts: 1,
  callback_url: "https://hooks.example.com/punctual",
  attempt_log: [{ started_at: "2026-11-23T12:01:31.000Z", duration_ms: 12, status: 500 }],
};

describe("a 2xx answer that is not JSON", () => {
  it("rejects saying so, with the start of the page, never resolves as a value to show", async () => {
    stubFetch(html);

    const error = await call("GET", "/v1/tasks/x").catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^the API's answer is not JSON: <html>/);
  });
});

describe("a load whose answer is not the shape the panel shows", () => {
  it.each([
    ["a task without its attempt log", taskViewSchema, { ...task, attempt_log: undefined }],
    ["a task that is only a message", taskViewSchema, { message: "ok" }],
    ["a page whose tasks are not a list", taskPageSchema, { tasks: "none", next_cursor: null }],
    [
      "a page with a task missing its id",
      taskPageSchema,
      { tasks: [{ ...task, task_id: 7 }], next_cursor: null },
    ],
    ["topics without a backlog", topicListSchema, { topics: [{ topic: "demo", paused: false }] }],
  ])("%s rejects, saying the answer is malformed", async (_what, schema, body) => {
    stubFetch(() => json(200, body));

    await expect(load("/v1/x", schema)).rejects.toThrow(/the API's answer is malformed/);
  });

  it("an answer of the right shape is the value, fields the page does not read kept", async () => {
    stubFetch(() => json(200, { tasks: [{ ...task, replays: 2 }], next_cursor: "abc" }));

    const page = await load("/v1/tasks?topic=demo&status=failed", taskPageSchema);

    expect(page).toEqual({ tasks: [{ ...task, replays: 2 }], next_cursor: "abc" });
  });
});

describe("a task's view answered for another task", () => {
  // A proxy or cache answering another request's 200: the panel showed that task's status, timeline and content
  // under the id asked for.
  it("rejects, naming the other task, so the panel shows its error line", async () => {
    stubFetch(() => json(200, { ...task, task_id: "demo._.mhx0z8ka.01JD3ZZZZZZZZZZZZZZZZZZZZZ" }));

    const error = await loadTask(task.task_id).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(
      "the API's answer is about another task, demo._.mhx0z8ka.01JD3ZZZZZZZZZZZZZZZZZZZZZ",
    );
  });

  it("the asked task's view is the value", async () => {
    stubFetch(() => json(200, task));

    await expect(loadTask(task.task_id)).resolves.toEqual(task);
  });
});

describe("a page answered with more rows than it asked for (its `limit`)", () => {
  // The API never answers more than the limit: a broken API's or another request's answer (a proxy, a cache). Cut to
  // the limit, the rows past it were lost unseen as the cursor went on after them; rendered whole, a broken API's
  // thousands of rows (test/e2e/console-overfull-pages.test.ts, in a browser).
  const page = (rows: number) => ({
    tasks: Array.from({ length: rows }, (_, n) => ({ ...task, task_id: `${task.task_id}${n}` })),
    next_cursor: null,
  });

  it("one row more than asked for rejects, saying how many of what, so the panel renders none of it", async () => {
    // Prepare
    const sent = stubFetch(() => json(200, page(21)));

    // Act
    const error = await loadPage("/v1/tasks", { topic: "demo", limit: 20 }, "tasks", taskPageSchema).catch(
      (e: unknown) => e,
    );

    // Assess
    expect(sent.map((r) => r.path)).toEqual(["/v1/tasks?topic=demo&limit=20"]);
    expect((error as Error).message).toBe(
      "the API answered 21 tasks where at most 20 were asked for: not shown (a broken API, or a proxy answering another request)",
    );
  });

  it("as many rows as asked for, or fewer, is the page", async () => {
    for (const rows of [20, 3, 0]) {
      // Prepare
      stubFetch(() => json(200, page(rows)));

      // Act
      const loaded = await loadPage("/v1/tasks", { limit: 20 }, "tasks", taskPageSchema);

      // Assess
      expect(loaded.tasks).toHaveLength(rows);
    }
  });

  it("an answer whose rows are not a list is still malformed, not counted", async () => {
    // Prepare
    stubFetch(() => json(200, { tasks: "many", next_cursor: null }));

    // Act + Assess
    await expect(loadPage("/v1/tasks", { limit: 20 }, "tasks", taskPageSchema)).rejects.toThrow(
      /the API's answer is malformed/,
    );
  });
});

describe("a task's view with more attempts or subscribers than the API ever lists", () => {
  // The attempt log is a ring of ATTEMPT_LOG_SIZE and a fan-out task has at most MAX_SUBSCRIBERS copies: more is a
  // broken API's answer, whose rows (a Replay button on each subscriber's) were rendered whole.
  const subscriber = (n: number) => ({
    id: `s${n}`,
    task_id: `${task.task_id}~s${n}`,
    callback_url: "https://hooks.example.com/s",
    status: "delivered",
    attempts: 1,
  });
  const attempt = task.attempt_log[0];

  it.each([
    ["11 attempts", { attempt_log: Array.from({ length: ATTEMPT_LOG_SIZE + 1 }, () => attempt) }],
    ["11 subscribers", { subscribers: Array.from({ length: MAX_SUBSCRIBERS + 1 }, (_, n) => subscriber(n)) }],
    ["5,000 subscribers", { subscribers: Array.from({ length: 5_000 }, (_, n) => subscriber(n)) }],
  ])("%s: rejects as malformed, so the panel renders none of it", async (_what, fields) => {
    // Prepare
    stubFetch(() => json(200, { ...task, ...fields }));

    // Act + Assess
    await expect(loadTask(task.task_id)).rejects.toThrow(/the API's answer is malformed: .*too big/i);
  });

  it("as many as the API lists is the view", async () => {
    // Prepare
    const full = {
      ...task,
      attempt_log: Array.from({ length: ATTEMPT_LOG_SIZE }, () => attempt),
      subscribers: Array.from({ length: MAX_SUBSCRIBERS }, (_, n) => subscriber(n)),
    };
    stubFetch(() => json(200, full));

    // Act + Assess
    await expect(loadTask(task.task_id)).resolves.toEqual(full);
  });
});

describe("a topic list with more topics than any environment holds", () => {
  // GET /v1/topics answers every topic (no page), and the panel asks the metrics of each and renders a Pause/Resume
  // row for each: a broken API's thousands were thousands of requests (CloudWatch calls through `punctual console`).
  const topics = (n: number) => ({
    topics: Array.from({ length: n }, (_, i) => ({
      topic: `t${i}`,
      paused: false,
      backlog: { waiting: 0, in_flight: 0 },
      oldest_age_seconds: null,
      dead_letter_count: 0,
    })),
  });

  it.each([MAX_LISTED_TOPICS + 1, 5_000])(
    "%i topics: rejects as malformed, so the panel lists none of them",
    async (n) => {
      // Prepare
      stubFetch(() => json(200, topics(n)));

      // Act + Assess
      await expect(load("/v1/topics", topicListSchema)).rejects.toThrow(
        /the API's answer is malformed: .*too big/i,
      );
    },
  );

  it(`${MAX_LISTED_TOPICS} topics are the list`, async () => {
    // Prepare
    stubFetch(() => json(200, topics(MAX_LISTED_TOPICS)));

    // Act
    const list = await load("/v1/topics", topicListSchema);

    // Assess
    expect(list.topics).toHaveLength(MAX_LISTED_TOPICS);
  });
});
