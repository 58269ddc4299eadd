/**
 * `npm run bench [-- --quick] [-- --only=burst,sustained] [-- --no-functions]`: Punctual's local cloud and BullMQ on
 * Redis, side by side, on this machine. Installs and starts Redis itself (Debian's redis-server, a throw-away
 * instance on a free loopback port) and stops it afterwards. Results: bench/results/latest.{json,md,svg}.
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { quietNodeVersionWarning } from "../shared/runtime/node-version.js";
import { measureFunctions } from "./functions.js";
import { type BenchArgs, BenchArgsError, parseBenchArgs, type Workload } from "./lib/args.js";
import { burstLeadMs } from "./lib/burst-lead.js";
import { type PlannerLine, plannerLine, plannerSummary } from "./lib/planner.js";
import { Progress } from "./lib/progress.js";
import { ensureRedisInstalled, startRedis } from "./lib/redis.js";
import { type BenchResults, markdown, type System, svg } from "./lib/report.js";
import { startBullmq, startPunctual, type Target } from "./lib/targets.js";
import {
  addsWorkload,
  batchAddsWorkload,
  burstWorkload,
  rampWorkload,
  sustainedWorkload,
} from "./lib/workloads.js";

quietNodeVersionWarning();
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = benchArgsOrExit(process.argv.slice(2));
const quick = args.quick;
const wants = (name: Workload) => !args.only || args.only.includes(name);
// --systems=punctual: one side only, for iterating on a fix (a partial run, like --only).
const systems = args.systems;

// --burst-via=batch: the burst is added through POST /v1/tasks/batch (BullMQ: addBulk), 100 a request, e.g. to count
// the AWS calls per delivered task of batch-added tasks (BENCH_CALLS_FILE, bench/lib/sut.ts).
const burstViaBatch = args.burstVia === "batch";
// --burst-via=client, --sustained-via=client: each task through our typed client (natural batching, a key on every
// add; BullMQ: Queue.add with a job id), e.g. to count the AWS calls per delivered task a user of the client makes.
const burstViaClient = args.burstVia === "client";
const sustainedViaClient = args.sustainedVia === "client";

function benchArgsOrExit(argv: readonly string[]): BenchArgs {
  try {
    return parseBenchArgs(argv);
  } catch (error) {
    if (!(error instanceof BenchArgsError)) throw error;
    process.stderr.write(`bench: ${error.message}\n`);
    process.exit(2);
  }
}

// Full run as the issue specifies; --quick shrinks durations (not the burst: its size is the point) to stay < 3 min.
const settings = {
  // Each adds workload first adds unmeasured for warmUpMs (bench/lib/workloads.ts `warmingUp` says why).
  adds: {
    durationMs: quick ? 4_000 : 10_000,
    warmUpMs: quick ? 1_000 : 3_000,
    concurrency: 64,
    delayMs: 240_000,
  },
  batchAdds: {
    durationMs: quick ? 4_000 : 10_000,
    warmUpMs: quick ? 1_000 : 3_000,
    batchSize: 100,
    inFlight: 8,
    delayMs: 240_000,
  },
  burst: {
    tasks: 3_000,
    groups: 300,
    drainMs: 30_000,
    ...(burstViaBatch ? { batchSize: 100 } : {}),
    ...(burstViaClient ? { via: "client" as const } : {}),
  },
  sustained: {
    rate: 1_000,
    durationMs: quick ? 6_000 : 30_000,
    delayMs: 5_000,
    groups: 1_000,
    drainMs: quick ? 15_000 : 30_000,
    ...(sustainedViaClient ? { via: "client" as const } : {}),
  },
  ramp: {
    startRate: 100,
    growth: quick ? 3 : 2,
    maxRate: quick ? 8_100 : 12_800,
    stepMs: quick ? 3_000 : 8_000,
    delayMs: quick ? 1_000 : 2_000,
    bisections: quick ? 1 : 2,
    p99LimitMs: 1_000,
    drainMs: 8_000,
    settleMs: quick ? 10_000 : 30_000,
  },
  functions: { coldStartRuns: quick ? 5 : 10, warmIterations: quick ? 1_000 : 3_000 },
};

const progress = new Progress();
const log = (line: string) => progress.note(line);
if (quick)
  log(
    "--quick: adds 4 s after 1 s of warm-up (full run: 10 s after 3 s), sustained 1,000/s for 6 s (30 s), ramp steps 3 s ×3 (8 s ×2, then bisected), 5 cold starts per function (10)",
  );

ensureRedisInstalled(log);
const redis = await startRedis();
const stopAll: (() => Promise<void>)[] = [() => redis.stop()];
const cleanUp = async () => {
  for (const stop of stopAll.reverse()) await stop().catch(() => undefined);
};
process.on("SIGINT", () => void cleanUp().then(() => process.exit(130)));

async function withTarget<T>(system: System, label: string, fn: (target: Target) => Promise<T>): Promise<T> {
  progress.start(`${label} · ${system}`);
  const target =
    system === "punctual" ? await startPunctual() : await startBullmq(redis, `bench-${label}-${Date.now()}`);
  const stop = () => target.stop();
  stopAll.push(stop);
  try {
    const result = await fn(target);
    if (target.stats.logLines.length > 0)
      log(`  ${system}: ${target.stats.logLines.length} error lines, first: ${target.stats.logLines[0]}`);
    return result;
  } finally {
    stopAll.splice(stopAll.indexOf(stop), 1);
    await stop();
  }
}

const both = async <T>(
  label: string,
  fn: (target: Target, system: System) => Promise<T>,
  summary: (r: T) => string,
) => {
  const out = {} as Record<System, T>;
  for (const system of systems) {
    out[system] = await withTarget(system, label, (t) => fn(t, system));
    progress.done(summary(out[system]));
  }
  return out;
};
const lat = (r: { lateness: { p50: number; p99: number; max: number } }) =>
  `p50 ${Math.round(r.lateness.p50)} ms, p99 ${Math.round(r.lateness.p99)} ms, max ${Math.round(r.lateness.max)} ms`;

const started = Date.now();
const empty = undefined as never;
try {
  const adds = wants("adds")
    ? await both(
        "adds",
        (t) => addsWorkload(t, progress, settings.adds),
        (r) => `${r.addRate} adds/s`,
      )
    : empty;
  // The same 64 callers through Punctual's typed client, as a user's service adds: overlapping calls go as batches.
  const clientAdds = wants("client-adds")
    ? await both(
        "client-adds",
        (t) => addsWorkload(t, progress, { ...settings.adds, via: "client" }),
        (r) => `${r.addRate} adds/s through the client, ${r.addErrors} refused`,
      )
    : empty;
  const batchAdds = wants("batch-adds")
    ? await both(
        "batch-adds",
        (t) => batchAddsWorkload(t, progress, settings.batchAdds),
        (r) => `${r.addRate} adds/s in batches of ${settings.batchAdds.batchSize}, ${r.addErrors} refused`,
      )
    : empty;
  // The same batches with an idempotency key on every item, as our client and CLI send them (BullMQ: a job id).
  const keyedBatchAdds = wants("keyed-batch-adds")
    ? await both(
        "keyed-batch-adds",
        (t) => batchAddsWorkload(t, progress, { ...settings.batchAdds, keyed: true }),
        (r) =>
          `${r.addRate} adds/s in keyed batches of ${settings.batchAdds.batchSize}, ${r.addErrors} refused`,
      )
    : empty;
  // Add the burst ahead of its due second with room to spare, from the add rate just measured.
  const leadFor = (system: System) => burstLeadMs(settings.burst.tasks, adds?.[system]);
  const burst = wants("burst")
    ? await both(
        "burst",
        (t, system) => burstWorkload(t, progress, { ...settings.burst, leadMs: leadFor(system) }),
        (r) => `${lat(r)}, ${r.undelivered} not received`,
      )
    : empty;
  const sustained = wants("sustained")
    ? await both(
        "sustained",
        (t) => sustainedWorkload(t, progress, { ...settings.sustained, prefix: "s" }),
        (r) => `${lat(r)}, adds ${r.addRate}/s, ${r.undelivered} not received`,
      )
    : empty;
  // The capacity planner's prediction for the same workloads (issue 13 point 4), beside what was measured.
  const planner: { burst?: PlannerLine; sustained?: PlannerLine } = {};
  if (burst?.punctual) {
    planner.burst = plannerLine(
      {
        burst: settings.burst.tasks,
        groups: settings.burst.groups,
        delaySeconds: leadFor("punctual") / 1000,
      },
      burst.punctual,
      os.cpus().length,
    );
    log(plannerSummary("burst", planner.burst));
  }
  if (sustained?.punctual) {
    const s = settings.sustained;
    planner.sustained = plannerLine(
      {
        rate: s.rate,
        durationSeconds: s.durationMs / 1000,
        delaySeconds: s.delayMs / 1000,
        groups: s.groups,
      },
      sustained.punctual,
      os.cpus().length,
    );
    log(plannerSummary("sustained", planner.sustained));
  }
  const ramp = wants("ramp")
    ? await both(
        "ramp",
        (t) => rampWorkload(t, progress, settings.ramp),
        (r) => `best ${r.bestRate}/s with p99 ≤ 1 s`,
      )
    : empty;
  let functions: BenchResults["functions"];
  if (wants("functions") && !args.noFunctions) {
    progress.start("functions");
    functions = await measureFunctions({
      runs: settings.functions.coldStartRuns,
      warmIterations: settings.functions.warmIterations,
    });
    progress.done(functions.map((f) => `${f.name} ${Math.round(f.bundleBytes / 1024)} KB`).join(", "));
  }

  const results: BenchResults = {
    generatedAt: new Date().toISOString(),
    quick,
    settings,
    machine: {
      node: process.versions.node,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? "unknown",
      redis: execFileSync("redis-server", ["--version"], { encoding: "utf8" }).match(/v=(\S+)/)?.[1] ?? "?",
      bullmq: JSON.parse(readFileSync(path.join(ROOT, "node_modules/bullmq/package.json"), "utf8")).version,
    },
    adds,
    ...(clientAdds ? { clientAdds } : {}),
    ...(batchAdds ? { batchAdds } : {}),
    ...(keyedBatchAdds ? { keyedBatchAdds } : {}),
    burst,
    sustained,
    ramp,
    ...(functions ? { functions } : {}),
    planner,
  };
  const dir = path.join(ROOT, "bench/results");
  mkdirSync(dir, { recursive: true });
  if (adds && burst && sustained && ramp && systems.length === 2) {
    writeFileSync(path.join(dir, "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
    const md = markdown(results);
    writeFileSync(path.join(dir, "latest.md"), md);
    writeFileSync(path.join(dir, "latest.svg"), svg(results));
    process.stdout.write(md);
    log(`done in ${Math.round((Date.now() - started) / 1000)} s → bench/results/latest.{json,md,svg}`);
  } else {
    // A partial run (--only) never replaces the complete results the README links to.
    writeFileSync(path.join(dir, "partial.json"), `${JSON.stringify(results, null, 2)}\n`);
    log(`done in ${Math.round((Date.now() - started) / 1000)} s → bench/results/partial.json`);
  }
} finally {
  await cleanUp();
}
process.exit(0);
