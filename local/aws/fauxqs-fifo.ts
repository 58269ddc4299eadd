import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

/**
 * fauxqs's FIFO receive, made to hand out a group's messages as SQS does. SQS "attempts to return as many messages
 * with the same message group ID as possible in a single call" — up to MaxNumberOfMessages of one group, in order —
 * and no more of that group on later calls while any of them is in flight
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html).
 * fauxqs 1.9 returns at most one message of a group per receive, so locally a deliver batch never held two tasks
 * of one group: what deliver does with a group's later records after an earlier one fails (skipped, reported as
 * failures, their receive counts growing with the head's retries: shared/config/receive-backstop.ts) was never
 * exercised end to end. And fauxqs puts a message that comes back (visibility timeout passed, or set to 0) at the
 * front of its group, so a batch's messages coming back one after another land reversed: SQS keeps a group in
 * send order (sequence number) whichever way its messages return, so here each group is put back in that order
 * before it is handed out. Everything else (locking by in-flight count, the redrive check on each receive, the
 * spy, the answer's shape) is fauxqs's own code, unchanged.
 */

interface FifoMessage {
  readonly messageId: string;
  /** fauxqs's sequence number: 20 digits, zero-padded, so string order is send order. */
  readonly sequenceNumber?: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly md5OfMessageAttributes?: string;
  readonly messageAttributes: Record<string, unknown>;
  approximateReceiveCount: number;
  approximateFirstReceiveTimestamp?: number;
}

interface FifoQueue {
  readonly name: string;
  readonly attributes: Record<string, string>;
  readonly fifoMessages: Map<string, FifoMessage[]>;
  readonly fifoLockedGroups: Map<string, number>;
  readonly inflightMessages: Map<
    string,
    { message: FifoMessage; receiptHandle: string; visibilityDeadline: number }
  >;
  readonly spy?: { addMessage(event: Record<string, unknown>): void };
  processTimers(): void;
  enqueue(message: FifoMessage): void;
}

type DlqResolver = (arn: string) => FifoQueue | undefined;

/** SQS returns at most 10 messages per ReceiveMessage. */
const MAX_RECEIVE = 10;

let patched = false;

/**
 * The fauxqs releases whose internals this replacement was read against (its queue's fields and its lock counting
 * through delete, visibility changes and timers). package.json takes any 1.x from 1.9.2, so a lockfile refresh could
 * bring one whose internals moved while `dequeueFifo` still exists: refused here, loudly, until it is read again.
 */
const CHECKED_FAUXQS = new Set(["1.9.2"]);

export function refuseUncheckedFauxqs(): void {
  const manifest = new URL("../package.json", import.meta.resolve("fauxqs"));
  const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
  if (!CHECKED_FAUXQS.has(version))
    throw new Error(
      `fauxqs ${version}: local/aws/fauxqs-fifo.ts was checked against ${[...CHECKED_FAUXQS].join(", ")} only; read its dequeueFifo again, then add the version`,
    );
}

/** Replaces fauxqs's FIFO dequeue (process-wide, once): every fauxqs app in this thread then receives as SQS does. */
export async function receiveFifoGroupsAsSqsDoes(): Promise<void> {
  if (patched) return;
  // fauxqs exports only its app; its store module is the same instance when imported by its resolved file URL.
  refuseUncheckedFauxqs();
  const storeUrl = new URL("./sqs/sqsStore.js", import.meta.resolve("fauxqs"));
  const { SqsQueue } = (await import(storeUrl.href)) as { SqsQueue: { prototype: Record<string, unknown> } };
  if (typeof SqsQueue?.prototype?.dequeueFifo !== "function")
    throw new Error("fauxqs changed: SqsQueue.dequeueFifo is gone; local/aws/fauxqs-fifo.ts needs a look");
  SqsQueue.prototype.dequeueFifo = function (
    this: FifoQueue,
    maxCount: number,
    visibilityTimeoutOverride?: number,
    dlqResolver?: DlqResolver,
  ) {
    return dequeueFifo(this, maxCount, visibilityTimeoutOverride, dlqResolver);
  };
  patched = true;
}

