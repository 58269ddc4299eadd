import type {
  GroupSend,
  SendInOrderResult,
  TopicQueue,
  VisibilityChange,
} from "#shared/adapters/topic-queue.js";

const withSchedule = (scheduleId: string | undefined) => (scheduleId === undefined ? {} : { scheduleId });

/** SQS FIFO deduplicates a MessageDeduplicationId (our task id) for five minutes. */
const FIFO_DEDUP_WINDOW_MS = 5 * 60_000;

export interface FifoMessage {
  readonly messageId: string;
  readonly groupId: string;
  readonly taskId: string;
  /** The occurrence's schedule its message carries (messages.ts). */
  readonly scheduleId?: string;
}

export interface DeadLetter {
  readonly dlqUrl: string;
  readonly groupId: string;
  readonly taskId: string;
  readonly reason: string;
}

/**
 * The topic FIFO queues and their FIFO DLQs (the TopicQueue port): order per group, SQS's five-minute
 * deduplication on the task id (measured on `now`; the default clock never moves, so it never expires), and every
 * call recorded. Hooks make sends fail; `takeHead`/`putBack`/`lose` let a simulation consume and lose messages.
 */
export class FakeTopicQueue implements TopicQueue {
  /** Messages waiting, per queue URL, in arrival order. */
  readonly received = new Map<string, FifoMessage[]>();
  /** Every message ever enqueued (after deduplication), over all queues. */
  readonly enqueued: { queueUrl: string; groupId: string; taskId: string }[] = [];
  readonly calls: { queueUrl: string; groupId: string; taskIds: string[] }[] = [];
  /** Every `sendGroupsInOrder` call (each group's share also appears in `calls`). */
  readonly groupCalls: { queueUrl: string; groups: GroupSend[] }[] = [];
  readonly deadLetters: DeadLetter[] = [];
  readonly visibility: { queueUrl: string; changes: VisibilityChange[] }[] = [];
  /**
   * Hook: a failure for this call instead of sending from `failAt` on (called before anything is accepted). The
   * real adapter puts at most one entry of a group in a SendMessageBatch call, so a refused entry always stops its
   * group's later ones (test/unit/adapters/topic-queue.test.ts).
   */
  failNext?: (groupId: string, taskIds: readonly string[]) => { failAt: number; error: string } | undefined;
  /** Hook: every send fails as a whole (SQS unavailable). */
  failSends = false;
  failDeadLetter = false;
  private readonly sentAt = new Map<string, number>();
  private next = 0;

  constructor(private readonly now: () => number = () => 0) {}

  async sendInOrder(
    queueUrl: string,
    groupId: string,
    taskIds: readonly string[],
    scheduleIds?: ReadonlyMap<string, string>,
  ): Promise<SendInOrderResult> {
    this.calls.push({ queueUrl, groupId, taskIds: [...taskIds] });
    if (this.failSends) return { sent: [], failure: { taskIds: [...taskIds], error: "ServiceUnavailable" } };
    const failure = this.failNext?.(groupId, taskIds);
    const sent = taskIds.slice(0, failure ? failure.failAt : taskIds.length);
    const queue = this.queue(queueUrl);
    for (const taskId of sent) {
      if (this.isDuplicate(queueUrl, taskId)) continue; // accepted, but not enqueued again
      queue.push({
        messageId: `m${++this.next}`,
        groupId,
        taskId,
        ...withSchedule(scheduleIds?.get(taskId)),
      });
      this.enqueued.push({ queueUrl, groupId, taskId });
    }
    if (!failure) return { sent };
    return { sent, failure: { taskIds: taskIds.slice(failure.failAt), error: failure.error } };
  }

  /** Group after group through `sendInOrder` (so its hooks apply), as the real adapter keeps each group's order. */
  async sendGroupsInOrder(
    queueUrl: string,
    groups: readonly GroupSend[],
  ): Promise<Map<string, SendInOrderResult>> {
    this.groupCalls.push({ queueUrl, groups: groups.map((g) => ({ ...g, taskIds: [...g.taskIds] })) });
    const results = new Map<string, SendInOrderResult>();
    for (const { groupId, taskIds, scheduleIds } of groups)
      results.set(groupId, await this.sendInOrder(queueUrl, groupId, taskIds, scheduleIds));
    return results;
  }

  async sendToDeadLetter(
    dlqUrl: string,
    groupId: string,
    taskId: string,
    reason: string,
    deduplicationId = taskId,
  ): Promise<void> {
    if (this.failDeadLetter) throw new Error("SQS unavailable");
    if (this.isDuplicate(dlqUrl, deduplicationId)) return;
    this.deadLetters.push({ dlqUrl, groupId, taskId, reason });
  }

  async sendReplay(
    queueUrl: string,
    groupId: string,
    taskId: string,
    deduplicationId: string,
    scheduleId?: string,
  ): Promise<void> {
    this.calls.push({ queueUrl, groupId, taskIds: [taskId] });
    if (this.failSends) throw new Error("SQS unavailable");
    if (this.isDuplicate(queueUrl, deduplicationId)) return;
    this.queue(queueUrl).push({ messageId: `m${++this.next}`, groupId, taskId, ...withSchedule(scheduleId) });
    this.enqueued.push({ queueUrl, groupId, taskId });
  }

  /** Set: visibility changes never answer (their answer lost) until their signal gives them up. */
  hangVisibility = false;
  /** Visibility calls given up through their signal while hanging. */
  visibilityGivenUp = 0;

  async setVisibility(
    queueUrl: string,
    changes: readonly VisibilityChange[],
    signal?: AbortSignal,
  ): Promise<{ failed: string[] }> {
    this.visibility.push({ queueUrl, changes: [...changes] });
    if (!this.hangVisibility) return { failed: [] };
    await new Promise<void>((resolve) => signal?.addEventListener("abort", () => resolve(), { once: true }));
    this.visibilityGivenUp++;
    return { failed: changes.map((c) => c.receiptHandle) };
  }

  /** Task ids waiting in a queue, in order. */
  idsIn(queueUrl: string): string[] {
    return this.queue(queueUrl).map((m) => m.taskId);
  }

  /** receipt handle → seconds, over all visibility calls. */
  visibilityByHandle(): Record<string, number> {
    return Object.fromEntries(
      this.visibility.flatMap((v) => v.changes.map((c) => [c.receiptHandle, c.seconds])),
    );
  }

  /** Messages gone without a trace (purged, moved by the maxReceiveCount backstop, expired): one task or all. */
  lose(taskId?: string): void {
    for (const [queueUrl, queue] of this.received) {
      this.received.set(
        queueUrl,
        queue.filter((m) => taskId !== undefined && m.taskId !== taskId),
      );
    }
  }

  takeHead(queueUrl: string): FifoMessage | undefined {
    return this.received.get(queueUrl)?.shift();
  }

  putBack(queueUrl: string, message: FifoMessage): void {
    this.queue(queueUrl).unshift(message);
  }

  private queue(queueUrl: string): FifoMessage[] {
    const queue = this.received.get(queueUrl) ?? [];
    this.received.set(queueUrl, queue);
    return queue;
  }

  private isDuplicate(queueUrl: string, taskId: string): boolean {
    const key = `${queueUrl}|${taskId}`;
    const sentAt = this.sentAt.get(key);
    if (sentAt !== undefined && this.now() - sentAt < FIFO_DEDUP_WINDOW_MS) return true;
    this.sentAt.set(key, this.now());
    return false;
  }
}
