import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { taskMessageBody } from "#shared/domain/messages.js";
import { errorText } from "#shared/runtime/async.js";
import { SQS_BATCH_LIMIT } from "./sqs-batch.js";
import { changeVisibility, type VisibilityChange } from "./visibility.js";

/** Message attribute carrying the reason a task was dead-lettered (the body stays the plain task message). */
export const DEAD_LETTER_REASON_ATTRIBUTE = "punctual-error";
const MAX_REASON_LENGTH = 1024;

export interface SendInOrderResult {
  /** Ids SQS accepted (they are on the queue, in the order given). */
  readonly sent: readonly string[];
  /** Set when a send failed: the failed id, and every id after it that was therefore not sent. */
  readonly failure?: { readonly taskIds: readonly string[]; readonly error: string };
}

/** One group's share of a `sendGroupsInOrder` call. */
export interface GroupSend {
  readonly groupId: string;
  readonly taskIds: readonly string[];
  /** Task id → schedule id for the occurrences among `taskIds`: their messages carry it (messages.ts). */
  readonly scheduleIds?: ReadonlyMap<string, string>;
}

export type { VisibilityChange } from "./visibility.js";

/** The topic FIFO queues and their dead-letter queues, as the relay and deliver functions use them. */
export interface TopicQueue {
  /**
   * Sends a group's tasks in the given order (MessageGroupId = `groupId`, MessageDeduplicationId = task id).
   * Never throws: a failure stops the rest of the group and is reported, so the caller can fail just that group.
   */
  sendInOrder(
    queueUrl: string,
    groupId: string,
    taskIds: readonly string[],
    scheduleIds?: ReadonlyMap<string, string>,
  ): Promise<SendInOrderResult>;
  /**
   * Sends several groups' tasks, each group in its given order, packed into SendMessageBatch calls that hold at
   * most one entry per group (entries of different groups share a call; SQS keeps the order per MessageGroupId
   * across calls, sent one after another). Never throws: each group gets its own result, as from `sendInOrder`.
   */
  sendGroupsInOrder(queueUrl: string, groups: readonly GroupSend[]): Promise<Map<string, SendInOrderResult>>;
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
  /**
   * Sends one replayed task to its topic's FIFO queue with its own dedup id (an occurrence's message with its
   * `scheduleId`). Throws on failure.
   */
  sendReplay(
    queueUrl: string,
    groupId: string,
    taskId: string,
    deduplicationId: string,
    scheduleId?: string,
  ): Promise<void>;
  /**
   * Best effort: returns the receipt handles whose visibility could not be changed (never throws). `signal` gives
   * the changes up (a call in flight is aborted; the rest count as not changed).
   */
  setVisibility(
    queueUrl: string,
    changes: readonly VisibilityChange[],
    signal?: AbortSignal,
  ): Promise<{ failed: string[] }>;
}

interface PackedEntry {
  readonly groupId: string;
  readonly taskId: string;
  readonly scheduleId?: string | undefined;
}

/**
 * The groups' entries cut into SendMessageBatch calls holding at most one entry per group: the k-th entry of every
 * group, then the (k+1)-th, and so on. Why one: SQS answers a batch per entry and documents no rule that a refused
 * entry stops the later entries of its MessageGroupId in the same call; had a call held B and C of one group and
 * refused B only, C would wait in the queue ahead of B's re-send and be delivered first. With one entry of a group
 * per call, and calls one after another, a refused entry stops its group before its next entry is sent. Costs a
 * group with n entries n calls (it was n / 10); entries of different groups still share calls.
 */
