/**
 * Where the CPU goes, from V8 profiles of the system under test:
 *
 *   BENCH_PROFILE_DIR=/tmp/prof npm run bench -- --quick --only=burst
 *   npx tsx bench/profile-summary.ts [--skip-ms=N] /tmp/prof/*.cpuprofile
 *
 * `--skip-ms=N` leaves out each profile's first N ms (the local cloud's start-up: synth, module loading);
 * `--last-ms=N` keeps only each profile's last N ms instead (a short workload at the end of a run, such as the
 * adds: each thread's profile starts at a different time, but they all end when the system under test stops).
 * Self time per category (ours, AWS SDK, Node's HTTP stack, GC, emulators, …) and the top functions.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const CATEGORIES: [string, RegExp][] = [
  ["AWS SDK (@smithy, @aws-sdk)", /node_modules\/(@smithy|@aws-sdk|@aws-crypto)\//],
  [
    "emulators (dynalite, fauxqs, level, fastify)",
    /node_modules\/(dynalite|fauxqs|[^/]*level[^/]*|fastify|@fastify|big\.js|lazy|async|once)\//,
  ],
  ["start-up: CDK synth of the local template (validation wasm)", /@aws\/cloudformation-validate|^wasm:/],
  [
    "Powertools, middy, zod, standardwebhooks",
    /node_modules\/(@aws-lambda-powertools|@middy|zod|standardwebhooks|@stablelib|ulid)\//,
  ],
  ["our code (shared/, functions/)", /\/(shared|functions)\//],
  ["local runtime & scheduler emulator (local/)", /\/local\//],
  [
    "module loading (start-up)",
    /node:internal\/modules|node_modules\/(tsx|esbuild|aws-cdk-lib|constructs)\//,
  ],
  ["Node HTTP, net, streams, crypto", /^node:/],
];

function category(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (functionName === "(garbage collector)") return "garbage collection";
  if (!url) return "native (syscalls: socket writes, …)";
  return CATEGORIES.find(([, re]) => re.test(url))?.[0] ?? "other";
}

const skipArg = process.argv.find((a) => a.startsWith("--skip-ms="));
const skipUs = skipArg ? Number(skipArg.slice(10)) * 1000 : 0;
const lastArg = process.argv.find((a) => a.startsWith("--last-ms="));
const lastUs = lastArg ? Number(lastArg.slice(10)) * 1000 : undefined;

for (const file of process.argv.slice(2).filter((a) => !a.startsWith("--"))) {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const spanUs = profile.timeDeltas.reduce((sum, dt) => sum + dt, 0);
  const fromUs = lastUs === undefined ? skipUs : spanUs - lastUs;
  let total = 0;
  let elapsedUs = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    elapsedUs += dt;
    if (elapsedUs < fromUs) return;
    if (!node || ["(idle)", "(program)"].includes(node.callFrame.functionName)) return;
    total += dt;
    const c = category(node);
    byCategory.set(c, (byCategory.get(c) ?? 0) + dt);
    const where = node.callFrame.url
      .replace(/.*node_modules\//, "")
      .replace(/^file:\/\/.*?\/(shared|functions|local)\//, "$1/");
    const f = `${node.callFrame.functionName || "(anonymous)"} ${where}:${node.callFrame.lineNumber + 1}`;
    byFunction.set(f, (byFunction.get(f) ?? 0) + dt);
  });
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  console.log(`\n${file}: ${(total / 1000).toFixed(0)} ms of CPU`);
  for (const [c, us] of [...byCategory.entries()].sort((a, b) => b[1] - a[1]))
    console.log(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${c}`);
  console.log("  top functions (self time):");
  for (const [f, us] of [...byFunction.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12))
    console.log(`  ${pct(us)}  ${f}`);
}
