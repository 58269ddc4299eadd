import { randomUUID } from "node:crypto";
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type ReceiveMessageCommandOutput,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { SQS_BATCH_LIMIT, sendInBatches } from "./sqs-batch.js";
import { changeVisibility } from "./visibility.js";

export interface ReceivedPointer {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  /** A FIFO queue's message: the deduplication id it was sent with (a standard queue has none). */
  readonly deduplicationId?: string;
}

/**
 * A standard dead-letter queue read by the sweeper: the timer DLQ and the schedule DLQ hold task messages
 * (`{"v":1,"taskId":…}`) whose timer was lost on the way, so each message is a pointer to a task.
 */
export interface DeadLetterSource {
  /**
   * Up to `max` (≤ 10) messages, hidden for `visibilitySeconds`. With `waitSeconds` 0 (short polling) an empty
   * queue answers at once, but SQS then samples only some of its servers: a queue of fewer than 1,000 messages
   * often answers with fewer than asked, or none. With `waitSeconds` ≥ 1 (long polling) every server is asked,
   * and an empty queue answers after that wait.
   */
  receive(
    queueUrl: string,
    max: number,
    visibilitySeconds: number,
    waitSeconds?: number,
  ): Promise<ReceivedPointer[]>;
  /** Deletes resolved messages; returns the receipt handles that could not be deleted (never throws). */
  remove(queueUrl: string, receiptHandles: readonly string[]): Promise<{ failed: string[] }>;
  /** Makes received messages visible again at once (visibility 0); best effort, never throws. */
  release(queueUrl: string, receiptHandles: readonly string[]): Promise<void>;
}

export class SqsDeadLetterSource implements DeadLetterSource {
  constructor(private readonly sqs: SQSClient) {}

  async receive(
    queueUrl: string,
    max: number,
    visibilitySeconds: number,
    waitSeconds = 0,
  ): Promise<ReceivedPointer[]> {
    const receive = (attemptId: string | undefined) =>
      this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(SQS_BATCH_LIMIT, Math.max(1, max)),
          VisibilityTimeout: visibilitySeconds,
          WaitTimeSeconds: waitSeconds,
          // A topic DLQ's message names the task's life it was dead-lettered in (topic-dead-letters.ts).
          MessageSystemAttributeNames: ["MessageDeduplicationId"],
          ...(attemptId !== undefined && { ReceiveRequestAttemptId: attemptId }),
        }),
      );
    return pointersOf(await receiveOnce(queueUrl, receive));
  }

  /**
   * Side by side, as the timer queue arms: a run resolves up to a couple of thousand pointers. An entry SQS failed
   * on its own side is deleted again (`sendInBatches`): left, it came back after its visibility timeout for another
   * sweeper run to resolve.
   */
  async remove(queueUrl: string, receiptHandles: readonly string[]): Promise<{ failed: string[] }> {
    const { notDone } = await sendInBatches(receiptHandles, "d", (pending) =>
      this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: pending.map((receiptHandle, i) => ({ Id: `d${i}`, ReceiptHandle: receiptHandle })),
        }),
      ),
    );
    return { failed: notDone };
  }

  /**
   * Side by side: a topic DLQ read through holds up to 3,000 still-failed messages to release at once. What is not
   * released reappears on its own when the receive's visibility timeout ends.
   */
  async release(queueUrl: string, receiptHandles: readonly string[]): Promise<void> {
    await changeVisibility(
      this.sqs,
      queueUrl,
      receiptHandles.map((receiptHandle) => ({ receiptHandle, seconds: 0 })),
    );
  }
}

/**
 * One receive; from a FIFO queue (a topic DLQ) with a ReceiveRequestAttemptId, which the SDK's resends of the call
 * carry too. A receive whose answer was lost (the connection reset after SQS had taken the messages) is resent by
 * the SDK; without the id SQS answers the resend with other messages, and the lost answer's stay hidden for the
 * receive's visibility timeout with their message groups (a FIFO queue hands out nothing of a group while one of its
 * messages is in flight), so the topic-DLQ pass missed them and what lay behind them until a later run. With it,
 * "subsequent calls with the same ReceiveRequestAttemptId return the same messages and receipt handles"
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html,
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-receiverequestattemptid-request-parameter.html).
 * The resend of a receive SQS refused as throttled is refused in turn for reusing the id ("not valid anymore since
 * the receive call is not retryable", AWS support in awslabs/amazon-sqs-java-messaging-lib#213): that refusal gets
 * one receive more under a new id, as the SDK's resend without an id got. A standard queue (the timer and schedule
 * DLQs) takes no id. fauxqs ignores it (test/unit/adapters/dead-letter-source-receive.test.ts plays SQS instead).
 */
async function receiveOnce(
  queueUrl: string,
  receive: (attemptId: string | undefined) => Promise<ReceiveMessageCommandOutput>,
): Promise<ReceiveMessageCommandOutput> {
  if (!queueUrl.endsWith(".fifo")) return receive(undefined);
  try {
    return await receive(randomUUID());
  } catch (error) {
    if (!refusedAttemptId(error)) throw error;
    return receive(randomUUID());
  }
}

/** SQS refusing a resend's ReceiveRequestAttemptId (an InvalidParameterValue naming it). */
function refusedAttemptId(error: unknown): boolean {
  return error instanceof Error && error.message.includes("ReceiveRequestAttemptId");
}

function pointersOf(out: ReceiveMessageCommandOutput): ReceivedPointer[] {
  return (out.Messages ?? []).flatMap((m) => {
    if (!m.MessageId || !m.ReceiptHandle || m.Body === undefined) return [];
    const deduplicationId = m.Attributes?.MessageDeduplicationId;
    return [
      {
        messageId: m.MessageId,
        receiptHandle: m.ReceiptHandle,
        body: m.Body,
        ...(deduplicationId !== undefined && { deduplicationId }),
      },
    ];
  });
}
