import {
  AppConfigDataClient,
  GetLatestConfigurationCommand,
  StartConfigurationSessionCommand,
} from "@aws-sdk/client-appconfigdata";
import { DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetScheduleGroupCommand, SchedulerClient } from "@aws-sdk/client-scheduler";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "#local/aws/emulators.js";
import { type LocalCloud, startLocalCloud } from "#local/cloud/local-cloud.js";
import { synthLocalTemplate } from "#local/cloud/synth.js";
import type { CfnTemplate } from "#local/cloud/template.js";
import { API_ROUTES, DEFAULT_ROUTE } from "#shared/api/routes.js";

/**
 * One source of truth: every queue, table, event source, route, schedule group and function environment of the
 * synthesized `local` stack exists in the local cloud with the same settings — read back from the emulators.
 */
let cloud: LocalCloud;
let template: CfnTemplate;
let sqs: SQSClient;
let dynamodb: DynamoDBClient;
let scheduler: SchedulerClient;

beforeAll(async () => {
  cloud = await startLocalCloud({ apiPort: 0, awsPort: 0 });
  template = await synthLocalTemplate();
  const client = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  sqs = new SQSClient({
    ...client,
    endpoint: `http://sqs.${LOCAL_REGION}.localhost:${new URL(cloud.endpoints.sqs).port}`,
  });
  dynamodb = new DynamoDBClient({ ...client, endpoint: cloud.endpoints.dynamodb });
  scheduler = new SchedulerClient({ ...client, endpoint: cloud.endpoints.scheduler });
});

afterAll(async () => {
  sqs?.destroy();
  dynamodb?.destroy();
  scheduler?.destroy();
  await cloud?.stop();
});

const resourcesOf = (type: string) =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type) as [
    string,
    { Properties: Record<string, unknown> },
  ][];

