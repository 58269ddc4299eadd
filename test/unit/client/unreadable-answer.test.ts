import { PunctualClient, PunctualError } from "punctual/client";
import { describe, expect, it, vi } from "vitest";
import {
  addAnswer,
  addedAnswer,
  answeringFetch,
  heldFetch,
  recordingSleep,
  type Scripted,
  scriptedFetch,
  taskId,
  taskIdOfBody,
  taskViewAnswer,
} from "./fakes.js";

/**
 * A 2xx whose body the client cannot read (cut short or garbled on its way, by a proxy or a dropped connection) is
 * transient: on a route safe to send again it is retried as a 5xx is; on one that is not, it is not.
 */
const API = "http://127.0.0.1:3000";
const addBody = { topic: "demo", delay_seconds: 90, content: { n: 1 } };
/** A task view cut short mid-way, as a proxy that lost the rest of the body passes it on. */
const truncated = (answer: unknown): Scripted => ({ status: 200, body: JSON.stringify(answer).slice(0, 40) });

describe("a 2xx the client cannot read, on a route safe to retry", () => {
  it("a GET is sent again, after a backoff, and answers what the API answered the second time", async () => {
    // Prepare
    const id = taskId();
    const { fetch, seen } = scriptedFetch(truncated(taskViewAnswer(id)), {
      status: 200,
      body: taskViewAnswer(id),
    });
    const { sleep, waits } = recordingSleep();
    const client = new PunctualClient({ apiUrl: API, fetch, sleep, random: () => 0.5 });

    // Act
    const task = await client.getTask(id);

    // Assess
    expect(task.task_id).toBe(id);
    expect(seen).toHaveLength(2);
    expect(waits).toEqual([100]);
  });

  it.each([
    ["alone (batching off)", false],
    ["alone (batching on)", true],
  ] as const)(
    "a keyed add %s is sent again with its key; the API's 200 (found by the key) is the caller's one task",
    async (_what, addBatching) => {
      // Prepare: the add was made (201) but its answer was cut short; the retry finds it by its key (200).
      const id = taskId();
      const { fetch, seen } = scriptedFetch(
        { status: 201, body: JSON.stringify(addAnswer(id)).slice(0, 30) },
        { status: 200, body: addAnswer(id) },
      );
      const { sleep } = recordingSleep();
      const client = new PunctualClient({ apiUrl: API, fetch, sleep, addBatching });

      // Act
      const added = await client.addTask(addBody);

      // Assess
      expect(added.task_id).toBe(id);
      expect(seen).toHaveLength(2);
      expect(seen[1]?.headers["idempotency-key"]).toBe(seen[0]?.headers["idempotency-key"]);
      expect(seen[1]?.body).toBe(seen[0]?.body);
    },
  );

  it("a batch of waiting adds is sent again whole, its items keyed: each caller gets its own task", async () => {
    // Prepare
    const held = heldFetch();
    const { sleep } = recordingSleep();
    let next = 0;
    const client = new PunctualClient({
      apiUrl: API,
      fetch: held.fetch,
      sleep,
      newIdempotencyKey: () => `key-${next++}`,
      addBatching: { maxInFlight: 1 },
    });
    const add = (n: number) => ({ topic: "demo", delay_seconds: 90, content: { n } });

    // Act: 0 goes alone; 1 and 2 wait and go as a batch whose answer is cut short, then sent again
    const calls = [0, 1, 2].map((n) => client.addTask(add(n)));
    const zero = await held.arrival(0);
    zero.answer(addedAnswer(zero));
    const batch = await held.arrival(1);
    const whole = addedAnswer(batch) as { status: number; body: unknown };
    batch.answer({ status: 200, body: JSON.stringify(whole.body).slice(0, 50) });
    const again = await held.arrival(2);
    again.answer(addedAnswer(again));
    const answers = await Promise.all(calls);

    // Assess
    expect(answers.map((answer) => answer.task_id)).toEqual([0, 1, 2].map((n) => taskIdOfBody(add(n))));
    expect(again.url.pathname).toBe("/v1/tasks/batch");
    expect(again.body).toBe(batch.body);
  });

  it("gives up after maxAttempts with invalid_response", async () => {
    // Prepare
    const id = taskId();
    const { fetch, seen } = answeringFetch(() => truncated(taskViewAnswer(id)));
    const { sleep } = recordingSleep();
    const client = new PunctualClient({ apiUrl: API, fetch, sleep, retry: { maxAttempts: 3 } });

    // Act
    const error = await client.getTask(id).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 200 });
    expect(seen).toHaveLength(3);
  });
});

