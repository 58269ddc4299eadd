import { PunctualClient, type PunctualClientOptions } from "punctual/client";
import { describe, expect, it } from "vitest";
import {
  addAnswer,
  addBodiesOf,
  addedAnswer,
  answeringFetch,
  batchOf,
  numberedTaskIds as idsOf,
  numberedItem as item,
  numberedItems as items,
  keysSent as keysOf,
  numbersSent as nsOf,
  recordingSleep,
  type Scripted,
  type SeenRequest,
  taskIdOfBody,
} from "./fakes.js";

/**
 * `addTasks` (the batch route called directly) whose request fails whole with a 5xx: a 500 (the function failed on
 * something in it) goes again in halves, one after another in request order, as the batcher does for `addTask`'s
 * batches — each item with the one key it carried, so an add the failed request made is found, not made twice —
 * and a 500 that stays with one item alone is that item's. Other 5xx are retried whole or not at all, never split.
 */
const API = "http://127.0.0.1:3000";
/** API Gateway's answer when the function failed (an uncaught error, a crash): the request's, not an item's. */
const functionError: Scripted = { status: 500, body: { message: "Internal Server Error" } };

function keyedClient(options: Omit<PunctualClientOptions, "apiUrl">) {
  let next = 0;
  return new PunctualClient({ apiUrl: API, newIdempotencyKey: () => `key-${next++}`, ...options });
}

/** Fails (500) any request holding item `poison`; adds every other. */
const failingOn = (poison: number) => (request: SeenRequest) =>
  nsOf(request).includes(poison) ? functionError : addedAnswer(request);

describe("addTasks: a batch answered 500", () => {
  it("goes again in halves, in request order, each item with the key it carried, down to the item the API fails on: the others added", async () => {
    // Prepare
    const { fetch, seen } = answeringFetch(failingOn(5));
    const client = keyedClient({ fetch });

    // Act
    const answer = await client.addTasks({ tasks: items(0, 6) });

    // Assess
    expect(seen.map(nsOf)).toEqual([[0, 1, 2, 3, 4, 5], [0, 1, 2], [3, 4, 5], [3, 4], [5]]);
    expect(seen.slice(1, 3).flatMap(keysOf)).toEqual(keysOf(seen[0] as SeenRequest));
    expect(seen.slice(3).flatMap(keysOf)).toEqual(["key-3", "key-4", "key-5"]);
    expect(answer.results.map((result) => result.status)).toEqual([201, 201, 201, 201, 201, 500]);
    expect(answer.results.slice(0, 5).map((result) => result.task_id)).toEqual(idsOf([0, 1, 2, 3, 4]));
    expect(answer.results[5]?.error).toMatchObject({ code: "http_error", message: "Internal Server Error" });
    expect(answer).toMatchObject({ added: 5, failed: 1 });
  });

  it("after the item the API fails on alone, sends nothing later (it may be of that item's ordering group): those the 500 request held keep its 500, those never sent say so", async () => {
    // Prepare: the API takes four items per batch (an older API), and fails any request holding item 2
    const { fetch, seen } = answeringFetch((request) => {
      if (addBodiesOf(request).length > 4) return tooMany;
      return failingOn(2)(request);
    });
    const client = keyedClient({ fetch });

    // Act
    const answer = await client.addTasks({ tasks: items(0, 8) });

    // Assess: [0–7] too many (nothing done); [0–3] 500; its halves, down to [2]; 4–7 never reached the API
    expect(seen.map(nsOf)).toEqual([[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3], [0, 1], [2, 3], [2]]);
    expect(answer.results.map((result) => result.status)).toEqual([201, 201, 500, 500, 503, 503, 503, 503]);
    expect(answer.results[3]?.error).toMatchObject({ code: "http_error", message: "Internal Server Error" });
    expect(answer.results[4]?.error?.message).toMatch(/^not sent/);
    expect(answer).toMatchObject({ added: 2, failed: 6 });
  });

  it("a 500 whose body claims every item added is no answer: its halves are sent with their keys, and the tasks answered are those the API finds (200)", async () => {
    // Prepare: the API added every item, then its answer became a 500 carrying a batch answer's body
    const found = (request: SeenRequest): Scripted => ({
      status: 200,
      body: batchOf(
        addBodiesOf(request).map((body) => ({ httpStatus: 200, answer: addAnswer(taskIdOfBody(body)) })),
      ),
    });
    const claimed = (addedAnswer(fakeBatch(items(0, 4))) as { body: unknown }).body;
    let first = true;
    const { fetch, seen } = answeringFetch((request) => {
      if (!first) return found(request);
      first = false;
      return { status: 500, body: claimed };
    });
    const client = keyedClient({ fetch });

    // Act
    const answer = await client.addTasks({ tasks: items(0, 4) });

    // Assess
    expect(seen.map(nsOf)).toEqual([
      [0, 1, 2, 3],
      [0, 1],
      [2, 3],
    ]);
    expect(seen.slice(1).flatMap(keysOf)).toEqual(keysOf(seen[0] as SeenRequest));
    expect(answer.results.map((result) => result.status)).toEqual([200, 200, 200, 200]);
    expect(answer.results.map((result) => result.task_id)).toEqual(idsOf([0, 1, 2, 3]));
    expect(answer).toMatchObject({ added: 4, failed: 0 });
  });

  it("an API that fails every request: the call's 500, after one request per halving down to the first item", async () => {
    // Prepare
    const { fetch, seen } = answeringFetch(() => functionError);
    const client = keyedClient({ fetch });

    // Act
    const outcome = client.addTasks({ tasks: items(0, 8) });

    // Assess
    await expect(outcome).rejects.toMatchObject({ code: "http_error", status: 500 });
    expect(seen.map(nsOf)).toEqual([[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3], [0, 1], [0]]);
  });

  it("a call of one item answered 500: its 500, sent once", async () => {
    // Prepare
    const { fetch, seen } = answeringFetch(() => functionError);
    const client = keyedClient({ fetch });

    // Act
    const outcome = client.addTasks({ tasks: items(0, 1) });

    // Assess
    await expect(outcome).rejects.toMatchObject({ code: "http_error", status: 500 });
    expect(seen).toHaveLength(1);
  });

  it.each([
    ["null", null],
    ["a number", 7],
  ])(
    "a batch holding an item whose idempotency_key is %s (no key a repeat could find it by) is not sent again after a 500: the call's 500",
    async (_what, key) => {
      // Prepare
      const { fetch, seen } = answeringFetch(() => functionError);
      const client = keyedClient({ fetch });

      // Act
      const outcome = client.addTasks({
        tasks: [item(0), { ...item(1), idempotency_key: key as unknown as string }, item(2)],
      });

      // Assess
      await expect(outcome).rejects.toMatchObject({ status: 500 });
      expect(seen).toHaveLength(1);
    },
  );
});

