import { describe, expect, it } from "vitest";
import {
  atExpression,
  planTimer,
  queueDelaySeconds,
  relayDecision,
  requestedDueMs,
} from "#shared/domain/timing.js";

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0, 250);
const SETTINGS = { horizonSeconds: 300, leadSeconds: 120 };

describe("timer plan (two-stage timer)", () => {
  it("due within the horizon → timer queue, delay rounded down so it is never early", () => {
    expect(planTimer(NOW + 90_900, NOW, SETTINGS)).toEqual({ kind: "queue", delaySeconds: 90 });
    expect(planTimer(NOW + 999, NOW, SETTINGS)).toEqual({ kind: "queue", delaySeconds: 0 });
    expect(planTimer(NOW, NOW, SETTINGS)).toEqual({ kind: "queue", delaySeconds: 0 });
    expect(planTimer(NOW - 5_000, NOW, SETTINGS)).toEqual({ kind: "queue", delaySeconds: 0 });
  });

  it("exactly at the horizon still rides the queue; one ms later gets a schedule", () => {
    expect(planTimer(NOW + 300_000, NOW, SETTINGS).kind).toBe("queue");
    expect(planTimer(NOW + 300_001, NOW, SETTINGS).kind).toBe("schedule");
  });

  it("later tasks get a schedule lead seconds ahead of due, truncated to the second", () => {
    const due = Date.UTC(2026, 10, 23, 13, 0, 0, 700);

    const plan = planTimer(due, NOW, SETTINGS);

    expect(plan).toEqual({
      kind: "schedule",
      fireAtMs: Date.UTC(2026, 10, 23, 12, 58, 0),
      expression: "at(2026-11-23T12:58:00)",
    });
  });

  it("horizon 0 sends everything not yet due through Scheduler", () => {
    expect(planTimer(NOW + 2_000, NOW, { horizonSeconds: 0, leadSeconds: 0 }).kind).toBe("schedule");
  });

  it("never plans an at() for a second that has begun or begins within a second: the queue takes those", () => {
    // at() names whole seconds, so due − lead rounded down can name the second now is in (lead = horizon, which
    // the config allows, or horizon 0); Scheduler documents no at() in the past, and CreateSchedule, the
    // function's clock and Scheduler's lie between planning and the schedule's start.
    const equal = { horizonSeconds: 120, leadSeconds: 120 };
    expect(planTimer(NOW + 120_001, NOW, equal)).toEqual({ kind: "queue", delaySeconds: 120 });
    expect(planTimer(NOW + 120_749, NOW, equal)).toEqual({ kind: "queue", delaySeconds: 120 });
    expect(planTimer(NOW + 121_749, NOW, equal)).toEqual({ kind: "queue", delaySeconds: 121 });
    expect(planTimer(NOW + 121_750, NOW, equal)).toEqual({
      kind: "schedule",
      fireAtMs: NOW - 250 + 2_000,
      expression: "at(2026-11-23T12:00:02)",
    });
    expect(planTimer(NOW + 1, NOW, { horizonSeconds: 0, leadSeconds: 0 })).toEqual({
      kind: "queue",
      delaySeconds: 0,
    });
    for (const settings of [
      equal,
      { horizonSeconds: 0, leadSeconds: 0 },
      { horizonSeconds: 0, leadSeconds: 7 },
    ]) {
      for (let untilDue = 0; untilDue < 130_000; untilDue += 37) {
        const plan = planTimer(NOW + untilDue, NOW, settings);
        if (plan.kind === "schedule") expect(plan.fireAtMs).toBeGreaterThanOrEqual(NOW + 1_000);
      }
    }
  });

  it("a task due within the lead takes the timer queue even past the horizon: a schedule would fire in the past", () => {
    // horizon 0 skips the config check that the lead fit within the horizon; Scheduler documents no at() before now.
    const settings = { horizonSeconds: 0, leadSeconds: 120 };

    expect(planTimer(NOW + 60_500, NOW, settings)).toEqual({ kind: "queue", delaySeconds: 60 });
    expect(planTimer(NOW + 120_000, NOW, settings)).toEqual({ kind: "queue", delaySeconds: 120 });
    // A second more (to the next whole second): at(12:00:01) planned at 12:00:00.250 is less than a second ahead.
    expect(planTimer(NOW + 121_000, NOW, settings).kind).toBe("queue");
    expect(planTimer(NOW + 121_750, NOW, settings).kind).toBe("schedule");
  });

  it("caps the queue delay at SQS's 900 s", () => {
    expect(queueDelaySeconds(5_000_000)).toBe(900);
    expect(queueDelaySeconds(-1)).toBe(0);
  });

  it("formats at() in UTC to the second", () => {
    expect(atExpression(Date.UTC(2027, 0, 2, 3, 4, 5, 999))).toBe("at(2027-01-02T03:04:05)");
  });
});

