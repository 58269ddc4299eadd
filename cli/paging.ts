import { hash } from "node:crypto";
import type { Command } from "commander";
import { PunctualError } from "../client/index.js";
import { StoppedPartWay } from "./exit-codes.js";
import type { CliIo, ListPrinter } from "./output.js";
import { wholeNumber } from "./whole-number.js";

/**
 * How far a command follows the API's cursor. A broken API, or a proxy, can answer a fresh cursor forever; the
 * repeated-cursor check (Cursors) cannot see that, so two bounds do:
 * - `maxEmptyPages`: pages in a row with nothing on them but a cursor. DynamoDB-filtered listings legitimately
 *   answer some (a bulk replay's selective filter reads 1,000 dead letters a page and may match none), so the
 *   default is generous: 1,000 in a row is a million dead letters read without a match.
 * - `maxPages`: pages in all, whatever they hold: 10,000 is ten million tasks of a group cancel or a replay at
 *   1,000 a page, half a million schedules at 50.
 * Either stops the command with its own error (exit 3), after what was done is reported, naming the option that
 * reads on.
 */
export interface PagingLimits {
  readonly maxPages: number;
  readonly maxEmptyPages: number;
}

export const DEFAULT_PAGING: PagingLimits = { maxPages: 10_000, maxEmptyPages: 1_000 };

/** Adds `--max-pages` and `--max-empty-pages` to a command that follows cursors (read them with `pagingLimits`). */
export function withPagingOptions(command: Command): Command {
  return command
    .option(
      "--max-pages <n>",
      `stop after this many pages (default ${DEFAULT_PAGING.maxPages})`,
      wholeNumber(1, 1_000_000_000),
    )
    .option(
      "--max-empty-pages <n>",
      `stop after this many pages in a row with nothing on them but a cursor (default ${DEFAULT_PAGING.maxEmptyPages})`,
      wholeNumber(1, 1_000_000_000),
    );
}

/** The options `withPagingOptions` adds, as commander parses them. */
export interface PagingOptions {
  readonly maxPages?: number;
  readonly maxEmptyPages?: number;
}

/**
 * The limits a command runs under: the options given, else the defaults times `pagesPerDefaultPage` — for a
 * command whose `--limit` reads fewer items a page than the route's default, how many of its pages read what one
 * default page does. The defaults bound items read, not calls: a group cancel at `--limit 1` whose group starts
 * with 1,000 finished tasks (a page of those lists nothing, so it reads "empty") must not stop there.
 */
export function pagingLimits(options: PagingOptions, pagesPerDefaultPage = 1): PagingLimits {
  return {
    maxPages: options.maxPages ?? DEFAULT_PAGING.maxPages * pagesPerDefaultPage,
    maxEmptyPages: options.maxEmptyPages ?? DEFAULT_PAGING.maxEmptyPages * pagesPerDefaultPage,
  };
}

/** What a page says of itself: the cursor of the next one (none at the end), and whether it held nothing. */
export interface PageStep {
  readonly next: string | null | undefined;
  readonly empty: boolean;
}

/**
 * Reads pages from the first until one has no cursor: `fetchPage(cursor)` asks for one, `take(page)` records it
 * (totals, rows) and says where it leads. The one paging loop of the CLI: every command that follows cursors runs
 * it, so each stops the same way on a repeated cursor, an endless run of empty pages, or the page cap; and, given
 * `stop`, once it fires (Ctrl-C), with its reason.
 */
export async function followPages<P>(
  fetchPage: (cursor: string | undefined) => Promise<P>,
  take: (page: P) => PageStep,
  limits: PagingLimits = DEFAULT_PAGING,
  stop?: AbortSignal,
): Promise<void> {
  const cursors = new Cursors();
  let cursor: string | undefined;
  let pages = 0;
  let emptyInARow = 0;
  do {
    const step = take(await fetchPage(cursor));
    pages++;
    cursor = cursors.next(step.next);
    if (!cursor) return;
    emptyInARow = step.empty ? emptyInARow + 1 : 0;
    if (emptyInARow >= limits.maxEmptyPages) throw tooManyEmptyPages(pages, emptyInARow);
    if (pages >= limits.maxPages) throw tooManyPages(pages);
    // Checked between pages, not during one: the page in flight is answered and counted, so what was done is known.
    stop?.throwIfAborted();
  } while (cursor);
}

function tooManyEmptyPages(pages: number, empty: number): PunctualError {
  return new PunctualError({
    code: "too_many_empty_pages",
    status: 200,
    message: `the API answered ${empty} pages in a row with nothing on them but a cursor: stopped rather than follow it forever (a selective filter over a very long list can do this; to read on, raise --max-empty-pages)`,
    details: { pages, empty_pages: empty },
  });
}

function tooManyPages(pages: number): PunctualError {
  return new PunctualError({
    code: "too_many_pages",
    status: 200,
    message: `read ${pages} pages and the API still gave a cursor: stopped at --max-pages rather than follow it forever (raise --max-pages to read on)`,
    details: { pages },
  });
}

/**
 * The cursors a command following the API's pages was given. One given again would make it read the same pages
 * forever (a broken API, or a proxy answering from its cache), so it stops there with `invalid_response` (exit 3).
 */
class Cursors {
  readonly #seen = new Set<string>();

