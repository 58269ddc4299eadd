/**
 * What a route that takes no body accepts as none, and how it refuses one that says something: the API's no-body
 * guard (middleware/no-body.ts) and `punctual console`'s proxy, which cannot send a GET's body on (fetch refuses
 * to), answer the same call the same way. Apart from the guard so the console does not bundle middy or errors.ts.
 */

/**
 * Says nothing: empty, JSON's white space (space, tab, CR, LF), or an empty JSON object (what some clients send with
 * every POST), after one leading byte-order mark, which the JSON body middleware drops too. Not `\s`: it also takes
 * U+00A0, U+2028 or a second BOM, which no JSON parser reads as nothing.
 */
const SAYS_NOTHING = /^\uFEFF?[ \t\r\n]*(?:\{[ \t\r\n]*\})?[ \t\r\n]*$/;

/** Whether a body's text says nothing (SAYS_NOTHING). */
export function saysNothing(text: string): boolean {
  return SAYS_NOTHING.test(text);
}

/** The 400 `validation_failed` a body that says something gets: its message, and its one issue (at the body, ""). */
export const NO_BODY_MESSAGE = "this route takes no request body";
export const NO_BODY_ISSUE = { path: "", message: "this route takes no request body; send none" } as const;
