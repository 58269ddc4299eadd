import { Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type { PunctualFunction } from "./punctual-function.js";
import type { Topic } from "./topic.js";

const POLICY_ID = "DeliverMappingSwitch";

/**
 * Topics per managed policy. A topic's statement names its mapping and its deliver function twice, about 490
 * characters at the longest region, partition and function name, so the 13 topics an environment takes at most
 * (cdk/lib/environment-budget.ts) came to 6,187 of IAM's 6,144 in us-gov-west-1 with a 5-character environment name,
 * and the deploy failed on the policy (test/cdk/policy-size.test.ts). Ten keep a policy under 5,000.
 */
export const TOPICS_PER_SWITCH_POLICY = 10;

/**
 * Switching the topics' deliver mappings on and off (pause, resume, the sweeper's settings hold):
 * UpdateEventSourceMapping on each topic's mapping only while it invokes that topic's deliver function, and to keep
 * it so. The action also takes a FunctionName; `lambda:FunctionArn` is the function the mapping invokes, or the one
 * an update names (https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html, "Event source
 * mappings"), so the grant cannot re-point a mapping at another function of the account, which would get the
 * topic's tasks. A function's versions and aliases are its own code: `:*` keeps a qualified ARN from refusing a
 * pause.
 *
 * Managed policies of the stack (one per TOPICS_PER_SWITCH_POLICY topics), attached to each role that switches: the
 * conditions name every deliver function's ARN twice, which CDK's size estimate counts as a short placeholder, so in
 * the roles' inline policies the sweeper's went past IAM's 10,240 characters at the configuration's edge
 * (test/cdk/policy-size.test.ts). A managed policy has its own 6,144 (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html),
 * and its statements are written once for the three roles.
 */
export function grantTopicSwitch(topics: readonly Topic[], fn: PunctualFunction): void {
  for (const policy of switchPolicies(topics, fn)) {
    policy.attachToRole(fn.functionRole);
    // As for a role's inline policy (CDK adds the same): the function may switch from its first invocation.
    fn.node.addDependency(policy);
  }
}

function switchPolicies(topics: readonly Topic[], fn: PunctualFunction): iam.ManagedPolicy[] {
  const policies: iam.ManagedPolicy[] = [];
  for (let first = 0; first < topics.length; first += TOPICS_PER_SWITCH_POLICY) {
    // The first keeps the id it always had: a stack of up to 10 topics keeps its one policy as it was.
    const id = first === 0 ? POLICY_ID : `${POLICY_ID}${first / TOPICS_PER_SWITCH_POLICY + 1}`;
    policies.push(switchPolicy(id, topics.slice(first, first + TOPICS_PER_SWITCH_POLICY), fn));
  }
  return policies;
}

function switchPolicy(id: string, topics: readonly Topic[], fn: PunctualFunction): iam.ManagedPolicy {
  const stack = Stack.of(fn);
  const existing = stack.node.tryFindChild(id);
  if (existing instanceof iam.ManagedPolicy) return existing;
  return new iam.ManagedPolicy(stack, id, {
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
