/**
 * `cdk deploy` synthesizes with the context of cdk.json (the CLI hands it to the app), and that context sets CDK
 * feature flags that change the template: `@aws-cdk/aws-iam:minimizePolicies` merges policy statements (and so
 * decides whether a role's statements outgrow one inline document), `@aws-cdk/core:target-partitions` and others.
 * Every other test synthesizes a bare `App` without it, so the policies they evaluate are not the documents AWS is
 * given. Here both are synthesized and every grant is expanded to one line per effect, principal, action, resource
 * and condition, wherever it is attached (a role's inline and overflow policies and its trust policy, queue, topic
 * and key policies, Lambda permissions): the two must grant exactly the same, so what the policy tests prove of
 * one holds for the other.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { PROJECT_ROOT } from "#cdk/lib/constructs/punctual-function.js";
import { stackConfig } from "../support/stack-config.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
type Json = any;

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The context `cdk deploy` synthesizes with: cdk.json's. */
const DEPLOY_CONTEXT: Record<string, unknown> = JSON.parse(
  readFileSync(path.join(PROJECT_ROOT, "cdk.json"), "utf8"),
).context;

function resourcesOf(environment: string, context: Record<string, unknown>): Record<string, Json> {
  const app = new App({ context: { ...context, "aws:cdk:bundling-stacks": [] } });
  return Template.fromStack(addPunctualStack(app, stackConfig(environment))).toJSON().Resources;
}

/** One line per (effect, principal, action, resource, condition) a policy document grants, under `owner`. */
function expand(owner: string, document: Json): string[] {
  const lines: string[] = [];
  for (const st of asArray<Json>(document?.Statement)) {
    const principals =
      st.Principal === undefined
        ? ["(identity)"]
        : typeof st.Principal === "string"
          ? [st.Principal]
          : Object.entries<Json>(st.Principal).flatMap(([kind, values]) =>
              asArray<Json>(values).map((v) => `${kind}:${JSON.stringify(v)}`),
            );
    const resources = asArray<Json>(st.Resource ?? st.NotResource ?? "(none)");
    for (const principal of principals)
      for (const action of asArray<string>(st.Action ?? st.NotAction))
        for (const resource of resources)
          lines.push(
            [
              owner,
              st.Effect,
              st.NotAction ? "NOT" : "",
              principal,
              action,
              JSON.stringify(resource),
              JSON.stringify(st.Condition ?? {}),
            ].join(" | "),
          );
  }
  return lines;
}

/** Every grant of the template, attached where AWS attaches it, sorted and without duplicates. */
function grantsOf(resources: Record<string, Json>): string[] {
  const lines: string[] = [];
  for (const [id, r] of Object.entries(resources)) {
    const p = r.Properties ?? {};
    switch (r.Type) {
      case "AWS::IAM::Policy":
      case "AWS::IAM::ManagedPolicy":
        for (const role of asArray<Json>(p.Roles))
          lines.push(...expand(`role ${role.Ref}`, p.PolicyDocument));
        break;
      case "AWS::IAM::Role":
        lines.push(...expand(`trust ${id}`, p.AssumeRolePolicyDocument));
        for (const inline of asArray<Json>(p.Policies))
          lines.push(...expand(`role ${id}`, inline.PolicyDocument));
        break;
      case "AWS::SQS::QueuePolicy":
        for (const q of asArray<Json>(p.Queues))
          lines.push(...expand(`queue ${JSON.stringify(q)}`, p.PolicyDocument));
        break;
      case "AWS::SNS::TopicPolicy":
        for (const t of asArray<Json>(p.Topics))
          lines.push(...expand(`topic ${JSON.stringify(t)}`, p.PolicyDocument));
        break;
      case "AWS::KMS::Key":
        lines.push(...expand(`key ${id}`, p.KeyPolicy));
        break;
      case "AWS::Lambda::Permission":
        lines.push(`permission ${id} | ${JSON.stringify(p)}`);
        break;
    }
  }
  return [...new Set(lines)].sort();
}

describe("what `cdk deploy` synthesizes (cdk.json's feature flags)", () => {
  it("merges policy statements the other tests' template keeps apart: its documents are not the ones tested", () => {
    // Act
    const statements = (resources: Record<string, Json>) =>
      Object.values<Json>(resources)
        .filter((r) => r.Type === "AWS::IAM::Policy")
        .reduce((n, r) => n + asArray(r.Properties.PolicyDocument.Statement).length, 0);
    const tested = statements(resourcesOf("prod", {}));
    const deployed = statements(resourcesOf("prod", DEPLOY_CONTEXT));

    // Assess
    expect(DEPLOY_CONTEXT["@aws-cdk/aws-iam:minimizePolicies"]).toBe(true);
    expect(deployed).toBeLessThan(tested);
  });

  it.each(["dev", "staging", "prod", "local"])(
    "%s grants exactly what the template the policy tests evaluate grants",
    (environment) => {
      // Act
      const tested = grantsOf(resourcesOf(environment, {}));
      const deployed = grantsOf(resourcesOf(environment, DEPLOY_CONTEXT));

      // Assess
      expect(tested.length).toBeGreaterThan(100);
      expect(deployed).toEqual(tested);
    },
  );
});
