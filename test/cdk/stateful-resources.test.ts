/**
 * What a `cdk deploy` of a live stack must never replace: the resources holding tasks or what reaches them. A
 * replacement creates a new resource and removes the old one (deleted under `removalPolicy: destroy`, orphaned
 * under `retain`), so whatever the old one held is out of the pipeline's reach:
 *
 * - the task table (every task, claim, schedule);
 * - the timer queue, its dead-letter queue and the schedule dead-letter queue (in-flight timers and the sweeper's
 *   pointers), and each topic's FIFO queue and DLQ (due tasks, dead letters);
 * - the schedule group (a pending task's timer up to a year ahead);
 * - the Scheduler role: every schedule carries its ARN (and the timer queue's) from the day it was made;
 * - the signing secret (receivers hold keys derived from it) and the AppConfig profile (the runtime settings).
 *
 * CloudFormation replaces a resource when its logical id changes (a construct renamed or moved) or when a property
 * documented "Update requires: Replacement" changes: Table KeySchema / TableName, Queue FifoQueue / QueueName,
 * ScheduleGroup Name, Secret Name (and a changed GenerateSecretString generates a new value), Role RoleName / Path,
 * AppConfig Environment and ConfigurationProfile ApplicationId / LocationUri / Type, EventSourceMapping
 * EventSourceArn. A mapping is stateful too: a replaced one gets a new UUID and is created enabled, so a topic paused at
 * runtime (its mapping disabled) would resume at the deploy.
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sqs-queue.html (and the pages of
 * the other types). The ids below are pinned: a refactor that renames one fails here, not in production. And no
 * configuration change reaches a replacing property: only removing or renaming a topic replaces (removes) its
 * queues, which docs/OPERATIONS.md ("Upgrading") states.
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { ENVIRONMENTS } from "#shared/config/environments/index.js";
import { type EnvironmentConfigInput, parseConfig } from "#shared/config/index.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
type Json = any;

/** Each stateful type and the properties whose change replaces it. */
const REPLACING_PROPERTIES: Record<string, readonly string[]> = {
  "AWS::DynamoDB::Table": ["KeySchema", "TableName"],
  "AWS::SQS::Queue": ["FifoQueue", "QueueName"],
  "AWS::Scheduler::ScheduleGroup": ["Name"],
  "AWS::SecretsManager::Secret": ["Name", "GenerateSecretString"],
  "AWS::AppConfig::Environment": ["ApplicationId"],
  "AWS::AppConfig::ConfigurationProfile": ["ApplicationId", "LocationUri", "Type"],
  "AWS::Lambda::EventSourceMapping": ["EventSourceArn"],
};
const SCHEDULER_ROLE = "SchedulerRole3AB4CAD7";

/** The stateful resources of dev as deployed today (topics `demo` and `orders`). */
const PINNED = {
  TasksTable45D1B62D: {
    Type: "AWS::DynamoDB::Table",
    KeySchema: [
      { AttributeName: "pk", KeyType: "HASH" },
      { AttributeName: "sk", KeyType: "RANGE" },
    ],
  },
  TimerQueueE853384C: { Type: "AWS::SQS::Queue" },
  TimerDeadLetterQueue722415CE: { Type: "AWS::SQS::Queue" },
  TimerScheduleDeadLetterQueue325176DB: { Type: "AWS::SQS::Queue" },
  TopicdemoQueue18316204: { Type: "AWS::SQS::Queue", FifoQueue: true },
  TopicdemoDeadLetterQueue4C3928BD: { Type: "AWS::SQS::Queue", FifoQueue: true },
  TopicordersQueue2FBB1D70: { Type: "AWS::SQS::Queue", FifoQueue: true },
  TopicordersDeadLetterQueue8C6AE0AE: { Type: "AWS::SQS::Queue", FifoQueue: true },
  SchedulerGroup0FE3C88D: {
    Type: "AWS::Scheduler::ScheduleGroup",
    // `<stack name>-<the stack's UUID>`: fixed for the stack's whole life (cdk/lib/constructs/timer-scheduler.ts).
    Name: {
      "Fn::Join": [
        "-",
        ["Punctual-dev", { "Fn::Select": [2, { "Fn::Split": ["/", { Ref: "AWS::StackId" }] }] }],
      ],
    },
  },
  SigningSecretCF7EC744: {
    Type: "AWS::SecretsManager::Secret",
    GenerateSecretString: { ExcludePunctuation: true, IncludeSpace: false, PasswordLength: 44 },
  },
  RuntimeSettingsEnvironment34D42886: {
    Type: "AWS::AppConfig::Environment",
    ApplicationId: { Ref: "RuntimeSettingsApplication64A91FE8" },
  },
  RuntimeSettingsTopicSettingsConfigurationProfile9CDC3E0A: {
    Type: "AWS::AppConfig::ConfigurationProfile",
    ApplicationId: { Ref: "RuntimeSettingsApplication64A91FE8" },
    LocationUri: "hosted",
    Type_: "AWS.Freeform",
  },
  // The ids CDK's SqsEventSource gave them (cdk/lib/constructs/event-sources.ts `consumeQueue` keeps them).
  TopicdemoDeliverFunctionSqsEventSourcePunctualdevTopicdemoQueue60812B2E82CF7DBF: {
    Type: "AWS::Lambda::EventSourceMapping",
    EventSourceArn: { "Fn::GetAtt": ["TopicdemoQueue18316204", "Arn"] },
  },
  TopicordersDeliverFunctionSqsEventSourcePunctualdevTopicordersQueueACFC294DF6F9AFE0: {
    Type: "AWS::Lambda::EventSourceMapping",
    EventSourceArn: { "Fn::GetAtt": ["TopicordersQueue2FBB1D70", "Arn"] },
  },
  TimerRelayFunctionSqsEventSourcePunctualdevTimerQueue7A1332CE86FE8B9F: {
    Type: "AWS::Lambda::EventSourceMapping",
    EventSourceArn: { "Fn::GetAtt": ["TimerQueueE853384C", "Arn"] },
  },
};

