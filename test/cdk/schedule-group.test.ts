/**
 * The retained schedule group must not block re-creating a deleted stack: its name is unique to each creation
 * of the stack (CloudFormation's stack UUID), always a valid Scheduler group name, and every reference to the
 * group (environment variables, IAM resources, alarms) follows the same name.
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import type { PunctualStack } from "#cdk/lib/punctual-stack.js";
import { parseConfig } from "#shared/config/index.js";
import { ENV } from "#shared/runtime/env.js";
import { type CfnTemplateJson, deployedTemplate } from "../support/iam.js";
import { stackConfig } from "../support/stack-config.js";

/** Scheduler's documented constraint on a group name. */
const GROUP_NAME = /^[0-9a-zA-Z\-_.]{1,64}$/;

function synth(stack: PunctualStack) {
  const template = Template.fromStack(stack).toJSON() as CfnTemplateJson;
  const groupId = stack.getLogicalId(stack.timerScheduler.group.node.defaultChild as never);
  return { template, groupId };
}
const newApp = () => new App({ context: { "aws:cdk:bundling-stacks": [] } });

describe("schedule group", () => {
  it("is retained in prod, and gets a different valid name each time the stack is created", () => {
    const stack = addPunctualStack(newApp(), stackConfig("prod"));
    const { template, groupId } = synth(stack);
    expect((template.Resources[groupId] as { DeletionPolicy?: string }).DeletionPolicy).toBe("Retain");
    const nameIn = (stackUuid: string) =>
      deployedTemplate(template, { stackName: stack.stackName, stackUuid }).resolve({ Ref: groupId });
    const first = nameIn("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    const recreated = nameIn("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d");
    expect(first).toMatch(GROUP_NAME);
    expect(recreated).toMatch(GROUP_NAME);
    expect(recreated).not.toBe(first);
  });

  it("stays within Scheduler's 64 characters for the longest environment name", () => {
    const longest = "a".repeat(16);
    const config = parseConfig({
      name: longest,
      topics: { t: {} },
      alarmSubscribers: { emails: ["oncall@punctual.test"] },
    });
    const stack = addPunctualStack(newApp(), config);
    const { template, groupId } = synth(stack);
    const name = deployedTemplate(template, {
      stackName: stack.stackName,
      stackUuid: "ffffffff-ffff-4fff-bfff-ffffffffffff",
    }).resolve({ Ref: groupId });
    expect(name).toMatch(GROUP_NAME);
  });

  it("is the group add-task and cancel-task are told to use", () => {
    const stack = addPunctualStack(newApp(), stackConfig("dev"));
    const { template, groupId } = synth(stack);
    const aws = deployedTemplate(template, { stackName: stack.stackName });
    const group = aws.resolve({ Ref: groupId });
    for (const fn of [stack.api.addTaskFunction, stack.api.cancelTaskFunction]) {
      const id = stack.getLogicalId(fn.node.defaultChild as never);
      const variables = aws.resolve(aws.properties(id).Environment.Variables);
      expect(variables[ENV.scheduleGroupName]).toBe(group);
    }
  });
});
