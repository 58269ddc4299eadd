/**
 * CDK assertions on the schedule materializer (issue 14, point 4): the sparse schedule index, the every-minute
 * rule and its target, the function's environment and alarms. Its DynamoDB grants are evaluated in
 * dynamodb-grants.test.ts, its Scheduler / SQS grants in punctual-stack.test.ts.
 */
import { App, type CfnElement } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import type { PunctualStack } from "#cdk/lib/punctual-stack.js";
import { MATERIALIZER_TIMEOUT_SECONDS } from "#cdk/lib/sizing.js";
import { ENTRY_METADATA_KEY } from "#shared/contract/metadata.js";
import { METRIC } from "#shared/domain/metrics.js";
import { MATERIALIZE_HORIZON_MS } from "#shared/domain/schedule.js";
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

describe("schedule index", () => {
  it("is a sparse keys-only GSI on scheduleShard (hash) and materializeAtMs (range)", () => {
    const table = resources[idOf(stack.table.table)]?.Properties;

    const index = table.GlobalSecondaryIndexes.filter(
      (i: { IndexName: string }) => i.IndexName === "active-schedules-by-next",
    );

    expect(index).toEqual([
      {
        IndexName: "active-schedules-by-next",
        KeySchema: [
          { AttributeName: "scheduleShard", KeyType: "HASH" },
          { AttributeName: "materializeAtMs", KeyType: "RANGE" },
        ],
        Projection: { ProjectionType: "KEYS_ONLY" },
      },
    ]);
  });
});

describe("materializer", () => {
  it("an EventBridge rule fires it every minute, with a short retry policy, well inside the horizon", () => {
    const fnArn = JSON.stringify(arnOf(stack.scheduleMaterializer.materializerFunction));

    const rules = ofType("AWS::Events::Rule").filter(
      ([, r]) => JSON.stringify(r.Properties.Targets[0]?.Arn) === fnArn,
    );

    expect(rules).toHaveLength(1);
    expect(rules[0]?.[1].Properties).toMatchObject({
      ScheduleExpression: "rate(1 minute)",
      State: "ENABLED",
      Targets: [{ RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 60 } }],
    });
    // Three missed runs still leave every occurrence created before it is due.
    expect(MATERIALIZE_HORIZON_MS).toBeGreaterThan(3 * 60_000);
  });

  it("is the schedule-materializer handler, with the add path's variables and a timeout under its rate", () => {
    const fn = resources[idOf(stack.scheduleMaterializer.materializerFunction)];

    expect(fn?.Metadata?.[ENTRY_METADATA_KEY]).toBe("functions/schedule-materializer.ts");
    expect(fn?.Properties.Timeout).toBe(MATERIALIZER_TIMEOUT_SECONDS);
    expect(MATERIALIZER_TIMEOUT_SECONDS).toBeLessThan(60);
    expect(Object.keys(fn?.Properties.Environment.Variables)).toEqual(
      expect.arrayContaining([
        ENV.tableName,
        ENV.timerQueueUrl,
        ENV.timerQueueArn,
        ENV.scheduleGroupName,
        ENV.schedulerRoleArn,
        ENV.scheduleDlqArn,
      ]),
    );
  });

  it("alarms on persistent materialization failures, by the metric the function emits", () => {
    const alarms = ofType("AWS::CloudWatch::Alarm").filter(
      ([, a]) => a.Properties.MetricName === METRIC.materializeFailures,
    );

    expect(alarms).toHaveLength(1);
    expect(alarms[0]?.[1].Properties).toMatchObject({
      Namespace: "Punctual",
      Threshold: 1,
      EvaluationPeriods: 3,
    });
  });

  it("alarms on any skipped occurrence (each is a delivery that will never happen), per service, to the alarm topic", () => {
    const topic = { Ref: idOf(stack.alarms.topic) };

    const alarms = ofType("AWS::CloudWatch::Alarm").filter(
      ([, a]) => a.Properties.MetricName === METRIC.occurrencesSkipped,
    );

    expect(alarms).toHaveLength(1);
    expect(alarms[0]?.[1].Properties).toMatchObject({
      Namespace: "Punctual",
      Dimensions: [{ Name: "service", Value: "punctual-prod" }],
      Statistic: "Sum",
      Period: 300,
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      EvaluationPeriods: 1,
      TreatMissingData: "notBreaching",
      AlarmActions: [topic],
      OKActions: [topic],
    });
  });

  it("alarms when the materializer has been more than 2 minutes behind for 3 minutes in a row (its lag, per service), before its lag can reach the horizon", () => {
    const topic = { Ref: idOf(stack.alarms.topic) };

    const alarms = ofType("AWS::CloudWatch::Alarm").filter(
      ([, a]) => a.Properties.MetricName === METRIC.materializerLag,
    );

    expect(alarms).toHaveLength(1);
    const alarm = alarms[0]?.[1].Properties;
    expect(alarm).toMatchObject({
      Namespace: "Punctual",
      Dimensions: [{ Name: "service", Value: "punctual-prod" }],
      Statistic: "Maximum",
      Period: 60,
      Threshold: 120,
      ComparisonOperator: "GreaterThanThreshold",
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      // A run's data point lands in whichever minute it ends, so a minute of a lasting lag can have none: as
      // "notBreaching" that gap would count as a good minute and break the 3-in-a-row (under a run length that
      // straddles the minute, again and again: the alarm would never fire). "ignore" evaluates the most recent
      // real data points of the evaluation range instead, and with none at all (the function not running, its
      // not-running alarm's to report) keeps its state, where "missing" would go INSUFFICIENT_DATA and send an OK
      // that follows no ALARM when runs come back.
      TreatMissingData: "ignore",
      AlarmActions: [topic],
      OKActions: [topic],
      AlarmDescription: expect.stringContaining("behind"),
    });
    // The lag grows at most a period a minute: by the last breaching minute it is at most the horizon, i.e. the
    // alarm notifies no later than the first occurrence comes late.
    const latestLagSeconds = alarm.Threshold + (alarm.EvaluationPeriods - 1) * alarm.Period;
    expect(latestLagSeconds).toBeLessThanOrEqual(MATERIALIZE_HORIZON_MS / 1000);
  });
});
