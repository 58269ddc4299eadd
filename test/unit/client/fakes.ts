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
    const request = seenRequest(input, init);
    seen.push(request);
    const next = script[seen.length - 1];
    if (!next) throw new Error(`unexpected request #${seen.length}: ${request.method} ${request.url}`);
    return scriptedResponse(next);
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

/** A schedule's view as the API answers it (topic `topic`), with `overrides` on top. */
export function scheduleViewAnswer(topic = "demo", overrides: Record<string, unknown> = {}) {
  return {
    schedule_id: `${topic}.schedule.01JD3BBBBBBBBBBBBBBBBBBBBB`,
    topic,
    cron: "@daily",
    timezone: "UTC",
    status: "active",
    content: "{}",
    created_at: "2026-11-23T12:00:00.000Z",
    updated_at: "2026-11-23T12:00:00.000Z",
    materialized_until: "2026-11-23T12:00:00.000Z",
    next_occurrences: [],
    ...overrides,
  };
}

/** A topic's view as the API answers it (`topic`, running, empty), with `overrides` on top. */
export function topicViewAnswer(topic = "demo", overrides: Record<string, unknown> = {}) {
  return {
    topic,
    paused: false,
    settings: {},
    backlog: { waiting: 0, in_flight: 0 },
    oldest_age_seconds: null,
    dead_letter_count: 0,
    ...overrides,
  };
}

/** A destination's circuit as the API answers it (`hooks.example.com` on `topic`, closed), with `overrides` on top. */
export function destinationViewAnswer(topic = "demo", overrides: Record<string, unknown> = {}) {
  return {
    topic,
    host: "hooks.example.com",
    state: "closed",
    failures: 0,
    opened_at: null,
    next_probe_at: null,
    last_error: null,
    last_failure_at: null,
    in_flight: 0,
    ...overrides,
  };
}

/** A request `heldFetch` keeps open until the test answers it. */
export interface HeldRequest extends SeenRequest {
  answer(reply: Scripted): void;
}

function seenRequest(
  input: Parameters<typeof globalThis.fetch>[0],
  init: RequestInit | undefined,
): SeenRequest {
  return {
    url: new URL(String(input)),
    method: init?.method ?? "GET",
    headers: Object.fromEntries(new Headers(init?.headers).entries()),
    body: typeof init?.body === "string" ? init.body : undefined,
  };
}

function scriptedResponse(reply: Scripted): Response {
  if ("networkError" in reply) {
    throw new TypeError("fetch failed", {
      cause: Object.assign(new Error(reply.networkError), { code: reply.networkError }),
    });
  }
  const text =
    reply.body === undefined ? "" : typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
  return new Response(text, { status: reply.status, headers: reply.headers ?? {} });
}

/**
 * A `fetch` that holds every request until the test answers it, so the test decides when each request finishes
 * (what requests are in flight when a call is made). `arrival(i)` resolves once request `i` (from 0) was made;
 * an aborted request rejects as real fetch does.
 */
export function heldFetch() {
  const held: HeldRequest[] = [];
  const waiting = new Map<number, (request: HeldRequest) => void>();
  const fetch: typeof globalThis.fetch = (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const request: HeldRequest = {
        ...seenRequest(input, init),
        answer: (reply) => {
          try {
            resolve(scriptedResponse(reply));
          } catch (error) {
            reject(error);
          }
        },
      };
      init?.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true });
      held.push(request);
      waiting.get(held.length - 1)?.(request);
    });
  const arrival = (index: number): Promise<HeldRequest> => {
    const request = held[index];
    return request ? Promise.resolve(request) : new Promise((resolve) => waiting.set(index, resolve));
  };
  return { fetch, seen: held as readonly SeenRequest[], arrival };
}

/** A `fetch` that answers every request at once with what `reply` makes of it, and records them all. */
export function answeringFetch(reply: (request: SeenRequest) => Scripted) {
  const seen: SeenRequest[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request = seenRequest(input, init);
    seen.push(request);
    return scriptedResponse(reply(request));
  };
  return { fetch, seen };
}

/** The add bodies a request carried: the one of `POST /v1/tasks`, every item of `POST /v1/tasks/batch`. */
export function addBodiesOf(request: SeenRequest): Record<string, unknown>[] {
  const body = JSON.parse(request.body ?? "null") as Record<string, unknown>;
  return request.url.pathname.endsWith("/batch") ? (body.tasks as Record<string, unknown>[]) : [body];
}

/** The task id the fakes answer for an add body: from its `content.n`, so a caller can check it got its own. */
export function taskIdOfBody(body: Record<string, unknown>): string {
  return `demo.n${(body.content as { n: number }).n}.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY`;
}

/** Every add added (201): a single add's answer, or a batch's with one 201 result per item. */
export function addedAnswer(request: SeenRequest): Scripted {
  const answers = addBodiesOf(request).map((body) => addAnswer(taskIdOfBody(body)));
  if (!request.url.pathname.endsWith("/batch")) return { status: 201, body: answers[0] };
  return { status: 200, body: batchOf(answers.map((answer) => ({ httpStatus: 201, answer }))) };
}

/** A batch answer from each item's HTTP status and its single add's answer body (or error body). */
export function batchOf(
  items: readonly { readonly httpStatus: number; readonly answer: Record<string, unknown> }[],
) {
  const results = items.map(({ httpStatus, answer }) => {
    if ("error" in answer) return { status: httpStatus, ...answer };
    const { status, ...task } = answer;
    return { status: httpStatus, ...task, task_status: status };
  });
  const added = results.filter((result) => result.status < 300).length;
  return { results, added, failed: results.length - added };
}

/** Add `n` of a numbered run (the batch tests' items): the number in its content tells the items apart. */
export const numberedItem = (n: number) => ({ topic: "demo", delay_seconds: 90, content: { n } });
/** Items `from` … `to` − 1 of the numbered run. */
export const numberedItems = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => numberedItem(from + i));
/** Which numbered items a batch request carried, in its order. */
export const numbersSent = (request: SeenRequest) =>
  addBodiesOf(request).map((body) => (body.content as { n: number }).n);
/** The idempotency keys a batch request's items carried, in its order. */
export const keysSent = (request: SeenRequest) => addBodiesOf(request).map((body) => body.idempotency_key);
/** The task ids `addedAnswer` gives the numbered items. */
export const numberedTaskIds = (ns: readonly number[]) => ns.map((n) => taskIdOfBody(numberedItem(n)));
