import { BATCH_ROUTE_RETRY_MS, PunctualClient, type PunctualClientOptions } from "punctual/client";
import { describe, expect, it } from "vitest";
import {
  addBodiesOf,
  addedAnswer,
  heldFetch,
  type Scripted,
  type SeenRequest,
  taskIdOfBody,
} from "./fakes.js";

/**
 * A batch refused whole for a reason about the batch (too large for a proxy or an older API: 413; more items than
 * an older API takes: 400) fails none of its callers: their adds go again in smaller batches, down to alone, each
 * with the one key it carried; a refusal about a caller's own add, once it goes alone, stays that caller's.
 */
const API = "http://127.0.0.1:3000";
const add = (n: number) => ({ topic: "demo", delay_seconds: 90, content: { n } });
const nsOf = (request: SeenRequest | undefined) =>
  request ? addBodiesOf(request).map((body) => (body.content as { n: number }).n) : [];
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

/** A proxy in front of the API whose body limit is lower than the batch's (nginx's `client_max_body_size`). */
const proxyTooLarge: Scripted = {
  status: 413,
  body: "<html><center><h1>413 Request Entity Too Large</h1></center></html>",
};
/** An older API whose batch held fewer items: the whole request refused before any item ran. */
const olderApiTooMany: Scripted = {
  status: 400,
  body: {
    error: {
      code: "validation_failed",
      message: "the request is invalid",
      issues: [{ path: "tasks", message: "must hold at most 2 tasks" }],
    },
  },
};

function keyedClient(options: Omit<PunctualClientOptions, "apiUrl">) {
  let next = 0;
  return new PunctualClient({ apiUrl: API, newIdempotencyKey: () => `key-${next++}`, ...options });
}

/** Answers each request as it arrives, from `first` on, with what `reply` makes of it. */
async function answerFrom(
  held: ReturnType<typeof heldFetch>,
  first: number,
  count: number,
  reply: (request: SeenRequest) => Scripted = addedAnswer,
): Promise<void> {
  for (let index = first; index < first + count; index++) {
    const request = await held.arrival(index);
    request.answer(reply(request));
  }
}

describe("addTask batching: a batch refused whole for its size", () => {
  it.each([
    ["413 (a proxy's body limit)", proxyTooLarge],
    ["400 (an older API that takes fewer items)", olderApiTooMany],
  ])(
    "a batch answered %s goes again as two halves in call order, each item with its key: every caller gets its task",
    async (_what, refusal) => {
      // Prepare
      const held = heldFetch();
      const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 1 } });

      // Act: 0 goes alone; 1–4 wait and go as a batch, refused whole; then the halves, one after the other
      const calls = range(0, 5).map((n) => client.addTask(add(n)));
      await answerFrom(held, 0, 1);
      (await held.arrival(1)).answer(refusal);
      await answerFrom(held, 2, 2);
      const answers = await Promise.all(calls);

      // Assess
      expect(held.seen.map(nsOf)).toEqual([[0], [1, 2, 3, 4], [1, 2], [3, 4]]);
      expect(held.seen.slice(2).flatMap(keysOf)).toEqual(keysOf(held.seen[1] as SeenRequest));
      expect(answers.map((answer) => answer.task_id)).toEqual(range(0, 5).map((n) => taskIdOfBody(add(n))));
    },
  );

  it("remembers the smaller batch: later waiting calls go in batches of that size, not refused again", async () => {
    // Prepare
    const held = heldFetch();
    const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 1 } });
    const first = range(0, 5).map((n) => client.addTask(add(n)));
    await answerFrom(held, 0, 1);
    (await held.arrival(1)).answer(olderApiTooMany);
    await answerFrom(held, 2, 2);
    await Promise.all(first);

    // Act
    const later = range(5, 10).map((n) => client.addTask(add(n)));
    await answerFrom(held, 4, 3);
    await Promise.all(later);

    // Assess
    expect(held.seen.slice(4).map(nsOf)).toEqual([[5], [6, 7], [8, 9]]);
  });

  it("tries a full batch again BATCH_ROUTE_RETRY_MS later (the proxy or the API may have changed)", async () => {
    // Prepare
    let now = 0;
    const held = heldFetch();
    const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 1 }, now: () => now });
    const first = range(0, 5).map((n) => client.addTask(add(n)));
    await answerFrom(held, 0, 1);
    (await held.arrival(1)).answer(olderApiTooMany);
    await answerFrom(held, 2, 2);
    await Promise.all(first);

    // Act
    now = BATCH_ROUTE_RETRY_MS;
    const later = range(5, 10).map((n) => client.addTask(add(n)));
    await answerFrom(held, 4, 2);
    await Promise.all(later);

    // Assess
    expect(held.seen.slice(4).map(nsOf)).toEqual([[5], [6, 7, 8, 9]]);
  });

  it("halves down to single adds: an add refused alone gets its own single add's error, its neighbours their tasks", async () => {
    // Prepare: the proxy refuses any request holding add 2 (its content is over the proxy's limit)
    const held = heldFetch();
    const client = keyedClient({ fetch: held.fetch, addBatching: { maxInFlight: 1 } });
    const holds2 = (request: SeenRequest) =>
      nsOf(request).includes(2) ? proxyTooLarge : addedAnswer(request);

    // Act: 0 alone; [1, 2, 3] refused; [1, 2] refused; then 1, 2 and 3 alone
    const calls = range(0, 4).map((n) => settled(client.addTask(add(n))));
    await answerFrom(held, 0, 6, holds2);
    const outcomes = await Promise.all(calls);

    // Assess
    expect(held.seen.map(nsOf)).toEqual([[0], [1, 2, 3], [1, 2], [1], [2], [3]]);
    expect(held.seen.slice(3).flatMap(keysOf)).toEqual(["key-1", "key-2", "key-3"]);
    expect(outcomes.map((outcome) => ("value" in outcome ? "added" : outcome.error))).toEqual([
      "added",
      "added",
      expect.objectContaining({ code: "http_error", status: 413 }),
      "added",
    ]);
  });
});
