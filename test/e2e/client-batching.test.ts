import { randomUUID } from "node:crypto";
import { type AddTaskInput, PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientRefusal } from "../support/refusal.js";
import { type Harness, startHarness, validatingFetch } from "./support/harness.js";

/**
 * The typed client's natural batching of `addTask` against the local cloud: real HTTP, every answer checked
 * against the OpenAPI document, real callbacks on loopback. Which requests were made is counted at the client's
 * `fetch` seam, never inferred from timing.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

/** A client with a small maxInFlight whose every request is recorded (method, path, body) before it is sent. */
function countingClient(maxInFlight: number) {
  const requests: { readonly route: string; readonly body: string }[] = [];
  const fetch: typeof globalThis.fetch = (input, init) => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    requests.push({ route: `${init?.method} ${url.pathname}`, body: String(init?.body ?? "") });
    return validatingFetch(input, init);
  };
  const client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch, addBatching: { maxInFlight } });
  return { client, requests };
}

describe("PunctualClient natural batching against the local cloud", () => {
  it("adds 200 concurrent calls through batches, each delivered once with its content exactly as sent", async () => {
    // Prepare: content as JSON text with numbers no JS number holds, so "exactly as sent" means byte for byte.
    const run = randomUUID();
    const url = `${h.receiver.url}/ok/client-batching`;
    const contents = Array.from(
      { length: 200 },
      (_, i) => `{"order_id":"${run}-${i}","big":1234567890123456789${i},"price":1.0,"name":"naïve ✓"}`,
    );
    const { client, requests } = countingClient(2);

    // Act
    const added = await Promise.all(
      contents.map((content) =>
        client.addTask({ topic: "demo", delay_seconds: 0, content, callback: { url } }),
      ),
    );
    const ids = added.map((answer) => answer.task_id);
    await h.receiver.waitFor(() => ids.every((id) => h.receiver.forTask(id).length > 0));

    // Assess: all 200 calls were made before any answer came, so 2 went alone and the other 198 waited: the
    // first answer sent the next 100 (the cap), the second the 98 left.
    expect(requests.map((request) => request.route)).toEqual([
      "POST /v1/tasks",
      "POST /v1/tasks",
      "POST /v1/tasks/batch",
      "POST /v1/tasks/batch",
    ]);
    expect(new Set(ids).size).toBe(200);
    for (const [i, id] of ids.entries()) {
      const [callback, ...more] = h.receiver.forTask(id);
      expect(more).toEqual([]);
      expect(callback?.body).toContain(`"content":${contents[i]}`);
    }
  });

  it("rejects a batched call with an unknown topic with the error a single add gives, and adds the others", async () => {
    // Prepare
    const run = randomUUID();
    const url = `${h.receiver.url}/ok/client-batching-refused`;
    const unknownTopic = `nope-${run}`;
    const body = (i: number): AddTaskInput => ({
      topic: i === 5 ? unknownTopic : "demo",
      delay_seconds: 0,
      content: { order_id: `${run}-${i}` },
      callback: { url },
    });
    const { client, requests } = countingClient(1);
    const single = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch: validatingFetch, addBatching: false });

    // Act
    const calls = Array.from({ length: 10 }, (_, i) => client.addTask(body(i)));
    const refused = await clientRefusal(calls[5] as Promise<unknown>);
    const others = await Promise.all(calls.filter((_, i) => i !== 5));
    const expected = await clientRefusal(single.addTask(body(5)));
    await h.receiver.waitFor(() => others.every((answer) => h.receiver.forTask(answer.task_id).length > 0));

    // Assess
    expect(requests.map((request) => request.route)).toEqual(["POST /v1/tasks", "POST /v1/tasks/batch"]);
    expect(requests[1]?.body).toContain(unknownTopic);
    expect(refused).toMatchObject({ code: "unknown_topic", status: 400, issues: [{ path: "topic" }] });
    const { requestId: _batchRequest, ...seen } = { ...refused, message: refused.message };
    const { requestId: _singleRequest, ...want } = { ...expected, message: expected.message };
    expect(seen).toEqual(want);
    for (const [i, answer] of others.entries()) {
      const [callback, ...more] = h.receiver.forTask(answer.task_id);
      expect(more).toEqual([]);
      expect(callback?.json.content).toEqual(body(i < 5 ? i : i + 1).content);
    }
  });

  it("answers calls that share an idempotency key in one batch as racing single adds: one task, or one conflict", async () => {
    // Prepare: one call goes alone and holds the only request; the next four wait and go as one batch
    const run = randomUUID();
    const url = `${h.receiver.url}/ok/client-batching-keys`;
    const body = (label: string): AddTaskInput => ({
      topic: "demo",
      delay_seconds: 0,
      content: { order_id: `${run}-${label}` },
      callback: { url },
    });
    const { client, requests } = countingClient(1);
    const same = `same-${run}`;
    const clash = `clash-${run}`;

    // Act
    const first = client.addTask(body("first"));
    const twins = [
      client.addTask(body("twin"), { idempotencyKey: same }),
      client.addTask(body("twin"), { idempotencyKey: same }),
    ];
    const rivals = [
      client.addTask(body("rival-a"), { idempotencyKey: clash }),
      client.addTask(body("rival-b"), { idempotencyKey: clash }),
    ].map((call) =>
      call.then(
        (answer) => ({ answer }),
        (error: unknown) => ({ error }),
      ),
    );
    await first;
    const [twinA, twinB] = await Promise.all(twins);
    const outcomes = await Promise.all(rivals);
    const won = outcomes.findIndex((outcome) => "answer" in outcome);
    const winner = outcomes[won] as { answer: { task_id: string } };
    const loser = outcomes[1 - won] as { error: unknown };
    await h.receiver.waitFor(
      () =>
        h.receiver.forTask(twinA?.task_id ?? "").length > 0 &&
        h.receiver.forTask(winner.answer.task_id).length > 0,
    );

    // Assess: the four went as one batch; the twins found one task, delivered once; one rival added, one refused
    expect(requests.map((request) => request.route)).toEqual(["POST /v1/tasks", "POST /v1/tasks/batch"]);
    expect(twinB?.task_id).toBe(twinA?.task_id);
    expect(h.receiver.forTask(twinA?.task_id ?? "")).toHaveLength(1);
    expect(loser.error).toMatchObject({ code: "idempotency_conflict", status: 409 });
    const [delivered, ...more] = h.receiver.forTask(winner.answer.task_id);
    expect(more).toEqual([]);
    expect(delivered?.json.content).toEqual({ order_id: `${run}-${won === 0 ? "rival-a" : "rival-b"}` });
  });
});
