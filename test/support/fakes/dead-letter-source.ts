import type { DeadLetterSource, ReceivedPointer } from "#shared/adapters/dead-letter-source.js";

/** A standard dead-letter queue of pointer messages (the timer's and the scheduler's DLQs). */
export class FakePointerQueue {
  readonly messages: {
    messageId: string;
    receiptHandle: string;
    body: string;
    visibleAtMs: number;
    deduplicationId?: string;
  }[] = [];
  private next = 0;
  /** `deduplicationId`: a FIFO DLQ's message carries the id it was sent with. */
  put(body: string, deduplicationId?: string): void {
    const n = ++this.next;
    this.messages.push({
      messageId: `p${n}`,
      receiptHandle: `rh-p${n}`,
      body,
      visibleAtMs: 0,
      ...(deduplicationId !== undefined && { deduplicationId }),
    });
  }
}

/** The DeadLetterSource port over FakePointerQueues by URL: received messages hide for the visibility timeout. */
export class FakeDeadLetterSource implements DeadLetterSource {
  /**
   * As SQS's short polling (`waitSeconds` 0) of a standard queue with few messages: it samples some of the
   * queue's servers and answers with at most this many of the visible messages, often none.
   */
  shortPollSample?: number;
  /**
   * As a FIFO queue may answer: only messages of one message group (the first visible one's), however many
   * other groups have messages waiting. The message's group, by its body.
   */
  oneGroupPerReceive?: (body: string) => string;
  /**
   * As SQS's long polling (`waitSeconds` ≥ 1) of a queue with nothing visible: the answer comes after the wait.
   * Called with the wait before such an empty answer (the test moves its clock).
   */
  longPollWait?: (seconds: number) => Promise<void>;

  constructor(
    readonly queues: Record<string, FakePointerQueue>,
    private readonly now: () => number = () => 0,
  ) {}

  async receive(
    queueUrl: string,
    max: number,
    visibilitySeconds: number,
    waitSeconds = 0,
  ): Promise<ReceivedPointer[]> {
    const sampled = waitSeconds === 0 && this.shortPollSample !== undefined ? this.shortPollSample : 10;
    const groupOf = this.oneGroupPerReceive;
    const all = (this.queues[queueUrl]?.messages ?? []).filter((m) => m.visibleAtMs <= this.now());
    const first = all[0];
    const visible = (
      groupOf && first ? all.filter((m) => groupOf(m.body) === groupOf(first.body)) : all
    ).slice(0, Math.min(max, sampled));
    if (visible.length === 0 && waitSeconds > 0) await this.longPollWait?.(waitSeconds);
    for (const m of visible) m.visibleAtMs = this.now() + visibilitySeconds * 1000;
    return visible.map(({ messageId, receiptHandle, body, deduplicationId }) => ({
      messageId,
      receiptHandle,
      body,
      ...(deduplicationId !== undefined && { deduplicationId }),
    }));
  }

  async remove(queueUrl: string, receiptHandles: readonly string[]): Promise<{ failed: string[] }> {
    const queue = this.queues[queueUrl];
    if (queue) {
      const drop = new Set(receiptHandles);
      queue.messages.splice(
        0,
        queue.messages.length,
        ...queue.messages.filter((m) => !drop.has(m.receiptHandle)),
      );
    }
    return { failed: [] };
  }

  async release(queueUrl: string, receiptHandles: readonly string[]): Promise<void> {
    const handles = new Set(receiptHandles);
    for (const m of this.queues[queueUrl]?.messages ?? [])
      if (handles.has(m.receiptHandle)) m.visibleAtMs = this.now();
  }
}
