import { once } from "node:events";
import { isPunctualError, type PunctualError } from "../client/index.js";
import { visible, visibleJson } from "../shared/domain/visible-text.js";
import { EXIT, type ExitCode, exitCodeOf, MayHaveBeenApplied, StoppedPartWay } from "./exit-codes.js";
import { KNOWN_FIELDS } from "./known-fields.js";
import { drawTable } from "./table.js";

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** For tests; default globalThis.fetch. */
  readonly fetch?: typeof globalThis.fetch;
  /**
   * Takes the first Ctrl-C (or SIGTERM) for `stop` instead of ending the process there, for a command that must
   * say what it sent before it stops (`tasks add-batch`'s rerun file); a second one ends it as usual. Returns the
   * release of that hold. Absent: the signal ends the process.
   */
  readonly onInterrupt?: (stop: () => void) => () => void;
  /**
   * Resolves once stdout has taken what was written to it (a pipe to a slow reader may hold it in the process), for
   * a command printing page by page before it reads the next. Absent: at once.
   */
  readonly drained?: () => Promise<void>;
}

/**
 * An abort signal the first Ctrl-C (or SIGTERM) fires with `reason` (`io.onInterrupt`), and the release of that hold,
 * for a call whose command must say what it sent before it stops.
 */
export function abortOnInterrupt(io: CliIo, reason: string): { signal: AbortSignal; release: () => void } {
  const interrupt = new AbortController();
  const release = io.onInterrupt?.(() => interrupt.abort(new Error(reason)));
  return { signal: interrupt.signal, release: () => release?.() };
}

/**
 * Why a command acting page by page (a group cancel, a bulk replay) stopped at Ctrl-C (or SIGTERM): after the page
 * in flight, its totals then reported with what the pages before it did (exit 3), not lost with the process.
 */
export const INTERRUPTED_PAGES =
  "interrupted: stopped after the page in flight (run the same command again to do the rest)";

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  onInterrupt: (stop) => {
    const signals = ["SIGINT", "SIGTERM"] as const;
    const release = () => {
      for (const signal of signals) process.off(signal, onSignal);
    };
    const onSignal = () => {
      release();
      stop();
    };
    for (const signal of signals) process.once(signal, onSignal);
    return release;
  },
  drained: async () => {
    if (process.stdout.writableNeedDrain) await once(process.stdout, "drain");
  },
};

/**
 * What the server said (or a script's argument), made safe to show on a terminal: the one rule of every line of the
 * CLI's human output, table cells and error lines alike. Each literal backslash is written `\\`, as JSON writes
 * it, then the rest as shared/domain/visible-text.ts shows it (the console's rule too): controls escaped as JSON
 * writes them (`\u001b`, `\n`), so an answer (or a receiver's error kept in `last_error`) cannot move the cursor,
 * clear the screen, retitle the window or overwrite a line; bidi controls, line separators and every invisible
 * character as `\u202e`, so it cannot reorder a line (Trojan Source) nor make two values that differ look alike.
 * Without the doubled backslash a value holding the six characters `\u200b` and one holding a zero-width space looked
 * the same (`--json` told them apart); error lines showed them alike until 2026-12-06.
 */
export function shown(text: string): string {
  return visible(text.replaceAll("\\", "\\\\"));
}

/**
 * One JSON document on a line. JSON.stringify leaves DEL and C1 controls (U+007F–U+009F, e.g. CSI), bidi controls,
 * line separators and invisible characters as they are; they are escaped too: the same JSON value, and nothing a
 * terminal acts on or hides. (Outside strings JSON has none.)
 */
export function jsonLine(value: unknown): string {
  return `${visibleJson(JSON.stringify(value))}\n`;
}

/**
 * A result: one JSON document with --json (for scripts), else a two-column table of its fields. Given the fields the
 * CLI knows of this view (known-fields.ts, nested ones as dotted paths), the table shows every one of them and at
 * most MAX_UNKNOWN_FIELDS_SHOWN others, in the answer's order, then how many it left out.
 */
export function printResult(
  io: CliIo,
  json: boolean,
  value: Record<string, unknown>,
  known?: readonly string[],
): void {
  if (json) {
    io.out(jsonLine(value));
    return;
  }
  printFields(io, value, known ? new Set(known) : undefined);
}

/**
 * Fields as a two-column table (`boundedRows`: `known` undefined shows every one), then how many the CLI does not
 * know it left out. `omit`: top-level fields printed otherwise (a task's attempt log and subscribers, as tables).
 */
