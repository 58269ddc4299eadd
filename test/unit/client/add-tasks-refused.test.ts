import { MAX_BATCH_TASKS, PunctualClient, type PunctualClientOptions } from "punctual/client";
import { describe, expect, it } from "vitest";
import {
  addBodiesOf,
  addedAnswer,
  answeringFetch,
  heldFetch,
  numberedTaskIds as idsOf,
  numberedItems as items,
  keysSent as keysOf,
  numbersSent as nsOf,
  recordingSleep,
  type Scripted,
  type SeenRequest,
} from "./fakes.js";

/**
 * `addTasks` (the batch route called directly) against an API or proxy that takes smaller batches than the API's
 * caps: the batch is sent again in halves, as the batcher does for `addTask`'s batches, its results still in the
 * caller's order, each item with the one key it carried.
 */
const API = "http://127.0.0.1:3000";
const route = (request: SeenRequest) => `${request.method} ${request.url.pathname}`;

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
const busy = { error: { code: "service_unavailable", message: "could not add this task; retry it" } };

function keyedClient(options: Omit<PunctualClientOptions, "apiUrl">) {
  let next = 0;
  return new PunctualClient({ apiUrl: API, newIdempotencyKey: () => `key-${next++}`, ...options });
}

/** Refuses (with `refusal`) a batch of more than `most` items; adds every other add. */
const takingAtMost = (most: number, refusal: Scripted) => (request: SeenRequest) =>
  addBodiesOf(request).length > most ? refusal : addedAnswer(request);

