/**
 * Lambda refuses a function whose environment variables exceed 4 KB in aggregate ("Lambda was unable to configure
 * your environment variables because the environment variables you have provided exceeded the 4KB limit. String
 * measured: {…}": the variables serialized as one JSON object). CDK does not check it and the names are unknown at
 * synth, so a stack that synthesizes cleanly can fail to deploy. Measured here on the deployed template
 * (test/support/iam.ts names every resource as CloudFormation would, generated names at their real length), for
 * the shipped environments and for one with many topics of the longest name the config allows: the topology
 * variable grows with every topic. The stack checks the same at synthesis on an upper bound
 * (cdk/lib/environment-budget.ts): that bound is checked here against the deployed sizes, and a topic count past it
 * must fail synthesis rather than the deploy.
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { CfnFunction } from "aws-cdk-lib/aws-lambda";
import type { CfnQueue } from "aws-cdk-lib/aws-sqs";
import type { IConstruct } from "constructs";
import { describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { PunctualFunction } from "#cdk/lib/constructs/punctual-function.js";
import { environmentUpperBoundBytes } from "#cdk/lib/environment-budget.js";
import { prod } from "#shared/config/environments/prod.js";
import { type PunctualConfig, parseConfig } from "#shared/config/index.js";
import { topologySchema } from "#shared/contract/topology.js";
import { ENV } from "#shared/runtime/env.js";
import { type CfnTemplateJson, deployedTemplate } from "../support/iam.js";
import { stackConfig } from "../support/stack-config.js";

/** Lambda's limit on a function's environment, in bytes of the variables' JSON. */
const LAMBDA_ENVIRONMENT_LIMIT = 4 * 1024;

/** Each function's environment size once deployed (largest first) and the synthesis check's bound for it. */
function environmentSizes(config: PunctualConfig): [string, number, number][] {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = addPunctualStack(app, config);
  const aws = deployedTemplate(Template.fromStack(stack).toJSON() as CfnTemplateJson, {
    stackName: stack.stackName,
  });
  const functions = stack.node.findAll().filter((c): c is PunctualFunction => c instanceof PunctualFunction);
  return functions
    .map((fn): [string, number, number] => {
      const id = stack.resolve((fn.node.defaultChild as CfnFunction).logicalId) as string;
      const variables = aws.resolve(aws.properties(id).Environment?.Variables ?? {});
      return [id, Buffer.byteLength(JSON.stringify(variables)), environmentUpperBoundBytes(fn)];
    })
    .sort((a, b) => b[1] - a[1]);
}

/** `count` topics named `t0…`, each `length` characters long, in prod. */
function prodWithTopics(count: number, length: number): PunctualConfig {
  const topics = Object.fromEntries(
    Array.from({ length: count }, (_, i) => [`topic-${i}`.padEnd(length, "x"), {}]),
  );
  return parseConfig({
    ...prod,
    topics,
    alarmSubscribers: { emails: ["oncall@punctual.test"], httpsUrls: [] },
  });
}

const over = (sizes: [string, number, number][]) =>
  sizes.filter(([, size]) => size > LAMBDA_ENVIRONMENT_LIMIT);

describe("every function's environment fits Lambda's 4 KB", () => {
  it.each(["dev", "prod", "staging", "local"])("%s", (env) => {
    expect(over(environmentSizes(stackConfig(env)))).toEqual([]);
  });

  it("with 10 topics of the longest name allowed (24 characters)", () => {
    const sizes = environmentSizes(prodWithTopics(10, 24));
    expect(sizes[0]?.[1]).toBeGreaterThan(1024);
    expect(over(sizes)).toEqual([]);
  });
});

describe("the topic-wide sections, queues by name against one base", () => {
  it("read back as the full URL of each topic's queue and DLQ, as AWS returns them", () => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const stack = addPunctualStack(app, prodWithTopics(3, 24));
    const aws = deployedTemplate(Template.fromStack(stack).toJSON() as CfnTemplateJson, {
      stackName: stack.stackName,
    });
    const urlOf = (queue: IConstruct) =>
      aws.resolve({ Ref: stack.resolve((queue.node.defaultChild as CfnQueue).logicalId) });
    const read = (fn: IConstruct) => {
      const variables = aws.resolve(
        aws.properties(stack.resolve((fn.node.defaultChild as CfnFunction).logicalId)).Environment.Variables,
      );
      return topologySchema.parse(JSON.parse(variables[ENV.topology]));
    };
    const queues = Object.fromEntries(
      stack.topics.map((t) => [t.name, { queueUrl: urlOf(t.queue), dlqUrl: urlOf(t.deadLetterQueue) }]),
    );
    expect(read(stack.timerQueues.relayFunction).topicQueues).toEqual(
      Object.fromEntries(Object.entries(queues).map(([name, q]) => [name, q.queueUrl])),
    );
    const sweep = read(stack.sweeper.sweeperFunction).sweep ?? {};
    const mappings = read(stack.api.functions["list-topics"]).topicMappings ?? {};
    for (const [name, q] of Object.entries(queues)) {
      expect(sweep[name]).toMatchObject(q);
      expect(mappings[name]).toMatchObject(q);
    }
    expect(Object.keys(sweep).sort()).toEqual(Object.keys(queues).sort());
  });
});

describe("the synthesis check (cdk/lib/environment-budget.ts)", () => {
  it.each(["dev", "prod", "staging", "local"])(
    "never bounds %s's deployed sizes below what they are",
    (env) => {
      const below = environmentSizes(stackConfig(env)).filter(([, deployed, bound]) => bound < deployed);
      expect(below).toEqual([]);
    },
  );

  it("never bounds a many-topic stack's deployed sizes below what they are", () => {
    const sizes = environmentSizes(prodWithTopics(10, 24));
    expect(sizes.filter(([, deployed, bound]) => bound < deployed)).toEqual([]);
  });

  it("fails synthesis, naming the function and the way out, when a topic too many may pass 4 KB", () => {
    const stack = addPunctualStack(
      new App({ context: { "aws:cdk:bundling-stacks": [] } }),
      prodWithTopics(11, 24),
    );
    expect(() => Template.fromStack(stack)).toThrow(
      /Sweeper\/SweeperFunction can reach \d+ bytes once deployed, over Lambda's limit of 4096.*Split the topics across environments/,
    );
  });
});
