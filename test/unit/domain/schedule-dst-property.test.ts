import { Cron } from "croner";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nextOccurrence } from "#shared/domain/schedule-cron.js";
import { wallClockMs } from "#shared/domain/zone-clock.js";
import { propertyRuns } from "../../support/fast-check-runs.js";

/*
 * nextOccurrence steps over DST gaps itself (schedule-cron.ts, walkDstGaps) instead of letting croner reject a gap's
 * times one at a time. Property: near any zone's offset change, for patterns that fill, cross or skip the changed
 * hours, its answer is croner's own search's, configured as the schedules configure it. Reproduce a failure with
 * the seed (and path) fast-check prints: `FC_SEED=<seed> FC_PATH=<path> npx vitest run <this file>`.
 */

/**
 * Zones whose changes are unlike Berlin's: 30 minutes (Lord Howe), two hours (Troll), at midnight (Santiago,
 * Havana, Asunción), south of the equator (Auckland, Adelaide), negative or half-hour offsets (New York, St John's,
 * Chatham at +12:45), the change at 00:00 or 01:00 UTC (London, Scoresbysund), a Friday change (Jerusalem).
 */
const ZONES = [
  "Europe/Berlin",
  "Australia/Lord_Howe",
  "Antarctica/Troll",
  "America/Santiago",
  "America/Havana",
  "America/Asuncion",
  "Africa/Cairo",
  "Pacific/Auckland",
  "Australia/Adelaide",
  "America/New_York",
  "America/St_Johns",
  "Pacific/Chatham",
  "Europe/London",
  "America/Scoresbysund",
  "Asia/Jerusalem",
] as const;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The instants at which `zone`'s offset changes in 2027 (a day's steps, then halving to the second). */
function offsetChanges(zone: string): number[] {
  const offset = (t: number) => wallClockMs(t, zone) - t;
  const changes: number[] = [];
  for (let day = Date.UTC(2027, 0, 1); day < Date.UTC(2028, 0, 1); day += DAY_MS) {
    if (offset(day) === offset(day + DAY_MS)) continue;
    let lo = day;
    let hi = day + DAY_MS;
    while (hi - lo > 1000) {
      const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
      if (offset(mid) === offset(lo)) lo = mid;
      else hi = mid;
    }
    changes.push(hi);
  }
  return changes;
}

const CHANGES = new Map(ZONES.map((zone) => [zone, offsetChanges(zone)]));

/** Patterns that fill a changed hour to the second or minute, step across it, or name one time in it. */
const pattern = fc.oneof(
  fc.integer({ min: 0, max: 23 }).map((h) => `* * ${h} * * *`),
  fc.integer({ min: 0, max: 23 }).map((h) => `* ${h} * * *`),
  fc
    .record({ from: fc.integer({ min: 0, max: 3 }), span: fc.integer({ min: 0, max: 2 }) })
    .map(({ from, span }) => `*/5 ${from}-${from + span} * * *`),
  fc.constantFrom(2, 5, 7, 15, 30).map((n) => `*/${n} * * * *`),
  fc.integer({ min: 0, max: 59 }).map((m) => `${m} * * * *`),
  fc.integer({ min: 0, max: 59 }).map((m) => `${m} */2 * * *`),
  fc
    .record({ m: fc.integer({ min: 0, max: 59 }), h: fc.integer({ min: 0, max: 3 }) })
    .map(({ m, h }) => `${m} ${h} * * *`),
  // A weekday of one month: its gap days come several years in a row, then a year without (e.g. March's 4th Sunday).
  fc
    .record({
      n: fc.integer({ min: 1, max: 5 }),
      month: fc.constantFrom(3, 4, 9, 10),
      hour: fc.integer({ min: 0, max: 3 }),
    })
    .map(({ n, month, hour }) => `*/15 ${hour} * ${month} 0#${n}`),
  fc.constantFrom("* 0 * * *", "0 0 * * *", "* 2 * * 0", "15,45 * * * *", "*/30 * * * * *", "0 */3 * * *"),
);

describe("next occurrence near DST changes (property)", () => {
  it("is croner's own search's answer, for patterns filling, crossing or naming the changed hours, in zones with unusual changes", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.nat(),
        fc.integer({ min: -3 * HOUR_MS, max: 3 * HOUR_MS }),
        pattern,
        (zone, which, offsetMs, cron) => {
          // Prepare: an instant within three hours of one of the zone's changes
          const changes = CHANGES.get(zone) ?? [];
          fc.pre(changes.length > 0);
          const fromMs = (changes[which % changes.length] as number) + offsetMs;
          const croner = new Cron(cron, {
            paused: true,
            timezone: zone,
            mode: "5-or-6-parts",
            fixedTimeRule: "single-value",
          });

          // Act
          const ours = nextOccurrence({ cron, timezone: zone }, fromMs);

          // Assess
          expect(ours).toBe(croner.nextRun(new Date(fromMs))?.getTime());
        },
      ),
      propertyRuns(300),
    );
  });
});
