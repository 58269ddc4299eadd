import { Duration, type RemovalPolicy, Stack } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as logs from "aws-cdk-lib/aws-logs";
import type * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { PIPELINE_STORE_METHODS } from "#shared/adapters/dynamo-task-store.js";
import type { PunctualConfig, TopicConfig } from "#shared/config/index.js";
import type { Topology } from "#shared/contract/topology.js";
import { METRIC, METRICS_NAMESPACE, serviceName, TOPIC_DIMENSION } from "#shared/domain/metrics.js";
import { ENV } from "#shared/runtime/env.js";
import { DEPLOYED_THREAD_POOL_SIZE } from "#shared/services/deliver/types.js";
import { deliverTimeoutSeconds, topicMaxReceiveCount, visibilityTimeoutSeconds } from "../sizing.js";
import type { AlarmTopic } from "./alarm-topic.js";
import { consumeQueue, deliverEventSourceProps } from "./event-sources.js";
import { environmentFunctionProps, PunctualFunction } from "./punctual-function.js";
import { grantSendOnly, HIGH_THROUGHPUT_FIFO, queueDefaults } from "./queue-defaults.js";
import type { RuntimeSettings } from "./runtime-settings.js";
import type { TaskTable } from "./task-table.js";

export interface TopicProps {
  readonly config: PunctualConfig;
  readonly topic: TopicConfig;
  readonly table: TaskTable;
  readonly signingSecret: secretsmanager.ISecret;
  readonly alarms: AlarmTopic;
  /** The runtime topic settings (AppConfig) its deliver function reads. */
  readonly runtimeSettings: RuntimeSettings;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
}

/**
 * One configured topic: its FIFO queue (groups = ordering keys), the FIFO dead-letter queue, the deliver
 * function consuming the queue with ReportBatchItemFailures (batch size and MaximumConcurrency or provisioned
 * pollers from config `eventSources.deliver`), and the topic's
 * alarms (DLQ not empty, backlog age, lateness p99, callback latency p99, deliver errors and throttles).
 */
export class Topic extends Construct {
  readonly name: string;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly deliverFunction: PunctualFunction;
  /** The deliver function's SQS event source mapping: its UUID (CFN Ref) and ARN. Pausing the topic disables it. */
  readonly deliverMappingUuid: string;
  readonly deliverMappingArn: string;

  constructor(scope: Construct, id: string, props: TopicProps) {
    super(scope, id);
    const { topic } = props;
    this.name = topic.name;
    const timeoutSeconds = deliverTimeoutSeconds(topic);
    this.deadLetterQueue = addDeadLetterQueue(this, props.removalPolicy);
    this.queue = new sqs.Queue(this, "Queue", {
      ...queueDefaults(props.removalPolicy, "topic"),
      ...HIGH_THROUGHPUT_FIFO,
      visibilityTimeout: Duration.seconds(visibilityTimeoutSeconds(timeoutSeconds)),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: topicMaxReceiveCount(topic) },
    });
    this.deliverFunction = addDeliverFunction(this, props, timeoutSeconds);
    const mapping = consumeQueue(
      this.deliverFunction,
      this.queue,
      deliverEventSourceProps(props.config, topic),
    );
    this.deliverMappingUuid = mapping.eventSourceMappingId;
    this.deliverMappingArn = mapping.eventSourceMappingArn;
    grantDeliverFunction(this, props);
    this.addAlarms(props);
  }

  /** DLQ not empty, backlog age, lateness and callback latency p99, deliver errors and throttles, open circuits. */
  private addAlarms(props: TopicProps): void {
    const { config, topic, alarms } = props;
    const label = `Punctual ${config.name} topic "${topic.name}"`;
    alarms.watchDeadLetterQueue(this.deadLetterQueue, `${label} dead-letter queue`);
    alarms.watchBacklog(this.queue, topic.alarms.backlogAgeSeconds, `${label} queue`);
    alarms.alarm(this, "LatenessAlarm", {
      metric: this.metric(config, METRIC.lateness),
      threshold: topic.alarms.latenessP99Seconds * 1000,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      description: `${label}: p99 delivery lateness (callback start minus due time) above ${topic.alarms.latenessP99Seconds} s in 2 of 3 minutes.`,
    });
    alarms.alarm(this, "CallbackLatencyAlarm", {
      metric: this.metric(config, METRIC.callbackLatency),
      threshold: topic.alarms.callbackLatencyP99Seconds * 1000,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      description: `${label}: p99 callback latency above ${topic.alarms.callbackLatencyP99Seconds} s in 2 of 3 minutes.`,
    });
    alarms.watchFunction(this.deliverFunction, `${label} deliver function`);
    if (topic.circuitFailureThreshold !== undefined) {
      // Issue 14: a destination host's circuit opened (the host is named in the deliver function's log line).
      alarms.alarm(this, "CircuitOpenedAlarm", {
        metric: this.metric(config, METRIC.circuitOpened, cloudwatch.Stats.SUM),
        threshold: 1,
        evaluationPeriods: 1,
        description: `${label}: a callback host's circuit opened (${topic.circuitFailureThreshold} consecutive failed attempts); its deliveries wait. The deliver function's log names the host; GET /v1/destinations shows it.`,
      });
    }
  }

  /**
   * A metric the deliver function publishes (EMF, milliseconds), p99 per minute. No unit filter: a unit
   * mismatch would silently hide every datapoint from the alarm.
   */
  private metric(
    config: PunctualConfig,
    metricName: string,
    statistic: string = cloudwatch.Stats.p(99),
  ): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { service: serviceName(config.name), [TOPIC_DIMENSION]: this.name },
      statistic,
      period: Duration.minutes(1),
    });
  }
}

