import { describe, expect, it } from "vitest";
import { DEFAULT_PAGING } from "../../../cli/paging.js";
import {
  REPLAY_ALL_PAGING,
  type ReplayPage,
  replayAll,
  replayAllMessage,
  replayAllProgress,
} from "../../../console/src/replay-all.js";

/**
 * The console's "Replay all matching" follows the replay route's cursor. A broken API, or a proxy, can answer a
 * fresh cursor forever; the page must stop as the CLI does (cli/paging.ts) and say what it replayed first.
 */

const page = (matched: number, next: string | null, failed = 0): ReplayPage => ({
  matched,
  replayed: matched - failed,
  failed: Array.from({ length: failed }, (_, i) => ({ task_id: `t${i}`, reason: "not_failed" })),
  next_cursor: next,
});

/**
 * An API answering page n (1-based) of an endless scripted list, recording the cursors it was sent. Past `cap`
 * requests it throws, so a loop with no stop fails the test instead of hanging it.
 */
function endless(next: (n: number) => ReplayPage, cap = 20_000) {
  const sent: (string | undefined)[] = [];
  const fetchPage = async (cursor: string | undefined) => {
    sent.push(cursor);
    if (sent.length > cap) throw new Error(`followed more than ${cap} pages`);
    return next(sent.length);
  };
  return { sent, fetchPage };
}

describe("replayAll", () => {
  it("follows empty pages that carry a cursor (a selective filter does that) to the end, summing the pages", async () => {
    // Prepare: three empty pages, one with two (one not replayed), two empty, the last with three.
    const script = [page(0, "c1"), page(0, "c2"), page(0, "c3"), page(2, "c4", 1), page(0, "c5")];
    const api = endless((n) => script[n - 1] ?? page(3, null));

    // Act
    const outcome = await replayAll(api.fetchPage);

    // Assess
    expect(api.sent).toEqual([undefined, "c1", "c2", "c3", "c4", "c5"]);
    expect(outcome).toEqual({ pages: 6, matched: 5, replayed: 4, notReplayed: 1 });
    expect(replayAllMessage(outcome)).toBe("replayed 4 of 5 matching task(s); 1 not replayed");
  });

  it("stops at a cursor given a second time, saying so and what it replayed before", async () => {
    // Prepare: c1, c2, then c1 again (it would read the same pages forever).
    const script = [page(2, "c1"), page(1, "c2"), page(1, "c1")];
    const api = endless((n) => script[n - 1] ?? page(1, `c${n}`));

    // Act
    const outcome = await replayAll(api.fetchPage);

    // Assess
    expect(api.sent).toHaveLength(3);
    expect(outcome).toMatchObject({ pages: 3, matched: 4, replayed: 4, stopped: "repeated_cursor" });
    expect(replayAllMessage(outcome)).toMatch(
      /^stopped after 3 page\(s\), having replayed 4 of 4 matching task\(s\): the API gave the cursor "c1" a second time/,
    );
  });

  it("stops where a task stops the replay twice (the route answers the cursor it was sent), saying so", async () => {
    // Prepare: the second page stops at a group's head whose send failed (its cursor resumes just before it); the
    // third, sent that cursor, stops there again and answers it
    const script = [page(3, "c1"), page(2, "c2", 1), page(1, "c2", 1)];
    const api = endless((n) => script[n - 1] ?? page(1, null));

    // Act
    const outcome = await replayAll(api.fetchPage);

    // Assess
    expect(api.sent).toEqual([undefined, "c1", "c2"]);
    expect(outcome).toMatchObject({ pages: 3, replayed: 4, notReplayed: 2, stopped: "stopped_at_failure" });
    expect(replayAllMessage(outcome)).toMatch(/stopped twice at the same task, not replayed/);
  });

  it("stops after 1,000 empty pages in a row that still carry a cursor", async () => {
    // Act
    const api = endless((n) => page(0, `c${n}`));
    const outcome = await replayAll(api.fetchPage);

    // Assess
    expect(api.sent).toHaveLength(1_000);
    expect(outcome).toMatchObject({ pages: 1_000, replayed: 0, stopped: "too_many_empty_pages" });
    expect(replayAllMessage(outcome)).toMatch(/1000 pages in a row with nothing on them but a cursor/);
    expect(replayAllMessage(outcome)).toMatch(/--max-empty-pages/);
  });

  it("starts the empty count again at a page that matched something, and stops at 10,000 pages", async () => {
    // Act: 999 empty, 1 full, … forever: never 1,000 empty in a row.
    const api = endless((n) => (n % 1_000 === 0 ? page(1, `c${n}`) : page(0, `c${n}`)));
    const outcome = await replayAll(api.fetchPage);

    // Assess
    expect(api.sent).toHaveLength(10_000);
    expect(outcome).toMatchObject({ pages: 10_000, replayed: 10, stopped: "too_many_pages" });
    expect(replayAllMessage(outcome)).toMatch(
      /^stopped after 10000 page\(s\), having replayed 10 of 10 matching task\(s\): .*still gave a cursor.*--max-pages/,
    );
  });

  it("takes other limits (the CLI's --max-pages and --max-empty-pages, here for a short test)", async () => {
    const full = endless((n) => page(1, `c${n}`));
    const empty = endless((n) => page(0, `c${n}`));
    expect(await replayAll(full.fetchPage, { limits: { maxPages: 7, maxEmptyPages: 3 } })).toMatchObject({
      pages: 7,
      stopped: "too_many_pages",
    });
    expect(await replayAll(empty.fetchPage, { limits: { maxPages: 7, maxEmptyPages: 3 } })).toMatchObject({
      pages: 3,
      stopped: "too_many_empty_pages",
    });
  });

  it("a page that fails after others: reports what was replayed before it and the error", async () => {
    // Prepare
    const api = endless((n) => {
      if (n === 3) throw new Error("HTTP 503 upstream unavailable");
      return page(2, `c${n}`);
    });

    // Act
    const outcome = await replayAll(api.fetchPage);

    // Assess
    expect(outcome).toMatchObject({ pages: 2, matched: 4, replayed: 4, stopped: "error" });
    expect(replayAllMessage(outcome)).toBe(
      "stopped after 2 page(s), having replayed 4 of 4 matching task(s): a page failed: HTTP 503 upstream unavailable",
    );
  });

  it("cuts a long cursor in its message, as the CLI does", async () => {
    const long = "x".repeat(2_000);
    const api = endless(() => page(1, long));
    const message = replayAllMessage(await replayAll(api.fetchPage));
    expect(message).toContain("x".repeat(60));
    expect(message).not.toContain("x".repeat(61));
  });
});

