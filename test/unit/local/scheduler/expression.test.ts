import { describe, expect, it } from "vitest";
import {
  isoSeconds,
  isValidTimeZone,
  parseScheduleExpression,
  zonedWallTimeToEpochMs,
} from "#local/scheduler/expression.js";

const wall = (iso: string) => Date.parse(`${iso}Z`);
const inZone = (iso: string, zone: string) => new Date(zonedWallTimeToEpochMs(wall(iso), zone)).toISOString();

describe("parseScheduleExpression", () => {
  it("reads at() clock fields", () => {
    expect(parseScheduleExpression("at(2026-03-29T02:30:05)")).toEqual({
      kind: "at",
      wallMs: wall("2026-03-29T02:30:05"),
    });
  });

  it.each([
    "at(2026-02-30T00:00:00)",
    "at(2026-13-01T00:00:00)",
    "at(2026-01-01T24:00:00)",
    "at(2026-01-01 00:00:00)",
    "at(2026-01-01T00:00:00Z)",
    "at(2026-01-01T00:00)",
  ])("rejects the impossible or malformed at() %s", (expression) => {
    expect(parseScheduleExpression(expression)).toBeUndefined();
  });

  it.each(["rate(1 minute)", "rate(5 minutes)", "rate(2 hours)", "rate(1 day)"])(
    "accepts %s",
    (expression) => {
      expect(parseScheduleExpression(expression)).toEqual({ kind: "rate" });
    },
  );

  it.each(["rate(0 minutes)", "rate(5 weeks)", "rate(5minutes)", "rate(-1 days)"])(
    "rejects %s",
    (expression) => {
      expect(parseScheduleExpression(expression)).toBeUndefined();
    },
  );

  it.each(["cron(0 12 * * ? *)", "cron(15 10 ? * 6L 2026-2027)", "cron(0/5 8-17 ? * MON-FRI *)"])(
    "accepts %s",
    (expression) => {
      expect(parseScheduleExpression(expression)).toEqual({ kind: "cron" });
    },
  );

  it.each(["cron(* * * * * *)", "cron(0 12 ? * ? *)", "cron(0 12 * *)", "every day", ""])(
    "rejects %s",
    (expression) => {
      expect(parseScheduleExpression(expression)).toBeUndefined();
    },
  );
});

describe("time zones", () => {
  it("accepts IANA names and refuses anything else", () => {
    expect(isValidTimeZone("Europe/Paris")).toBe(true);
    expect(isValidTimeZone("America/Argentina/Buenos_Aires")).toBe(true);
    expect(isValidTimeZone("UTC")).toBe(true);
    expect(isValidTimeZone("Mars/Olympus_Mons")).toBe(false);
    expect(isValidTimeZone("+01:00")).toBe(false);
    expect(isValidTimeZone("")).toBe(false);
  });

  it("maps Paris wall time to UTC in summer and in winter", () => {
    expect(inZone("2026-07-01T12:00:00", "Europe/Paris")).toBe("2026-07-01T10:00:00.000Z");
    expect(inZone("2026-01-15T12:00:00", "Europe/Paris")).toBe("2026-01-15T11:00:00.000Z");
    expect(inZone("2026-07-01T12:00:00", "America/New_York")).toBe("2026-07-01T16:00:00.000Z");
    expect(inZone("2026-07-01T12:00:00", "UTC")).toBe("2026-07-01T12:00:00.000Z");
  });

  it("uses the offset in force on each side of a DST change", () => {
    // Paris springs forward at 2026-03-29T01:00Z (02:00 local → 03:00 local).
    expect(inZone("2026-03-29T01:59:59", "Europe/Paris")).toBe("2026-03-29T00:59:59.000Z");
    expect(inZone("2026-03-29T03:00:00", "Europe/Paris")).toBe("2026-03-29T01:00:00.000Z");
    // Falls back at 2026-10-25T01:00Z (03:00 local → 02:00 local).
    expect(inZone("2026-10-25T03:00:00", "Europe/Paris")).toBe("2026-10-25T02:00:00.000Z");
  });

  it("resolves skipped and repeated wall times like Temporal's 'compatible' rule", () => {
    // 02:30 does not exist on spring-forward day: it means 03:30 CEST.
    expect(inZone("2026-03-29T02:30:00", "Europe/Paris")).toBe("2026-03-29T01:30:00.000Z");
    // 02:30 happens twice on fall-back day: the first (CEST) one.
    expect(inZone("2026-10-25T02:30:00", "Europe/Paris")).toBe("2026-10-25T00:30:00.000Z");
  });

  it("formats scheduled times like AWS", () => {
    expect(isoSeconds(Date.parse("2022-05-14T01:12:00.789Z"))).toBe("2022-05-14T01:12:00Z");
  });
});
