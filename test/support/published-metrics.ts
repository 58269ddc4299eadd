/**
 * Which metrics really get published — by AWS (documented names and dimension sets, ./aws-metrics.ts) or by our
 * own runtime (what its emitters write when run, ./emitted-metrics.ts) — and the synthesized stack whose alarms
 * and dashboard widgets must name only those.
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { addPunctualStack } from "#cdk/lib/app.js";
import type { PunctualStack } from "#cdk/lib/punctual-stack.js";
import { METRICS_NAMESPACE } from "#shared/domain/metrics.js";
import { publishedDimensionSets } from "./aws-metrics.js";
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

/**
 * The named AWS metrics that the service does not document under that dimension set — the set must be one AWS
 * publishes for that very metric (another metric of the namespace's does not count).
 */
export function undocumentedAwsMetrics(named: readonly NamedMetric[]): NamedMetric[] {
  return named
    .filter((m) => m.namespace !== METRICS_NAMESPACE)
    .filter(
      (m) =>
        !publishedDimensionSets(m.namespace, m.name).some((set) => set.join(",") === m.dimensions.join(",")),
    );
}

/**
 * The named Punctual metrics that our runtime does not emit with exactly those dimensions; `emitted` is what the
 * emitters wrote when run (./emitted-metrics.ts).
 */
export function unemittedPunctualMetrics(
  named: readonly NamedMetric[],
  emitted: ReadonlyMap<string, ReadonlySet<string>>,
): NamedMetric[] {
  return named
    .filter((m) => m.namespace === METRICS_NAMESPACE)
    .filter((m) => !emitted.get(m.name)?.has(m.dimensions.join(",")));
}
