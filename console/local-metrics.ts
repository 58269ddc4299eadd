import type { MetricStore } from "#local/runtime/metric-store.js";
import { METRIC, METRICS_NAMESPACE, serviceName, TOPIC_DIMENSION } from "#shared/domain/metrics.js";
import { type ConsoleMetrics, latenessOf, type MetricsQuery, metricsWindow, ratesOf } from "./schemas.js";

/**
 * The console's metrics from the local cloud's metric store: the same metric names and dimensions (service +
 * Topic) the dashboard and the lateness alarm read on AWS, with exact nearest-rank percentiles over raw values.
 */
export function localMetricsSource(store: MetricStore, environment = "local", now: () => number = Date.now) {
  return async (query: MetricsQuery): Promise<ConsoleMetrics> => {
    const { fromMs, toMs } = metricsWindow(now(), query.minutes);
    const dimensions = { service: serviceName(environment), [TOPIC_DIMENSION]: query.topic };
    const read = (name: string) => store.samples(METRICS_NAMESPACE, name, dimensions, fromMs, toMs);
    const lateness = read(METRIC.lateness);
    const delivered = read(METRIC.delivered);
    const failed = read(METRIC.deadLettered);
    const sum = (samples: readonly { v: number }[]) => samples.reduce((total, s) => total + s.v, 0);
    const series = Array.from({ length: query.minutes }, (_, i) => {
      const start = fromMs + i * 60_000;
      const inMinute = (s: { t: number }) => s.t >= start && s.t < start + 60_000;
      return {
        t: start / 1000,
        ...latenessOf(lateness.filter(inMinute).map((s) => s.v)),
        delivered: sum(delivered.filter(inMinute)),
        failed: sum(failed.filter(inMinute)),
      };
    });
    const totals = { added: sum(read(METRIC.accepted)), delivered: sum(delivered), failed: sum(failed) };
    return {
      topic: query.topic,
      source: "local",
      from: new Date(fromMs).toISOString(),
      to: new Date(toMs).toISOString(),
      lateness: latenessOf(lateness.map((s) => s.v)),
      series,
      ...totals,
      attempts_failed: sum(read(METRIC.attemptFailed)),
      rates: ratesOf(totals, query.minutes),
    };
  };
}
