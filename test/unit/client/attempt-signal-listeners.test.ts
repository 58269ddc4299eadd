/**
 * Each attempt follows the call's `signal` through a listener of its own (client/client.ts `attemptSignal`), not
 * AbortSignal.any: that listener must be gone once the call is over, whichever way it ended (an answer, a refusal,
 * a retried failure, a body not read, an abort), or one long-lived signal given to every call gathers one per
 * attempt, for good; and it must still end an attempt at once when the signal aborts, and on its timeout.
 */
import { getEventListeners } from "node:events";
import { PunctualClient } from "punctual/client";
import { describe, expect, it } from "vitest";
import {
  addedAnswer,
  answeringFetch,
  type Scripted,
  scriptedFetch,
  taskId,
  taskViewAnswer,
} from "./fakes.js";

const id = taskId();
const ok: Scripted = { status: 200, body: taskViewAnswer(id) };
const paths: { name: string; script: Scripted[] }[] = [
  { name: "an answer", script: [ok] },
  { name: "a 503 then an answer (a retry)", script: [{ status: 503, body: {} }, ok] },
  { name: "a network error then an answer", script: [{ networkError: "ECONNRESET" }, ok] },
  {
    name: "network errors to the last attempt",
    script: [1, 2, 3].map(() => ({ networkError: "ECONNRESET" })),
  },
  {
    name: "a refusal (404)",
    script: [{ status: 404, body: { error: { code: "not_found", message: "no" } } }],
  },
  { name: "a 2xx not the schema's, each attempt", script: [1, 2, 3].map(() => ({ status: 200, body: {} })) },
  { name: "a redirect", script: [{ status: 301, headers: { location: "https://x.example/" } }] },
];

describe("the call's signal after each way a call ends", () => {
  for (const path of paths) {
    it(`${path.name}: no listener left on it`, async () => {
      // Prepare
      const signal = new AbortController().signal;
      const { fetch } = scriptedFetch(...path.script);
      const client = new PunctualClient({
        apiUrl: "http://127.0.0.1:3000",
        fetch,
        addBatching: false,
        retry: { maxAttempts: 3 },
        sleep: async () => {},
      });

      // Act
      await client.getTask(id, { signal }).catch(() => undefined);

      // Assess
      expect(getEventListeners(signal, "abort")).toHaveLength(0);
    });
  }

  it("an abort while the answer's body is being read ends the call at once, with its reason", async () => {
    // Prepare: headers answered, the body never finishing until the attempt's signal aborts
    const caller = new AbortController();
    let headersSent: () => void = () => {};
    const out = new Promise<void>((resolve) => {
      headersSent = resolve;
    });
    const fetch: typeof globalThis.fetch = async (_input, init) => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"task_id":'));
          init?.signal?.addEventListener("abort", () => controller.error(init.signal?.reason), {
            once: true,
          });
        },
      });
      headersSent();
      return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
    };
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch, addBatching: false });

    // Act
    const call = client.getTask(id, { signal: caller.signal }).catch((e: unknown) => e);
    await out;
    caller.abort(new Error("shutting down"));

    // Assess
    expect(await call).toMatchObject({ message: "shutting down" });
    expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
  });

  it("a body that drips past the attempt's timeout is cut as network_error, and retried", async () => {
    // Prepare
    const fetch: typeof globalThis.fetch = async (_input, init) => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          init?.signal?.addEventListener("abort", () => controller.error(init.signal?.reason), {
            once: true,
          });
        },
      });
      return new Response(body, { status: 200 });
    };
    const signal = new AbortController().signal;
    const client = new PunctualClient({
      apiUrl: "http://127.0.0.1:3000",
      fetch,
      addBatching: false,
      timeoutMs: 5,
      retry: { maxAttempts: 2 },
      sleep: async () => {},
    });

    // Act
    const error = await client.getTask(id, { signal }).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: "network_error", status: 0 });
    expect((error as Error).message).toMatch(/after 2 attempts/);
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });

  it("addTask batched (several in flight, one signal for all): no listener left once all are answered", async () => {
    // Prepare
    const signal = new AbortController().signal;
    const { fetch, seen } = answeringFetch(addedAnswer);
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch });

    // Act
    const adds = Array.from({ length: 12 }, (_, n) =>
      client.addTask({ topic: "demo", delay_seconds: 90, content: { n } }, { signal }),
    );
    await Promise.all(adds);

    // Assess: batched indeed, and nothing kept on the signal
    expect(seen.some((request) => request.url.pathname.endsWith("/batch"))).toBe(true);
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });
});
