import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { METRIC, TOPIC_DIMENSION } from "#shared/domain/metrics.js";

/**
 * `TasksAccepted` for one newly accepted task, per topic with the same dimensions as the deliver metrics
 * (`Topic` + the `service` Powertools adds), so the dashboard can draw adds beside deliveries. An EMF log line:
 * no AWS call on the request path. A fresh Metrics instance per call (see functionMetricsFactory): concurrent
 * requests never share dimensions. An idempotent repeat (200) is not a new task and is not counted.
 */
export function publishAccepted(createMetrics: () => Metrics, topic: string): void {
  const metrics = createMetrics();
  metrics.addDimension(TOPIC_DIMENSION, topic);
  metrics.addMetric(METRIC.accepted, MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
}
