/**
 * `npx tsx plan/calibrate-pipeline.ts`: the local profile's in-situ factors — how much more CPU per task the local
 * cloud spends when the whole pipeline runs at once than the sum of its calls measured one kind at a time
 * (plan/calibrate.ts). Prints JSON for IN_SITU in plan/local-profile.ts.
 *
 * Why a factor: calibrate.ts measures each call alone, 32 in flight, on a machine the calls leave half idle. In the
 * pipeline every thread competes for both cores at once, the heap holds thousands of tasks in flight (V8's GC and
 * its helper threads work harder) and the emulators serve a mix of calls; measured in the bench, that cost 20–40 %
 * more CPU per task than the sum of the calls (docs/PERFORMANCE.md, "Capacity planner calibration"). The factor is
 * a CPU measurement, per thread, on workloads of their own — a smaller burst and a slower rate than the bench's,
 * which the bench's burst and sustained runs then check — never fitted to a lateness or a throughput.
 *
 * Each workload runs on a fresh local cloud exactly as the bench runs it (bench/lib/targets.ts: its process, its
 * per-thread CPU from /proc), and the model runs the same workload with the bare profile: factor = measured CPU ÷
 * modelled CPU, per thread, per workload shape (the burst's for bursts, the steady run's for rates: V8's helpers
 * cost half as much again per task in a burst). Run it on a quiet machine (the load average is printed).
 */
import os from "node:os";
import { PEER_CONCURRENCY } from "../bench/lib/concurrency.js";
import { Progress } from "../bench/lib/progress.js";
import { startPunctual } from "../bench/lib/targets.js";
import { burstWorkload, type RunResult, sustainedWorkload } from "../bench/lib/workloads.js";
import { DEFAULT_CONFIG, withOverrides } from "./config.js";
import { BARE_LOCAL_PROFILE, type InSituCalibration, type ThreadCost } from "./local-profile.js";
import type { Workload } from "./model/workload.js";
import { predict } from "./predict.js";

/** Unlike the bench's (3,000 over 300 groups; 1,000/s for 6 s over 1,000 groups, delay 5 s), so the bench checks. */
const BURST = { tasks: 1_500, groups: 150, leadMs: 5_000, drainMs: 30_000 };
const STEADY = { rate: 750, durationMs: 5_000, delayMs: 4_000, groups: 750, drainMs: 20_000, prefix: "c" };

const THREAD_NAMES = ["main", "emulators", "helpers"] as const;
const progress = new Progress();

async function measured(
  label: string,
  run: (target: Awaited<ReturnType<typeof startPunctual>>) => Promise<RunResult>,
) {
  progress.start(label);
  const target = await startPunctual();
  try {
    const result = await run(target);
    const perTask = result.cpu.threadMsPerTask;
    if (!perTask || result.undelivered > 0)
      throw new Error(`${label}: no per-thread CPU or tasks not received`);
    progress.done(
      `main/emulators/helpers ${perTask.main}/${perTask.emulators}/${perTask.helpers} ms CPU per task`,
    );
    return { tasks: result.tasks, perTask };
  } finally {
    await target.stop();
  }
}

function modelled(workload: Workload): ThreadCost {
  const config = withOverrides(DEFAULT_CONFIG, {
    eventSources: { deliver: { maxConcurrency: PEER_CONCURRENCY } },
  });
  const cpu = predict(workload, config, BARE_LOCAL_PROFILE).cpuMsPerTask;
  if (!cpu) throw new Error("the local profile models no threads");
  return cpu;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

async function calibrate(): Promise<InSituCalibration> {
  const loadAverage = Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
  const burst = await measured("in situ · burst", (t) => burstWorkload(t, progress, BURST));
  const steady = await measured("in situ · steady", (t) => sustainedWorkload(t, progress, STEADY));
  const burstRun = {
    ...burst,
    name: `burst ${BURST.tasks} over ${BURST.groups} groups`,
    shape: "burst" as const,
    model: modelled({ burst: BURST.tasks, groups: BURST.groups, delaySeconds: BURST.leadMs / 1000 }),
  };
  const steadyRun = {
    ...steady,
    name: `${STEADY.rate}/s for ${STEADY.durationMs / 1000} s`,
    shape: "rate" as const,
    model: modelled({
      rate: STEADY.rate,
      durationSeconds: STEADY.durationMs / 1000,
      delaySeconds: STEADY.delayMs / 1000,
      groups: STEADY.groups,
    }),
  };
  const factor = (r: typeof burstRun) =>
    Object.fromEntries(
      THREAD_NAMES.map((k) => [k, round(r.perTask[k] / r.model[k])]),
    ) as unknown as ThreadCost;
  return {
    measuredAt: new Date().toISOString(),
    loadAverage,
    workloads: [burstRun, steadyRun].map((r) => ({
      name: r.name,
      shape: r.shape,
      tasks: r.tasks,
      measured: r.perTask,
      modelled: r.model,
    })),
    factorByShape: { burst: factor(burstRun), rate: factor(steadyRun) },
  };
}

process.stdout.write(`${JSON.stringify(await calibrate(), null, 2)}\n`);
process.exit(0);
