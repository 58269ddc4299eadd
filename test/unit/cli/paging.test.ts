import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";
import { MAX_LISTED } from "../../../cli/paging.js";
import { laneHash } from "../../../shared/domain/lane-hash.js";
import { tableRows } from "../../support/cli-table.js";

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
    cancel_requested: [{ task_id: `orders.r${cancelled}` }],
    more: next !== null,
    next_cursor: next,
  },
});
const GROUP_CANCEL = ["groups", "cancel", "--topic", "orders", "--group", "A-1"];

describe("groups cancel: a page that fails after others were cancelled", () => {
  it("--json: reports the totals of the pages cancelled before the error, with the error, and exits as it does (4: a 500)", async () => {
    // Act
    const run1 = await run(
      [cancelPage(100, "c1"), cancelPage(40, "c2"), failedCall],
      ["--json", ...GROUP_CANCEL],
    );

    // Assess
    expect(run1.code).toBe(4);
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
      cancel_requested: [{ task_id: "orders.r100" }, { task_id: "orders.r40" }],
    });
  });

  it("human: says how many were cancelled before the error", async () => {
    // Act
    const run1 = await run([cancelPage(100, "c1"), failedCall], GROUP_CANCEL);

    // Assess
    expect(run1.code).toBe(4);
    expect(run1.err).toMatch(
      /before the error: 1 page, 100 cancelled, 1 stopping after their current attempt, 1 not cancelled/,
    );
    expect(run1.err).toMatch(/orders\.r100: cancel requested \(stops after its current attempt\)/);
    expect(run1.err).toMatch(/error: internal_error \(HTTP 500\): boom/);
  });
});

describe("groups cancel --subscriber: one subscriber's lane of a fan-out topic's group", () => {
  // Its pages list audit's copies of A-1, whose ids carry that lane (the client refuses a task outside it)
  const lanePage = (cancelled: number, next: string | null): Page => {
    const copy = (n: string) =>
      `orders.${laneHash("orders", "audit", "A-1", "")}.mhx0z8ka.01JD3ZZZZZZZZZZZZZZZZZZZ${n}`;
    return {
      status: 200,
      body: {
        cancelled,
        not_cancelled: [{ task_id: copy(`T${cancelled}`), status: "delivered" }],
        cancel_requested: [{ task_id: copy(`R${cancelled}`) }],
        more: next !== null,
        next_cursor: next,
      },
    };
  };

  it("sends the subscriber on every page it follows, and prints the lane's totals", async () => {
    // Act
    const run1 = await run(
      [lanePage(3, "c1"), lanePage(2, null)],
      ["--json", ...GROUP_CANCEL, "--subscriber", "audit"],
    );

    // Assess
    expect(run1.code).toBe(0);
    const queries = run1.sent.map((line) =>
      Object.fromEntries(new URL(line.split(" ")[1] ?? "").searchParams),
    );
    expect(queries).toEqual([
      { group: "A-1", subscriber: "audit" },
      { group: "A-1", subscriber: "audit", cursor: "c1" },
    ]);
    expect(JSON.parse(run1.out)).toMatchObject({ cancelled: 5 });
  });
});

describe("groups cancel --subscriber answered with tasks outside the lane (another request's answer)", () => {
  it("a second page listing billing's copy: exit 3 with what the first page did, not totals printed as audit's lane", async () => {
    // Prepare: the first page lists audit's copy; the second one billing's copy of the same task
    const copy = (subscriber: string) =>
      `orders.${laneHash("orders", subscriber, "A-1", "")}.mhx0z8ka.01JD3ZZZZZZZZZZZZZZZZZZZZZ`;
    const page = (subscriber: string, next: string | null): Page => ({
      status: 200,
      body: {
        cancelled: 1,
        not_cancelled: [],
        cancel_requested: [{ task_id: copy(subscriber) }],
        more: next !== null,
        next_cursor: next,
      },
    });

    // Act
    const run1 = await run(
      [page("audit", "c1"), ...Array(4).fill(page("billing", null))],
      ["--json", ...GROUP_CANCEL, "--subscriber", "audit"],
    );

    // Assess
    expect(run1.code).toBe(3);
    expect(run1.out).toBe("");
    const report = JSON.parse(run1.err);
    expect(report.error).toMatchObject({ code: "invalid_response" });
    expect(report.before_error).toMatchObject({ pages: 1, cancel_requested: [{ task_id: copy("audit") }] });
  });
});

