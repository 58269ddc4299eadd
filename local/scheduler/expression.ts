/**
 * Schedule expressions and time zones. All three forms are accepted, but only `at()` is ever fired by the
 * emulator: Punctual only creates one-time schedules, so recurring schedules (`rate()`, `cron()`) are stored,
 * listed and returned exactly like on AWS, and never invoke their target.
 */
import { wallClockMs, zoneFormatter } from "#shared/domain/zone-clock.js";
export type ScheduleExpression =
  /** `wallMs` holds the expression's clock fields read as if they were UTC; see `zonedWallTimeToEpochMs`. */
  { readonly kind: "at"; readonly wallMs: number } | { readonly kind: "rate" } | { readonly kind: "cron" };

const AT = /^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$/;
const RATE = /^rate\(([1-9]\d*) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\(([^()]+)\)$/;
const CRON_FIELD = /^[0-9A-Za-z*?,/#-]+$/;

export function parseScheduleExpression(expression: string): ScheduleExpression | undefined {
  const at = AT.exec(expression);
  if (at) {
    const [year, month, day, hour, minute, second] = at.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const wallMs = Date.UTC(year, month - 1, day, hour, minute, second);
    const back = new Date(wallMs);
    // Date.UTC silently rolls 2026-02-30 over into March; AWS rejects such dates.
    const exact =
      back.getUTCFullYear() === year &&
      back.getUTCMonth() === month - 1 &&
      back.getUTCDate() === day &&
      back.getUTCHours() === hour &&
      back.getUTCMinutes() === minute &&
      back.getUTCSeconds() === second;
    return exact ? { kind: "at", wallMs } : undefined;
  }
  if (RATE.test(expression)) return { kind: "rate" };
  const cron = CRON.exec(expression);
  if (cron?.[1] !== undefined) {
    const fields = cron[1].trim().split(/\s+/);
    if (fields.length !== 6 || !fields.every((f) => CRON_FIELD.test(f))) return undefined;
    // AWS cron needs `?` in exactly one of day-of-month and day-of-week.
    const dayOfMonthAny = fields[2] === "?";
    const dayOfWeekAny = fields[4] === "?";
    return dayOfMonthAny !== dayOfWeekAny ? { kind: "cron" } : undefined;
  }
  return undefined;
}

/** IANA zone names only: recent ICU also accepts offsets such as "+01:00", which AWS does not. */
export function isValidTimeZone(timeZone: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_/+-]*$/.test(timeZone)) return false;
  try {
    zoneFormatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

const isUtc = (timeZone: string) => timeZone === "UTC" || timeZone === "Etc/UTC";

/** How far the zone's wall clock is ahead of UTC at `epochMs`. */
function offsetMs(epochMs: number, timeZone: string): number {
  return wallClockMs(epochMs, timeZone) - epochMs;
}

const DAY_MS = 86_400_000;

/**
 * The instant at which the zone's clocks show `wallMs`. Around DST changes this follows the "compatible"
 * rule (as in Temporal and most cron implementations): a time that occurs twice maps to its first
 * occurrence, a time skipped by spring-forward maps to the same distance after the jump. AWS does not document
 * which choice it makes.
 */
export function zonedWallTimeToEpochMs(wallMs: number, timeZone: string): number {
  if (isUtc(timeZone)) return wallMs;
  const before = offsetMs(wallMs - DAY_MS, timeZone);
  const after = offsetMs(wallMs + DAY_MS, timeZone);
  for (const offset of [before, after]) {
    const candidate = wallMs - offset;
    if (offsetMs(candidate, timeZone) === offset) return candidate;
  }
  return wallMs - before;
}

/** "2022-05-14T01:12:00Z": the form AWS uses for SCHEDULED_TIME and `<aws.scheduler.scheduled-time>`. */
export function isoSeconds(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19)}Z`;
}
