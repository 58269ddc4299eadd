/**
 * The API's numeric query parameters: `queryInteger` (plain decimal digits, a 400 naming the parameter otherwise)
 * is in shared/domain/query-integer.ts, where the console's own endpoints can use the same rule.
 */
export { NOT_PLAIN_DIGITS, queryInteger } from "#shared/domain/query-integer.js";

/** For a parameter's description in the OpenAPI document. */
export const PLAIN_DIGITS_NOTE = "in plain decimal digits";
