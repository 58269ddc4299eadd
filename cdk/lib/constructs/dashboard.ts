import { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { PunctualConfig } from "#shared/config/index.js";
import { METRIC, METRICS_NAMESPACE, serviceName, TOPIC_DIMENSION } from "#shared/domain/metrics.js";
import { MATERIALIZE_HORIZON_MS } from "#shared/domain/schedule.js";
import { type AlarmTopic, messagesInQueue } from "./alarm-topic.js";
import { LAG_ALARM_SECONDS } from "./schedule-materializer.js";
import type { TimerQueues } from "./timer-queues.js";
import type { TimerScheduler } from "./timer-scheduler.js";
import type { Topic } from "./topic.js";

export interface DashboardProps {
  readonly config: PunctualConfig;
  readonly topics: readonly Topic[];
  readonly timerQueues: TimerQueues;
  readonly timerScheduler: TimerScheduler;
  /** Every function of the stack: their errors, throttles and concurrency. */
  readonly functions: readonly lambda.IFunction[];
  readonly alarms: AlarmTopic;
}

const PERIOD = Duration.minutes(1);
const FULL_WIDTH = 24;
const HEIGHT = 6;

/**
 * One CloudWatch dashboard per environment: per topic adds / delivered / dead-lettered, lateness p50/p99 and
 * callback latency p99, FIFO backlog age and DLQ depth (visible and in flight); the timer queue; Scheduler failures and throttling; the schedule
 * materializer's lag and occurrences; every function's
 * errors, throttles and concurrency; and the state of every alarm. No physical name: CloudFormation names it
 * (the stack output `DashboardName`), so two environments in one account never collide.
 * test/cdk/dashboard-metrics.test.ts checks that every widget's metric is one that really gets published.
 */
export class Dashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: DashboardProps) {
    super(scope, id);
    this.dashboard = new cloudwatch.Dashboard(this, "Dashboard", {
      defaultInterval: Duration.hours(3),
      periodOverride: cloudwatch.PeriodOverride.AUTO,
    });
    this.dashboard.addWidgets(...alarmStatus(props.alarms));
    for (const topic of props.topics) this.dashboard.addWidgets(...topicWidgets(props.config, topic));
    this.dashboard.addWidgets(...timerWidgets(props.timerQueues, props.timerScheduler));
    this.dashboard.addWidgets(...materializerWidgets(props.config));
    this.dashboard.addWidgets(...functionWidgets(props.functions));
  }

  get dashboardName(): string {
    return this.dashboard.dashboardName;
  }
}

/**
 * Alarm-status widgets, at most ALARMS_PER_WIDGET alarms each: a precaution (the dev stack has ~60 alarms and
 * each topic adds 6), since a console grid of hundreds of alarms is unreadable and we found no documented
 * upper bound to rely on.
 */
const ALARMS_PER_WIDGET = 100;
function alarmStatus(alarms: AlarmTopic): cloudwatch.IWidget[] {
  const widgets: cloudwatch.IWidget[] = [];
  for (let i = 0; i < alarms.alarms.length; i += ALARMS_PER_WIDGET) {
    widgets.push(
      new cloudwatch.AlarmStatusWidget({
        title: i === 0 ? "Alarms" : `Alarms (${i + 1}-)`,
        alarms: alarms.alarms.slice(i, i + ALARMS_PER_WIDGET),
        width: FULL_WIDTH,
        height: HEIGHT,
        sortBy: cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
      }),
    );
  }
  return widgets;
}

/**
 * What our functions publish (EMF), under exactly the dimensions they add: the service, and the topic for what
 * they publish per topic.
 */
function ownMetric(
  config: PunctualConfig,
  topic: Topic | undefined,
  metricName: string,
  statistic: string,
  label: string,
) {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: serviceName(config.name), ...(topic ? { [TOPIC_DIMENSION]: topic.name } : {}) },
    statistic,
    period: PERIOD,
    label,
  });
}

