import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { taskMessageBody } from "#shared/domain/messages.js";
import { MAX_SQS_DELAY_SECONDS } from "#shared/domain/timing.js";
import { abortableCall } from "./abort-signals.js";
import { sendInBatches } from "./sqs-batch.js";

export interface TimerArm {
  readonly taskId: string;
  readonly delaySeconds: number;
}

/** The standard timer queue, as add-task (first arming) and the relay (re-arming early messages) use it. */
export interface TimerQueue {
  arm(taskId: string, delaySeconds: number): Promise<void>;
  /**
   * Arms many timers with as few calls as SQS allows; resolves with the task ids that were not sent. `signal` gives
   * up what is still unanswered (it counts as not sent; it may yet land) and keeps what was sent by then.
   */
  armMany(items: readonly TimerArm[], signal?: AbortSignal): Promise<string[]>;
}

export class SqsTimerQueue implements TimerQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async arm(taskId: string, delaySeconds: number): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: taskMessageBody(taskId),
        DelaySeconds: sqsDelay(delaySeconds),
      }),
    );
  }

  /**
   * Batches of 10 sent concurrently; an entry SQS failed on its own side is sent again (`sendInBatches`: a second
   * timer message, should the first have landed after all, is harmless). A failure is per entry (SQS reports them
   * in `Failed`) or per batch (the call threw, or was still unanswered when `signal` aborted); all come back as ids,
   * so the caller decides what to retry and nothing fails silently.
   */
  async armMany(items: readonly TimerArm[], signal?: AbortSignal): Promise<string[]> {
    const left = await sendInBatches(
      items,
      "",
      (pending) =>
        this.sqs.send(
          ...abortableCall(
            this.sqs,
            new SendMessageBatchCommand({
              QueueUrl: this.queueUrl,
              // Entry ids must be unique within a batch and [A-Za-z0-9_-]; task ids contain dots, so positions.
              Entries: pending.map((item, i) => ({
                Id: String(i),
                MessageBody: taskMessageBody(item.taskId),
                DelaySeconds: sqsDelay(item.delaySeconds),
              })),
            }),
            signal,
          ),
        ),
      signal,
    );
    return left.notDone.map((item) => item.taskId);
  }
}

/** Whole seconds in SQS's 0–900 range: never longer than asked (rounding up would deliver late). */
export function sqsDelay(delaySeconds: number): number {
  if (!Number.isFinite(delaySeconds) || delaySeconds <= 0) return 0;
  return Math.min(MAX_SQS_DELAY_SECONDS, Math.floor(delaySeconds));
}