describe("a 2xx the client cannot read, on a route a repeat would do again", () => {
  it("a replay (each call replays once more) is not sent again: invalid_response after one request", async () => {
    // Prepare
    const id = taskId();
    const { fetch, seen } = answeringFetch(() => ({ status: 202, body: "{" }));
    const { sleep } = recordingSleep();
    const client = new PunctualClient({ apiUrl: API, fetch, sleep });

    // Act
    const error = await client.replayTask(id).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 202 });
    expect(seen).toHaveLength(1);
  });
});

describe("invalid_response's message", () => {
  const onlyOnce = { retry: { maxAttempts: 1 } };

  it("is one short line naming the first problem's path; every problem is in `issues`", async () => {
    // Prepare: two fields of the wrong type
    const view = { ...taskViewAnswer(taskId()), task_id: 1, attempts: "none" };
    const { fetch } = scriptedFetch({ status: 200, body: view });
    const client = new PunctualClient({ apiUrl: API, fetch, ...onlyOnce });

    // Act
    const error = (await client.getTask(taskId()).catch((e: unknown) => e)) as PunctualError;

    // Assess
    expect(error).toBeInstanceOf(PunctualError);
    expect(error.message).not.toContain("\n");
    expect(error.message.length).toBeLessThan(200);
    expect(error.message).toMatch(
      /^the API's answer to GET \/v1\/tasks\/\{task_id\} does not match its schema/,
    );
    expect(error.message).toMatch(/at task_id: .*expected string.* \(and 1 more problem\)$/);
    expect(error.issues.map((issue) => issue.path)).toEqual(["task_id", "attempts"]);
  });

  it("says a body that is not JSON (cut short, an HTML page) is not JSON", async () => {
    // Prepare
    const { fetch } = scriptedFetch({ status: 200, body: "<html>It works!</html>" });
    const client = new PunctualClient({ apiUrl: API, fetch, ...onlyOnce });

    // Act
    const error = (await client.getTask(taskId()).catch((e: unknown) => e)) as PunctualError;

    // Assess
    expect(error.message).toBe("the API's answer to GET /v1/tasks/{task_id} is not JSON");
  });

  it("of a batch item names the item and its path, on one line", async () => {
    // Prepare: the batch's second item's task answered without its due_at
    const held = heldFetch();
    const client = new PunctualClient({ apiUrl: API, fetch: held.fetch, addBatching: { maxInFlight: 1 } });
    const add = (n: number) => ({ topic: "demo", delay_seconds: 90, content: { n } });

    // Act
    const calls = [0, 1, 2].map((n) => client.addTask(add(n)).catch((e: unknown) => e));
    const zero = await held.arrival(0);
    zero.answer(addedAnswer(zero));
    const batch = await held.arrival(1);
    const { body } = addedAnswer(batch) as { body: { results: Record<string, unknown>[] } };
    delete body.results[1]?.due_at;
    batch.answer({ status: 200, body });
    const outcomes = await Promise.all(calls);

    // Assess
    const error = outcomes[2] as PunctualError;
    expect(error).toMatchObject({ code: "invalid_response" });
    expect(error.message).not.toContain("\n");
    expect(error.message).toMatch(/item 1 at due_at: is required$/);
    expect(error.issues).toEqual([{ path: "due_at", message: "is required" }]);
  });
});

