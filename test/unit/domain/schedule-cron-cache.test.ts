import { Cron } from "croner";
import { describe, expect, it, vi } from "vitest";
import { cronProblem, cronsKept, nextOccurrence } from "#shared/domain/schedule-cron.js";

/*
 * cronOf keeps the croner objects it builds (per zone and pattern, a few at most) instead of building one per
 * occurrence asked: the answers must be the ones a newly built object gives, however the calls interleave.
 */

const at = (iso: string) => Date.parse(iso);

const PATTERNS = [
  "* * * * *",
  "*/5 * * * *",
  "30 2 * * *",
  "0 9 * * 1-5",
  "15 14 1 * *",
  "0 0 L * *",
  "0 12 * * 5#2",
  "*/10 * * * * *",
  "@daily",
  "0 22 * * 0",
  "59 23 31 12 *",
  "0 */6 * * *",
];
/** A lower-case spelling among them: the same zone's objects under the zone's own name. */
const ZONES = [
  "UTC",
  "Europe/Berlin",
  "europe/berlin",
  "America/New_York",
  "Asia/Kolkata",
  "Australia/Lord_Howe",
  "Pacific/Chatham",
  "America/Argentina/Buenos_Aires",
];
/** Away from every DST change of these zones, so each answer is croner's own (no gap stepped over). */
const FROMS = ["2027-01-10T10:00:00Z", "2027-07-15T23:59:30Z", "2027-11-20T05:00:00Z"].map(at);

/** The answer of a croner object built for this one question, with cronOf's options. */
function freshNext(cron: string, timezone: string, fromMs: number): number | undefined {
  const zone = new Intl.DateTimeFormat("en-US", { timeZone: timezone }).resolvedOptions().timeZone;
  const fresh = new Cron(cron, {
    paused: true,
    timezone: zone,
    mode: "5-or-6-parts",
    fixedTimeRule: "single-value",
  });
  return fresh.nextRun(new Date(fromMs))?.getTime();
}

const questions = PATTERNS.flatMap((cron) =>
  ZONES.flatMap((timezone) => FROMS.map((fromMs) => ({ cron, timezone, fromMs }))),
);

describe("croner objects kept per zone and pattern", () => {
  it("answer every next occurrence as a newly built one does, in any order, evicted and built again or kept", () => {
    // Prepare: the expected answers, each from its own croner object.
    const expected = questions.map(({ cron, timezone, fromMs }) => freshNext(cron, timezone, fromMs));

    // Act: in order (96 zone-pattern pairs, far more than are kept), then backwards, then one pair many times.
    const inOrder = questions.map(({ cron, timezone, fromMs }) => nextOccurrence({ cron, timezone }, fromMs));
    const backwards = [...questions]
      .reverse()
      .map(({ cron, timezone, fromMs }) => nextOccurrence({ cron, timezone }, fromMs))
      .reverse();
    const repeated = FROMS.flatMap((fromMs) =>
      [1, 2, 3].map(() => nextOccurrence({ cron: "0 9 * * 1-5", timezone: "America/New_York" }, fromMs)),
    );

    // Assess
    expect(expected.every((ms) => ms !== undefined)).toBe(true);
    expect(inOrder).toEqual(expected);
    expect(backwards).toEqual(expected);
    expect(repeated).toEqual(
      FROMS.flatMap((fromMs) => Array(3).fill(freshNext("0 9 * * 1-5", "America/New_York", fromMs))),
    );
  });

  it("stay few: many distinct patterns and zones keep at most 16 objects", () => {
    // Act: 300 distinct pairs, and patterns only checked (cronProblem), as a create with each would.
    for (let i = 0; i < 100; i++) {
      for (const timezone of ["UTC", "Europe/Berlin", "Asia/Tokyo"]) {
        nextOccurrence(
          { cron: `${i % 60} ${Math.floor(i / 60)} * * *`, timezone },
          at("2027-01-10T10:00:00Z"),
        );
      }
      expect(cronProblem(`${i % 60} ${(i % 23) + 1} * * *`)).toBeUndefined();
    }

    // Assess
    expect(cronsKept()).toBeGreaterThan(0);
    expect(cronsKept()).toBeLessThanOrEqual(16);
  });

  it("are reused: a schedule's occurrences asked one after another are searched by one croner object", () => {
    // Prepare
    const spec = { cron: "*/15 * * * *", timezone: "Europe/Paris" };
    const searches = vi.spyOn(Cron.prototype, "nextRun");

    try {
      // Act
      nextOccurrence(spec, at("2027-01-10T10:00:00Z"));
      nextOccurrence(spec, at("2027-01-10T10:15:00Z"));
      nextOccurrence({ ...spec, timezone: "europe/paris" }, at("2027-01-10T10:30:00Z"));

      // Assess: the zone's clock's searches (the DST-free clock's are another object, kept by its own cache).
      const zoned = (searches.mock.contexts as Cron[]).filter((cron) => cron.options.timezone !== undefined);
      expect(zoned).toHaveLength(3);
      expect(new Set(zoned).size).toBe(1);
    } finally {
      searches.mockRestore();
    }
  });
});
