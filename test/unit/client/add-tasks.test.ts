import { PunctualClient } from "punctual/client";
import { describe, expect, it } from "vitest";
import { addAnswer, recordingSleep, scriptedFetch, taskId } from "./fakes.js";

const item = (order: string) => ({ topic: "demo", delay_seconds: 90, content: { order_id: order } });

function batchAnswer(ids: readonly string[]) {
  const results = ids.map((id) => {
    const { status, ...task } = addAnswer(id) as { status: string; [field: string]: unknown };
    return { status: 201, ...task, task_status: status };
  });
  return { results, added: ids.length, failed: 0 };
}

describe("addTasks", () => {
  it("gives every item without a key its own key, and retries a 503 with the very same body", async () => {
    // Prepare
    const ids = [taskId(), taskId()];
    const { fetch, seen } = scriptedFetch(
      {
        status: 503,
        body: { error: { code: "service_unavailable", message: "busy" } },
        headers: { "retry-after": "1" },
      },
      { status: 200, body: batchAnswer(ids) },
    );
    const { sleep } = recordingSleep();
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch, sleep });

    // Act
    const answer = await client.addTasks({
      tasks: [item("A-1"), { ...item("A-2"), idempotency_key: "mine" }],
    });

    // Assess
    expect(answer.results.map((r) => r.task_id)).toEqual(ids);
    expect(seen).toHaveLength(2);
    expect(seen[0]?.url.pathname).toBe("/v1/tasks/batch");
    expect(seen[0]?.headers["idempotency-key"]).toBeUndefined();
    const sent = JSON.parse(seen[0]?.body ?? "") as { tasks: { idempotency_key: string }[] };
    expect(sent.tasks[0]?.idempotency_key).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent.tasks[1]?.idempotency_key).toBe("mine");
    expect(seen[1]?.body).toBe(seen[0]?.body);
  });

  it("makes a distinct key per item", async () => {
    const { fetch, seen } = scriptedFetch({ status: 200, body: batchAnswer([taskId(), taskId(), taskId()]) });
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch });

    await client.addTasks({ tasks: [item("B-1"), item("B-2"), item("B-3")] });

    const sent = JSON.parse(seen[0]?.body ?? "") as { tasks: { idempotency_key: string }[] };
    expect(new Set(sent.tasks.map((t) => t.idempotency_key)).size).toBe(3);
  });
});

describe("addTasks: items answered 503", () => {
  const busy = { error: { code: "service_unavailable", message: "could not add this task; retry it" } };
  const resultOf = (id: string) => batchAnswer([id]).results[0] as Record<string, unknown>;
  const itemsSent = (body: string | undefined) =>
    (JSON.parse(body ?? "") as { tasks: { idempotency_key: string; content: unknown }[] }).tasks;

  it("sends the 503 items again itself, in request order with their very keys (the caller never saw them), and answers every item in its place", async () => {
    // Prepare: a keyed item that answered 503 may still be written and delivered, so only a retry with the key
    // the client made can find it; a retry the caller made with the same body would carry a new key.
    const ids = [taskId(), taskId(), taskId(), taskId()];
    const { fetch, seen } = scriptedFetch(
      {
        status: 200,
        body: {
          results: [
            resultOf(ids[0] as string),
            { status: 503, ...busy },
            resultOf(ids[2] as string),
            { status: 503, ...busy },
          ],
          added: 2,
          failed: 2,
        },
      },
      { status: 200, body: batchAnswer([ids[1] as string, ids[3] as string]) },
    );
    const { sleep, waits } = recordingSleep();
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch, sleep, random: () => 0.5 });

    // Act
    const answer = await client.addTasks({ tasks: [item("C-1"), item("C-2"), item("C-3"), item("C-4")] });

    // Assess
    expect(answer.results.map((r) => [r.status, r.task_id])).toEqual(ids.map((id) => [201, id]));
    expect(answer).toMatchObject({ added: 4, failed: 0 });
    expect(seen).toHaveLength(2);
    const [first, again] = [itemsSent(seen[0]?.body), itemsSent(seen[1]?.body)];
    expect(again).toEqual([first[1], first[3]]);
    expect(waits).toEqual([100]);
  });

  it("stops at maxAttempts in all for an item, its whole-request retries counted, and answers its last 503", async () => {
    // Prepare
    const id = taskId();
    const partial = {
      status: 200,
      body: { results: [resultOf(id), { status: 503, ...busy }], added: 1, failed: 1 },
    };
    const { fetch, seen } = scriptedFetch({ status: 503, body: busy }, partial, {
      status: 200,
      body: { results: [{ status: 503, ...busy }], added: 0, failed: 1 },
    });
    const { sleep } = recordingSleep();
    const client = new PunctualClient({
      apiUrl: "http://127.0.0.1:3000",
      fetch,
      sleep,
      retry: { maxAttempts: 3 },
    });

    // Act
    const answer = await client.addTasks({ tasks: [item("D-1"), item("D-2")] });

    // Assess
    expect(seen).toHaveLength(3);
    expect(answer.results.map((r) => r.status)).toEqual([201, 503]);
    expect(answer.results[1]?.error?.code).toBe("service_unavailable");
    expect(answer).toMatchObject({ added: 1, failed: 1 });
  });

  it("rejects at once when the call's signal aborts during the wait before sending 503 items again", async () => {
    // Prepare
    const { fetch, seen } = scriptedFetch({
      status: 200,
      body: { results: [{ status: 503, ...busy }], added: 0, failed: 1 },
    });
    const controller = new AbortController();
    const sleep = async () => {
      controller.abort(new Error("stop"));
      await new Promise(() => {});
    };
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch, sleep });

    // Act
    const outcome = client.addTasks({ tasks: [item("E-1")] }, { signal: controller.signal });

    // Assess
    await expect(outcome).rejects.toThrow("stop");
    expect(seen).toHaveLength(1);
  });
});
