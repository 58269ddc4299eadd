/**
 * The cost levers (config `taskTable.capacity`, `functions`), read from synthesized templates and judged by AWS's
 * documented rules, written out here from the AWS pages independently of the config schema:
 * - DynamoDB provisioned capacity: every table and GSI at least 1 RCU / 1 WCU, at most 40,000 each (default per-table
 *   quota); the table and its GSIs together within the account's 80,000 RCU / 80,000 WCU per Region (default quota)
 *   — https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
 * - Auto scaling: a ScalableTarget per table/GSI and dimension (`dynamodb:table:ReadCapacityUnits`, …,
 *   `dynamodb:index:WriteCapacityUnits`), MinCapacity ≤ MaxCapacity, a target-tracking policy on the matching
 *   predefined metric with a target of 20–90 % — https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/AutoScaling.html
 * - Lambda: TracingConfig.Mode `Active | PassThrough`; LoggingConfig.LogFormat `Text | JSON`, SystemLogLevel
 *   `DEBUG | INFO | WARN` and ApplicationLogLevel `TRACE … FATAL` only with JSON —
 *   https://docs.aws.amazon.com/lambda/latest/api/API_LoggingConfig.html,
 *   https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
 * - A line without a `level` (our EMF metric lines) is filed as INFO by Lambda's application log filter (same page).
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { ENVIRONMENTS } from "#shared/config/environments/index.js";
import { type EnvironmentConfigInput, type PunctualConfig, parseConfig } from "#shared/config/index.js";
import { type Json, synthesizedResources } from "../support/published-metrics.js";

type Resources = Record<string, Json>;

const TABLE_TYPE = "AWS::DynamoDB::Table";
const TARGET_TYPE = "AWS::ApplicationAutoScaling::ScalableTarget";
const POLICY_TYPE = "AWS::ApplicationAutoScaling::ScalingPolicy";
const AWS_DOCUMENTED = {
  minUnits: 1,
  perTableMaxUnits: 40_000,
  perAccountMaxUnits: 80_000,
  targetUtilization: { min: 20, max: 90 },
  systemLogLevels: ["DEBUG", "INFO", "WARN"],
  applicationLogLevels: ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"],
  /** Application levels at which a line without `level` (filed as INFO) still reaches CloudWatch. */
  levelsKeepingUnlevelledLines: ["TRACE", "DEBUG", "INFO"],
} as const;

const SERVICE_LINKED_ROLE =
  ":role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable";

/** The predefined metric each scalable dimension is tracked on. */
const METRIC_OF_DIMENSION: Record<string, string> = {
  "dynamodb:table:ReadCapacityUnits": "DynamoDBReadCapacityUtilization",
  "dynamodb:table:WriteCapacityUnits": "DynamoDBWriteCapacityUtilization",
  "dynamodb:index:ReadCapacityUnits": "DynamoDBReadCapacityUtilization",
  "dynamodb:index:WriteCapacityUnits": "DynamoDBWriteCapacityUtilization",
};

/** A stack synthesized from an environment's file with the given sections replaced, through the config schema. */
function synthesizeWith(env: string, sections: Partial<EnvironmentConfigInput>): Resources {
  const input = ENVIRONMENTS[env] as EnvironmentConfigInput;
  const parsed = parseConfig({ ...input, ...sections });
  const config: PunctualConfig =
    env === "prod"
      ? { ...parsed, alarmSubscribers: { emails: ["oncall@punctual.test"], httpsUrls: [] } }
      : parsed;
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  return Template.fromStack(addPunctualStack(app, config)).toJSON().Resources;
}

const ofType = (resources: Resources, type: string) =>
  Object.entries(resources).filter(([, r]) => r.Type === type);

function taskTable(resources: Resources): [string, Json] {
  const tables = ofType(resources, TABLE_TYPE);
  expect(tables).toHaveLength(1);
  return tables[0] as [string, Json];
}

/** `table/<name>` or `table/<name>/index/<index>` as Application Auto Scaling names a DynamoDB resource. */
function resourceIdOf(target: Json, tableId: string): { index?: string } {
  const parts = (target.Properties.ResourceId["Fn::Join"] as [string, unknown[]])[1];
  expect(parts[0]).toBe("table/");
  expect(parts[1]).toEqual({ Ref: tableId });
  const rest = parts.slice(2).join("");
  if (rest === "") return {};
  expect(rest).toMatch(/^\/index\/[A-Za-z0-9_.-]{3,255}$/);
  return { index: rest.slice("/index/".length) };
}

