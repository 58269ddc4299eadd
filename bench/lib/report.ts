import type { FunctionFigures } from "../functions.js";
import type { PlannerLine } from "./planner.js";
import type { Distribution } from "./stats.js";
import type { RampStep, RunResult } from "./workloads.js";

export type System = "punctual" | "bullmq";

export interface BenchResults {
  readonly generatedAt: string;
  readonly quick: boolean;
  readonly settings: Record<string, unknown>;
  readonly machine: { node: string; cpus: number; cpuModel: string; redis: string; bullmq: string };
  readonly adds: Record<System, RunResult>;
  /** Batches of 100: Punctual's POST /v1/tasks/batch, BullMQ's addBulk (absent in results from before it existed). */
  readonly batchAdds?: Record<System, RunResult>;
  /** The adds workload through Punctual's typed client (natural batching; BullMQ: Queue.add with a job id). */
  readonly clientAdds?: Record<System, RunResult>;
  /** The same batches with an idempotency key on every item (our client's default; BullMQ: job ids). */
  readonly keyedBatchAdds?: Record<System, RunResult>;
  readonly burst: Record<System, RunResult & { addsFinishedBeforeDueMs: number }>;
  readonly sustained: Record<System, RunResult>;
  readonly ramp: Record<System, { bestRate: number; steps: RampStep[] }>;
  readonly functions?: FunctionFigures[];
  /** `npm run plan -- --profile local`'s prediction for the burst and the sustained run (absent in older results). */
  readonly planner?: { readonly burst?: PlannerLine; readonly sustained?: PlannerLine };
}

/** Predicted beside measured: the calibration check of the capacity planner's local profile. */
function plannerRows(r: BenchResults): string[] {
  const rows = (["burst", "sustained"] as const).flatMap((name) => {
    const line = r.planner?.[name];
    if (!line) return [];
    const off = (p: number, m: number) => `${p >= m ? "+" : ""}${fmt(((p - m) / m) * 100)} %`;
    const host = line.atHostSpeed;
    const atHost = (figure: "p99" | "deliveryRate") =>
      host ? `${fmt(host[figure])} (${off(host[figure], line.measured[figure])})` : "—";
    return [
      `| ${name}: p99 lateness (ms) | ${fmt(line.measured.p99)} | ${fmt(line.loaded.p99)} (${off(line.loaded.p99, line.measured.p99)}) | ${atHost("p99")} | ${fmt(line.idle.p99)} | ${fmt(line.cpuSpeed, 2)}${line.minCpuSpeed === undefined ? "" : ` (≥ ${fmt(line.minCpuSpeed, 2)})`} |`,
      `| ${name}: delivered/s | ${fmt(line.measured.deliveryRate)} | ${fmt(line.loaded.deliveryRate)} (${off(line.loaded.deliveryRate, line.measured.deliveryRate)}) | ${atHost("deliveryRate")} | ${fmt(line.idle.deliveryRate)} | |`,
      ...threadRow(name, line),
    ];
  });
  if (rows.length === 0) return [];
  return [
    "## Planner prediction (`npm run plan -- --profile local`) beside the measured Punctual runs",
    "",
    "| Figure | Measured | Planner at the run's CPU share | … and the run's host speed | Planner, idle machine | CPU share per core (lowest) |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
    "CPU share = what other work on this shared machine left of each core during the run (machine busy minus the system under",
    "test and the bench, /proc/stat), every 500 ms; the planner runs the local cloud's threads (main, emulators, V8's helpers)",
    "at that share interval by interval. Host speed = per thread, the CPU per task the run measured ÷ what the model charged",
    "at calibration speed (the virtual machine's cores run 5–10 % faster or slower from one half hour to the next); with it",
    "only the CPU per task comes from the run, the p99 and the throughput are still the model's.",
    'See docs/PERFORMANCE.md, "Capacity planner calibration".',
    "",
  ];
}

/**
 * CPU ms per task by thread, measured beside the model's at the run's share (how fast the pipeline runs sets how
 * full its batches are, and so its calls per task).
 */
function threadRow(name: string, line: PlannerLine): string[] {
  const { measured, predicted } = line.cpuMsPerTask ?? {};
  if (!measured || !predicted) return [];
  const three = (t: typeof measured) => `${fmt(t.main, 2)} / ${fmt(t.emulators, 2)} / ${fmt(t.helpers, 2)}`;
  return [
    `| ${name}: CPU ms/task main / emulators / helpers | ${three(measured)} | ${three(predicted)} | ${line.atHostSpeed ? `× ${three(line.atHostSpeed.hostSpeed)}` : "—"} | | |`,
  ];
}

