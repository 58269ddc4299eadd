import { Duration, type RemovalPolicy } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as sqs from "aws-cdk-lib/aws-sqs";
import {
  DLQ_RETENTION_SECONDS,
  MAX_MESSAGE_SIZE_BYTES,
  QUEUE_RETENTION_SECONDS,
  TOPIC_QUEUE_RETENTION_SECONDS,
} from "../sizing.js";

/**
 * What every Punctual queue shares: SSE with SQS-managed keys (SSE-SQS), TLS-only access (queue policy denies
 * `aws:SecureTransport = false`), an explicit maximum message size, and no physical name (CloudFormation
 * generates one; FIFO queues get their `.fifo` suffix from `fifo: true`).
 *
 * Why SSE-SQS and not a customer managed KMS key: the messages hold only task ids (the content stays in the
 * encrypted table), SSE-SQS costs nothing per request, and it needs no `kms:*` grants for Lambda's event source
 * pollers, the relay or the EventBridge Scheduler role — fewer moving parts that can silently break delivery.
 * The grants below still follow a queue's key (`grantQueueKey`), so a queue given one is not silently broken:
 * test/cdk/queue-keys.test.ts evaluates them for every queue.
 */
const RETENTION_SECONDS = {
  working: QUEUE_RETENTION_SECONDS,
  topic: TOPIC_QUEUE_RETENTION_SECONDS,
  dlq: DLQ_RETENTION_SECONDS,
} as const;

export function queueDefaults(
  removalPolicy: RemovalPolicy,
  kind: keyof typeof RETENTION_SECONDS,
): sqs.QueueProps {
  return {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
    retentionPeriod: Duration.seconds(RETENTION_SECONDS[kind]),
    removalPolicy,
  };
}

/**
 * FIFO high-throughput mode: deduplication and throughput limits per message group. Deduplication ids are task
 * ids and a task always travels in the same group, so per-group deduplication drops exactly what per-queue
 * deduplication would, while the queue is no longer capped at 300 API calls/s per action.
 */
export const HIGH_THROUGHPUT_FIFO: Pick<
  sqs.QueueProps,
  "fifo" | "contentBasedDeduplication" | "deduplicationScope" | "fifoThroughputLimit"
> = {
  fifo: true,
  contentBasedDeduplication: false,
  deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
  fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
};

/**
 * What using a queue encrypted with a customer managed key takes of the key, besides the `sqs:*` action: SQS calls
 * KMS with the caller's own credentials, so a sender needs GenerateDataKey and Decrypt (a data key is generated,
 * and a cached one decrypted for reuse), a receiver Decrypt
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html). Without
 * them SendMessage and ReceiveMessage fail at run time (KMS.AccessDeniedException) while the deploy succeeds.
 * Fewer than CDK's `grantSendMessages` (Encrypt and ReEncrypt*, which SQS never calls for a sender) and the same
 * as its `grantConsumeMessages`.
 */
const QUEUE_KEY_ACTIONS = {
  send: ["kms:GenerateDataKey", "kms:Decrypt"],
  receive: ["kms:Decrypt"],
} as const;

/**
 * The key actions `use` takes on `queue`'s customer managed key, when it has one (`encryptionMasterKey`, as CDK's
 * own queue grants read it); nothing for SSE-SQS, which every Punctual queue uses today (`queueDefaults`), nor for
 * the AWS managed key `alias/aws/sqs` (CDK gives such a queue no `encryptionMasterKey`): its key policy, which cannot
 * be changed, lets every principal of the account use it through SQS, Scheduler's execution role included, and no
 * AWS service sending as itself (test/support/queue-keys.ts checks both).
 */
export function grantQueueKey(
  queue: sqs.IQueue,
  grantee: iam.IGrantable,
  use: keyof typeof QUEUE_KEY_ACTIONS,
): void {
  queue.encryptionMasterKey?.grant(grantee, ...QUEUE_KEY_ACTIONS[use]);
}

/**
 * SendMessage (and SendMessageBatch, which IAM authorizes as SendMessage) on the queue, nothing else. CDK's
 * `grantSendMessages` adds GetQueueAttributes and GetQueueUrl, which no sender calls: every function is given
 * its queues' URLs, and only the topic views read queue attributes (their own grant). The queue's key, if any.
 */
export function grantSendOnly(queue: sqs.IQueue, grantee: iam.IGrantable): void {
  iam.Grant.addToPrincipal({ grantee, actions: ["sqs:SendMessage"], resourceArns: [queue.queueArn] });
  grantQueueKey(queue, grantee, "send");
}

/**
 * What reading a queue by hand calls (shared/adapters/dead-letter-source.ts): receive and delete (batch). Not CDK's
 * `grantConsumeMessages`, which adds ChangeMessageVisibility, GetQueueAttributes and GetQueueUrl for Lambda's
 * event source pollers; a function reading a queue itself calls none of them unless it also makes messages
 * visible again (`grantDrain`). The sweeper's timer-side DLQ pointers (sweeper/pointers.ts) need only this: an
 * unresolved pointer reappears when its visibility timeout runs out.
 */
export function grantReceiveAndDelete(queue: sqs.IQueue, grantee: iam.IGrantable): void {
  iam.Grant.addToPrincipal({
    grantee,
    actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
    resourceArns: [queue.queueArn],
  });
  grantQueueKey(queue, grantee, "receive");
}

/**
 * `grantReceiveAndDelete`, and making received messages visible again at once (ChangeMessageVisibilityBatch, the
 * source's `release`): the sweeper's topic DLQ reconcile (sweeper/topic-dead-letters.ts).
 */
export function grantDrain(queue: sqs.IQueue, grantee: iam.IGrantable): void {
  iam.Grant.addToPrincipal({
    grantee,
    actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
    resourceArns: [queue.queueArn],
  });
  grantQueueKey(queue, grantee, "receive");
}
