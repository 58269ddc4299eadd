import type { GroupSend, SendInOrderResult, TopicQueue } from "./topic-queue.js";

/**
 * How long a send is remembered: under SQS FIFO's 5-minute deduplication interval, with a margin, so a send
 * skipped here is one SQS would certainly have dropped.
 */
export const RECENT_SEND_WINDOW_MS = 4 * 60_000;
/** Memory bound for one container; forgetting a send early only means sending it again (and SQS dropping it). */
const MAX_REMEMBERED = 200_000;

/**
 * The relay's FIFO sends, minus the task ids this container already had accepted by the same queue less than
 * RECENT_SEND_WINDOW_MS ago.
 *
 * Why it exists: the relay no longer records `queued` (a write per task), so a task stays `scheduled` until its
 * attempt starts, and every later timer message of its group sweeps it again. Sending it again is harmless — the
 * FIFO queue drops a MessageDeduplicationId (the task id) it accepted in the last 5 minutes — but it costs batch
 * entries (and so SendMessageBatch calls) and the queue's work. Skipping an id accepted less than 4 minutes ago
 * is indistinguishable from that drop: the earlier message is on the queue (or was consumed) and the copy would
 * have been discarded, so order and delivery are exactly as without this class. Only ids SQS reported as
 * accepted are remembered, timed before the call (SQS's interval starts later, so ours ends first). One case
 * differs: an id SQS accepted as a duplicate of an earlier message (sent again after it left this memory, or by
 * another container) is remembered from this call, while SQS's interval runs from the earlier send; for up to
 * RECENT_SEND_WINDOW_MS past that interval this class skips a send SQS would have queued as a second copy. Still
 * safe: the earlier message is on the queue or was consumed, and a second copy could only wait behind it or be
 * refused by deliver's conditional start. Per container: another container's sends are not known here and
 * simply reach SQS's own deduplication.
 */
export class RecentSendsTopicQueue implements Pick<TopicQueue, "sendGroupsInOrder"> {
  private readonly sentAt = new Map<string, number>();

  constructor(
    private readonly inner: Pick<TopicQueue, "sendGroupsInOrder">,
    private readonly clock: () => number = Date.now,
  ) {}

  async sendGroupsInOrder(
    queueUrl: string,
    groups: readonly GroupSend[],
  ): Promise<Map<string, SendInOrderResult>> {
    const now = this.clock();
    this.forgetBefore(now - RECENT_SEND_WINDOW_MS);
    // The time is checked here, not only by pruning: the map is ordered by insertion, and concurrent calls may
    // insert slightly out of time order.
    const isRecent = (taskId: string) =>
      (this.sentAt.get(`${queueUrl}|${taskId}`) ?? -Infinity) > now - RECENT_SEND_WINDOW_MS;
    const skipped = new Set(groups.flatMap((g) => g.taskIds.filter(isRecent)));
    const fresh = groups
      .map((g) => ({ ...g, taskIds: g.taskIds.filter((id) => !skipped.has(id)) }))
      .filter((g) => g.taskIds.length > 0);
    const results = fresh.length > 0 ? await this.inner.sendGroupsInOrder(queueUrl, fresh) : new Map();
    const merged = new Map<string, SendInOrderResult>();
    for (const { groupId, taskIds } of groups) {
      const result: SendInOrderResult | undefined = results.get(groupId);
      const accepted = new Set(result?.sent ?? []);
      // Remembered: the group's ids up to its first failure only (SQS may accept an entry after a failed one of the
      // same call). So a remembered id says "this id and everything before it in that send are on the queue",
      // which is what `wasSentRecently` promises the relay.
      for (const id of taskIds) {
        if (!accepted.has(id) && !skipped.has(id)) break;
        if (accepted.has(id)) this.remember(`${queueUrl}|${id}`, now);
      }
      // Skipped ids are on the queue already: they count as sent, in the group's order.
      const sent = taskIds.filter((id) => accepted.has(id) || skipped.has(id));
      merged.set(groupId, result?.failure ? { sent, failure: result.failure } : { sent });
    }
    return merged;
  }

  /**
   * Whether this container had `taskId` accepted by `queueUrl` less than RECENT_SEND_WINDOW_MS ago, as part of a
   * group send in which everything before it was accepted too. The relay then knows a timer message for that task
   * has nothing left to do: its task and every earlier one its sweep found are on the queue.
   */
  wasSentRecently(queueUrl: string, taskId: string): boolean {
    return (this.sentAt.get(`${queueUrl}|${taskId}`) ?? -Infinity) > this.clock() - RECENT_SEND_WINDOW_MS;
  }

  private remember(key: string, at: number): void {
    this.sentAt.delete(key); // re-insert at the end: the map stays ordered by time
    this.sentAt.set(key, at);
    if (this.sentAt.size > MAX_REMEMBERED) {
      const oldest = this.sentAt.keys().next().value;
      if (oldest !== undefined) this.sentAt.delete(oldest);
    }
  }

  private forgetBefore(cutoff: number): void {
    for (const [key, at] of this.sentAt) {
      if (at >= cutoff) break;
      this.sentAt.delete(key);
    }
  }
}
