import { randomUUID } from "node:crypto";

/** What the fake fetch saw of one request. */
export interface SeenRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
}

/** One scripted answer: a status with a JSON body (and headers), or a thrown network error. */
export type Scripted =
  | { readonly status: number; readonly body?: unknown; readonly headers?: Record<string, string> }
  | { readonly networkError: string };

/**
 * A `fetch` that answers from a script, in order, and records every request; a request past the script's end
 * fails the test loudly.
 */
export function scriptedFetch(...script: Scripted[]) {
  const seen: SeenRequest[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const url = new URL(String(input));
    seen.push({
      url,
      method: init?.method ?? "GET",
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      body: typeof init?.body === "string" ? init.body : undefined,
    });
    const next = script[seen.length - 1];
    if (!next) throw new Error(`unexpected request #${seen.length}: ${init?.method} ${url}`);
    if ("networkError" in next) {
      throw new TypeError("fetch failed", {
        cause: Object.assign(new Error(next.networkError), { code: next.networkError }),
      });
    }
    const text =
      next.body === undefined ? "" : typeof next.body === "string" ? next.body : JSON.stringify(next.body);
    return new Response(text, { status: next.status, headers: next.headers ?? {} });
  };
  return { fetch, seen };
}

/** A sleep that records what it was asked to wait and returns at once. */
export function recordingSleep() {
  const waits: number[] = [];
  return { sleep: async (ms: number) => void waits.push(ms), waits };
}

export function taskId(topic = "demo"): string {
  return `${topic}.${randomUUID().replaceAll("-", "").slice(0, 16)}.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY`;
}

export function addAnswer(id: string) {
  return { task_id: id, topic: "demo", status: "scheduled", due_at: "2026-11-23T12:01:30.000Z" };
}

export function taskViewAnswer(id: string, overrides: Record<string, unknown> = {}) {
  return {
    task_id: id,
    topic: "demo",
    status: "scheduled",
    due_at: "2026-11-23T12:01:30.000Z",
    accepted_at: "2026-11-23T12:00:00.000Z",
    attempts: 0,
    callback_url: "https://hooks.example.com/punctual",
    attempt_log: [],
    ...overrides,
  };
}
