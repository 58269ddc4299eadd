import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_ISSUE_TEXT } from "#shared/api/errors.js";
import { cronProblem, uncomputableProblem } from "#shared/domain/schedule-cron.js";

/**
 * Croner's own words for its fields and options, which a refusal must not pass on: the caller wrote `day-of-month`
 * (croner's `day`, or `nearestWeekdays` with a W), `day-of-week` (`dayOfWeek`), and its field by its place in a
 * 5- or 6-field pattern, not croner's `configuration entry 3` (its count after the seconds it puts first); nor the
 * mode option croner is given, a `seven` parts croner would take, or its `Type: string`.
 */
const CRONER_WORDS =
  /nearestWeekdays|dayOfWeek|configuration entry|is not a number: '|mode '|seven|Type: |CronPattern|CronOptions|ISO8601|for day:|\bof part\b|\bparts\b/;

describe("cron refusals in the caller's words", () => {
  it.each([
    ["0 0 1WW * *", "day-of-month", "1WW"],
    ["0 0 W * *", "day-of-month", "W"],
    ["0 0 *W * *", "day-of-month", "*W"],
    ["0 0 * * LL", "day-of-week", "LL"],
    ["0 0 * 1* *", "month", "1*"],
    ["0 0 1,,2 * *", "day-of-month", "1,,2"],
    ["0 0 * * 1,", "day-of-week", "1,"],
    ["0 0 x * *", "day-of-month", "x"],
    ["0 0 * jan-x *", "month", "jan-x"],
    ["0 0 * * x", "day-of-week", "x"],
    ["0 0 0 * * x", "day-of-week", "x"],
    ["0 1L * * *", "hour", "1L"],
    ["1#2 * * * *", "minute", "1#2"],
  ])("refuses %j naming the %s field and its text as written", (cron, field, text) => {
    const problem = cronProblem(cron) ?? "";
    expect(problem).toMatch(/is not a valid cron pattern/);
    expect(problem).not.toMatch(CRONER_WORDS);
    expect(problem).toContain(field);
    expect(problem).toContain(`'${text}'`);
  });

  it.each([
    ["0 0 0 1 1 * 2030", "7 fields"],
    ["* * *", "3 fields"],
    ["@foo", "1 field"],
  ])("refuses %j counting its fields (%s)", (cron, count) => {
    const problem = cronProblem(cron) ?? "";
    expect(problem).toMatch(/^is not a valid cron pattern \(5 fields, or 6 with seconds first\): /);
    expect(problem).not.toMatch(CRONER_WORDS);
    expect(problem).toContain(`it has ${count}`);
  });

  it.each(["1:2 * * * *", "12:00"])(
    "refuses %j, a ':' croner reads as a date, without croner's parser",
    (cron) => {
      const problem = cronProblem(cron) ?? "";
      expect(problem).toMatch(/is not a valid cron pattern/);
      expect(problem).not.toMatch(CRONER_WORDS);
    },
  );

  it("refuses an nth weekday out of range without croner's type", () => {
    const problem = cronProblem("0 0 * * 1#9") ?? "";
    expect(problem).not.toMatch(CRONER_WORDS);
    expect(problem).toContain("day-of-week '1#9'");
  });

  it.each([
    ["0 0 1 dec-jan *", "dec-jan"],
    ["0 0 * * sat-mon", "sat-mon"],
    ["0 0 * jan,DEC-feb *", "DEC-feb"],
    ["0 0 * * mon-tue-wed", "mon-tue-wed"],
    ["0 0 * * +fri-mon", "+fri-mon"],
  ])("refuses %j quoting the entry as written (%s), not croner's reading of its names", (cron, text) => {
    const problem = cronProblem(cron) ?? "";
    expect(problem).toMatch(/is not a valid cron pattern/);
    expect(problem).toContain(`'${text}'`);
    expect(problem).not.toMatch(/'[\d-]+'/);
  });

  it.each([
    ["0 0 * * L-sun", "day-of-week 'L-sun'"],
    ["0 0 * jan-dec/0 *", "month 'jan-dec/0'"],
    ["0 0 * * mon-sun/13", "day-of-week 'mon-sun/13'"],
    ["0 0 0 * * 1,wed-mon", "day-of-week 'wed-mon'"],
  ])("refuses %j naming the entry croner quotes none of (%s), and no NaN", (cron, named) => {
    const problem = cronProblem(cron) ?? "";
    expect(problem).toMatch(/is not a valid cron pattern/);
    expect(problem).toContain(named);
    expect(problem).not.toContain("NaN");
  });

  it("cuts an entry quoted as written to 64 characters, as every echoed value", () => {
    const long = `jan-${"1".repeat(70)}-dec`;
    const problem = cronProblem(`0 0 * ${long} *`) ?? "";
    expect(problem).toMatch(/is not a valid cron pattern/);
    expect(problem).toContain(`'${long.slice(0, 62)}…`);
    expect(problem).not.toContain(long);
  });

  // An entry quoted at 64 characters and croner's reason with its remedy came to 250 characters: the API clips an
  // issue's message at MAX_ISSUE_TEXT (200) and cut it mid-word. Kept within it, the field and the entry first.
  it.each([
    [`/${"1".repeat(80)} * * * *`, "minute '/1111", "missing prefix is not allowed"],
    [`0 0 5/${"1".repeat(80)} * *`, "day-of-month '5/111", "numeric prefix is not allowed"],
    [`0 0 jan-${"1".repeat(80)}L * *`, "day-of-month 'jan-111", "L has to be a value of its own"],
  ])("refuses %j within the API's issue clip, naming the field and the entry (%s)", (cron, named, reason) => {
    const problem = cronProblem(cron) ?? "";
    expect(problem).toMatch(/^is not a valid cron pattern \(5 fields, or 6 with seconds first\): /);
    expect(problem.length).toBeLessThanOrEqual(MAX_ISSUE_TEXT);
    expect(problem).toContain(named);
    expect(problem).toContain(reason);
  });

  it("keeps every refusal within the API's issue clip, however long the entries (fast-check)", () => {
    const long = fc.stringMatching(/^[0-9]{60,120}$/);
    const token = fc.oneof(
      fc.constantFrom(..."0123456789*/-,#LW?+".split(""), "jan", "mon", "LW", "99"),
      long,
    );
    const field = fc.array(token, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(""));
    const pattern = fc.array(field, { minLength: 5, maxLength: 6 }).map((fields) => fields.join(" "));
    fc.assert(
      fc.property(pattern, (cron) => {
        const problem = cronProblem(cron);
        if (problem !== undefined)
          expect(problem.length, `${cron}: ${problem}`).toBeLessThanOrEqual(MAX_ISSUE_TEXT);
      }),
      { numRuns: 2000, seed: 49 },
    );
  });

  // Croner replaces month and day names by its numbers before it parses: every text a refusal quotes must be one
  // the caller wrote (a whole field, an entry of one, or a cut of either), never croner's reading of a name.
  it("quotes only text the caller wrote, whatever names the pattern holds (fast-check)", () => {
    const name = fc.constantFrom("jan", "Feb", "DEC", "mon", "SAT", "sun", "Thu");
    const token = fc.oneof(name, fc.constantFrom(..."0123456789-/,#L+*".split(""), "12", "7"));
    const field = fc.array(token, { minLength: 1, maxLength: 5 }).map((parts) => parts.join(""));
    const pattern = fc.tuple(field, field).map(([month, dow]) => `0 0 * ${month} ${dow}`);
    fc.assert(
      fc.property(pattern, (cron) => {
        const problem = cronProblem(cron);
        if (problem === undefined) return;
        for (const [, quoted = ""] of problem.matchAll(/'([^']*)'/g)) {
          expect(cron, `${cron}: ${problem}`).toContain(quoted.replace(/…$/, ""));
        }
      }),
      { numRuns: 3000, seed: 48 },
    );
  });

  // Fuzzed against the real validation: any pattern of cron's own characters (and a few names) is accepted or
  // refused with a reason in the caller's words, cut as every echoed value is, and nothing throws.
  it("never throws, and no refusal passes on croner's words (fast-check)", () => {
    const token = fc.constantFrom(
      ..."0123456789*/-,#LlWw?+:".split(""),
      "jan",
      "mon",
      "sun",
      "L",
      "LW",
      "99",
      "60",
      "32",
      "13",
      "8",
      "1111111111111111111111",
    );
    const field = fc.array(token, { minLength: 0, maxLength: 6 }).map((parts) => parts.join(""));
    const pattern = fc.array(field, { minLength: 1, maxLength: 8 }).map((fields) => fields.join(" "));
    fc.assert(
      fc.property(pattern, (cron) => {
        const problem = cronProblem(cron);
        if (problem === undefined) return;
        expect(problem).toMatch(/is not a valid cron pattern/);
        expect(problem, cron).not.toMatch(CRONER_WORDS);
        const stored = uncomputableProblem({ cron, timezone: "UTC" });
        if (stored !== undefined) expect(stored, cron).not.toMatch(CRONER_WORDS);
      }),
      { numRuns: 3000, seed: 48 },
    );
  });

  // A stored pattern this release cannot compute (one an older release accepted) is named in a resume's 409 and a
  // pause's last_skipped: before, whole (up to 256 characters), and croner's quote of its entry whole again.
  it("names a stored pattern it cannot compute cut as every echoed value, and croner's quote of it too", () => {
    const cron = `0 0 ${"L".repeat(120)} * *`;
    const problem = uncomputableProblem({ cron, timezone: "UTC" }) ?? "";
    expect(problem).toMatch(
      /^its cron ".{63}…" is not a pattern: day-of-month 'L{62}… Syntax error, L has to be a value of its own/,
    );
    expect(problem).not.toContain("L".repeat(64));
    expect(problem).not.toMatch(CRONER_WORDS);
  });
});
