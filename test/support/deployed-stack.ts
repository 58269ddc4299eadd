/**
 * The stack as CDK synthesizes it for an environment, with the template resolved the way AWS will deploy it
 * (./iam.ts `deployedTemplate`): what the policy and settings tests evaluate. Bundling is skipped.
 */
import { App, type CfnElement } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import { addPunctualStack } from "#cdk/lib/app.js";
import type { PunctualStack } from "#cdk/lib/punctual-stack.js";
import type { PunctualConfig } from "#shared/config/index.js";
import { type CfnTemplateJson, type DeployedTemplate, deployedTemplate } from "./iam.js";

export interface DeployedStack {
  readonly stack: PunctualStack;
  readonly config: PunctualConfig;
  readonly template: CfnTemplateJson;
  readonly aws: DeployedTemplate;
}

export function deployStack(config: PunctualConfig): DeployedStack {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = addPunctualStack(app, config);
  const template = Template.fromStack(stack).toJSON() as CfnTemplateJson;
  return { stack, config, template, aws: deployedTemplate(template, { stackName: stack.stackName }) };
}

/** A construct's logical id in the deployed stack. */
export function logicalIdOf(deployed: DeployedStack, construct: IConstruct): string {
  return deployed.stack.getLogicalId((construct.node.defaultChild ?? construct) as CfnElement);
}