function printFields(
  io: CliIo,
  fields: Record<string, unknown>,
  known: ReadonlySet<string> | undefined,
  omit: ReadonlySet<string> = new Set(),
): void {
  const { kept, more } = boundedRows(fields, known, omit);
  // A value written as JSON (a number, an array) is shown as JSON text is: its own escapes already tell `\\u200b`
  // from a zero-width space, which `shown` writes `\u200b`, the same JSON value.
  const rows = kept.map(([key, field]) => [
    shown(key),
    typeof field === "string" ? shown(field) : visibleJson(JSON.stringify(field)),
  ]);
  io.out(drawnFitted(rows, (row) => labelQuote((rows[row] as string[])[0] as string, "field name cut")));
  if (more > 0) {
    io.out(
      `… and ${more} more field${more === 1 ? "" : "s"} this CLI does not know (--json prints the answer whole)\n`,
    );
  }
}

/**
 * The most fields of an answer the CLI does not know that its table shows (a newer API's few new fields are shown),
 * counted over the whole answer, those nested under a field it knows included: a broken or hostile API's 300,000
 * extra fields (≈3.6 MB, under the client's 10 MiB cap) were 300,000 rows, 37.8 million characters over ~19 s, and so
 * were 300,000 keys under a known field (a topic's `settings`), shown whole. --json prints every one.
 */
export const MAX_UNKNOWN_FIELDS_SHOWN = 20;

/**
 * The table's rows, nested objects as dotted rows (`settings.backoff.maxSeconds`, so a table stays readable; arrays
 * as JSON): every row whose path the CLI knows, and the first MAX_UNKNOWN_FIELDS_SHOWN others in the answer's order;
 * how many others were left out. A row left out is never written out (its value may be megabytes).
 */
function boundedRows(
  value: Record<string, unknown>,
  known: ReadonlySet<string> | undefined,
  omit: ReadonlySet<string>,
): { kept: [string, unknown][]; more: number } {
  const kept: [string, unknown][] = [];
  let unknown = 0;
  const visit = (object: Record<string, unknown>, prefix: string): void => {
    for (const key of Object.keys(object)) {
      if (prefix === "" && omit.has(key)) continue;
      const name = `${prefix}${key}`;
      const field = object[key];
      if (field !== null && typeof field === "object" && !Array.isArray(field)) {
        visit(field as Record<string, unknown>, `${name}.`);
        continue;
      }
      if (known && !known.has(name) && unknown++ >= MAX_UNKNOWN_FIELDS_SHOWN) continue;
      kept.push([name, field]);
    }
  };
  visit(value, "");
  return { kept, more: Math.max(0, unknown - MAX_UNKNOWN_FIELDS_SHOWN) };
}

/**
 * A task: its fields as `printResult` shows them, and its attempt log and a fan-out task's subscribers (issue 14,
 * point 3) as tables of their own, one row per attempt or subscriber: as one JSON cell, a log of 10 attempts made
 * the table some 800 columns wide. With --json the view as the API answered it.
 */
export function printTask(io: CliIo, json: boolean, task: Record<string, unknown>): void {
  if (json) {
    printResult(io, json, task);
    return;
  }
  // Left out by name, not by a copy of the rest: the rest of an answer of 300,000 fields was a copy of all of them.
  printFields(io, task, new Set(KNOWN_FIELDS.task), new Set(["subscribers", "attempt_log"]));
  const { subscribers, attempt_log: attemptLog } = task;
  if (Array.isArray(attemptLog) && attemptLog.length > 0) {
    const rows = (attemptLog as Record<string, unknown>[]).map((row) =>
      [row.attempt, row.started_at, row.duration_ms, row.status, row.error].map(cell),
    );
    printRows(io, ["attempt", "started_at", "duration_ms", "status", "error"], rows);
  }
  if (Array.isArray(subscribers)) {
    const rows = (subscribers as Record<string, unknown>[]).map((row) =>
      [row.id, row.status, row.attempts, row.last_error, row.task_id].map(cell),
    );
    printRows(io, ["subscriber", "status", "attempts", "last_error", "task_id"], rows);
  }
}

const cell = (value: unknown): string => String(value ?? "");

/** A list for people: one row per item under a header (scripts use --json instead). */
export function printRows(io: CliIo, head: readonly string[], rows: readonly string[][]): void {
  printShownRows(
    io,
    head,
    rows.map((row) => row.map(shown)),
  );
}

/** `printRows` of cells already shown. */
function printShownRows(io: CliIo, head: readonly string[], rows: readonly string[][]): void {
  const all = [head, ...rows];
  io.out(drawnFitted(all, (row, column) => cellLabel(head, all[row] as readonly string[], row, column)));
}

/** A list's cell, named below its table: `last_error of task_id demo.k3Jx…`, or by row number for a first column. */
function cellLabel(head: readonly string[], row: readonly string[], index: number, column: number): string {
  const what = head[column] ?? "";
  if (column === 0) return `${what} of row ${index}`;
  const first = head[0] ?? "";
  return `${what} of ${first} ${labelQuote(row[0] ?? "", `${first} cut`, `, row ${index}`)}`;
}

