import { describe, expect, it, vi } from "vitest";
import { MAX_ISSUE_TEXT } from "#shared/api/errors.js";
import {
  isKnownTimeZone,
  MATERIALIZE_HORIZON_MS,
  makeScheduleKey,
  materializeHorizonMs,
  occurrenceIdempotencyKey,
  parseScheduleId,
  SCHEDULE_SHARDS,
  scheduleShardOf,
  timeZoneProblem,
} from "#shared/domain/schedule.js";
import {
  cronProblem,
  latestOccurrenceBetween,
  materializeAt,
  nextOccurrence,
  occurrencesBetween,
  onlyDstGapsAhead,
} from "#shared/domain/schedule-cron.js";
import { cronerSearchesOf } from "../../support/croner-searches.js";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
const daily0230Berlin = { cron: "30 2 * * *", timezone: "Europe/Berlin" };

describe("DST: a 02:30 daily schedule in Europe/Berlin", () => {
  it("on the spring-forward day (2027-03-28, 02:30 does not exist) runs once, at 03:00 CEST, the first instant after the gap", () => {
    // Prepare: from noon the day before.
    const from = at("2027-03-27T12:00:00Z");

    // Act
    const runs = occurrencesBetween(daily0230Berlin, from, at("2027-03-30T00:00:00Z"), 10).map(iso);

    // Assess: the 28th at 03:00 CEST (01:00Z), the 29th at 02:30 CEST (00:30Z).
    expect(runs).toEqual(["2027-03-28T01:00:00.000Z", "2027-03-29T00:30:00.000Z"]);
  });

  it("on the fall-back day (2027-10-31, 02:30 happens twice) runs once, at the first 02:30 (CEST, 00:30Z)", () => {
    const runs = occurrencesBetween(
      daily0230Berlin,
      at("2027-10-30T12:00:00Z"),
      at("2027-11-01T12:00:00Z"),
      10,
    ).map(iso);

    // The second 02:30 (CET, 01:30Z) does not run; the day after is 02:30 CET.
    expect(runs).toEqual(["2027-10-31T00:30:00.000Z", "2027-11-01T01:30:00.000Z"]);
  });

  // Greenland springs forward at 23:00 local (-02 → -01), so its gap ends at the next day's 00:00. Croner runs a
  // fixed local time in a gap only when the first instant after it falls on the same local date: a daily 23:30 in
  // America/Nuuk skipped 2027-03-27 altogether (next run 2027-03-28T23:30-01), one day a year.
  it.each([
    ["30 23 * * *", "America/Nuuk"],
    ["0 23 * * *", "America/Scoresbysund"],
    ["0 59 23 * * *", "America/Nuuk"],
    ["30 23 * * 6", "America/Nuuk"],
  ])(
    "a fixed local time in a gap that ends at midnight (%j in %s, 2027-03-27 23:00 → 00:00) runs at the first instant after it, the next day's 00:00",
    (cron, timezone) => {
      const runs = occurrencesBetween(
        { cron, timezone },
        at("2027-03-27T12:00:00Z"),
        at("2027-03-29T12:00:00Z"),
        10,
      ).map(iso);

      // 00:00 -01 on the 28th is 01:00Z; a daily pattern's 23:xx on the 28th (-01) follows, a Saturday's does not.
      const daily = cron.endsWith("* * *");
      expect(runs[0]).toBe("2027-03-28T01:00:00.000Z");
      expect(runs).toHaveLength(daily ? 2 : 1);
      if (daily) expect(runs[1]?.slice(0, 13)).toBe("2027-03-29T00");
    },
  );

  it("an interval pattern runs on the real clock: nothing in the gap, the repeated hour twice", () => {
    const every30 = { cron: "*/30 * * * *", timezone: "Europe/Berlin" };

    const spring = occurrencesBetween(every30, at("2027-03-28T00:15:00Z"), at("2027-03-28T01:45:00Z"), 10);
    const fall = occurrencesBetween(every30, at("2027-10-31T00:15:00Z"), at("2027-10-31T01:45:00Z"), 10);

    // 01:30 CET (00:30Z), then 03:00 CEST (01:00Z), 03:30 CEST: 02:00 and 02:30 do not exist that day.
    expect(spring.map(iso)).toEqual([
      "2027-03-28T00:30:00.000Z",
      "2027-03-28T01:00:00.000Z",
      "2027-03-28T01:30:00.000Z",
    ]);
    // 02:30 CEST (00:30Z), 02:00 CET (01:00Z), 02:30 CET (01:30Z): every half hour of real time.
    expect(fall.map(iso)).toEqual([
      "2027-10-31T00:30:00.000Z",
      "2027-10-31T01:00:00.000Z",
      "2027-10-31T01:30:00.000Z",
    ]);
  });

  // Croner rejects gap times one by one up to the year 3000: ~80 s for a pattern that lives only in gaps.
  it("a pattern whose times all fall in DST gaps has no occurrence, answered at once", async () => {
    const searched = await cronerSearchesOf(() =>
      nextOccurrence({ cron: "* * 2 * 3 0L", timezone: "Europe/Berlin" }, at("2026-12-01T00:00:00Z")),
    );

    // Bounded work, not a stopwatch: one step to each year's gap, over it at once, for the calendar's 28-year cycle
    // (two gaps in a row are not 'never': see the fourth-Sunday test below), not the gap's 3,600 seconds one by
    // one; croner's zone search never started
    expect(searched.result).toBeUndefined();
    expect(searched.zoned).toBe(0);
    expect(searched.all).toBeGreaterThan(0);
    expect(searched.all).toBeLessThanOrEqual(30);
  });

  it("the work counter sees croner's zone search where it runs (so its zero above means something)", async () => {
    const searched = await cronerSearchesOf(() =>
      nextOccurrence({ cron: "*/30 * * * *", timezone: "Europe/Berlin" }, at("2026-12-01T00:00:00Z")),
    );

    expect(searched.result).toBe(at("2026-12-01T00:30:00Z"));
    expect(searched.zoned).toBe(1);
  });

  it("a pattern whose next times fall in two years' gaps in a row but not in a later year's is not 'never': every 15 minutes of 02:xx on March's fourth Sunday in Europe/Berlin (the last Sunday, the gap, in 2027-2029; not in 2030) runs next in 2030", () => {
    // Prepare: March 2030 has five Sundays, so its fourth (the 24th) is not the spring-forward day (the 31st).
    const spec = { cron: "*/15 2 * 3 0#4", timezone: "Europe/Berlin" };

    // Act
    const next = nextOccurrence(spec, at("2027-03-01T00:00:00Z"));

    // Assess: 2030-03-24 02:00 CET is 01:00Z, croner's own search's answer
    expect(iso(next ?? 0)).toBe("2030-03-24T01:00:00.000Z");
  });

  it("a gap of two hours (Antarctica/Troll springs from +00 to +02) does not read as 'never': every second of 01:xx and 02:xx runs again the next day", () => {
    // 2027-03-28 01:00Z: Troll's local 01:00 becomes 03:00, so 7,200 one-second local times in a row do not exist.
    const spec = { cron: "* * 1,2 * * *", timezone: "Antarctica/Troll" };

    const next = nextOccurrence(spec, at("2027-03-28T00:30:00Z"));

    // 2027-03-29 01:00 at +02 is 2027-03-28 23:00Z.
    expect(iso(next ?? 0)).toBe("2027-03-28T23:00:00.000Z");
  });

  it.each([
    ["* * 2 * * *", "Europe/Berlin", "2027-03-29T00:00:00.000Z"],
    ["* * 1,2 * * *", "Antarctica/Troll", "2027-03-28T23:00:00.000Z"],
    ["* * 2,3 * * *", "Europe/Berlin", "2027-03-28T01:00:00.000Z"],
  ])(
    "%s in %s, its next times filling the spring-forward gap, steps over the gap at once instead of second by second",
    async (cron, timezone, expected) => {
      // Prepare: a minute before the gap (2027-03-28 01:00Z in both zones), a zone reading counted as the work.
      const zoneReads = vi.spyOn(Intl.DateTimeFormat.prototype, "formatToParts");

      // Act
      const searched = await cronerSearchesOf(() =>
        nextOccurrence({ cron, timezone }, at("2027-03-28T00:59:00Z")),
      );
      const reads = zoneReads.mock.calls.length;
      zoneReads.mockRestore();

      // Assess: bounded work, not a stopwatch (walking the gap's 3,600 or 7,200 seconds, each a croner step and
      // zone readings, took a create up to seconds of CPU); the occurrence at the gap's end instant is kept.
      expect(iso(searched.result ?? 0)).toBe(expected);
      expect(searched.all).toBeLessThanOrEqual(10);
      expect(reads).toBeLessThanOrEqual(200);
    },
  );

  it("a pattern whose times fall in a gap one year still runs the next (every second of 02:xx on 28 March)", () => {
    const spec = { cron: "* * 2 28 3 *", timezone: "Europe/Berlin" };

    // 2027-03-28 is the spring-forward Sunday (02:xx does not exist); 2028-03-28 02:00 CEST is 00:00Z.
    expect(iso(nextOccurrence(spec, at("2027-03-01T00:00:00Z")) ?? 0)).toBe("2028-03-28T00:00:00.000Z");
  });
});

