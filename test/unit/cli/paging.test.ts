import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";

/** The CLI commands that follow the API's cursor, against a fake API answering their pages from a script. */
type Page = { status: number; body: unknown };

async function run(pages: Page[], argv: string[]) {
  const sent: string[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    sent.push(`${init?.method ?? "GET"} ${String(input)}`);
    const next = pages.shift();
    if (!next) throw new Error(`no more pages scripted (request ${sent.length})`);
    return new Response(JSON.stringify(next.body), {
      status: next.status,
      headers: { "content-type": "application/json" },
    });
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", ...argv], io);
  return { code, out: out.join(""), err: err.join(""), sent };
}

const failedCall: Page = { status: 500, body: { error: { code: "internal_error", message: "boom" } } };
const cancelPage = (cancelled: number, next: string | null): Page => ({
  status: 200,
  body: {
    cancelled,
    not_cancelled: [{ task_id: `orders.t${cancelled}`, status: "delivered" }],
    more: next !== null,
    next_cursor: next,
  },
});
const GROUP_CANCEL = ["groups", "cancel", "--topic", "orders", "--group", "A-1"];

describe("groups cancel: a page that fails after others were cancelled", () => {
  it("--json: reports the totals of the pages cancelled before the error, with the error, and exits 3", async () => {
    // Act
    const run1 = await run(
      [cancelPage(100, "c1"), cancelPage(40, "c2"), failedCall],
      ["--json", ...GROUP_CANCEL],
    );

    // Assess
    expect(run1.code).toBe(3);
    expect(run1.out).toBe("");
    const report = JSON.parse(run1.err);
    expect(report.error).toMatchObject({ code: "internal_error", status: 500 });
    expect(report.before_error).toEqual({
      pages: 2,
      cancelled: 140,
      not_cancelled: [
        { task_id: "orders.t100", status: "delivered" },
        { task_id: "orders.t40", status: "delivered" },
      ],
    });
  });

  it("human: says how many were cancelled before the error", async () => {
    // Act
    const run1 = await run([cancelPage(100, "c1"), failedCall], GROUP_CANCEL);

    // Assess
    expect(run1.code).toBe(3);
    expect(run1.err).toMatch(/before the error: 1 page, 100 cancelled, 1 not cancelled/);
    expect(run1.err).toMatch(/error: internal_error \(HTTP 500\): boom/);
  });
});

describe("a cursor the API gave before: the command stops instead of looping forever", () => {
  it("topics replay", async () => {
    // Prepare: the API answers the same cursor again and again.
    const stuck = { status: 200, body: { matched: 0, replayed: 0, failed: [], next_cursor: "c1" } };

    // Act
    const result = await run([stuck, stuck, stuck], ["--json", "topics", "replay", "orders"]);

    // Assess
    expect(result.code).toBe(3);
    expect(result.sent).toHaveLength(2);
    expect(JSON.parse(result.err).error).toMatchObject({ code: "invalid_response" });
  });

  it("groups cancel", async () => {
    // Act
    const result = await run([cancelPage(0, "c1"), cancelPage(0, "c1"), cancelPage(0, "c1")], GROUP_CANCEL);

    // Assess
    expect(result.code).toBe(3);
    expect(result.sent).toHaveLength(2);
    expect(result.err).toMatch(/invalid_response/);
  });

  it("schedules list", async () => {
    // Prepare
    const stuck = { status: 200, body: { schedules: [], next_cursor: "c1" } };

    // Act
    const result = await run([stuck, stuck, stuck], ["schedules", "list", "--topic", "orders"]);

    // Assess
    expect(result.code).toBe(3);
    expect(result.sent).toHaveLength(2);
    expect(result.err).toMatch(/invalid_response/);
  });
});
