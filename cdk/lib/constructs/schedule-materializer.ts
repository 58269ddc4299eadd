import { Duration, type RemovalPolicy, Stack } from "aws-cdk-lib";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import type * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { PIPELINE_STORE_METHODS } from "#shared/adapters/dynamo-task-store.js";
import type { PunctualConfig } from "#shared/config/index.js";
import type { Topology } from "#shared/contract/topology.js";
import { METRIC } from "#shared/domain/metrics.js";
import { MATERIALIZE_HORIZON_MS, MAX_OCCURRENCES_PER_RUN } from "#shared/domain/schedule.js";
import { ENV } from "#shared/runtime/env.js";
import { MATERIALIZER_RATE_MINUTES, MATERIALIZER_TIMEOUT_SECONDS } from "../sizing.js";
import type { AlarmTopic } from "./alarm-topic.js";
import { environmentFunctionProps, PunctualFunction } from "./punctual-function.js";
import type { RuntimeSettings } from "./runtime-settings.js";
import type { TaskTable } from "./task-table.js";
import type { TimerQueues } from "./timer-queues.js";
import type { TimerScheduler } from "./timer-scheduler.js";

/**
 * The lag alarm: ScheduleMaterializerLag above LAG_ALARM_SECONDS in each of LAG_ALARM_MINUTES minutes.
 * - 120 s: a run that came up short once leaves schedules due for at most ~110 s at its end (due since the
 *   previous run read the index at the latest: ≤ 60 s between runs, plus ≤ 50 s of run), and the next run takes
 *   them first; past 120 s a schedule has been left by two runs in a row.
 * - 3 minutes: it lasts, not a burst (many schedules created or resumed at once) that the next runs clear.
 * - Together: the lag of what is left grows at most 60 s a minute, so at the third minute above 120 s it is at most
 *   ~240 s, the 4-minute horizon: the alarm notifies about when the first occurrence would come late, earlier when
 *   the materializer falls behind slowly (test/cdk/schedule-materializer.test.ts holds the two to the horizon).
 */
export const LAG_ALARM_SECONDS = 120;
const LAG_ALARM_MINUTES = 3;

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
 * running, materializations that keep failing, any occurrence skipped, falling behind.
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
    timerQueues.grantArmTimers(this.materializerFunction);
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
    // Behind (ScheduleMaterializerLag, seconds) by more than LAG_ALARM_SECONDS for LAG_ALARM_MINUTES: see there.
    alarms.watchServiceMaximum(this, "LagAlarm", {
      config,
      metricName: METRIC.materializerLag,
      threshold: LAG_ALARM_SECONDS,
      minutes: LAG_ALARM_MINUTES,
      description: `${label}: falling behind: for ${LAG_ALARM_MINUTES} minutes each run has ended leaving a schedule due for more than ${LAG_ALARM_SECONDS} s (ScheduleMaterializerLag: out of time, more due than a run reads, or a cron past its ${MAX_OCCURRENCES_PER_RUN} occurrences a run). Past ${MATERIALIZE_HORIZON_MS / 60_000} minutes (a topic's maxDelay if shorter) its occurrences are made late, later every minute while it lasts. The environment has more occurrences a minute than a run makes (docs/API.md, schedules, "Occurrences per minute"): pause or slow its fastest schedules; check the add path's latency (the materializer's logs, DynamoDB and SQS throttles).`,
    });
  }
}
