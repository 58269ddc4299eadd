import { DEFAULT_CONFIG, withOverrides } from "../../plan/config.js";
import { localProfile } from "../../plan/local-profile.js";
import type { Workload } from "../../plan/model/workload.js";
import type { CpuSpeed } from "../../plan/model/world.js";
import { predict } from "../../plan/predict.js";
import { PEER_CONCURRENCY } from "./concurrency.js";
import { CPU_SAMPLE_MS, type CpuSample, type RunResult } from "./workloads.js";

interface Figures {
  readonly p99: number;
  readonly deliveryRate: number;
}
type ThreadCpu = NonNullable<RunResult["cpu"]["threadMsPerTask"]>;

/** The capacity planner's prediction for one measured run, beside what was measured. */
export interface PlannerLine {
  /** Share of each core other work left the local cloud, averaged over the run. */
  readonly cpuSpeed: number;
  /** The lowest share in any of the run's CPU_SAMPLE_MS intervals in which the local cloud was working. */
  readonly minCpuSpeed?: number;
  readonly idle: Figures;
  /** At the share the machine left interval by interval (at the average share for runs without a timeline). */
  readonly loaded: Figures;
  /** At the run's average share, all the way through (how the bench predicted before the timeline). */
  readonly loadedAverage?: Figures;
  readonly measured: Figures;
  /** CPU ms per task by thread: the model's (at the run's share) beside the run's. */
  readonly cpuMsPerTask?: { readonly predicted?: ThreadCpu; readonly measured?: ThreadCpu };
  /**
   * At the run's share and the host's speed of the run: every call's CPU on a thread times that thread's measured ÷
   * modelled CPU per task (`hostSpeed`). The machine's cores run 5–10 % faster or slower from one half hour to the
   * next, and at the sustained run's knee that moves its p99 by tens of per cent; the calibration runs cannot know
   * it, the run itself measures it. The p99 and the throughput stay the model's: only the CPU per task is the run's.
   */
  readonly atHostSpeed?: Figures & { readonly hostSpeed: ThreadCpu };
}

/** Share of each core left to the local cloud: the machine's cores minus other work and the bench's own CPU. */
function shareLeft(
  cpus: number,
  wallMs: number,
  machineMs: number,
  systemMs: number,
  clientMs: number,
): number {
  if (wallMs <= 0) return 1;
  const others = Math.max(0, (machineMs - systemMs - clientMs) / wallMs);
  return Math.min(1, Math.max(0.05, (cpus - others - clientMs / wallMs) / cpus));
}

/**
 * The local cloud is working in an interval where it used at least this many cores: the lowest share reported is
 * the lowest while it worked (waiting for a burst's due second, it leaves the machine to others, and a low share
 * then costs it nothing).
 */
const WORKING_CORES = 0.25;

/**
 * The share interval by interval, from the run's cumulative CPU samples; after the last one (the model may take
 * longer than the run did), the run's average. The run's closing sample, taken when it ended, usually closes an
 * interval of a few ms, in which /proc's 10 ms ticks say nothing: intervals under half the period are dropped.
 */
function shareOverTime(
  timeline: readonly CpuSample[],
  cpus: number,
  average: number,
): { at: CpuSpeed; min: number } {
  const shares = timeline.flatMap((sample, i) => {
    const prev = timeline[i - 1] ?? { atMs: 0, machineMs: 0, systemMs: 0, clientMs: 0 };
    const wallMs = sample.atMs - prev.atMs;
    if (wallMs < CPU_SAMPLE_MS / 2) return [];
    const share = shareLeft(
      cpus,
      wallMs,
      sample.machineMs - prev.machineMs,
      sample.systemMs - prev.systemMs,
      sample.clientMs - prev.clientMs,
    );
    const working = (sample.systemMs - prev.systemMs) / wallMs >= WORKING_CORES;
    return [{ untilMs: sample.atMs, share, working }];
  });
  const at = (sinceStartMs: number) => shares.find((s) => sinceStartMs < s.untilMs)?.share ?? average;
  return { at, min: Math.min(average, ...shares.filter((s) => s.working).map((s) => s.share)) };
}

/** The share of each core a run left the local cloud: its average, and interval by interval when it has a timeline. */
function runShare(
  measured: RunResult,
  cpus: number,
): { average: number; overTime?: { at: CpuSpeed; min: number } } {
  const { systemCores, clientMs, systemMs, machineCores, timeline } = measured.cpu;
  const wallMs = systemCores > 0 ? systemMs / systemCores : 0;
  const average = round(shareLeft(cpus, wallMs, (machineCores ?? 0) * wallMs, systemMs, clientMs));
  return {
    average,
    ...(timeline && timeline.length > 0 ? { overTime: shareOverTime(timeline, cpus, average) } : {}),
  };
}

