import { Duration, type RemovalPolicy, Stack } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { PIPELINE_STORE_METHODS } from "#shared/adapters/dynamo-task-store.js";
import type { PunctualConfig, TopicConfig } from "#shared/config/index.js";
import type { TopologyInput } from "#shared/contract/topology.js";
import { METRIC } from "#shared/domain/metrics.js";
import { stalledAfterMs } from "#shared/domain/sweep.js";
import { ENV } from "#shared/runtime/env.js";
import {
  deliverTimeoutSeconds,
  SWEEPER_RATE_MINUTES,
  SWEEPER_TIMEOUT_SECONDS,
  visibilityTimeoutSeconds,
} from "../sizing.js";
import type { AlarmTopic } from "./alarm-topic.js";
import { environmentFunctionProps, PunctualFunction } from "./punctual-function.js";
import { grantDrain, grantReceiveAndDelete, grantSendOnly } from "./queue-defaults.js";
import type { RuntimeSettings } from "./runtime-settings.js";
import type { TaskTable } from "./task-table.js";
import type { TimerQueues } from "./timer-queues.js";
import { type Topic, topicQueueNames } from "./topic.js";
import { grantTopicSwitch } from "./topic-switch.js";

export interface SweeperProps {
  readonly config: PunctualConfig;
  readonly table: TaskTable;
  readonly timerQueues: TimerQueues;
  readonly topics: readonly Topic[];
  readonly alarms: AlarmTopic;
  /** The runtime topic settings: attempts and retention, and `paused`, which the sweeper applies to the mappings. */
  readonly runtimeSettings: RuntimeSettings;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The orphan sweeper (shared/services/sweeper.ts): an EventBridge rule fires it every minute; it finds
 * unfinished tasks that stopped moving through the table's sweep index and puts them back on their way, and
 * drains the timer and schedule dead-letter queues.
 *
 * Least privilege: Query on the table and its sweep index, GetItem and conditional UpdateItem on the table,
 * PutItem (a reschedule's successor; the sweep index window's cursor item), no Delete or Scan; SendMessage to the timer queue, every topic's FIFO queue and FIFO DLQ; receive / delete /
 * change visibility on the timer DLQ, the schedule DLQ and the topic DLQs (reconciled with the table). Alarms: errors and throttles, a sweeper that
 * stopped running, and repairs that keep failing.
 */
export class Sweeper extends Construct {
  readonly sweeperFunction: PunctualFunction;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: SweeperProps) {
    super(scope, id);
    this.sweeperFunction = addSweeperFunction(this, props);
    // The next run is the retry: a failed run is not re-invoked (it would only overlap the next one).
    this.sweeperFunction.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    this.rule = addSchedule(this, props.config);
    grantSweeperFunction(this.sweeperFunction, props);
    addSweeperAlarms(this, props);
  }
}

/** The sweeper's view of every topic: its queues and stall threshold, runtime settings and deliver mapping. */
function sweeperTopology(props: SweeperProps): TopologyInput {
  const { config, topics } = props;
  const names = topicQueueNames(topics);
  return {
    ...names.base,
    sweep: Object.fromEntries(
      topics.map((topic) => [
        topic.name,
        {
          ...names.of(topic),
          stalledAfterMs: topicStalledAfterMs(config, topic.name),
          // A topic held by its runtime settings (`paused`): the sweeper disables its deliver mapping. In this
          // section, not in a `topicMappings` one repeating the queue URLs: Lambda caps the environment at 4 KB.
          mappingUuid: topic.deliverMappingUuid,
        },
      ]),
    ),
    topicSettings: props.runtimeSettings.topology,
  };
}

