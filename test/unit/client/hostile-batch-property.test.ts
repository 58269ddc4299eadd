import fc from "fast-check";
import { PunctualClient } from "punctual/client";
import { describe, expect, it } from "vitest";
import { propertyRuns } from "../../support/fast-check-runs.js";
import { addBodiesOf, type SeenRequest } from "./fakes.js";

/**
 * The batcher and `addTasks` against an API that answers each request in one of the ways a hostile or failing API
 * can (the scenarios one by one are in hostile-server, add-batching-failed and add-tasks-refused): every call ends,
 * each caller gets its own task (its id names its own add) or a PunctualError — never another caller's — and every
 * request for an add carries the one key it was given. Results swapped between adds of one topic are left out: an
 * item's answer names only its task, so no client can tell them apart (docs/API.md, `POST /v1/tasks/batch`).
 */
const MODES = [
  "added",
  "reversed",
  "one short",
  "one more",
  "first twice",
  "not JSON",
  "500",
  "503",
  "reset",
  "413",
  "item 503",
] as const;
type Mode = (typeof MODES)[number];

const idOf = (topic: unknown, n: unknown) =>
  `${String(topic)}.n${String(n)}.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY`;
const nOf = (body: Record<string, unknown>) => (body.content as { n: number }).n;

function respond(status: number, body: unknown): Response {
  return new Response(typeof body === "string" ? body : JSON.stringify(body), { status });
}

/** The batch answer in this mode for these add bodies (their true results, then what the mode does to them). */
function batchAnswer(mode: Mode, bodies: Record<string, unknown>[], pick: number): Response {
  let results: unknown[] = bodies.map((body) => ({
    status: 201,
    task_id: idOf(body.topic, nOf(body)),
    topic: body.topic,
    task_status: "scheduled",
    due_at: "2026-11-23T12:01:30.000Z",
  }));
  const distinctTopics = new Set(bodies.map((body) => body.topic)).size === bodies.length;
  if (mode === "reversed" && distinctTopics) results.reverse();
  if (mode === "one short") results = results.slice(1);
  if (mode === "one more") results.push(results[0]);
  if (mode === "first twice" && results.length > 1) results[1] = results[0];
  if (mode === "not JSON") return respond(200, '{"results":[');
  if (mode === "500") return respond(500, { message: "Internal Server Error" });
  if (mode === "503") return respond(503, { message: "Service Unavailable" });
  if (mode === "413") return respond(413, "<html>413 Request Entity Too Large</html>");
  if (mode === "item 503") {
    results[pick % results.length] = { status: 503, error: { code: "service_unavailable", message: "busy" } };
  }
  return respond(200, { results, added: results.length, failed: 0 });
}

/** A fetch answering request i in `modes[i]` ("added" past the end), recording every key each add was sent with. */
function hostileApi(modes: readonly Mode[], pick: number) {
  const keys = new Map<number, Set<unknown>>();
  let count = 0;
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request: SeenRequest = {
      url: new URL(String(input)),
      method: init?.method ?? "GET",
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      body: typeof init?.body === "string" ? init.body : undefined,
    };
    const batch = request.url.pathname.endsWith("/batch");
    const bodies = addBodiesOf(request);
    for (const body of bodies) {
      const key = batch ? body.idempotency_key : request.headers["idempotency-key"];
      keys.set(nOf(body), (keys.get(nOf(body)) ?? new Set()).add(key));
    }
    const mode = modes[count++] ?? "added";
    if (mode === "reset") {
      throw new TypeError("fetch failed", {
        cause: Object.assign(new Error("reset"), { code: "ECONNRESET" }),
      });
    }
    if (batch) return batchAnswer(mode, bodies, pick);
    if (mode === "500" || mode === "503") return batchAnswer(mode, bodies, pick);
    const [body] = bodies as [Record<string, unknown>];
    return respond(201, {
      task_id: idOf(body.topic, nOf(body)),
      topic: body.topic,
      status: "scheduled",
      due_at: "2026-11-23T12:01:30.000Z",
    });
  };
  return { fetch, keys };
}

const scenario = fc.record({
  topics: fc.array(fc.constantFrom("a", "b", "c"), { minLength: 1, maxLength: 30 }),
  modes: fc.array(fc.constantFrom(...MODES), { maxLength: 40 }),
  maxInFlight: fc.integer({ min: 1, max: 3 }),
  pick: fc.nat(),
});

describe("batch adds against a hostile API (property)", () => {
  it("the batcher: each caller gets its own task or a PunctualError, every request for an add with its one key", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ topics, modes, maxInFlight, pick }) => {
        // Prepare
        const api = hostileApi(modes, pick);
        const client = new PunctualClient({
          apiUrl: "http://127.0.0.1:3000",
          fetch: api.fetch,
          sleep: async () => {},
          addBatching: { maxInFlight },
        });

        // Act
        const outcomes = await Promise.all(
          topics.map((topic, n) =>
            client.addTask({ topic, delay_seconds: 90, content: { n } }).then(
              (value) => ({ value }),
              (error: unknown) => ({ error }),
            ),
          ),
        );

        // Assess
        outcomes.forEach((outcome, n) => {
          if ("value" in outcome) expect(outcome.value.task_id).toBe(idOf(topics[n], n));
          else expect(outcome.error).toMatchObject({ name: "PunctualError" });
          expect(api.keys.get(n)?.size).toBe(1);
        });
      }),
      propertyRuns(200),
    );
  });

  it("addTasks: each result 2xx is its own item's task, or the call is a PunctualError; each item sent with its one key", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ topics, modes, pick }) => {
        // Prepare
        const api = hostileApi(modes, pick);
        const client = new PunctualClient({
          apiUrl: "http://127.0.0.1:3000",
          fetch: api.fetch,
          sleep: async () => {},
        });
        const tasks = topics.map((topic, n) => ({ topic, delay_seconds: 90, content: { n } }));

        // Act
        const answer = await client.addTasks({ tasks }).then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        );

        // Assess
        if ("error" in answer) expect(answer.error).toMatchObject({ name: "PunctualError" });
        else {
          expect(answer.value.results).toHaveLength(tasks.length);
          answer.value.results.forEach((result, n) => {
            if (result.status >= 200 && result.status < 300) expect(result.task_id).toBe(idOf(topics[n], n));
          });
        }
        for (const sent of api.keys.values()) expect(sent.size).toBe(1);
      }),
      propertyRuns(200),
    );
  });
});
