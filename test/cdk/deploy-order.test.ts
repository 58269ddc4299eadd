/**
 * The order in which a `cdk deploy` of a live stack updates the functions. CloudFormation updates resources side by
 * side unless one depends on another, and then only after what it depends on is updated
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html).
 *
 * A deploy that adds a topic gives the relay the topic's FIFO queue (its topology) and the add functions the
 * topic. Updated in the other order, a task of the new topic added in between meets the relay still running
 * without that queue: its timer is failed and comes back after the relay's backoff (1, 2, 4 … s; before 2026-12-04
 * after the timer queue's 180 s visibility timeout), the task late by as long as the old relay runs, an error logged
 * at every receive. So every function that arms timers on the timer queue is updated after the relay.
 */
import { describe, expect, it } from "vitest";
import { type DeployedStack, deployStack, logicalIdOf } from "../support/deployed-stack.js";
import { stackConfig } from "../support/stack-config.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped by nature.
type Json = any;

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The roles whose inline policies allow sqs:SendMessage on the timer queue. */
function timerSenderRoles(d: DeployedStack, timerQueueId: string): Set<string> {
  const roles = new Set<string>();
  for (const resource of Object.values<Json>(d.template.Resources)) {
    if (resource.Type !== "AWS::IAM::Policy") continue;
    const sends = asArray<Json>(resource.Properties.PolicyDocument.Statement).some(
      (st) =>
        asArray<string>(st.Action).includes("sqs:SendMessage") &&
        asArray<Json>(st.Resource).some((r) => r?.["Fn::GetAtt"]?.[0] === timerQueueId),
    );
    if (sends) for (const role of asArray<Json>(resource.Properties.Roles)) roles.add(role.Ref);
  }
  return roles;
}

describe("deploy order", () => {
  for (const environment of ["dev", "prod"]) {
    it(`${environment}: every function that arms timers is updated after the relay`, () => {
      const d = deployStack(stackConfig(environment));
      const relay = logicalIdOf(d, d.stack.timerQueues.relayFunction);
      const senders = timerSenderRoles(d, logicalIdOf(d, d.stack.timerQueues.queue));
      const armers = Object.entries<Json>(d.template.Resources).filter(
        ([id, r]) =>
          r.Type === "AWS::Lambda::Function" &&
          id !== relay &&
          senders.has(r.Properties.Role?.["Fn::GetAtt"]?.[0]),
      );
      // The add routes, reschedule and run, schedule create and resume, the materializer and the sweeper at least.
      expect(armers.length).toBeGreaterThanOrEqual(6);
      const notAfter = armers
        .filter(([, r]) => !asArray<string>(r.DependsOn).includes(relay))
        .map(([id]) => id);
      expect(notAfter).toEqual([]);
    });
  }
});

/**
 * An event source mapping's first poll runs with its function's role, and CloudFormation creates the mapping only
 * once Lambda can read the queue with it: created before the policy granting sqs:ReceiveMessage, its create fails
 * (Lambda checks the execution role's permissions on the queue when the mapping is created). Neither CDK's
 * SqsEventSource nor `consumeQueue` (cdk/lib/constructs/event-sources.ts) gives the mapping a DependsOn of its own:
 * the order comes from the mapping naming its function (Ref), whose resource depends on its role's policies. A
 * guard for the hand-built mappings (passes before and after them).
 */
describe("event source mappings after their read grant", () => {
  for (const environment of ["dev", "prod"]) {
    it(`${environment}: every mapping is created after the policy that lets its function receive from its queue`, () => {
      const resources: Record<string, Json> = deployStack(stackConfig(environment)).template.Resources;
      const mappings = Object.entries(resources).filter(
        ([, r]) => r.Type === "AWS::Lambda::EventSourceMapping",
      );
      expect(mappings.length).toBeGreaterThanOrEqual(2);
      const unordered = mappings.flatMap(([id, mapping]) => {
        const queue = mapping.Properties.EventSourceArn?.["Fn::GetAtt"]?.[0];
        const fn = mapping.Properties.FunctionName?.Ref;
        const role = resources[fn]?.Properties.Role?.["Fn::GetAtt"]?.[0];
        const grants = receiveGrants(resources, queue, role);
        const before = [
          ...asArray<string>(mapping.DependsOn),
          ...(fn ? [fn, ...asArray<string>(resources[fn].DependsOn)] : []),
        ];
        return grants.length > 0 && grants.every((p) => before.includes(p)) ? [] : [id];
      });
      expect(unordered).toEqual([]);
    });
  }
});

/** The inline policies of `role` that allow sqs:ReceiveMessage on the queue `queueId`. */
function receiveGrants(resources: Record<string, Json>, queueId: string, role: string): string[] {
  return Object.entries(resources)
    .filter(
      ([, r]) =>
        r.Type === "AWS::IAM::Policy" &&
        asArray<Json>(r.Properties.Roles).some((x) => x.Ref === role) &&
        asArray<Json>(r.Properties.PolicyDocument.Statement).some(
          (st) =>
            st.Effect === "Allow" &&
            asArray<string>(st.Action).includes("sqs:ReceiveMessage") &&
            asArray<Json>(st.Resource).some((res) => res?.["Fn::GetAtt"]?.[0] === queueId),
        ),
    )
    .map(([id]) => id);
}
