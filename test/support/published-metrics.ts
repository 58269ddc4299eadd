/**
 * Which metrics really get published — by AWS (documented names and dimension sets, ./aws-metrics.ts) or by our
 * own runtime (an `addMetric(METRIC.…)` in shared/ or functions/, with the dimensions that code adds) — and the
 * synthesized stack whose alarms and dashboard widgets must name only those.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { addPunctualStack } from "#cdk/lib/app.js";
import type { PunctualStack } from "#cdk/lib/punctual-stack.js";
import { METRIC, METRICS_NAMESPACE, TOPIC_DIMENSION } from "#shared/domain/metrics.js";
import { AWS_PUBLISHED_METRICS } from "./aws-metrics.js";
import { stackConfig } from "./stack-config.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
export type Json = any;

/** A metric named by an alarm or a widget (`source` says which); dimension names sorted. */
export interface NamedMetric {
  readonly source: string;
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
export function emittedByOurCode(): Map<string, Set<string>> {
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

/** An environment's stack (no bundling) and its synthesized resources and outputs. */
export function synthesized(env: string): {
  stack: PunctualStack;
  resources: Record<string, Json>;
  outputs: Record<string, Json>;
} {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = addPunctualStack(app, stackConfig(env));
  const template = Template.fromStack(stack).toJSON();
  return { stack, resources: template.Resources, outputs: template.Outputs };
}

export function synthesizedResources(env: string): Record<string, Json> {
  return synthesized(env).resources;
}

/** The named AWS metrics that the service does not document, under that dimension set. */
export function undocumentedAwsMetrics(named: readonly NamedMetric[]): NamedMetric[] {
  return named
    .filter((m) => m.namespace !== METRICS_NAMESPACE)
    .filter((m) => {
      const service = AWS_PUBLISHED_METRICS[m.namespace];
      return (
        !service?.metrics.includes(m.name) ||
        !service.dimensionSets.some((set) => set.join(",") === m.dimensions.join(","))
      );
    });
}

/** The named Punctual metrics that our runtime does not emit with exactly those dimensions. */
export function unemittedPunctualMetrics(named: readonly NamedMetric[]): NamedMetric[] {
  const emitted = emittedByOurCode();
  return named
    .filter((m) => m.namespace === METRICS_NAMESPACE)
    .filter((m) => !emitted.get(m.name)?.has(m.dimensions.join(",")));
}
