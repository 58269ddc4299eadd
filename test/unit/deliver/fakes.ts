import type { SQSEvent, SQSRecord } from "aws-lambda";
import type { CallbackClient, CallbackRequest, CallbackResult } from "#shared/adapters/callback-client.js";
import type { TopicQueue, VisibilityChange } from "#shared/adapters/topic-queue.js";
import { loadEnvironmentConfig, type TopicConfig } from "#shared/config/index.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import type { TaskRecord } from "#shared/domain/task.js";
import type { DeliverBinding, DeliveryMetricsSink } from "#shared/services/deliver/index.js";

export const QUEUE_ARN = "arn:aws:sqs:eu-west-1:000000000000:punctual-test-demo.fifo";
export const QUEUE_URL = "https://sqs.local/000000000000/punctual-test-demo.fifo";
export const DLQ_URL = "https://sqs.local/000000000000/punctual-test-demo-dlq.fifo";

export function testTopic(overrides: Partial<TopicConfig> = {}): TopicConfig {
  const base = loadEnvironmentConfig("local").resolvedTopics.demo as TopicConfig;
  return {
    ...base,
    maxAttempts: 3,
    callbackTimeoutSeconds: 5,
    backoff: { initialSeconds: 10, maxSeconds: 1_000, multiplier: 2, jitter: "none" },
    retentionDays: 3,
    ...overrides,
  };
}

export function binding(topic: TopicConfig = testTopic()): DeliverBinding {
  return { topic, queueUrl: QUEUE_URL, dlqUrl: DLQ_URL };
}

let seq = 0;
export function fifoRecord(
  task: TaskRecord,
  options: { receiveCount?: number; arn?: string } = {},
): SQSRecord {
  seq++;
  return {
    messageId: `m-${seq}`,
    receiptHandle: `rh-${seq}`,
    body: taskMessageBody(task.taskId),
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: "0",
      SenderId: "test",
      ApproximateFirstReceiveTimestamp: "0",
      MessageGroupId: task.pk,
      MessageDeduplicationId: task.taskId,
      SequenceNumber: String(seq),
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: options.arn ?? QUEUE_ARN,
    awsRegion: "eu-west-1",
  };
}

export const eventOf = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

/** The callback-client seam: answers per task id (from `webhook-id`), records every request. */
export class FakeCallbacks implements CallbackClient {
  readonly requests: CallbackRequest[] = [];
  readonly answers = new Map<string, CallbackResult[]>();
  fallback: CallbackResult = { ok: true, status: 204, durationMs: 12 };

  answer(taskId: string, ...results: CallbackResult[]): this {
    this.answers.set(taskId, results);
    return this;
  }

  async post(request: CallbackRequest): Promise<CallbackResult> {
    this.requests.push(request);
    const queue = this.answers.get(request.headers["webhook-id"] ?? "");
    return queue?.shift() ?? this.fallback;
  }

  calledFor(): string[] {
    return this.requests.map((r) => r.headers["webhook-id"] ?? "");
  }

  async close(): Promise<void> {}
}

export const HTTP = (status: number, durationMs = 20): CallbackResult =>
  status >= 200 && status < 300
    ? { ok: true, status, durationMs }
    : { ok: false, status, error: `HTTP ${status}`, durationMs };

export class FakeDeliverQueue implements Pick<TopicQueue, "sendToDeadLetter" | "setVisibility"> {
  readonly deadLetters: { dlqUrl: string; groupId: string; taskId: string; reason: string }[] = [];
  readonly visibility: { queueUrl: string; changes: VisibilityChange[] }[] = [];
  failDeadLetter = false;

  async sendToDeadLetter(dlqUrl: string, groupId: string, taskId: string, reason: string): Promise<void> {
    if (this.failDeadLetter) throw new Error("SQS unavailable");
    this.deadLetters.push({ dlqUrl, groupId, taskId, reason });
  }

  async setVisibility(queueUrl: string, changes: readonly VisibilityChange[]) {
    this.visibility.push({ queueUrl, changes: [...changes] });
    return { failed: [] };
  }

  /** receipt handle → seconds, over all calls. */
  visibilityByHandle(): Record<string, number> {
    return Object.fromEntries(
      this.visibility.flatMap((v) => v.changes.map((c) => [c.receiptHandle, c.seconds])),
    );
  }
}

export class MemoryMetrics implements DeliveryMetricsSink {
  readonly events: { kind: string; topic: string; values: number[] }[] = [];
  flushes = 0;
  delivered(topic: string, latenessMs: number, callbackLatencyMs: number): void {
    this.events.push({ kind: "delivered", topic, values: [latenessMs, callbackLatencyMs] });
  }
  attemptFailed(topic: string, callbackLatencyMs: number | undefined): void {
    this.events.push({
      kind: "attemptFailed",
      topic,
      values: callbackLatencyMs === undefined ? [] : [callbackLatencyMs],
    });
  }
  deadLettered(topic: string): void {
    this.events.push({ kind: "deadLettered", topic, values: [] });
  }
  flush(): void {
    this.flushes++;
  }
  count(kind: string): number {
    return this.events.filter((e) => e.kind === kind).length;
  }
}
