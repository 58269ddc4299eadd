/**
 * Every role's policies fit IAM's size quotas once deployed: a role's inline policies together at most 10,240
 * characters, each managed policy at most 6,144, whitespace not counted, and at most 10 managed policies attached
 * by default (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). Past them IAM refuses
 * the policy ("LimitExceeded: Maximum policy size of 10240 bytes exceeded for role …") and the deploy fails.
 *
 * CDK moves statements into managed "OverflowPolicy" documents when it estimates a role's inline policy too large,
 * but it counts a token in a condition as its placeholder (about 20 characters) where AWS sees the ARN it resolves
 * to (a hundred and more). A grant conditioned on an ARN per topic — tried: a `lambda:FunctionArn` condition on each
 * deliver mapping's switch (README "Honest limits") — passes CDK's estimate and puts the sweeper's inline policy at
 * 11,051 characters at the first edge below (8,596 without it). So the sizes are measured on the deployed
 * template (test/support/iam.ts names each resource as CloudFormation would), at the configuration's edge: the most
 * topics the stack takes at the longest topic names, the longest environment name, the longest region and
 * partition (cdk/lib/environment-budget.ts uses the same).
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { prod } from "#shared/config/environments/prod.js";
import { parseConfig } from "#shared/config/index.js";
import { type CfnTemplateJson, deployedTemplate } from "../support/iam.js";

const ROLE_INLINE_LIMIT = 10_240;
const MANAGED_POLICY_LIMIT = 6_144;
const MANAGED_POLICIES_PER_ROLE = 10;
/** The longest region and partition AWS has (cdk/lib/environment-budget.ts): every ARN carries both. */
const LONGEST_REGION = "us-isof-south-1";
const LONGEST_PARTITION = "aws-us-gov";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
type Json = any;

/** A policy document's size as IAM counts it: its JSON without whitespace, each ARN in the longest partition. */
const sizeOf = (document: Json): number =>
  JSON.stringify(document).replaceAll("arn:aws:", `arn:${LONGEST_PARTITION}:`).replace(/\s/g, "").length;

/** Per role: its inline policies' total size, and each managed policy attached to it. */
function policySizes(topicCount: number, topicNameLength: number, environment: string) {
  const topics = Object.fromEntries(
    Array.from({ length: topicCount }, (_, i) => [`t${i}`.padEnd(topicNameLength, "x"), {}]),
  );
  const config = parseConfig({
    ...prod,
    name: environment,
    region: LONGEST_REGION,
    account: "123456789012",
    topics,
    alarmSubscribers: { emails: ["oncall@punctual.test"], httpsUrls: [] },
  });
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = addPunctualStack(app, config);
  const aws = deployedTemplate(Template.fromStack(stack).toJSON() as CfnTemplateJson, {
    stackName: stack.stackName,
    region: LONGEST_REGION,
  });
  const roles = new Map<string, { inline: number; managed: number[] }>(
    aws.idsOfType("AWS::IAM::Role").map((id) => {
      const own = (aws.properties(id).Policies ?? []) as Json[];
      return [
        id,
        { inline: own.reduce((sum, p) => sum + sizeOf(aws.resolve(p.PolicyDocument)), 0), managed: [] },
      ];
    }),
  );
  const attached = (
    type: string,
    add: (entry: { inline: number; managed: number[] }, size: number) => void,
  ) => {
    for (const id of aws.idsOfType(type)) {
      const props = aws.properties(id);
      const size = sizeOf(aws.resolve(props.PolicyDocument));
      for (const role of (props.Roles ?? []) as Json[]) add(roles.get(role.Ref) as never, size);
    }
  };
  attached("AWS::IAM::Policy", (entry, size) => {
    entry.inline += size;
  });
  attached("AWS::IAM::ManagedPolicy", (entry, size) => {
    entry.managed.push(size);
  });
  return roles;
}

describe("every role's policies fit IAM's size quotas once deployed", () => {
  it.each([
    // README "Honest limits": 10 topics whatever their names; the longest environment name with them.
    [10, 24, "abcdefghijklmnop"],
    // ... and 12 with 8-character names.
    [12, 8, "prod"],
    // The most the variables take at all: 13 topics of 3 characters (14 fail synthesis, as do 13 of 4). Each topic
    // adds a statement of three ARNs to the deliver mappings' switch policy, which passed 6,144 here (6,187 in
    // us-gov-west-1, a real region of the aws-us-gov partition) with the 13 statements in one managed policy.
    [13, 3, "stage"],
  ])("%i topics of %i characters, environment %s", (topicCount, topicNameLength, environment) => {
    // Act
    const roles = policySizes(topicCount, topicNameLength, environment);

    // Assess
    const over = [...roles].filter(
      ([, { inline, managed }]) =>
        inline > ROLE_INLINE_LIMIT ||
        managed.some((size) => size > MANAGED_POLICY_LIMIT) ||
        managed.length > MANAGED_POLICIES_PER_ROLE,
    );
    expect(over).toEqual([]);
    // Not vacuous: the sweeper's grants grow with every topic; at this edge they fill most of the quota.
    const largest = Math.max(...[...roles.values()].map((r) => r.inline));
    expect(largest).toBeGreaterThan(ROLE_INLINE_LIMIT * 0.6);
  });
});
