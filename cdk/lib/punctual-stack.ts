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
    const common: CommonProps = {
      config,
      removalPolicy: config.removalPolicy === "retain" ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      logRetention: logRetentionDays(config) as logs.RetentionDays,
    };
    Tags.of(this).add("app", "punctual");
    Tags.of(this).add("environment", config.name);

    this.table = new TaskTable(this, "Tasks", { config });
    this.alarms = new AlarmTopic(this, "Alarms", { config });
    this.signingSecret = addSigningSecret(this, common);
    // Before the topics: their deliver functions read the runtime settings (issue 14.5).
    this.runtimeSettings = addRuntimeSettings(this, common);
    this.topics = addTopics(this, common);
    this.timerQueues = addTimerQueues(this, common);
    this.timerScheduler = addTimerScheduler(this, common);
    this.api = addTaskApi(this, common);
    this.sweeper = addSweeper(this, common);
    this.scheduleMaterializer = addScheduleMaterializer(this, common);

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
    addOutputs(this);
  }
}

/** What every part of the stack is built with: the environment's config and what happens to its data and logs. */
interface CommonProps {
  readonly config: PunctualConfig;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
}

function addSigningSecret(
  stack: PunctualStack,
  { config, removalPolicy }: CommonProps,
): secretsmanager.Secret {
  // Callback signing secret: 44 characters of [A-Za-z0-9] are valid base64 (33 bytes, 262 bits of entropy).
  // The deliver function reads it through SIGNING_SECRET_ARN and signs each topic's callbacks with that
  // topic's key, derived from it (HKDF, shared/security/signing.ts); receivers get only their topic's key.
  // Our loader also accepts a JSON value `{"current": "<base64>", "previous": …}` for hand-managed rotation.
  const secret = new secretsmanager.Secret(stack, "SigningSecret", {
    description: `Punctual ${config.name}: callback signing secret (base64); each topic's receivers verify with a key derived from it (npm run signing-key)`,
    generateSecretString: { passwordLength: 44, excludePunctuation: true, includeSpace: false },
    removalPolicy,
  });
  Validations.of(secret).acknowledge({
    id: "AwsSolutions-SMG4",
    reason:
      'Every callback receiver verifies with its topic\'s key, derived from this secret; an automatic rotation would break verification everywhere at once. Rotation is an operator procedure: set the new secret, let receivers accept both derived keys, then retire the old one (docs/CALLBACKS.md, "Rotating the secret").',
  });
  return secret;
}

function addRuntimeSettings(
  stack: PunctualStack,
  { config, removalPolicy, logRetention }: CommonProps,
): RuntimeSettings {
  return new RuntimeSettings(stack, "RuntimeSettings", {
    config,
    alarms: stack.alarms,
    removalPolicy,
    logRetention,
  });
}

function addTopics(stack: PunctualStack, { config, removalPolicy, logRetention }: CommonProps): Topic[] {
  return Object.values(config.resolvedTopics).map(
    (topic) =>
      new Topic(stack, `Topic-${topic.name}`, {
        config,
        topic,
        table: stack.table,
        signingSecret: stack.signingSecret,
        alarms: stack.alarms,
        runtimeSettings: stack.runtimeSettings,
        removalPolicy,
        logRetention,
      }),
  );
}

function addTimerQueues(
  stack: PunctualStack,
  { config, removalPolicy, logRetention }: CommonProps,
): TimerQueues {
  return new TimerQueues(stack, "Timer", {
    config,
    table: stack.table,
    topics: stack.topics,
    alarms: stack.alarms,
    removalPolicy,
    logRetention,
  });
}

function addTimerScheduler(stack: PunctualStack, { config, removalPolicy }: CommonProps): TimerScheduler {
  return new TimerScheduler(stack, "Scheduler", {
    config,
    timerQueues: stack.timerQueues,
    alarms: stack.alarms,
    removalPolicy,
  });
}

function addTaskApi(stack: PunctualStack, { config, removalPolicy, logRetention }: CommonProps): TaskApi {
  return new TaskApi(stack, "Api", {
    config,
    table: stack.table,
    timerQueues: stack.timerQueues,
    timerScheduler: stack.timerScheduler,
    alarms: stack.alarms,
    topics: stack.topics,
    runtimeSettings: stack.runtimeSettings,
    removalPolicy,
    logRetention,
  });
}

function addSweeper(stack: PunctualStack, { config, removalPolicy, logRetention }: CommonProps): Sweeper {
  return new Sweeper(stack, "Sweeper", {
    config,
    table: stack.table,
    timerQueues: stack.timerQueues,
    topics: stack.topics,
    alarms: stack.alarms,
    runtimeSettings: stack.runtimeSettings,
    removalPolicy,
    logRetention,
  });
}

function addScheduleMaterializer(
  stack: PunctualStack,
  { config, removalPolicy, logRetention }: CommonProps,
): ScheduleMaterializer {
  return new ScheduleMaterializer(stack, "ScheduleMaterializer", {
    config,
    table: stack.table,
    timerQueues: stack.timerQueues,
    timerScheduler: stack.timerScheduler,
    alarms: stack.alarms,
    runtimeSettings: stack.runtimeSettings,
    removalPolicy,
    logRetention,
  });
}

function addOutputs(stack: PunctualStack): void {
  new CfnOutput(stack, "ApiUrl", { value: stack.api.url, description: "Base URL of the task API" });
  new CfnOutput(stack, "SigningSecretArn", {
    value: stack.signingSecret.secretArn,
    description:
      "Secrets Manager secret holding the callback signing secret (receivers get their topic's key: npm run signing-key)",
  });
  new CfnOutput(stack, "DashboardName", {
    value: stack.dashboard.dashboardName,
    description: "CloudWatch dashboard of this environment (topics, timer, Scheduler, functions, alarms)",
  });
  // Topic settings without a deploy (docs/OPERATIONS.md): what `aws appconfig` commands name.
  const settings = stack.runtimeSettings;
  new CfnOutput(stack, "TopicSettingsApplicationId", {
    value: settings.application.applicationId,
    description: "AppConfig application of the runtime topic settings",
  });
  new CfnOutput(stack, "TopicSettingsEnvironmentId", {
    value: settings.environment.environmentId,
    description: "AppConfig environment the functions read the topic settings from",
  });
  new CfnOutput(stack, "TopicSettingsProfileId", {
    value: settings.profile.configurationProfileId,
    description: "AppConfig configuration profile (hosted, JSON) of the topic settings",
  });
  new CfnOutput(stack, "TopicSettingsDeploymentStrategyId", {
    value: settings.deploymentStrategy.deploymentStrategyId,
    description: "AppConfig deployment strategy for topic settings changes (linear, with bake time)",
  });
  new CfnOutput(stack, "AlarmTopicArn", {
    value: stack.alarms.topic.topicArn,
    description: "SNS topic every alarm notifies",
  });
}
