import { describe, expect, it } from "vitest";
import {
  ConfigError,
  DEFAULT_EVENT_SOURCES,
  type EnvironmentConfigInput,
  parseConfig,
  relayGroupConcurrency,
} from "#shared/config/index.js";

/** The problems parseConfig reports for an environment with these event sources ([] when it accepts them). */
function problemsOf(eventSources: unknown, topics: EnvironmentConfigInput["topics"] = { a: {} }): string[] {
  try {
    parseConfig({ name: "t", topics, eventSources } as EnvironmentConfigInput);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [...error.problems];
  }
}

const relay = { batchSize: 100, maxBatchingWindowSeconds: 1 };
const deliver = { batchSize: 10 };

describe("eventSources configuration", () => {
  it("defaults to today's latency-first mappings: batches of 10, no window, no early wake", () => {
    // Act
    const config = parseConfig({ name: "t", topics: { a: {} } });

    // Assess
    expect(config.eventSources).toEqual({
      relay: { batchSize: 10, maxBatchingWindowSeconds: 0 },
      deliver: { batchSize: 10 },
      earlyWakeSeconds: 0,
    });
  });

  it("accepts provisioned pollers on both mappings with a window covered by the early wake", () => {
    expect(
      problemsOf({
        relay: { ...relay, provisionedPollers: { min: 20, max: 200 } },
        deliver: { ...deliver, provisionedPollers: { min: 2, max: 2000 } },
        earlyWakeSeconds: 2,
      }),
    ).toEqual([]);
  });

  it.each([
    [
      "provisioned pollers with maxConcurrency (relay)",
      {
        relay: { ...relay, provisionedPollers: { min: 2, max: 10 }, maxConcurrency: 5 },
        deliver,
        earlyWakeSeconds: 1,
      },
      'field "eventSources.relay.maxConcurrency": provisionedPollers and maxConcurrency cannot be combined',
    ],
    [
      "provisioned pollers with maxConcurrency (deliver)",
      {
        relay,
        deliver: { ...deliver, provisionedPollers: { min: 2, max: 10 }, maxConcurrency: 5 },
        earlyWakeSeconds: 1,
      },
      'field "eventSources.deliver.maxConcurrency": provisionedPollers and maxConcurrency cannot be combined',
    ],
    [
      "a batching window on the FIFO deliver mapping",
      { relay, deliver: { ...deliver, maxBatchingWindowSeconds: 1 }, earlyWakeSeconds: 1 },
      'field "eventSources.deliver.maxBatchingWindowSeconds": FIFO topic queues take no batching window',
    ],
    [
      "a FIFO batch above 10",
      { relay, deliver: { batchSize: 11 }, earlyWakeSeconds: 1 },
      'field "eventSources.deliver.batchSize": Too big',
    ],
    [
      "a relay batch above 10 without a window",
      { relay: { batchSize: 11, maxBatchingWindowSeconds: 0 }, deliver, earlyWakeSeconds: 0 },
      'field "eventSources.relay.maxBatchingWindowSeconds": a batch above 10 needs maxBatchingWindowSeconds of at least 1',
    ],
    [
      "a relay batch above 10,000",
      { relay: { ...relay, batchSize: 10_001 }, deliver, earlyWakeSeconds: 1 },
      'field "eventSources.relay.batchSize": Too big',
    ],
    [
      "a window above 300 s",
      { relay: { ...relay, maxBatchingWindowSeconds: 301 }, deliver, earlyWakeSeconds: 10 },
      'field "eventSources.relay.maxBatchingWindowSeconds": Too big',
    ],
    [
      "one minimum poller",
      { relay: { ...relay, provisionedPollers: { min: 1, max: 10 } }, deliver, earlyWakeSeconds: 1 },
      'field "eventSources.relay.provisionedPollers.min": Too small',
    ],
    [
      "more than 2,000 maximum pollers",
      { relay, deliver: { ...deliver, provisionedPollers: { min: 2, max: 2001 } }, earlyWakeSeconds: 1 },
      'field "eventSources.deliver.provisionedPollers.max": Too big',
    ],
    [
      "maximum pollers below the minimum",
      { relay, deliver: { ...deliver, provisionedPollers: { min: 20, max: 10 } }, earlyWakeSeconds: 1 },
      'field "eventSources.deliver.provisionedPollers.max": max must be at least min',
    ],
    [
      "maxConcurrency 1",
      { relay: { ...relay, maxConcurrency: 1 }, deliver, earlyWakeSeconds: 1 },
      'field "eventSources.relay.maxConcurrency": Too small',
    ],
    [
      "an early wake shorter than the window",
      { relay: { ...relay, maxBatchingWindowSeconds: 3 }, deliver, earlyWakeSeconds: 2 },
      'field "eventSources.earlyWakeSeconds": must be at least relay.maxBatchingWindowSeconds',
    ],
    [
      "an early wake the relay's timeout cannot hold",
      { relay, deliver, earlyWakeSeconds: 11 },
      'field "eventSources.earlyWakeSeconds": Too big',
    ],
  ])("refuses %s with a message naming the field and the reason", (_name, eventSources, message) => {
    // Act
    const problems = problemsOf(eventSources);

    // Assess
    expect(problems).toContainEqual(expect.stringContaining(message));
    for (const problem of problems) expect(problem).toMatch(/^field "eventSources\./);
  });

  it("refuses a topic's own maxConcurrency while the deliver mappings run in provisioned mode", () => {
    // Act
    const problems = problemsOf(
      { relay, deliver: { ...deliver, provisionedPollers: { min: 2, max: 10 } }, earlyWakeSeconds: 1 },
      { a: {}, b: { maxConcurrency: 50 } },
    );

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(
        /^topic "b", field "maxConcurrency": cannot apply while eventSources\.deliver\.provisionedPollers is set/,
      ),
    ]);
  });
});

describe("eventSources configuration, system defaults", () => {
  it("refuses a system maxConcurrency while the deliver mappings run in provisioned mode (it would apply to no topic)", () => {
    // Act
    let problems: readonly string[] = [];
    try {
      parseConfig({
        name: "t",
        system: { maxConcurrency: 50 },
        topics: { a: {}, b: {} },
        eventSources: {
          relay,
          deliver: { ...deliver, provisionedPollers: { min: 2, max: 10 } },
          earlyWakeSeconds: 1,
        },
      });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems = error.problems;
    }

    // Assess
    expect(problems).toEqual([
      expect.stringMatching(
        /^field "system\.maxConcurrency": cannot apply while eventSources\.deliver\.provisionedPollers is set/,
      ),
    ]);
  });
});

describe("relay group concurrency", () => {
  it("keeps 8 for batches of 10 and grows with the batch up to 32", () => {
    const withBatch = (batchSize: number) =>
      relayGroupConcurrency({ ...DEFAULT_EVENT_SOURCES, relay: { batchSize, maxBatchingWindowSeconds: 1 } });
    expect([10, 100, 1000].map(withBatch)).toEqual([8, 25, 32]);
  });
});