function packEntries(groups: readonly GroupSend[]): PackedEntry[][] {
  const rounds = Math.max(0, ...groups.map((g) => g.taskIds.length));
  const chunks: PackedEntry[][] = [];
  let chunk: PackedEntry[] = [];
  const inChunk = new Set<string>();
  for (let round = 0; round < rounds; round++) {
    for (const { groupId, taskIds, scheduleIds } of groups) {
      const taskId = taskIds[round];
      if (taskId === undefined) continue;
      if (chunk.length === SQS_BATCH_LIMIT || inChunk.has(groupId)) {
        chunks.push(chunk);
        chunk = [];
        inChunk.clear();
      }
      chunk.push({ groupId, taskId, scheduleId: scheduleIds?.get(taskId) });
      inChunk.add(groupId);
    }
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

export class SqsTopicQueue implements TopicQueue {
  constructor(private readonly sqs: SQSClient) {}

  async sendInOrder(
    queueUrl: string,
    groupId: string,
    taskIds: readonly string[],
    scheduleIds?: ReadonlyMap<string, string>,
  ): Promise<SendInOrderResult> {
    const results = await this.sendGroupsInOrder(queueUrl, [
      { groupId, taskIds, ...(scheduleIds && { scheduleIds }) },
    ]);
    return results.get(groupId) ?? { sent: [] };
  }

  async sendGroupsInOrder(
    queueUrl: string,
    groups: readonly GroupSend[],
  ): Promise<Map<string, SendInOrderResult>> {
    const sent = new Map<string, string[]>(groups.map((g) => [g.groupId, []]));
    const failures = new Map<string, { taskIds: string[]; error: string }>();
    // Call N+1 only goes out once call N was answered: SQS keeps the order of one group across calls, and a
    // group whose entry failed must not be overtaken by its own later entries. A group that failed sends
    // nothing more; every later id of it is reported with the failure.
    for (const chunk of packEntries(groups)) {
      const live = chunk.filter((e) => !failures.has(e.groupId));
      for (const entry of chunk)
        if (!live.includes(entry)) failures.get(entry.groupId)?.taskIds.push(entry.taskId);
      if (live.length === 0) continue;
      const outcome = await this.sendChunk(queueUrl, live);
      live.forEach((entry, i) => {
        const error = outcome.failed.get(i);
        if (error === undefined) (sent.get(entry.groupId) as string[]).push(entry.taskId);
        else {
          const failure = failures.get(entry.groupId);
          if (failure) failure.taskIds.push(entry.taskId);
          else failures.set(entry.groupId, { taskIds: [entry.taskId], error });
        }
      });
    }
    return new Map(
      groups.map(({ groupId }) => {
        const failure = failures.get(groupId);
        const result: SendInOrderResult = { sent: sent.get(groupId) ?? [], ...(failure ? { failure } : {}) };
        return [groupId, result];
      }),
    );
  }

  /**
   * One SendMessageBatch call; returns the failed entries by index. A call that throws fails every entry. Entries
   * SQS accepted are on the queue whatever happened to their neighbours, so they count as sent; the caller
   * retries a failed group whole and FIFO deduplication absorbs what was already sent.
   */
  private async sendChunk(
    queueUrl: string,
    entries: readonly PackedEntry[],
  ): Promise<{ failed: Map<number, string> }> {
    try {
      const out = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: entries.map((entry, i) => ({
            Id: `m${i}`,
            MessageBody: taskMessageBody(entry.taskId, entry.scheduleId),
            MessageGroupId: entry.groupId,
            MessageDeduplicationId: entry.taskId,
          })),
        }),
      );
      return {
        failed: new Map(
          (out.Failed ?? []).map((f) => [Number(f.Id?.slice(1)), `${f.Code ?? "error"}: ${f.Message ?? ""}`]),
        ),
      };
    } catch (error) {
      const text = errorText(error);
      return { failed: new Map(entries.map((_, i) => [i, text])) };
    }
  }

  async sendReplay(
    queueUrl: string,
    groupId: string,
    taskId: string,
    deduplicationId: string,
    scheduleId?: string,
  ): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: taskMessageBody(taskId, scheduleId),
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

  setVisibility(
    queueUrl: string,
    changes: readonly VisibilityChange[],
    signal?: AbortSignal,
  ): Promise<{ failed: string[] }> {
    return changeVisibility(this.sqs, queueUrl, changes, signal);
  }
}