describe("a 2xx that parsed but is not the route's schema", () => {
  // The server answered 2xx with a whole body that is JSON: that is what it answers (a broken API, or one of another
  // version), and a repeat gets the same. It was sent again on each of the route's 4 tries, a 3.6 MB answer read
  // and checked each time, seconds of backoff between, before the same invalid_response.
  const malformed = (id: string) =>
    JSON.stringify({
      ...taskViewAnswer(id),
      attempts: "none",
      ...Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`extra_${i}`, `value_${i}`])),
    });

  it("is not sent again: invalid_response after one request, naming the problem", async () => {
    // Prepare: what a repeat would be answered too
    const id = taskId();
    const { fetch, seen } = answeringFetch(() => ({
      status: 200,
      body: malformed(id),
      headers: { "apigw-requestid": `req-${seen.length}` },
    }));
    const { sleep, waits } = recordingSleep();
    const client = new PunctualClient({ apiUrl: API, fetch, sleep });

    // Act
    const error = (await client.getTask(id).catch((e: unknown) => e)) as PunctualError;

    // Assess
    expect(seen).toHaveLength(1);
    expect(waits).toEqual([]);
    expect(error).toBeInstanceOf(PunctualError);
    expect(error).toMatchObject({ code: "invalid_response", status: 200, requestId: "req-1" });
    expect(error.message).toMatch(/does not match its schema at attempts: .*expected number/);
  });

  it("a keyed add answered so is not sent again either (exit 3 in the CLI: it may have been added)", async () => {
    // Prepare
    const { fetch, seen } = answeringFetch(() => ({ status: 201, body: { task_id: 7 } }));
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {}, addBatching: false });

    // Act
    const error = await client.addTask(addBody).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "invalid_response", status: 201 });
    expect(seen).toHaveLength(1);
  });
});

describe("a 2xx refused as another request's, answered again byte for byte by the route's repeats", () => {
  /** Another task's view among 30,000 fields the client does not know (≈0.8 MB): a proxy's answer to another request. */
  const othersView = () =>
    JSON.stringify({
      ...taskViewAnswer(taskId()),
      ...Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`extra_${i}`, `value_${i}`])),
    });

  it("is read once: each repeat is refused as the first was, without parsing or checking it again", async () => {
    // Prepare: the same bytes on every try, each under its own request id
    const id = taskId();
    const text = othersView();
    const { fetch, seen } = answeringFetch(() => ({
      status: 200,
      body: text,
      headers: { "apigw-requestid": `req-${seen.length}` },
    }));
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });
    const parse = vi.spyOn(JSON, "parse");

    // Act
    const error = (await client.getTask(id).catch((e: unknown) => e)) as PunctualError;
    const parsed = parse.mock.calls.filter(([parsedText]) => parsedText === text).length;
    parse.mockRestore();

    // Assess: the route's four tries, the first answer read, the last try's request id on the error
    expect(seen).toHaveLength(4);
    expect(parsed).toBe(1);
    expect(error).toBeInstanceOf(PunctualError);
    expect(error).toMatchObject({ code: "invalid_response", status: 200, requestId: "req-4" });
    expect(error.message).toMatch(/is for task_id "[^"]+", not the one asked for/);
  });

  it("an answer that differs from the one refused is read (a repeat may get the right answer)", async () => {
    // Prepare: refused twice alike, then the answer asked for
    const id = taskId();
    const text = othersView();
    const { fetch, seen } = scriptedFetch(
      { status: 200, body: text },
      { status: 200, body: text },
      { status: 200, body: taskViewAnswer(id) },
    );
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

    // Act
    const task = await client.getTask(id);

    // Assess
    expect(task.task_id).toBe(id);
    expect(seen).toHaveLength(3);
  });
});

describe("a list page longer than the limit asked for, its items malformed too", () => {
  it("is refused by its length before its items are checked (a long list of wrong items cost an issue each)", async () => {
    // Prepare: 60 items that are no schedules where at most 50 were asked for
    const { fetch, seen } = answeringFetch(() => ({
      status: 200,
      body: { schedules: Array.from({ length: 60 }, (_, i) => i), next_cursor: null },
    }));
    const client = new PunctualClient({ apiUrl: API, fetch, sleep: async () => {} });

    // Act
    const error = (await client.listSchedules({ topic: "demo" }).catch((e: unknown) => e)) as PunctualError;

    // Assess: what the page's length says, as for a page of well-formed items; no issue per item; not sent again
    expect(error).toBeInstanceOf(PunctualError);
    expect(error.code).toBe("invalid_response");
    expect(error.message).toBe(
      "the API's answer to GET /v1/schedules holds 60 schedules where at most 50 were asked for: not used",
    );
    expect(error.issues).toEqual([]);
    expect(seen).toHaveLength(1);
  });
});
