import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";

/** `punctual --json tasks get` in-process against an API that answers every request with this status. */
async function getAnswered(status: number, headers: Record<string, string> = {}) {
  let requests = 0;
  const fetch: typeof globalThis.fetch = async () => {
    requests++;
    return new Response(JSON.stringify({ message: "Too Many Requests" }), {
      status,
      headers: { "content-type": "application/json", ...headers },
    });
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
  const argv = ["--api", "http://127.0.0.1:3000", "--json", "tasks", "get", "demo.x"];
  const code = await main(argv, io);
  return { code, out: out.join(""), err: err.join(""), requests };
}

describe("exit codes", () => {
  it("exits 3 (may be retried), not 2 (fix the request), when the API still throttles (429) after the client's retries", async () => {
    // Act: API Gateway's throttling answer, a Retry-After of 0 so that the client's retries do not wait.
    const run = await getAnswered(429, { "retry-after": "0" });

    // Assess: nothing is wrong with the request; a script should send it again later, not give it up.
    expect(run.requests).toBe(4);
    expect(run.code).toBe(3);
    expect(JSON.parse(run.err)).toMatchObject({ error: { status: 429 } });
    expect(run.out).toBe("");
  });

  it("still exits 2 for a request the API refused (404)", async () => {
    const run = await getAnswered(404);

    expect(run.requests).toBe(1);
    expect(run.code).toBe(2);
  });
});
