/**
 * `npx tsx bench/materializer-capacity.ts [--schedules=400] [--cron='* * * * * *']`: what one schedule materializer
 * run makes on the local cloud (dynalite, the SQS and Scheduler emulators), for docs/API.md "Recurring schedules",
 * "Limits". A measurement, not a test: it prints numbers and asserts nothing.
 *
 * The schedules are written straight into the table in the steady state a run meets every minute: active, due,
 * their cursor 3 minutes ahead, so each one-second schedule has about one minute (60 occurrences, plus the seconds
 * the writes took) to make, as after earlier on-time runs. Then one run of the materializer's service (shared/services/schedules/run.ts, what
 * the function's handler calls), with the invocation's time left counting down from the function's timeout as
 * Lambda's context would. Everything it adds is real: claims, tasks and timers on the local emulators.
 */

import { MATERIALIZER_TIMEOUT_SECONDS } from "#cdk/lib/sizing.js";
import { startLocalCloud } from "#local/cloud/local-cloud.js";
import { armingDepsFromEnvironment } from "#shared/adapters/arming-wiring.js";
import { newUlid } from "#shared/domain/keys.js";
import { makeScheduleKey, type ScheduleRecord, scheduleShardOf } from "#shared/domain/schedule.js";
import { forEachBounded } from "#shared/runtime/async.js";
import { runMaterializer } from "#shared/services/schedules/run.js";

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const count = Number(arg("schedules", "400"));
const cron = arg("cron", "* * * * * *");
const AHEAD_MS = 3 * 60_000;

// No scheduled rule fires by itself during the measurement (the run below is the only one).
const cloud = await startLocalCloud({ apiPort: 0, awsPort: 0, sweeperIntervalMs: 86_400_000 });
try {
  const deps = armingDepsFromEnvironment();
  const nowMs = Date.now();
  const schedules = Array.from({ length: count }, (_, i) => steadySchedule(i, nowMs));
  await forEachBounded(schedules, 16, async (schedule) => {
    await deps.store.putSchedule(schedule);
  });

  const startedMs = Date.now();
  const deadlineMs = startedMs + MATERIALIZER_TIMEOUT_SECONDS * 1_000;
  const summary = await runMaterializer({ ...deps, remainingMs: () => deadlineMs - Date.now() });
  const elapsedS = (Date.now() - startedMs) / 1_000;
  let advanced = 0;
  await forEachBounded(schedules, 16, async (schedule) => {
    const after = await deps.store.getSchedule(schedule.scheduleId);
    if (after && after.materializedUntilMs > schedule.materializedUntilMs) advanced++;
  });
  // Saturated: the run stopped starting schedules (15 s before its timeout) with some left for the next run. Its
  // occurrences are then what one run can make; a one-second schedule needs 60 of them every minute.
  const saturated = advanced < summary.schedules;

  console.log(
    JSON.stringify(
      {
        cron,
        schedulesDue: summary.schedules,
        schedulesAdvanced: advanced,
        occurrences: summary.occurrences,
        skipped: summary.skipped,
        failures: summary.failures,
        // What the deployed run emits as ScheduleMaterializerLag (LagAlarm above 120 s for 3 minutes).
        lagSeconds: summary.lagSeconds,
        elapsedSeconds: Number(elapsedS.toFixed(1)),
        occurrencesPerSecond: Math.round(summary.occurrences / elapsedS),
        saturated,
        ...(saturated ? { oneSecondSchedulesKeptUp: Math.floor(summary.occurrences / 60) } : {}),
      },
      null,
      2,
    ),
  );
} finally {
  await cloud.stop();
}

/** A schedule as it is between on-time runs: active, due now, its cursor AHEAD_MS ahead. */
function steadySchedule(i: number, nowMs: number): ScheduleRecord {
  const key = makeScheduleKey("demo", newUlid(nowMs));
  return {
    ...key,
    topic: "demo",
    cron,
    timezone: "UTC",
    content: JSON.stringify({ order_id: `capacity-${i}`, sn: "demo", url: "/capacity" }),
    status: "active",
    createdAtMs: nowMs,
    updatedAtMs: nowMs,
    materializedUntilMs: nowMs + AHEAD_MS,
    epoch: 0,
    scheduleShard: scheduleShardOf(key.scheduleId),
    materializeAtMs: nowMs,
  };
}
