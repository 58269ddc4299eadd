/**
 * Every environment's SQS event source mappings, read from the synthesized template and judged by AWS's
 * documented rules (written out here from the AWS pages, independently of the config schema):
 * - BatchSize: standard queue 1–10,000, FIFO queue 1–10; above 10 a MaximumBatchingWindowInSeconds ≥ 1
 *   (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html).
 * - MaximumBatchingWindowInSeconds 0–300, standard queues only — FIFO mappings take none (same page).
 * - ScalingConfig.MaximumConcurrency 2–1000 (https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html).
 * - ProvisionedPollerConfig for SQS: MinimumPollers 2–200, MaximumPollers 2–2,000, and never together with
 *   MaximumConcurrency (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-lambda-eventsourcemapping-provisionedpollerconfig.html,
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
 * - Lambda refuses a mapping whose queue's visibility timeout is shorter than the function's timeout.
 */
import { describe, expect, it } from "vitest";
import { ENVIRONMENTS } from "#shared/config/environments/index.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { synthesizedResources } from "../support/published-metrics.js";

type Json = Record<string, unknown>;

interface Mapping {
  readonly logicalId: string;
  readonly props: Json;
  readonly queue: Json;
  readonly fn: Json;
}

function mappingsOf(env: string): Mapping[] {
  const resources = synthesizedResources(env) as Record<string, { Type: string; Properties?: Json }>;
  return Object.entries(resources)
    .filter(([, r]) => r.Type === "AWS::Lambda::EventSourceMapping")
    .map(([logicalId, r]) => {
      const props = r.Properties ?? {};
      const queueId = ((props.EventSourceArn as Json)["Fn::GetAtt"] as string[])[0] as string;
      const fnId = (props.FunctionName as Json).Ref as string;
      return {
        logicalId,
        props,
        queue: resources[queueId]?.Properties ?? {},
        fn: resources[fnId]?.Properties ?? {},
      };
    });
}

const isFifo = (m: Mapping) => m.queue.FifoQueue === true;
const inRange = (value: unknown, min: number, max: number) =>
  Number.isInteger(value) && (value as number) >= min && (value as number) <= max;

/** What AWS would refuse in one mapping, as readable problems (empty when valid). */
function refusals(m: Mapping): string[] {
  const problems: string[] = [];
  const batch = (m.props.BatchSize as number | undefined) ?? 10;
  const window = m.props.MaximumBatchingWindowInSeconds as number | undefined;
  const maxConcurrency = (m.props.ScalingConfig as Json | undefined)?.MaximumConcurrency;
  const pollers = m.props.ProvisionedPollerConfig as Json | undefined;
  if (isFifo(m)) {
    if (!inRange(batch, 1, 10)) problems.push(`FIFO BatchSize ${batch} outside 1–10`);
    if (window !== undefined) problems.push("FIFO mapping with a batching window");
  } else {
    if (!inRange(batch, 1, 10_000)) problems.push(`BatchSize ${batch} outside 1–10,000`);
    if (window !== undefined && !inRange(window, 0, 300)) problems.push(`window ${window} outside 0–300`);
    if (batch > 10 && !((window ?? 0) >= 1)) problems.push(`BatchSize ${batch} > 10 without a window`);
  }
  if (maxConcurrency !== undefined && !inRange(maxConcurrency, 2, 1000))
    problems.push(`MaximumConcurrency ${maxConcurrency} outside 2–1000`);
  if (pollers) {
    if (!inRange(pollers.MinimumPollers, 2, 200)) problems.push("MinimumPollers outside 2–200");
    if (!inRange(pollers.MaximumPollers, 2, 2000)) problems.push("MaximumPollers outside 2–2,000");
    if ((pollers.MaximumPollers as number) < (pollers.MinimumPollers as number))
      problems.push("MaximumPollers below MinimumPollers");
    if (maxConcurrency !== undefined) problems.push("provisioned pollers together with MaximumConcurrency");
  }
  if ((m.queue.VisibilityTimeout as number) < (m.fn.Timeout as number))
    problems.push("queue visibility timeout shorter than the function timeout");
  return problems;
}