  /** The next page's cursor, or undefined at the end (none, or empty); throws for a cursor given before. */
  next(cursor: string | null | undefined): string | undefined {
    if (!cursor) return undefined;
    if (this.#seen.has(cursor)) {
      throw new PunctualError({
        code: "invalid_response",
        status: 200,
        message: `the API gave the cursor ${JSON.stringify(cursor.slice(0, 60))} a second time: stopped rather than read the same pages forever`,
      });
    }
    this.#seen.add(cursor);
    return cursor;
  }
}

/**
 * The pages a listing was answered, each known by the items on it (their keys, sorted, hashed: the listing holds one
 * page, so it keeps a digest of each, not the items). The API's listings read a table in key order, each page after
 * the last, so no item is ever on two pages and no page comes twice; a page given again under a new cursor is a
 * broken API or a proxy looping (the repeated-cursor check cannot see it: the cursor is fresh each time), which was
 * printed again and again, every row a duplicate, up to the page cap. Stopped there with `invalid_response` (exit 3),
 * before the page is printed. A page with no items says nothing of itself: a run of those is the empty-page bound's.
 */
class RepeatedPages {
  readonly #seen = new Set<string>();

  /** Throws for a page whose items (by `keys`) are those of a page given before; records it otherwise. */
  check(keys: readonly string[]): void {
    if (keys.length === 0) return;
    const digest = hash("sha256", JSON.stringify([...keys].sort()), "base64");
    if (this.#seen.has(digest)) {
      throw new PunctualError({
        code: "invalid_response",
        status: 200,
        message: `the API answered a page it gave before (the same ${keys.length} item${keys.length === 1 ? "" : "s"}) under a new cursor: stopped rather than print them again or read the same pages forever`,
      });
    }
    this.#seen.add(digest);
  }
}

/**
 * The most tasks a command acting page by page keeps listed to print with its totals, per list, once a second page
 * adds to it: a group cancel's `not_cancelled` and `cancel_requested`, a bulk replay's `failed`. The API lists there
 * only tasks caught mid-change, in flight or not replayable this run, few in a healthy run; a broken or hostile API
 * listing a full page of them on every page up to the page cap (10,000 pages of up to 10 MB) would fill the CLI's
 * memory. One page lists at most what the API lists in one call (a group cancel's `limit`, 1,000 at most; a
 * replay's 1,000 read, or the tasks it named and their copies): the client refuses a page listing more as
 * `invalid_response` (client/routes.ts `listsAtMost`; test/unit/cli/hostile-server.test.ts); past MAX_LISTED after
 * more pages the command stops (`listedPast`) with what was done, the lists so far with it, as at a paging bound.
 */
export const MAX_LISTED = 100_000;

/**
 * Throws `too_many_listed` once a list the command prints with its totals holds more than MAX_LISTED tasks after
 * `pages` pages (more than one): checked after a page's counts and lists are all added, so what was done is
 * reported whole.
 */
export function listedPast(lists: Readonly<Record<string, readonly unknown[]>>, pages: number): void {
  if (pages < 2) return;
  for (const [name, list] of Object.entries(lists)) {
    if (list.length <= MAX_LISTED) continue;
    throw new PunctualError({
      code: "too_many_listed",
      status: 200,
      message: `the API's pages listed ${list.length} tasks under ${name}, more than the ${MAX_LISTED} the CLI keeps to print: stopped rather than fill its memory (the API lists only tasks caught mid-change there; run the same command again to go on)`,
      details: { listed: list.length, list: name },
    });
  }
}

/**
 * A page's items added to what the command has gathered, one push per item: a spread push of a page of some
 * 120,000 (no API's page, a broken one's) overflows the call stack.
 */
export function appendPage<T>(gathered: T[], page: readonly T[]): void {
  for (const item of page) gathered.push(item);
}

/**
 * A listing that follows cursors to the end (`schedules list`, `destinations list`), each page printed as it arrives
 * (`printer`, output.ts ListPrinter) and then dropped: the CLI holds one page, however many the API answers. The
 * next page is asked for once stdout has taken the last (`io.drained`), so a slow reader holds the CLI back rather
 * than its memory growing. A page that fails (or a paging bound) after others were read throws StoppedPartWay: the
 * error exits as it would, and says what was printed before it (with --json as `before_error`, `{"pages":…,
 * "printed":…}`), as the commands that act page by page do (docs/API.md: "after what was done is reported"). A page
 * that repeats one before it (by `keyOf`, each item's identity: RepeatedPages) stops it the same way, unprinted.
 */
export async function printAllPages<P, T>(
  io: CliIo,
  fetchPage: (cursor: string | undefined) => Promise<P>,
  itemsOf: (page: P) => { readonly items: readonly T[]; readonly next: string | null | undefined },
  keyOf: (item: T) => string,
  limits: PagingLimits,
  printer: ListPrinter<T>,
): Promise<void> {
  const repeated = new RepeatedPages();
  let pages = 0;
  try {
    await followPages(
      async (cursor) => {
        await io.drained?.();
        return fetchPage(cursor);
      },
      (page) => {
        const { items, next } = itemsOf(page);
        repeated.check(items.map(keyOf));
        pages++;
        printer.page(items);
        return { next, empty: items.length === 0 };
      },
      limits,
    );
  } catch (error) {
    if (pages === 0) throw error;
    printer.abandon();
    const read = `before the error: ${pages} page${pages === 1 ? "" : "s"} read, ${printer.printed} ${printer.name} printed (the list is incomplete)`;
    throw new StoppedPartWay(error, { pages, printed: printer.printed }, [read]);
  }
  printer.end();
}
