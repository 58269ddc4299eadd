/**
 * Which of our metrics the runtime really emits, and with which dimensions: every emitter is run (the deliver
 * sink's every method, the add routes' `publishAccepted`, the settings validator's `publishSettingsRefused`, the schedule routes' skip counter, the sweeper's and the
 * schedule materializer's handlers)
 * with Powertools writing its EMF lines to a captured stdout, and the lines are parsed as CloudWatch would read
 * them (namespace, metric names, dimension sets). An alarm or widget names a metric that is in this map, or no
 * data ever reaches it. A new emitter belongs here.
 */
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { vi } from "vitest";
import { scheduledEvent } from "#local/runtime/scheduled-rule.js";
import { METRICS_NAMESPACE } from "#shared/domain/metrics.js";
import { publishAccepted } from "#shared/services/accepted-metrics.js";
import { PowertoolsDeliveryMetrics } from "#shared/services/deliver/metrics.js";
import { scheduleLogging } from "#shared/services/schedules/wiring.js";
import { publishSettingsRefused } from "#shared/services/settings-metrics.js";
import { stubScheduledFunctionEnv } from "./function-env.js";
import { memoryLogger } from "./logger.js";
import { simulate } from "./pipeline-sim.js";

const SERVICE = "punctual-test";
const context = {
  functionName: "emitter",
  awsRequestId: "r1",
  invokedFunctionArn: "arn:aws:lambda:eu-west-1:000000000000:function:emitter",
  memoryLimitInMB: "256",
  getRemainingTimeInMillis: () => 50_000,
} as unknown as Context;

const metrics = () => new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE });

async function runEveryEmitter(): Promise<void> {
  const deliver = new PowertoolsDeliveryMetrics(metrics);
  deliver.delivered("t", 1, 2);
  deliver.attemptFailed("t", 3);
  deliver.deadLettered("t");
  deliver.circuitOpened("t");
  deliver.circuitClosed("t");
  deliver.flush();
  publishAccepted(metrics(), "t");
  publishSettingsRefused(metrics(), Date.now());
  scheduleLogging(memoryLogger(), metrics()).onSkipped?.("s", 0, new Error("refused"));
  const sim = simulate();
  // The stack's sweep routes: each topic's queues, stall window and deliver mapping.
  const sweep = Object.fromEntries(
    Object.entries(sim.sweeperDeps.topics).map(([name, topic]) => [
      name,
      { ...topic, mappingUuid: `00000000-0000-4000-8000-${name.padEnd(12, "0").slice(0, 12)}` },
    ]),
  );
  vi.stubEnv("PUNCTUAL_TOPOLOGY", JSON.stringify({ sweep }));
  const { createSweeperHandler } = await import("#functions/sweeper.js");
  await createSweeperHandler(sim.sweeperDeps, undefined, metrics())(scheduledEvent("arn:rule/s"), context);
  const { createMaterializerHandler } = await import("#functions/schedule-materializer.js");
  const nothingDue = {
    config: sim.config,
    now: () => sim.clock.now,
    store: { listSchedulesDue: async () => [] },
    logger: memoryLogger(),
  } as unknown as Parameters<typeof createMaterializerHandler>[0];
  await createMaterializerHandler(nothingDue, undefined, metrics())(scheduledEvent("arn:rule/m"), context);
}

/** One EMF directive (`_aws.CloudWatchMetrics[]`) of our namespace, as an emitter wrote it. */
export interface EmfDirective {
  readonly Namespace: string;
  readonly Dimensions: string[][];
  readonly Metrics: { readonly Name: string; readonly Unit?: string; readonly StorageResolution?: number }[];
}

/** Metric name → its dimension sets (names sorted, comma-joined), in our namespace, as the emitters wrote them. */
export async function emittedWhenRun(): Promise<Map<string, Set<string>>> {
  const emitted = new Map<string, Set<string>>();
  for (const directive of await emfDirectivesWhenRun()) {
    for (const metric of directive.Metrics)
      for (const dims of directive.Dimensions) {
        const sets = emitted.get(metric.Name) ?? new Set<string>();
        sets.add([...dims].sort().join(","));
        emitted.set(metric.Name, sets);
      }
  }
  return emitted;
}

/** Every EMF directive in our namespace that the emitters wrote when run. */
export async function emfDirectivesWhenRun(): Promise<EmfDirective[]> {
  const lines: string[] = [];
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    lines.push(String(chunk));
    return true;
  });
  stubScheduledFunctionEnv();
  try {
    await runEveryEmitter();
  } finally {
    stdout.mockRestore();
    vi.unstubAllEnvs();
  }
  return lines
    .flatMap((l) => l.split("\n"))
    .filter((l) => l.includes('"CloudWatchMetrics"'))
    .flatMap((line) => JSON.parse(line)._aws.CloudWatchMetrics as EmfDirective[])
    .filter((directive) => directive.Namespace === METRICS_NAMESPACE);
}
