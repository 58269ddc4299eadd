/**
 * Every metric an alarm watches is one that really gets published — by AWS (documented names and dimension sets,
 * test/support/aws-metrics.ts) or by our own code (an `addMetric(METRIC.…)` in the runtime sources, with the
 * dimensions that code adds). An alarm on a metric nobody emits never fires.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { METRIC, METRICS_NAMESPACE, TOPIC_DIMENSION } from "#shared/domain/metrics.js";
import { AWS_PUBLISHED_METRICS } from "../support/aws-metrics.js";
import { stackConfig } from "../support/stack-config.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
type Json = any;

interface WatchedMetric {
  readonly alarm: string;
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: readonly string[];
}

const ROOT = path.resolve(import.meta.dirname, "../..");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return full.endsWith(".ts") && !full.endsWith(".test.ts") ? [full] : [];
  });
}

/** Our metrics as the runtime publishes them: name → the dimension sets (Powertools always adds `service`). */
function emittedByOurCode(): Map<string, Set<string>> {
  const emitted = new Map<string, Set<string>>();
  for (const file of [
    ...sourceFiles(path.join(ROOT, "shared")),
    ...sourceFiles(path.join(ROOT, "functions")),
  ]) {
    const text = readFileSync(file, "utf8");
    const dims = text.includes(`addDimension(TOPIC_DIMENSION`) ? [TOPIC_DIMENSION, "service"] : ["service"];
    for (const [, key] of text.matchAll(/addMetric\(\s*METRIC\.(\w+)/g)) {
      const name = METRIC[key as keyof typeof METRIC];
      if (!name) continue;
      const sets = emitted.get(name) ?? new Set<string>();
      sets.add([...dims].sort().join(","));
      emitted.set(name, sets);
    }
  }
  return emitted;
}

function watchedMetrics(env: string): WatchedMetric[] {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const resources: Record<string, Json> = Template.fromStack(addPunctualStack(app, stackConfig(env))).toJSON()
    .Resources;
  return Object.entries(resources)
    .filter(([, r]) => r.Type === "AWS::CloudWatch::Alarm")
    .flatMap(([alarm, r]) => {
      const p = r.Properties;
      const metrics: Json[] = p.Metrics
        ? p.Metrics.filter((m: Json) => m.MetricStat).map((m: Json) => m.MetricStat.Metric)
        : [{ Namespace: p.Namespace, MetricName: p.MetricName, Dimensions: p.Dimensions }];
      return metrics.map((m) => ({
        alarm,
        namespace: m.Namespace,
        name: m.MetricName,
        dimensions: (m.Dimensions ?? []).map((d: Json) => d.Name).sort(),
      }));
    });
}

describe.each(["dev", "prod"] as const)("alarms of the %s stack watch published metrics", (env) => {
  const watched = watchedMetrics(env);

  it("finds alarms on AWS metrics and on our own", () => {
    expect(watched.some((m) => m.namespace === METRICS_NAMESPACE)).toBe(true);
    expect(watched.some((m) => m.namespace.startsWith("AWS/"))).toBe(true);
  });

  it("every AWS metric is one the service documents, under a dimension set it publishes", () => {
    const unpublished = watched
      .filter((m) => m.namespace !== METRICS_NAMESPACE)
      .filter((m) => {
        const service = AWS_PUBLISHED_METRICS[m.namespace];
        return (
          !service?.metrics.includes(m.name) ||
          !service.dimensionSets.some((set) => set.join(",") === m.dimensions.join(","))
        );
      });
    expect(unpublished).toEqual([]);
  });

  it("every Punctual metric is emitted by the runtime, with exactly the dimensions the alarm names", () => {
    const emitted = emittedByOurCode();
    const unpublished = watched
      .filter((m) => m.namespace === METRICS_NAMESPACE)
      .filter((m) => !emitted.get(m.name)?.has(m.dimensions.join(",")));
    expect(unpublished).toEqual([]);
  });
});