describe("addTasks: a batch answered another 5xx is not split", () => {
  it.each([
    [501, 1],
    [505, 1],
    [525, 1],
    [502, 4],
    [504, 4],
    [520, 4],
    [524, 4],
  ])("%i: sent %i time(s), the same body each time, then the call's error", async (status, requests) => {
    // Prepare
    const { fetch, seen } = answeringFetch(() => ({ status, body: "<html>error</html>" }));
    const { sleep } = recordingSleep();
    const client = keyedClient({ fetch, sleep });

    // Act
    const outcome = client.addTasks({ tasks: items(0, 4) });

    // Assess
    await expect(outcome).rejects.toMatchObject({ code: "http_error", status });
    expect(seen).toHaveLength(requests);
    for (const request of seen) expect(request.body).toBe(seen[0]?.body);
  });
});

/** An older API's refusal of a batch of more items than it takes: the whole request, before any item ran. */
const tooMany: Scripted = {
  status: 400,
  body: {
    error: {
      code: "validation_failed",
      message: "the request is invalid",
      issues: [{ path: "tasks", message: "must hold at most 4 tasks" }],
    },
  },
};

/** A request as the fakes see it, for a batch of these adds (its answer made by `addedAnswer`). */
function fakeBatch(adds: readonly Record<string, unknown>[]): SeenRequest {
  return {
    url: new URL(`${API}/v1/tasks/batch`),
    method: "POST",
    headers: {},
    body: JSON.stringify({ tasks: adds }),
  };
}

