import { Duration, type RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import * as eventsources from "aws-cdk-lib/aws-lambda-event-sources";
import type * as logs from "aws-cdk-lib/aws-logs";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { PIPELINE_STORE_METHODS } from "#shared/adapters/dynamo-task-store.js";
import type { PunctualConfig } from "#shared/config/index.js";
import type { Topology } from "#shared/contract/topology.js";
import { ENV } from "#shared/runtime/env.js";
import {
  RELAY_TIMEOUT_SECONDS,
  SWEEPER_RATE_MINUTES,
  TIMER_QUEUE_MAX_RECEIVE_COUNT,
  timerBacklogAlarmSeconds,
  visibilityTimeoutSeconds,
} from "../sizing.js";
import type { AlarmTopic } from "./alarm-topic.js";
import { relayEventSourceProps } from "./event-sources.js";
import { PunctualFunction } from "./punctual-function.js";
import { queueDefaults } from "./queue-defaults.js";
import type { TaskTable } from "./task-table.js";
import type { Topic } from "./topic.js";

export interface TimerQueuesProps {
  readonly config: PunctualConfig;
  readonly table: TaskTable;
  readonly topics: readonly Topic[];
  readonly alarms: AlarmTopic;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The fine stage of the two-stage timer: the shared *standard* timer queue (per-message DelaySeconds; a FIFO
 * queue cannot delay single messages) with its standard DLQ, the standard DLQ EventBridge Scheduler
 * dead-letters undeliverable schedule firings into (Scheduler refuses FIFO DLQs), and the relay function that
 * forwards due tasks to their topic's FIFO queue.
 */
export class TimerQueues extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly scheduleDeadLetterQueue: sqs.Queue;
  readonly relayFunction: PunctualFunction;

  constructor(scope: Construct, id: string, props: TimerQueuesProps) {
    super(scope, id);
    const { config, table, alarms } = props;

    this.deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", queueDefaults(props.removalPolicy, "dlq"));
    this.queue = new sqs.Queue(this, "Queue", {
      ...queueDefaults(props.removalPolicy, "working"),
      visibilityTimeout: Duration.seconds(visibilityTimeoutSeconds(RELAY_TIMEOUT_SECONDS)),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: TIMER_QUEUE_MAX_RECEIVE_COUNT },
    });
    this.scheduleDeadLetterQueue = new sqs.Queue(
      this,
      "ScheduleDeadLetterQueue",
      queueDefaults(props.removalPolicy, "dlq"),
    );
    Validations.of(this.scheduleDeadLetterQueue).acknowledge({
      id: "AwsSolutions-SQS3",
      reason:
        "This queue IS a dead-letter queue: EventBridge Scheduler's DeadLetterConfig target for schedule firings that exhausted their retry policy. Scheduler references it per schedule at runtime (SCHEDULE_DLQ_ARN), not through an SQS redrive policy, which is all the rule can see.",
    });

    this.relayFunction = new PunctualFunction(this, "RelayFunction", {
      name: "relay",
      environmentName: config.name,
      logLevel: config.logLevel,
      observability: config.functions,
      timeout: Duration.seconds(RELAY_TIMEOUT_SECONDS),
      description: `Punctual ${config.name}: relays due timers to the topics' FIFO queues, in group order`,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      environment: {
        [ENV.tableName]: table.tableName,
        [ENV.timerQueueUrl]: this.queue.queueUrl,
        [ENV.topology]: Stack.of(this).toJsonString({
          topicQueues: Object.fromEntries(props.topics.map((topic) => [topic.name, topic.queue.queueUrl])),
        } satisfies Topology),
      },
    });
    // Batch size, window and pollers come from the environment (config `eventSources.relay`): the early wake
    // lets a batching window and cold pollers spend their time before the due time, not after it.
    this.relayFunction.addEventSource(
      new eventsources.SqsEventSource(this.queue, relayEventSourceProps(config)),
    );
    this.queue.grantConsumeMessages(this.relayFunction);
    // Re-arming an early arrival sends the timer back to the same queue with the remaining delay.
    this.queue.grantSendMessages(this.relayFunction);
    for (const topic of props.topics) topic.queue.grantSendMessages(this.relayFunction);
    table.grantStoreAccess(this.relayFunction, PIPELINE_STORE_METHODS.relay);

    const label = `Punctual ${config.name}`;
    // The sweeper drains both (their messages are pointers to tasks it re-arms or finds finished): they alarm
    // only when a message outlasts three of its runs.
    const unresolvedMinutes = 3 * SWEEPER_RATE_MINUTES;
    alarms.watchSweptDeadLetterQueue(
      this.deadLetterQueue,
      `${label} timer dead-letter queue`,
      unresolvedMinutes,
    );
    alarms.watchSweptDeadLetterQueue(
      this.scheduleDeadLetterQueue,
      `${label} schedule dead-letter queue`,
      unresolvedMinutes,
    );
    alarms.watchBacklog(this.queue, timerBacklogAlarmSeconds(config), `${label} timer queue`);
    alarms.watchFunction(this.relayFunction, `${label} relay function`);
  }
}