describe("relay decision", () => {
  it("forwards what is due, waits out a sub-second rest, re-arms the rest with whole seconds", () => {
    expect(relayDecision(NOW, NOW)).toEqual({ action: "forward" });
    expect(relayDecision(NOW - 10, NOW)).toEqual({ action: "forward" });
    expect(relayDecision(NOW + 400, NOW)).toEqual({ action: "wait", waitMs: 400 });
    expect(relayDecision(NOW + 1_000, NOW)).toEqual({ action: "wait", waitMs: 1_000 });
    expect(relayDecision(NOW + 1_700, NOW)).toEqual({ action: "rearm", delaySeconds: 1 });
    expect(relayDecision(NOW + 119_300, NOW)).toEqual({ action: "rearm", delaySeconds: 119 });
    expect(relayDecision(NOW + 2_000_000, NOW)).toEqual({ action: "rearm", delaySeconds: 900 });
  });

  it("re-arming converges: each hop leaves less than a second, never a negative wait", () => {
    // A schedule that fired 61 s early, relayed repeatedly by a clock that advances by exactly the delay.
    let now = NOW;
    const due = NOW + 61_450;
    for (let hop = 0; hop < 5; hop++) {
      const decision = relayDecision(due, now);
      if (decision.action !== "rearm") {
        expect(decision).toEqual({ action: "wait", waitMs: 450 });
        return;
      }
      now += decision.delaySeconds * 1000;
    }
    expect.unreachable();
  });
});

describe("early wake", () => {
  const EARLY = { ...SETTINGS, earlyWakeSeconds: 3 };

  it("arms the timer queue that many whole seconds ahead, never with a negative delay", () => {
    expect(planTimer(NOW + 90_900, NOW, EARLY)).toEqual({ kind: "queue", delaySeconds: 87 });
    expect(planTimer(NOW + 3_999, NOW, EARLY)).toEqual({ kind: "queue", delaySeconds: 0 });
    expect(planTimer(NOW + 2_000, NOW, EARLY)).toEqual({ kind: "queue", delaySeconds: 0 });
    expect(planTimer(NOW + 300_001, NOW, EARLY).kind).toBe("schedule");
  });

  it("holds what arrived up to the early wake plus a second ahead, re-arms what is earlier, less the early wake", () => {
    expect(relayDecision(NOW + 4_000, NOW, 3)).toEqual({ action: "wait", waitMs: 4_000 });
    expect(relayDecision(NOW + 4_001, NOW, 3)).toEqual({ action: "rearm", delaySeconds: 1 });
    expect(relayDecision(NOW + 119_300, NOW, 3)).toEqual({ action: "rearm", delaySeconds: 116 });
    expect(relayDecision(NOW, NOW, 3)).toEqual({ action: "forward" });
  });

  it("re-arming with an early wake converges on a wait, never on a zero-delay loop", () => {
    for (const due of [NOW + 4_001, NOW + 7_999, NOW + 61_450, NOW + 900_000]) {
      let now = NOW;
      let hops = 0;
      for (let d = relayDecision(due, now, 3); d.action === "rearm"; d = relayDecision(due, now, 3)) {
        expect(d.delaySeconds).toBeGreaterThanOrEqual(1);
        now += d.delaySeconds * 1000;
        hops++;
      }
      expect(relayDecision(due, now, 3).action).toBe("wait");
      expect(hops).toBeLessThanOrEqual(2);
    }
  });
});