describe("occurrences", () => {
  it.each([
    [
      "every second",
      { cron: "* * * * * *", timezone: "UTC" },
      "2027-01-01T00:00:00Z",
      "2027-01-01T00:10:00.500Z",
    ],
    ["02:30 daily across spring-forward", daily0230Berlin, "2027-03-20T00:00:00Z", "2027-03-29T00:00:00Z"],
    [
      "every 30 min across fall-back",
      { cron: "*/30 * * * *", timezone: "Europe/Berlin" },
      "2027-10-30T22:00:00Z",
      "2027-10-31T02:10:00Z",
    ],
    [
      "weekdays 9:00 only",
      { cron: "0 9 * * 1-5", timezone: "America/New_York" },
      "2027-01-01T00:00:00Z",
      "2027-01-10T12:00:00Z",
    ],
    [
      "within end_at",
      { cron: "0 * * * *", timezone: "UTC", endAtMs: at("2027-01-01T05:30:00Z") },
      "2027-01-01T00:00:00Z",
      "2027-01-02T00:00:00Z",
    ],
  ])(
    "the latest occurrence in a span (%s) is the last one walking forward finds, found without walking",
    (_, spec, from, until) => {
      const walked = occurrencesBetween(spec, at(from), at(until), 100_000);

      const latest = latestOccurrenceBetween(spec, at(from), at(until));

      expect(latest).toBe(walked.at(-1));
    },
  );

  it("no latest occurrence in a span without one (start_at after it)", () => {
    const spec = { cron: "0 * * * *", timezone: "UTC", startAtMs: at("2027-02-01T00:00:00Z") };

    expect(
      latestOccurrenceBetween(spec, at("2027-01-01T00:00:00Z"), at("2027-01-31T00:00:00Z")),
    ).toBeUndefined();
  });

  it("six fields: seconds first", () => {
    const runs = occurrencesBetween(
      { cron: "*/2 * * * * *", timezone: "UTC" },
      at("2027-01-01T00:00:00.500Z"),
      at("2027-01-01T00:00:06Z"),
      10,
    );

    expect(runs.map(iso)).toEqual([
      "2027-01-01T00:00:02.000Z",
      "2027-01-01T00:00:04.000Z",
      "2027-01-01T00:00:06.000Z",
    ]);
  });

  it.each([
    // The 31st: only the months that have one.
    ["0 0 31 * *", ["2027-01-31", "2027-03-31", "2027-05-31"]],
    // The last day of each month, the last Friday, the nearest weekday to the 15th, the fifth Monday.
    ["0 0 L * *", ["2027-01-31", "2027-02-28", "2027-03-31"]],
    ["0 0 * * 5L", ["2027-01-29", "2027-02-26", "2027-03-26"]],
    ["0 0 15W * *", ["2027-01-15", "2027-02-15", "2027-03-15"]],
    ["0 0 * * 1#5", ["2027-03-29", "2027-05-31", "2027-08-30"]],
    // Leap day: every four years.
    ["0 0 29 2 *", ["2028-02-29", "2032-02-29", "2036-02-29"]],
    // Both day fields restricted: OR (Vixie cron), the 13th or any Friday; `+` before the weekday makes it AND.
    ["0 0 13 * 5", ["2027-01-01", "2027-01-08", "2027-01-13"]],
    ["0 0 13 * +5", ["2027-08-13", "2028-10-13", "2029-04-13"]],
  ])("calendar rules as docs/API.md states them: %s", (cron, days) => {
    const runs = occurrencesBetween(
      { cron, timezone: "UTC" },
      at("2027-01-01T00:00:00Z") - 1,
      Number.MAX_SAFE_INTEGER,
      3,
    );

    expect(runs.map((ms) => iso(ms).slice(0, 10))).toEqual(days);
  });

  it.each(["0 0 30 2 *", "0 0 31 4 *", "0 0 31W 2 *", "0 0 1 * +1#5"])(
    "a pattern that never fires (%s) has no occurrence, so a create refuses it",
    (cron) => {
      expect(nextOccurrence({ cron, timezone: "UTC" }, at("2027-01-01T00:00:00Z"))).toBeUndefined();
    },
  );

  it("are strictly after the cursor, at most `limit`", () => {
    const spec = { cron: "* * * * *", timezone: "UTC" };

    const runs = occurrencesBetween(spec, at("2027-01-01T00:01:00Z"), at("2027-01-01T01:00:00Z"), 2);

    expect(runs.map(iso)).toEqual(["2027-01-01T00:02:00.000Z", "2027-01-01T00:03:00.000Z"]);
  });

  it("start_at is inclusive and end_at exclusive", () => {
    const spec = {
      cron: "0 * * * *",
      timezone: "UTC",
      startAtMs: at("2027-01-01T03:00:00Z"),
      endAtMs: at("2027-01-01T05:00:00Z"),
    };

    const runs = occurrencesBetween(spec, at("2027-01-01T00:00:00Z"), at("2027-01-02T00:00:00Z"), 10);

    expect(runs.map(iso)).toEqual(["2027-01-01T03:00:00.000Z", "2027-01-01T04:00:00.000Z"]);
    expect(nextOccurrence(spec, at("2027-01-01T04:00:00Z"))).toBeUndefined();
  });

  it.each([
    [
      "a cursor and start_at with milliseconds",
      { cron: "*/7 * * * * *", timezone: "UTC" },
      "2027-01-01T00:00:00.499Z",
    ],
    ["a fixed local time after a gap", daily0230Berlin, "2027-03-27T23:59:59.750Z"],
    [
      "a gap of every second stepped over",
      { cron: "* * 2 * * *", timezone: "Europe/Berlin" },
      "2027-03-28T00:59:58.250Z",
    ],
    [
      "a zone with a half-hour change",
      { cron: "*/20 * * * *", timezone: "Australia/Lord_Howe" },
      "2027-10-02T15:00:00.999Z",
    ],
  ])(
    "fall on whole seconds (%s): what a stop probes for a schedule it cannot compute",
    (_name, spec, from) => {
      const runs = occurrencesBetween(
        { ...spec, startAtMs: at(from) + 1 },
        at(from),
        at(from) + 3 * 86_400_000,
        50,
      );

      expect(runs.length).toBeGreaterThan(0);
      expect(runs.filter((ms) => ms % 1000 !== 0).map(iso)).toEqual([]);
    },
  );

  it("the horizon is the topic's maxDelay when that is shorter, never longer than 4 minutes", () => {
    expect(materializeHorizonMs(120)).toBe(120_000);
    expect(materializeHorizonMs(86_400)).toBe(MATERIALIZE_HORIZON_MS);
  });

  it("the materializer looks again when the next occurrence enters the horizon", () => {
    const spec = { cron: "0 12 * * *", timezone: "UTC" };

    expect(materializeAt(spec, at("2027-01-01T00:00:00Z"), MATERIALIZE_HORIZON_MS)).toBe(
      at("2027-01-01T12:00:00Z") - MATERIALIZE_HORIZON_MS,
    );
    expect(
      materializeAt(
        { ...spec, endAtMs: at("2027-01-01T12:00:00Z") },
        at("2027-01-01T00:00:00Z"),
        MATERIALIZE_HORIZON_MS,
      ),
    ).toBe(undefined);
  });
});

