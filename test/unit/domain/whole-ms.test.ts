import { describe, expect, it } from "vitest";
import { msAtOrAfterInstant, msAtOrAfterSeconds } from "#shared/domain/whole-ms.js";

describe("msAtOrAfterSeconds: ⌈seconds × 1000⌉ from the digits", () => {
  it.each([
    ["0", 0],
    ["0.0", 0],
    ["0e999999999", 0],
    ["0.0004", 1],
    ["0.001", 1],
    ["0.0010000000000000000001", 2],
    ["1.005", 1005],
    ["1.5e-7", 1],
    ["1e-999999999", 1],
    ["12E2", 1_200_000],
    ["1e+21", 1e24],
    ["1796346000.0009", 1_796_346_000_001],
    ["0.00000000000000000000000000000000000000001e41", 1000],
    ["-1.0009", -1000],
    ["-0.0004", 0],
  ])("%s s → %s ms", (seconds, ms) => {
    expect(msAtOrAfterSeconds(seconds)).toBe(ms);
  });

  it("is infinite past any double, without writing out the exponent", () => {
    expect(msAtOrAfterSeconds("1e999999999")).toBe(Number.POSITIVE_INFINITY);
    expect(msAtOrAfterSeconds("-1e999999999")).toBe(Number.NEGATIVE_INFINITY);
  });

  it.each(["", "abc", "1.", ".5", "1e", "NaN", "Infinity", "0x10", " 1"])("is NaN for %j", (text) => {
    expect(msAtOrAfterSeconds(text)).toBeNaN();
  });
});

describe("msAtOrAfterInstant: the first whole ms at or after an RFC 3339 date-time", () => {
  it.each([
    ["2026-12-04T01:00:00Z", "2026-12-04T01:00:00.000Z"],
    ["2026-12-04T01:00:00.0009Z", "2026-12-04T01:00:00.001Z"],
    ["2026-12-04T01:00:00.000000000000000000001Z", "2026-12-04T01:00:00.001Z"],
    ["2026-12-04T01:00:00.999000000Z", "2026-12-04T01:00:00.999Z"],
    ["2026-12-31T23:59:59.9999Z", "2027-01-01T00:00:00.000Z"],
    ["2026-12-04T06:30:00.0009+05:30", "2026-12-04T01:00:00.001Z"],
  ])("%s → %s", (dateTime, expected) => {
    expect(msAtOrAfterInstant(dateTime)).toBe(Date.parse(expected));
  });

  it.each(["2026-12-04T01:00Z", "2026-12-04T01:00:00.Z", "2026-12-04T01:00:00", "2026-12-04t01:00:00z"])(
    "is NaN for %j, which the date-time rule never gives on",
    (text) => {
      expect(msAtOrAfterInstant(text)).toBeNaN();
    },
  );
});
