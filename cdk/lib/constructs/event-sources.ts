import { Duration } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import type * as eventsources from "aws-cdk-lib/aws-lambda-event-sources";
import type { EventSourcesConfig, PunctualConfig, TopicConfig } from "#shared/config/index.js";

type Pollers = EventSourcesConfig["relay"]["provisionedPollers"];

function pollerConfig(pollers: Pollers): lambda.ProvisionedPollerConfig | undefined {
  return pollers ? { minimumPollers: pollers.min, maximumPollers: pollers.max } : undefined;
}

/**
 * The relay's mapping on the standard timer queue, as the environment declares it: batch size and batching
 * window (paired with the early wake the timer plan applies), and either provisioned pollers or a
 * MaximumConcurrency — never both (the config refuses that, as Lambda does). Its EventCount metrics on: the relay
 * failures alarm reads FailedInvokeEventCount, which Lambda publishes only for a mapping that asks for them
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-lambda-eventsourcemapping-metricsconfig.html).
 */
export function relayEventSourceProps(config: PunctualConfig): eventsources.SqsEventSourceProps {
  const relay = config.eventSources.relay;
  const provisionedPollerConfig = pollerConfig(relay.provisionedPollers);
  return {
    batchSize: relay.batchSize,
    maxBatchingWindow: Duration.seconds(relay.maxBatchingWindowSeconds),
    reportBatchItemFailures: true,
    metricsConfig: { metrics: [lambda.MetricType.EVENT_COUNT] },
    ...(provisionedPollerConfig ? { provisionedPollerConfig } : {}),
    ...(relay.maxConcurrency !== undefined ? { maxConcurrency: relay.maxConcurrency } : {}),
  };
}

/**
 * A topic's deliver mapping on its FIFO queue: batch size, no batching window (FIFO allows none), and either
 * provisioned pollers or MaximumConcurrency — the topic's own, capped by the environment's when it sets one.
 */
export function deliverEventSourceProps(
  config: PunctualConfig,
  topic: TopicConfig,
): eventsources.SqsEventSourceProps {
  const deliver = config.eventSources.deliver;
  const provisionedPollerConfig = pollerConfig(deliver.provisionedPollers);
  const base = { batchSize: deliver.batchSize, reportBatchItemFailures: true };
  if (provisionedPollerConfig) return { ...base, provisionedPollerConfig };
  return { ...base, maxConcurrency: Math.min(topic.maxConcurrency, deliver.maxConcurrency ?? Infinity) };
}
