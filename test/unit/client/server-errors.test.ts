import { PunctualClient, RETRYABLE_STATUSES, UNSERVED_STATUSES } from "punctual/client";
import { describe, expect, it } from "vitest";
import { addAnswer, recordingSleep, type Scripted, scriptedFetch, taskId, taskViewAnswer } from "./fakes.js";

/**
 * What the client does with each 5xx a whole request may meet — the API's, API Gateway's, a load balancer's, a
 * CDN's — on a route it may repeat (a keyed add, a read) and on one it never repeats (a replay): the README's
 * table ("Typed client"), one row per status.
 */
const API = "http://127.0.0.1:3000";
const ID = taskId();
const addBody = { topic: "demo", delay_seconds: 90, content: { n: 1 } };
/** As a CDN or proxy answers: an HTML page, not our error shape. */
const page = (status: number): Scripted => ({ status, body: `<html><h1>${status}</h1></html>` });

/** Sent again (the function may have run: the add's key finds its task), or never (a repeat cannot help). */
const TABLE: readonly (readonly [number, "retried" | "not retried"])[] = [
  [500, "not retried"],
  [501, "not retried"],
  [502, "retried"],
  [503, "retried"],
  [504, "retried"],
  [505, "not retried"],
  [507, "not retried"],
  [511, "not retried"],
  [520, "retried"],
  [521, "retried"],
  [522, "retried"],
  [523, "retried"],
  [524, "retried"],
  [525, "not retried"],
  [526, "not retried"],
  [527, "not retried"],
  [530, "not retried"],
];

function clientWith(fetch: typeof globalThis.fetch) {
  const { sleep } = recordingSleep();
  return new PunctualClient({
    apiUrl: API,
    fetch,
    sleep,
    addBatching: false,
    newIdempotencyKey: () => "key-1",
  });
}

describe("a 5xx answer to a whole request", () => {
  it.each(TABLE)("%i, to a keyed add: %s (once more, with the same key)", async (status, expected) => {
    // Prepare: the first answer is the 5xx; a repeat finds the task (200)
    const { fetch, seen } = scriptedFetch(page(status), { status: 200, body: addAnswer(ID) });
    const client = clientWith(fetch);

    // Act
    const outcome = client.addTask(addBody);

    // Assess
    if (expected === "retried") {
      await expect(outcome).resolves.toMatchObject({ task_id: ID });
      expect(seen.map((request) => request.headers["idempotency-key"])).toEqual(["key-1", "key-1"]);
      expect(seen[1]?.body).toBe(seen[0]?.body);
    } else {
      await expect(outcome).rejects.toMatchObject({ code: "http_error", status });
      expect(seen).toHaveLength(1);
    }
  });

  it.each(TABLE)("%i, to a read: %s", async (status, expected) => {
    // Prepare
    const { fetch, seen } = scriptedFetch(page(status), { status: 200, body: taskViewAnswer(ID) });
    const client = clientWith(fetch);

    // Act
    const outcome = client.getTask(ID);

    // Assess
    if (expected === "retried") await expect(outcome).resolves.toMatchObject({ task_id: ID });
    else await expect(outcome).rejects.toMatchObject({ status });
    expect(seen).toHaveLength(expected === "retried" ? 2 : 1);
  });

  it.each(TABLE.map(([status]) => status))(
    "%i, to a replay (each request replays again): never sent again",
    async (status) => {
      // Prepare
      const { fetch, seen } = scriptedFetch(page(status));
      const client = clientWith(fetch);

      // Act
      const outcome = client.replayTask(ID);

      // Assess
      await expect(outcome).rejects.toMatchObject({ status });
      expect(seen).toHaveLength(1);
    },
  );

  it("RETRYABLE_STATUSES, exported for callers, is the table's retried rows and the 4xx retried (408, 429)", () => {
    const retried = TABLE.filter(([, expected]) => expected === "retried").map(([status]) => status);
    expect([...RETRYABLE_STATUSES].sort()).toEqual([408, 429, ...retried].sort());
  });

  it("UNSERVED_STATUSES, exported for callers (the CLI's exit 4 without a 'may have been applied'), is the table's 501, 505 row", () => {
    expect([...UNSERVED_STATUSES].sort()).toEqual([501, 505]);
    for (const status of UNSERVED_STATUSES) expect(TABLE).toContainEqual([status, "not retried"]);
  });
});
