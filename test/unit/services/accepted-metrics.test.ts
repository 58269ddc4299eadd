import { Metrics } from "@aws-lambda-powertools/metrics";
import { afterEach, describe, expect, it, vi } from "vitest";
import { METRIC, TOPIC_DIMENSION } from "#shared/domain/metrics.js";
import { publishAccepted, publishBatchAccepted } from "#shared/services/accepted-metrics.js";
import { captureEmf } from "../../support/emf-lines.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("accepted metrics: one Metrics instance for every request of a function", () => {
  it("each publish carries only its own topic and count, whatever was published before", () => {
    // Prepare
    const lines = captureEmf();
    const metrics = new Metrics({ namespace: "Punctual", serviceName: "punctual-test" });

    // Act
    publishAccepted(metrics, "alpha");
    publishAccepted(metrics, "beta", 3);
    publishAccepted(metrics, "alpha");

    // Assess
    const emf = lines();
    expect(emf.map((line) => [line[TOPIC_DIMENSION], line[METRIC.accepted]])).toEqual([
      ["alpha", 1],
      ["beta", 3],
      ["alpha", 1],
    ]);
    expect(emf.every((line) => line.service === "punctual-test")).toBe(true);
  });

  it("a batch publishes once per topic with its count of 201 items, on the same instance", () => {
    // Prepare
    const lines = captureEmf();
    const metrics = new Metrics({ namespace: "Punctual", serviceName: "punctual-test" });
    const results = [
      { status: 201, topic: "alpha" },
      { status: 200, topic: "alpha" },
      { status: 201, topic: "beta" },
      { status: 201, topic: "alpha" },
      { status: 400 },
    ];

    // Act
    publishBatchAccepted(metrics, results);
    publishAccepted(metrics, "gamma");

    // Assess
    expect(lines().map((line) => [line[TOPIC_DIMENSION], line[METRIC.accepted]])).toEqual([
      ["alpha", 2],
      ["beta", 1],
      ["gamma", 1],
    ]);
  });
});