/**
 * A count as a rate per minute at whatever period the graph shows: the dashboard's period is `auto` (it follows the
 * time range chosen), and 1-minute data is kept 15 days only, then 5-minute, then 1-hour
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html): a plain Sum under
 * a "per minute" title read 5 or 60 times the rate once the range was longer. PERIOD() is metric math's
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html). `id` is unique within
 * its widget.
 */
function perMinute(id: string, sum: cloudwatch.IMetric, label: string): cloudwatch.IMetric {
  return new cloudwatch.MathExpression({
    expression: `${id} / (PERIOD(${id}) / 60)`,
    usingMetrics: { [id]: sum },
    label,
    period: PERIOD,
  });
}

function topicWidgets(config: PunctualConfig, topic: Topic): cloudwatch.IWidget[] {
  const width = FULL_WIDTH / 3;
  const count = (id: string, name: string, label: string) =>
    perMinute(id, ownMetric(config, topic, name, cloudwatch.Stats.SUM, label), label);
  const ms = (name: string, stat: string, label: string) => ownMetric(config, topic, name, stat, label);
  return [
    new cloudwatch.GraphWidget({
      title: `Topic ${topic.name}: tasks per minute`,
      width,
      height: HEIGHT,
      left: [
        count("added", METRIC.accepted, "added"),
        count("delivered", METRIC.delivered, "delivered"),
        count("failed", METRIC.deadLettered, "failed (dead-lettered)"),
        count("attempts", METRIC.attemptFailed, "attempts failed"),
      ],
    }),
    new cloudwatch.GraphWidget({
      title: `Topic ${topic.name}: lateness and callback latency (ms)`,
      width,
      height: HEIGHT,
      left: [
        ms(METRIC.lateness, cloudwatch.Stats.p(50), "lateness p50"),
        ms(METRIC.lateness, cloudwatch.Stats.p(99), "lateness p99"),
        ms(METRIC.callbackLatency, cloudwatch.Stats.p(99), "callback latency p99"),
      ],
    }),
    new cloudwatch.GraphWidget({
      title: `Topic ${topic.name}: FIFO backlog age (s) and dead-letter depth`,
      width,
      height: HEIGHT,
      left: [backlogAge(topic.queue, "oldest message age")],
      right: [messagesInQueue(topic.deadLetterQueue, "dead-letter queue")],
    }),
  ];
}

function backlogAge(queue: sqs.IQueue, label: string): cloudwatch.IMetric {
  return queue.metricApproximateAgeOfOldestMessage({
    period: PERIOD,
    statistic: cloudwatch.Stats.MAXIMUM,
    label,
  });
}

/**
 * A queue's visible messages (the timer queue's backlog). A dead-letter queue's depth is `messagesInQueue`, visible
 * and in flight as its alarm counts it: the sweeper holds what it reads through a DLQ until its run ends, so visible
 * messages alone can read 0 while failed tasks are there.
 */
function depth(queue: sqs.IQueue, label: string): cloudwatch.IMetric {
  return queue.metricApproximateNumberOfMessagesVisible({
    period: PERIOD,
    statistic: cloudwatch.Stats.MAXIMUM,
    label,
  });
}

