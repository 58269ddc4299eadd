import { randomUUID } from "node:crypto";
import { PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, validatingFetch } from "./support/harness.js";

/**
 * The typed client through a faulty proxy (its `fetch` seam, on loopback) in front of the local cloud: what a
 * proxy does to a request or an answer must neither lose an add nor make one twice. Each add is checked where it
 * lands: the callbacks the real receiver got.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

const routeOf = (input: Parameters<typeof fetch>[0], init: RequestInit | undefined) =>
  `${init?.method ?? "GET"} ${new URL(typeof input === "string" || input instanceof URL ? input : input.url).pathname}`;

/**
 * A proxy that forwards every request to the local cloud and records what the API answered (status and body), and
 * hands the first answer on as `spoil` makes it; the others as they came.
 */
function spoilingFirstAnswer(spoil: (text: string, response: Response) => Response) {
  const statuses: number[] = [];
  const bodies: string[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const response = await validatingFetch(input, init);
    const text = await response.text();
    statuses.push(response.status);
    bodies.push(text);
    if (statuses.length === 1) return spoil(text, response);
    return new Response(text, { status: response.status, headers: response.headers });
  };
  return { fetch, statuses, bodies };
}

/** One add through `fetch` by a client that adds one call per request, to the receiver's `path`, once delivered. */
async function addDelivered(fetch: typeof globalThis.fetch, path: string) {
  const client = new PunctualClient({
    apiUrl: h.cloud.apiUrl,
    fetch,
    sleep: async () => {},
    addBatching: false,
  });
  const added = await client.addTask({
    topic: "demo",
    delay_seconds: 0,
    content: { order_id: randomUUID() },
    callback: { url: `${h.receiver.url}/ok/${path}` },
  });
  await h.receiver.waitFor(() => h.receiver.forTask(added.task_id).length > 0);
  await h.waitForStatus(added.task_id, ["delivered"]);
  return added;
}

