import {
  ChangeMessageVisibilityBatchCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { MAX_VISIBILITY_SECONDS } from "#shared/config/schema.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import { errorText } from "#shared/runtime/async.js";

/** SQS takes at most 10 entries per batch call. */
const BATCH_LIMIT = 10;
/** Message attribute carrying the reason a task was dead-lettered (the body stays the plain task message). */
export const DEAD_LETTER_REASON_ATTRIBUTE = "punctual-error";
const MAX_REASON_LENGTH = 1024;

export interface SendInOrderResult {
  /** Ids SQS accepted (they are on the queue, in the order given). */
  readonly sent: readonly string[];
  /** Set when a send failed: the failed id, and every id after it that was therefore not sent. */
  readonly failure?: { readonly taskIds: readonly string[]; readonly error: string };
}

export interface VisibilityChange {
  readonly receiptHandle: string;
  readonly seconds: number;
}

/** The topic FIFO queues and their dead-letter queues, as the relay and deliver functions use them. */
export interface TopicQueue {
  /**
   * Sends a group's tasks in the given order (MessageGroupId = `groupId`, MessageDeduplicationId = task id).
   * Never throws: a failure stops the rest of the group and is reported, so the caller can fail just that group.
   */
  sendInOrder(queueUrl: string, groupId: string, taskIds: readonly string[]): Promise<SendInOrderResult>;
  /**
   * Puts a task on its topic's FIFO dead-letter queue (dedup id = `deduplicationId`, default the task id; a
   * replayed task passes `<id>#r<replays>` so FIFO deduplication does not drop its second dead-lettering).
   * Throws on failure.
   */
  sendToDeadLetter(
    dlqUrl: string,
    groupId: string,
    taskId: string,
    reason: string,
    deduplicationId?: string,
  ): Promise<void>;
  /** Sends one replayed task to its topic's FIFO queue with its own dedup id. Throws on failure. */
  sendReplay(queueUrl: string, groupId: string, taskId: string, deduplicationId: string): Promise<void>;
  /** Best effort: returns the receipt handles whose visibility could not be changed (never throws). */
  setVisibility(queueUrl: string, changes: readonly VisibilityChange[]): Promise<{ failed: string[] }>;
}

export class SqsTopicQueue implements TopicQueue {
  constructor(private readonly sqs: SQSClient) {}

  async sendInOrder(
    queueUrl: string,
    groupId: string,
    taskIds: readonly string[],
  ): Promise<SendInOrderResult> {
    const sent: string[] = [];
    // Chunk N+1 only goes out once chunk N was accepted: SQS keeps the order of one group across calls, and a
    // failed chunk must not be overtaken by a later one.
    for (let start = 0; start < taskIds.length; start += BATCH_LIMIT) {
      const chunk = taskIds.slice(start, start + BATCH_LIMIT);
      let failedIndexes: Map<number, string>;
      try {
        const out = await this.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((taskId, i) => ({
              Id: `m${i}`,
              MessageBody: taskMessageBody(taskId),
              MessageGroupId: groupId,
              MessageDeduplicationId: taskId,
            })),
          }),
        );
        failedIndexes = new Map(
          (out.Failed ?? []).map((f) => [Number(f.Id?.slice(1)), `${f.Code ?? "error"}: ${f.Message ?? ""}`]),
        );
      } catch (error) {
        return { sent, failure: { taskIds: taskIds.slice(start), error: errorText(error) } };
      }
      if (failedIndexes.size === 0) {
        sent.push(...chunk);
        continue;
      }
      // Entries SQS accepted are on the queue whatever happened to their neighbours, so they count as sent;
      // the failed ones and everything after this chunk are reported (the caller retries the whole group and
      // FIFO deduplication absorbs what was already sent).
      const failedIds: string[] = [];
      let firstError = "";
      chunk.forEach((taskId, i) => {
        const error = failedIndexes.get(i);
        if (error === undefined) sent.push(taskId);
        else {
          failedIds.push(taskId);
          firstError ||= error;
        }
      });
      return {
        sent,
        failure: { taskIds: [...failedIds, ...taskIds.slice(start + BATCH_LIMIT)], error: firstError },
      };
    }
    return { sent };
  }

  async sendReplay(
    queueUrl: string,
    groupId: string,
    taskId: string,
    deduplicationId: string,
  ): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: taskMessageBody(taskId),
        MessageGroupId: groupId,
        MessageDeduplicationId: deduplicationId,
      }),
    );
  }

  async sendToDeadLetter(
    dlqUrl: string,
    groupId: string,
    taskId: string,
    reason: string,
    deduplicationId = taskId,
  ): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: dlqUrl,
        MessageBody: taskMessageBody(taskId),
        MessageGroupId: groupId,
        MessageDeduplicationId: deduplicationId,
        MessageAttributes: {
          [DEAD_LETTER_REASON_ATTRIBUTE]: {
            DataType: "String",
            StringValue: reason.slice(0, MAX_REASON_LENGTH) || "unknown",
          },
        },
      }),
    );
  }

  async setVisibility(queueUrl: string, changes: readonly VisibilityChange[]): Promise<{ failed: string[] }> {
    const failed: string[] = [];
    const chunks: VisibilityChange[][] = [];
    for (let start = 0; start < changes.length; start += BATCH_LIMIT) {
      chunks.push(changes.slice(start, start + BATCH_LIMIT));
    }
    await Promise.all(
      chunks.map(async (chunk) => {
        try {
          const out = await this.sqs.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: queueUrl,
              Entries: chunk.map((change, i) => ({
                Id: `v${i}`,
                ReceiptHandle: change.receiptHandle,
                VisibilityTimeout: clampVisibility(change.seconds),
              })),
            }),
          );
          for (const f of out.Failed ?? []) {
            const change = chunk[Number(f.Id?.slice(1))];
            if (change) failed.push(change.receiptHandle);
          }
        } catch {
          failed.push(...chunk.map((c) => c.receiptHandle));
        }
      }),
    );
    return { failed };
  }
}

function clampVisibility(seconds: number): number {
  if (!Number.isFinite(seconds)) return 0;
  return Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(seconds)));
}