function timerWidgets(timer: TimerQueues, scheduler: TimerScheduler): cloudwatch.IWidget[] {
  const width = FULL_WIDTH / 3;
  const schedulerSum = (name: string) =>
    scheduler.group.metric(name, { period: PERIOD, statistic: cloudwatch.Stats.SUM, label: name });
  return [
    new cloudwatch.GraphWidget({
      title: "Timer queue: backlog (messages) and age (s)",
      width,
      height: HEIGHT,
      left: [
        depth(timer.queue, "visible"),
        timer.queue.metric("ApproximateNumberOfMessagesDelayed", {
          period: PERIOD,
          statistic: cloudwatch.Stats.MAXIMUM,
          label: "delayed (short timers)",
        }),
      ],
      right: [backlogAge(timer.queue, "oldest message age")],
    }),
    new cloudwatch.GraphWidget({
      title: "Timer dead-letter queues (messages)",
      width,
      height: HEIGHT,
      left: [
        messagesInQueue(timer.deadLetterQueue, "timer DLQ", "Timer"),
        messagesInQueue(timer.scheduleDeadLetterQueue, "schedule DLQ", "Schedule"),
      ],
    }),
    new cloudwatch.GraphWidget({
      title: "Scheduler failures (schedule group) and throttling",
      width,
      height: HEIGHT,
      left: [schedulerSum("TargetErrorCount"), schedulerSum("InvocationDroppedCount")],
      // Throttled firings are delayed and retried, not lost (docs/COST-AND-SCALE.md counts on it), but they are
      // late: Scheduler's own invocation quota (InvocationThrottleCount) or SQS refusing the send
      // (TargetErrorThrottledCount) is where a burst's lateness starts before any queue shows it. AWS publishes
      // InvocationThrottleCount without a ScheduleGroup dimension (its quota is the account's): graphed per group it
      // stayed empty, so it is the account's (every group of the account and Region, ours among them).
      right: [schedulerAccountThrottles(), schedulerSum("TargetErrorThrottledCount")],
    }),
  ];
}

/**
 * Scheduler's invocations throttled for the account's quota: AWS's list of Scheduler metrics gives
 * InvocationThrottleCount no dimension (https://docs.aws.amazon.com/scheduler/latest/UserGuide/monitoring-cloudwatch.html).
 */
function schedulerAccountThrottles(): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: "AWS/Scheduler",
    metricName: "InvocationThrottleCount",
    period: PERIOD,
    statistic: cloudwatch.Stats.SUM,
    label: "InvocationThrottleCount (account)",
  });
}

/** The schedule materializer's per-run metrics (EMF, under the service dimension alone). */
function materializerWidgets(config: PunctualConfig): cloudwatch.IWidget[] {
  const width = FULL_WIDTH / 3;
  const metric = (name: string, statistic: string, label: string) =>
    ownMetric(config, undefined, name, statistic, label);
  const count = (id: string, name: string, label: string) =>
    perMinute(id, metric(name, cloudwatch.Stats.SUM, label), label);
  return [
    new cloudwatch.GraphWidget({
      title: "Schedule materializer: how far behind (s)",
      width,
      height: HEIGHT,
      left: [metric(METRIC.materializerLag, cloudwatch.Stats.MAXIMUM, "lag (longest-due schedule left)")],
      leftAnnotations: [
        { value: LAG_ALARM_SECONDS, label: "lag alarm (3 minutes above)" },
        { value: MATERIALIZE_HORIZON_MS / 1000, label: "horizon: occurrences late past it" },
      ],
    }),
    new cloudwatch.GraphWidget({
      title: "Schedule materializer: occurrences per minute",
      width,
      height: HEIGHT,
      left: [
        count("made", METRIC.occurrencesMaterialized, "made"),
        count("skipped", METRIC.occurrencesSkipped, "skipped"),
        count("failed", METRIC.materializeFailures, "schedules failed"),
      ],
    }),
  ];
}

function functionWidgets(functions: readonly lambda.IFunction[]): cloudwatch.IWidget[] {
  const width = FULL_WIDTH / 3;
  const graph = (title: string, metric: (fn: lambda.IFunction) => cloudwatch.IMetric) =>
    new cloudwatch.GraphWidget({ title, width, height: HEIGHT, left: functions.map(metric) });
  const opts = (fn: lambda.IFunction, statistic: string) => ({
    period: PERIOD,
    statistic,
    // The construct path below the stack ("Topic-orders/DeliverFunction"): ids alone repeat across topics.
    label: fn.node.path.split("/").slice(1).join("/"),
  });
  return [
    graph("Function errors", (fn) => fn.metricErrors(opts(fn, cloudwatch.Stats.SUM))),
    graph("Function throttles", (fn) => fn.metricThrottles(opts(fn, cloudwatch.Stats.SUM))),
    graph("Function concurrent executions", (fn) =>
      fn.metric("ConcurrentExecutions", opts(fn, cloudwatch.Stats.MAXIMUM)),
    ),
  ];
}
