import { Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type { PunctualFunction } from "./punctual-function.js";
import type { Topic } from "./topic.js";

const POLICY_ID = "DeliverMappingSwitch";

/**
 * Switching the topics' deliver mappings on and off (pause, resume, the sweeper's settings hold):
 * UpdateEventSourceMapping on each topic's mapping only while it invokes that topic's deliver function, and to keep
 * it so. The action also takes a FunctionName; `lambda:FunctionArn` is the function the mapping invokes, or the one
 * an update names (https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html, "Event source
 * mappings"), so the grant cannot re-point a mapping at another function of the account, which would get the
 * topic's tasks. A function's versions and aliases are its own code: `:*` keeps a qualified ARN from refusing a
 * pause.
 *
 * One managed policy of the stack, attached to each role that switches: the conditions name every deliver
 * function's ARN twice, which CDK's size estimate counts as a short placeholder, so in the roles' inline policies
 * the sweeper's went past IAM's 10,240 characters at the configuration's edge (test/cdk/policy-size.test.ts). A
 * managed policy has its own 6,144, and its statements are written once for the three roles.
 */
export function grantTopicSwitch(topics: readonly Topic[], fn: PunctualFunction): void {
  const policy = switchPolicy(topics, fn);
  policy.attachToRole(fn.functionRole);
  // As for a role's inline policy (CDK adds the same): the function may switch from its first invocation.
  fn.node.addDependency(policy);
}

function switchPolicy(topics: readonly Topic[], fn: PunctualFunction): iam.ManagedPolicy {
  const stack = Stack.of(fn);
  const existing = stack.node.tryFindChild(POLICY_ID);
  if (existing instanceof iam.ManagedPolicy) return existing;
  return new iam.ManagedPolicy(stack, POLICY_ID, {
    description: "Switch each topic's deliver mapping on and off, never re-point it (Punctual)",
    statements: topics.map(
      (topic) =>
        new iam.PolicyStatement({
          actions: ["lambda:UpdateEventSourceMapping"],
          resources: [topic.deliverMappingArn],
          conditions: {
            ArnLike: {
              "lambda:FunctionArn": [
                topic.deliverFunction.functionArn,
                `${topic.deliverFunction.functionArn}:*`,
              ],
            },
          },
        }),
    ),
  });
}
