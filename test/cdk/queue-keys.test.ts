/**
 * Every queue of every environment is encrypted either with SQS-managed keys (SSE-SQS, which takes no `kms:*`
 * grant) or with a customer managed key that each of its senders and receivers may use: evaluated with
 * iam-simulate (test/support/queue-keys.ts). No environment sets a key today (no config path does), so this holds
 * by SSE-SQS; it protects whoever adds one. The guard's own cases below show it is not vacuous.
 */
import { App, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import * as iam from "aws-cdk-lib/aws-iam";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { describe, expect, it } from "vitest";
import { ENVIRONMENTS } from "#shared/config/environments/index.js";
import { deployStack } from "../support/deployed-stack.js";
import { type CfnTemplateJson, deployedTemplate } from "../support/iam.js";
import { queueEncryptionOf, queueKeyFindings } from "../support/queue-keys.js";
import { stackConfig } from "../support/stack-config.js";

describe.each(Object.keys(ENVIRONMENTS))("environment %s: queue encryption", (env) => {
  it("every queue is SSE-SQS, or each role and service that sends to or receives from it may use its key", async () => {
    const d = deployStack(stackConfig(env));
    const queues = d.aws.idsOfType("AWS::SQS::Queue");
    expect(queues.length).toBe(3 + 2 * d.stack.topics.length);
    expect(await queueKeyFindings(d.aws)).toEqual([]);
    // Today's queues: all SSE-SQS.
    for (const id of queues) expect(queueEncryptionOf(d.aws, id), id).toEqual({ kind: "sse-sqs" });
  });
});

/** A stack of one queue (`encryption`) and a role granted `grant` on it, "deployed". */
function deployedQueue(
  encryption: sqs.QueueEncryption,
  grant: (queue: sqs.Queue, role: iam.Role) => void = () => {},
) {
  const stack = new Stack(new App(), "Guard");
  const queue = new sqs.Queue(stack, "Queue", { encryption });
  const role = new iam.Role(stack, "Role", { assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com") });
  grant(queue, role);
  const template = Template.fromStack(stack).toJSON() as CfnTemplateJson;
  return deployedTemplate(template, { stackName: "Guard" });
}

const sendOnly = (queue: sqs.Queue, role: iam.Role) =>
  role.addToPolicy(new iam.PolicyStatement({ actions: ["sqs:SendMessage"], resources: [queue.queueArn] }));
const receiveOnly = (queue: sqs.Queue, role: iam.Role) =>
  role.addToPolicy(new iam.PolicyStatement({ actions: ["sqs:ReceiveMessage"], resources: [queue.queueArn] }));

/**
 * A stack of a source queue with a key of its own, redriving to a DLQ (`dlqEncryption`), and a role that receives
 * from the DLQ (with Decrypt on the DLQ's key, if it has one) and, if `sourceKey`, may Decrypt with the source's key.
 */
function deployedDeadLetterQueue(dlqEncryption: sqs.QueueEncryption, sourceKey: boolean) {
  const stack = new Stack(new App(), "Guard");
  const dlq = new sqs.Queue(stack, "Dlq", { encryption: dlqEncryption });
  const source = new sqs.Queue(stack, "Source", {
    encryption: sqs.QueueEncryption.KMS,
    deadLetterQueue: { queue: dlq, maxReceiveCount: 3 },
  });
  const role = new iam.Role(stack, "Role", { assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com") });
  receiveOnly(dlq, role);
  dlq.encryptionMasterKey?.grant(role, "kms:Decrypt");
  if (sourceKey) source.encryptionMasterKey?.grant(role, "kms:Decrypt");
  const template = Template.fromStack(stack).toJSON() as CfnTemplateJson;
  return deployedTemplate(template, { stackName: "Guard" });
}

describe("the queue key guard", () => {
  it("finds a sender and a receiver of a queue with a customer managed key that may not use the key", async () => {
    const findings = await queueKeyFindings(
      deployedQueue(sqs.QueueEncryption.KMS, (q, r) => {
        sendOnly(q, r);
        receiveOnly(q, r);
      }),
    );
    expect(findings).toEqual([
      expect.stringMatching(/^Queue\w+: role Role\w+ may send but not kms:GenerateDataKey on its key/),
      expect.stringMatching(/^Queue\w+: role Role\w+ may send but not kms:Decrypt on its key/),
      expect.stringMatching(/^Queue\w+: role Role\w+ may receive but not kms:Decrypt on its key/),
    ]);
  });

  it("accepts the key actions each use takes, granted on the queue's key", async () => {
    const findings = await queueKeyFindings(
      deployedQueue(sqs.QueueEncryption.KMS, (q, r) => {
        sendOnly(q, r);
        receiveOnly(q, r);
        q.encryptionMasterKey?.grant(r, "kms:GenerateDataKey", "kms:Decrypt");
      }),
    );
    expect(findings).toEqual([]);
  });

  // IAM matches actions case-insensitively, with `*` and `?` wildcards: every spelling that allows SendMessage.
  it.each(["sqs:SendMessage", "sqs:Send*", "SQS:sendmessage", "sqs:*", "*"])(
    "finds an AWS service a queue policy lets send (%s), which the key's policy does not let use the key",
    async (action) => {
      const findings = await queueKeyFindings(
        deployedQueue(sqs.QueueEncryption.KMS, (q) => {
          q.addToResourcePolicy(
            new iam.PolicyStatement({
              principals: [new iam.ServicePrincipal("events.amazonaws.com")],
              actions: [action],
              resources: [q.queueArn],
            }),
          );
        }),
      );
      expect(findings).toEqual([
        expect.stringMatching(/service events\.amazonaws\.com may send but not kms:GenerateDataKey/),
        expect.stringMatching(/service events\.amazonaws\.com may send but not kms:Decrypt/),
      ]);
    },
  );

  it("finds a dead-letter queue's receiver that may not decrypt with its source queue's key, the DLQ's own key or not", async () => {
    for (const dlqEncryption of [sqs.QueueEncryption.KMS, sqs.QueueEncryption.SQS_MANAGED]) {
      // Act: a source queue with a key of its own redriving to a DLQ, and a role that receives from the DLQ only.
      const without = await queueKeyFindings(deployedDeadLetterQueue(dlqEncryption, false));
      const withSourceKey = await queueKeyFindings(deployedDeadLetterQueue(dlqEncryption, true));

      // Assess
      expect(without, dlqEncryption).toEqual([
        expect.stringMatching(
          /^Dlq\w+: role Role\w+ may receive but not kms:Decrypt on the key of its source queue Source\w+/,
        ),
      ]);
      expect(withSourceKey, dlqEncryption).toEqual([]);
    }
  });

  it("refuses a queue neither SSE-SQS nor encrypted with a key of the stack (alias/aws/sqs, or none)", async () => {
    for (const encryption of [sqs.QueueEncryption.KMS_MANAGED, sqs.QueueEncryption.UNENCRYPTED]) {
      const findings = await queueKeyFindings(deployedQueue(encryption, sendOnly));
      expect(findings, encryption).toEqual([
        expect.stringMatching(/^Queue\w+: (neither SSE-SQS|a KMS key the template does not hold)/),
      ]);
    }
  });
});
