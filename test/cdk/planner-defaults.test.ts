import { Stack } from "aws-cdk-lib";
import { describe, expect, it } from "vitest";
import { plannerConfigFor } from "../../plan/config.js";
import { type Json, synthesized } from "../support/published-metrics.js";
import { deliverOnce } from "../unit/plan/fakes.js";

const pollersOf = (props: Json) =>
  props?.ProvisionedPollerConfig
    ? { min: props.ProvisionedPollerConfig.MinimumPollers, max: props.ProvisionedPollerConfig.MaximumPollers }
    : undefined;

/** One environment's relay mapping and its first topic's deliver mapping, as synthesized. */
function synthesizedMappings(env: string): { topic: string; relay: Json; deliver: Json } {
  const { stack, resources } = synthesized(env);
  const mappings = Object.values(resources).filter((r) => r.Type === "AWS::Lambda::EventSourceMapping");
  const functionOf = (m: Json) => m.Properties.FunctionName.Ref as string;
  const relayId = Stack.of(stack).getLogicalId(stack.timerQueues.relayFunction.node.defaultChild as never);
  const topic = stack.topics[0];
  const deliverId = Stack.of(stack).getLogicalId(topic?.deliverFunction.node.defaultChild as never);
  return {
    topic: topic?.name as string,
    relay: mappings.find((m) => functionOf(m) === relayId)?.Properties,
    deliver: mappings.find((m) => functionOf(m) === deliverId)?.Properties,
  };
}

/** The planner's configuration for an environment must be what the stack deploys, read from the template. */
describe("the capacity planner's event-source settings", () => {
  it.each(["local", "dev", "prod"])(
    "for %s match the synthesized relay and deliver mappings (batch, window, pollers, MaximumConcurrency)",
    (env) => {
      // Prepare
      const { topic, relay, deliver } = synthesizedMappings(env);

      // Act
      const planned = plannerConfigFor(env, topic).eventSources;

      // Assess
      expect(relay?.BatchSize).toBe(planned.relay.batchSize);
      expect(relay?.MaximumBatchingWindowInSeconds ?? 0).toBe(planned.relay.maxBatchingWindowSeconds);
      expect(relay?.ScalingConfig?.MaximumConcurrency).toBe(planned.relay.maxConcurrency);
      expect(pollersOf(relay)).toEqual(planned.relay.provisionedPollers);
      expect(deliver?.BatchSize).toBe(planned.deliver.batchSize);
      expect(deliver?.ScalingConfig?.MaximumConcurrency).toBe(planned.deliver.maxConcurrency);
      expect(pollersOf(deliver)).toEqual(planned.deliver.provisionedPollers);
    },
  );
});

describe("the capacity planner's deliver mappings", () => {
  it.each(["local", "dev", "prod"])(
    "for %s counts one per synthesized topic (each bills its own provisioned pollers)",
    (env) => {
      // Prepare
      const { resources } = synthesized(env);
      const mappings = Object.values(resources).filter((r) => r.Type === "AWS::Lambda::EventSourceMapping");

      // Act
      const planned = plannerConfigFor(env).deliverMappings;

      // Assess: every mapping but the relay's is a topic's deliver mapping
      expect(mappings.length - 1).toBe(planned);
    },
  );
});

describe("the capacity planner's task table", () => {
  it.each(["local", "dev", "staging", "prod"])(
    "for %s prices the capacity mode the template deploys",
    (env) => {
      // Prepare
      const table = Object.values(synthesized(env).resources).find((r) => r.Type === "AWS::DynamoDB::Table");

      // Act
      const planned = plannerConfigFor(env).tableCapacity;

      // Assess: PAY_PER_REQUEST ↔ on-demand; CloudFormation's default (absent) is PROVISIONED
      expect(table?.Properties.BillingMode === "PAY_PER_REQUEST").toBe(planned.mode === "on-demand");
    },
  );
});

describe("the capacity planner's deliver batches", () => {
  it.each(["local", "dev", "prod"])(
    "for %s: a full batch of the deployed deliver BatchSize makes three DynamoDB calls, a batch of one two",
    (env) => {
      // Prepare
      const { deliver } = synthesizedMappings(env);
      const size = deliver?.BatchSize as number;

      // Act
      const full = deliverOnce(size, size).usage;
      const one = deliverOnce(1, 1).usage;

      // Assess: one BatchGetItem and two BatchExecuteStatement (≤ 25 statements each); one UpdateItem start and
      // the finishing call's one statement. Three write units per task either way with the PutItem.
      expect(size).toBeGreaterThanOrEqual(2);
      expect(full.calls).toMatchObject({ ddbBatchGet: 1, ddbBatchStatement: 2, ddbUpdate: 0 });
      expect({ wru: full.wru, rru: full.rru }).toEqual({ wru: 2 * size, rru: size });
      expect(one.calls).toMatchObject({ ddbBatchGet: 0, ddbBatchStatement: 1, ddbUpdate: 1 });
      expect({ wru: one.wru, rru: one.rru }).toEqual({ wru: 2, rru: 0 });
    },
  );
});