function addDeadLetterQueue(topic: Topic, removalPolicy: RemovalPolicy): sqs.Queue {
  return new sqs.Queue(topic, "DeadLetterQueue", {
    ...queueDefaults(removalPolicy, "dlq"),
    // Like the topic queue: every send here (the deliver function and the sweeper dead-lettering a task,
    // SqsTopicQueue.sendToDeadLetter) carries its own MessageDeduplicationId, in the task's group; content-based
    // deduplication would instead drop a second, legitimately different dead-lettering of the same body within
    // 5 minutes. High-throughput mode too: dead letters are sent one SendMessage per task, at the rate tasks
    // exhaust their attempts, which a receiver outage under prod's load puts above the 300 transactions/s a FIFO
    // queue takes per API action otherwise (ThrottlingException) —
    // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/troubleshooting-fifo-throttling-issues.html
    ...HIGH_THROUGHPUT_FIFO,
  });
}

function addDeliverFunction(topic: Topic, props: TopicProps, timeoutSeconds: number): PunctualFunction {
  const { config, topic: topicConfig } = props;
  const topology = {
    deliveries: {
      [topic.queue.queueArn]: {
        topic: topicConfig.name,
        queueUrl: topic.queue.queueUrl,
        dlqUrl: topic.deadLetterQueue.queueUrl,
      },
    },
    topicSettings: props.runtimeSettings.topology,
  } satisfies Topology;
  return new PunctualFunction(topic, "DeliverFunction", {
    name: "deliver",
    ...environmentFunctionProps(config),
    timeout: Duration.seconds(timeoutSeconds),
    description: `Punctual ${config.name}: delivers topic "${topicConfig.name}" (FIFO queue to signed HTTPS callbacks)`,
    logRetention: props.logRetention,
    removalPolicy: props.removalPolicy,
    environment: {
      [ENV.tableName]: props.table.tableName,
      [ENV.topology]: Stack.of(topic).toJsonString(topology),
      [ENV.signingSecretArn]: props.signingSecret.secretArn,
      // Read by libuv, not by our code: a stalled DNS lookup must not queue the other groups' (types.ts says why).
      UV_THREADPOOL_SIZE: String(DEPLOYED_THREAD_POOL_SIZE),
    },
  });
}

function grantDeliverFunction(topic: Topic, props: TopicProps): void {
  const fn = topic.deliverFunction;
  // Consumes its own queue (consumeQueue, above); sends only to its own DLQ.
  grantSendOnly(topic.deadLetterQueue, fn);
  props.table.grantStoreAccess(fn, PIPELINE_STORE_METHODS.deliver);
  // GetSecretValue only (shared/security/signing.ts): CDK's grantRead adds DescribeSecret, which nothing calls.
  iam.Grant.addToPrincipal({
    grantee: fn,
    actions: ["secretsmanager:GetSecretValue"],
    resourceArns: [props.signingSecret.secretArn],
  });
  props.runtimeSettings.grantRead(fn);
}

/**
 * The topic-wide topology sections (relay, sweeper, topic views) name each queue by its name, resolved against one
 * queue URL of the stack (`queueUrlBase`, shared/contract/topology.ts): two full URLs per topic would cost those
 * functions about 120 bytes of Lambda's 4 KB of environment each.
 */
export function topicQueueNames(topics: readonly Topic[]): {
  /** `{ queueUrlBase }` to spread into a topology (empty without topics). */
  readonly base: { readonly queueUrlBase?: string };
  readonly of: (topic: Topic) => { readonly queueUrl: string; readonly dlqUrl: string };
} {
  return {
    base: topics[0] ? { queueUrlBase: topics[0].queue.queueUrl } : {},
    of: (topic) => ({ queueUrl: topic.queue.queueName, dlqUrl: topic.deadLetterQueue.queueName }),
  };
}