/** What AWS would refuse or never reach in one provisioned table with its auto scaling, as readable problems. */
function capacityRefusals(resources: Resources): string[] {
  const problems: string[] = [];
  const [tableId, table] = taskTable(resources);
  const p = table.Properties;
  // CloudFormation's default BillingMode is PROVISIONED (CDK leaves it out then).
  if ((p.BillingMode ?? "PROVISIONED") !== "PROVISIONED") problems.push(`BillingMode ${p.BillingMode}`);
  const throughputs: [string, Json][] = [
    ["table", p.ProvisionedThroughput],
    ...(p.GlobalSecondaryIndexes as Json[]).map((i): [string, Json] => [
      i.IndexName,
      i.ProvisionedThroughput,
    ]),
  ];
  for (const [name, t] of throughputs) {
    for (const units of [t?.ReadCapacityUnits, t?.WriteCapacityUnits]) {
      if (
        !(
          Number.isInteger(units) &&
          units >= AWS_DOCUMENTED.minUnits &&
          units <= AWS_DOCUMENTED.perTableMaxUnits
        )
      )
        problems.push(`${name}: provisioned units ${units} outside 1–40,000`);
    }
  }
  const targets = ofType(resources, TARGET_TYPE);
  const policies = ofType(resources, POLICY_TYPE);
  const maxBy: Record<string, number> = { Read: 0, Write: 0 };
  for (const [targetId, target] of targets) {
    const t = target.Properties;
    const { index } = resourceIdOf(target, tableId);
    const dimension = t.ScalableDimension as string;
    const kind = dimension.includes("Read") ? "Read" : "Write";
    if (t.ServiceNamespace !== "dynamodb") problems.push(`${targetId}: namespace ${t.ServiceNamespace}`);
    // Application Auto Scaling acts through DynamoDB's service-linked role, not a role of ours.
    if (!JSON.stringify(t.RoleARN).endsWith(`${SERVICE_LINKED_ROLE}"]]}`)) problems.push(`${targetId}: role`);
    if (!METRIC_OF_DIMENSION[dimension] || dimension.includes(":index:") !== (index !== undefined))
      problems.push(`${targetId}: dimension ${dimension} for ${index ?? "the table"}`);
    if (!(t.MinCapacity >= AWS_DOCUMENTED.minUnits && t.MinCapacity <= t.MaxCapacity))
      problems.push(`${targetId}: MinCapacity ${t.MinCapacity} not within 1–MaxCapacity`);
    if (t.MaxCapacity > AWS_DOCUMENTED.perTableMaxUnits)
      problems.push(`${targetId}: MaxCapacity ${t.MaxCapacity}`);
    const start = throughputs.find(([name]) => name === (index ?? "table"))?.[1]?.[`${kind}CapacityUnits`];
    if (!(start >= t.MinCapacity && start <= t.MaxCapacity))
      problems.push(`${targetId}: starts at ${start}, outside its scaling bounds`);
    maxBy[kind] = (maxBy[kind] ?? 0) + t.MaxCapacity;
    const own = policies.filter(([, policy]) => policy.Properties.ScalingTargetId?.Ref === targetId);
    if (own.length !== 1) problems.push(`${targetId}: ${own.length} scaling policies`);
    for (const [policyId, policy] of own) {
      const c = policy.Properties.TargetTrackingScalingPolicyConfiguration;
      if (policy.Properties.PolicyType !== "TargetTrackingScaling")
        problems.push(`${policyId}: not target tracking`);
      if (c?.PredefinedMetricSpecification?.PredefinedMetricType !== METRIC_OF_DIMENSION[dimension])
        problems.push(`${policyId}: tracks ${c?.PredefinedMetricSpecification?.PredefinedMetricType}`);
      const { min, max } = AWS_DOCUMENTED.targetUtilization;
      if (!(c?.TargetValue >= min && c?.TargetValue <= max))
        problems.push(`${policyId}: target ${c?.TargetValue}`);
    }
  }
  for (const [kind, sum] of Object.entries(maxBy)) {
    if (sum > AWS_DOCUMENTED.perAccountMaxUnits) problems.push(`${kind} maxima sum to ${sum} > 80,000`);
  }
  return problems;
}

