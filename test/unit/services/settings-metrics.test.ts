import { Metrics } from "@aws-lambda-powertools/metrics";
import { afterEach, describe, expect, it, vi } from "vitest";
import { METRIC } from "#shared/domain/metrics.js";
import { publishSettingsRefused } from "#shared/services/settings-metrics.js";
import { captureEmf } from "../../support/emf-lines.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("TopicSettingsRefused: stamped when the validator was invoked", () => {
  // Lambda stamps Errors with the invocation's time, not the error's; the validator's errors alarm subtracts the
  // refusals per 5-minute period. Stamped at publish instead, a refusal whose invocation began before a period's
  // boundary and ended after it left an error without its refusal in one period (a page for no crash), and a
  // refusal without an error in the next (hiding a real crash there).
  it("carries the invocation's start as its timestamp, not the time it was published", () => {
    // Prepare
    const lines = captureEmf();
    const metrics = new Metrics({ namespace: "Punctual", serviceName: "punctual-test" });
    const invokedAtMs = Date.UTC(2026, 11, 2, 10, 4, 59, 900);

    // Act
    publishSettingsRefused(metrics, invokedAtMs);
    publishSettingsRefused(metrics, invokedAtMs + 1_000);

    // Assess
    const emf = lines();
    expect(
      emf.map((line) => [(line._aws as { Timestamp: number }).Timestamp, line[METRIC.settingsRefused]]),
    ).toEqual([
      [invokedAtMs, 1],
      [invokedAtMs + 1_000, 1],
    ]);
  });
});
