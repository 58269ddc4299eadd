/*
 * A time zone's wall clock, read with Intl (no time-zone library): what the schedule's DST checks
 * (schedule-cron.ts) and the local Scheduler emulator's time zones (local/scheduler/expression.ts) share.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

/** One formatter per zone (building one is the costly part); throws a RangeError for a zone Intl does not know. */
export function zoneFormatter(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** The zone's local date and time at `epochMs`, as the epoch ms of those fields read as UTC (milliseconds kept). */
export function wallClockMs(epochMs: number, timeZone: string): number {
  const parts = zoneFormatter(timeZone).formatToParts(new Date(epochMs));
  const field = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(
    field("year"),
    field("month") - 1,
    field("day"),
    field("hour"),
    field("minute"),
    field("second"),
  );
  return wall + (((epochMs % 1000) + 1000) % 1000);
}
