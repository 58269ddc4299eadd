import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { METRIC, TOPIC_DIMENSION } from "#shared/domain/metrics.js";
import type { DeliveryMetricsSink } from "./types.js";

/**
 * Delivery metrics through Powertools (EMF), one metric set per topic with the `Topic` dimension (plus the
 * `service` dimension Powertools adds). Values are buffered during a batch and published by `flush` (which the
 * batch runs in a `finally`), each topic through a Metrics instance of its own: no dimension or metric is shared
 * between topics or between invocations running side by side, and an invocation with nothing to report writes
 * nothing (no "no metrics" warning on every quiet batch).
 */
export class PowertoolsDeliveryMetrics implements DeliveryMetricsSink {
  readonly #byTopic = new Map<
    string,
    {
      lateness: number[];
      latency: number[];
      delivered: number;
      deadLettered: number;
      attemptFailed: number;
      circuitOpened: number;
      circuitClosed: number;
    }
  >();

  constructor(private readonly createMetrics: () => Metrics) {}

  delivered(topic: string, latenessMs: number | undefined, callbackLatencyMs: number): void {
    const t = this.#topic(topic);
    t.delivered++;
    if (latenessMs !== undefined) t.lateness.push(latenessMs);
    t.latency.push(callbackLatencyMs);
  }

  attemptFailed(topic: string, callbackLatencyMs: number | undefined): void {
    const t = this.#topic(topic);
    t.attemptFailed++;
    if (callbackLatencyMs !== undefined) t.latency.push(callbackLatencyMs);
  }

  deadLettered(topic: string): void {
    this.#topic(topic).deadLettered++;
  }

  /** Per topic, not per host: a host dimension would make one CloudWatch metric per receiver (cost). */
  circuitOpened(topic: string): void {
    this.#topic(topic).circuitOpened++;
  }

  circuitClosed(topic: string): void {
    this.#topic(topic).circuitClosed++;
  }

  flush(): void {
    const topics = [...this.#byTopic.entries()];
    this.#byTopic.clear();
    for (const [topic, t] of topics) {
      const metrics = this.createMetrics();
      metrics.addDimension(TOPIC_DIMENSION, topic);
      for (const v of t.lateness) metrics.addMetric(METRIC.lateness, MetricUnit.Milliseconds, v);
      for (const v of t.latency) metrics.addMetric(METRIC.callbackLatency, MetricUnit.Milliseconds, v);
      if (t.delivered) metrics.addMetric(METRIC.delivered, MetricUnit.Count, t.delivered);
      if (t.attemptFailed) metrics.addMetric(METRIC.attemptFailed, MetricUnit.Count, t.attemptFailed);
      if (t.deadLettered) metrics.addMetric(METRIC.deadLettered, MetricUnit.Count, t.deadLettered);
      if (t.circuitOpened) metrics.addMetric(METRIC.circuitOpened, MetricUnit.Count, t.circuitOpened);
      if (t.circuitClosed) metrics.addMetric(METRIC.circuitClosed, MetricUnit.Count, t.circuitClosed);
      metrics.publishStoredMetrics();
    }
  }

  #topic(topic: string) {
    let t = this.#byTopic.get(topic);
    if (!t) {
      t = {
        lateness: [],
        latency: [],
        delivered: 0,
        deadLettered: 0,
        attemptFailed: 0,
        circuitOpened: 0,
        circuitClosed: 0,
      };
      this.#byTopic.set(topic, t);
    }
    return t;
  }
}
