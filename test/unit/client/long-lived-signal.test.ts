/**
 * One AbortSignal given to every call for as long as the process runs (a server's shutdown signal) is a common use of
 * `signal`. Node keeps, on a signal, the signals that follow it (AbortSignal.any), and on the Node lines this
 * package supports it keeps them for as long as that signal lives (nodejs/node#55351, #64476): a client that made one
 * per attempt grew that list, and the process's memory, by one entry per request, for good.
 */
import { PunctualClient } from "punctual/client";
import { describe, expect, it } from "vitest";
import { scriptedFetch, taskId, taskViewAnswer } from "./fakes.js";

/**
 * How many signals Node has follow this one: its internal `kDependantSignals` set. Read through a probe first
 * (`followersReadable`), so that a Node that renames it fails this test instead of passing it unseen.
 */
function followers(signal: AbortSignal): number {
  const key = Object.getOwnPropertySymbols(signal).find((s) => s.description === "kDependantSignals");
  const set = key ? (signal as unknown as Record<symbol, Set<unknown> | undefined>)[key] : undefined;
  return set?.size ?? 0;
}

function followersReadable(): boolean {
  const probe = new AbortController();
  AbortSignal.any([probe.signal]);
  return followers(probe.signal) === 1;
}

/** A request that never answers: it fails only when its signal aborts (at once if it already has), as fetch does. */
const hungFetch: typeof globalThis.fetch = (_input, init) =>
  new Promise((_, reject) => {
    const signal = init?.signal;
    if (signal?.aborted) reject(signal.reason);
    signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
  });

describe("a long-lived signal given to every call", () => {
  it("has nothing following it once the calls are done (no per-request leak)", async () => {
    // Prepare
    expect(followersReadable()).toBe(true);
    const shutdown = new AbortController();
    const ids = Array.from({ length: 20 }, () => taskId());
    const { fetch } = scriptedFetch(...ids.map((id) => ({ status: 200, body: taskViewAnswer(id) })));
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch, addBatching: false });

    // Act
    for (const id of ids) await client.getTask(id, { signal: shutdown.signal });

    // Assess
    expect(followers(shutdown.signal)).toBe(0);
  });

  it("still ends a call in flight when it aborts, with its reason", async () => {
    // Prepare: a request that hangs, and a way to know it is out.
    const shutdown = new AbortController();
    let sent: () => void = () => {};
    const out = new Promise<void>((resolve) => {
      sent = resolve;
    });
    const fetch: typeof globalThis.fetch = (input, init) => {
      sent();
      return hungFetch(input, init);
    };
    const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch, addBatching: false });

    // Act: aborted once the request is out.
    const call = client.getTask(taskId(), { signal: shutdown.signal }).catch((e: unknown) => e);
    await out;
    shutdown.abort(new Error("shutting down"));

    // Assess
    expect(await call).toMatchObject({ message: "shutting down" });
  });

  it("a call's per-attempt timeout still fails a hung attempt as network_error", async () => {
    // Prepare
    const client = new PunctualClient({
      apiUrl: "http://127.0.0.1:3000",
      fetch: hungFetch,
      addBatching: false,
      timeoutMs: 5,
      retry: { maxAttempts: 2 },
      sleep: async () => {},
    });

    // Act
    const error = await client.getTask(taskId(), { signal: new AbortController().signal }).catch((e) => e);

    // Assess
    expect(error).toMatchObject({ code: "network_error", status: 0 });
    expect((error as Error).message).toMatch(/after 2 attempts: .*timeout/);
  });
});
