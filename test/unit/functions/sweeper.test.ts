import type { Context } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { scheduledEvent } from "#local/runtime/scheduled-rule.js";
import { stubScheduledFunctionEnv } from "../../support/function-env.js";
import { simulate } from "../../support/pipeline-sim.js";

const context = {
  functionName: "punctual-local-sweeper",
  awsRequestId: "r1",
  invokedFunctionArn: "arn:aws:lambda:eu-west-1:000000000000:function:punctual-local-sweeper",
  memoryLimitInMB: "256",
  getRemainingTimeInMillis: () => 50_000,
} as unknown as Context;

const QUEUES = {
  demo: {
    queueUrl: "https://sqs.local/000000000000/demo.fifo",
    dlqUrl: "https://sqs.local/000000000000/demo-dlq.fifo",
    stalledAfterMs: 600_000,
    mappingUuid: "00000000-0000-4000-8000-64656d6f0000",
  },
};

describe("functions/sweeper.ts", () => {
  beforeEach(() => {
    vi.resetModules();
    stubScheduledFunctionEnv();
    vi.stubEnv("PUNCTUAL_TOPOLOGY", JSON.stringify({ sweep: QUEUES }));
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it("runs a sweep on the scheduled event and publishes every count as EMF, zeros included", async () => {
    // Prepare
    const stdout = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const { createSweeperHandler } = await import("#functions/sweeper.js");
    const { Metrics } = await import("@aws-lambda-powertools/metrics");
    const metrics = new Metrics({ namespace: "Punctual", serviceName: "punctual-local" });
    // A lost timer message of a near-term task: what the sweeper repairs with the full index.
    const sim = simulate({ sweeper: { indexNearTermTasks: true } });
    sim.timer.dropNext = 1;
    const id = await sim.add({ order_id: "h-1" }, { delay_seconds: 0 });
    sim.advance(sim.graceMs);
    const handler = createSweeperHandler(sim.sweeperDeps, undefined, metrics);

    // Act
    const report = await handler(
      scheduledEvent("arn:aws:events:eu-west-1:000000000000:rule/sweeper"),
      context,
    );

    // Assess
    expect(report).toMatchObject({ forwarded: 1, failures: 0 });
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([id]);
    const emf = stdout.mock.calls
      .map(([chunk]) => String(chunk))
      .filter((line) => line.includes('"CloudWatchMetrics"'))
      .map((line) => JSON.parse(line));
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      OrphansForwarded: 1,
      OrphansRequeued: 0,
      OrphansDeadLettered: 0,
      TimerDeadLettersResolved: 0,
      SweepFailures: 0,
    });
  });

  it("lengthens a topic's stall window by a backoff cap raised in the runtime settings: a head backing off that long is alive", async () => {
    // Prepare: the deployed window (the topology's) was sized by the deployed backoff cap; the settings raise it
    const { runtimeSweeperTopics } = await import("#functions/sweeper.js");
    const { loadEnvironmentConfig } = await import("#shared/config/index.js");
    const { applyRuntimeSettings } = await import("#shared/config/runtime-settings.js");
    const deployed = loadEnvironmentConfig("local");
    const deployedCap = deployed.resolvedTopics.demo?.backoff.maxSeconds as number;
    const raise = (maxSeconds: number) => {
      const applied = applyRuntimeSettings(deployed, { topics: { demo: { backoff: { maxSeconds } } } });
      if (!applied.ok) throw new Error(applied.problems.join("; "));
      return applied.config;
    };

    // Act
    const raised = runtimeSweeperTopics(raise(deployedCap + 3_600)).demo;
    const lowered = runtimeSweeperTopics(raise(Math.max(1, Math.floor(deployedCap / 2)))).demo;
    const unchanged = runtimeSweeperTopics(deployed).demo;

    // Assess: an hour longer backoff steps, an hour longer window; a lowered cap keeps the deployed one
    expect(raised?.stalledAfterMs).toBe(QUEUES.demo.stalledAfterMs + 3_600_000);
    expect(raised?.config.backoff.maxSeconds).toBe(deployedCap + 3_600);
    expect(lowered?.stalledAfterMs).toBe(QUEUES.demo.stalledAfterMs);
    expect(unchanged?.stalledAfterMs).toBe(QUEUES.demo.stalledAfterMs);
  });

  it("fails the cold start when a configured topic has no queues in the topology, or it is malformed", async () => {
    vi.stubEnv("PUNCTUAL_TOPOLOGY", JSON.stringify({ sweep: { other: QUEUES.demo } }));
    await expect(import("#functions/sweeper.js")).rejects.toThrow(/PUNCTUAL_TOPOLOGY\.sweep\["demo"\]/);
    vi.resetModules();
    vi.stubEnv(
      "PUNCTUAL_TOPOLOGY",
      JSON.stringify({ sweep: { demo: { ...QUEUES.demo, stalledAfterMs: 0 } } }),
    );
    await expect(import("#functions/sweeper.js")).rejects.toThrow(
      /PUNCTUAL_TOPOLOGY\.sweep\.demo\.stalledAfterMs/,
    );
    vi.resetModules();
    vi.stubEnv("PUNCTUAL_TOPOLOGY", "[1]");
    await expect(import("#functions/sweeper.js")).rejects.toThrow(/invalid PUNCTUAL_TOPOLOGY/);
  });
});
