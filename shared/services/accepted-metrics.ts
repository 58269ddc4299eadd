import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { METRIC, TOPIC_DIMENSION } from "#shared/domain/metrics.js";

/**
 * `TasksAccepted` for one newly accepted task, per topic with the same dimensions as the deliver metrics
 * (`Topic` + the `service` Powertools adds), so the dashboard can draw adds beside deliveries. An EMF log line:
 * no AWS call on the request path. A fresh Metrics instance per call (see functionMetricsFactory): concurrent
 * requests never share dimensions. An idempotent repeat (200) is not a new task and is not counted.
 */
export function publishAccepted(createMetrics: () => Metrics, topic: string, count = 1): void {
  const metrics = createMetrics();
  metrics.addDimension(TOPIC_DIMENSION, topic);
  metrics.addMetric(METRIC.accepted, MetricUnit.Count, count);
  metrics.publishStoredMetrics();
}

/** A batch's new tasks (201 items; a 200 found an earlier task), one `TasksAccepted` value per topic. */
export function publishBatchAccepted(
  createMetrics: () => Metrics,
  results: readonly { readonly status: number; readonly topic?: string }[],
): void {
  const perTopic = new Map<string, number>();
  for (const r of results)
    if (r.status === 201 && r.topic) perTopic.set(r.topic, (perTopic.get(r.topic) ?? 0) + 1);
  for (const [topic, count] of perTopic) publishAccepted(createMetrics, topic, count);
}