const PROVISIONED = {
  mode: "provisioned",
  targetUtilizationPercent: 70,
  table: { read: { min: 5, max: 1_000 }, write: { min: 10, max: 6_000 } },
  indexes: { read: { min: 1, max: 100 }, write: { min: 1, max: 500 } },
} as const;

describe("task table capacity", () => {
  it.each(Object.keys(ENVIRONMENTS))(
    "%s stays on-demand by default: no provisioned throughput, no scaling",
    (env) => {
      // Act
      const resources = synthesizedResources(env) as Resources;

      // Assess
      const [, table] = taskTable(resources);
      expect(table.Properties.BillingMode).toBe("PAY_PER_REQUEST");
      expect(table.Properties.ProvisionedThroughput).toBeUndefined();
      for (const index of table.Properties.GlobalSecondaryIndexes as Json[]) {
        expect(index.ProvisionedThroughput, index.IndexName).toBeUndefined();
      }
      expect(ofType(resources, TARGET_TYPE)).toEqual([]);
      expect(ofType(resources, POLICY_TYPE)).toEqual([]);
    },
  );

  it("provisioned mode synthesizes a table, GSIs, scalable targets and policies AWS accepts", () => {
    // Act
    const resources = synthesizeWith("prod", { taskTable: { capacity: PROVISIONED } });

    // Assess
    expect(capacityRefusals(resources)).toEqual([]);
  });

  it("provisioned mode scales the table and every GSI, reads and writes, within the configured bounds", () => {
    // Act
    const resources = synthesizeWith("dev", { taskTable: { capacity: PROVISIONED } });

    // Assess
    const [tableId, table] = taskTable(resources);
    const indexes = (table.Properties.GlobalSecondaryIndexes as Json[]).map((i) => i.IndexName as string);
    expect(indexes).toHaveLength(3);
    const scaled = ofType(resources, TARGET_TYPE).map(([, t]) => ({
      on: resourceIdOf(t, tableId).index ?? "table",
      dimension: (t.Properties.ScalableDimension as string).split(":")[2],
      min: t.Properties.MinCapacity,
      max: t.Properties.MaxCapacity,
    }));
    const expected = [
      { on: "table", dimension: "ReadCapacityUnits", min: 5, max: 1_000 },
      { on: "table", dimension: "WriteCapacityUnits", min: 10, max: 6_000 },
      ...indexes.flatMap((on) => [
        { on, dimension: "ReadCapacityUnits", min: 1, max: 100 },
        { on, dimension: "WriteCapacityUnits", min: 1, max: 500 },
      ]),
    ];
    expect(scaled).toEqual(expect.arrayContaining(expected));
    expect(scaled).toHaveLength(expected.length);
    for (const [, policy] of ofType(resources, POLICY_TYPE)) {
      expect(policy.Properties.TargetTrackingScalingPolicyConfiguration.TargetValue).toBe(70);
    }
  });

  it("the judge above refuses what AWS refuses (it is not vacuous)", () => {
    // Prepare
    const resources = structuredClone(synthesizeWith("dev", { taskTable: { capacity: PROVISIONED } }));
    const [, target] = ofType(resources, TARGET_TYPE)[0] as [string, Json];
    const [, policy] = ofType(resources, POLICY_TYPE)[0] as [string, Json];

    // Act
    target.Properties.MinCapacity = 0;
    policy.Properties.TargetTrackingScalingPolicyConfiguration.TargetValue = 95;

    // Assess
    expect(capacityRefusals(resources)).toEqual([
      expect.stringContaining("MinCapacity 0"),
      expect.stringContaining("target 95"),
    ]);
  });
});

const lambdas = (resources: Resources) => ofType(resources, "AWS::Lambda::Function");

