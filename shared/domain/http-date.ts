/**
 * HTTP-date (RFC 9110 §5.6.7), as a `Retry-After` may carry it. Strict on purpose: V8's `Date.parse` reads
 * almost anything as a date (`Mon 1` is 2001-01-01, `Retry in 120` the year 120), and a receiver's garbage read
 * as a date in the past would mean "retry now" instead of falling back to the backoff.
 */

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const MONTH = `(${MONTHS.join("|")})`;
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";

/** `Sun, 06 Nov 1994 08:49:37 GMT` */
const IMF_FIXDATE = new RegExp(
  `^(?:mon|tue|wed|thu|fri|sat|sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`,
  "i",
);
/** `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete) */
const RFC850_DATE = new RegExp(
  `^(?:mon|tues|wednes|thurs|fri|satur|sun)day, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
  "i",
);
/** `Sun Nov  6 08:49:37 1994` (obsolete; GMT implied) */
const ASCTIME_DATE = new RegExp(
  `^(?:mon|tue|wed|thu|fri|sat|sun) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`,
  "i",
);

/** The instant an HTTP-date names (ms since the epoch), or undefined for anything else. */
export function parseHttpDate(text: string, nowMs: number): number | undefined {
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    const [, day, month, year, ...time] = match;
    return instant(Number(year), month, day, time);
  }
  match = RFC850_DATE.exec(text);
  if (match) {
    const [, day, month, year, ...time] = match;
    return instant(fullYear(Number(year), nowMs), month, day, time);
  }
  match = ASCTIME_DATE.exec(text);
  if (match) {
    const [, month, day, hour, minute, second, year] = match;
    return instant(Number(year), month, day, [hour, minute, second]);
  }
  return undefined;
}

/**
 * RFC 9110: a two-digit year that would be more than 50 years in the future is the most recent past year with
 * those digits.
 */
function fullYear(twoDigits: number, nowMs: number): number {
  const thisYear = new Date(nowMs).getUTCFullYear();
  const candidate = thisYear - (thisYear % 100) + twoDigits;
  return candidate > thisYear + 50 ? candidate - 100 : candidate;
}

/** The UTC instant, or undefined for a date or time that does not exist (31 Feb, 24:00; 60 s is a leap second). */
function instant(
  year: number,
  month: string | undefined,
  day: string | undefined,
  [hour, minute, second]: readonly (string | undefined)[],
): number | undefined {
  const m = MONTHS.indexOf(String(month).toLowerCase());
  const [d, h, min, s] = [Number(day), Number(hour), Number(minute), Number(second)] as const;
  if (m < 0 || h > 23 || min > 59 || s > 60) return undefined;
  // Date.UTC rolls 31 Feb over into March: a day its month does not have is no date.
  if (d < 1 || new Date(Date.UTC(year, m, d)).getUTCMonth() !== m) return undefined;
  return Date.UTC(year, m, d, h, min, s);
}