function redrivePolicy(queue: FifoQueue): { maxReceiveCount: number; dlqArn?: string } {
  try {
    const policy = JSON.parse(queue.attributes.RedrivePolicy ?? "{}");
    return {
      maxReceiveCount: policy.maxReceiveCount ?? Number.POSITIVE_INFINITY,
      dlqArn: policy.deadLetterTargetArn,
    };
  } catch {
    return { maxReceiveCount: Number.POSITIVE_INFINITY };
  }
}

function dequeueFifo(
  queue: FifoQueue,
  maxCount: number,
  visibilityTimeoutOverride: number | undefined,
  dlqResolver: DlqResolver | undefined,
) {
  queue.processTimers();
  const visibilitySeconds =
    visibilityTimeoutOverride ?? Number.parseInt(queue.attributes.VisibilityTimeout ?? "30", 10);
  const redrive = redrivePolicy(queue);
  const count = Math.min(maxCount, MAX_RECEIVE);
  const result: Record<string, unknown>[] = [];
  for (const [groupId, waiting] of queue.fifoMessages) {
    if (result.length >= count) break;
    if (queue.fifoLockedGroups.has(groupId)) continue;
    inSendOrder(waiting);
    // As many of this group as the call takes, in order: the difference from fauxqs (one per group).
    while (result.length < count && waiting.length > 0) {
      const message = waiting.shift() as FifoMessage;
      message.approximateReceiveCount++;
      message.approximateFirstReceiveTimestamp ??= Date.now();
      if (redrive.dlqArn && message.approximateReceiveCount > redrive.maxReceiveCount) {
        const dlq = dlqResolver?.(redrive.dlqArn);
        if (dlq) {
          queue.spy?.addMessage({ ...spied(queue, message), status: "dlq" });
          dlq.enqueue(message);
          continue;
        }
      }
      result.push(handOut(queue, message, visibilitySeconds));
      queue.fifoLockedGroups.set(groupId, (queue.fifoLockedGroups.get(groupId) ?? 0) + 1);
    }
    if (waiting.length === 0) queue.fifoMessages.delete(groupId);
  }
  return result;
}

/** A group's waiting messages in send order (sorted in place; usually they already are). */
function inSendOrder(waiting: FifoMessage[]): void {
  const sequence = (m: FifoMessage) => m.sequenceNumber ?? "";
  if (waiting.every((m, i) => i === 0 || sequence(waiting[i - 1] as FifoMessage) <= sequence(m))) return;
  waiting.sort((a, b) => (sequence(a) < sequence(b) ? -1 : sequence(a) > sequence(b) ? 1 : 0));
}

function spied(queue: FifoQueue, message: FifoMessage) {
  return {
    service: "sqs",
    queueName: queue.name,
    messageId: message.messageId,
    body: message.body,
    messageAttributes: message.messageAttributes,
    timestamp: Date.now(),
  };
}

/** In flight for its visibility timeout, answered as fauxqs answers a received message. */
function handOut(queue: FifoQueue, message: FifoMessage, visibilitySeconds: number): Record<string, unknown> {
  const receiptHandle = randomUUID();
  queue.inflightMessages.set(receiptHandle, {
    message,
    receiptHandle,
    visibilityDeadline: Date.now() + visibilitySeconds * 1000,
  });
  return {
    MessageId: message.messageId,
    ReceiptHandle: receiptHandle,
    MD5OfBody: message.md5OfBody,
    Body: message.body,
    ...(message.md5OfMessageAttributes && { MD5OfMessageAttributes: message.md5OfMessageAttributes }),
    ...(Object.keys(message.messageAttributes).length > 0 && {
      MessageAttributes: message.messageAttributes,
    }),
  };
}
