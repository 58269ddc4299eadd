import { DEFAULT_CONFIG, withOverrides } from "../../plan/config.js";
import { LOCAL_PROFILE } from "../../plan/local-profile.js";
import type { Workload } from "../../plan/model/workload.js";
import { predict } from "../../plan/predict.js";
import { PEER_CONCURRENCY } from "./concurrency.js";
import type { RunResult } from "./workloads.js";

/** The capacity planner's prediction for one measured run, beside what was measured. */
export interface PlannerLine {
  /** Share of each core the local cloud's threads could get, from the machine's measured load. */
  readonly cpuSpeed: number;
  readonly idle: { readonly p99: number; readonly deliveryRate: number };
  readonly loaded: { readonly p99: number; readonly deliveryRate: number };
  readonly measured: { readonly p99: number; readonly deliveryRate: number };
}

/**
 * What `npm run plan -- --profile local` predicts for the run's workload: on an idle machine, and with the CPU
 * other work took during the run (machine busy − the system under test − the bench itself; what is left is spread
 * over the cores the local cloud's four threads share). The config is the bench's: deliver at PEER_CONCURRENCY
 * batches.
 */
export function plannerLine(workload: Workload, measured: RunResult, cpus: number): PlannerLine {
  const config = withOverrides(DEFAULT_CONFIG, {
    eventSources: { deliver: { maxConcurrency: PEER_CONCURRENCY } },
  });
  const { systemCores, clientMs, systemMs, machineCores } = measured.cpu;
  const clientCores = systemMs > 0 ? (clientMs / systemMs) * systemCores : 0;
  const others = Math.max(0, (machineCores ?? 0) - systemCores - clientCores);
  const cpuSpeed = Math.round(Math.min(1, Math.max(0.05, (cpus - others - clientCores) / cpus)) * 100) / 100;
  const pick = (speed: number) => {
    const p = predict(workload, config, LOCAL_PROFILE, { cpuSpeed: speed });
    return { p99: p.latenessMs.p99, deliveryRate: p.deliveryRate };
  };
  return {
    cpuSpeed,
    idle: pick(1),
    loaded: pick(cpuSpeed),
    measured: { p99: measured.lateness.p99, deliveryRate: measured.deliveryRate },
  };
}

export function plannerSummary(name: string, line: PlannerLine): string {
  const pct = (predicted: number, actual: number) => `${Math.round(((predicted - actual) / actual) * 100)} %`;
  const { idle, loaded, measured } = line;
  return `  planner (local profile) ${name}: idle machine p99 ${Math.round(idle.p99)} ms, ${idle.deliveryRate}/s; at the run's load (speed ${line.cpuSpeed}) p99 ${Math.round(loaded.p99)} ms (${pct(loaded.p99, measured.p99)}), ${loaded.deliveryRate}/s (${pct(loaded.deliveryRate, measured.deliveryRate)})`;
}
