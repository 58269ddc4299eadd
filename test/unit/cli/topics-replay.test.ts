import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";

/** `punctual topics replay` in-process, against a fake API that answers its pages from a script. */
type Page = { status: number; body: unknown };

const page = (matched: number, replayed: number, failed: string[], next_cursor: string | null): Page => ({
  status: 200,
  body: {
    matched,
    replayed,
    failed: failed.map((task_id) => ({ task_id, reason: "status queued" })),
    next_cursor,
  },
});

// The API's answer to a page a storage error stopped part-way (shared/services/replay-topic.ts).
const stoppedPage: Page = {
  status: 503,
  body: {
    error: {
      code: "service_unavailable",
      message:
        "a storage call failed after 23 of the 60 matched tasks were replayed (each group in order); …",
      matched: 60,
      replayed: 23,
    },
  },
};

async function replay(pages: Page[], ...flags: string[]) {
  const sent: unknown[] = [];
  const fetch: typeof globalThis.fetch = async (_input, init) => {
    sent.push(JSON.parse(String(init?.body)));
    const next = pages.shift();
    if (!next) throw new Error("no more pages scripted");
    return new Response(JSON.stringify(next.body), {
      status: next.status,
      headers: { "content-type": "application/json" },
    });
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", ...flags, "topics", "replay", "orders"], io);
  return { code, out: out.join(""), err: err.join(""), sent };
}

describe("punctual topics replay: a page that fails after others were replayed", () => {
  it("--json: reports the totals of the pages replayed before the error, with the error, and exits 3", async () => {
    // Prepare: two pages replayed, the third stopped by a storage error.
    const pages = [page(1000, 998, ["orders.a", "orders.b"], "c1"), page(1000, 1000, [], "c2"), stoppedPage];

    // Act
    const run = await replay(pages, "--json");

    // Assess
    expect(run.code).toBe(3);
    expect(run.out).toBe("");
    expect(run.sent).toHaveLength(3);
    const report = JSON.parse(run.err);
    expect(report.error).toMatchObject({
      code: "service_unavailable",
      status: 503,
      matched: 60,
      replayed: 23,
    });
    expect(report.before_error).toEqual({
      pages: 2,
      matched: 2000,
      replayed: 1998,
      failed: [
        { task_id: "orders.a", reason: "status queued" },
        { task_id: "orders.b", reason: "status queued" },
      ],
    });
  });

  it("human: says how many were replayed before the error, then the error, and exits 3", async () => {
    // Prepare
    const pages = [page(1000, 998, ["orders.a", "orders.b"], "c1"), page(1000, 1000, [], "c2"), stoppedPage];

    // Act
    const run = await replay(pages);

    // Assess
    expect(run.code).toBe(3);
    expect(run.out).toBe("");
    expect(run.err).toMatch(/before the error: 2 pages, 2000 matched, 1998 replayed, 2 failed/);
    expect(run.err).toMatch(/orders\.a: status queued/);
    expect(run.err).toMatch(/error: service_unavailable \(HTTP 503\): a storage call failed after 23/);
  });

  it("a refused first page is reported as before (nothing done), exit 2", async () => {
    // Prepare
    const refused = { status: 400, body: { error: { code: "validation_failed", message: "bad cursor" } } };

    // Act
    const run = await replay([refused], "--json");

    // Assess
    expect(run.code).toBe(2);
    expect(JSON.parse(run.err)).toEqual({
      error: { code: "validation_failed", status: 400, message: "bad cursor", issues: [] },
    });
  });

  it("every page answered: prints the totals on stdout and exits 0", async () => {
    // Act
    const run = await replay([page(1000, 1000, [], "c1"), page(5, 4, ["orders.c"], null)], "--json");

    // Assess
    expect(run.code, run.err).toBe(0);
    expect(JSON.parse(run.out)).toEqual({
      matched: 1005,
      replayed: 1004,
      failed: [{ task_id: "orders.c", reason: "status queued" }],
    });
    expect(run.sent).toEqual([{}, { cursor: "c1" }]);
  });

  it("a task that stops the replay twice (the route answers the cursor it was sent): says so, with the totals, exit 3", async () => {
    // Prepare: the second page stops at a group's head whose send failed; the third, sent just before it, stops
    // there again and answers that same cursor (shared/services/replay-topic.ts resumes before a task left behind)
    const pages = [
      page(1000, 1000, [], "c1"),
      page(40, 39, ["orders.head"], "c2"),
      page(1, 0, ["orders.head"], "c2"),
    ];

    // Act
    const run = await replay(pages);

    // Assess: three calls only, and the reason named as it is, not as an API answering a cursor twice
    expect(run.code).toBe(3);
    expect(run.sent).toEqual([{}, { cursor: "c1" }, { cursor: "c2" }]);
    expect(run.err).toMatch(/before the error: 3 pages, 1041 matched, 1039 replayed, 2 failed/);
    expect(run.err).toMatch(/replay_stopped_at_failure.*stopped twice at the same task/);
    expect(run.err).not.toMatch(/a second time/);
  });
});
