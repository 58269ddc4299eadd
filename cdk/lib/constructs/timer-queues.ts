import { Duration, type RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import type * as logs from "aws-cdk-lib/aws-logs";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { PIPELINE_STORE_METHODS } from "#shared/adapters/dynamo-task-store.js";
import type { PunctualConfig } from "#shared/config/index.js";
import type { TopologyInput } from "#shared/contract/topology.js";
import { ENV } from "#shared/runtime/env.js";
import {
  RELAY_TIMEOUT_SECONDS,
  SWEEPER_RATE_MINUTES,
  TIMER_QUEUE_MAX_RECEIVE_COUNT,
  timerBacklogAlarmSeconds,
  visibilityTimeoutSeconds,
} from "../sizing.js";
import type { AlarmTopic } from "./alarm-topic.js";
import { consumeQueue, relayEventSourceProps } from "./event-sources.js";
import { environmentFunctionProps, PunctualFunction } from "./punctual-function.js";
import { grantSendOnly, queueDefaults } from "./queue-defaults.js";
import type { TaskTable } from "./task-table.js";
import { type Topic, topicQueueNames } from "./topic.js";

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
  /** The relay's event source mapping (its UUID, CFN Ref): the relay failures alarm names it. */
  readonly relayMappingUuid: string;

  constructor(scope: Construct, id: string, props: TimerQueuesProps) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, "DeadLetterQueue", queueDefaults(props.removalPolicy, "dlq"));
    this.queue = new sqs.Queue(this, "Queue", {
      ...queueDefaults(props.removalPolicy, "working"),
      visibilityTimeout: Duration.seconds(visibilityTimeoutSeconds(RELAY_TIMEOUT_SECONDS)),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: TIMER_QUEUE_MAX_RECEIVE_COUNT },
    });
    this.scheduleDeadLetterQueue = addScheduleDeadLetterQueue(this, props.removalPolicy);
    this.relayFunction = addRelayFunction(this, props);
    this.relayMappingUuid = connectRelayFunction(this, props);
    addTimerAlarms(this, props);
  }

  /**
   * A function that arms timers: `sqs:SendMessage` on the timer queue, and updated after the relay in a deploy
   * (CloudFormation updates a resource after what it depends on). A deploy that adds a topic gives the relay the
   * topic's queue; a task of that topic armed by an add already updated, while the relay still ran without the
   * queue, was failed and retried until the new relay ran (after the queue's 180 s visibility timeout, before the
   * relay's retry backoff), that late.
   */
  grantArmTimers(fn: PunctualFunction): void {
    grantSendOnly(this.queue, fn);
    fn.node.addDependency(this.relayFunction);
  }
}

/** The standard DLQ that EventBridge Scheduler dead-letters undeliverable schedule firings into. */
function addScheduleDeadLetterQueue(timer: TimerQueues, removalPolicy: RemovalPolicy): sqs.Queue {
  const queue = new sqs.Queue(timer, "ScheduleDeadLetterQueue", queueDefaults(removalPolicy, "dlq"));
  Validations.of(queue).acknowledge({
    id: "AwsSolutions-SQS3",
    reason:
      "This queue IS a dead-letter queue: EventBridge Scheduler's DeadLetterConfig target for schedule firings that exhausted their retry policy. Scheduler references it per schedule at runtime (SCHEDULE_DLQ_ARN), not through an SQS redrive policy, which is all the rule can see.",
  });
  return queue;
}

function addRelayFunction(timer: TimerQueues, props: TimerQueuesProps): PunctualFunction {
  const { config, table } = props;
  return new PunctualFunction(timer, "RelayFunction", {
    name: "relay",
    ...environmentFunctionProps(config),
    timeout: Duration.seconds(RELAY_TIMEOUT_SECONDS),
    description: `Punctual ${config.name}: relays due timers to the topics' FIFO queues, in group order`,
    logRetention: props.logRetention,
    removalPolicy: props.removalPolicy,
    environment: {
      [ENV.tableName]: table.tableName,
      [ENV.timerQueueUrl]: timer.queue.queueUrl,
      [ENV.topology]: Stack.of(timer).toJsonString(relayTopology(props.topics)),
    },
  });
}

