import { Cron, CronPattern } from "croner";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { occurrencesBetween } from "#shared/domain/schedule-cron.js";
import { wallClockMs } from "#shared/domain/zone-clock.js";
import { propertyRuns, propertyScale } from "../../support/fast-check-runs.js";

/*
 * The DST rule docs/API.md states ("DST"), checked against an oracle that knows nothing of croner's search: the
 * zone's wall clock read minute by minute (Intl). schedule-dst-property.test.ts compares with croner's own search,
 * which is the rule only where croner keeps it: a fixed local time whose gap ends at midnight (America/Nuuk springs
 * 23:00 → 00:00) croner skips for the day, so that property leaves those zones out. This one takes them in, and
 * splits the span at a random cursor, as consecutive materializer runs do (each from the cursor the last left).
 * Reproduce a failure with the seed (and path) fast-check prints: `FC_SEED=<seed> FC_PATH=<path> npx vitest run <this file>`.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** Changes at midnight (Nuuk, Scoresbysund, Santiago, Havana, Asunción), 30 min (Lord Howe), 2 h (Troll), odd offsets. */
const ZONES = [
  "America/Nuuk",
  "America/Scoresbysund",
  "America/Santiago",
  "America/Havana",
  "America/Asuncion",
  "Australia/Lord_Howe",
  "Antarctica/Troll",
  "Pacific/Chatham",
  "America/St_Johns",
  "Europe/Berlin",
  "America/New_York",
  "Africa/Cairo",
  "Asia/Jerusalem",
] as const;

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

/**
 * What docs/API.md says runs in (fromMs, toMs], read off the wall clock minute by minute (five-field patterns: whole
 * minutes). A fixed local time (single second, minute and hour) runs once per local date: at the first instant the
 * clock reads it, or, when a spring-forward gap swallows it, at the first instant after that gap (on whichever date
 * that falls). Any other pattern runs at every instant whose wall-clock time it matches.
 */
function documentedRuns(cron: string, timezone: string, fromMs: number, toMs: number): number[] {
  const local = new Cron(cron, { paused: true, utcOffset: 0, mode: "5-or-6-parts" });
  const matches = (wallMs: number) => local.match(new Date(wallMs));
  const fixed = new CronPattern(cron, undefined, { mode: "5-or-6-parts", fixedTimeRule: "single-value" })
    .isFixedTime;
  const runs = new Set<number>();
  const localTimesRun = new Set<number>();
  let previousWall = wallClockMs(fromMs, timezone);
  for (let t = fromMs + MINUTE_MS; t <= toMs; t += MINUTE_MS) {
    const wall = wallClockMs(t, timezone);
    if (fixed) {
      // The local times the clock jumped over (a gap) run at this instant, the first after it.
      for (let skipped = previousWall + MINUTE_MS; skipped < wall; skipped += MINUTE_MS) {
        if (matches(skipped) && !localTimesRun.has(skipped)) {
          localTimesRun.add(skipped);
          runs.add(t);
        }
      }
      if (matches(wall) && !localTimesRun.has(wall)) {
        localTimesRun.add(wall);
        runs.add(t);
      }
    } else if (matches(wall)) runs.add(t);
    previousWall = wall;
  }
  return [...runs];
}

/** Patterns that name a time near the changed hours (a fixed local time) or cross them on the real clock. */
const pattern = fc.oneof(
  fc
    .record({ m: fc.integer({ min: 0, max: 59 }), h: fc.constantFrom(0, 1, 2, 3, 22, 23) })
    .map(({ m, h }) => `${m} ${h} * * *`),
  fc.constantFrom(0, 1, 2, 3, 22, 23).map((h) => `*/20 ${h} * * *`),
  fc.constantFrom(10, 15, 30).map((n) => `*/${n} * * * *`),
  fc.constantFrom("0 0,1 * * *", "30 1,2 * * *", "0 23 * * 6", "45 0 * * *", "0 0 * * *", "30 23 * * *"),
);

describe("occurrences near DST changes against the wall clock (property)", () => {
  it(
    "are the documented ones, each once, also when a run's cursor splits the span anywhere, in zones croner alone gets wrong",
    () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...ZONES),
          fc.nat(),
          pattern,
          fc.integer({ min: 1, max: 6 * 60 - 1 }),
          (timezone, which, cron, splitMinutes) => {
            // Prepare: three hours either side of one of the zone's changes; a cursor somewhere in between
            const changes = CHANGES.get(timezone) ?? [];
            fc.pre(changes.length > 0);
            const change = changes[which % changes.length] as number;
            const fromMs = Math.floor((change - 3 * HOUR_MS) / MINUTE_MS) * MINUTE_MS;
            const toMs = fromMs + 6 * HOUR_MS;
            const cursorMs = fromMs + splitMinutes * MINUTE_MS + 13_000;
            const spec = { cron, timezone };

            // Act
            const whole = occurrencesBetween(spec, fromMs, toMs, 10_000);
            const inTwoRuns = [
              ...occurrencesBetween(spec, fromMs, cursorMs, 10_000),
              ...occurrencesBetween(spec, cursorMs, toMs, 10_000),
            ];

            // Assess
            const expected = documentedRuns(cron, timezone, fromMs, toMs);
            expect(whole).toEqual(expected);
            expect(inTwoRuns).toEqual(expected);
          },
        ),
        propertyRuns(120),
      );
    },
    30_000 * propertyScale(),
  );
});