const fmt = (x: number, digits = 0) =>
  Number.isFinite(x)
    ? x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "—";
const ratio = (a: number, b: number) =>
  Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${fmt(a / b, 2)}×` : "—";

function latencyRows(label: string, p: Distribution, b: Distribution): string[] {
  return (["p50", "p90", "p99", "max"] as const).map(
    (q) => `| ${label} lateness ${q} (ms) | ${fmt(p[q])} | ${fmt(b[q])} | ${ratio(p[q], b[q])} |`,
  );
}

function runRows(label: string, p: RunResult, b: RunResult): string[] {
  return [
    ...latencyRows(label, p.lateness, b.lateness),
    `| ${label} delivered/s | ${fmt(p.deliveryRate)} | ${fmt(b.deliveryRate)} | ${ratio(p.deliveryRate, b.deliveryRate)} |`,
    `| ${label} adds/s achieved | ${fmt(p.addRate)} | ${fmt(b.addRate)} | ${ratio(p.addRate, b.addRate)} |`,
    `| ${label} CPU ms per task | ${fmt(p.cpu.systemMsPerTask, 2)} | ${fmt(b.cpu.systemMsPerTask, 2)} | ${ratio(p.cpu.systemMsPerTask, b.cpu.systemMsPerTask)} |`,
    `| ${label} CPU cores busy (avg) | ${fmt(p.cpu.systemCores, 2)} | ${fmt(b.cpu.systemCores, 2)} | ${ratio(p.cpu.systemCores, b.cpu.systemCores)} |`,
    `| ${label} machine load average at start | ${fmt(p.loadAverageAtStart, 2)} | ${fmt(b.loadAverageAtStart, 2)} | |`,
    `| ${label} not received by the end / add errors / duplicates | ${p.undelivered} / ${p.addErrors} / ${p.duplicates} | ${b.undelivered} / ${b.addErrors} / ${b.duplicates} | |`,
  ];
}

export function markdown(r: BenchResults): string {
  return [
    ...intro(r),
    ...comparisonTable(r),
    ...rampSteps(r),
    ...plannerRows(r),
    ...functionSection(r),
    ...settingsSection(r),
  ].join("\n");
}

/** Title, when and where it ran, and what the two systems and the figures are. */
function intro(r: BenchResults): string[] {
  return [
    `# Benchmark results${r.quick ? " (--quick: shrunk workloads, see settings)" : ""}`,
    "",
    `${r.generatedAt} · Node ${r.machine.node} · ${r.machine.cpus} × ${r.machine.cpuModel} · Redis ${r.machine.redis} · BullMQ ${r.machine.bullmq}`,
    "",
    "Punctual = the local cloud (`npm start`'s pipeline: API → DynamoDB (dynalite) + SQS timer queue (fauxqs) → relay → FIFO",
    "queue → deliver → signed HTTP callback to a real receiver). BullMQ = delayed jobs on Redis, a Worker with a no-op",
    "processor. Lateness = receive time − due time. CPU = the system under test (Punctual: its process and the",
    "emulator process; BullMQ: the worker process and redis-server), not the load generator.",
    "",
  ];
}

type Settings = Record<string, Record<string, number>>;

/** Punctual beside BullMQ, one row per figure. */
function comparisonTable(r: BenchResults): string[] {
  const s = r.settings as Settings;
  return [
    "| Figure | Punctual | BullMQ | Punctual / BullMQ |",
    "| --- | ---: | ---: | ---: |",
    ...addRows(r, s),
    ...runRows(`burst ${s.burst?.tasks}/${s.burst?.groups} groups:`, r.burst.punctual, r.burst.bullmq),
    ...runRows(
      `sustained ${s.sustained?.rate}/s × ${(s.sustained?.durationMs ?? 0) / 1000} s:`,
      r.sustained.punctual,
      r.sustained.bullmq,
    ),
    `| ramp: highest rate with p99 ≤ 1 s (tasks/s) | ${fmt(r.ramp.punctual.bestRate)} | ${fmt(r.ramp.bullmq.bestRate)} | ${ratio(r.ramp.punctual.bestRate, r.ramp.bullmq.bestRate)} |`,
    "",
  ];
}