/**
 * The most characters of a cell (already shown) a label below a table quotes: a row's first cell, or a field's name.
 * A label quoted it whole, so a first cell or name itself over MAX_CELL_CHARS (a broken API's 5,000-character id or
 * field name) was repeated whole before each long value of its row, where the cell itself is printed once.
 */
export const MAX_LABEL_QUOTE_CHARS = 100;

/** `text` as a label quotes it: whole, or its start and what was cut (`… (task_id cut: 5006 characters, row 1)`). */
function labelQuote(text: string, cut: string, where = ""): string {
  if (text.length <= MAX_LABEL_QUOTE_CHARS) return text;
  const end = /[\ud800-\udbff]/.test(text.charAt(MAX_LABEL_QUOTE_CHARS - 1))
    ? MAX_LABEL_QUOTE_CHARS - 1
    : MAX_LABEL_QUOTE_CHARS;
  return `${text.slice(0, end)}… (${cut}: ${text.length} characters${where})`;
}

/**
 * The most characters a table cell holds. A longer value is printed after its table instead, on a line of its own
 * named by its row (`last_error: …`, `error of attempt 3: …`), its cell saying so: a table draws every line of a
 * column as wide as its widest cell, so one long value was repeated as padding and border on every line. A broken
 * API's 10 MB `last_error` (an answer under the client's 10 MiB cap) made `tasks get` write over 330 million
 * characters with some 3 GB of memory, and a little more failed with `Invalid string length`, no table at all; a
 * legitimate 1 MiB content (`tasks get --content`) was a table of some 30 MB. Nothing is cut: --json is unchanged.
 */
export const MAX_CELL_CHARS = 1_000;

/**
 * The rows (cells already shown) as a table, each cell over MAX_CELL_CHARS moved below it as `label: value`, each
 * line ended.
 */
function drawnFitted(
  rows: readonly (readonly string[])[],
  labelOf: (row: number, column: number) => string,
): string {
  const below: string[] = [];
  const fitted = rows.map((row, r) =>
    row.map((cell, c) => {
      if (cell.length <= MAX_CELL_CHARS) return cell;
      below.push(`${labelOf(r, c)}: ${cell}\n`);
      return `(${cell.length} characters: below the table)`;
    }),
  );
  return `${drawTable(fitted)}\n${below.join("")}`;
}

/**
 * A listing printed as its pages arrive (`schedules list`, `destinations list`), so the CLI holds one page, not the
 * whole list: a broken or hostile API answering full pages with a fresh cursor up to the page cap (10,000 pages of
 * up to 10 MB) would otherwise fill its memory before anything is shown.
 * - For people: each page with items as a table of its own under the header (each table as wide as its own cells:
 *   one table for the whole list would need every row's width before its first line, and cutting cells to fixed
 *   widths would hide ids); a list with no items, the header alone.
 * - With --json: the one document `{"<name>":[…]}` the list always was, written item by item, the same bytes. A
 *   run stopped part-way leaves it without its closing `]}` (and ends the line): no JSON parser takes an
 *   incomplete list for the whole one; nothing is written before the first item.
 */
export class ListPrinter<T> {
  #printed = 0;

  constructor(
    private readonly io: CliIo,
    private readonly json: boolean,
    readonly name: string,
    private readonly head: readonly string[],
    private readonly row: (item: T) => string[],
  ) {}

  /** How many items were printed. */
  get printed(): number {
    return this.#printed;
  }

  /** One page's items, printed at once (one write per page). */
  page(items: readonly T[]): void {
    if (items.length === 0) return;
    if (this.json) {
      const opening = this.#printed === 0 ? `{${JSON.stringify(this.name)}:[` : ",";
      this.io.out(visibleJson(`${opening}${items.map((item) => JSON.stringify(item)).join(",")}`));
    } else printRows(this.io, this.head, items.map(this.row));
    this.#printed += items.length;
  }

  /** The list's end, read to its last page. */
  end(): void {
    if (this.#printed === 0) {
      if (this.json) this.io.out(jsonLine({ [this.name]: [] }));
      else printRows(this.io, this.head, []);
    } else if (this.json) this.io.out("]}\n");
  }

