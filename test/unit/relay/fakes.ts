import { mulberry32 } from "#local/aws/faults.js";
import type { SendInOrderResult, TopicQueue } from "#shared/adapters/topic-queue.js";
import { makeTaskKey, newUlid } from "#shared/domain/keys.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import type { TaskRecord } from "#shared/domain/task.js";
import type { ServiceLogger } from "#shared/runtime/observability.js";
import type { TimerMessage, TimerRearm } from "#shared/services/relay.js";

/** A FIFO queue fake: order per group, and SQS's deduplication on MessageDeduplicationId (task id). */
export class FakeFifoQueue implements Pick<TopicQueue, "sendInOrder"> {
  /** Accepted messages in arrival order, per queue URL. */
  readonly received = new Map<string, { groupId: string; taskId: string }[]>();
  readonly seenDedupIds = new Set<string>();
  readonly calls: { queueUrl: string; groupId: string; taskIds: string[] }[] = [];
  /** Test hook: return a failure for this call instead of sending (called before anything is accepted). */
  failNext?: (groupId: string, taskIds: readonly string[]) => { failAt: number; error: string } | undefined;

  async sendInOrder(
    queueUrl: string,
    groupId: string,
    taskIds: readonly string[],
  ): Promise<SendInOrderResult> {
    this.calls.push({ queueUrl, groupId, taskIds: [...taskIds] });
    const failure = this.failNext?.(groupId, taskIds);
    const upTo = failure ? failure.failAt : taskIds.length;
    const list = this.received.get(queueUrl) ?? [];
    this.received.set(queueUrl, list);
    for (const taskId of taskIds.slice(0, upTo)) {
      const dedupKey = `${queueUrl}|${taskId}`;
      if (this.seenDedupIds.has(dedupKey)) continue; // accepted, but not enqueued again
      this.seenDedupIds.add(dedupKey);
      list.push({ groupId, taskId });
    }
    const sent = taskIds.slice(0, upTo);
    return failure ? { sent, failure: { taskIds: taskIds.slice(upTo), error: failure.error } } : { sent };
  }

  idsIn(queueUrl: string): string[] {
    return (this.received.get(queueUrl) ?? []).map((m) => m.taskId);
  }
}

export class FakeTimer implements TimerRearm {
  readonly rearmed: { taskId: string; delaySeconds: number }[] = [];
  failTaskIds = new Set<string>();

  async rearm(entries: readonly { taskId: string; delaySeconds: number }[]) {
    const failedTaskIds: string[] = [];
    for (const entry of entries) {
      if (this.failTaskIds.has(entry.taskId)) failedTaskIds.push(entry.taskId);
      else this.rearmed.push({ ...entry });
    }
    return { failedTaskIds };
  }
}

export class FakeClock {
  constructor(public nowMs: number) {}
  readonly sleeps: number[] = [];
  readonly now = () => this.nowMs;
  readonly sleep = async (ms: number) => {
    this.sleeps.push(ms);
    this.nowMs += ms;
  };
}

export interface LogEntry {
  level: string;
  message: string;
  extra?: Record<string, unknown>;
}

export function memoryLogger(): ServiceLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: string) =>
    (message: string, ...extra: Record<string, unknown>[]): void => {
      entries.push({ level, message, ...(extra.length > 0 ? { extra: Object.assign({}, ...extra) } : {}) });
    };
  return { entries, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

export function makeTask(options: {
  topic?: string;
  group?: string;
  dueAtMs: number;
  acceptedAtMs: number;
  status?: TaskRecord["status"];
  content?: string;
  callbackUrl?: string;
  attempts?: number;
}): TaskRecord {
  const topic = options.topic ?? "demo";
  const ulid = newUlid(options.acceptedAtMs);
  const key = makeTaskKey(topic, options.group, options.dueAtMs, ulid);
  return {
    pk: key.pk,
    sk: key.sk,
    taskId: key.taskId,
    topic,
    ...(options.group !== undefined ? { groupValue: options.group } : {}),
    status: options.status ?? "scheduled",
    dueAtMs: options.dueAtMs,
    acceptedAtMs: options.acceptedAtMs,
    content: options.content ?? `{"order_id":${JSON.stringify(options.group ?? null)},"n":1}`,
    callbackUrl: options.callbackUrl ?? "https://hooks.example.com/punctual",
    timer: "queue",
    attempts: options.attempts ?? 0,
  };
}

let nextMessage = 0;
export function timerMessage(taskId: string, receiveCount = 1): TimerMessage {
  nextMessage++;
  return { messageId: `msg-${nextMessage}`, body: taskMessageBody(taskId), receiveCount };
}

/** Deterministic PRNG for seeded shuffles: the fault layer's own mulberry32. */
export const seeded = mulberry32;

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
