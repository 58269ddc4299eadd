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
 * SendMessage (and SendMessageBatch, which IAM authorizes as SendMessage) on the queue, nothing else. CDK's
 * `grantSendMessages` adds GetQueueAttributes and GetQueueUrl, which no sender calls: every function is given
 * its queues' URLs, and only the topic views read queue attributes (their own grant). No KMS: SSE-SQS.
 */
export function grantSendOnly(queue: sqs.IQueue, grantee: iam.IGrantable): void {
  iam.Grant.addToPrincipal({ grantee, actions: ["sqs:SendMessage"], resourceArns: [queue.queueArn] });
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
}
