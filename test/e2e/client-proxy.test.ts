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

describe("PunctualClient through a faulty proxy, against the local cloud", () => {
  it("an add whose 201 the proxy cut short is sent again with its key: the API answers 200 with that task, added once", async () => {
    // Prepare: the proxy forwards every request, but cuts the first answer's body to its first 20 bytes
    const run = randomUUID();
    const statuses: number[] = [];
    const bodies: string[] = [];
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const response = await validatingFetch(input, init);
      const text = await response.text();
      statuses.push(response.status);
      bodies.push(text);
      const passed = statuses.length === 1 ? text.slice(0, 20) : text;
      return new Response(passed, { status: response.status, headers: response.headers });
    };
    const client = new PunctualClient({
      apiUrl: h.cloud.apiUrl,
      fetch,
      sleep: async () => {},
      addBatching: false,
    });
    const url = `${h.receiver.url}/ok/client-proxy-cut`;

    // Act
    const added = await client.addTask({
      topic: "demo",
      delay_seconds: 0,
      content: { order_id: run },
      callback: { url },
    });
    await h.receiver.waitFor(() => h.receiver.forTask(added.task_id).length > 0);
    await h.waitForStatus(added.task_id, ["delivered"]);

    // Assess: made by the first request (201), found by its key on the second (200); delivered once
    expect(statuses).toEqual([201, 200]);
    expect(JSON.parse(bodies[0] ?? "").task_id).toBe(added.task_id);
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
});
