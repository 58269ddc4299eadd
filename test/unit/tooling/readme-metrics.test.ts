import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { METRIC } from "../../../shared/domain/metrics.js";
import { tableAfter } from "./readme.js";

/**
 * docs/OPERATIONS.md's metrics table is what an operator builds alarms and queries from: it lists every metric the functions
 * emit and none they do not. A metric is emitted where runtime code passes `METRIC.<key>` to `addMetric`.
 */
const root = new URL("../../../", import.meta.url);

function metricsTable(): string[] {
  const cells = tableAfter("**Metrics.** Every metric the functions emit").map(([metrics]) => metrics ?? "");
  return cells.flatMap((cell) => [...cell.matchAll(/`(\w+)`/g)].map((m) => m[1] as string));
}

function runtimeSources(dir: string): string[] {
  return readdirSync(new URL(dir, root), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts"))
    .map((entry) => readFileSync(path.join(entry.parentPath, entry.name), "utf8"));
}

describe("the metrics table (docs/OPERATIONS.md)", () => {
  it("lists exactly the metric names of shared/domain/metrics.ts", () => {
    expect(metricsTable().sort()).toEqual(Object.values(METRIC).sort());
  });

  it("every one of them is emitted by runtime code (functions/, shared/)", () => {
    const sources = [...runtimeSources("functions/"), ...runtimeSources("shared/")].join("\n");
    const emitted = new Set([...sources.matchAll(/addMetric\(\s*METRIC\.(\w+)/g)].map((m) => m[1]));
    expect(Object.keys(METRIC).filter((key) => !emitted.has(key))).toEqual([]);
    // …and nothing is emitted under a name of its own, which the table could not know.
    expect(sources.match(/addMetric\(\s*["'`]/)).toBeNull();
  });
});
