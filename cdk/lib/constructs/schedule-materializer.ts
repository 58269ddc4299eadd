import { Duration, type RemovalPolicy, Stack } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import type * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { PIPELINE_STORE_METHODS } from "#shared/adapters/dynamo-task-store.js";
import type { PunctualConfig } from "#shared/config/index.js";
import type { Topology } from "#shared/contract/topology.js";
import { METRIC } from "#shared/domain/metrics.js";
import { ENV } from "#shared/runtime/env.js";
import { MATERIALIZER_RATE_MINUTES, MATERIALIZER_TIMEOUT_SECONDS } from "../sizing.js";
import type { AlarmTopic } from "./alarm-topic.js";
import { environmentFunctionProps, PunctualFunction } from "./punctual-function.js";
import { grantSendOnly } from "./queue-defaults.js";
import type { RuntimeSettings } from "./runtime-settings.js";
import type { TaskTable } from "./task-table.js";
import type { TimerQueues } from "./timer-queues.js";
import type { TimerScheduler } from "./timer-scheduler.js";

export interface ScheduleMaterializerProps {
  readonly config: PunctualConfig;
  readonly table: TaskTable;
  readonly timerQueues: TimerQueues;
  readonly timerScheduler: TimerScheduler;
  readonly alarms: AlarmTopic;
  /** The runtime topic settings the occurrences are added under (topic settings without a deploy). */
  readonly runtimeSettings: RuntimeSettings;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The schedule materializer (issue 14, point 4; shared/services/schedules/run.ts): an EventBridge rule fires it
 * every minute; it makes the occurrences of active schedules within the horizon ordinary tasks, through the
 * add-task service.
 *
 * Least privilege: exactly the DynamoDB calls of its store methods (PIPELINE_STORE_METHODS["schedule-materializer"]:
 * Query on the schedule index, item reads and conditional writes on the table), SendMessage to the timer queue,
 * and the add path's schedule arm/disarm (an occurrence is armed on the timer queue whenever the timer horizon
 * covers the materializer's; cancelling one made with a schedule deletes it). Alarms: errors and throttles, not
 * running, materializations that keep failing, any occurrence skipped.
 */
export class ScheduleMaterializer extends Construct {
  readonly materializerFunction: PunctualFunction;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: ScheduleMaterializerProps) {
    super(scope, id);
    const { config, table, timerQueues, timerScheduler, alarms } = props;
    this.materializerFunction = new PunctualFunction(this, "MaterializerFunction", {
      name: "schedule-materializer",
      ...environmentFunctionProps(config),
      timeout: Duration.seconds(MATERIALIZER_TIMEOUT_SECONDS),
      description: `Punctual ${config.name}: makes recurring schedules' next occurrences tasks`,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      environment: {
        [ENV.tableName]: table.tableName,
        [ENV.timerQueueUrl]: timerQueues.queue.queueUrl,
        [ENV.timerQueueArn]: timerQueues.queue.queueArn,
        [ENV.scheduleGroupName]: timerScheduler.group.scheduleGroupName,
        [ENV.schedulerRoleArn]: timerScheduler.role.roleArn,
        [ENV.scheduleDlqArn]: timerQueues.scheduleDeadLetterQueue.queueArn,
        [ENV.topology]: Stack.of(this).toJsonString({
          topicSettings: props.runtimeSettings.topology,
        } satisfies Topology),
      },
    });
    // The next run is the retry (the cursor did not move); a re-invoked run would only overlap it.
    this.materializerFunction.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    this.rule = new events.Rule(this, "Schedule", {
      description: `Punctual ${config.name}: runs the schedule materializer every ${MATERIALIZER_RATE_MINUTES} minute(s)`,
      schedule: events.Schedule.rate(Duration.minutes(MATERIALIZER_RATE_MINUTES)),
      targets: [
        new targets.LambdaFunction(this.materializerFunction, {
          retryAttempts: 2,
          maxEventAge: Duration.minutes(1),
        }),
      ],
    });
    table.grantStoreAccess(this.materializerFunction, PIPELINE_STORE_METHODS["schedule-materializer"]);
    grantSendOnly(timerQueues.queue, this.materializerFunction);
    timerScheduler.grantArm(this.materializerFunction);
    // A run whose schedule was stopped meanwhile cancels the occurrences it added (cancelOccurrences).
    timerScheduler.grantDisarm(this.materializerFunction);
    props.runtimeSettings.grantRead(this.materializerFunction);
    this.addAlarms(config, alarms);
  }

  private addAlarms(config: PunctualConfig, alarms: AlarmTopic): void {
    const label = `Punctual ${config.name} schedule materializer`;
    alarms.watchFunction(this.materializerFunction, `${label} function`);
    alarms.watchNotRunning(this, this.materializerFunction, label, "schedules make no new occurrences.");
    alarms.watchServiceCount(this, "FailuresAlarm", {
      config,
      metricName: METRIC.materializeFailures,
      periods: 3,
      description: `${label}: materializations have been failing for 15 minutes (see its logs); occurrences ahead run out after 4 minutes.`,
    });
    // A skipped occurrence is never retried: each one is a delivery lost, so the first one notifies (the loss has
    // happened either way; the 5-minute period only keeps the alarm from flapping between runs).
    alarms.watchServiceCount(this, "SkippedOccurrencesAlarm", {
      config,
      metricName: METRIC.occurrencesSkipped,
      periods: 1,
      description: `${label}: occurrences were skipped in the last 5 minutes (the add-task checks refused them, e.g. the callback host left the topic's allow-list); they will not be delivered. Find the schedules by skipped_occurrences / last_skipped (GET /v1/schedules?topic=) or the materializer's log ('an occurrence was refused by the add-task checks; skipped').`,
    });
  }
}