describe("groups cancel: a page whose `more` and `next_cursor` disagree (the API sends both or neither)", () => {
  const page = (more: boolean, next: string | null): Page => ({
    status: 200,
    body: { cancelled: 5, not_cancelled: [], more, next_cursor: next },
  });

  it.each([
    ["more without a cursor", page(true, null)],
    ["a cursor without more", page(false, "c2")],
  ])("%s: exit 3 with what was done, not the totals as if the whole group were read", async (_, second) => {
    // Act
    const run1 = await run([page(true, "c1"), second], ["--json", ...GROUP_CANCEL]);

    // Assess
    expect(run1.code).toBe(3);
    expect(run1.out).toBe("");
    const report = JSON.parse(run1.err);
    expect(report.error).toMatchObject({ code: "invalid_response" });
    expect(report.before_error).toMatchObject({ pages: 2, cancelled: 10 });
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

describe("schedules list's table", () => {
  it("shows each schedule's catch-up policy and skipped occurrences (all and 0 when the API sends neither)", async () => {
    // Prepare: one schedule skipping missed occurrences, one as an older API answers it
    const skipping = {
      ...schedule,
      schedule_id: "orders.schedule.01JD3BBBBBBBBBBBBBBBBBBBBB",
      catch_up: "none",
    };
    const page = {
      status: 200,
      body: { schedules: [{ ...skipping, skipped_occurrences: 7 }, schedule], next_cursor: null },
    };

    // Act
    const result = await run([page], ["schedules", "list", "--topic", "orders"]);

    // Assess
    expect(result.code, result.err).toBe(0);
    // cli-table3's rows: cells between its │ borders
    const rows = tableRows(result.out);
    expect(rows[0]).toEqual(["schedule_id", "status", "cron", "timezone", "next", "catch_up", "skipped"]);
    expect(rows.find((r) => r[0] === skipping.schedule_id)?.slice(-2)).toEqual(["none", "7"]);
    expect(rows.find((r) => r[0] === schedule.schedule_id)?.slice(-2)).toEqual(["all", "0"]);
  });
});

/**
 * An API that never stops answering a fresh cursor: `next(n)` is page n (1-based) of an endless scripted list.
 * The fake fails loudly past `cap` requests, so a command that would loop forever fails the test instead of hanging.
 */
async function runEndless(next: (n: number) => Page, argv: string[], cap = 20_000) {
  let n = 0;
  const pages = { shift: () => (++n > cap ? undefined : next(n)) } as unknown as Page[];
  return run(pages, argv);
}

const replayPage = (matched: number, next: string | null): Page => ({
  status: 200,
  body: { matched, replayed: matched, failed: [], next_cursor: next },
});
const schedulesPage = (count: number, next: string | null): Page => ({
  status: 200,
  body: { schedules: Array.from({ length: count }, () => schedule), next_cursor: next },
});
/**
 * A page of `count` schedules none of the pages before held, as the API's listing reads them (in key order, each
 * page after the last): a page repeating one before it is a loop the CLI stops at (list-pages.test.ts).
 */
let schedulesListed = 0;
const freshSchedulesPage = (count: number, next: string | null): Page => ({
  status: 200,
  body: {
    schedules: Array.from({ length: count }, () => ({
      ...schedule,
      schedule_id: `orders.schedule.${String(++schedulesListed).padStart(26, "0")}`,
    })),
    next_cursor: next,
  },
});
const schedule = {
  schedule_id: "orders.schedule.01JD3AAAAAAAAAAAAAAAAAAAAA",
  topic: "orders",
  cron: "0 * * * *",
  timezone: "UTC",
  status: "active",
  content: "{}",
  callback_url: "https://hooks.example.com/s",
  created_at: "2026-11-30T00:00:00.000Z",
  updated_at: "2026-11-30T00:00:00.000Z",
  materialized_until: "2026-11-30T00:00:00.000Z",
  next_occurrences: [],
};

/** The three commands that follow cursors, each with the empty and the non-empty page of its route. */
const FOLLOWERS = [
  {
    name: "topics replay",
    argv: ["topics", "replay", "orders", "--error-contains", "HTTP 5"],
    empty: (next: string | null) => replayPage(0, next),
    full: (next: string | null) => replayPage(2, next),
  },
  {
    name: "groups cancel",
    argv: GROUP_CANCEL,
    empty: (next: string | null) => ({
      status: 200,
      body: { cancelled: 0, not_cancelled: [], more: next !== null, next_cursor: next },
    }),
    full: (next: string | null) => cancelPage(2, next),
  },
  {
    name: "schedules list",
    argv: ["schedules", "list", "--topic", "orders"],
    empty: (next: string | null) => freshSchedulesPage(0, next),
    full: (next: string | null) => freshSchedulesPage(2, next),
  },
] as const;

describe.each(FOLLOWERS)("$name: an API answering a fresh cursor forever", ({ argv, empty, full }) => {
  it("follows a few empty pages that carry a cursor (a filtered listing does that) to the end", async () => {
    // Act: three empty pages, one with content, two empty, the last.
    const script = [empty("c1"), empty("c2"), empty("c3"), full("c4"), empty("c5"), empty("c6"), full(null)];
    const result = await run(script, ["--json", ...argv]);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.sent).toHaveLength(7);
  });

  it("stops after 1,000 empty pages in a row with a cursor: exit 3, says why and how to read on", async () => {
    // Act
    const result = await runEndless((n) => empty(`c${n}`), ["--json", ...argv]);

    // Assess
    expect(result.code).toBe(3);
    expect(result.sent).toHaveLength(1_000);
    const error = JSON.parse(result.err).error;
    expect(error).toMatchObject({ code: "too_many_empty_pages", pages: 1_000, empty_pages: 1_000 });
    expect(error.message).toMatch(/1000 pages in a row.*--max-empty-pages/);
  });

  it("--max-empty-pages sets that run; a page with something in it starts the count again", async () => {
    // Act: 3 empty, 1 full, 3 empty, … forever, under a run of 4 then a run of 3.
    const pattern = (n: number) => (n % 4 === 0 ? full(`c${n}`) : empty(`c${n}`));
    const under = await runEndless(pattern, [
      "--json",
      ...argv,
      "--max-empty-pages",
      "4",
      "--max-pages",
      "40",
    ]);
    const over = await runEndless(pattern, ["--json", ...argv, "--max-empty-pages", "3"]);

    // Assess
    expect(JSON.parse(under.err).error).toMatchObject({ code: "too_many_pages", pages: 40 });
    expect(under.sent).toHaveLength(40);
    expect(JSON.parse(over.err).error).toMatchObject({ code: "too_many_empty_pages", empty_pages: 3 });
    expect(over.sent).toHaveLength(3);
  });

  it("stops pages that are never empty at --max-pages, naming the option, with what was done before", async () => {
    // Act
    const result = await runEndless((n) => full(`c${n}`), ["--json", ...argv, "--max-pages", "7"]);

    // Assess
    expect(result.code).toBe(3);
    expect(result.sent).toHaveLength(7);
    const report = JSON.parse(result.err);
    expect(report.error).toMatchObject({ code: "too_many_pages", pages: 7 });
    expect(report.error.message).toMatch(/--max-pages/);
  });

  it("refuses a malformed --max-pages or --max-empty-pages as a usage error, sending nothing", async () => {
    for (const option of ["--max-pages", "--max-empty-pages"]) {
      // Act
      const result = await run([], [...argv, option, "0x10"]);

      // Assess
      expect(result.code, option).toBe(1);
      expect(result.sent).toEqual([]);
    }
  });
});

describe("the page cap's default", () => {
  it("is 10,000 pages: an API answering full pages forever is followed that far, no further", async () => {
    // Act
    const result = await runEndless(
      (n) => freshSchedulesPage(1, `c${n}`),
      ["--json", "schedules", "list", "--topic", "orders"],
    );

    // Assess
    expect(result.code).toBe(3);
    expect(result.sent).toHaveLength(10_000);
    expect(JSON.parse(result.err).error).toMatchObject({ code: "too_many_pages", pages: 10_000 });
    // 10,000 requests through the client: 3.5-5 s on a loaded 2-core host, too near vitest's 5 s default.
  }, 20_000);

  it("the human output says what was done before the stop, and how to read on", async () => {
    // Act
    const result = await runEndless((n) => cancelPage(1, `c${n}`), [...GROUP_CANCEL, "--max-pages", "3"]);

    // Assess
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/before the error: 3 pages, 3 cancelled/);
    expect(result.err).toMatch(/error: too_many_pages.*3 pages.*--max-pages/);
  });
});

describe("groups cancel --limit: the default bounds count tasks read, not pages", () => {
  // A group-cancel page of finished tasks lists none of them (they are neither cancelled nor refused): it reads
  // "empty" though the API is healthy. The defaults mean a million / ten million tasks read at 1,000 a page.
  const finished = (next: string | null): Page => ({
    status: 200,
    body: { cancelled: 0, not_cancelled: [], more: next !== null, next_cursor: next },
  });

  it("--limit 1 reads on past 1,000 pages of finished tasks to the scheduled one after them", async () => {
    // Prepare
    const script = Array.from({ length: 1_000 }, (_, n) => finished(`c${n}`));
    // A page of one task lists it at most once: cancelled here (the client refuses a page listing more).
    script.push({ status: 200, body: { cancelled: 1, not_cancelled: [], more: false, next_cursor: null } });

    // Act
    const result = await run(script, ["--json", ...GROUP_CANCEL, "--limit", "1"]);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.sent).toHaveLength(1_001);
    expect(JSON.parse(result.out)).toMatchObject({ cancelled: 1 });
  });

  it("--limit 500 still stops an endless API, at twice the default pages (the same tasks read)", async () => {
    // Act
    const result = await runEndless((n) => finished(`c${n}`), ["--json", ...GROUP_CANCEL, "--limit", "500"]);

    // Assess
    expect(result.code).toBe(3);
    expect(result.sent).toHaveLength(2_000);
    expect(JSON.parse(result.err).error).toMatchObject({ code: "too_many_empty_pages", empty_pages: 2_000 });
  });

  it("a --max-empty-pages given is taken as given, whatever --limit", async () => {
    // Act
    const result = await runEndless(
      (n) => finished(`c${n}`),
      ["--json", ...GROUP_CANCEL, "--limit", "1", "--max-empty-pages", "5"],
    );

    // Assess
    expect(result.sent).toHaveLength(5);
  });
});

describe("schedules list: a page that fails after others were read", () => {
  // The list is printed page by page (test/unit/cli/list-pages.test.ts): what was printed stays printed, and the
  // error says how much that was and that the list is incomplete.
  const script = () => [schedulesPage(2, "c1"), failedCall];

  it("--json: stdout holds the schedules printed, left open (no parser takes it for the whole list); the error says how many, and exits as it does (4: a 500)", async () => {
    // Act
    const result = await run(script(), ["--json", "schedules", "list", "--topic", "orders"]);

    // Assess
    expect(result.code).toBe(4);
    expect(result.out).toBe(`{"schedules":[${JSON.stringify(schedule)},${JSON.stringify(schedule)}\n`);
    expect(() => JSON.parse(result.out)).toThrow(SyntaxError);
    const report = JSON.parse(result.err);
    expect(report.error).toMatchObject({ code: "internal_error", status: 500 });
    expect(report.before_error).toEqual({ pages: 1, printed: 2 });
  });

  it("human: the rows printed stay; says how many were printed before the error, and that the list is incomplete", async () => {
    // Act
    const result = await run(script(), ["schedules", "list", "--topic", "orders"]);

    // Assess
    expect(result.code).toBe(4);
    expect(tableRows(result.out).filter((row) => row[0] === schedule.schedule_id)).toHaveLength(2);
    expect(result.err).toMatch(
      /before the error: 1 page read, 2 schedules printed \(the list is incomplete\)/,
    );
  });

  it("a failing first page prints nothing on stdout, and no `before_error`", async () => {
    // Act
    const result = await run([failedCall], ["--json", "schedules", "list", "--topic", "orders"]);

    // Assess
    expect(result.code).toBe(4);
    expect(result.out).toBe("");
    expect(JSON.parse(result.err).before_error).toBeUndefined();
  });
});

describe("an API listing a full page of tasks not cancelled (or not replayed) on every page", () => {
  // The API lists there only tasks caught mid-change, a handful a run; listed 1,000 a page up to the page cap, they
  // filled the CLI's memory (ten million kept to print with the totals). Past MAX_LISTED the command stops.
  const PAGE = 1_000;
  const PAGES_PAST = MAX_LISTED / PAGE + 1;
  const listing = [
    {
      name: "groups cancel",
      argv: GROUP_CANCEL,
      list: "not_cancelled",
      page: (n: number): Page => ({
        status: 200,
        body: {
          cancelled: 0,
          not_cancelled: Array.from({ length: PAGE }, (_, i) => ({
            task_id: `orders.t${n}-${i}`,
            status: "delivered",
          })),
          more: true,
          next_cursor: `c${n}`,
        },
      }),
    },
    {
      name: "topics replay",
      argv: ["topics", "replay", "orders", "--error-contains", "HTTP 5"],
      list: "failed",
      page: (n: number): Page => ({
        status: 200,
        body: {
          matched: PAGE,
          replayed: 0,
          failed: Array.from({ length: PAGE }, (_, i) => ({ task_id: `orders.t${n}-${i}`, reason: "busy" })),
          next_cursor: `c${n}`,
        },
      }),
    },
  ] as const;

  it.each(listing)(
    "$name: stops once past MAX_LISTED, exit 3, with what was done",
    async ({ argv, list, page }) => {
      // Act: far fewer pages than the cap would allow
      const result = await runEndless(page, ["--json", ...argv, "--max-pages", String(2 * PAGES_PAST)]);

      // Assess
      expect(result.code).toBe(3);
      expect(result.sent).toHaveLength(PAGES_PAST);
      const report = JSON.parse(result.err);
      expect(report.error).toMatchObject({ code: "too_many_listed", list, listed: MAX_LISTED + PAGE });
      expect(report.before_error.pages).toBe(PAGES_PAST);
      expect(report.before_error[list]).toHaveLength(MAX_LISTED + PAGE);
    },
  );
});
