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
 * per-thread CPU from /proc), and the model runs the same workload with the bare profile.
 *
 * The deliver path's start-up: a fresh process runs it for the first time when the first tasks come due, and
 * spends more then than its calls' own warm-ups (measured: the bench's runs deliver a few hundred tasks in the
 * first second of delivery on as much CPU as a thousand take later). The burst's per-thread CPU is sampled every
 * SAMPLE_MS with the tasks received so far, in the local cloud and in the model alike; its delivery phase's CPU
 * beyond the steady per-task rate of its last 40 % (the intercept) is what starting up cost. Measured intercept
 * mi, bare model's bi, totals over both workloads mt and bt (each workload a fresh process, so one start-up each),
 * per thread: factor f = (mt − 2·mi) / (bt − 2·bi) and start-up W = mi − f·bi, so that the model with f and W
 * spends what was measured both in all and at the start of delivery. Run it on a quiet machine (the load average
 * is printed).
 */
import os from "node:os";
import { PEER_CONCURRENCY } from "../bench/lib/concurrency.js";
import { Progress } from "../bench/lib/progress.js";
import { startPunctual } from "../bench/lib/targets.js";
import { burstWorkload, type RunResult, sustainedWorkload } from "../bench/lib/workloads.js";
import { DEFAULT_CONFIG, withOverrides } from "./config.js";
import { BARE_LOCAL_PROFILE, type InSituCalibration, type ThreadCost } from "./local-profile.js";
import { simulate } from "./model/pipeline.js";
import type { Workload } from "./model/workload.js";
import { predict } from "./predict.js";

/** Unlike the bench's (3,000 over 300 groups; 1,000/s for 6 s over 1,000 groups, delay 5 s), so the bench checks. */
const BURST = { tasks: 1_500, groups: 150, leadMs: 5_000, drainMs: 30_000 };
const STEADY = { rate: 750, durationMs: 5_000, delayMs: 4_000, groups: 750, drainMs: 20_000, prefix: "c" };

const THREAD_NAMES = ["main", "emulators", "helpers"] as const;
/** How often the burst's CPU and deliveries are sampled. */
const SAMPLE_MS = 100;
/** The deliver path's start-up is charged over its first this many invocations (an assumption: ≈ 1,000 tasks). */
const START_UP_INVOCATIONS = 100;
const progress = new Progress();

/** Cumulative CPU per thread (ms) and tasks received, at one moment. */
interface Sample {
  readonly atMs: number;
  readonly received: number;
  readonly cpu: ThreadCost;
}

type PunctualTarget = Awaited<ReturnType<typeof startPunctual>>;

async function measured<R extends RunResult>(label: string, run: (target: PunctualTarget) => Promise<R>) {
  progress.start(label);
  const target = await startPunctual();
  const read = target.cpuMeter();
  const samples: Sample[] = [];
  const sample = () => {
    const { threads } = read();
    const cpu = { main: threads.mainMs, emulators: threads.busiestMs, helpers: threads.restMs };
    samples.push({ atMs: Date.now(), received: target.received.size, cpu });
  };
  const sampler = setInterval(sample, SAMPLE_MS);
  try {
    const result = await run(target);
    sample();
    const perTask = result.cpu.threadMsPerTask;
    if (!perTask || result.undelivered > 0)
      throw new Error(`${label}: no per-thread CPU or tasks not received`);
    progress.done(
      `main/emulators/helpers ${perTask.main}/${perTask.emulators}/${perTask.helpers} ms CPU per task`,
    );
    return { tasks: result.tasks, perTask, samples, result };
  } finally {
    clearInterval(sampler);
    await target.stop();
  }
}

const config = withOverrides(DEFAULT_CONFIG, {
  eventSources: { deliver: { maxConcurrency: PEER_CONCURRENCY } },
});

function modelled(workload: Workload): ThreadCost {
  const cpu = predict(workload, config, BARE_LOCAL_PROFILE).cpuMsPerTask;
  if (!cpu) throw new Error("the local profile models no threads");
  return cpu;
}

