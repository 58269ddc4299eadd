import { parse as parseLossless } from "lossless-json";

/**
 * The first number of an answer's JSON text that `JSON.parse` cannot read as written, or undefined: one past a
 * double's range (`1e400` reads as Infinity, which JSON.stringify then writes `null`; `1e-400` as 0) or an integer
 * past 2^53 (`123456789012345678901234567890` reads rounded). The API writes its answers with JSON.stringify, which
 * writes neither; read, such a number would be shown (by the CLI, in a field it does not know, which no schema
 * checks) as a value the server never sent. Only text that may hold one (a run of 16 digits, a 3-digit exponent) is
 * read again, by lossless-json, which hands each number token over as written (digits inside strings are not
 * numbers); text it cannot read (a duplicate key, which JSON.parse takes) is left to the schema.
 */
export function inexactNumber(text: string): string | undefined {
  if (!/\d{16}|[eE][+-]?\d{3}/.test(text)) return undefined;
  let found: string | undefined;
  try {
    parseLossless(text, undefined, (token) => {
      if (found === undefined && !readExactly(token)) found = token;
      return 0;
    });
  } catch {
    return undefined;
  }
  return found;
}

function readExactly(token: string): boolean {
  const value = Number(token);
  if (!Number.isFinite(value)) return false;
  if (/^-?\d+$/.test(token)) return Number.isSafeInteger(value);
  // A mantissa with a digit other than 0 read as 0: below a double's range.
  return value !== 0 || !/[1-9]/.test(token.split(/[eE]/)[0] ?? "");
}