describe("validation", () => {
  it.each(["30 2 * * *", "*/5 * * * * *", "@daily", "0 9 * * MON-FRI", "0 0 L * *"])("accepts %s", (cron) => {
    expect(cronProblem(cron)).toBeUndefined();
  });

  it.each(["61 2 * * *", "* * *", "0 0 0 1 1 * 2030", "every day", ""])(
    "refuses %j with a reason",
    (cron) => {
      expect(cronProblem(cron)).toMatch(/is not a valid cron pattern/);
    },
  );

  // Croner counts day-of-month and month from 0 inside and named its own count: a month 13 was refused as
  // "Invalid value for month: 12", a day 0 as "day: -1", so the 400 pointed at a value the caller never sent.
  it.each([
    ["0 0 32 * *", /day-of-month: 32 \(1-31\)/],
    ["0 0 0 * *", /day-of-month: 0 \(1-31\)/],
    ["0 0 * 13 *", /month: 13 \(1-12\)/],
    ["0 0 * 0 *", /month: 0 \(1-12\)/],
    ["0 0 1-32 * *", /day-of-month: 32 \(1-31\)/],
    ["0 0 32W * *", /day-of-month: 32 \(1-31\)/],
    ["0 0 * * 8", /day-of-week: 8 \(0-7\)/],
    ["0 99 * * *", /hour: 99 \(0-23\)/],
  ])("refuses %j naming the value as written", (cron, named) => {
    expect(cronProblem(cron)).toMatch(named);
  });

  // Past a double's integers croner names its own reading: `day: 1.111111111111111e+29` (its name for the field,
  // and one less than sent) for a day-of-month of thirty 1s. Not the value sent: the field and its range alone.
  it.each([
    [`0 0 ${"1".repeat(30)} * *`, "day-of-month (1-31)"],
    [`0 0 ${"1".repeat(30)}W * *`, "day-of-month (1-31)"],
    ["0 0 9007199254740993 * *", "day-of-month (1-31)"],
    [`0 0 * ${"1".repeat(30)} *`, "month (1-12)"],
    [`${"1".repeat(30)} * * * *`, "minute (0-59)"],
    [`0 0 * * ${"1".repeat(30)}`, "day-of-week (0-7)"],
  ])("refuses %j naming the field in the caller's words, not croner's reading", (cron, named) => {
    expect(cronProblem(cron)).toMatch(new RegExp(`Invalid value for ${named.replace(/[()]/g, "\\$&")}$`));
  });

  // Croner's refusals quote the pattern or a field of it whole (`pattern '…' has 7 parts`, `('1-999…')`, `minute:
  // 999…`): a refusal names a value the caller sent by its first 64 characters (shared/domain/echoed.ts, API.md
  // "Errors"), not up to the issue's 200-character clip.
  it.each([
    ["seven fields, the first long", `${"0,".repeat(60)}0 * * * * * *`],
    ["a long range", `1-${"9".repeat(250)} * `],
    ["a long stepped prefix", `${"0".repeat(100)}/0 * * * *`],
    ["a long nth weekday", `0 0 * * 5#${"1".repeat(100)}`],
    ["a long illegal field", `${"a".repeat(100)} * * * *`],
  ])("refuses %s naming the value cut to 64 characters", (_, cron) => {
    const problem = cronProblem(cron) ?? "";
    expect(problem).toMatch(/is not a valid cron pattern/);
    const longest = Math.max(...problem.split(/[\s'()]+/).map((word) => word.length));
    expect(longest, problem).toBeLessThanOrEqual(64);
  });

  // An EventBridge cron (minute hour day-of-month month day-of-week year, `?` in one day field) is also six
  // fields: read seconds-first, `0 12 * * ? *` (daily at noon on AWS) ran hourly at :12, `0 0 1 1 ? *` (New Year)
  // monthly at 01:00. Croner reads `?` as `*` in any field; here it is refused outside the two day fields.
  it.each([
    ["0 12 * * ? *", "daily at noon on AWS"],
    ["0 0 1 1 ? *", "1 January on AWS"],
    ["15 10 ? * MON-FRI *", "weekdays at 10:15 on AWS"],
    ["? * * * *", "a question mark as the minute"],
  ])("refuses %j (%s): `?` only stands for a day field, and the message names the AWS format", (cron) => {
    expect(cronProblem(cron)).toMatch(/is not a valid cron pattern.*`\?` .*day-of-month or day-of-week.*AWS/);
  });

  // A Quartz cron (seconds first, `?` in one day field) has croner's six fields, but Quartz counts the weekday from
  // Sunday = 1: `0 0 12 ? * 2` (Mondays at noon in Quartz) ran on Tuesdays, `0 0 9 ? * 6#3` (third Friday) on the
  // third Saturday, silently. With `?`, a numbered weekday is refused; a named one means the same in both.
  it.each([
    ["0 0 12 ? * 2", "Mondays at noon in Quartz"],
    ["0 0 9 ? * 6#3", "the third Friday in Quartz"],
    ["0 0 9 ? * 2-6", "weekdays in Quartz"],
    ["0 0 9 ? * 6L", "the last Friday in Quartz"],
  ])(
    "refuses %j (%s): `?` and a numbered weekday read as Quartz, a day off; the message says to name the day",
    (cron) => {
      const problem = cronProblem(cron) ?? "";
      expect(problem).toMatch(/is not a valid cron pattern.*Quartz.*MON/);
      expect(problem.length).toBeLessThanOrEqual(MAX_ISSUE_TEXT);
    },
  );

  it.each([
    "0 0 12 ? * MON",
    "0 0 9 ? * FRI#3",
    "0 0 12 1 * ?",
    "0 0 12 * * 2",
    "0 12 ? * 2",
    "0 0 12 ? * *",
  ])("takes %j: a named weekday, `?` in the weekday, no `?`, or five fields (never Quartz's)", (cron) => {
    expect(cronProblem(cron)).toBeUndefined();
  });

  // The API clips an issue's message at MAX_ISSUE_TEXT characters: this one must arrive whole, remedy included,
  // not cut mid-word before "write `0 12 * * *`".
  it("keeps the AWS-cron refusal within the API's issue clip, so its remedy reaches the caller", () => {
    const problem = cronProblem("0 12 * * ? *") ?? "";
    expect(problem).toMatch(/write `0 12 \* \* \*`$/);
    expect(problem.length).toBeLessThanOrEqual(MAX_ISSUE_TEXT);
  });

  // Croner splits fields on any JS whitespace, Unicode's included: `3<U+FEFF>0 2 * * *` reads `30 2 * * *` on a
  // screen but is six fields, daily at 02:00:03; a line break in a stored pattern breaks every table showing it.
  it.each([
    ["3\uFEFF0 2 * * *", "a zero-width no-break space (BOM)"],
    ["30\u00A02 * * *", "a no-break space"],
    ["30 2 * *\u3000*", "an ideographic space"],
    ["30 2 * * *\u2028", "a line separator"],
    ["30 2 * * *\n", "a line break"],
    ["30\t2 * * *", "a tab"],
  ])("refuses %j (%s): fields are separated by plain spaces only", (cron) => {
    expect(cronProblem(cron)).toMatch(/is not a valid cron pattern.*printable ASCII/);
  });

  // Croner takes an ISO 8601 date string as a run-once job: `new Cron("2026-11-23T12:00:00Z")` does not throw, so
  // the pattern passed validation, then every occurrence computation (which reads it as a pattern) threw and
  // POST /v1/schedules answered 500.
  it.each(["0000-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2026-11-23T12:00:00Z", "9999-12-31T23:59:59Z"])(
    "refuses %j: a date is not a recurring pattern, and the message says to add a task instead",
    (cron) => {
      expect(cronProblem(cron)).toMatch(/is not a valid cron pattern.*a date.*due_at/);
    },
  );

  // Vixie cron (cronie, most crontabs) reads a day field starting with `*` as unrestricted, `*/2` too, so with the
  // other day field restricted the two combine with AND: `0 9 */2 * MON` is the Mondays among the odd days there.
  // Croner combines them with OR unless the field is exactly `*`: every odd day and every Monday, silently. The docs
  // promised Vixie's rule.
  it.each([
    ["0 9 */2 * MON", "odd days AND Mondays in Vixie cron"],
    ["0 0 1 * */2", "the 1st AND an even weekday in Vixie cron"],
    ["0 0 9 */2 * MON", "six fields"],
    ["0 9 */1 * 1-5", "a step of one"],
    ["0 9 */3,15 * FRI", "a list that starts with a step"],
  ])(
    "refuses %j (%s): a day field stepping from `*` beside a restricted one reads AND in Vixie cron, OR in croner",
    (cron) => {
      const problem = cronProblem(cron) ?? "";
      expect(problem).toMatch(/is not a valid cron pattern.*Vixie.*`\+`.*1-31\/2/);
      expect(problem.length).toBeLessThanOrEqual(MAX_ISSUE_TEXT);
    },
  );

  it.each(["0 9 *,1 * MON", "0 9 1 * *,MON"])(
    "refuses %j (a list starting with `*`, no step): its message names a field starting with `*`, not a step",
    (cron) => {
      const problem = cronProblem(cron) ?? "";
      expect(problem).toMatch(/a day field starting with `\*`/);
      expect(problem).not.toMatch(/stepping/);
      expect(problem.length).toBeLessThanOrEqual(MAX_ISSUE_TEXT);
    },
  );

  it.each([
    "0 9 */2 * *",
    "0 9 * * */2",
    "0 9 ? * */2",
    "0 9 1-31/2 * MON",
    "0 9 */2 * +MON",
    "0 0 13 * 5",
    "0 9 */1 * */1",
  ])(
    "takes %j: one day field unrestricted, no step from `*`, `+` (AND, croner's syntax), or both every day",
    (cron) => {
      expect(cronProblem(cron)).toBeUndefined();
    },
  );

  it("`+` makes a `*/2` day field AND the weekday: only the odd days that are Mondays", () => {
    const spec = { cron: "0 9 */2 * +MON", timezone: "UTC" };
    const from = Date.parse("2027-01-01T00:00:00Z");

    const next = occurrencesBetween(spec, from, Number.MAX_SAFE_INTEGER, 3).map((ms) =>
      new Date(ms).toISOString(),
    );

    expect(next).toEqual([
      "2027-01-11T09:00:00.000Z",
      "2027-01-25T09:00:00.000Z",
      "2027-02-01T09:00:00.000Z",
    ]);
  });

  it.each(["0 0 ? * MON", "0 0 1 * ?", "0 0 0 ? * MON", "0 0 0 1 * ?"])(
    "accepts %j: `?` in a day field means any day",
    (cron) => {
      expect(cronProblem(cron)).toBeUndefined();
    },
  );

  it.each(["Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+1"])("knows %s", (zone) => {
    expect(isKnownTimeZone(zone)).toBe(true);
  });

  it.each(["Mars/Olympus", "+02:00", "CEST", "europe berlin", "", "Europe/"])("refuses %j", (zone) => {
    expect(isKnownTimeZone(zone)).toBe(false);
  });

  it("reads IANA's fixed-offset zones with IANA's (POSIX) sign, as docs/API.md says: noon in Etc/GMT+5 is 17:00Z", () => {
    const runs = occurrencesBetween(
      { cron: "0 12 * * *", timezone: "Etc/GMT+5" },
      at("2027-01-01T00:00:00Z"),
      at("2027-01-02T00:00:00Z"),
      2,
    );

    expect(runs.map(iso)).toEqual(["2027-01-01T17:00:00.000Z"]);
  });

  // docs/API.md: "Letter case is free, as Intl's". `europe/berlin` was taken and `utc` refused with a 400.
  it.each(["utc", "Utc", "uTC"])("knows UTC in any letter case (%s), as every other zone", (zone) => {
    expect(isKnownTimeZone(zone)).toBe(true);
    const runs = occurrencesBetween(
      { cron: "0 12 * * *", timezone: zone },
      at("2027-01-01T00:00:00Z"),
      at("2027-01-02T00:00:00Z"),
      2,
    );
    expect(runs.map(iso)).toEqual(["2027-01-01T12:00:00.000Z"]);
  });
});

describe("a time zone spelt many ways (Intl takes a zone's name in any letter case)", () => {
  /** The zone's name with its letters' case set by the bits of `n`: `n` 0 is all lower case. */
  const spelling = (zone: string, n: number) => {
    let bit = 0;
    return [...zone]
      .map((c) => (/[a-z]/i.test(c) ? ((n >> bit++) & 1 ? c.toUpperCase() : c.toLowerCase()) : c))
      .join("");
  };
  const spellings = Array.from({ length: 40 }, (_, n) => spelling("America/Argentina/Buenos_Aires", n + 7));

  it("keeps one formatter per zone, not one per spelling: a create with a fresh spelling each time (refused or not) grew a warm function's memory without bound, some 28 KB per spelling in our cache and as much in croner's", () => {
    const formatting = vi.spyOn(Intl.DateTimeFormat.prototype, "formatToParts");
    try {
      for (const timezone of spellings) {
        const spec = { cron: "*/30 * * * *", timezone };
        expect(isKnownTimeZone(timezone)).toBe(true);
        onlyDstGapsAhead(spec, at("2027-01-01T00:00:00Z"));
        occurrencesBetween(spec, at("2027-01-01T00:00:00Z"), at("2027-01-02T00:00:00Z"), 3);
      }

      // Ours and croner's: one each at most for the zone (none if an earlier test made them).
      expect(new Set(formatting.mock.contexts).size).toBeLessThanOrEqual(2);
    } finally {
      formatting.mockRestore();
    }
  });

  it("answers the same instants in every spelling as in the zone's own", () => {
    const own = occurrencesBetween(
      { cron: "30 2 * * *", timezone: "America/Argentina/Buenos_Aires" },
      at("2027-01-01T00:00:00Z"),
      at("2027-01-05T00:00:00Z"),
      5,
    );

    for (const timezone of spellings.slice(0, 5)) {
      const runs = occurrencesBetween(
        { cron: "30 2 * * *", timezone },
        at("2027-01-01T00:00:00Z"),
        at("2027-01-05T00:00:00Z"),
        5,
      );
      expect(runs.map(iso)).toEqual(own.map(iso));
    }
    expect(own.map(iso)[0]).toBe("2027-01-01T05:30:00.000Z");
  });
});

describe("ids and keys", () => {
  it("a schedule id carries its topic, so GET reads it by key", () => {
    const key = makeScheduleKey("demo", "01JD3AAAAAAAAAAAAAAAAAAAAA");

    expect(key).toEqual({
      scheduleId: "demo.schedule.01JD3AAAAAAAAAAAAAAAAAAAAA",
      pk: "schedules#demo",
      sk: "demo.schedule.01JD3AAAAAAAAAAAAAAAAAAAAA",
    });
    expect(parseScheduleId(key.scheduleId)).toEqual({ topic: "demo", pk: key.pk, sk: key.sk });
    expect(parseScheduleId("demo._.mhx0z8ka.01JD3AAAAAAAAAAAAAAAAAAAAA")).toBeUndefined();
  });

  it("shards are stable and in range; occurrence keys differ by epoch and instant", () => {
    const id = "demo.schedule.01JD3AAAAAAAAAAAAAAAAAAAAA";

    expect(scheduleShardOf(id)).toBe(scheduleShardOf(id));
    expect(scheduleShardOf(id)).toBeGreaterThanOrEqual(0);
    expect(scheduleShardOf(id)).toBeLessThan(SCHEDULE_SHARDS);
    expect(occurrenceIdempotencyKey(id, 0, 1000)).not.toBe(occurrenceIdempotencyKey(id, 1, 1000));
    expect(occurrenceIdempotencyKey(id, 0, 1000)).toMatch(/^[\x21-\x2b\x2d-\x7e]{1,255}$/);
  });
});

describe("a refused time zone's message", () => {
  // IANA's links without an area (the `backward` file): the longest zone names they stand for included.
  const ALIASES = [
    "GB",
    "GB-Eire",
    "NZ-CHAT",
    "Navajo",
    "Kwajalein",
    "W-SU",
    "EST5EDT",
    "Greenwich",
    "Universal",
  ];

  it.each(ALIASES)(
    "for %j fits the API's issue clip whole, the zone to send included, so no answer cuts its remedy off",
    (timezone) => {
      const problem = timeZoneProblem(timezone) ?? "";
      const target = new Intl.DateTimeFormat("en-US", { timeZone: timezone }).resolvedOptions().timeZone;
      expect(problem).toContain(`send ${target}, the zone it stands for`);
      expect(problem.length).toBeLessThanOrEqual(MAX_ISSUE_TEXT);
    },
  );
});
