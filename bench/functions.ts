/**
 * Per-function figures: bundle size (esbuild, PunctualFunction's options), cold-start init (a fresh `node`
 * importing the bundle, median of N) and warm CPU per task with every I/O stubbed (the handler as deployed —
 * middy, zod, Powertools, our services — over in-memory store, queues and HTTP, so what remains is our own code).
 *
 *   npx tsx bench/functions.ts [--runs 10] [--json out.json]
 *
 * Node 20 here; Lambda runs nodejs22.x on arm64 (Graviton), so absolute times differ there.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Metafile } from "esbuild";
import {
  BUNDLE_LEGAL_COMMENTS,
  BUNDLE_MAIN_FIELDS,
  BUNDLE_TARGET,
  bundledEnvironmentDefine,
  ESM_REQUIRE_BANNER,
  UNREACHED_CREDENTIAL_PROVIDERS,
} from "#cdk/lib/bundling.js";
import { dummyEnvironment } from "./functions/environment.js";
import { API_FUNCTIONS, BENCH_ENVIRONMENT, FUNCTIONS, type FunctionName } from "./functions/names.js";
import { warmCpu } from "./functions/warm-cpu.js";

export { FUNCTIONS, type FunctionName };

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** A function's handler module: its route's entry for the API, `functions/<name>.ts` for the pipeline. */
function entryOf(name: FunctionName): string {
  return API_FUNCTIONS.find((route) => route.name === name)?.entry ?? `functions/${name}.ts`;
}

export interface FunctionFigures {
  readonly name: FunctionName;
  readonly bundleBytes: number;
  /**
   * Of which the AWS SDK (@aws-sdk, @smithy, @aws-crypto, and mnemonist/obliterator, which only it brings): what the
   * bundle weighs beyond our code and our libraries.
   */
  readonly sdkBytes: number;
  /** Largest contributors to the bundle: package (or our own code) → bytes in the output. */
  readonly topInputs: { readonly input: string; readonly bytes: number }[];
  readonly initMedianMs: number;
  readonly initRunsMs: number[];
  readonly warmCpuUsPerTask?: number;
}

/**
 * The stack's bundling (cdk/lib/bundling.ts), which PunctualFunction hands to esbuild, for `environmentName` (the
 * bench's own by default: a bundle built for another cannot load the config its dummy environment names).
 */
export async function bundle(
  name: FunctionName,
  outdir: string,
  environmentName = BENCH_ENVIRONMENT,
): Promise<{ file: string; metafile: Metafile }> {
  const file = path.join(outdir, name, "index.mjs");
  const result = await build({
    entryPoints: [path.join(ROOT, entryOf(name))],
    outfile: file,
    bundle: true,
    platform: "node",
    target: BUNDLE_TARGET,
    format: "esm",
    minify: true,
    sourcemap: false,
    mainFields: BUNDLE_MAIN_FIELDS,
    banner: { js: ESM_REQUIRE_BANNER },
    define: bundledEnvironmentDefine(environmentName),
    external: UNREACHED_CREDENTIAL_PROVIDERS,
    legalComments: BUNDLE_LEGAL_COMMENTS,
    metafile: true,
    logLevel: "error",
    absWorkingDir: ROOT,
  });
  return { file, metafile: result.metafile };
}

/**
 * The AWS SDK's inputs: its own scopes, and the packages only it brings — mnemonist and obliterator (~7 KB), which
 * the DynamoDB client's endpoint cache (`@aws-sdk/endpoint-cache`) imports and nothing of ours does, so they ship
 * because of the SDK and weigh on its side, not on our code's.
 */
const AWS_SDK_INPUT = /node_modules\/(@aws-sdk|@smithy|@aws-crypto|mnemonist|obliterator)\//;

/** The bytes of a bundle that are the AWS SDK (AWS_SDK_INPUT): what the 250 KB target leaves out. */
export function sdkBytesOf(metafile: Metafile): number {
  let bytes = 0;
  for (const output of Object.values(metafile.outputs))
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs))
      if (AWS_SDK_INPUT.test(input)) bytes += bytesInOutput;
  return bytes;
}

/** Groups the metafile's inputs by package (`@aws-sdk/client-sqs`, `zod`…) or "our code". */
function topInputs(metafile: Metafile, n = 6): { input: string; bytes: number }[] {
  const byPackage = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const key = match ? (match[1] as string) : "our code";
      byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
    }
  }
  return [...byPackage.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([input, bytes]) => ({ input, bytes }));
}

/** Module init of a bundle in a fresh process: time to import it, measured inside that process. */
export function coldInitMs(name: FunctionName, file: string): number {
  const script = `const t=performance.now();await import(${JSON.stringify(file)});process.stdout.write(String(performance.now()-t));process.exit(0);`;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { PATH: process.env.PATH, ...dummyEnvironment(name) },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  return Number(out);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

export async function measureFunctions(options: {
  runs: number;
  warmIterations: number;
}): Promise<FunctionFigures[]> {
  const outdir = mkdtempSync(path.join(tmpdir(), "punctual-bench-fn-"));
  try {
    // Warm figures in a child of its own: the handlers read their environment at import.
    const warmFile = path.join(outdir, "warm.json");
    execFileSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--no-warnings",
        fileURLToPath(import.meta.url),
        "--warm-only",
        String(options.warmIterations),
        warmFile,
      ],
      { stdio: ["ignore", "ignore", "inherit"], cwd: ROOT },
    );
    const warm = JSON.parse(
      await import("node:fs").then((fs) => fs.readFileSync(warmFile, "utf8")),
    ) as Partial<Record<FunctionName, number>>;
    const figures: FunctionFigures[] = [];
    for (const name of FUNCTIONS) {
      const { file, metafile } = await bundle(name, outdir);
      const initRunsMs = Array.from(
        { length: options.runs },
        () => Math.round(coldInitMs(name, file) * 10) / 10,
      );
      figures.push({
        name,
        bundleBytes: statSync(file).size,
        sdkBytes: sdkBytesOf(metafile),
        topInputs: topInputs(metafile),
        initMedianMs: median(initRunsMs),
        initRunsMs,
        ...(warm[name] === undefined ? {} : { warmCpuUsPerTask: Math.round(warm[name] * 10) / 10 }),
      });
    }
    return figures;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const warmOnly = args.indexOf("--warm-only");
  if (warmOnly >= 0) {
    const results = await warmCpu(Number(args[warmOnly + 1]));
    writeFileSync(args[warmOnly + 2] as string, JSON.stringify(results));
    return;
  }
  const runsAt = args.indexOf("--runs");
  const jsonAt = args.indexOf("--json");
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 10;
  const figures = await measureFunctions({ runs, warmIterations: 2000 });
  if (jsonAt >= 0) writeFileSync(args[jsonAt + 1] as string, JSON.stringify(figures, null, 2));
  console.log(
    "| Function | Bundle (KB) | of which AWS SDK (KB) | Cold init median (ms) | Warm CPU per task (µs) | Largest inputs (KB) |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | --- |");
  for (const f of figures) {
    const top = f.topInputs.map((t) => `${t.input} ${(t.bytes / 1024).toFixed(0)}`).join(", ");
    console.log(
      `| ${f.name} | ${(f.bundleBytes / 1024).toFixed(1)} | ${(f.sdkBytes / 1024).toFixed(1)} | ${f.initMedianMs} | ${f.warmCpuUsPerTask ?? "—"} | ${top} |`,
    );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