function addSweeperFunction(sweeper: Sweeper, props: SweeperProps): PunctualFunction {
  const { config, table, timerQueues } = props;
  const topology = sweeperTopology(props);
  return new PunctualFunction(sweeper, "SweeperFunction", {
    name: "sweeper",
    ...environmentFunctionProps(config),
    timeout: Duration.seconds(SWEEPER_TIMEOUT_SECONDS),
    description: `Punctual ${config.name}: repairs orphaned tasks (lost timers and messages) and drains the timer DLQs`,
    logRetention: props.logRetention,
    removalPolicy: props.removalPolicy,
    environment: {
      [ENV.tableName]: table.tableName,
      [ENV.timerQueueUrl]: timerQueues.queue.queueUrl,
      [ENV.timerDlqUrl]: timerQueues.deadLetterQueue.queueUrl,
      [ENV.scheduleDlqUrl]: timerQueues.scheduleDeadLetterQueue.queueUrl,
      [ENV.topology]: Stack.of(sweeper).toJsonString(topology),
    },
  });
}

/** The EventBridge rule that runs the sweeper every SWEEPER_RATE_MINUTES. */
function addSchedule(sweeper: Sweeper, config: PunctualConfig): events.Rule {
  return new events.Rule(sweeper, "Schedule", {
    description: `Punctual ${config.name}: runs the orphan sweeper every ${SWEEPER_RATE_MINUTES} minute(s)`,
    schedule: events.Schedule.rate(Duration.minutes(SWEEPER_RATE_MINUTES)),
    targets: [
      new targets.LambdaFunction(sweeper.sweeperFunction, {
        retryAttempts: 2,
        maxEventAge: Duration.minutes(1),
      }),
    ],
  });
}

function grantSweeperFunction(fn: PunctualFunction, props: SweeperProps): void {
  const { table, timerQueues, topics } = props;
  table.grantStoreAccess(fn, PIPELINE_STORE_METHODS.sweeper);
  props.runtimeSettings.grantRead(fn);
  // A topic its runtime settings pause: read its deliver mapping, and switch it (never re-point it, grantSwitch).
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["lambda:GetEventSourceMapping"],
      resources: topics.map((topic) => topic.deliverMappingArn),
    }),
  );
  grantTopicSwitch(topics, fn);
  timerQueues.grantArmTimers(fn);
  for (const topic of topics) {
    grantSendOnly(topic.queue, fn);
    grantSendOnly(topic.deadLetterQueue, fn);
    // Reconciling the topic DLQ with the table (shared/services/sweeper/topic-dead-letters.ts): receive,
    // delete a replayed task's message, make a still-failed one visible again. The messages SQS moved there stay
    // encrypted as the topic queue encrypted them, so receiving them takes Decrypt on that queue's key too, which
    // the send grant above gives (test/cdk/queue-keys.test.ts checks every DLQ's receivers for it).
    grantDrain(topic.deadLetterQueue, fn);
  }
  // The timer-side pointers (shared/services/sweeper/pointers.ts): receive, delete what resolved; never released.
  grantReceiveAndDelete(timerQueues.deadLetterQueue, fn);
  grantReceiveAndDelete(timerQueues.scheduleDeadLetterQueue, fn);
}

function addSweeperAlarms(sweeper: Sweeper, props: SweeperProps): void {
  const { config, alarms } = props;
  const label = `Punctual ${config.name} sweeper`;
  alarms.watchFunction(sweeper.sweeperFunction, `${label} function`);
  alarms.watchNotRunning(sweeper, sweeper.sweeperFunction, label, "orphaned tasks are not being repaired.");
  alarms.watchServiceCount(sweeper, "RepairFailuresAlarm", {
    config,
    metricName: METRIC.sweepFailures,
    periods: 3,
    description: `${label}: repairs have been failing for 15 minutes (each run retries them; see the sweeper's logs).`,
  });
}

/**
 * How long a topic's group head may idle before the sweeper counts it as stalled: derived from the deliver
 * function's timeout and its queue's visibility timeout, which only the CDK's sizing knows; it reaches the
 * sweeper through the topology contract.
 */
function topicStalledAfterMs(config: PunctualConfig, topicName: string): number {
  const topic = config.resolvedTopics[topicName] as TopicConfig;
  const timeoutSeconds = deliverTimeoutSeconds(topic);
  return stalledAfterMs(topic, config.sweeper, {
    timeoutSeconds,
    visibilityTimeoutSeconds: visibilityTimeoutSeconds(timeoutSeconds),
  });
}
