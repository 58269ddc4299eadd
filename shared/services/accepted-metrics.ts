import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { METRIC, TOPIC_DIMENSION } from "#shared/domain/metrics.js";

/**
 * `TasksAccepted` for one newly accepted task, per topic with the same dimensions as the deliver metrics
 * (`Topic` + the `service` Powertools adds), so the dashboard can draw adds beside deliveries. An EMF log line:
 * no AWS call on the request path. An idempotent repeat (200) is not a new task and is not counted.
 *
 * One Metrics instance serves every request of the function (built at cold start): the dimension, the value
 * and the publish (which clears both) run in one synchronous step, so requests running side by side in one
 * process (the local cloud) never see each other's dimension. A new instance per request cost the single add
 * ~5 % of its CPU (each builds its own `Console` and reads the environment again).
 */
export function publishAccepted(metrics: Metrics, topic: string, count = 1): void {
  metrics.addDimension(TOPIC_DIMENSION, topic);
  metrics.addMetric(METRIC.accepted, MetricUnit.Count, count);
  metrics.publishStoredMetrics();
}

/** A batch's new tasks (201 items; a 200 found an earlier task), one `TasksAccepted` value per topic. */
export function publishBatchAccepted(
  metrics: Metrics,
  results: readonly { readonly status: number; readonly topic?: string }[],
): void {
  const perTopic = new Map<string, number>();
  for (const r of results)
    if (r.status === 201 && r.topic) perTopic.set(r.topic, (perTopic.get(r.topic) ?? 0) + 1);
  for (const [topic, count] of perTopic) publishAccepted(metrics, topic, count);
}
