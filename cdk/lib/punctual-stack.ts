import { CfnOutput, RemovalPolicy, Stack, type StackProps, Tags, Validations } from "aws-cdk-lib";
import type * as logs from "aws-cdk-lib/aws-logs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import type { Construct } from "constructs";
import type { PunctualConfig } from "#shared/config/index.js";
import { AlarmTopic } from "./constructs/alarm-topic.js";
import { Dashboard } from "./constructs/dashboard.js";
import { PunctualFunction } from "./constructs/punctual-function.js";
import { RuntimeSettings } from "./constructs/runtime-settings.js";
import { ScheduleMaterializer } from "./constructs/schedule-materializer.js";
import { Sweeper } from "./constructs/sweeper.js";
import { TaskApi } from "./constructs/task-api.js";
import { TaskTable } from "./constructs/task-table.js";
import { TimerQueues } from "./constructs/timer-queues.js";
import { TimerScheduler } from "./constructs/timer-scheduler.js";
import { Topic } from "./constructs/topic.js";
import { assertDeployable } from "./deployment-guards.js";
import { logRetentionDays } from "./sizing.js";

export interface PunctualStackProps extends StackProps {
  readonly config: PunctualConfig;
  /**
   * PUNCTUAL_CONFIG_OVERRIDES for every function (the `local` environment only honours it): the JSON that
   * `config` was loaded with, so that synth and the functions agree. Absent, the variable is not set.
   */
  readonly configOverridesJson?: string;
}

/** Read by `loadEnvironmentConfig` (shared/config/index.ts) in the `local` environment only. */
const CONFIG_OVERRIDES_VARIABLE = "PUNCTUAL_CONFIG_OVERRIDES";

/** `Punctual-<env>`: the stack's (and CloudFormation stack's) name for an environment. */
export function stackNameFor(environment: string): string {
  return `Punctual-${environment}`;
}

/**
 * One isolated copy of Punctual: the task API, the task table, the two-stage timer (Scheduler schedule group →
 * standard timer queue → relay), one FIFO queue + deliver function per configured topic, the orphan sweeper
 * (every minute), the signing secret, and one alarm topic that every alarm notifies.
 */
export class PunctualStack extends Stack {
  readonly config: PunctualConfig;
  readonly table: TaskTable;
  readonly alarms: AlarmTopic;
  readonly signingSecret: secretsmanager.Secret;
  readonly topics: readonly Topic[];
  readonly timerQueues: TimerQueues;
  readonly timerScheduler: TimerScheduler;
  readonly api: TaskApi;
  readonly sweeper: Sweeper;
  readonly scheduleMaterializer: ScheduleMaterializer;
  readonly dashboard: Dashboard;
  readonly runtimeSettings: RuntimeSettings;