describe("PunctualClient through a faulty proxy, against the local cloud", () => {
  it("an add whose 201 the proxy cut short is sent again with its key: the API answers 200 with that task, added once", async () => {
    // Prepare: the proxy forwards every request, but cuts the first answer's body to its first 20 bytes
    const proxy = spoilingFirstAnswer(
      (text, response) =>
        new Response(text.slice(0, 20), { status: response.status, headers: response.headers }),
    );

    // Act
    const added = await addDelivered(proxy.fetch, "client-proxy-cut");

    // Assess: made by the first request (201), found by its key on the second (200); delivered once
    expect(proxy.statuses).toEqual([201, 200]);
    expect(JSON.parse(proxy.bodies[0] ?? "").task_id).toBe(added.task_id);
    expect(h.receiver.forTask(added.task_id)).toHaveLength(1);
  });

  it("a batch the proxy refuses as too large (413) goes again in halves it lets through: every call added once", async () => {
    // Prepare: a proxy body limit that lets four of these adds through in one batch, not eight
    const run = randomUUID();
    const url = `${h.receiver.url}/ok/client-proxy-413`;
    const limit = 3_000;
    const routes: string[] = [];
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const route = routeOf(input, init);
      const tooLarge = route.endsWith("/batch") && String(init?.body ?? "").length > limit;
      routes.push(tooLarge ? `${route} 413` : route);
      if (tooLarge)
        return new Response("<html><h1>413 Request Entity Too Large</h1></html>", { status: 413 });
      return validatingFetch(input, init);
    };
    const client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch, addBatching: { maxInFlight: 1 } });
    const content = (i: number) => ({ order_id: `${run}-${i}`, pad: "p".repeat(500) });

    // Act: 0 goes alone; 1–8 wait and go as one batch, which the proxy refuses
    const added = await Promise.all(
      Array.from({ length: 9 }, (_, i) =>
        client.addTask({ topic: "demo", delay_seconds: 0, content: content(i), callback: { url } }),
      ),
    );
    const ids = added.map((answer) => answer.task_id);
    await h.receiver.waitFor(() => ids.every((id) => h.receiver.forTask(id).length > 0));

    // Assess
    expect(routes).toEqual([
      "POST /v1/tasks",
      "POST /v1/tasks/batch 413",
      "POST /v1/tasks/batch",
      "POST /v1/tasks/batch",
    ]);
    expect(new Set(ids).size).toBe(9);
    for (const [i, id] of ids.entries()) {
      const [callback, ...more] = h.receiver.forTask(id);
      expect(more).toEqual([]);
      expect(callback?.json.content).toEqual(content(i));
    }
  });

  it("addTasks through a proxy that refuses the batch as too large (413): sent again in halves, every task added once, results in the caller's order", async () => {
    // Prepare: a proxy body limit that lets four of these tasks through in one batch, not eight
    const run = randomUUID();
    const url = `${h.receiver.url}/ok/client-proxy-add-tasks-413`;
    const routes: string[] = [];
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const tooLarge = String(init?.body ?? "").length > 3_000;
      routes.push(`${routeOf(input, init)}${tooLarge ? " 413" : ""}`);
      if (tooLarge)
        return new Response("<html><h1>413 Request Entity Too Large</h1></html>", { status: 413 });
      return validatingFetch(input, init);
    };
    const client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch });
    const content = (i: number) => ({ order_id: `${run}-${i}`, pad: "p".repeat(500) });

    // Act
    const answer = await client.addTasks({
      tasks: Array.from({ length: 8 }, (_, i) => ({
        topic: "demo",
        delay_seconds: 0,
        content: content(i),
        callback: { url },
      })),
    });
    const ids = answer.results.map((result) => result.task_id as string);
    await h.receiver.waitFor(() => ids.every((id) => h.receiver.forTask(id).length > 0));

    // Assess
    expect(routes).toEqual(["POST /v1/tasks/batch 413", "POST /v1/tasks/batch", "POST /v1/tasks/batch"]);
    expect(answer).toMatchObject({ added: 8, failed: 0 });
    expect(answer.results.map((result) => result.status)).toEqual(Array(8).fill(201));
    for (const [i, id] of ids.entries()) {
      const [callback, ...more] = h.receiver.forTask(id);
      expect(more).toEqual([]);
      expect(callback?.json.content).toEqual(content(i));
    }
  });

  it("a batch the API added whose answer the proxy turns into a 500: its calls go again in halves with their keys and are found (200), each added once, each caller its own task", async () => {
    // Prepare: the first batch is forwarded, its answer replaced by API Gateway's function-error 500
    const run = randomUUID();
    const url = `${h.receiver.url}/ok/client-proxy-500`;
    const answered: string[] = [];
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const response = await validatingFetch(input, init);
      const batch = routeOf(input, init).endsWith("/batch");
      const text = await response.text();
      const statuses = batch
        ? (JSON.parse(text) as { results: { status: number }[] }).results.map((r) => r.status)
        : [response.status];
      answered.push(`${routeOf(input, init)} ${statuses.join(",")}`);
      if (batch && answered.length === 2)
        return new Response('{"message":"Internal Server Error"}', { status: 500 });
      return new Response(text, { status: response.status, headers: response.headers });
    };
    const client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch, addBatching: { maxInFlight: 1 } });
    const content = (i: number) => ({ order_id: `${run}-${i}` });

    // Act: 0 goes alone; 1–4 wait and go as one batch
    const added = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        client.addTask({ topic: "demo", delay_seconds: 0, content: content(i), callback: { url } }),
      ),
    );
    const ids = added.map((answer) => answer.task_id);
    await h.receiver.waitFor(() => ids.every((id) => h.receiver.forTask(id).length > 0));

    // Assess
    expect(answered.sort()).toEqual([
      "POST /v1/tasks 201",
      "POST /v1/tasks/batch 200,200",
      "POST /v1/tasks/batch 200,200",
      "POST /v1/tasks/batch 201,201,201,201",
    ]);
    expect(new Set(ids).size).toBe(5);
    for (const [i, id] of ids.entries()) {
      const [callback, ...more] = h.receiver.forTask(id);
      expect(more).toEqual([]);
      expect(callback?.json.content).toEqual(content(i));
    }
  });

  it.each(["a connection reset mid-answer", "an answer slower than batchTimeoutMs"])(
    "a batch half added when %s is sent again whole with its keys: the first half found (200), the rest added, each once, each caller its own task",
    async (fault) => {
      // Prepare: the first batch reaches the API with only its first three items; then its answer is lost
      const run = randomUUID();
      const url = `${h.receiver.url}/ok/client-proxy-half`;
      const answered: string[] = [];
      let batches = 0;
      const fetch: typeof globalThis.fetch = async (input, init) => {
        if (!routeOf(input, init).endsWith("/batch") || ++batches > 1) {
          const response = await validatingFetch(input, init);
          const text = await response.clone().text();
          if (batches > 1)
            answered.push(
              (JSON.parse(text) as { results: { status: number }[] }).results.map((r) => r.status).join(","),
            );
          return response;
        }
        const { tasks } = JSON.parse(String(init?.body)) as { tasks: unknown[] };
        await (
          await validatingFetch(input, { ...init, body: JSON.stringify({ tasks: tasks.slice(0, 3) }) })
        ).text();
        if (fault.includes("reset")) {
          const cut = new ReadableStream({
            start: (controller) => {
              controller.enqueue(new TextEncoder().encode('{"results":[{"status":201,'));
              controller.error(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
            },
          });
          return new Response(cut, { status: 200 });
        }
        return new Promise<Response>((_, reject) =>
          init?.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true }),
        );
      };
      const client = new PunctualClient({
        apiUrl: h.cloud.apiUrl,
        fetch,
        sleep: async () => {},
        batchTimeoutMs: 5_000,
        addBatching: { maxInFlight: 1 },
      });
      const content = (i: number) => ({ order_id: `${run}-${i}` });

      // Act: 0 goes alone; 1–6 wait and go as one batch
      const added = await Promise.all(
        Array.from({ length: 7 }, (_, i) =>
          client.addTask({ topic: "demo", delay_seconds: 0, content: content(i), callback: { url } }),
        ),
      );
      const ids = added.map((answer) => answer.task_id);
      await h.receiver.waitFor(() => ids.every((id) => h.receiver.forTask(id).length > 0));

      // Assess
      expect(answered).toEqual(["200,200,200,201,201,201"]);
      expect(new Set(ids).size).toBe(7);
      for (const [i, id] of ids.entries()) {
        const [callback, ...more] = h.receiver.forTask(id);
        expect(more).toEqual([]);
        expect(callback?.json.content).toEqual(content(i));
      }
    },
  );

  it("an add the API made whose answer the proxy turns into a 502: sent again with its key, the API answers 200 with that task, delivered once", async () => {
    // Prepare: the proxy forwards every request, and answers the first one 502 whatever the API said
    const proxy = spoilingFirstAnswer(
      () => new Response("<html><h1>502 Bad Gateway</h1></html>", { status: 502 }),
    );

    // Act
    const added = await addDelivered(proxy.fetch, "client-proxy-502");

    // Assess: made by the first request (201, answered 502), found by its key on the second (200); delivered once
    expect(proxy.statuses).toEqual([201, 200]);
    expect(JSON.parse(proxy.bodies[0] ?? "").task_id).toBe(added.task_id);
    expect(h.receiver.forTask(added.task_id)).toHaveLength(1);
  });

  it("a schedule the API made whose answer the proxy turns into a 502 is not sent again (no key would find it): the caller's 502, one schedule", async () => {
    // Prepare: the proxy forwards every request, and answers a create 502 whatever the API said
    const direct = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch: validatingFetch });
    const creates: number[] = [];
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const response = await validatingFetch(input, init);
      if (routeOf(input, init) !== "POST /v1/schedules") return response;
      creates.push(response.status);
      return new Response("<html><h1>502 Bad Gateway</h1></html>", { status: 502 });
    };
    const client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch, sleep: async () => {} });
    const content = { order_id: `client-proxy-502-${randomUUID()}` };
    const before = (await direct.listSchedules({ topic: "demo" })).schedules;

    // Act
    const outcome = client.createSchedule({
      topic: "demo",
      cron: "0 3 * * *",
      timezone: "UTC",
      content,
      callback: { url: `${h.receiver.url}/ok/client-proxy-502-schedule` },
    });

    // Assess
    await expect(outcome).rejects.toMatchObject({ code: "http_error", status: 502 });
    expect(creates).toEqual([201]);
    const after = (await direct.listSchedules({ topic: "demo" })).schedules;
    const made = after.filter((schedule) => !before.some((old) => old.schedule_id === schedule.schedule_id));
    expect(made).toHaveLength(1);
    await direct.deleteSchedule((made[0] as { schedule_id: string }).schedule_id);
  });

  it("addTasks whose batch the API added but the proxy answers 500 (its body claiming every item added): sent again in halves with the keys, found (200), each added once, in the caller's order", async () => {
    // Prepare: the first batch is forwarded; its answer, the API's, comes back with the function-error status
    const run = randomUUID();
    const url = `${h.receiver.url}/ok/client-proxy-add-tasks-500`;
    const answered: string[] = [];
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const response = await validatingFetch(input, init);
      const text = await response.text();
      const statuses = (JSON.parse(text) as { results: { status: number }[] }).results.map((r) => r.status);
      answered.push(statuses.join(","));
      const status = answered.length === 1 ? 500 : response.status;
      return new Response(text, { status, headers: response.headers });
    };
    const client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch });
    const content = (i: number) => ({ order_id: `${run}-${i}` });

    // Act
    const answer = await client.addTasks({
      tasks: Array.from({ length: 4 }, (_, i) => ({
        topic: "demo",
        delay_seconds: 0,
        content: content(i),
        callback: { url },
      })),
    });
    const ids = answer.results.map((result) => result.task_id as string);
    await h.receiver.waitFor(() => ids.every((id) => h.receiver.forTask(id).length > 0));

    // Assess
    expect(answered).toEqual(["201,201,201,201", "200,200", "200,200"]);
    expect(answer).toMatchObject({ added: 4, failed: 0 });
    expect(new Set(ids).size).toBe(4);
    for (const [i, id] of ids.entries()) {
      const [callback, ...more] = h.receiver.forTask(id);
      expect(more).toEqual([]);
      expect(callback?.json.content).toEqual(content(i));
    }
  });
});
