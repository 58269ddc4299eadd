import { InvalidArgumentError } from "commander";
import { isPlainDigits } from "../shared/domain/query-integer.js";

/**
 * A commander parser for a whole-number option (`--limit`, `--max-pages`): plain decimal digits from `min` to
 * `max`, as the API's query parameters take them (shared/domain/query-integer.ts). `Number()` alone would read
 * `0x10` as 16 and `1e2` as 100, a typo sent as some other number.
 */
export function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!isPlainDigits(value)) {
      throw new InvalidArgumentError(
        `must be a whole number from ${min} to ${max} in plain decimal digits (no sign, spaces, leading zeros, point, exponent or 0x)`,
      );
    }
    const number = Number(value);
    if (number < min || number > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return number;
  };
}
