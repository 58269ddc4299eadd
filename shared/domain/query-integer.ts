/**
 * Numeric query parameters. A query string is text, and `z.coerce.number()` reads it with `Number()`, which takes
 * `0x10` (16), `1e2` (100), ` 5`, `+5`, `0b11`: a typo or another tool's notation would be read as some other
 * number and acted on. Every numeric query parameter uses `queryInteger` instead: the API's (through
 * shared/api/schemas/query.ts) and the console's own endpoints' (console/schemas.ts). It lives here, zod and
 * nothing else, because both may import shared/domain and the console's schemas are bundled into its page too.
 */
import * as z from "#shared/zod.js";

/**
 * The one form taken: ASCII digits, no sign, no leading zero (`05` is octal to some tools and a typo to others;
 * `0` itself is plain), no spaces, point, exponent, separator or prefix.
 */
const PLAIN_DIGITS = /^(?:0|[1-9][0-9]*)$/;

/** Whether `text` is a whole number in the one form we take (PLAIN_DIGITS); the CLI's options use it too. */
export function isPlainDigits(text: string): boolean {
  return PLAIN_DIGITS.test(text);
}

export const NOT_PLAIN_DIGITS =
  "must be a whole number in plain decimal digits (0-9): no sign, spaces, leading zeros, decimal point, exponent or 0x";

/**
 * A query parameter holding a whole number from `min` to `max`: plain decimal digits only, else a 400 whose issue
 * names the parameter (NOT_PLAIN_DIGITS), and one naming the range outside it. Documented as an integer with its
 * range: the preprocess step is invisible to the JSON Schema of the input. A default goes in `.prefault(n)`, which
 * zod documents (`.default(n)` applies to the output side of a preprocess, and zod drops it from the input's schema).
 */
export function queryInteger(range: { readonly min: number; readonly max: number }) {
  const { min, max } = range;
  const outOfRange = `must be from ${min} to ${max}`;
  return z.preprocess(
    (value, ctx) => {
      if (typeof value !== "string") return value;
      if (!PLAIN_DIGITS.test(value)) {
        ctx.addIssue({ code: "custom", message: NOT_PLAIN_DIGITS, input: value });
        return z.NEVER;
      }
      // Compared as text first: 400 digits are Infinity as a number, and no less out of range.
      const number = value.length > String(max).length ? Number.POSITIVE_INFINITY : Number(value);
      if (number < min || number > max) {
        ctx.addIssue({ code: "custom", message: outOfRange, input: value });
        return z.NEVER;
      }
      return number;
    },
    z.number().check(z.int(), z.gte(min, outOfRange), z.lte(max, outOfRange)),
  );
}
