import * as z from "#shared/zod.js";

/**
 * What every list cursor the API gives out is made of: base64url (shared/api/cursor.ts), and the most a `cursor`
 * parameter takes back. The API refuses any other cursor it is given (400); the client refuses any other it is
 * answered (`invalid_response`): the CLI prints a page's cursor as `--cursor <it>` for the operator to paste into
 * a shell, so a lying server or proxy must not be able to hand them a `$(…)` to run, nor the console markup.
 */
export const CURSOR_PATTERN = /^[A-Za-z0-9_-]+$/;
export const CURSOR_MAX_CHARS = 2048;

/** A page's `next_cursor`: one of the API's cursors, or null on the last page. */
export const nextCursorSchema = z.withMeta(
  z.nullable(z.string().check(z.maxLength(CURSOR_MAX_CHARS), z.regex(CURSOR_PATTERN))),
  { description: "pass it back as `cursor` for the next page (base64url); null on the last page" },
);

/** A `cursor` parameter: what the route checks it against is its own (shared/api/cursor.ts, a 400 otherwise). */
export function cursorParam(description: string) {
  return z.withMeta(z.optional(z.string().check(z.minLength(1), z.maxLength(CURSOR_MAX_CHARS))), {
    description,
  });
}
