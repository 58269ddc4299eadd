import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { ScheduledEvent } from "aws-lambda";
import { armingDepsWith } from "#shared/adapters/arming-wiring.js";
import { DynamoMaterializerStore } from "#shared/adapters/dynamo-task-store.js";
import {
  type TopicSettingsSource,
  topicSettingsFromEnvironment,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { METRIC } from "#shared/domain/metrics.js";
import {
  createFunctionLogger,
  functionMetricsFactory,
  loggerContext,
} from "#shared/runtime/observability.js";
import {
  type MaterializerRunDeps,
  type MaterializerRunSummary,
  runMaterializer,
} from "#shared/services/schedules/run.js";
import { scheduleLogging } from "#shared/services/schedules/wiring.js";

/**
 * EventBridge rule (every minute) → schedule materializer (shared/services/schedules/run.ts): occurrences of
 * active schedules within the horizon become tasks. Module scope runs once per cold start.
 */
// The narrowest store it calls (the schedule layer and the schedule index), not the whole DynamoTaskStore.
const arming = armingDepsWith(DynamoMaterializerStore);
const logger = createFunctionLogger(arming.config);
const metrics = functionMetricsFactory(arming.config, logger)();

export function createMaterializerHandler(
  deps: Omit<MaterializerRunDeps, "remainingMs"> & { readonly settings?: TopicSettingsSource },
  log: Logger = logger,
  emf: Metrics = metrics,
) {
  return middy<ScheduledEvent, MaterializerRunSummary>()
    .use(loggerContext(log))
    .use(logMetrics(emf))
    .handler(async (_event, context) => {
      // Occurrences are added with the topics' current settings (topic settings without a deploy).
      const summary = await runMaterializer({
        ...(await withCurrentSettings(deps)),
        remainingMs: () => context.getRemainingTimeInMillis(),
      });
      // Zeros included: a flat line is a materializer that ran and had nothing to do.
      emf.addMetric(METRIC.occurrencesMaterialized, MetricUnit.Count, summary.occurrences);
      emf.addMetric(METRIC.occurrencesSkipped, MetricUnit.Count, summary.skipped);
      emf.addMetric(METRIC.materializeFailures, MetricUnit.Count, summary.failures);
      emf.addMetric(METRIC.materializerLag, MetricUnit.Seconds, summary.lagSeconds);
      return summary;
    });
}

export const handler = createMaterializerHandler({
  ...arming,
  // Its skips are counted by the run summary (ScheduleOccurrencesSkipped above), not once more here.
  ...scheduleLogging(logger, undefined),
  settings: topicSettingsFromEnvironment(arming.config, logger),
});
