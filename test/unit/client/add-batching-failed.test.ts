import { PunctualClient, type PunctualClientOptions } from "punctual/client";
import { describe, expect, it } from "vitest";
import { addBodiesOf, addedAnswer, answeringFetch, type Scripted, type SeenRequest } from "./fakes.js";

/**
 * A batch of `addTask` calls that fails whole with an answer about no one item: what each caller gets is what its
 * own single add would have given, and no add is made twice.
 */
const API = "http://127.0.0.1:3000";
const add = (n: number) => ({ topic: "demo", delay_seconds: 90, content: { n } });
const nsOf = (request: SeenRequest) => addBodiesOf(request).map((body) => (body.content as { n: number }).n);
const keysOf = (request: SeenRequest) =>
  request.url.pathname.endsWith("/batch")
    ? addBodiesOf(request).map((body) => body.idempotency_key)
    : [request.headers["idempotency-key"]];
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const settled = (promise: Promise<unknown>) =>
  promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
/** API Gateway's answer when the function failed (an uncaught error, a crash): the request's, not an item's. */
const functionError: Scripted = { status: 500, body: { message: "Internal Server Error" } };

function keyedClient(options: Omit<PunctualClientOptions, "apiUrl">) {
  let next = 0;
  return new PunctualClient({ apiUrl: API, newIdempotencyKey: () => `key-${next++}`, ...options });
}

describe("addTask batching: a batch that fails whole", () => {
  it("a batch answered 500 (one add the API fails on) goes again in halves, down to that add alone: it gets its single add's 500, the others their tasks", async () => {
    // Prepare: the API fails any request holding add 2
    const { fetch, seen } = answeringFetch((request) =>
      nsOf(request).includes(2) ? functionError : addedAnswer(request),
    );
    const client = keyedClient({ fetch, addBatching: { maxInFlight: 1 } });

    // Act: 0 goes alone; 1–4 wait and go as one batch
    const outcomes = await Promise.all(range(0, 5).map((n) => settled(client.addTask(add(n)))));

    // Assess
    expect(seen.map(nsOf)).toEqual([[0], [1, 2, 3, 4], [1, 2], [3, 4], [1], [2]]);
    expect(seen.slice(2, 4).flatMap(keysOf)).toEqual(keysOf(seen[1] as SeenRequest));
    expect(seen.slice(4).flatMap(keysOf)).toEqual(["key-1", "key-2"]);
    expect(outcomes.map((outcome) => ("value" in outcome ? "added" : outcome.error))).toEqual([
      "added",
      "added",
      expect.objectContaining({ code: "http_error", status: 500, message: "Internal Server Error" }),
      "added",
      "added",
    ]);
  });

  it("an API that fails every request: each caller gets the 500, after at most 2n − 1 requests for n adds", async () => {
    // Prepare
    const { fetch, seen } = answeringFetch(() => functionError);
    const client = keyedClient({ fetch, addBatching: { maxInFlight: 1 } });

    // Act
    const outcomes = await Promise.all(range(0, 5).map((n) => settled(client.addTask(add(n)))));

    // Assess: [0] alone; [1–4], its halves, and their halves' single adds
    expect(seen).toHaveLength(1 + 7);
    for (const outcome of outcomes) expect(outcome).toMatchObject({ error: { status: 500 } });
  });

  it("a batch answered 401 is every caller's error: sent once, not split nor sent alone", async () => {
    // Prepare
    const unauthorized: Scripted = { status: 401, body: { message: "Unauthorized" } };
    const { fetch, seen } = answeringFetch((request) =>
      nsOf(request).length > 1 ? unauthorized : addedAnswer(request),
    );
    const client = keyedClient({ fetch, addBatching: { maxInFlight: 1 } });

    // Act
    const outcomes = await Promise.all(range(0, 4).map((n) => settled(client.addTask(add(n)))));

    // Assess
    expect(seen.map(nsOf)).toEqual([[0], [1, 2, 3]]);
    for (const outcome of outcomes.slice(1))
      expect(outcome).toMatchObject({ error: { code: "unauthorized", status: 401 } });
  });

  it.each([
    [501, 1],
    [505, 1],
    [525, 1],
    [502, 4],
    [504, 4],
    [522, 4],
  ])(
    "a batch answered %i is every caller's error after %i request(s) of the whole batch: never split",
    async (status, requests) => {
      // Prepare
      const { fetch, seen } = answeringFetch((request) =>
        nsOf(request).length > 1 ? { status, body: "<html>error</html>" } : addedAnswer(request),
      );
      const client = keyedClient({ fetch, sleep: async () => {}, addBatching: { maxInFlight: 1 } });

      // Act
      const outcomes = await Promise.all(range(0, 4).map((n) => settled(client.addTask(add(n)))));

      // Assess
      expect(seen.map(nsOf)).toEqual([[0], ...Array.from({ length: requests }, () => [1, 2, 3])]);
      for (const outcome of outcomes.slice(1)) expect(outcome).toMatchObject({ error: { status } });
    },
  );

  it.each([
    ["null", null],
    ["a number", 7],
  ])(
    "a call whose body's idempotency_key is %s (no key a repeat could find its add by) goes alone, so a batch split after a 500 holds only keyed adds",
    async (_what, key) => {
      // Prepare: every batch fails (500); single adds are added
      const { fetch, seen } = answeringFetch((request) =>
        nsOf(request).length > 1 ? functionError : addedAnswer(request),
      );
      const client = keyedClient({ fetch, addBatching: { maxInFlight: 1 } });
      const inputs = range(0, 5).map((n) => (n === 2 ? { ...add(n), idempotency_key: key } : add(n)));

      // Act
      await Promise.all(inputs.map((input) => settled(client.addTask(input as ReturnType<typeof add>))));

      // Assess: 2 alone, in its place; the adds around it batch without it
      const sentWith2 = seen.filter((request) => nsOf(request).includes(2));
      expect(sentWith2.map((request) => request.url.pathname)).toEqual(["/v1/tasks"]);
      expect(seen.map(nsOf)).toEqual([[0], [1], [2], [3, 4], [3], [4]]);
    },
  );
});