/** Add rates: single adds, then each batch workload the results hold. */
function addRows(r: BenchResults, s: Settings): string[] {
  return [
    `| adds/s via API, ${s.adds?.concurrency ?? 64} in flight | ${fmt(r.adds.punctual.addRate)} | ${fmt(r.adds.bullmq.addRate)} | ${ratio(r.adds.punctual.addRate, r.adds.bullmq.addRate)} |`,
    ...warmUpRow("adds", r.adds),
    `| adds: CPU ms per add | ${fmt(r.adds.punctual.cpu.systemMsPerTask, 2)} | ${fmt(r.adds.bullmq.cpu.systemMsPerTask, 2)} | ${ratio(r.adds.punctual.cpu.systemMsPerTask, r.adds.bullmq.cpu.systemMsPerTask)} |`,
    ...(r.clientAdds
      ? [
          `| adds/s through our client, 64 callers (natural batching, keyed / Queue.add with job ids) | ${fmt(r.clientAdds.punctual.addRate)} | ${fmt(r.clientAdds.bullmq.addRate)} | ${ratio(r.clientAdds.punctual.addRate, r.clientAdds.bullmq.addRate)} |`,
          ...warmUpRow("client adds", r.clientAdds),
        ]
      : []),
    ...(r.batchAdds
      ? [
          `| adds/s in batches of 100 (batch API / addBulk) | ${fmt(r.batchAdds.punctual.addRate)} | ${fmt(r.batchAdds.bullmq.addRate)} | ${ratio(r.batchAdds.punctual.addRate, r.batchAdds.bullmq.addRate)} |`,
          ...warmUpRow("batch adds", r.batchAdds),
          `| batch adds: CPU ms per add | ${fmt(r.batchAdds.punctual.cpu.systemMsPerTask, 2)} | ${fmt(r.batchAdds.bullmq.cpu.systemMsPerTask, 2)} | ${ratio(r.batchAdds.punctual.cpu.systemMsPerTask, r.batchAdds.bullmq.cpu.systemMsPerTask)} |`,
        ]
      : []),
    ...(r.keyedBatchAdds
      ? [
          `| adds/s in batches of 100, every item keyed (our client's default / addBulk with job ids) | ${fmt(r.keyedBatchAdds.punctual.addRate)} | ${fmt(r.keyedBatchAdds.bullmq.addRate)} | ${ratio(r.keyedBatchAdds.punctual.addRate, r.keyedBatchAdds.bullmq.addRate)} |`,
          ...warmUpRow("keyed batch adds", r.keyedBatchAdds),
        ]
      : []),
  ];
}

/** The add rate of the unmeasured warm-up before a measurement, shown so that nothing is hidden. */
function warmUpRow(label: string, r: { punctual: RunResult; bullmq: RunResult }): string[] {
  const [p, b] = [r.punctual.warmUp, r.bullmq.warmUp];
  if (!p || !b) return [];
  return [
    `| ${label}: adds/s in the ${p.durationMs / 1000} s warm-up before it (fresh system, not in the figure above) | ${fmt(p.addRate)} | ${fmt(b.addRate)} | ${ratio(p.addRate, b.addRate)} |`,
  ];
}

function rampSteps(r: BenchResults): string[] {
  return [
    "Ramp steps (rate → p99 lateness, pass/fail):",
    "",
    ...(["punctual", "bullmq"] as const).map(
      (sys) =>
        `- ${sys}: ${r.ramp[sys].steps.map((st) => `${st.rate}/s → ${fmt(st.result.lateness.p99)} ms ${st.passed ? "✓" : "✗"}`).join(", ")}`,
    ),
    "",
    `Burst adds finished ${fmt(r.burst.punctual.addsFinishedBeforeDueMs)} ms (Punctual) and ${fmt(r.burst.bullmq.addsFinishedBeforeDueMs)} ms (BullMQ) before the due second.`,
    "",
  ];
}

