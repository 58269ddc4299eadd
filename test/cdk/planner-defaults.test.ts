import { Stack } from "aws-cdk-lib";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../../plan/config.js";
import { type Json, synthesized } from "../support/published-metrics.js";

/** The planner's default configuration must be what the stack deploys today, read from the synthesized template. */
describe("the capacity planner's default event-source settings", () => {
  it("match the synthesized relay and deliver mappings (batch size, batching window, MaximumConcurrency)", () => {
    // Prepare
    const { stack, resources } = synthesized("dev");
    const mappings = Object.values(resources).filter((r) => r.Type === "AWS::Lambda::EventSourceMapping");
    const functionOf = (m: Json) => m.Properties.FunctionName.Ref as string;
    const relayId = Stack.of(stack).getLogicalId(stack.timerQueues.relayFunction.node.defaultChild as never);
    const topic = stack.topics.find((t) => t.name === "orders");
    const deliverId = Stack.of(stack).getLogicalId(topic?.deliverFunction.node.defaultChild as never);

    // Act
    const relay = mappings.find((m) => functionOf(m) === relayId)?.Properties;
    const deliver = mappings.find((m) => functionOf(m) === deliverId)?.Properties;

    // Assess
    expect(relay?.BatchSize).toBe(DEFAULT_CONFIG.eventSources.relay.batchSize);
    expect(relay?.MaximumBatchingWindowInSeconds ?? 0).toBe(
      DEFAULT_CONFIG.eventSources.relay.maxBatchingWindowSeconds,
    );
    expect(relay?.ScalingConfig?.MaximumConcurrency).toBe(DEFAULT_CONFIG.eventSources.relay.maxConcurrency);
    expect(deliver?.BatchSize).toBe(DEFAULT_CONFIG.eventSources.deliver.batchSize);
    expect(deliver?.ScalingConfig?.MaximumConcurrency).toBe(
      DEFAULT_CONFIG.eventSources.deliver.maxConcurrency,
    );
  });
});
