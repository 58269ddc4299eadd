import { describe, expect, it } from "vitest";
import { type CfnTemplate, rateExpressionMs, topologyOf } from "#local/cloud/template.js";

const template: CfnTemplate = {
  Resources: {
    Tasks: {
      Type: "AWS::DynamoDB::Table",
      Properties: {
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [
          { AttributeName: "pk", AttributeType: "S" },
          { AttributeName: "sweepShard", AttributeType: "N" },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: "unfinished-by-due",
            KeySchema: [{ AttributeName: "sweepShard", KeyType: "HASH" }],
            Projection: { ProjectionType: "INCLUDE", NonKeyAttributes: ["taskId"] },
          },
        ],
      },
    },
    SweeperFn: {
      Type: "AWS::Lambda::Function",
      Metadata: { "punctual:entry": "functions/sweeper.ts" },
      Properties: { Timeout: 50, Environment: { Variables: {} } },
    },
    Every: {
      Type: "AWS::Events::Rule",
      Properties: {
        ScheduleExpression: "rate(1 minute)",
        State: "ENABLED",
        Targets: [{ Arn: { "Fn::GetAtt": ["SweeperFn", "Arn"] }, Id: "Target0" }],
      },
    },
    Off: {
      Type: "AWS::Events::Rule",
      Properties: {
        ScheduleExpression: "rate(2 hours)",
        State: "DISABLED",
        Targets: [{ Arn: { "Fn::GetAtt": ["SweeperFn", "Arn"] }, Id: "Target0" }],
      },
    },
    Pattern: {
      Type: "AWS::Events::Rule",
      Properties: { EventPattern: { source: ["aws.s3"] }, Targets: [] },
    },
  },
};

describe("topologyOf: what the local cloud takes from the template for the sweeper", () => {
  it("reads a table's global secondary indexes as CreateTable takes them", () => {
    expect(topologyOf(template).tables[0]?.globalSecondaryIndexes).toEqual([
      {
        IndexName: "unfinished-by-due",
        KeySchema: [{ AttributeName: "sweepShard", KeyType: "HASH" }],
        Projection: { ProjectionType: "INCLUDE", NonKeyAttributes: ["taskId"] },
      },
    ]);
  });

  it("reads scheduled rules that target one of our functions, with their rate; event-pattern rules are not fired", () => {
    expect(topologyOf(template).scheduledRules).toEqual([
      {
        logicalId: "Every",
        functionLogicalId: "SweeperFn",
        scheduleExpression: "rate(1 minute)",
        rateMs: 60_000,
        enabled: true,
      },
      {
        logicalId: "Off",
        functionLogicalId: "SweeperFn",
        scheduleExpression: "rate(2 hours)",
        rateMs: 7_200_000,
        enabled: false,
      },
    ]);
  });

  it("converts rate expressions and refuses what it cannot run", () => {
    expect(rateExpressionMs("rate(5 minutes)")).toBe(300_000);
    expect(rateExpressionMs("rate(1 day)")).toBe(86_400_000);
    expect(() => rateExpressionMs("cron(0 12 * * ? *)")).toThrow(/unsupported schedule expression/);
    expect(() => rateExpressionMs("rate(0 minutes)")).toThrow(/unsupported/);
    expect(() => rateExpressionMs("rate(10 seconds)")).toThrow(/unsupported/);
  });
});

describe("topologyOf: the API's routes", () => {
  /** A route to SweeperFn through an integration of this payload format version (undefined: the property left out). */
  function withRoute(payloadFormatVersion: string | undefined): CfnTemplate {
    return {
      Resources: {
        ...template.Resources,
        Integration: {
          Type: "AWS::ApiGatewayV2::Integration",
          Properties: {
            IntegrationType: "AWS_PROXY",
            IntegrationUri: { "Fn::GetAtt": ["SweeperFn", "Arn"] },
            ...(payloadFormatVersion !== undefined ? { PayloadFormatVersion: payloadFormatVersion } : {}),
          },
        },
        Route: {
          Type: "AWS::ApiGatewayV2::Route",
          Properties: {
            RouteKey: "GET /v1/x",
            Target: { "Fn::Join": ["", ["integrations/", { Ref: "Integration" }]] },
          },
        },
      },
    };
  }

  it("serves a route whose integration hands its function payload format 2.0, the only event the API server builds", () => {
    expect(topologyOf(withRoute("2.0")).routes).toEqual([
      { routeKey: "GET /v1/x", functionLogicalId: "SweeperFn" },
    ]);
  });

  it("refuses one of another (or no) payload format rather than hand its function a 2.0 event it does not read", () => {
    // Payload 1.0 keeps a repeated header's or query key's last value and has no rawQueryString, so the handlers'
    // guards against API Gateway's comma-joined duplicates would see nothing: local must not hide that.
    for (const version of ["1.0", undefined]) {
      expect(() => topologyOf(withRoute(version)), String(version)).toThrow(/payload format/);
    }
  });
});