describe.each(Object.keys(ENVIRONMENTS))("environment %s: SQS event source mappings", (env) => {
  const mappings = mappingsOf(env);
  const config = loadEnvironmentConfig(env);

  it("every mapping is a combination AWS accepts", () => {
    // Assess
    expect(mappings.length).toBe(1 + Object.keys(config.resolvedTopics).length);
    expect(mappings.map((m) => ({ id: m.logicalId, problems: refusals(m) }))).toEqual(
      mappings.map((m) => ({ id: m.logicalId, problems: [] })),
    );
    for (const m of mappings) expect(m.props.FunctionResponseTypes).toEqual(["ReportBatchItemFailures"]);
  });

  it("the relay's mapping on the standard timer queue is the declared one, and its hold fits its timeout", () => {
    // Prepare
    const relay = mappings.filter((m) => !isFifo(m));
    const declared = config.eventSources.relay;

    // Assess
    expect(relay).toHaveLength(1);
    const [m] = relay as [Mapping];
    expect(m.props.BatchSize).toBe(declared.batchSize);
    expect(m.props.MaximumBatchingWindowInSeconds ?? 0).toBe(declared.maxBatchingWindowSeconds);
    expect(m.props.ProvisionedPollerConfig).toEqual(
      declared.provisionedPollers
        ? { MinimumPollers: declared.provisionedPollers.min, MaximumPollers: declared.provisionedPollers.max }
        : undefined,
    );
    // The relay holds an early message up to the early wake plus a second; a third of its timeout at most.
    expect((config.eventSources.earlyWakeSeconds + 1) * 3).toBeLessThanOrEqual(m.fn.Timeout as number);
  });

  it("every topic's deliver mapping on its FIFO queue is the declared one", () => {
    // Prepare
    const deliver = mappings.filter(isFifo);
    const declared = config.eventSources.deliver;

    // Assess
    expect(deliver).toHaveLength(Object.keys(config.resolvedTopics).length);
    for (const m of deliver) {
      expect(m.props.BatchSize).toBe(declared.batchSize);
      if (declared.provisionedPollers) {
        expect(m.props.ProvisionedPollerConfig).toEqual({
          MinimumPollers: declared.provisionedPollers.min,
          MaximumPollers: declared.provisionedPollers.max,
        });
      } else {
        expect((m.props.ScalingConfig as Json).MaximumConcurrency).toBeGreaterThanOrEqual(2);
      }
    }
  });
});

describe("the burst design is what prod deploys", () => {
  it("prod runs the relay and every deliver mapping in provisioned mode, with the early wake covering the window", () => {
    // Prepare
    const mappings = mappingsOf("prod");
    const config = loadEnvironmentConfig("prod");

    // Assess
    for (const m of mappings) expect(m.props.ProvisionedPollerConfig).toBeDefined();
    const relay = mappings.find((m) => !isFifo(m)) as Mapping;
    expect(config.eventSources.earlyWakeSeconds).toBeGreaterThanOrEqual(
      relay.props.MaximumBatchingWindowInSeconds as number,
    );
  });
});

describe("the checker itself refuses what AWS refuses", () => {
  const standard = { VisibilityTimeout: 180 };
  const fifo = { VisibilityTimeout: 180, FifoQueue: true };
  const fn = { Timeout: 30 };
  it.each([
    ["a FIFO batching window", fifo, { BatchSize: 10, MaximumBatchingWindowInSeconds: 1 }],
    ["a FIFO batch above 10", fifo, { BatchSize: 11 }],
    ["a standard batch above 10 without a window", standard, { BatchSize: 100 }],
    ["a window above 300 s", standard, { BatchSize: 10, MaximumBatchingWindowInSeconds: 301 }],
    ["MaximumConcurrency 1", standard, { ScalingConfig: { MaximumConcurrency: 1 } }],
    [
      "provisioned pollers with MaximumConcurrency",
      standard,
      {
        ScalingConfig: { MaximumConcurrency: 10 },
        ProvisionedPollerConfig: { MinimumPollers: 2, MaximumPollers: 10 },
      },
    ],
    ["1 minimum poller", standard, { ProvisionedPollerConfig: { MinimumPollers: 1, MaximumPollers: 10 } }],
    ["2,001 maximum pollers", fifo, { ProvisionedPollerConfig: { MinimumPollers: 2, MaximumPollers: 2001 } }],
  ])("%s", (_name, queue, props) => {
    expect(refusals({ logicalId: "M", props, queue, fn })).not.toEqual([]);
  });
});
