/**
 * The stack's queue grants follow each queue's encryption: with every queue given a customer managed key (here by
 * replacing `queueDefaults`' SSE-SQS with KMS; no environment's config can ask for one), every role that sends to
 * or receives from a queue — the API's and the pipeline's functions, Lambda's pollers (the function's role), the
 * sweeper, EventBridge Scheduler's execution role on the timer queue and the schedule DLQ — may use its key
 * (test/support/queue-keys.ts).
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { describe, expect, it, vi } from "vitest";
import { addPunctualStack } from "#cdk/lib/app.js";
import { type CfnTemplateJson, deployedTemplate } from "../support/iam.js";
import { queueEncryptionOf, queueKeyFindings } from "../support/queue-keys.js";
import { stackConfig } from "../support/stack-config.js";

vi.mock("#cdk/lib/constructs/queue-defaults.js", async (importOriginal) => {
  const original = await importOriginal<typeof import("#cdk/lib/constructs/queue-defaults.js")>();
  return {
    ...original,
    queueDefaults: (...args: Parameters<typeof original.queueDefaults>) => ({
      ...original.queueDefaults(...args),
      encryption: sqs.QueueEncryption.KMS,
    }),
  };
});

/**
 * The environment's stack "deployed", its queues' keys rotated as cdk-nag requires of any key (AwsSolutions-KMS5;
 * the key SQS's `encryption: KMS` makes has no rotation).
 */
function deployedWithQueueKeys(env: string) {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = addPunctualStack(app, stackConfig(env));
  for (const queue of stack.node.findAll().filter((c): c is sqs.Queue => c instanceof sqs.Queue)) {
    const key = queue.encryptionMasterKey as kms.Key;
    (key.node.defaultChild as kms.CfnKey).enableKeyRotation = true;
  }
  const template = Template.fromStack(stack).toJSON() as CfnTemplateJson;
  return deployedTemplate(template, { stackName: stack.stackName });
}

describe.each(["dev", "prod"])("environment %s with a customer managed key on every queue", (env) => {
  it("every role that sends to or receives from a queue may use its key", async () => {
    const deployed = deployedWithQueueKeys(env);
    const queues = deployed.idsOfType("AWS::SQS::Queue");
    for (const id of queues) expect(queueEncryptionOf(deployed, id).kind, id).toBe("key");
    expect(await queueKeyFindings(deployed)).toEqual([]);
  });
});