describe("local cloud ↔ CDK template parity", () => {
  it("has every queue with the template's FIFO, deduplication, visibility, size, retention and redrive", async () => {
    const queues = resourcesOf("AWS::SQS::Queue");
    expect(queues.length).toBeGreaterThanOrEqual(4);

    for (const [logicalId, { Properties: p }] of queues) {
      const local = cloud.physical.get(logicalId);
      expect(local, logicalId).toBeDefined();
      const { Attributes = {} } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: local?.ref, AttributeNames: ["All"] }),
      );
      expect(Attributes.FifoQueue === "true", logicalId).toBe(p.FifoQueue === true);
      if (p.FifoQueue) {
        expect(Attributes.ContentBasedDeduplication, logicalId).toBe(
          String(p.ContentBasedDeduplication ?? false),
        );
      }
      for (const name of ["VisibilityTimeout", "MaximumMessageSize", "MessageRetentionPeriod"] as const) {
        if (p[name] !== undefined) expect(Attributes[name], `${logicalId}.${name}`).toBe(String(p[name]));
      }
      const redrive = p.RedrivePolicy as {
        deadLetterTargetArn: { "Fn::GetAtt": [string] };
        maxReceiveCount: number;
      };
      if (redrive) {
        const localRedrive = JSON.parse(Attributes.RedrivePolicy ?? "{}");
        expect(Number(localRedrive.maxReceiveCount), logicalId).toBe(redrive.maxReceiveCount);
        const dlqLogicalId = redrive.deadLetterTargetArn["Fn::GetAtt"][0];
        expect(localRedrive.deadLetterTargetArn, logicalId).toBe(
          cloud.physical.get(dlqLogicalId)?.attributes.Arn,
        );
      } else {
        expect(Attributes.RedrivePolicy, logicalId).toBeUndefined();
      }
    }
  });

  it("has every table with the template's key schema and global secondary indexes", async () => {
    const tables = resourcesOf("AWS::DynamoDB::Table");
    expect(tables.length).toBe(1);

    for (const [logicalId, { Properties: p }] of tables) {
      const { Table } = await dynamodb.send(
        new DescribeTableCommand({ TableName: cloud.physical.get(logicalId)?.ref }),
      );
      expect(Table?.KeySchema).toEqual(p.KeySchema);
      expect(
        [...(Table?.AttributeDefinitions ?? [])].sort((a, b) =>
          String(a.AttributeName).localeCompare(String(b.AttributeName)),
        ),
      ).toEqual(
        [...(p.AttributeDefinitions as { AttributeName: string }[])].sort((a, b) =>
          a.AttributeName.localeCompare(b.AttributeName),
        ),
      );
      const declared = (p.GlobalSecondaryIndexes as { IndexName: string }[] | undefined) ?? [];
      expect(declared.length, logicalId).toBeGreaterThan(0);
      expect(
        (Table?.GlobalSecondaryIndexes ?? []).map(({ IndexName, KeySchema, Projection }) => ({
          IndexName,
          KeySchema,
          Projection,
        })),
        logicalId,
      ).toEqual(declared);
    }
  });

  it("fires every scheduled EventBridge rule at the template's rate, targeting the function it names", () => {
    const rules = resourcesOf("AWS::Events::Rule");
    expect(rules.length).toBeGreaterThanOrEqual(1);
    expect(cloud.scheduledRules.map((r) => r.logicalId).sort()).toEqual(rules.map(([id]) => id).sort());
    for (const [logicalId, { Properties: p }] of rules) {
      const local = cloud.scheduledRules.find((r) => r.logicalId === logicalId);
      const [target] = p.Targets as { Arn: { "Fn::GetAtt": [string, string] } }[];
      expect(local?.functionName, logicalId).toBe(target?.Arn["Fn::GetAtt"][0]);
      expect(local?.scheduleExpression, logicalId).toBe(p.ScheduleExpression);
      expect(local?.intervalMs, logicalId).toBe(60_000);
    }
  });

  it("runs every event source mapping with the template's queue, function, batch size, window and response types", () => {
    const mappings = resourcesOf("AWS::Lambda::EventSourceMapping");
    expect(mappings.length).toBe(cloud.eventSourceMappings.length);

    for (const [logicalId, { Properties: p }] of mappings) {
      const local = cloud.eventSourceMappings.find((m) => m.logicalId === logicalId);
      expect(local, logicalId).toBeDefined();
      const queueLogicalId = (p.EventSourceArn as { "Fn::GetAtt": [string] })["Fn::GetAtt"][0];
      expect(local?.queueArn).toBe(cloud.physical.get(queueLogicalId)?.attributes.Arn);
      expect(local?.functionName).toBe((p.FunctionName as { Ref: string }).Ref);
      expect(local?.batchSize).toBe(p.BatchSize);
      expect(local?.maximumBatchingWindowSeconds).toBe(p.MaximumBatchingWindowInSeconds ?? 0);
      expect(local?.reportBatchItemFailures).toBe(
        (p.FunctionResponseTypes as string[]).includes("ReportBatchItemFailures"),
      );
    }
  });

  it("serves every API route with the function the template integrates", () => {
    const routes = resourcesOf("AWS::ApiGatewayV2::Route").map(([, r]) => String(r.Properties.RouteKey));

    expect(Object.keys(cloud.routes).sort()).toEqual(routes.sort());
  });

  it("creates the schedule group and gives each function exactly the template's environment variables", async () => {
    for (const [logicalId] of resourcesOf("AWS::Scheduler::ScheduleGroup")) {
      const group = await scheduler.send(
        new GetScheduleGroupCommand({ Name: cloud.physical.get(logicalId)?.ref }),
      );
      expect(group.State).toBe("ACTIVE");
    }
    for (const [logicalId, resource] of resourcesOf("AWS::Lambda::Function")) {
      const env = (resource.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)
        ?.Variables;
      if (!cloud.functionEnvironments[logicalId]) continue; // CDK's own helper functions
      expect(Object.keys(cloud.functionEnvironments[logicalId] ?? {}).sort(), logicalId).toEqual(
        Object.keys(env ?? {}).sort(),
      );
    }
    expect(Object.keys(cloud.functionEnvironments).length).toBe(cloud.topology.functions.length);
    // Every API route of the table, the $default route, and the pipeline's own functions: a route added to the
    // table runs locally without a change here.
    expect(cloud.topology.functions.map((f) => f.entry).sort()).toEqual(
      [
        ...API_ROUTES.map((r) => r.entry),
        DEFAULT_ROUTE.entry,
        "functions/deliver.ts",
        "functions/relay.ts",
        "functions/sweeper.ts",
        "functions/schedule-materializer.ts",
        "functions/validate-topic-settings.ts",
      ].sort(),
    );
  });

  it("tells the functions the schedule group it created (the name the template computes from the stack id)", () => {
    const [[groupId] = []] = resourcesOf("AWS::Scheduler::ScheduleGroup");
    const created = cloud.physical.get(String(groupId))?.ref;
    const told = Object.values(cloud.functionEnvironments)
      .map((env) => env.SCHEDULE_GROUP_NAME)
      .filter((name) => name !== undefined);
    expect(told.length).toBeGreaterThanOrEqual(2);
    for (const name of told) expect(name).toBe(created);
  });

  it("serves the template's hosted topic settings through AppConfig Data, to the ids the functions are told", async () => {
    // Prepare: the ids as a function's topology names them, a real SDK client on the local endpoint.
    const [[, version] = []] = resourcesOf("AWS::AppConfig::HostedConfigurationVersion");
    const told = Object.values(cloud.functionEnvironments)
      .map((env) => (env.PUNCTUAL_TOPOLOGY ? JSON.parse(env.PUNCTUAL_TOPOLOGY).topicSettings : undefined))
      .filter((ids) => ids !== undefined);
    expect(told.length).toBeGreaterThanOrEqual(3);
    const [ids] = told;
    const appConfig = new AppConfigDataClient({
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      endpoint: cloud.topicSettings?.endpoint,
    });

    // Act
    const session = await appConfig.send(
      new StartConfigurationSessionCommand({
        ApplicationIdentifier: ids.applicationId,
        EnvironmentIdentifier: ids.environmentId,
        ConfigurationProfileIdentifier: ids.profileId,
        // As the functions' port asks (AWS's least): without it AWS holds the session to 60 s between polls.
        RequiredMinimumPollIntervalInSeconds: 15,
      }),
    );
    const first = await appConfig.send(
      new GetLatestConfigurationCommand({ ConfigurationToken: session.InitialConfigurationToken }),
    );
    // The local cloud holds such a session to its 1 s refresh (AWS: the 15 s asked for); a sooner poll is refused.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const again = await appConfig.send(
      new GetLatestConfigurationCommand({ ConfigurationToken: first.NextPollConfigurationToken }),
    );
    appConfig.destroy();

    // Assess: the document once, then "no change" (an empty body), as AppConfig answers.
    for (const other of told) expect(other).toEqual(ids);
    expect(new TextDecoder().decode(first.Configuration)).toBe(version?.Properties.Content);
    expect(first.ContentType).toBe("application/json");
    expect(again.Configuration?.length ?? 0).toBe(0);
    expect(again.NextPollConfigurationToken).toBeTruthy();
  });
});