  constructor(scope: Construct, id: string, props: PunctualStackProps) {
    super(scope, id, props);
    const { config } = props;
    assertDeployable(config, this.account);
    this.config = config;
    const removalPolicy = config.removalPolicy === "retain" ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const logRetention = logRetentionDays(config) as logs.RetentionDays;
    Tags.of(this).add("app", "punctual");
    Tags.of(this).add("environment", config.name);

    this.table = new TaskTable(this, "Tasks", { config });
    this.alarms = new AlarmTopic(this, "Alarms", { config });

    // Callback signing secret: 44 characters of [A-Za-z0-9] are valid base64 (33 bytes, 262 bits of entropy).
    // The deliver function reads it through SIGNING_SECRET_ARN and signs each topic's callbacks with that
    // topic's key, derived from it (HKDF, shared/security/signing.ts); receivers get only their topic's key.
    // Our loader also accepts a JSON value `{"current": "<base64>", "previous": …}` for hand-managed rotation.
    this.signingSecret = new secretsmanager.Secret(this, "SigningSecret", {
      description: `Punctual ${config.name}: callback signing secret (base64); each topic's receivers verify with a key derived from it (npm run signing-key)`,
      generateSecretString: { passwordLength: 44, excludePunctuation: true, includeSpace: false },
      removalPolicy,
    });
    Validations.of(this.signingSecret).acknowledge({
      id: "AwsSolutions-SMG4",
      reason:
        "Every callback receiver verifies with its topic's key, derived from this secret; an automatic rotation would break verification everywhere at once. Rotation is an operator procedure: set the new secret, let receivers accept both derived keys, then retire the old one (README).",
    });

    // Before the topics: their deliver functions read the runtime settings (issue 14.5).
    this.runtimeSettings = new RuntimeSettings(this, "RuntimeSettings", {
      config,
      alarms: this.alarms,
      removalPolicy,
      logRetention,
    });
    this.topics = Object.values(config.resolvedTopics).map(
      (topic) =>
        new Topic(this, `Topic-${topic.name}`, {
          config,
          topic,
          table: this.table,
          signingSecret: this.signingSecret,
          alarms: this.alarms,
          runtimeSettings: this.runtimeSettings,
          removalPolicy,
          logRetention,
        }),
    );
    this.timerQueues = new TimerQueues(this, "Timer", {
      config,
      table: this.table,
      topics: this.topics,
      alarms: this.alarms,
      removalPolicy,
      logRetention,
    });
    this.timerScheduler = new TimerScheduler(this, "Scheduler", {
      config,
      timerQueues: this.timerQueues,
      alarms: this.alarms,
      removalPolicy,
    });
    this.api = new TaskApi(this, "Api", {
      config,
      table: this.table,
      timerQueues: this.timerQueues,
      timerScheduler: this.timerScheduler,
      alarms: this.alarms,
      topics: this.topics,
      runtimeSettings: this.runtimeSettings,
      removalPolicy,
      logRetention,
    });
    this.sweeper = new Sweeper(this, "Sweeper", {
      config,
      table: this.table,
      timerQueues: this.timerQueues,
      topics: this.topics,
      alarms: this.alarms,
      runtimeSettings: this.runtimeSettings,
      removalPolicy,
      logRetention,
    });
    this.scheduleMaterializer = new ScheduleMaterializer(this, "ScheduleMaterializer", {
      config,
      table: this.table,
      timerQueues: this.timerQueues,
      timerScheduler: this.timerScheduler,
      alarms: this.alarms,
      runtimeSettings: this.runtimeSettings,
      removalPolicy,
      logRetention,
    });

    const functions = this.node.findAll().filter((c): c is PunctualFunction => c instanceof PunctualFunction);
    if (props.configOverridesJson) {
      for (const fn of functions) fn.addEnvironment(CONFIG_OVERRIDES_VARIABLE, props.configOverridesJson);
    }
    // Last: it shows every function and every alarm the constructs above created.
    this.dashboard = new Dashboard(this, "Dashboard", {
      config,
      topics: this.topics,
      timerQueues: this.timerQueues,
      timerScheduler: this.timerScheduler,
      functions,
      alarms: this.alarms,
    });

    new CfnOutput(this, "ApiUrl", { value: this.api.url, description: "Base URL of the task API" });
    new CfnOutput(this, "SigningSecretArn", {
      value: this.signingSecret.secretArn,
      description:
        "Secrets Manager secret holding the callback signing secret (receivers get their topic's key: npm run signing-key)",
    });
    new CfnOutput(this, "DashboardName", {
      value: this.dashboard.dashboardName,
      description: "CloudWatch dashboard of this environment (topics, timer, Scheduler, functions, alarms)",
    });
    // Topic settings without a deploy (README): what `aws appconfig` commands name.
    const settings = this.runtimeSettings;
    new CfnOutput(this, "TopicSettingsApplicationId", {
      value: settings.application.applicationId,
      description: "AppConfig application of the runtime topic settings",
    });
    new CfnOutput(this, "TopicSettingsEnvironmentId", {
      value: settings.environment.environmentId,
      description: "AppConfig environment the functions read the topic settings from",
    });
    new CfnOutput(this, "TopicSettingsProfileId", {
      value: settings.profile.configurationProfileId,
      description: "AppConfig configuration profile (hosted, JSON) of the topic settings",
    });
    new CfnOutput(this, "TopicSettingsDeploymentStrategyId", {
      value: settings.deploymentStrategy.deploymentStrategyId,
      description: "AppConfig deployment strategy for topic settings changes (linear, with bake time)",
    });
    new CfnOutput(this, "AlarmTopicArn", {
      value: this.alarms.topic.topicArn,
      description: "SNS topic every alarm notifies",
    });
  }
}