/** The relay's topology: each topic's FIFO queue, by name against one base (topicQueueNames). */
function relayTopology(topics: readonly Topic[]): TopologyInput {
  const names = topicQueueNames(topics);
  return {
    ...names.base,
    topicQueues: Object.fromEntries(topics.map((topic) => [topic.name, names.of(topic).queueUrl])),
  };
}

/** The relay function's event source on the timer queue and its permissions; returns the mapping's UUID. */
function connectRelayFunction(timer: TimerQueues, props: TimerQueuesProps): string {
  const { relayFunction } = timer;
  // Batch size, window and pollers come from the environment (config `eventSources.relay`): the early wake
  // lets a batching window and cold pollers spend their time before the due time, not after it.
  // Its consume grant includes sqs:ChangeMessageVisibility, which the relay's retry backoff calls on its failed
  // messages (shared/services/relay.ts, `retrySoon`).
  const mapping = consumeQueue(relayFunction, timer.queue, relayEventSourceProps(props.config));
  // Re-arming an early arrival sends the timer back to the same queue with the remaining delay.
  grantSendOnly(timer.queue, relayFunction);
  for (const topic of props.topics) grantSendOnly(topic.queue, relayFunction);
  props.table.grantStoreAccess(relayFunction, PIPELINE_STORE_METHODS.relay);
  return mapping.eventSourceMappingId;
}

function addTimerAlarms(timer: TimerQueues, props: TimerQueuesProps): void {
  const { config, alarms } = props;
  const label = `Punctual ${config.name}`;
  // The sweeper drains both (their messages are pointers to tasks it re-arms or finds finished): they alarm
  // only when a message outlasts three of its runs.
  const unresolvedMinutes = 3 * SWEEPER_RATE_MINUTES;
  alarms.watchSweptDeadLetterQueue(
    timer.deadLetterQueue,
    `${label} timer dead-letter queue`,
    unresolvedMinutes,
  );
  alarms.watchSweptDeadLetterQueue(
    timer.scheduleDeadLetterQueue,
    `${label} schedule dead-letter queue`,
    unresolvedMinutes,
  );
  alarms.watchBacklog(timer.queue, timerBacklogAlarmSeconds(config), `${label} timer queue`);
  alarms.watchFunction(timer.relayFunction, `${label} relay function`);
  addRelayFailuresAlarm(timer, alarms, label);
}

/**
 * The relay reports a timer message it could not forward or re-arm in `batchItemFailures` (it never throws for one)
 * and backs it off, so neither its errors alarm nor the timer queue's age alarm sees a relay that fails every
 * message: SQS leaves a standard queue's message received three or more times and not deleted out of
 * ApproximateAgeOfOldestMessage (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
 * The mapping's FailedInvokeEventCount counts those records (its MetricsConfig asks for them, event-sources.ts).
 * Three 5-minute periods in a row, as the sweeper's repair failures: a passing throttle is retried within seconds,
 * a relay failing for 15 minutes is not passing (its tasks wait; the timer DLQ and the sweeper take 28-55 minutes).
 */
function addRelayFailuresAlarm(timer: TimerQueues, alarms: AlarmTopic, label: string): void {
  const periods = 3;
  alarms.alarm(timer, "RelayFailuresAlarm", {
    metric: new cloudwatch.Metric({
      namespace: "AWS/Lambda",
      metricName: "FailedInvokeEventCount",
      dimensionsMap: { EventSourceMappingUUID: timer.relayMappingUuid },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
    }),
    threshold: 1,
    evaluationPeriods: periods,
    datapointsToAlarm: periods,
    description: `${label} relay: timer messages have been failing for 15 minutes (FailedInvokeEventCount of its timer queue mapping): their tasks wait, late, until the relay forwards them or the sweeper repairs them after the timer DLQ; see the relay's logs ("forwarding group failed").`,
  });
}
