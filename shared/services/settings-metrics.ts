import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { METRIC } from "#shared/domain/metrics.js";

/**
 * `TopicSettingsRefused` for one runtime settings document the validator refused, under the service dimension
 * alone: an EMF log line, no AWS call. The validator's errors alarm subtracts it per period
 * (cdk/lib/constructs/runtime-settings.ts), and Lambda stamps Errors with the invocation's time, not the error's: so
 * the refusal carries `invokedAtMs`, or one crossing a period's boundary paged once and hid a crash in the next.
 */
export function publishSettingsRefused(metrics: Metrics, invokedAtMs: number): void {
  metrics.setTimestamp(invokedAtMs);
  metrics.addMetric(METRIC.settingsRefused, MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
}