/** What Lambda would refuse, or silently lose, in one function's tracing and logging configuration. */
function observabilityRefusals(fn: Json): string[] {
  const problems: string[] = [];
  const mode = fn.Properties.TracingConfig?.Mode;
  if (mode !== undefined && mode !== "Active" && mode !== "PassThrough")
    problems.push(`tracing mode ${mode}`);
  const logging = fn.Properties.LoggingConfig ?? {};
  const json = logging.LogFormat === "JSON";
  if (logging.LogFormat !== undefined && !["Text", "JSON"].includes(logging.LogFormat))
    problems.push(`log format ${logging.LogFormat}`);
  if (!json && (logging.SystemLogLevel !== undefined || logging.ApplicationLogLevel !== undefined))
    problems.push("log levels without the JSON format");
  if (
    logging.SystemLogLevel !== undefined &&
    !AWS_DOCUMENTED.systemLogLevels.includes(logging.SystemLogLevel)
  )
    problems.push(`system log level ${logging.SystemLogLevel}`);
  const app = logging.ApplicationLogLevel;
  if (app !== undefined && !AWS_DOCUMENTED.applicationLogLevels.includes(app))
    problems.push(`application log level ${app}`);
  if (json && !AWS_DOCUMENTED.levelsKeepingUnlevelledLines.includes(app ?? "INFO"))
    problems.push(`application log level ${app} drops the EMF metric lines`);
  return problems;
}

describe("function tracing and platform logs", () => {
  it.each(["local", "dev", "staging"])(
    "%s keeps today's behaviour: active tracing, plain-text logs",
    (env) => {
      // Act
      const functions = lambdas(synthesizedResources(env) as Resources);

      // Assess
      expect(functions.length).toBeGreaterThan(0);
      for (const [id, fn] of functions) {
        expect(fn.Properties.TracingConfig, id).toEqual({ Mode: "Active" });
        expect(Object.keys(fn.Properties.LoggingConfig), id).toEqual(["LogGroup"]);
        expect(observabilityRefusals(fn), id).toEqual([]);
      }
    },
  );

  it("prod: active tracing, JSON logs at its log level without Lambda's START/END/REPORT lines", () => {
    // Prepare
    const config = parseConfig(ENVIRONMENTS.prod as EnvironmentConfigInput);

    // Act
    const functions = lambdas(synthesizedResources("prod") as Resources);

    // Assess
    for (const [id, fn] of functions) {
      expect(fn.Properties.TracingConfig, id).toEqual({ Mode: "Active" });
      expect(fn.Properties.LoggingConfig, id).toMatchObject({
        LogFormat: "JSON",
        SystemLogLevel: "WARN",
        ApplicationLogLevel: config.logLevel,
      });
      expect(observabilityRefusals(fn), id).toEqual([]);
    }
  });

  it("pass-through tracing and JSON logs at every system level synthesize combinations Lambda accepts", () => {
    for (const systemLogLevel of AWS_DOCUMENTED.systemLogLevels) {
      // Act
      const functions = lambdas(
        synthesizeWith("dev", {
          logLevel: "INFO",
          functions: { tracing: "pass-through", logging: { format: "json", systemLogLevel } },
        }),
      );

      // Assess
      for (const [id, fn] of functions) {
        expect(fn.Properties.TracingConfig, id).toEqual({ Mode: "PassThrough" });
        expect(fn.Properties.LoggingConfig, id).toMatchObject({
          LogFormat: "JSON",
          SystemLogLevel: systemLogLevel,
        });
        expect(observabilityRefusals(fn), id).toEqual([]);
      }
    }
  });

  it("the judge above refuses levels without JSON and an application level that drops metric lines", () => {
    // Prepare
    const textWithLevel = { Properties: { LoggingConfig: { LogFormat: "Text", SystemLogLevel: "WARN" } } };
    const jsonAtWarn = { Properties: { LoggingConfig: { LogFormat: "JSON", ApplicationLogLevel: "WARN" } } };

    // Act
    const refused = [observabilityRefusals(textWithLevel), observabilityRefusals(jsonAtWarn)];

    // Assess
    expect(refused).toEqual([
      ["log levels without the JSON format"],
      ["application log level WARN drops the EMF metric lines"],
    ]);
  });

  it.each(Object.keys(ENVIRONMENTS))(
    "%s: no alarm or dashboard reads the function logs (dropping REPORT lines loses no signal)",
    (env) => {
      // Act
      const resources = synthesizedResources(env) as Resources;

      // Assess
      expect(ofType(resources, "AWS::Logs::MetricFilter")).toEqual([]);
      expect(ofType(resources, "AWS::Logs::QueryDefinition")).toEqual([]);
      for (const [id, dashboard] of ofType(resources, "AWS::CloudWatch::Dashboard")) {
        const body = JSON.stringify(dashboard.Properties.DashboardBody);
        expect(body, id).toMatch(/\\"type\\":\\"metric\\"/);
        expect(body, id).not.toMatch(/\\"type\\":\\"log\\"/);
      }
    },
  );
});
