import { ArnFormat, type CfnResource, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import * as appconfig from "aws-cdk-lib/aws-appconfig";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import type { PunctualConfig } from "#shared/config/index.js";
import { SETTINGS_ROLLOUT_MINUTES, settingsDocumentOf } from "#shared/config/runtime-settings.js";
import type { Topology } from "#shared/contract/topology.js";
import { METRIC, METRICS_NAMESPACE, serviceName, TOPIC_DIMENSION } from "#shared/domain/metrics.js";
import type { AlarmTopic } from "./alarm-topic.js";
import { environmentFunctionProps, PunctualFunction } from "./punctual-function.js";

export interface RuntimeSettingsProps {
  readonly config: PunctualConfig;
  readonly alarms: AlarmTopic;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
}

/** The configuration profile's name: what `aws appconfig` commands and docs/OPERATIONS.md call it. */
export const TOPIC_SETTINGS_PROFILE_NAME = "topic-settings";

/**
 * Failed delivery attempts (all topics, one minute) at or above which a settings deployment in progress or baking
 * is rolled back. A bad change shows there first: a shrunk allow-list refuses callbacks, a shorter timeout fails
 * slow receivers. A receiver outage during a deployment also rolls it back, the conservative side.
 */
export const SETTINGS_ROLLBACK_FAILED_ATTEMPTS = 20;

/**
 * Topic settings without a deploy (issue 14.5): an AppConfig application with one environment and one hosted,
 * freeform JSON profile whose initial version is the CDK-resolved settings of every topic
 * (shared/config/runtime-settings.ts). A Lambda validator runs the same zod schema as the functions; deployments
 * roll out linearly and bake under an alarm on failed delivery attempts, which rolls them back. Functions that
 * read topic settings get the ids in their topology (`topicSettings`) and `grantRead` on exactly this profile.
 */
export class RuntimeSettings extends Construct {
  readonly application: appconfig.Application;
  readonly environment: appconfig.Environment;
  readonly profile: appconfig.HostedConfiguration;
  readonly validator: PunctualFunction;
  readonly rollbackAlarm: cloudwatch.Alarm;
  readonly deploymentStrategy: appconfig.DeploymentStrategy;

  constructor(scope: Construct, id: string, props: RuntimeSettingsProps) {
    super(scope, id);
    const { config } = props;
    this.application = new appconfig.Application(this, "Application", {
      applicationName: `punctual-${config.name}`,
      description: `Punctual ${config.name}: runtime topic settings`,
    });
    this.rollbackAlarm = this.failedAttemptsAlarm(props);
    const monitorRole = this.alarmReaderRole();
    this.environment = new appconfig.Environment(this, "Environment", {
      application: this.application,
      environmentName: config.name,
      description: `Punctual ${config.name}: the functions of this stack`,
      monitors: [appconfig.Monitor.fromCloudWatchAlarm(this.rollbackAlarm, monitorRole)],
    });
    this.validator = new PunctualFunction(this, "ValidatorFunction", {
      name: "validate-topic-settings",
      ...environmentFunctionProps(config),
      timeout: Duration.seconds(15),
      memorySize: 256,
      description: `Punctual ${config.name}: AppConfig validator of the topic settings (the functions' zod schema)`,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    // Only AppConfig of this account may invoke the validator (the L2 validator reuses this permission by its id).
    this.validator.addPermission("AppConfigPermission", {
      principal: new iam.ServicePrincipal("appconfig.amazonaws.com"),
      sourceAccount: Stack.of(this).account,
    });
    // It refuses a document by throwing (AppConfig reads a function error as "invalid"): its errors alarm counts
    // the errors that are not refusals, or every mistyped edit would page as a crash.
    const refusals = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: METRIC.settingsRefused,
      dimensionsMap: { service: serviceName(config.name) },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
    });
    props.alarms.watchFunction(
      this.validator,
      `Punctual ${config.name} topic settings validator function`,
      refusals,
    );
    // Linear 50 % per minute, then 5 minutes of bake time under the rollback alarm (AWS: 0–1440 minutes each,
    // growth factor 1–100 %). Functions refresh within 45 s, so each step reaches its share of them.
    this.deploymentStrategy = new appconfig.DeploymentStrategy(this, "DeploymentStrategy", {
      description: `Punctual ${config.name}: topic settings rollout`,
      rolloutStrategy: appconfig.RolloutStrategy.linear({
        growthFactor: 50,
        deploymentDuration: Duration.minutes(SETTINGS_ROLLOUT_MINUTES),
        finalBakeTime: Duration.minutes(5),
      }),
    });
    this.profile = new appconfig.HostedConfiguration(this, "TopicSettings", {
      application: this.application,
      name: TOPIC_SETTINGS_PROFILE_NAME,
      description: "Delivery settings of the deployed topics (shared/config/runtime-settings.ts)",
      type: appconfig.ConfigurationType.FREEFORM,
      content: appconfig.ConfigurationContent.fromInlineJson(
        JSON.stringify(settingsDocumentOf(config), null, 2),
      ),
      validators: [appconfig.LambdaValidator.fromFunction(this.validator)],
      deploymentStrategy: this.deploymentStrategy,
      deployTo: [this.environment],
    });
    // The deployment `deployTo` creates runs the validator and watches the alarm through the monitor role as soon
    // as it starts, but the AppConfig resources name neither the invoke permission nor the role's policy (only the
    // function and the role): without this, CloudFormation may start it first and the stack's creation fails.
    this.profile.node.addDependency(this.validator.node.findChild("AppConfigPermission"), monitorRole);
    this.retainOnStackDeletion();
  }

  /**
   * Whatever the environment's removal policy, the application, environment and profile stay when the stack is
   * deleted, as the hosted versions do (CDK retains the version it makes; a deploy that changes the settings leaves
   * the previous one; each runtime edit adds one outside CloudFormation). AppConfig refuses to delete a profile
   * that still has hosted versions ("Cannot delete configuration profile … because there are still hosted
   * configuration versions existing under it", aws/aws-cdk#26804): deleted with the stack, it would fail the
   * stack's deletion half-way. They cost nothing at rest; docs/OPERATIONS.md ("Deleting a stack") says how to remove them by hand.
   */
  private retainOnStackDeletion(): void {
    const profile = this.profile.node.findChild("ConfigurationProfile") as CfnResource;
    for (const resource of [this.application, this.environment, profile]) {
      resource.applyRemovalPolicy(RemovalPolicy.RETAIN);
    }
  }

  /** The topology section of every function that reads topic settings. */
  get topology(): NonNullable<Topology["topicSettings"]> {
    return {
      applicationId: this.application.applicationId,
      environmentId: this.environment.environmentId,
      profileId: this.profile.configurationProfileId,
    };
  }

  /** The ARN AppConfig Data authorizes a session against: exactly this application, environment and profile. */
  get configurationArn(): string {
    return Stack.of(this).formatArn({
      service: "appconfig",
      resource: "application",
      resourceName: `${this.application.applicationId}/environment/${this.environment.environmentId}/configuration/${this.profile.configurationProfileId}`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  }

  /** Start a configuration session on this profile and poll it; nothing else in AppConfig. */
  grantRead(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ["appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"],
        resources: [this.configurationArn],
      }),
    );
  }

  /**
   * What AppConfig assumes to watch the rollback alarm: DescribeAlarms on that alarm only (CDK's default role
   * would allow it on `*`). Its trust has no `aws:SourceAccount`/`aws:SourceArn` condition, unlike the Scheduler
   * role's: AppConfig documents neither for this role (its setup guide's trust policy has none), a condition it
   * does not send would silently turn every rollback off, and it takes only a role of its own account.
   */
  private alarmReaderRole(): iam.Role {
    const role = new iam.Role(this, "MonitorRole", {
      assumedBy: new iam.ServicePrincipal("appconfig.amazonaws.com"),
      description: "AppConfig reads the topic settings rollback alarm",
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ["cloudwatch:DescribeAlarms"],
        resources: [this.rollbackAlarm.alarmArn],
      }),
    );
    return role;
  }

  private failedAttemptsAlarm(props: RuntimeSettingsProps): cloudwatch.Alarm {
    const { config } = props;
    return props.alarms.alarm(this, "RollbackAlarm", {
      metric: failedAttemptsOfAllTopics(config),
      threshold: SETTINGS_ROLLBACK_FAILED_ATTEMPTS,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      description: `Punctual ${config.name}: ${SETTINGS_ROLLBACK_FAILED_ATTEMPTS}+ failed delivery attempts in a minute. Rolls back a topic settings deployment in progress (AppConfig monitor).`,
    });
  }
}

