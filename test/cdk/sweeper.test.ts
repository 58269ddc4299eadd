/**
 * CDK assertions on the orphan sweeper: the sweep index, the EventBridge rule and its target, the function's
 * environment, its least-privilege policy and its alarms (prod: two topics, so "every topic" is meaningful).
 */
import { App, type CfnElement } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import type { PunctualStack } from "#cdk/lib/punctual-stack.js";
import { deliverTimeoutSeconds, SWEEPER_TIMEOUT_SECONDS, visibilityTimeoutSeconds } from "#cdk/lib/sizing.js";
import type { TopicConfig } from "#shared/config/index.js";
import { ENTRY_METADATA_KEY } from "#shared/contract/metadata.js";
import { METRIC } from "#shared/domain/metrics.js";
import { stalledAfterMs } from "#shared/domain/sweep.js";
import { ENV } from "#shared/runtime/env.js";
import { stackConfig } from "../support/stack-config.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
type Json = any;

let stack: PunctualStack;
let resources: Record<string, { Type: string; Properties: Json; Metadata?: Json }>;

beforeAll(() => {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  stack = addPunctualStack(app, stackConfig("prod"));
  resources = Template.fromStack(stack).toJSON().Resources;
});

const idOf = (c: IConstruct) => stack.getLogicalId((c.node.defaultChild ?? c) as CfnElement);
const arnOf = (c: IConstruct) => ({ "Fn::GetAtt": [idOf(c), "Arn"] });
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

function sweeperStatements(): Json[] {
  const roleId = idOf(stack.sweeper.sweeperFunction.functionRole);
  // Its inline policies and the managed ones attached to it by their Roles (the deliver mappings' switch).
  return [...ofType("AWS::IAM::Policy"), ...ofType("AWS::IAM::ManagedPolicy")]
    .filter(([, p]) => ((p.Properties.Roles ?? []) as Json[]).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[]);
}
const resourcesFor = (action: string) =>
  sweeperStatements()
    .filter((st) => asArray(st.Action).includes(action))
    .flatMap((st) => asArray(st.Resource))
    .map((r) => JSON.stringify(r))
    .sort();

describe("sweep index", () => {
  it("is a sparse GSI on sweepShard (hash) and dueAtMs (range) projecting only the task id, on demand", () => {
    const table = resources[idOf(stack.table.table)]?.Properties;
    expect(
      table.GlobalSecondaryIndexes.filter((i: { IndexName: string }) => i.IndexName === "unfinished-by-due"),
    ).toEqual([
      {
        IndexName: "unfinished-by-due",
        KeySchema: [
          { AttributeName: "sweepShard", KeyType: "HASH" },
          { AttributeName: "dueAtMs", KeyType: "RANGE" },
        ],
        Projection: { ProjectionType: "INCLUDE", NonKeyAttributes: ["taskId"] },
      },
    ]);
  });
});

