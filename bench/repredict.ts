/**
 * The capacity planner's prediction again for saved bench results, with the planner's code as it is now — to see
 * what a model change does to runs already measured, without measuring them again:
 *
 *   cp bench/results/partial.json /tmp/runs/r1.json   # after each `npm run bench -- --only=burst,sustained …`
 *   npx tsx bench/repredict.ts /tmp/runs/*.json
 *
 * Each line: measured / predicted at the run's CPU share (bench/lib/planner.ts `plannerLine`), and the error; in
 * brackets, the same at the run's host speed (its CPU per task per thread, `atHostSpeed`).
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import type { Workload } from "../plan/model/workload.js";
import { type AddsFigures, burstLeadMs } from "./lib/burst-lead.js";
import { plannerLine } from "./lib/planner.js";
import type { RunResult } from "./lib/workloads.js";

interface Saved {
  readonly settings: {
    readonly burst: { readonly tasks: number; readonly groups: number };
    readonly sustained: {
      readonly rate: number;
      readonly durationMs: number;
      readonly delayMs: number;
      readonly groups: number;
    };
  };
  readonly adds?: { readonly punctual?: AddsFigures };
  readonly burst?: { readonly punctual?: RunResult };
  readonly sustained?: { readonly punctual?: RunResult };
}

function line(name: string, workload: Workload, measured: RunResult | undefined): string {
  if (!measured) return `${name} —`;
  const p = plannerLine(workload, measured, os.cpus().length);
  const error = (predicted: number, actual: number) =>
    `${Math.round(((predicted - actual) / actual) * 100)} %`;
  return (
    `${name} p99 ${Math.round(p.measured.p99)} / ${Math.round(p.loaded.p99)} ms (${error(p.loaded.p99, p.measured.p99)}), ` +
    `${Math.round(p.measured.deliveryRate)} / ${Math.round(p.loaded.deliveryRate)} per s (${error(p.loaded.deliveryRate, p.measured.deliveryRate)})` +
    (p.atHostSpeed
      ? ` [host speed: ${Math.round(p.atHostSpeed.p99)} ms (${error(p.atHostSpeed.p99, p.measured.p99)}), ${Math.round(p.atHostSpeed.deliveryRate)} per s (${error(p.atHostSpeed.deliveryRate, p.measured.deliveryRate)})]`
      : "")
  );
}

for (const file of process.argv.slice(2)) {
  const saved = JSON.parse(readFileSync(file, "utf8")) as Saved;
  const { burst, sustained } = saved.settings;
  console.log(
    `${file}: ${line("burst", { burst: burst.tasks, groups: burst.groups, delaySeconds: burstLeadMs(burst.tasks, saved.adds?.punctual) / 1000 }, saved.burst?.punctual)} | ${line(
      "sustained",
      {
        rate: sustained.rate,
        durationSeconds: sustained.durationMs / 1000,
        delaySeconds: sustained.delayMs / 1000,
        groups: sustained.groups,
      },
      saved.sustained?.punctual,
    )}`,
  );
}
