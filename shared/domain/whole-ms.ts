/**
 * A time a request names, as the whole millisecond the service keeps it in: the first at or after it, so a task is
 * never due before the instant asked for (`…00.0009Z` is due at `…00.001Z`; truncating, as `Date.parse` does, made
 * it 0.9 ms early). Against whole-ms times the rounded value also compares exactly as the instant did:
 * `t ≥ x ⇔ t ≥ ⌈x⌉` and `t < x ⇔ t < ⌈x⌉` for a whole-ms `t` — a schedule's occurrences against `start_at` and
 * `end_at`, a due time against its topic's whole-ms maxDelay. Computed digit for digit from the text: a double's
 * product (`1.005 × 1000` is `1004.9999999999999`) is off by a rounding either way, and ceiling that would turn
 * whole milliseconds late. No zod, so the timer modules that import it bundle nothing more.
 */

/** An RFC 3339 date-time as `rfc3339DateTime` gives it on: seconds, an optional fraction, `Z` or `±HH:MM`. */
const DATE_TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/;

/** A decimal as JSON (or JavaScript's `String` of a number) writes one: `12`, `0.5`, `1.5e-7`, `1e+21`. */
const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * Past this many digits before the point (in milliseconds) a value is beyond any time a double holds (~1.8e308), so
 * the walk below never pads a string to an exponent's length (`1e999999999`).
 */
const MAX_WHOLE_DIGITS = 330;

/** The first whole millisecond at or after the date-time; NaN for text of another form. */
export function msAtOrAfterInstant(dateTime: string): number {
  const parts = DATE_TIME.exec(dateTime);
  if (!parts) return Number.NaN;
  const [, toTheSecond, fraction = "", zone] = parts;
  const ms = Number(fraction.slice(0, 3).padEnd(3, "0"));
  return Date.parse(`${toTheSecond}${zone}`) + ms + (hasNonZeroDigit(fraction.slice(3)) ? 1 : 0);
}

/** ⌈seconds × 1000⌉: the first whole millisecond at or after a decimal number of seconds; NaN for other text. */
export function msAtOrAfterSeconds(seconds: string): number {
  const parts = DECIMAL.exec(seconds);
  if (!parts) return Number.NaN;
  const [, sign, whole = "", fraction = "", exponent = "0"] = parts;
  const written = `${whole}${fraction}`;
  const digits = written.replace(/^0+/, "");
  if (digits === "") return 0;
  // Where the point falls among `digits` once the value is in milliseconds.
  const point = whole.length + Number(exponent) + 3 - (written.length - digits.length);
  if (point > MAX_WHOLE_DIGITS) return sign ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  const wholeMs = point > 0 ? Number(digits.slice(0, point).padEnd(point, "0")) : 0;
  const below = point > 0 ? digits.slice(point) : digits;
  // Up for a positive rest; a negative value's rest is already on the later side of its whole part.
  if (sign) return wholeMs === 0 ? 0 : -wholeMs;
  return wholeMs + (hasNonZeroDigit(below) ? 1 : 0);
}

function hasNonZeroDigit(digits: string): boolean {
  return /[1-9]/.test(digits);
}
