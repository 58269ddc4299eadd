import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";

/**
 * `punctual --json <command>` in-process against a stand-in API that answers every request with this status (a
 * `tasks get` unless told); the idempotency keys it was sent, in order.
 */
async function answered(
  status: number,
  headers: Record<string, string> = {},
  command: readonly string[] = ["tasks", "get", "demo.x"],
) {
  let requests = 0;
  const keys: string[] = [];
  const fetch: typeof globalThis.fetch = async (_input, init) => {
    requests++;
    const key = ((init?.headers ?? {}) as Record<string, string>)["idempotency-key"];
    if (key !== undefined) keys.push(key);
    return new Response(JSON.stringify({ message: "Too Many Requests" }), {
      status,
      headers: { "content-type": "application/json", ...headers },
    });
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
  const argv = ["--api", "http://127.0.0.1:3000", "--json", ...command];
  const code = await main(argv, io);
  return { code, out: out.join(""), err: err.join(""), requests, keys };
}

const getAnswered = (status: number, headers: Record<string, string> = {}) => answered(status, headers);

/**
 * Each 5xx a whole request may meet (docs/API.md's per-status table, "Typed client"), with the exit code it must
 * give: 3 ("may be retried") only where the client itself retries, 4 where it does not because a repeat does not
 * mend it, which a script reading 3 as "run it again" would otherwise repeat forever.
 */
const SERVER_ERRORS: readonly (readonly [number, 3 | 4])[] = [
  [500, 4],
  [501, 4],
  [502, 3],
  [503, 3],
  [504, 3],
  [505, 4],
  [507, 4],
  [508, 4],
  [511, 4],
  [520, 3],
  [521, 3],
  [522, 3],
  [523, 3],
  [524, 3],
  [525, 4],
  [526, 4],
  [527, 4],
  [530, 4],
  [599, 4],
];

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

  it.each(SERVER_ERRORS)(
    "a %i the API keeps answering: exit %i, after the client's tries (all 4 where it retries, else 1)",
    async (status, expected) => {
      // Act: a Retry-After of 0, so that the client's retries do not wait.
      const run = await getAnswered(status, { "retry-after": "0" });

      // Assess
      expect(run.code).toBe(expected);
      expect(run.requests).toBe(expected === 3 ? 4 : 1);
      expect(JSON.parse(run.err)).toMatchObject({ error: { status } });
      expect(run.out).toBe("");
    },
  );
});

describe("tasks cancel answered 202 (the task's callback in flight: its cancel requested)", () => {
  it("exits 0 with the view on stdout, and says on stderr that the task stops after its current attempt", async () => {
    // Prepare: the API answers the DELETE 202 with the task still delivering, its cancel requested
    const id = "demo._.mhx0z8ka.01JD3AAAAAAAAAAAAAAAAAAAAA";
    const view = {
      task_id: id,
      topic: "demo",
      status: "delivering",
      due_at: "2026-11-23T12:01:30.000Z",
      accepted_at: "2026-11-23T12:00:00.000Z",
      attempts: 2,
      callback_url: "https://hooks.example.com/n",
      attempt_log: [],
      cancel_requested: true,
    };
    const fetch: typeof globalThis.fetch = async () =>
      new Response(JSON.stringify(view), { status: 202, headers: { "content-type": "application/json" } });
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };

    // Act
    const code = await main(["--api", "http://127.0.0.1:3000", "--json", "tasks", "cancel", id], io);

    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(out.join(""))).toMatchObject({ status: "delivering", cancel_requested: true });
    expect(err.join("")).toContain("ends after that attempt (delivered if it succeeds, cancelled otherwise)");
  });
});

describe("a tasks add without a key that exits 4: the key it sent, only where the add may have been made", () => {
  const add = ["tasks", "add", "--topic", "demo", "--delay", "5", "--content", "{}"];

  it("500 (the function failed, maybe after it wrote the task): exit 4, and the key to run it again with", async () => {
    // Act
    const run = await answered(500, {}, add);

    // Assess
    expect(run.code).toBe(4);
    expect(run.keys).toHaveLength(1);
    expect(JSON.parse(run.err)).toMatchObject({
      error: { status: 500 },
      retry: { idempotency_key: run.keys[0] },
    });
  });

  it.each([501, 505])("%i (the request was not served at all): exit 4, and no key", async (status) => {
    // Act
    const run = await answered(status, {}, add);

    // Assess
    expect(run.code).toBe(4);
    expect(JSON.parse(run.err)).not.toHaveProperty("retry");
  });
});

describe("a 3xx redirect (the client never follows one: the credentials stay with the API URL's host)", () => {
  // CloudFront's redirect-to-https answers an http:// URL 301 with the https one, forwarding nothing to the origin
  // (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_AwsCloudFrontDistributionCacheBehavior.html),
  // and no route of the API redirects: a 3xx is the URL's mistake, which no repeat mends.
  const add = ["tasks", "add", "--topic", "demo", "--delay", "5", "--content", "{}"];
  const location = { location: "https://api.example.com/v1/tasks/demo.x" };

  it.each([301, 302, 303, 307, 308])(
    "%i: exit 4 (do not loop on it), not 3 (may be retried), the error naming where it points",
    async (status) => {
      // Act
      const run = await answered(status, location);

      // Assess
      expect(run.code).toBe(4);
      expect(run.requests).toBe(1);
      const { error } = JSON.parse(run.err);
      expect(error).toMatchObject({ status });
      expect(error.message).toContain("https://api.example.com/v1/tasks/demo.x");
    },
  );

  it("a tasks add without a key: nothing was added, so no key to run it again with", async () => {
    // Act
    const run = await answered(301, location, add);

    // Assess
    expect(run.code).toBe(4);
    expect(JSON.parse(run.err)).not.toHaveProperty("retry");
  });
});

describe("tasks add-batch: a batch answered 200 with items not added", () => {
  /** Each item's result as the stand-in API answers it. */
  async function batchAnswered(statuses: readonly number[]) {
    const dir = await mkdtemp(path.join(tmpdir(), "punctual-exit-"));
    const file = path.join(dir, "tasks.json");
    const item = (n: number) => ({
      topic: "demo",
      delay_seconds: 5,
      content: { n },
      idempotency_key: `k-${n}`,
    });
    await writeFile(file, JSON.stringify(statuses.map((_, n) => item(n))));
    const results = statuses.map((status) => ({ status, error: { code: "x", message: `HTTP ${status}` } }));
    const fetch: typeof globalThis.fetch = async () =>
      new Response(JSON.stringify({ results, added: 0, failed: results.length }), {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    const io = { out: () => {}, err: () => {}, env: {}, fetch };
    return main(["--api", "http://127.0.0.1:3000", "--json", "tasks", "add-batch", "--file", file], io);
  }

  it.each([
    [[500, 400], 4],
    [[501], 4],
    [[400, 404], 2],
  ] as const)("items answered %j: exit %i", async (statuses, expected) => {
    expect(await batchAnswered(statuses)).toBe(expected);
  });
});