describe("requested due time", () => {
  it("reads unix seconds, RFC 3339 and relative delays", () => {
    expect(requestedDueMs({ timingMoment: 1_795_000_000 }, NOW)).toBe(1_795_000_000_000);
    expect(requestedDueMs({ timingMoment: 1_795_000_000.5 }, NOW)).toBe(1_795_000_000_500);
    expect(requestedDueMs({ dueAt: "2026-11-23T13:00:00+01:00" }, NOW)).toBe(Date.UTC(2026, 10, 23, 12));
    expect(requestedDueMs({ delaySeconds: 90 }, NOW)).toBe(NOW + 90_000);
  });
});

describe("requested due time with a sub-millisecond part: the next whole millisecond, never earlier", () => {
  const at = (iso: string) => Date.parse(iso);

  it.each([
    ["2026-12-04T01:00:00.0009Z", "2026-12-04T01:00:00.001Z"],
    ["2026-12-04T01:00:00.0000001Z", "2026-12-04T01:00:00.001Z"],
    ["2026-12-04T01:00:00.1234567Z", "2026-12-04T01:00:00.124Z"],
    // Rolls over the second, the minute, the day and the year.
    ["2026-12-04T01:00:00.9999Z", "2026-12-04T01:00:01.000Z"],
    ["2026-12-31T23:59:59.9999Z", "2027-01-01T00:00:00.000Z"],
    // An offset moves the whole instant; the fraction is the same fraction of a second.
    ["2026-12-04T06:30:00.0009+05:30", "2026-12-04T01:00:00.001Z"],
    ["2026-12-03T20:00:00.0000001-05:00", "2026-12-04T01:00:00.001Z"],
    // Whole milliseconds, however many zeros follow, are kept as they are.
    ["2026-12-04T01:00:00.001Z", "2026-12-04T01:00:00.001Z"],
    ["2026-12-04T01:00:00.0010000Z", "2026-12-04T01:00:00.001Z"],
    ["2026-12-04T01:00:00.5Z", "2026-12-04T01:00:00.500Z"],
    ["2026-12-04T01:00:00Z", "2026-12-04T01:00:00.000Z"],
  ])("due_at %s → %s", (dueAt, expected) => {
    expect(requestedDueMs({ dueAt }, NOW)).toBe(at(expected));
  });

  it.each([
    [1_796_346_000.0009, 1_796_346_000_001],
    [1_796_346_000.0004, 1_796_346_000_001],
    [1_796_346_000.0001, 1_796_346_000_001],
    [1_796_346_000.9999, 1_796_346_001_000],
    [1_796_346_000.001, 1_796_346_000_001],
    [1_796_346_000.5, 1_796_346_000_500],
    [1_796_346_000, 1_796_346_000_000],
    [0.0004, 1],
  ])("timing_moment %s → %s ms", (timingMoment, expected) => {
    expect(requestedDueMs({ timingMoment }, NOW)).toBe(expected);
  });

  it.each([
    [0.0004, 1],
    [10.0001, 10_001],
    [10.0005, 10_001],
    [10.7, 10_700],
    [0, 0],
  ])("delay_seconds %s → now + %s ms", (delaySeconds, laterMs) => {
    expect(requestedDueMs({ delaySeconds }, NOW)).toBe(NOW + laterMs);
  });

  it("a whole millisecond written as a fraction of a second is that millisecond, though its double is not exactly it", () => {
    // 1.001 × 1000 is 1000.9999999999999 and 1.005 × 1000 is 1004.9999999999999 in doubles; others land a hair above.
    for (let ms = 1_796_346_000_000; ms < 1_796_346_002_000; ms++) {
      expect(requestedDueMs({ timingMoment: ms / 1000 }, NOW)).toBe(ms);
    }
    for (let ms = 0; ms < 20_000; ms++) {
      expect(requestedDueMs({ delaySeconds: ms / 1000 }, NOW)).toBe(NOW + ms);
    }
  });
});
