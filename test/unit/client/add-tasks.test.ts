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
