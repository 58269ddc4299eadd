import { PunctualError } from "../client/index.js";

/**
 * The cursors a command following the API's pages was given. One given again would make it read the same pages
 * forever (a broken API, or a proxy answering from its cache), so it stops there with `invalid_response` (exit 3).
 */
export class Cursors {
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
