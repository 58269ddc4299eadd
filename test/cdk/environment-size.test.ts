/**
 * Lambda refuses a function whose environment variables exceed 4 KB in aggregate ("Lambda was unable to configure
 * your environment variables because the environment variables you have provided exceeded the 4KB limit. String
 * measured: {…}": the variables serialized as one JSON object). CDK does not check it and the names are unknown at
 * synth, so a stack that synthesizes cleanly can fail to deploy. Measured here on the deployed template
 * (test/support/iam.ts names every resource as CloudFormation would, generated names at their real length), for
 * the shipped environments and for one with many topics of the longest name the config allows: the topology
 * variable grows with every topic.
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { prod } from "#shared/config/environments/prod.js";
import { type PunctualConfig, parseConfig } from "#shared/config/index.js";
import { type CfnTemplateJson, deployedTemplate } from "../support/iam.js";
import { stackConfig } from "../support/stack-config.js";

/** Lambda's limit on a function's environment, in bytes of the variables' JSON. */
const LAMBDA_ENVIRONMENT_LIMIT = 4 * 1024;

/** Each function's environment size once deployed, largest first. */
function environmentSizes(config: PunctualConfig): [string, number][] {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = addPunctualStack(app, config);
  const aws = deployedTemplate(Template.fromStack(stack).toJSON() as CfnTemplateJson, {
    stackName: stack.stackName,
  });
  return aws
    .idsOfType("AWS::Lambda::Function")
    .map((id): [string, number] => {
      const variables = aws.resolve(aws.properties(id).Environment?.Variables ?? {});
      return [id, Buffer.byteLength(JSON.stringify(variables))];
    })
    .sort((a, b) => b[1] - a[1]);
}

const over = (sizes: [string, number][]) => sizes.filter(([, size]) => size > LAMBDA_ENVIRONMENT_LIMIT);

describe("every function's environment fits Lambda's 4 KB", () => {
  it.each(["dev", "prod", "staging", "local"])("%s", (env) => {
    expect(over(environmentSizes(stackConfig(env)))).toEqual([]);
  });

  it("with 8 topics of the longest name allowed (24 characters)", () => {
    const topics = Object.fromEntries(
      Array.from({ length: 8 }, (_, i) => [`topic-${i}`.padEnd(24, "x"), {}]),
    );
    const config = parseConfig({
      ...prod,
      topics,
      alarmSubscribers: { emails: ["oncall@punctual.test"], httpsUrls: [] },
    });
    const sizes = environmentSizes(config);
    expect(sizes[0]?.[1]).toBeGreaterThan(1024);
    expect(over(sizes)).toEqual([]);
  });
});
