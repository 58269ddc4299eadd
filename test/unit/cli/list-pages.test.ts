import { describe, expect, it, vi } from "vitest";
import { main } from "../../../cli/main.js";
import { jsonLine } from "../../../cli/output.js";
import { tableRows } from "../../support/cli-table.js";
import { scheduleViewAnswer } from "../client/fakes.js";

// The client's backoff between tries passes at once: what is asked for and printed is the point here.
vi.mock("node:timers/promises", async (importOriginal) => ({
  ...(await importOriginal<typeof import("node:timers/promises")>()),
  setTimeout: async <T>(_ms?: number, value?: T) => value,
}));

/**
 * The listings that follow the API's cursor to the end (`schedules list`, `destinations list`) print each page as it
 * arrives and keep none: a broken or hostile API answering full pages with a fresh cursor up to the page cap (10,000
 * pages of up to 10 MB) filled the CLI's memory with every page before it printed anything. A fake API answers the
 * pages from a script, and records what stdout held when each page was asked for.
 */
type Page = { status: number; body: unknown };

/** `drained` stands for stdout's (CliIo `drained`), given how many requests were sent so far. */
async function run(
  pages: Page[],
  argv: readonly string[],
  drained?: (requests: () => number) => Promise<void>,
) {
  const out: string[] = [];
  const err: string[] = [];
  /** What stdout held when each request was sent. */
  const outAtRequest: string[] = [];
  const fetch: typeof globalThis.fetch = async () => {
    outAtRequest.push(out.join(""));
    const next = pages.shift();
    if (!next) throw new Error(`no more pages scripted (request ${outAtRequest.length})`);
    return new Response(JSON.stringify(next.body), {
      status: next.status,
      headers: { "content-type": "application/json" },
    });
  };
  const io = {
    out: (t: string) => void out.push(t),
    err: (t: string) => void err.push(t),
    env: {},
    fetch,
    ...(drained ? { drained: () => drained(() => outAtRequest.length) } : {}),
  };
  const code = await main(["--api", "http://127.0.0.1:3000", ...argv], io);
  return { code, out: out.join(""), err: err.join(""), outAtRequest };
}

const schedule = (n: number) =>
  scheduleViewAnswer("orders", { schedule_id: `orders.schedule.01JD3BBBBBBBBBBBBBBBBBBB${n}` });
const destination = (n: number) => ({
  topic: "orders",
  host: `hooks${n}.example.com`,
  state: "open",
  failures: 5,
  opened_at: "2026-11-23T12:00:00.000Z",
  next_probe_at: "2026-11-23T12:01:00.000Z",
  last_error: "HTTP 503",
  last_failure_at: "2026-11-23T12:00:00.000Z",
  in_flight: 0,
});

const LISTINGS = [
  {
    name: "schedules list",
    argv: ["schedules", "list", "--topic", "orders"],
    field: "schedules",
    item: schedule,
    idOf: (item: Record<string, unknown>) => String(item.schedule_id),
  },
  {
    name: "destinations list",
    argv: ["destinations", "list"],
    field: "destinations",
    item: destination,
    idOf: (item: Record<string, unknown>) => String(item.host),
  },
] as const;

describe.each(LISTINGS)("$name: each page printed as it arrives", ({ argv, field, item, idOf }) => {
  /** Page `n` of a list of `pages`, two items each (numbered from 2n - 1). */
  const page = (n: number, pages: number): Page => ({
    status: 200,
    body: { [field]: [item(2 * n - 1), item(2 * n)], next_cursor: n < pages ? `c${n}` : null },
  });
  const script = (pages: number) => Array.from({ length: pages }, (_, i) => page(i + 1, pages));

  it("human: a page's rows are on stdout before the next page is asked for", async () => {
    // Act
    const result = await run(script(3), argv);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.outAtRequest[0]).toBe("");
    const shownBeforePage3 = tableRows(result.outAtRequest[2] ?? "").flat();
    for (const n of [1, 2, 3, 4]) expect(shownBeforePage3).toContain(idOf(item(n)));
    expect(shownBeforePage3).not.toContain(idOf(item(5)));
  });

  it("human: each page a table under the header; every item listed once", async () => {
    // Act
    const result = await run(script(3), argv);

    // Assess
    const rows = tableRows(result.out);
    const header = rows[0] ?? [];
    const items = rows.filter((row) => row[0] !== header[0]).flat();
    for (const n of [1, 2, 3, 4, 5, 6]) {
      expect(items.filter((cell) => cell === idOf(item(n)))).toHaveLength(1);
    }
    expect(rows.filter((row) => row[0] === header[0])).toHaveLength(3);
  });

  it("--json: the items of a page are on stdout before the next page is asked for", async () => {
    // Act
    const result = await run(script(3), ["--json", ...argv]);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.outAtRequest[0]).toBe("");
    expect(result.outAtRequest[1]).toBe(`{"${field}":[${JSON.stringify(item(1))},${JSON.stringify(item(2))}`);
  });

  it("--json: the whole list is the one document it always was, byte for byte", async () => {
    // Prepare: an empty page with a cursor between (a filtered listing answers some), a hidden character in an id
    const hidden = { ...item(7), [field === "schedules" ? "schedule_id" : "host"]: "x\u202ey\u0085" };
    const pages: Page[] = [
      page(1, 3),
      { status: 200, body: { [field]: [], next_cursor: "c1b" } },
      { status: 200, body: { [field]: [hidden], next_cursor: null } },
    ];

    // Act
    const result = await run(pages, ["--json", ...argv]);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.out).toBe(jsonLine({ [field]: [item(1), item(2), hidden] }));
    expect(result.out).toContain("x\\u202ey\\u0085");
  });

  it("an empty list: the header alone, or an empty list with --json", async () => {
    // Prepare
    const empty = (): Page[] => [{ status: 200, body: { [field]: [], next_cursor: null } }];

    // Act
    const human = await run(empty(), argv);
    const json = await run(empty(), ["--json", ...argv]);

    // Assess
    expect(tableRows(human.out)).toHaveLength(1);
    expect(json.out).toBe(`{"${field}":[]}\n`);
  });

  it("asks for the next page only once stdout has taken the last (a slow reader holds it back)", async () => {
    // Prepare: stdout takes a turn of the event loop to drain; how many requests were sent once it had.
    const requestsAtDrain: number[] = [];
    const drained = (requests: () => number) =>
      new Promise<void>((resolve) =>
        setImmediate(() => {
          requestsAtDrain.push(requests());
          resolve();
        }),
      );

    // Act
    const result = await run(script(3), argv, drained);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(requestsAtDrain).toEqual([0, 1, 2]);
  });
});

