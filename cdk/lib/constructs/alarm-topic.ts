import { ArnFormat, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { PunctualConfig } from "#shared/config/index.js";
import { METRICS_NAMESPACE, serviceName } from "#shared/domain/metrics.js";

export interface AlarmTopicProps {
  readonly config: PunctualConfig;
}

export interface PunctualAlarmProps {
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly description: string;
  readonly comparisonOperator?: cloudwatch.ComparisonOperator;
  readonly evaluationPeriods?: number;
  readonly datapointsToAlarm?: number;
  readonly treatMissingData?: cloudwatch.TreatMissingData;
}

/**
 * The environment's one alarm topic and the factory for every alarm: each alarm created through `alarm()`
 * notifies the topic when it fires and when it recovers.
 *
 * The topic is encrypted with a customer managed key because CloudWatch cannot publish to a topic encrypted
 * with the AWS managed `aws/sns` key: the key policy must let `cloudwatch.amazonaws.com` use the key. The topic
 * policy (which replaces SNS's default policy once `enforceSSL` adds a statement) allows CloudWatch alarms of
 * this account to publish, and denies publishing without TLS.
 */
export class AlarmTopic extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;
  readonly alarms: cloudwatch.Alarm[] = [];
  private readonly action: actions.SnsAction;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    const { config } = props;
    this.key = this.encryptionKey(config.name);
    this.topic = this.alarmTopic(config.name, this.key);
    this.subscribe(this.topic, config.alarmSubscribers);
    this.action = new actions.SnsAction(this.topic);
  }

  /** The customer managed key CloudWatch may use for this account's topics (see the class comment). */
  private encryptionKey(name: string): kms.Key {
    const key = new kms.Key(this, "Key", {
      description: `Punctual ${name}: encrypts the alarm notification topic`,
      enableKeyRotation: true,
      // Nothing durable is encrypted with it (notifications are transient), so it never needs to outlive the stack.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "AllowCloudWatchAlarmsToUseTheKey",
        principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
        resources: ["*"],
        // SNS names the topic in every data key's encryption context: without this condition any account's
        // alarm could have CloudWatch use our key for its own topic. Scoped to this account's topics in this
        // Region, not to the topic's own ARN: that ARN in the key policy would make the key depend on the
        // topic it encrypts (a cycle), and a fixed topic name to break it would replace the deployed topic
        // (its e-mail subscribers would have to confirm again).
        conditions: {
          StringLike: {
            "kms:EncryptionContext:aws:sns:topicArn": Stack.of(this).formatArn({
              service: "sns",
              resource: "*",
              arnFormat: ArnFormat.NO_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    return key;
  }

  /** The topic, which only this account's CloudWatch alarms may publish to, and only over TLS. */
  private alarmTopic(name: string, key: kms.Key): sns.Topic {
    const stack = Stack.of(this);
    const topic = new sns.Topic(this, "Topic", {
      displayName: `Punctual ${name} alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "AllowCloudWatchAlarmsToPublish",
        principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["sns:Publish"],
        resources: [topic.topicArn],
        conditions: {
          StringEquals: { "aws:SourceAccount": stack.account },
          // Alarm ARNs separate the name with a colon (`…:alarm:<name>`), not a slash: a `alarm/*` pattern
          // matches no alarm at all and every notification would be refused.
          ArnLike: {
            "aws:SourceArn": stack.formatArn({
              service: "cloudwatch",
              resource: "alarm",
              resourceName: "*",
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    return topic;
  }

  private subscribe(topic: sns.Topic, subscribers: PunctualConfig["alarmSubscribers"]): void {
    for (const email of subscribers.emails) {
      topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
    for (const url of subscribers.httpsUrls) {
      topic.addSubscription(
        new subscriptions.UrlSubscription(url, { protocol: sns.SubscriptionProtocol.HTTPS }),
      );
    }
  }

  /** Creates an alarm wired to the topic for both ALARM and OK transitions. */
  alarm(scope: Construct, id: string, props: PunctualAlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(scope, id, {
      metric: props.metric,
      threshold: props.threshold,
      alarmDescription: props.description,
      comparisonOperator:
        props.comparisonOperator ?? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: props.evaluationPeriods ?? 1,
      datapointsToAlarm: props.datapointsToAlarm,
      treatMissingData: props.treatMissingData ?? cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarms.push(alarm);
    return alarm;
  }

  /**
   * Function crashed or timed out (reported batch-item failures are not errors), and throttles. `expectedErrors`:
   * a count (5-minute sums) of the errors the function throws on purpose, left out of the errors alarm (the
   * settings validator refuses a document by throwing, as AppConfig requires).
   */
  watchFunction(fn: lambda.Function, label: string, expectedErrors?: cloudwatch.IMetric): void {
    const period = Duration.minutes(5);
    const errors = fn.metricErrors({ period, statistic: cloudwatch.Stats.SUM });
    this.alarm(fn, "ErrorsAlarm", {
      metric: expectedErrors
        ? new cloudwatch.MathExpression({
            expression: "errors - FILL(refused, 0)",
            usingMetrics: { errors, refused: expectedErrors },
            period,
            label: "errors not expected",
          })
        : errors,
      threshold: 1,
      description: `${label}: the function failed (uncaught error or timeout) at least once in 5 minutes.`,
    });
    this.alarm(fn, "ThrottlesAlarm", {
      metric: fn.metricThrottles({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      description: `${label}: invocations were throttled (account or function concurrency exhausted).`,
    });
  }

  /**
   * A function an EventBridge rule runs every few minutes (sweeper, schedule materializer): no invocation for 10
   * minutes means the rule was disabled or deleted. `consequence` says what then stops happening.
   *
   * Lambda publishes no Invocations data point for a period without one, and missing data as `breaching` alone would
   * not fire in 10 minutes: CloudWatch evaluates a range longer than the evaluation periods, and while it still
   * holds as many real data points as periods (the last runs') those decide, so the alarm fired only once they had
   * left the range, some 20 minutes after the last run
   * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html, "How alarm state
   * is evaluated when data is missing"). FILL makes each period without a run a real 0
   * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html); `breaching` stays for a
   * query that returns nothing at all.
   */
  watchNotRunning(scope: Construct, fn: lambda.Function, label: string, consequence: string): void {
    const period = Duration.minutes(5);
    this.alarm(scope, "NotRunningAlarm", {
      metric: new cloudwatch.MathExpression({
        expression: "FILL(invocations, 0)",
        usingMetrics: { invocations: fn.metricInvocations({ period, statistic: cloudwatch.Stats.SUM }) },
        period,
        label: "invocations (0 without any)",
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      description: `${label}: not invoked for 10 minutes (rule disabled or deleted?): ${consequence}`,
    });
  }

  /**
   * A count a scheduled function publishes per service (`metricName`, EMF) was ≥ 1 in each of `periods` 5-minute
   * periods in a row: 3 for failures a later run retries (every run has been failing for 15 minutes), 1 for losses
   * nothing retries. Five minutes, not one, for functions run every minute: a run's data point lands in whichever
   * minute it finishes, so a 1-minute period would flip OK and back between runs while the condition goes on.
   * `description` says what it means.
   */
  watchServiceCount(
    scope: Construct,
    id: string,
    props: {
      readonly config: PunctualConfig;
      readonly metricName: string;
      readonly periods: number;
      readonly description: string;
    },
  ): void {
    this.alarm(scope, id, {
      metric: serviceMetric(props.config, props.metricName, cloudwatch.Stats.SUM, Duration.minutes(5)),
      threshold: 1,
      evaluationPeriods: props.periods,
      datapointsToAlarm: props.periods,
      description: props.description,
    });
  }

  /**
   * A value a function run every minute publishes once a run per service (`metricName`, EMF), such as the
   * materializer's lag, was above `threshold` in each of `minutes` 1-minute periods in a row (the periods' Maximum:
   * the worst run of the minute). A run's data point lands in whichever minute it ends, so a minute may have none:
   * with missing data treated as `ignore`, CloudWatch then evaluates the most recent real data points of its
   * evaluation range, and the gap neither breaks nor fills the streak. (`notBreaching` would count the gap as a good
   * minute: a lasting lag whose runs end either side of a minute boundary would never make 3 in a row.) No data at
   * all (the function not running, its not-running alarm's to report) keeps the alarm's state; `missing` would go to
   * INSUFFICIENT_DATA and, when runs come back, send an OK that follows no ALARM.
   */
  watchServiceMaximum(
    scope: Construct,
    id: string,
    props: {
      readonly config: PunctualConfig;
      readonly metricName: string;
      readonly threshold: number;
      readonly minutes: number;
      readonly description: string;
    },
  ): void {
    this.alarm(scope, id, {
      metric: serviceMetric(props.config, props.metricName, cloudwatch.Stats.MAXIMUM, Duration.minutes(1)),
      threshold: props.threshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: props.minutes,
      datapointsToAlarm: props.minutes,
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
      description: props.description,
    });
  }

  /**
   * Any message in a topic's dead-letter queue needs an operator. Visible and in-flight messages are counted
   * together: the sweeper reads each topic DLQ through every run (shared/services/sweeper/topic-dead-letters.ts)
   * and hides what it reads until the run ends, so a queue holding only failed messages can show none visible for
   * a minute, which would clear the alarm and raise it again.
   */
  watchDeadLetterQueue(queue: sqs.IQueue, label: string): void {
    this.alarm(queue, "NotEmptyAlarm", {
      metric: messagesInQueue(queue),
      threshold: 1,
      description: `${label} is not empty: messages were dead-lettered and need an operator (inspect, then redrive or purge).`,
    });
  }

  /**
   * A dead-letter queue the sweeper drains (the timer and schedule DLQs): a message there is normally resolved
   * and deleted within a run or two, so only one still there — visible or being retried — after `minutes`
   * consecutive minutes needs an operator. Visible and in-flight messages are counted together, because the
   * sweeper keeps receiving the message it cannot resolve.
   */
  watchSweptDeadLetterQueue(queue: sqs.IQueue, label: string, minutes: number): void {
    this.alarm(queue, "UnresolvedAlarm", {
      metric: messagesInQueue(queue),
      threshold: 1,
      evaluationPeriods: minutes,
      datapointsToAlarm: minutes,
      description: `${label} has held messages for ${minutes} minutes: the sweeper drains it (each message names a task it re-arms or finds finished), so these are ones it could not resolve (unreadable, or their repair keeps failing; see the sweeper's logs).`,
    });
  }

  /** The oldest message has waited longer than `seconds`: consumers are stuck or too slow. */
  watchBacklog(queue: sqs.IQueue, seconds: number, label: string): void {
    this.alarm(queue, "BacklogAgeAlarm", {
      metric: queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: seconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      description: `${label}: the oldest message has been waiting more than ${seconds} s for 3 minutes.`,
    });
  }
}

/** A metric a Punctual function publishes (EMF) under its service dimension alone. */
function serviceMetric(
  config: PunctualConfig,
  metricName: string,
  statistic: string,
  period: Duration,
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: serviceName(config.name) },
    statistic,
    period,
  });
}

/**
 * A queue's messages, visible and in flight, per minute (the maximum of each): a dead-letter queue's depth, which the
 * dashboard graphs as its alarms count it. `idSuffix` keeps the expression's ids apart when one graph shows several
 * queues (CloudWatch refuses two metrics with one id there).
 *
 * Each FILLed with 0: SQS reports NotVisible only "if in-flight messages exist" and Visible "if the queue is active"
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html),
 * and a sum needs a data point of each (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html):
 * a plain `visible + inFlight` had none for a dead letter nobody was receiving, which the alarms read as not
 * breaching, so they never fired for it.
 */
export function messagesInQueue(queue: sqs.IQueue, label = "messages", idSuffix = ""): cloudwatch.IMetric {
  const period = Duration.minutes(1);
  const [visible, inFlight] = [`visible${idSuffix}`, `inFlight${idSuffix}`];
  return new cloudwatch.MathExpression({
    expression: `FILL(${visible}, 0) + FILL(${inFlight}, 0)`,
    usingMetrics: {
      [visible]: queue.metricApproximateNumberOfMessagesVisible({
        period,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      [inFlight]: queue.metricApproximateNumberOfMessagesNotVisible({
        period,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
    },
    label,
    period,
  });
}
