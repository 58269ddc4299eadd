import { describe, expect, it } from "vitest";
import { localMetricsSource } from "../../../console/local-metrics.js";
import { consoleMetricsSchema, latenessOf, nearestRank } from "../../../console/schemas.js";
import { MetricStore } from "../../../local/runtime/metric-store.js";

/** An EMF document as Powertools Metrics writes it (namespace, service + Topic dimensions, array values). */
function emf(
  t: number,
  topic: string,
  metrics: Record<string, number | number[]>,
  service = "punctual-local",
) {
  return {
    _aws: {
      Timestamp: t,
      CloudWatchMetrics: [
        {
          Namespace: "Punctual",
          Dimensions: [["service", "Topic"]],
          Metrics: Object.keys(metrics).map((Name) => ({ Name, Unit: "Count" })),
        },
      ],
    },
    service,
    Topic: topic,
    ...metrics,
  };
}

describe("nearestRank", () => {
  it("takes the value at rank ceil(p/100 × n) of the sorted values", () => {
    const values = Array.from({ length: 10 }, (_, i) => (i + 1) * 10);
    expect([50, 90, 99, 100].map((p) => nearestRank(values, p))).toEqual([50, 90, 100, 100]);
    expect(nearestRank([7], 1)).toBe(7);
    expect(nearestRank([], 50)).toBeNull();
  });

  it("latenessOf sorts first", () => {
    expect(latenessOf([30, 10, 20])).toEqual({ count: 3, p50: 20, p90: 30, p99: 30 });
  });
});

describe("the local metrics source", () => {
  it("reads the topic's EMF values in the window into exact percentiles, per-minute series and counts", async () => {
    // Prepare: now is 30 s into a minute; three minutes of window.
    const now = Date.UTC(2026, 0, 1, 12, 0, 30);
    const store = new MetricStore(() => now);
    store.record(emf(now - 10_000, "orders", { DeliveryLateness: [5, 15, 25], TasksDelivered: 3 }));
    store.record(
      emf(now - 70_000, "orders", { DeliveryLateness: 100, TasksDelivered: 1, TasksDeadLettered: 1 }),
    );
    store.record(emf(now - 20_000, "orders", { TasksAccepted: 1 }));
    store.record(emf(now - 10_000, "other", { DeliveryLateness: 9999, TasksDelivered: 1 }));
    store.record(emf(now - 10_000, "orders", { DeliveryLateness: 7777 }, "punctual-prod"));
    store.record(emf(now - 4 * 60_000, "orders", { DeliveryLateness: 5555 }));

    // Act
    const answer = await localMetricsSource(store, "local", () => now)({ topic: "orders", minutes: 3 });

    // Assess
    expect(consoleMetricsSchema.parse(answer)).toEqual(answer);
    expect(answer.lateness).toEqual({ count: 4, p50: 15, p90: 100, p99: 100 });
    expect(answer.series.map((p) => [p.count, p.delivered, p.failed])).toEqual([
      [0, 0, 0],
      [1, 1, 1],
      [3, 3, 0],
    ]);
    expect(answer.series[2]).toMatchObject({ t: Date.UTC(2026, 0, 1, 12, 0) / 1000, p50: 15, p99: 25 });
    expect(answer).toMatchObject({ added: 1, delivered: 4, failed: 1 });
    expect(answer.rates.delivered_per_minute).toBeCloseTo(4 / 3);
  });

  it("keeps one hour: older values are dropped as new ones arrive", () => {
    let now = 0;
    const store = new MetricStore(() => now);
    store.record(emf(0, "t", { TasksDelivered: 1 }));
    now = 61 * 60_000;
    store.record(emf(now, "t", { TasksDelivered: 2 }));
    const all = store.samples(
      "Punctual",
      "TasksDelivered",
      { service: "punctual-local", Topic: "t" },
      0,
      now + 1,
    );
    expect(all).toEqual([{ t: now, v: 2 }]);
  });
});
