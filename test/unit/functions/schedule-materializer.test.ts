import type { Context } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { scheduledEvent } from "#local/runtime/scheduled-rule.js";
import { METRIC } from "#shared/domain/metrics.js";
import { createSchedule } from "#shared/services/schedules/manage.js";
import { ManualClock } from "../../support/clock.js";
import { FakeScheduler } from "../../support/fakes/scheduler.js";
import { FakeTimerQueue } from "../../support/fakes/timer-queue.js";
import { stubScheduledFunctionEnv } from "../../support/function-env.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { simConfig } from "../../support/pipeline-sim.js";

const context = (remainingMs: number) =>
  ({
    functionName: "punctual-local-schedule-materializer",
    awsRequestId: "r1",
    invokedFunctionArn: "arn:aws:lambda:eu-west-1:000000000000:function:punctual-local-schedule-materializer",
    memoryLimitInMB: "256",
    getRemainingTimeInMillis: () => remainingMs,
  }) as unknown as Context;

/** Two one-minute schedules made at 00:00 (due to the materializer from 00:01), and a run at 00:02:30. */
async function twoSchedulesDue() {
  const clock = new ManualClock(Date.parse("2027-01-01T00:00:00.000Z"));
  const deps = {
    store: new MemoryTaskStore(),
    timerQueue: new FakeTimerQueue(clock.now),
    scheduler: new FakeScheduler(),
    config: simConfig(),
    now: clock.now,
  };
  for (const order of ["o-1", "o-2"]) {
    await createSchedule(deps, {
      topic: "demo",
      cron: "* * * * *",
      timezone: "UTC",
      content: { order_id: order },
      callback: { url: "https://receiver.example/hook" },
    });
  }
  clock.set("2027-01-01T00:02:30.000Z");
  return deps;
}

/** The EMF lines the handler wrote, parsed. */
async function runHandler(remainingMs: number) {
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  const { createMaterializerHandler } = await import("#functions/schedule-materializer.js");
  const { Metrics } = await import("@aws-lambda-powertools/metrics");
  const metrics = new Metrics({ namespace: "Punctual", serviceName: "punctual-local" });
  const handler = createMaterializerHandler(await twoSchedulesDue(), undefined, metrics);
  const summary = await handler(
    scheduledEvent("arn:aws:events:eu-west-1:000000000000:rule/m"),
    context(remainingMs),
  );
  const emf = stdout.mock.calls
    .map(([chunk]) => String(chunk))
    .filter((line) => line.includes('"CloudWatchMetrics"'))
    .map((line) => JSON.parse(line));
  return { summary, emf };
}

describe("functions/schedule-materializer.ts", () => {
  beforeEach(() => {
    vi.resetModules();
    stubScheduledFunctionEnv();
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it(`a run out of time publishes ${METRIC.materializerLag}: seconds since the longest-due schedule it left became due`, async () => {
    // The invocation is in its last 15 s: no schedule is started, both have been due since 00:01:00.
    const { summary, emf } = await runHandler(5_000);

    expect(summary).toMatchObject({ schedules: 2, occurrences: 0, lagSeconds: 90 });
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ [METRIC.materializerLag]: 90, [METRIC.occurrencesMaterialized]: 0 });
    expect(emf[0]._aws.CloudWatchMetrics[0].Metrics).toContainEqual({
      Name: METRIC.materializerLag,
      Unit: "Seconds",
    });
  });

  it(`a run that keeps up publishes ${METRIC.materializerLag} 0`, async () => {
    const { summary, emf } = await runHandler(50_000);

    expect(summary).toMatchObject({ schedules: 2, occurrences: 4, lagSeconds: 0 });
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ [METRIC.materializerLag]: 0, [METRIC.occurrencesMaterialized]: 4 });
  });
});