describe("addTasks: a batch refused whole for its size", () => {
  it.each([
    ["413 (a proxy's body limit)", proxyTooLarge],
    ["400 (an older API that takes fewer items)", olderApiTooMany],
  ])(
    "a batch answered %s goes again in halves, results in the caller's order, each item with the key it carried",
    async (_what, refusal) => {
      // Prepare
      const { fetch, seen } = answeringFetch(takingAtMost(3, refusal));
      const client = keyedClient({ fetch });

      // Act
      const answer = await client.addTasks({ tasks: items(0, 6) });

      // Assess
      expect(seen.map(nsOf)).toEqual([
        [0, 1, 2, 3, 4, 5],
        [0, 1, 2],
        [3, 4, 5],
      ]);
      expect(seen.slice(1).flatMap(keysOf)).toEqual(keysOf(seen[0] as SeenRequest));
      expect(answer.results.map((result) => result.task_id)).toEqual(idsOf([0, 1, 2, 3, 4, 5]));
      expect(answer).toMatchObject({ added: 6, failed: 0 });
    },
  );

  it("halves again until the batches pass, and sends them one after another, in request order", async () => {
    // Prepare: an API that takes two items; requests held so the test sees whether the halves overlap
    const held = heldFetch();
    const client = keyedClient({ fetch: held.fetch });

    // Act
    const call = client.addTasks({ tasks: items(0, 5) });
    const answered: number[][] = [];
    for (let index = 0; index < 5; index++) {
      const request = await held.arrival(index);
      // Every request but this one is answered: it went only after the one before was.
      expect(held.seen).toHaveLength(index + 1);
      answered.push(nsOf(request));
      request.answer(takingAtMost(2, olderApiTooMany)(request));
    }
    const answer = await call;

    // Assess
    expect(answered).toEqual([[0, 1, 2, 3, 4], [0, 1, 2], [0, 1], [2, 3], [4]]);
    expect(answer.results.map((result) => result.task_id)).toEqual(idsOf([0, 1, 2, 3, 4]));
  });

  it("remembers the smaller batch, for addTasks and the batches addTask forms alike", async () => {
    // Prepare
    const { fetch, seen } = answeringFetch(takingAtMost(2, olderApiTooMany));
    const client = keyedClient({ fetch, addBatching: { maxInFlight: 1 } });
    await client.addTasks({ tasks: items(0, 4) });
    const learned = seen.length;

    // Act
    await client.addTasks({ tasks: items(4, 8) });
    await Promise.all(items(8, 13).map((input) => client.addTask(input)));

    // Assess: [8] alone, then the waiting 9–12 in batches of two
    expect(seen.slice(learned).map(nsOf)).toEqual([[4, 5], [6, 7], [8], [9, 10], [11, 12]]);
  });

  it("answers an item refused alone with its refusal in its place; the others are added", async () => {
    // Prepare: the proxy refuses any request holding item 2 (its content is over the proxy's limit)
    const { fetch, seen } = answeringFetch((request) =>
      nsOf(request).includes(2) ? proxyTooLarge : addedAnswer(request),
    );
    const client = keyedClient({ fetch });

    // Act
    const answer = await client.addTasks({ tasks: items(0, 4) });

    // Assess
    expect(seen.map(nsOf)).toEqual([[0, 1, 2, 3], [0, 1], [2, 3], [2], [3]]);
    expect(answer.results.map((result) => result.status)).toEqual([201, 201, 413, 201]);
    expect(answer.results[2]?.error).toMatchObject({ code: "http_error" });
    expect(answer).toMatchObject({ added: 3, failed: 1 });
  });

  it("does not split a request that is no batch (more than MAX_BATCH_TASKS items): the API's 400 as before", async () => {
    // Prepare
    const { fetch, seen } = answeringFetch(() => olderApiTooMany);
    const client = keyedClient({ fetch });

    // Act
    const outcome = client.addTasks({ tasks: items(0, MAX_BATCH_TASKS + 1) });

    // Assess
    await expect(outcome).rejects.toMatchObject({ code: "validation_failed", status: 400 });
    expect(seen).toHaveLength(1);
  });

  it("sends no later half after one with an item to retry (its group's later items must not pass it), then retries them in order", async () => {
    // Prepare: an API that takes two items; item 1 answers 503 the first time
    let busyOnce = true;
    const { fetch, seen } = answeringFetch((request) => {
      if (addBodiesOf(request).length > 2) return olderApiTooMany;
      const ns = nsOf(request);
      if (!(busyOnce && ns.includes(1))) return addedAnswer(request);
      busyOnce = false;
      const added = addedAnswer(request) as { body: { results: Record<string, unknown>[] } };
      const results = [...added.body.results];
      results[ns.indexOf(1)] = { status: 503, ...busy };
      return { status: 200, body: { results, added: results.length - 1, failed: 1 } };
    });
    const { sleep } = recordingSleep();
    const client = keyedClient({ fetch, sleep });

    // Act
    const answer = await client.addTasks({ tasks: items(0, 4) });

    // Assess
    expect(seen.map(nsOf)).toEqual([[0, 1, 2, 3], [0, 1], [1, 2], [3]]);
    expect(seen.map(route)).toEqual(seen.map(() => "POST /v1/tasks/batch"));
    expect(answer.results.map((result) => result.task_id)).toEqual(idsOf([0, 1, 2, 3]));
    expect(answer).toMatchObject({ added: 4, failed: 0 });
  });

  it("answers a half that fails whole after an earlier half was added with that error in its items' places, not a throw that loses the added ones", async () => {
    // Prepare: an API that takes two items, and fails the second half with a 500
    const { fetch, seen } = answeringFetch((request) => {
      if (addBodiesOf(request).length > 2) return olderApiTooMany;
      if (nsOf(request).includes(2)) return { status: 500, body: { message: "Internal Server Error" } };
      return addedAnswer(request);
    });
    const client = keyedClient({ fetch });

    // Act
    const answer = await client.addTasks({ tasks: items(0, 4) });

    // Assess: the half answered 500 goes again in halves, down to item 2 alone; 3 was in its 500 request
    expect(seen.map(nsOf)).toEqual([[0, 1, 2, 3], [0, 1], [2, 3], [2]]);
    expect(answer.results.map((result) => result.status)).toEqual([201, 201, 500, 500]);
    expect(answer.results.slice(0, 2).map((result) => result.task_id)).toEqual(idsOf([0, 1]));
    expect(answer.results[2]?.error).toMatchObject({ code: "http_error", message: "Internal Server Error" });
    expect(answer).toMatchObject({ added: 2, failed: 2 });
  });

  it.each([
    [
      "an item added without its task",
      (results: Record<string, unknown>[]) =>
        results.map((r, i) => (i === 1 ? { ...r, task_id: undefined } : r)),
      /: item 3 at task_id/,
    ],
    [
      "another topic's task at an item's place",
      (results: Record<string, unknown>[]) => results.map((r, i) => (i === 0 ? { ...r, topic: "other" } : r)),
      /: result 2 is a task of another topic than item 2's "demo"/,
    ],
  ])(
    "names an item of a later half by its place in the caller's batch, not in the half: %s",
    async (_what, spoil, named) => {
      // Prepare: an API that takes two items, whose answers to the second half (items 2 and 3) are spoilt every time
      const { fetch } = answeringFetch((request) => {
        if (addBodiesOf(request).length > 2) return olderApiTooMany;
        if (!nsOf(request).includes(2)) return addedAnswer(request);
        const answer = addedAnswer(request) as {
          status: number;
          body: { results: Record<string, unknown>[] };
        };
        return { ...answer, body: { ...answer.body, results: spoil(answer.body.results) } };
      });
      const client = keyedClient({ fetch, sleep: recordingSleep().sleep });

      // Act
      const answer = await client.addTasks({ tasks: items(0, 4) });

      // Assess
      expect(answer.results.map((result) => result.error?.code)).toEqual([
        undefined,
        undefined,
        "invalid_response",
        "invalid_response",
      ]);
      expect(answer.results[2]?.error?.message).toMatch(named);
    },
  );

  it("answers a later half whose answer cannot be read (after every retry) as not added: its items count as failed, not added", async () => {
    // Prepare: an API that takes two items, whose answers to the second half are cut short every time
    const { fetch } = answeringFetch((request) => {
      if (addBodiesOf(request).length > 2) return olderApiTooMany;
      if (nsOf(request).includes(2)) return { status: 200, body: '{"results":[{"status":201,' };
      return addedAnswer(request);
    });
    const { sleep } = recordingSleep();
    const client = keyedClient({ fetch, sleep });

    // Act
    const answer = await client.addTasks({ tasks: items(0, 4) });

    // Assess
    expect(answer.results.map((result) => result.status)).toEqual([201, 201, 0, 0]);
    expect(answer.results[2]?.error).toMatchObject({ code: "invalid_response" });
    expect(answer).toMatchObject({ added: 2, failed: 2 });
  });
});
