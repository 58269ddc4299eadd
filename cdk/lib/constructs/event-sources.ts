import { Duration, Names } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import type * as eventsources from "aws-cdk-lib/aws-lambda-event-sources";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import type { EventSourcesConfig, PunctualConfig, TopicConfig } from "#shared/config/index.js";
import { grantQueueKey } from "./queue-defaults.js";

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

/**
 * What a function consuming a queue through its event source mapping needs on that queue: Lambda's pollers call
 * ReceiveMessage, DeleteMessage and GetQueueAttributes with the function's role
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html; AWSLambdaSQSQueueExecutionRole holds exactly these),
 * and both consumers (the relay's retry backoff, deliver's backoff) change their own messages' visibility. A queue
 * with a customer managed key takes Decrypt on it too, for the pollers' ReceiveMessage (`grantQueueKey`).
 */
const CONSUMER_ACTIONS = [
  "sqs:ReceiveMessage",
  "sqs:DeleteMessage",
  "sqs:GetQueueAttributes",
  "sqs:ChangeMessageVisibility",
];

/**
 * `fn` consumes `queue` through an event source mapping with `props`, and its role may call what that takes
 * (CONSUMER_ACTIONS). Not CDK's SqsEventSource, whose bind grants `grantConsumeMessages`, GetQueueUrl included, which
 * no poller and no code of ours calls. The mapping keeps the id SqsEventSource gives it, so a deployed stack's
 * mapping (and its UUID, which the topic routes and the sweeper switch) is not replaced.
 */
export function consumeQueue(
  fn: lambda.Function,
  queue: sqs.IQueue,
  props: eventsources.SqsEventSourceProps,
): lambda.EventSourceMapping {
  const mapping = fn.addEventSourceMapping(`SqsEventSource:${Names.nodeUniqueId(queue.node)}`, {
    ...props,
    eventSourceArn: queue.queueArn,
  });
  iam.Grant.addToPrincipal({ grantee: fn, actions: CONSUMER_ACTIONS, resourceArns: [queue.queueArn] });
  grantQueueKey(queue, fn, "receive");
  return mapping;
}
