/**
 * Every queue of every environment is encrypted either with SQS-managed keys (SSE-SQS, which takes no `kms:*`
 * grant), with the AWS managed key for SQS (`alias/aws/sqs`, which every principal of the account may use through
 * SQS, and no AWS service sending as itself), or with a customer managed key that each of its senders and
 * receivers may use: evaluated with
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
  /** The queue's KmsMasterKeyId as written, in place of the one CDK writes for `encryption`. */
  kmsMasterKeyId?: string,
) {
  const stack = new Stack(new App(), "Guard");
  const queue = new sqs.Queue(stack, "Queue", { encryption });
  if (kmsMasterKeyId) (queue.node.defaultChild as sqs.CfnQueue).kmsMasterKeyId = kmsMasterKeyId;
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
    const dlqEncryptions = [
      sqs.QueueEncryption.KMS,
      sqs.QueueEncryption.SQS_MANAGED,
      sqs.QueueEncryption.KMS_MANAGED,
    ];
    for (const dlqEncryption of dlqEncryptions) {
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

  it("refuses a queue neither SSE-SQS nor encrypted with a key of the stack or AWS's for SQS (none, or another account's)", async () => {
    const unencrypted = await queueKeyFindings(deployedQueue(sqs.QueueEncryption.UNENCRYPTED, sendOnly));
    const foreignKey = await queueKeyFindings(
      deployedQueue(
        sqs.QueueEncryption.KMS_MANAGED,
        sendOnly,
        "arn:aws:kms:eu-west-1:444455556666:alias/aws/sqs",
      ),
    );
    expect(unencrypted).toEqual([expect.stringMatching(/^Queue\w+: neither SSE-SQS/)]);
    expect(foreignKey).toEqual([expect.stringMatching(/^Queue\w+: a KMS key the template does not hold/)]);
  });

  // Its key policy lets every principal of the account use it through SQS: the stack's roles (a function's, Lambda's
  // pollers', EventBridge Scheduler's execution role) need no kms:* grant, and none can be given on it anyway.
  it.each(["alias/aws/sqs", "arn:aws:kms:eu-west-1:111122223333:alias/aws/sqs"])(
    "accepts the AWS managed key for SQS (%s) for the stack's roles that send and receive",
    async (key) => {
      const findings = await queueKeyFindings(
        deployedQueue(
          sqs.QueueEncryption.KMS_MANAGED,
          (q, r) => {
            sendOnly(q, r);
            receiveOnly(q, r);
          },
          key,
        ),
      );
      expect(findings).toEqual([]);
    },
  );

  it("finds an AWS service a queue policy lets send to a queue with the AWS managed key, whose policy cannot let it", async () => {
    const findings = await queueKeyFindings(
      deployedQueue(sqs.QueueEncryption.KMS_MANAGED, (q) => {
        q.addToResourcePolicy(
          new iam.PolicyStatement({
            principals: [new iam.ServicePrincipal("sns.amazonaws.com")],
            actions: ["sqs:SendMessage"],
            resources: [q.queueArn],
          }),
        );
      }),
    );
    expect(findings).toEqual([
      expect.stringMatching(
        /^Queue\w+: service sns\.amazonaws\.com may send but not use the AWS managed key alias\/aws\/sqs/,
      ),
    ]);
  });
});