describe("schedule", () => {
  it("an EventBridge rule fires the sweeper every minute, with a short retry policy", () => {
    // The sweeper's rule and the schedule materializer's (test/cdk/schedule-materializer.test.ts).
    const sweeperArn = JSON.stringify(arnOf(stack.sweeper.sweeperFunction));
    const rules = ofType("AWS::Events::Rule").filter(
      ([, r]) => JSON.stringify(r.Properties.Targets[0]?.Arn) === sweeperArn,
    );
    expect(ofType("AWS::Events::Rule")).toHaveLength(2);
    expect(rules).toHaveLength(1);
    expect(rules[0]?.[1].Properties).toMatchObject({
      ScheduleExpression: "rate(1 minute)",
      State: "ENABLED",
      Targets: [
        {
          Arn: arnOf(stack.sweeper.sweeperFunction),
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 60 },
        },
      ],
    });
    const [[, permission] = []] = ofType("AWS::Lambda::Permission").filter(
      ([, p]) =>
        p.Properties.Principal === "events.amazonaws.com" &&
        JSON.stringify(p.Properties.FunctionName) === JSON.stringify(arnOf(stack.sweeper.sweeperFunction)),
    );
    expect(permission?.Properties).toMatchObject({
      Action: "lambda:InvokeFunction",
      FunctionName: arnOf(stack.sweeper.sweeperFunction),
      SourceArn: arnOf(stack.sweeper.rule),
    });
  });

  it("a failed run is not retried by Lambda (the next run is the retry), and a run ends before the next starts", () => {
    const [[, config] = []] = ofType("AWS::Lambda::EventInvokeConfig");
    expect(config?.Properties).toMatchObject({
      FunctionName: { Ref: idOf(stack.sweeper.sweeperFunction) },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
    const fn = resources[idOf(stack.sweeper.sweeperFunction)];
    expect(fn?.Properties.Timeout).toBe(SWEEPER_TIMEOUT_SECONDS);
    expect(SWEEPER_TIMEOUT_SECONDS).toBeLessThan(60);
    expect(fn?.Metadata?.[ENTRY_METADATA_KEY]).toBe("functions/sweeper.ts");
  });
});

describe("environment", () => {
  it("names the timer queue, both timer-side DLQs and every topic's FIFO queue and DLQ", () => {
    const vars = resources[idOf(stack.sweeper.sweeperFunction)]?.Properties.Environment.Variables;
    const { timerQueues } = stack;
    expect(vars[ENV.timerQueueUrl]).toEqual({ Ref: idOf(timerQueues.queue) });
    expect(vars[ENV.timerDlqUrl]).toEqual({ Ref: idOf(timerQueues.deadLetterQueue) });
    expect(vars[ENV.scheduleDlqUrl]).toEqual({ Ref: idOf(timerQueues.scheduleDeadLetterQueue) });
    // The topology, as the sweeper reads it: every topic's queues by logical id, and its stall window from the
    // CDK's sizing (the deliver timeout and visibility timeout the sweeper itself cannot know).
    const topology = JSON.stringify(stack.resolve(vars[ENV.topology]));
    for (const topic of stack.topics) {
      expect(topology).toContain(`\\"${topic.name}\\":{\\"queueUrl\\":\\"`);
      expect(topology).toContain(idOf(topic.queue));
      expect(topology).toContain(idOf(topic.deadLetterQueue));
      const config = stack.config.resolvedTopics[topic.name] as TopicConfig;
      const timeoutSeconds = deliverTimeoutSeconds(config);
      const expectedStall = stalledAfterMs(config, stack.config.sweeper, {
        timeoutSeconds,
        visibilityTimeoutSeconds: visibilityTimeoutSeconds(timeoutSeconds),
      });
      expect(topology).toContain(`\\"stalledAfterMs\\":${expectedStall}`);
    }
  });
});

describe("least privilege", () => {
  it("DynamoDB: Query on the table and the sweep index, GetItem, PutItem (a stopped reschedule's successor) and UpdateItem on the table; nothing else", () => {
    const table = arnOf(stack.table.table);
    const dynamo = sweeperStatements().flatMap((st) =>
      asArray(st.Action as string | string[]).filter((a) => a.startsWith("dynamodb:")),
    );
    expect([...new Set(dynamo)].sort()).toEqual([
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]);
    expect(resourcesFor("dynamodb:Query")).toEqual(
      [table, { "Fn::Join": ["", [table, "/index/unfinished-by-due"]] }].map((r) => JSON.stringify(r)).sort(),
    );
    expect(resourcesFor("dynamodb:UpdateItem")).toEqual([JSON.stringify(table)]);
    expect(resourcesFor("dynamodb:PutItem")).toEqual([JSON.stringify(table)]);
  });

  it("SQS: sends only to the timer queue and the topics' queues and DLQs; consumes only the DLQs (timer-side and topics')", () => {
    const { timerQueues } = stack;
    expect(resourcesFor("sqs:SendMessage")).toEqual(
      [timerQueues.queue, ...stack.topics.flatMap((t) => [t.queue, t.deadLetterQueue])]
        .map((q) => JSON.stringify(arnOf(q)))
        .sort(),
    );
    const dlqs = [
      timerQueues.deadLetterQueue,
      timerQueues.scheduleDeadLetterQueue,
      ...stack.topics.map((t) => t.deadLetterQueue),
    ]
      .map((q) => JSON.stringify(arnOf(q)))
      .sort();
    expect(resourcesFor("sqs:ReceiveMessage")).toEqual(dlqs);
    expect(resourcesFor("sqs:DeleteMessage")).toEqual(dlqs);
    // Topic DLQ messages of still-failed tasks are made visible again at once; a timer-side pointer never is (an
    // unresolved one reappears when its visibility timeout runs out: sweeper/pointers.ts).
    expect(resourcesFor("sqs:ChangeMessageVisibility")).toEqual(
      stack.topics.map((t) => JSON.stringify(arnOf(t.deadLetterQueue))).sort(),
    );
  });

  it("Lambda: reads and switches only the topics' deliver mappings (a topic its runtime settings pause)", () => {
    const mappings = stack.topics.map((t) => JSON.stringify(stack.resolve(t.deliverMappingArn))).sort();
    expect(resourcesFor("lambda:GetEventSourceMapping")).toEqual(mappings);
    expect(resourcesFor("lambda:UpdateEventSourceMapping")).toEqual(mappings);
  });

  it("nothing beyond its log group, X-Ray, DynamoDB, SQS, its settings profile and the deliver mappings", () => {
    const actions = new Set(sweeperStatements().flatMap((st) => asArray(st.Action as string)));
    const prefixes = new Set([...actions].map((a) => a.split(":")[0]));
    expect([...prefixes].sort()).toEqual(["appconfig", "dynamodb", "lambda", "logs", "sqs", "xray"]);
    expect([...actions].filter((a) => /^(appconfig|lambda):/.test(a)).sort()).toEqual([
      "appconfig:GetLatestConfiguration",
      "appconfig:StartConfigurationSession",
      "lambda:GetEventSourceMapping",
      "lambda:UpdateEventSourceMapping",
    ]);
  });
});

describe("alarms", () => {
  const alarms = () => ofType("AWS::CloudWatch::Alarm").map(([, a]) => a.Properties);

  it("errors, throttles, a sweeper that stopped running, and repairs that keep failing", () => {
    const fnRef = { Ref: idOf(stack.sweeper.sweeperFunction) };
    const onFunction = alarms().filter((a) =>
      JSON.stringify(a.Dimensions ?? a.Metrics ?? []).includes(JSON.stringify(fnRef)),
    );
    // The not-running alarm reads its Invocations through FILL (a period without one is a 0: alarm-topic.ts).
    const metricName = (a: Json) =>
      a.MetricName ?? (a.Metrics as Json[]).find((m) => m.MetricStat)?.MetricStat.Metric.MetricName;
    expect(onFunction.map(metricName).sort()).toEqual(["Errors", "Invocations", "Throttles"]);
    expect(onFunction.find((a) => metricName(a) === "Invocations")).toMatchObject({
      ComparisonOperator: "LessThanThreshold",
      Threshold: 1,
      TreatMissingData: "breaching",
      Metrics: expect.arrayContaining([expect.objectContaining({ Expression: "FILL(invocations, 0)" })]),
    });
    expect(alarms().find((a) => a.MetricName === METRIC.sweepFailures)).toMatchObject({
      Namespace: "Punctual",
      Dimensions: [{ Name: "service", Value: "punctual-prod" }],
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
  });

  it("the timer and schedule DLQs alarm only on a message still there (visible or in flight) after three runs", () => {
    // Topic DLQs count the same way but alarm at once (test/cdk/punctual-stack.test.ts): the swept ones wait.
    const swept = alarms().filter(
      (a) =>
        (a.Metrics as Json[] | undefined)?.some(
          (m) => m.Expression === "FILL(visible, 0) + FILL(inFlight, 0)",
        ) && a.EvaluationPeriods > 1,
    );
    const queues = swept.map((a) =>
      JSON.stringify(
        (a.Metrics as Json[]).find((m) => m.Id === "visible")?.MetricStat.Metric.Dimensions[0].Value,
      ),
    );
    expect(queues.sort()).toEqual(
      [stack.timerQueues.deadLetterQueue, stack.timerQueues.scheduleDeadLetterQueue]
        .map((q) => JSON.stringify({ "Fn::GetAtt": [idOf(q), "QueueName"] }))
        .sort(),
    );
    for (const alarm of swept)
      expect(alarm).toMatchObject({ EvaluationPeriods: 3, DatapointsToAlarm: 3, Threshold: 1 });
  });
});
