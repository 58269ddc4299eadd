import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { afterEach, describe, expect, it } from "vitest";
import { capturingEmf } from "../../../local/runtime/emf-capture.js";

const saved = process.env.POWERTOOLS_METRICS_DISABLED;
afterEach(() => {
  if (saved === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
  else process.env.POWERTOOLS_METRICS_DISABLED = saved;
});

/** A handler that publishes one metric after an await, as the functions do. */
async function handler(topic: string): Promise<string> {
  await new Promise((resolve) => setImmediate(resolve));
  const metrics = new Metrics({ namespace: "Punctual", serviceName: "punctual-local" });
  metrics.addDimension("Topic", topic);
  metrics.addMetric("DeliveryLateness", MetricUnit.Milliseconds, 42);
  metrics.publishStoredMetrics();
  return topic;
}

describe("capturingEmf", () => {
  it("gives each handler's EMF lines to its own sink, across awaits, and keeps them off the terminal", async () => {
    // Prepare
    process.env.POWERTOOLS_METRICS_DISABLED = "false";
    const a: unknown[] = [];
    const b: unknown[] = [];
    const printed: string[] = [];
    // The tap wraps whatever stdout's write is when first installed: a recorder stands in for the terminal.
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string) => {
      printed.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    let results: string[];
    try {
      const first = capturingEmf({ record: (d) => a.push(d), print: false }, handler);
      const second = capturingEmf({ record: (d) => b.push(d), print: false }, handler);

      // Act
      results = await Promise.all([first("a"), second("b")]);
      process.stdout.write("outside any handler\n");
    } finally {
      process.stdout.write = write;
    }

    // Assess
    expect(a).toEqual([expect.objectContaining({ Topic: "a", DeliveryLateness: 42 })]);
    expect(b).toEqual([expect.objectContaining({ Topic: "b", DeliveryLateness: 42 })]);
    expect(results).toEqual(["a", "b"]);
    expect(printed).toEqual(["outside any handler\n"]);
  });
});
