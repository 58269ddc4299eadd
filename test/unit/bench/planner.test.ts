import { describe, expect, it } from "vitest";
import { PEER_CONCURRENCY } from "../../../bench/lib/concurrency.js";
import { plannerLine, speedOfHost } from "../../../bench/lib/planner.js";
import type { RunResult } from "../../../bench/lib/workloads.js";
import { DEFAULT_CONFIG, withOverrides } from "../../../plan/config.js";
import { localProfile } from "../../../plan/local-profile.js";
import { predict } from "../../../plan/predict.js";

/** The value, or the test fails here saying what was missing. */
function present<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is missing`);
  return value;
}

const workload = { rate: 200, durationSeconds: 2, delaySeconds: 2, groups: 200 };
const config = withOverrides(DEFAULT_CONFIG, {
  eventSources: { deliver: { maxConcurrency: PEER_CONCURRENCY } },
});

/** A run on an otherwise idle machine (share 1) whose threads used `cpu` ms per task. */
function runThatUsed(cpu: { main: number; emulators: number; helpers: number }): RunResult {
  const distribution = { p50: 100, p90: 200, p99: 300, max: 400 };
  return {
    tasks: 400,
    addErrors: 0,
    undelivered: 0,
    duplicates: 0,
    lateness: distribution,
    latenessCdf: [],
    addRate: 200,
    deliveryRate: 200,
    cpu: {
      systemMs: 1_000,
      systemCores: 0.5,
      systemMsPerTask: 2.5,
      mainCores: 0.5,
      clientMs: 0,
      machineCores: 0.5,
      threadMsPerTask: cpu,
    },
    firstErrors: [],
    loadAverageAtStart: 0,
  } as unknown as RunResult;
}

describe("the host's speed of a run (bench/lib/planner.ts)", () => {
  it("is, per thread, the CPU per task the run measured ÷ what the model charged", () => {
    expect(
      speedOfHost({ main: 0.9, emulators: 1.1, helpers: 0.5 }, { main: 1, emulators: 1, helpers: 1 }),
    ).toEqual({ main: 0.9, emulators: 1.1, helpers: 0.5 });
    expect(speedOfHost(undefined, { main: 1, emulators: 1, helpers: 1 })).toBeUndefined();
    expect(
      speedOfHost({ main: 1, emulators: 1, helpers: 1 }, { main: 1, emulators: 0, helpers: 1 }),
    ).toBeUndefined();
  });

  it("makes the model charge what the run measured, so only the p99 and the throughput are left to predict", () => {
    // Prepare: a run whose host was 10 % faster than at calibration on every thread
    const modelled = present(
      predict(workload, config, localProfile(workload), { cpuSpeed: 1 }).cpuMsPerTask,
      "the model's CPU per task",
    );
    const measured = {
      main: modelled.main * 0.9,
      emulators: modelled.emulators * 0.9,
      helpers: modelled.helpers * 0.9,
    };

    // Act
    const line = plannerLine(workload, runThatUsed(measured), 2);

    // Assess: the speed found, and the model at that speed charging the measured CPU per task (within 1 %)
    const atHostSpeed = present(line.atHostSpeed, "the prediction at the host's speed");
    const speed = atHostSpeed.hostSpeed;
    for (const thread of ["main", "emulators", "helpers"] as const) expect(speed[thread]).toBeCloseTo(0.9, 2);
    const atHost = present(
      predict(workload, config, localProfile(workload, speed), { cpuSpeed: 1 }).cpuMsPerTask,
      "the model's CPU per task at the host's speed",
    );
    for (const thread of ["main", "emulators", "helpers"] as const)
      expect(Math.abs(atHost[thread] / measured[thread] - 1)).toBeLessThan(0.01);
    expect(atHostSpeed.p99).toBeLessThanOrEqual(line.loaded.p99);
  });

  it("is left out when the run measured no CPU per thread", () => {
    const run = runThatUsed({ main: 1, emulators: 1, helpers: 1 });
    const line = plannerLine(workload, { ...run, cpu: { ...run.cpu, threadMsPerTask: undefined } }, 2);

    expect(line.atHostSpeed).toBeUndefined();
  });
});
