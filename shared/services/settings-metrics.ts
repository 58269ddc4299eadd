import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { METRIC } from "#shared/domain/metrics.js";

/**
 * `TopicSettingsRefused` for one runtime settings document the validator refused, under the service dimension
 * alone: an EMF log line, no AWS call. The validator's errors alarm subtracts it (cdk/lib/constructs/runtime-settings.ts).
 */
export function publishSettingsRefused(metrics: Metrics): void {
  metrics.addMetric(METRIC.settingsRefused, MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
}
