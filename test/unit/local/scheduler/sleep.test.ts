import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ScheduleRecord } from "#local/scheduler/store.js";
import { FiringTimer } from "#local/scheduler/timer.js";

/**
 * A laptop that sleeps with the local cloud running: the wall clock moves on, but Node's timers (libuv's monotonic
 * clock: CLOCK_MONOTONIC on Linux, mach absolute time on macOS) do not count the sleep. A schedule due after the
 * wake must still fire at its time, read from the wall clock, not the sleep's length later.
 */
const HOUR = 3_600_000;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
  vi.setSystemTime(Date.UTC(2026, 11, 4, 12, 0, 0));
});
afterEach(() => {
  vi.useRealTimers();
});

function oneTimeSchedule(fireAt: number): ScheduleRecord {
  return {
    Name: "after-the-wake",
    GroupName: "default",
    Arn: "arn:aws:scheduler:us-east-1:000000000000:schedule/default/after-the-wake",
    State: "ENABLED",
    completed: false,
    revision: 1,
    fireAt,
    Target: { Arn: "arn:aws:sqs:us-east-1:000000000000:timer", RoleArn: "arn:aws:iam::000000000000:role/r" },
  } as unknown as ScheduleRecord;
}

describe("the Scheduler emulator across a sleep of the machine", () => {
  it("fires a schedule due after the wake at its wall-clock time, not the sleep's length late", async () => {
    // Prepare: a schedule due in 2 hours, then an hour and 59 minutes of sleep (wall clock only).
    const sent: string[] = [];
    const record = oneTimeSchedule(Date.now() + 2 * HOUR);
    const timer = new FiringTimer({
      store: { lookup: () => record, complete: () => undefined },
      sender: { send: async ({ body }) => void sent.push(body) },
      now: () => Date.now(),
      random: () => 0.5,
      logger: () => undefined,
    });
    timer.onChange(undefined, record);
    vi.setSystemTime(Date.now() + 2 * HOUR - 60_000);

    // Act: the minute left until due passes, awake.
    await vi.advanceTimersByTimeAsync(61_000);

    // Assess
    expect(sent).toHaveLength(1);
    await timer.stop();
  });
});