/**
 * What `npm run plan -- --profile local` predicts for the run's workload: on an idle machine, and with the CPU
 * other work left during the run (machine busy − the system under test − the bench itself, /proc/stat), interval
 * by interval: other engineers' jobs come and go within a run, and an average share spreads a busy few seconds
 * over the whole of it. The config is the bench's: deliver at PEER_CONCURRENCY batches.
 */
export function plannerLine(workload: Workload, measured: RunResult, cpus: number): PlannerLine {
  const config = withOverrides(DEFAULT_CONFIG, {
    eventSources: { deliver: { maxConcurrency: PEER_CONCURRENCY } },
  });
  const { average: cpuSpeed, overTime } = runShare(measured, cpus);
  const pick = (speed: CpuSpeed, hostSpeed?: ThreadCpu) =>
    predict(workload, config, localProfile(workload, hostSpeed), { cpuSpeed: speed });
  const figures = (p: ReturnType<typeof pick>) => ({ p99: p.latenessMs.p99, deliveryRate: p.deliveryRate });
  const idle = pick(1);
  const averaged = pick(cpuSpeed);
  const loaded = overTime ? pick(overTime.at) : averaged;
  const hostSpeed = speedOfHost(measured.cpu.threadMsPerTask, loaded.cpuMsPerTask);
  const atHostSpeed = hostSpeed && pick(overTime?.at ?? cpuSpeed, hostSpeed);
  return {
    ...(hostSpeed && atHostSpeed ? { atHostSpeed: { ...figures(atHostSpeed), hostSpeed } } : {}),
    cpuSpeed,
    ...(overTime ? { minCpuSpeed: round(overTime.min) } : {}),
    idle: figures(idle),
    loaded: figures(loaded),
    loadedAverage: figures(averaged),
    measured: { p99: measured.lateness.p99, deliveryRate: measured.deliveryRate },
    // At the run's share: the batches the pipeline forms, and so its calls per task, depend on how fast it runs.
    cpuMsPerTask: {
      ...(loaded.cpuMsPerTask ? { predicted: loaded.cpuMsPerTask } : {}),
      ...(measured.cpu.threadMsPerTask ? { measured: measured.cpu.threadMsPerTask } : {}),
    },
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

/**
 * Per thread, the CPU per task the run measured ÷ what the model charged it at calibration speed and the run's
 * share. One correction is enough: run again at the corrected speed, the model's CPU per task matches the run's
 * within 0.1 % (its batches hardly change), so nothing is iterated.
 */
export function speedOfHost(measured?: ThreadCpu, modelled?: ThreadCpu): ThreadCpu | undefined {
  if (!measured || !modelled) return undefined;
  if (![modelled.main, modelled.emulators, modelled.helpers].every((ms) => ms > 0)) return undefined;
  return {
    main: round3(measured.main / modelled.main),
    emulators: round3(measured.emulators / modelled.emulators),
    helpers: round3(measured.helpers / modelled.helpers),
  };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function plannerSummary(name: string, line: PlannerLine): string {
  const pct = (predicted: number, actual: number) => `${Math.round(((predicted - actual) / actual) * 100)} %`;
  const { idle, loaded, measured, loadedAverage, atHostSpeed: host } = line;
  const cpu = line.cpuMsPerTask;
  const threads = (t?: ThreadCpu) => (t ? `${t.main}/${t.emulators}/${t.helpers}` : "—");
  return [
    `  planner (local profile) ${name}: idle machine p99 ${Math.round(idle.p99)} ms, ${idle.deliveryRate}/s;`,
    `at the run's load (share ${line.cpuSpeed} on average, ${line.minCpuSpeed ?? "–"} at least) p99 ${Math.round(loaded.p99)} ms (${pct(loaded.p99, measured.p99)}), ${loaded.deliveryRate}/s (${pct(loaded.deliveryRate, measured.deliveryRate)})`,
    loadedAverage
      ? `[average share throughout: p99 ${Math.round(loadedAverage.p99)} ms (${pct(loadedAverage.p99, measured.p99)}), ${loadedAverage.deliveryRate}/s (${pct(loadedAverage.deliveryRate, measured.deliveryRate)})];`
      : "",
    `CPU ms/task main/emulators/helpers predicted ${threads(cpu?.predicted)}, measured ${threads(cpu?.measured)};`,
    host
      ? `at the run's host speed (× ${threads(host.hostSpeed)}) p99 ${Math.round(host.p99)} ms (${pct(host.p99, measured.p99)}), ${host.deliveryRate}/s (${pct(host.deliveryRate, measured.deliveryRate)})`
      : "",
  ]
    .filter((part) => part !== "")
    .join(" ");
}