describe("addTasks: items a request answered 500 held, left unanswered after a half's item failed", () => {
  /** Fails (500) the request holding all of items 0–3; in its first half, item 1 is answered 503 (item 0 added). */
  const halfWith503 = (request: SeenRequest): Scripted => {
    const ns = nsOf(request);
    if (ns.length === 4) return functionError;
    return {
      status: 200,
      body: batchOf(
        addBodiesOf(request).map((body) =>
          (body.content as { n: number }).n === 1
            ? { httpStatus: 503, answer: { error: { code: "service_unavailable", message: "try again" } } }
            : { httpStatus: 201, answer: addAnswer(taskIdOfBody(body)) },
        ),
      ),
    };
  };

  it("with no attempt left, keep the 500 (that request may have added them), not 'not sent: nothing was done'", async () => {
    // Prepare
    const { fetch, seen } = answeringFetch(halfWith503);
    const client = keyedClient({ fetch, retry: { maxAttempts: 1 } });

    // Act
    const answer = await client.addTasks({ tasks: items(0, 4) });

    // Assess: items 2 and 3 were in the first request, which the API may have run before it failed
    expect(seen.map(nsOf)).toEqual([
      [0, 1, 2, 3],
      [0, 1],
    ]);
    expect(answer.results.map((result) => result.status)).toEqual([201, 503, 500, 500]);
    expect(answer.results[2]?.error).toMatchObject({ code: "http_error", message: "Internal Server Error" });
  });

  it("whose retry round fails whole before answering them, keep the 500 too", async () => {
    // Prepare: the retry round's request (items 1–3, with their keys) is answered 501, which is not sent again
    const { fetch, seen } = answeringFetch((request) =>
      seen.length > 2 ? { status: 501, body: "<html>no</html>" } : halfWith503(request),
    );
    const { sleep } = recordingSleep();
    const client = keyedClient({ fetch, sleep });

    // Act
    const answer = await client.addTasks({ tasks: items(0, 4) });

    // Assess
    expect(seen.map(nsOf)).toEqual([
      [0, 1, 2, 3],
      [0, 1],
      [1, 2, 3],
    ]);
    expect(answer.results.map((result) => result.status)).toEqual([201, 503, 500, 500]);
  });

  it("sent again while attempts are left, with their keys, and answered", async () => {
    // Prepare
    let rounds = 0;
    const { fetch, seen } = answeringFetch((request) =>
      rounds++ < 2 ? halfWith503(request) : addedAnswer(request),
    );
    const { sleep } = recordingSleep();
    const client = keyedClient({ fetch, sleep });

    // Act
    const answer = await client.addTasks({ tasks: items(0, 4) });

    // Assess
    expect(seen.map(nsOf)).toEqual([
      [0, 1, 2, 3],
      [0, 1],
      [1, 2, 3],
    ]);
    expect(seen[2] && keysOf(seen[2])).toEqual(["key-1", "key-2", "key-3"]);
    expect(answer.results.map((result) => result.status)).toEqual([201, 201, 201, 201]);
  });
});

describe("addTasks: a retry round answered 500", () => {
  it("its items keep that 500 (it may have added them), not the 503 of the round before", async () => {
    // Prepare: item 1 is answered 503 in the first request; its retry (alone, with its key) is answered 500
    const { fetch, seen } = answeringFetch((request) => {
      if (seen.length > 1) return functionError;
      return {
        status: 200,
        body: batchOf(
          addBodiesOf(request).map((body) =>
            (body.content as { n: number }).n === 1
              ? { httpStatus: 503, answer: { error: { code: "service_unavailable", message: "try again" } } }
              : { httpStatus: 201, answer: addAnswer(taskIdOfBody(body)) },
          ),
        ),
      };
    });
    const { sleep } = recordingSleep();
    const client = keyedClient({ fetch, sleep });

    // Act
    const answer = await client.addTasks({ tasks: items(0, 3) });

    // Assess
    expect(seen.map(nsOf)).toEqual([[0, 1, 2], [1]]);
    expect(answer.results.map((result) => result.status)).toEqual([201, 500, 201]);
    expect(answer.results[1]?.error).toMatchObject({ code: "http_error", message: "Internal Server Error" });
  });
});

describe("addTasks: the halves of a part answered 500 hold its items only", () => {
  it("an odd part's second half does not reach past it (an item never in a failed request is not sent in one)", async () => {
    // Prepare: the API takes three items per batch (an older API), and fails any request holding item 2
    const tooManyFor3: Scripted = {
      status: 400,
      body: {
        error: {
          code: "validation_failed",
          message: "the request is invalid",
          issues: [{ path: "tasks", message: "must hold at most 3 tasks" }],
        },
      },
    };
    const { fetch, seen } = answeringFetch((request) =>
      addBodiesOf(request).length > 3 ? tooManyFor3 : failingOn(2)(request),
    );
    const client = keyedClient({ fetch });

    // Act
    const answer = await client.addTasks({ tasks: items(0, 6) });

    // Assess: [0–5] too many; [0–2] 500; its halves [0, 1] and [2], the round stopping there: 3–5 never sent
    expect(seen.map(nsOf)).toEqual([[0, 1, 2, 3, 4, 5], [0, 1, 2], [0, 1], [2]]);
    expect(answer.results.map((result) => result.status)).toEqual([201, 201, 500, 503, 503, 503]);
    expect(answer.results[3]?.error?.message).toMatch(/^not sent/);
  });
});