/** The bare model's burst, sampled like the measured one; with its due time. */
function modelledSamples(workload: Workload): { samples: Sample[]; dueMs: number } {
  const samples: Sample[] = [];
  let dueMs = Number.NaN;
  simulate(workload, config, BARE_LOCAL_PROFILE, {
    observe: (world, table) => {
      const tick = () => {
        const { threads, usage, sim } = world;
        if (!threads) throw new Error("the local profile models no threads");
        const received = table.all.filter((t) => t.receivedAtMs !== undefined).length;
        dueMs = table.all[0]?.key.dueAtMs ?? Number.NaN;
        const cpu = {
          main: threads.main.cpuMs,
          emulators: threads.emulators.cpuMs,
          helpers: usage.helperCpuMs,
        };
        samples.push({ atMs: sim.now, received, cpu });
        if (received < (workload.burst ?? 0)) sim.after(SAMPLE_MS, tick, "io");
      };
      world.sim.after(SAMPLE_MS, tick, "io");
    },
  });
  return { samples, dueMs };
}

/**
 * CPU per thread the burst's delivery phase spent beyond its steady per-task rate: from the due time to the last
 * receive, less the tasks times the rate of its last 40 % (from the sample where 60 % had arrived to the end).
 */
function intercept(samples: readonly Sample[], dueMs: number, tasks: number): ThreadCost {
  const atDue = samples.filter((s) => s.atMs <= dueMs).at(-1) ?? samples[0];
  const steady = samples.find((s) => s.received >= 0.6 * tasks);
  const end = samples.find((s) => s.received >= tasks);
  if (!atDue || !steady || !end || end.received <= steady.received)
    throw new Error("the burst's samples do not cover its delivery");
  const of = (k: keyof ThreadCost) => {
    const rate = (end.cpu[k] - steady.cpu[k]) / (end.received - steady.received);
    return end.cpu[k] - atDue.cpu[k] - rate * (end.received - atDue.received);
  };
  return { main: of("main"), emulators: of("emulators"), helpers: of("helpers") };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

async function calibrate(): Promise<InSituCalibration> {
  const loadAverage = Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
  const burst = await measured("in situ · burst", (t) => burstWorkload(t, progress, BURST));
  const burstWorkloadSpec = { burst: BURST.tasks, groups: BURST.groups, delaySeconds: BURST.leadMs / 1000 };
  const modelBurst = modelledSamples(burstWorkloadSpec);
  const mi = intercept(burst.samples, burst.result.dueMs, BURST.tasks);
  const bi = intercept(modelBurst.samples, modelBurst.dueMs, BURST.tasks);
  const steady = await measured("in situ · steady", (t) => sustainedWorkload(t, progress, STEADY));
  const runs = [
    { ...burst, model: modelled(burstWorkloadSpec) },
    {
      ...steady,
      model: modelled({
        rate: STEADY.rate,
        durationSeconds: STEADY.durationMs / 1000,
        delaySeconds: STEADY.delayMs / 1000,
        groups: STEADY.groups,
      }),
    },
  ];
  const total = (pick: (r: (typeof runs)[number]) => number) =>
    runs.reduce((sum, r) => sum + pick(r) * r.tasks, 0);
  // One start-up per workload (each a fresh local cloud); none where the measured intercept is not above the model's.
  const solved = THREAD_NAMES.map((k) => {
    const [mt, bt] = [total((r) => r.perTask[k]), total((r) => r.model[k])];
    const f = (mt - runs.length * mi[k]) / (bt - runs.length * bi[k]);
    const startUp = mi[k] - f * bi[k];
    return startUp > 0 ? { k, f, startUp } : { k, f: mt / bt, startUp: 0 };
  });
  const pick = (of: "f" | "startUp") =>
    Object.fromEntries(solved.map((x) => [x.k, round(x[of])])) as unknown as ThreadCost;
  const factor = pick("f");
  return {
    measuredAt: new Date().toISOString(),
    loadAverage,
    workloads: runs.map((r, i) => ({
      name:
        i === 0
          ? `burst ${BURST.tasks} over ${BURST.groups} groups`
          : `${STEADY.rate}/s for ${STEADY.durationMs / 1000} s`,
      tasks: r.tasks,
      measured: r.perTask,
      modelled: r.model,
    })),
    burstIntercept: {
      measured: { main: round(mi.main), emulators: round(mi.emulators), helpers: round(mi.helpers) },
      modelled: { main: round(bi.main), emulators: round(bi.emulators), helpers: round(bi.helpers) },
    },
    factor,
    deliverStartUp: { ...pick("startUp"), invocations: START_UP_INVOCATIONS },
  };
}

process.stdout.write(`${JSON.stringify(await calibrate(), null, 2)}\n`);
process.exit(0);