  /** Stopped part-way: the line a --json document left open is ended, so the error's line starts on its own. */
  abandon(): void {
    if (this.json && this.#printed > 0) this.io.out("\n");
  }
}

/**
 * A failure, on stderr (a script's `$(punctual … --json)` never captures an error as a result; stdout holds only
 * what was printed before it, as a listing printed page by page leaves, its --json document unterminated:
 * ListPrinter): with --json the API's error object plus `status`, else a line and one line per issue. A run stopped
 * part-way says first what was done before the error (with --json as `before_error` beside `error`); a request that
 * may have been applied, how to run it again safely (`retry`).
 */
export function printError(io: CliIo, json: boolean, error: unknown): void {
  const stopped = error instanceof StoppedPartWay ? error : undefined;
  const applied = error instanceof MayHaveBeenApplied ? error : undefined;
  const cause = stopped?.error ?? applied?.error ?? error;
  if (json) {
    const before = stopped ? { before_error: stopped.done } : {};
    const retry = applied ? { retry: applied.retry } : {};
    io.err(jsonLine({ error: errorObject(cause, exitCodeOf(error)), ...before, ...retry }));
    return;
  }
  for (const line of stopped?.summary ?? (applied ? [applied.hint] : [])) io.err(`${shown(line)}\n`);
  if (isPunctualError(cause)) {
    const status = cause.status ? ` (HTTP ${cause.status})` : "";
    io.err(`error: ${shownCut(cause.code)}${status}: ${shownCut(cause.message)}\n`);
    for (const issue of cause.issues.slice(0, MAX_SHOWN_ISSUES)) {
      io.err(`  ${shownCut(issue.path || "(body)")}: ${shownCut(issue.message)}\n`);
    }
    const more = issuesNotShown(cause);
    if (more > 0)
      io.err(`  … ${more} more issue${more === 1 ? "" : "s"} (--json lists every one the API gave)\n`);
    return;
  }
  io.err(`error: ${shown(cause instanceof Error ? cause.message : String(cause))}\n`);
}

/**
 * The most characters of one text an error line shows (a message, an issue's path or message), and the most issues
 * it lists: the API's own errors are a sentence and a few issues, API Gateway's longest (a SigV4 mismatch quoting the
 * canonical request) some 1,500 characters. A broken or hostile API's, or a proxy's, error answer of up to 10 MiB
 * (MAX_ANSWER_BYTES) was written whole to the terminal or a CI log: a message as one line of millions of characters,
 * 200,000 issues as as many lines. Past these, what is left out is counted; --json prints the error whole, for a script.
 * Only what the server said is cut (a PunctualError's fields): the CLI's own messages, such as the keys to run a batch
 * again with, are printed whole.
 */
export const MAX_SHOWN_ERROR_CHARS = 2_000;
export const MAX_SHOWN_ISSUES = 20;

/**
 * Issues an error line leaves out: past MAX_SHOWN_ISSUES, and those the API itself left out of its answer (its
 * `issues_omitted`, a whole number: it lists at most 20, shared/api/errors.ts MAX_ISSUES).
 */
function issuesNotShown(error: PunctualError): number {
  const omitted = error.details.issues_omitted;
  const byApi = Number.isSafeInteger(omitted) && (omitted as number) > 0 ? (omitted as number) : 0;
  return Math.max(0, error.issues.length - MAX_SHOWN_ISSUES) + byApi;
}

/** `text` shown (`shown`), cut to MAX_SHOWN_ERROR_CHARS code units first (never half a surrogate pair). */
function shownCut(text: string): string {
  if (text.length <= MAX_SHOWN_ERROR_CHARS) return shown(text);
  const end = /[\ud800-\udbff]/.test(text.charAt(MAX_SHOWN_ERROR_CHARS - 1))
    ? MAX_SHOWN_ERROR_CHARS - 1
    : MAX_SHOWN_ERROR_CHARS;
  const more = text.length - end;
  return `${shown(text.slice(0, end))}… (${more} more character${more === 1 ? "" : "s"}; --json prints it whole)`;
}

/** An error as --json prints it: the API's error object plus `status`, else our own code and the message. */
function errorObject(error: unknown, exitCode: ExitCode): Record<string, unknown> {
  if (isPunctualError(error)) {
    const { code, status, message, issues, details } = error;
    return { ...details, code, status, message, issues };
  }
  const message = error instanceof Error ? error.message : String(error);
  // By the run's exit code, not the error's alone: credentials refused after pages acted are no usage error (3).
  return { code: exitCode === EXIT.usage ? "usage" : "failed", message };
}

/** A list of tasks: one JSON page with --json, else one table row per task (the columns an operator scans). */
export function printTaskList(
  io: CliIo,
  json: boolean,
  list: { readonly tasks: readonly Record<string, unknown>[]; readonly next_cursor: string | null },
): void {
  if (json) {
    io.out(jsonLine(list));
    return;
  }
  const columns = ["task_id", "status", "due_at", "attempts", "last_error"];
  const rows = list.tasks.map((task) => columns.map((c) => shown(String(task[c] ?? ""))));
  printShownRows(io, columns, rows);
  if (list.next_cursor) io.out(`more: --cursor ${shown(list.next_cursor)}\n`);
}