/** Bundle size, cold init and warm CPU of each function (absent from results run without them). */
function functionSection(r: BenchResults): string[] {
  if (!r.functions) return [];
  return [
    "## Per function (esbuild bundle as deployed; Node " +
      r.machine.node +
      " here, nodejs22.x arm64 on Lambda)",
    "",
    "| Function | Bundle (KB) | of which AWS SDK (KB) | without the SDK (KB) | Cold init median (ms) | Warm CPU per task (µs), I/O stubbed |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...r.functions.map(
      (f) =>
        `| ${f.name} | ${fmt(f.bundleBytes / 1024, 1)} | ${fmt(f.sdkBytes / 1024, 1)} | ${fmt((f.bundleBytes - f.sdkBytes) / 1024, 1)} | ${fmt(f.initMedianMs, 1)} | ${f.warmCpuUsPerTask === undefined ? "—" : fmt(f.warmCpuUsPerTask, 1)} |`,
    ),
    "",
    "The SDK column is the bytes esbuild took from @aws-sdk, @smithy and @aws-crypto, and from mnemonist and obliterator, which only",
    "the DynamoDB client's endpoint cache brings (tree-shaken, minified): one client costs",
    '~190 KB whatever the function does, so "without the SDK" is the part our code and our chosen libraries decide.',
    "Cold init = time to import the bundle in a fresh `node` process with the function's environment set to dummy values",
    "(module init: what Lambda's Init Duration adds to the runtime's own start). Warm CPU = the handler as deployed (middy,",
    "zod, Powertools, our services) over an in-memory store and fake queues/HTTP: our code's cost per task, without the SDK",
    "(the sweeper: per unfinished task examined in a run over 100 healthy ones).",
    "",
  ];
}

function settingsSection(r: BenchResults): string[] {
  return [
    "![lateness distributions](latest.svg)",
    "",
    "Settings:",
    "",
    "```json",
    JSON.stringify(r.settings, null, 2),
    "```",
    "",
  ];
}

/** Hand-drawn SVG: one panel per workload, cumulative share of tasks against lateness on a log axis. */
export function svg(r: BenchResults): string {
  const panels: { title: string; series: { name: System; values: number[] }[] }[] = [
    {
      title: "burst",
      series: (["punctual", "bullmq"] as const).map((n) => ({ name: n, values: r.burst[n].latenessCdf })),
    },
    {
      title: "sustained",
      series: (["punctual", "bullmq"] as const).map((n) => ({ name: n, values: r.sustained[n].latenessCdf })),
    },
  ];
  const colors: Record<System, string> = { punctual: "#d9480f", bullmq: "#1971c2" };
  const w = 420;
  const h = 260;
  const pad = { l: 50, r: 15, t: 30, b: 40 };
  const allMax = Math.max(10, ...panels.flatMap((p) => p.series.flatMap((s) => s.values)));
  const decades = Math.ceil(Math.log10(allMax));
  const x = (ms: number) => pad.l + (Math.log10(Math.max(1, ms)) / decades) * (w - pad.l - pad.r);
  const y = (q: number) => pad.t + (1 - q) * (h - pad.t - pad.b);
  const parts: string[] = [];
  panels.forEach((panel, i) => {
    const ox = i * w;
    parts.push(`<g transform="translate(${ox},0)">`);
    parts.push(
      `<text x="${w / 2}" y="18" text-anchor="middle" font-weight="bold">${panel.title}: share of tasks received within lateness</text>`,
    );
    for (let d = 0; d <= decades; d++) {
      const gx = x(10 ** d);
      parts.push(`<line x1="${gx}" y1="${pad.t}" x2="${gx}" y2="${h - pad.b}" stroke="#ddd"/>`);
      const label = 10 ** d >= 1000 ? `${10 ** d / 1000} s` : `${10 ** d} ms`;
      parts.push(`<text x="${gx}" y="${h - pad.b + 15}" text-anchor="middle" font-size="10">${label}</text>`);
    }
    for (const q of [0, 0.5, 0.9, 0.99, 1]) {
      parts.push(`<line x1="${pad.l}" y1="${y(q)}" x2="${w - pad.r}" y2="${y(q)}" stroke="#eee"/>`);
      parts.push(
        `<text x="${pad.l - 4}" y="${y(q) + 3}" text-anchor="end" font-size="10">${q * 100}%</text>`,
      );
    }
    panel.series.forEach((series, k) => {
      const n = series.values.length;
      if (n === 0) return;
      const pts = series.values.map((v, j) => `${x(v).toFixed(1)},${y((j + 1) / n).toFixed(1)}`).join(" ");
      parts.push(`<polyline fill="none" stroke="${colors[series.name]}" stroke-width="2" points="${pts}"/>`);
      parts.push(
        `<text x="${pad.l + 8}" y="${pad.t + 14 + k * 14}" font-size="11" fill="${colors[series.name]}">${series.name}</text>`,
      );
    });
    parts.push(
      `<text x="${w / 2}" y="${h - 8}" text-anchor="middle" font-size="11">lateness (log scale)</text>`,
    );
    parts.push("</g>");
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w * panels.length}" height="${h}" font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join("\n")}\n</svg>\n`;
}