describe("replayAll under the operator's eye", () => {
  it("reports the totals after each page, for the page to show while it reads on", async () => {
    // Prepare
    const script = [page(3, "c1", 1), page(2, "c2"), page(1, null)];
    const api = endless((n) => script[n - 1] as ReplayPage);
    const shown: string[] = [];

    // Act
    await replayAll(api.fetchPage, { onPage: (totals) => shown.push(replayAllProgress(totals)) });

    // Assess
    expect(shown).toEqual([
      "replaying… 2 of 3 matching task(s) replayed so far (1 page(s))",
      "replaying… 4 of 5 matching task(s) replayed so far (2 page(s))",
      "replaying… 5 of 6 matching task(s) replayed so far (3 page(s))",
    ]);
  });

  it("stops at the operator's Stop once the page in flight is answered, sends no page after, and says what it replayed", async () => {
    // Prepare: an endless list of full pages; Stop is pressed while the second page is in flight
    const stop = new AbortController();
    const api = endless((n) => {
      if (n === 2) stop.abort();
      return page(10, `c${n}`);
    });

    // Act
    const outcome = await replayAll(api.fetchPage, { signal: stop.signal });

    // Assess: the second page (already sent, replaying) is counted; no third is sent
    expect(api.sent).toEqual([undefined, "c1"]);
    expect(outcome).toEqual({
      pages: 2,
      matched: 20,
      replayed: 20,
      notReplayed: 0,
      stopped: "stopped_by_operator",
    });
    expect(replayAllMessage(outcome)).toBe(
      "stopped after 2 page(s), having replayed 20 of 20 matching task(s): stopped as you asked; the tasks not reached are still dead-lettered (Replay all again goes on with them)",
    );
  });
});

describe("the page's stops", () => {
  it("are the CLI's defaults: 10,000 pages, 1,000 empty pages in a row", () => {
    expect(REPLAY_ALL_PAGING).toEqual(DEFAULT_PAGING);
  });
});