/**
 * An alarm's metric math retrieves at most 10 metrics (PutMetricAlarm `Metrics`; CDK refuses more at synth).
 * Up to that many topics, the sum of each topic's failed attempts (FILL: a quiet topic counts 0); beyond, one
 * Metrics Insights query summing the metric over every Topic of this service — the dimensions the deliver
 * function emits it under — which is one query whatever the number of topics.
 */
export const MAX_METRICS_PER_ALARM = 10;

function failedAttemptsOfAllTopics(config: PunctualConfig): cloudwatch.MathExpression {
  const service = serviceName(config.name);
  const topics = Object.keys(config.resolvedTopics);
  const common = { label: "failed delivery attempts, all topics", period: Duration.minutes(1) };
  if (topics.length > MAX_METRICS_PER_ALARM) {
    return new cloudwatch.MathExpression({
      ...common,
      expression: `SELECT SUM("${METRIC.attemptFailed}") FROM SCHEMA("${METRICS_NAMESPACE}", "${TOPIC_DIMENSION}", service) WHERE service = '${service}'`,
      usingMetrics: {},
    });
  }
  const usingMetrics: Record<string, cloudwatch.IMetric> = {};
  topics.forEach((topic, index) => {
    usingMetrics[`failed${index}`] = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: METRIC.attemptFailed,
      dimensionsMap: { service, [TOPIC_DIMENSION]: topic },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(1),
    });
  });
  return new cloudwatch.MathExpression({
    ...common,
    expression: Object.keys(usingMetrics)
      .map((name) => `FILL(${name}, 0)`)
      .join(" + "),
    usingMetrics,
  });
}
