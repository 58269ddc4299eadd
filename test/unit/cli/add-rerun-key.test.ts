import { describe, expect, it, vi } from "vitest";
import { main } from "../../../cli/main.js";

// The client's backoff between tries (random, up to 1.4 s a command; up to 1.2 s a test measured on a loaded
// 2-core host) passes at once: what is sent and printed is the point here, not the waiting.
vi.mock("node:timers/promises", async (importOriginal) => ({
  ...(await importOriginal<typeof import("node:timers/promises")>()),
  setTimeout: async <T>(_ms?: number, value?: T) => value,
}));

/**
 * `tasks add` whose every try failed in a way that may still have added the task (a timeout after the API wrote
 * it, a 503 from a proxy after the function ran): exit 3 says "may be retried", and a second run makes a new key.
 */
async function run(argv: string[], answer: () => Promise<Response>) {
  const keys: string[] = [];
  const fetch: typeof globalThis.fetch = async (_input, init) => {
    keys.push(((init?.headers ?? {}) as Record<string, string>)["idempotency-key"] as string);
    return answer();
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", ...argv], io);
  return { code, out: out.join(""), err: err.join(""), keys };
}

const add = ["tasks", "add", "--topic", "demo", "--delay", "5", "--content", "{}"];
const noAnswer = async (): Promise<Response> => {
  throw new TypeError("fetch failed");
};
const unavailable = async () =>
  new Response(JSON.stringify({ error: { code: "service_unavailable", message: "busy" } }), { status: 503 });
const refused = async () =>
  new Response(JSON.stringify({ error: { code: "unknown_topic", message: "unknown topic" } }), {
    status: 400,
  });

describe("tasks add that fails after tries that may have added the task", () => {
  it.each([
    ["no answer", noAnswer],
    ["503", unavailable],
  ])("%s: exit 3, and the error names the key it sent, to run it again with", async (_what, answer) => {
    // Act
    const result = await run(add, answer);

    // Assess
    expect(result.code).toBe(3);
    expect(new Set(result.keys).size).toBe(1);
    expect(result.err).toContain(`--idempotency-key ${result.keys[0]}`);
  });

  it("Ctrl-C while the add is unanswered: exit 3, and the error names the key it sent (a second run would make another)", async () => {
    // Prepare: the request hangs and the user presses Ctrl-C — which ends the process there and then unless the
    // command took the interrupt
    const keys: string[] = [];
    let interrupt: (() => void) | undefined;
    let killed = false;
    const teardown = new AbortController();
    const fetch: typeof globalThis.fetch = async (_input, init) => {
      keys.push(((init?.headers ?? {}) as Record<string, string>)["idempotency-key"] as string);
      if (interrupt) interrupt();
      else killed = true;
      const gone = AbortSignal.any(
        [init?.signal, teardown.signal].filter((s): s is AbortSignal => s != null),
      );
      return new Promise<Response>((_, reject) => {
        if (gone.aborted) reject(gone.reason);
        gone.addEventListener("abort", () => reject(gone.reason), { once: true });
      });
    };
    const err: string[] = [];
    const io = {
      out: () => {},
      err: (t: string) => void err.push(t),
      env: {},
      fetch,
      onInterrupt: (stop: () => void) => {
        interrupt = stop;
        return () => {
          interrupt = undefined;
        };
      },
    };

    // Act
    const running = main(["--api", "http://127.0.0.1:3000", "--json", ...add], io);
    const code = await Promise.race([running, vi.waitUntil(() => killed).then(() => "killed" as const)]);
    teardown.abort(new Error("test over"));
    await running;

    // Assess
    expect(code).toBe(3);
    expect(JSON.parse(err.join(""))).toMatchObject({ retry: { idempotency_key: keys[0] } });
  });

  it("--json: the key is in the error document, beside the error", async () => {
    // Act
    const result = await run(["--json", ...add], unavailable);

    // Assess
    expect(result.code).toBe(3);
    expect(result.out).toBe("");
    const printed = JSON.parse(result.err);
    expect(printed.error).toMatchObject({ code: "service_unavailable", status: 503 });
    expect(printed.retry).toEqual({ idempotency_key: result.keys[0] });
  });

  it("a refusal (exit 2: nothing was added) prints no key", async () => {
    // Act
    const result = await run(add, refused);

    // Assess
    expect(result.code).toBe(2);
    expect(result.err).not.toMatch(/idempotency/);
  });

  it("a key given is the one sent, and not printed back", async () => {
    // Act
    const result = await run([...add, "--idempotency-key", "order-A-1"], unavailable);

    // Assess
    expect(result.code).toBe(3);
    expect(new Set(result.keys)).toEqual(new Set(["order-A-1"]));
    expect(result.err).not.toMatch(/--idempotency-key/);
  });
});
