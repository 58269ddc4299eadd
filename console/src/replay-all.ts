/**
 * "Replay all matching" follows the replay route's cursor (POST /v1/topics/{topic}/replay) to the end. A broken
 * API, or a proxy, can answer a fresh cursor forever, so it stops as the CLI's `topics replay` does
 * (cli/paging.ts, `followPages`): at a cursor given a second time, after 1,000 pages in a row with nothing on them
 * but a cursor (a selective filter legitimately answers some: each page reads 1,000 dead letters), or after
 * 10,000 pages; and a page that fails ends it too. Each way it answers what was replayed before, for the page to
 * show, since those tasks were replayed.
 *
 * Kept here, not shared with the CLI's loop: the page may import only console/schemas.ts, preact, uplot, zod and
 * p-map (docs/ARCHITECTURE.md; the console tsconfig and esbuild's browser bundle keep Node out), so not cli/ or
 * client/, where that loop and its PunctualError live; and the CLI taking its paging from the page's sources
 * would tie the command line to the browser bundle for thirty lines. test/unit/console/replay-all.test.ts checks
 * that both stop at the same defaults.
 */

export interface ReplayPage {
  readonly matched: number;
  readonly replayed: number;
  readonly failed: readonly { task_id: string; reason: string }[];
  readonly next_cursor: string | null;
}

export interface PagingLimits {
  readonly maxPages: number;
  readonly maxEmptyPages: number;
}

/** The CLI's DEFAULT_PAGING: 10,000 pages is ten million dead letters at 1,000 a page. */
export const REPLAY_ALL_PAGING: PagingLimits = { maxPages: 10_000, maxEmptyPages: 1_000 };

export type ReplayAllStop =
  | "stopped_at_failure"
  | "repeated_cursor"
  | "too_many_empty_pages"
  | "too_many_pages"
  | "stopped_by_operator"
  | "error";

export interface ReplayAllOutcome {
  readonly pages: number;
  readonly matched: number;
  readonly replayed: number;
  /** Matched but not replayed (the route's `failed`: say, no longer dead-lettered). */
  readonly notReplayed: number;
  /** Why it stopped before a page without a cursor; absent when it read to the end. */
  readonly stopped?: ReplayAllStop;
  /** The stop's detail: the repeated cursor (cut to 60 characters), the error's message, the empty run. */
  readonly detail?: string;
}

export interface ReplayAllControls {
  readonly limits?: PagingLimits;
  /** Called with the totals after each page answered: the page shows them while it reads on. */
  readonly onPage?: (totals: ReplayAllOutcome) => void;
  /**
   * The operator's Stop: checked between pages. A page already sent is waited for, not abandoned: it replays as it
   * goes, and its totals are what the operator needs to know.
   */
  readonly signal?: AbortSignal;
}

/** Replays page after page from the first; never throws: a failure is a stop, reported with the totals. */
export async function replayAll(
  fetchPage: (cursor: string | undefined) => Promise<ReplayPage>,
  controls: ReplayAllControls = {},
): Promise<ReplayAllOutcome> {
  const limits = controls.limits ?? REPLAY_ALL_PAGING;
  const total = { pages: 0, matched: 0, replayed: 0, notReplayed: 0 };
  const seen = new Set<string>();
  let cursor: string | undefined;
  let emptyInARow = 0;
  for (;;) {
    if (controls.signal?.aborted) return { ...total, stopped: "stopped_by_operator" };
    let page: ReplayPage;
    try {
      page = await fetchPage(cursor);
    } catch (error) {
      return { ...total, stopped: "error", detail: error instanceof Error ? error.message : String(error) };
    }
    total.pages++;
    total.matched += page.matched;
    total.replayed += page.replayed;
    total.notReplayed += page.failed.length;
    controls.onPage?.({ ...total });
    const next = page.next_cursor;
    if (!next) return total;
    // The cursor it was sent, with a task not replayed: the route resumes just before the first task a call left
    // behind (a group's head whose send failed), which stopped this call too; following it would only repeat.
    if (next === cursor && page.failed.length > 0) return { ...total, stopped: "stopped_at_failure" };
    if (seen.has(next)) return { ...total, stopped: "repeated_cursor", detail: next.slice(0, 60) };
    seen.add(next);
    cursor = next;
    emptyInARow = page.matched === 0 ? emptyInARow + 1 : 0;
    if (emptyInARow >= limits.maxEmptyPages) {
      return { ...total, stopped: "too_many_empty_pages", detail: String(emptyInARow) };
    }
    if (total.pages >= limits.maxPages) return { ...total, stopped: "too_many_pages" };
  }
}

/** The line the page shows while Replay all reads on. */
export function replayAllProgress(totals: ReplayAllOutcome): string {
  return `replaying… ${totals.replayed} of ${totals.matched} matching task(s) replayed so far (${totals.pages} page(s))`;
}

/** What the page tells the operator: what was replayed, and, when it stopped early, why and how to read on. */
export function replayAllMessage(outcome: ReplayAllOutcome): string {
  const notReplayed = outcome.notReplayed ? `; ${outcome.notReplayed} not replayed` : "";
  const done = `replayed ${outcome.replayed} of ${outcome.matched} matching task(s)${notReplayed}`;
  if (!outcome.stopped) return done;
  return `stopped after ${outcome.pages} page(s), having ${done}: ${whyStopped(outcome)}`;
}

function whyStopped(outcome: ReplayAllOutcome): string {
  switch (outcome.stopped) {
    case "stopped_at_failure":
      return "it stopped twice at the same task, not replayed: its group is not replayed past it, to keep its order; replay again later";
    case "repeated_cursor":
      return `the API gave the cursor ${JSON.stringify(outcome.detail)} a second time: stopped rather than read the same pages forever`;
    case "too_many_empty_pages":
      return `the API answered ${outcome.detail} pages in a row with nothing on them but a cursor: stopped rather than follow it forever (a selective filter over a very long list can do this; the CLI's topics replay --max-empty-pages reads on)`;
    case "stopped_by_operator":
      return "stopped as you asked; the tasks not reached are still dead-lettered (Replay all again goes on with them)";
    case "too_many_pages":
      return `read ${outcome.pages} pages and the API still gave a cursor: stopped rather than follow it forever (the CLI's topics replay --max-pages reads on)`;
    default:
      return `a page failed: ${outcome.detail}`;
  }
}
