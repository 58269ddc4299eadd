/*
 * A time zone's wall clock, read with Intl (no time-zone library): what the schedule's DST checks
 * (schedule-cron.ts) and the local Scheduler emulator's time zones (local/scheduler/expression.ts) share.
 */

/** Per zone as Intl names it: at most the few hundred zones ICU knows. */
const formatters = new Map<string, Intl.DateTimeFormat>();
/** Spellings met → the zone Intl names; bounded, as the spellings a caller can send are not. */
const zoneNames = new Map<string, string>();
const MAX_SPELLINGS_KEPT = 1_000;

/**
 * The zone as Intl names it (`Europe/Berlin` for `europe/berlin` or `EUROPE/BERLIN`; a link such as `US/Eastern`
 * by its target): the same clock under one key. Intl takes a name in any letter case, so the spellings of one zone
 * run to 2^letters; a formatter kept per spelling (some 28 KB of ICU memory each, in croner's cache as in ours) let
 * a caller grow a warm function's memory without bound, one create (refused or not) at a time. Throws a RangeError
 * for a zone Intl does not know.
 */
export function canonicalZone(timeZone: string): string {
  let zone = zoneNames.get(timeZone);
  if (zone === undefined) {
    zone = new Intl.DateTimeFormat("en-US", { timeZone }).resolvedOptions().timeZone;
    if (zoneNames.size >= MAX_SPELLINGS_KEPT) zoneNames.clear();
    zoneNames.set(timeZone, zone);
  }
  return zone;
}

/** One formatter per zone (building one is the costly part); throws a RangeError for a zone Intl does not know. */
export function zoneFormatter(timeZone: string): Intl.DateTimeFormat {
  const zone = canonicalZone(timeZone);
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, formatter);
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
