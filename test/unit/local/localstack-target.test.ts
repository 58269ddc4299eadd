import { describe, expect, it } from "vitest";
import { e2eTarget } from "../../e2e/support/harness.js";
import {
  bakedConfigOverrides,
  DEFAULT_LOCALSTACK_ENDPOINT,
  discoverDeployment,
  includesConfig,
  localStackApiUrl,
  localStackSettings,
  physicalIdOf,
} from "../../e2e/support/localstack.js";

/** The pure parts of the LocalStack target (LocalStack itself cannot run here: see localstack/README.md). */
describe("LocalStack target", () => {
  it("is chosen by PUNCTUAL_E2E_TARGET, local by default, anything else refused", () => {
    expect(e2eTarget({})).toBe("local");
    expect(e2eTarget({ PUNCTUAL_E2E_TARGET: "localstack" })).toBe("localstack");
    expect(() => e2eTarget({ PUNCTUAL_E2E_TARGET: "aws" })).toThrow(/"local" or "localstack"/);
  });

  it("reads its settings from the environment, with LocalStack's defaults", () => {
    expect(localStackSettings({})).toEqual({
      endpoint: DEFAULT_LOCALSTACK_ENDPOINT,
      region: "us-east-1",
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
      stackName: "Punctual-local",
    });
    expect(
      localStackSettings({
        AWS_ENDPOINT_URL: "http://127.0.0.1:4566",
        AWS_DEFAULT_REGION: "eu-west-1",
        PUNCTUAL_E2E_STACK: "Punctual-other",
        PUNCTUAL_E2E_API_URL: "http://api",
        PUNCTUAL_SIGNING_SECRET: "whsec_x",
      }),
    ).toMatchObject({
      endpoint: "http://127.0.0.1:4566",
      region: "eu-west-1",
      stackName: "Punctual-other",
      apiUrl: "http://api",
      signingSecret: "whsec_x",
    });
  });

  it("needs no lookup when every value is given", async () => {
    const deployment = await discoverDeployment({
      ...localStackSettings({}),
      apiUrl: "http://127.0.0.1:3000/",
      tableName: "t",
      scheduleGroupName: "g",
      signingSecret: "whsec_x",
    });

    expect(deployment).toEqual({
      apiUrl: "http://127.0.0.1:3000",
      tableName: "t",
      scheduleGroupName: "g",
      signingSecret: "whsec_x",
      configOverrides: undefined,
    });
  });

  it("turns the stack's AWS-style ApiUrl into LocalStack's execute-api host on the edge port", () => {
    const output = "https://abc123.execute-api.us-east-1.amazonaws.com/";

    expect(localStackApiUrl(output, "abc123", DEFAULT_LOCALSTACK_ENDPOINT)).toBe(
      "http://abc123.execute-api.localhost.localstack.cloud:4566",
    );
    expect(localStackApiUrl(output, "abc123", "http://127.0.0.1:4510")).toBe(
      "http://abc123.execute-api.localhost.localstack.cloud:4510",
    );
    const already = "https://abc123.execute-api.localhost.localstack.cloud:4566/";
    expect(localStackApiUrl(already, "abc123", DEFAULT_LOCALSTACK_ENDPOINT)).toBe(already);
  });

  it("finds the stack's one table, schedule group and API by resource type", () => {
    const resources = [
      { ResourceType: "AWS::DynamoDB::Table", PhysicalResourceId: "Punctual-local-Tasks-1" },
      { ResourceType: "AWS::Scheduler::ScheduleGroup", PhysicalResourceId: "Punctuallocal-Group-2" },
      { ResourceType: "AWS::SQS::Queue", PhysicalResourceId: "q1" },
      { ResourceType: "AWS::SQS::Queue", PhysicalResourceId: "q2" },
    ];

    expect(physicalIdOf(resources, "AWS::DynamoDB::Table", "S")).toBe("Punctual-local-Tasks-1");
    expect(physicalIdOf(resources, "AWS::Scheduler::ScheduleGroup", "S")).toBe("Punctuallocal-Group-2");
    expect(() => physicalIdOf(resources, "AWS::SQS::Queue", "S")).toThrow(
      /expected one AWS::SQS::Queue, found 2/,
    );
    expect(() => physicalIdOf(resources, "AWS::ApiGatewayV2::Api", "S")).toThrow(/found 0/);
  });

  it("reads the overrides baked into the deployed functions from the template", () => {
    const fn = (variables: Record<string, unknown>) => ({
      Type: "AWS::Lambda::Function",
      Properties: { Environment: { Variables: variables } },
    });
    const baked = { timer: { horizonSeconds: 2, leadSeconds: 2 } };

    expect(
      bakedConfigOverrides(
        JSON.stringify({
          Resources: {
            Q: { Type: "AWS::SQS::Queue" },
            F: fn({ PUNCTUAL_ENV: "local", PUNCTUAL_CONFIG_OVERRIDES: JSON.stringify(baked) }),
          },
        }),
      ),
    ).toEqual(baked);
    expect(
      bakedConfigOverrides(JSON.stringify({ Resources: { F: fn({ PUNCTUAL_ENV: "local" }) } })),
    ).toBeNull();
    expect(bakedConfigOverrides("Resources:\n  F: {}")).toBeUndefined();
  });

  it("compares the config a test needs field by field with what was deployed", () => {
    const deployed = {
      timer: { horizonSeconds: 2, leadSeconds: 2 },
      system: { allowedCallbackHosts: ["127.0.0.1", "host.docker.internal"] },
    };

    expect(includesConfig(deployed, { timer: { horizonSeconds: 2, leadSeconds: 2 } })).toBe(true);
    expect(includesConfig(deployed, { timer: { horizonSeconds: 3 } })).toBe(false);
    expect(includesConfig(deployed, { system: { allowedCallbackHosts: ["127.0.0.1"] } })).toBe(false);
    expect(includesConfig(null, { timer: { horizonSeconds: 2 } })).toBe(false);
  });
});