function synthesize(sections: Partial<EnvironmentConfigInput> = {}): Record<string, Json> {
  const input = ENVIRONMENTS.dev as EnvironmentConfigInput;
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = addPunctualStack(app, parseConfig({ ...input, ...sections }));
  return Template.fromStack(stack).toJSON().Resources;
}

/** Every stateful resource by logical id: its type and the values of its replacing properties. */
function statefulOf(resources: Record<string, Json>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [id, resource] of Object.entries(resources)) {
    const replacing = REPLACING_PROPERTIES[resource.Type];
    if (!replacing) continue;
    const entry: Json = { Type: resource.Type };
    for (const name of replacing) {
      // `Type` is both the resource's type and a profile property: the property is kept as `Type_`.
      if (resource.Properties?.[name] !== undefined)
        entry[name === "Type" ? "Type_" : name] = resource.Properties[name];
    }
    out[id] = entry;
  }
  return out;
}

/** The Scheduler role's replacing properties (no RoleName, no Path: CloudFormation names it once). */
const roleOf = (resources: Record<string, Json>) => {
  const role = resources[SCHEDULER_ROLE];
  return { Type: role?.Type, RoleName: role?.Properties.RoleName, Path: role?.Properties.Path };
};

describe("stateful resources across deploys", () => {
  const baseline = synthesize();

  it("keep their pinned logical ids and replacing properties (no physical names: CloudFormation names them)", () => {
    expect(statefulOf(baseline)).toEqual(PINNED);
    expect(roleOf(baseline)).toEqual({ Type: "AWS::IAM::Role", RoleName: undefined, Path: undefined });
  });

  it("no configuration change outside the topic list replaces one", () => {
    const variations: Partial<EnvironmentConfigInput>[] = [
      { removalPolicy: "retain", pointInTimeRecovery: true },
      {
        taskTable: {
          capacity: {
            mode: "provisioned",
            targetUtilizationPercent: 70,
            table: { read: { min: 5, max: 50 }, write: { min: 5, max: 50 } },
            indexes: { read: { min: 1, max: 10 }, write: { min: 1, max: 10 } },
          },
        },
      },
      {
        topics: {
          demo: { deliverBy: "customer", maxAttempts: 40, callbackTimeoutSeconds: 60, rateLimit: 5 },
          orders: { maxConcurrency: 50, retentionDays: 30, circuitFailureThreshold: 5 },
        },
      },
      {
        timer: { horizonSeconds: 840, leadSeconds: 60 },
        eventSources: {
          relay: { batchSize: 50, maxBatchingWindowSeconds: 2 },
          deliver: { batchSize: 5 },
          earlyWakeSeconds: 3,
        },
        functions: { tracing: "pass-through", logging: { format: "json", systemLogLevel: "WARN" } },
        logLevel: "INFO",
      },
    ];
    for (const sections of variations) {
      const resources = synthesize(sections);
      expect(statefulOf(resources), JSON.stringify(sections)).toEqual(statefulOf(baseline));
      expect(roleOf(resources)).toEqual(roleOf(baseline));
    }
  });

  it("adding a topic adds its queues and deliver mapping and replaces nothing", () => {
    const input = ENVIRONMENTS.dev as EnvironmentConfigInput;
    const added = statefulOf(synthesize({ topics: { ...input.topics, billing: {} } }));
    expect(added).toMatchObject(statefulOf(baseline));
    expect(Object.keys(added).length - Object.keys(statefulOf(baseline)).length).toBe(3);
  });
});