describe.each(LISTINGS)(
  "$name: a page the API gave before, under a new cursor (a loop)",
  ({ argv, field, item, idOf }) => {
    const pageOf = (items: number[], next: string | null): Page => ({
      status: 200,
      body: { [field]: items.map((n) => item(n)), next_cursor: next },
    });
    /** Pages 1 and 2, then page 1 again and again, each time under a cursor never given before. */
    const looping = (): Page[] => [
      pageOf([1, 2], "c1"),
      pageOf([3, 4], "c2"),
      ...Array.from({ length: 20 }, (_, i) => pageOf([2, 1], `c${i + 3}`)),
    ];

    it("human: exit 3, invalid_response; the repeated page not printed again, so every item is listed once", async () => {
      // Act
      const result = await run(looping(), argv);

      // Assess
      expect(result.code).toBe(3);
      expect(result.outAtRequest).toHaveLength(3);
      const cells = tableRows(result.out).flat();
      for (const n of [1, 2, 3, 4]) expect(cells.filter((cell) => cell === idOf(item(n)))).toHaveLength(1);
      expect(result.err).toMatch(/before the error: 2 pages read, 4 \w+ printed \(the list is incomplete\)/);
      expect(result.err).toMatch(
        /error: invalid_response.*a page it gave before \(the same 2 items\) under a new cursor/,
      );
    });

    it("--json: the items printed once, the document left open, before_error counting them", async () => {
      // Act
      const result = await run(looping(), ["--json", ...argv]);

      // Assess
      expect(result.code).toBe(3);
      expect(result.out).toBe(`{"${field}":[${[1, 2, 3, 4].map((n) => JSON.stringify(item(n))).join(",")}\n`);
      const report = JSON.parse(result.err);
      expect(report.error).toMatchObject({ code: "invalid_response", status: 200 });
      expect(report.before_error).toEqual({ pages: 2, printed: 4 });
    });

    it("empty pages under fresh cursors are no loop (a filtered listing answers some): read to the end", async () => {
      // Act
      const result = await run(
        [pageOf([], "c1"), pageOf([], "c2"), pageOf([1], "c3"), pageOf([2], null)],
        argv,
      );

      // Assess
      expect(result.code, result.err).toBe(0);
      expect(result.outAtRequest).toHaveLength(4);
    });
  },
);

describe("schedules list: a later page holding another topic's schedule (a proxy's answer to another request)", () => {
  it("is refused as the client refuses it (invalid_response, exit 3): nothing of that page printed, the pages before it stay", async () => {
    // Prepare
    const another: Page = {
      status: 200,
      body: { schedules: [scheduleViewAnswer("payments")], next_cursor: null },
    };
    // The client asks again (another request's answer may not come twice), and is answered the same each time.
    const pages: Page[] = [
      { status: 200, body: { schedules: [schedule(1)], next_cursor: "c1" } },
      ...Array.from({ length: 10 }, () => another),
    ];

    // Act
    const result = await run(pages, ["--json", "schedules", "list", "--topic", "orders"]);

    // Assess
    expect(result.code).toBe(3);
    expect(result.out).toBe(`{"schedules":[${JSON.stringify(schedule(1))}\n`);
    const report = JSON.parse(result.err);
    expect(report.error).toMatchObject({ code: "invalid_response" });
    expect(report.before_error).toEqual({ pages: 1, printed: 1 });
  });
});
