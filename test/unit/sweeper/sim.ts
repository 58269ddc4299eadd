import { randomBytes } from "node:crypto";
import type { SQSRecord } from "aws-lambda";
import { monotonicFactory } from "ulid";
import type { DeadLetterSource, ReceivedPointer } from "#shared/adapters/dead-letter-source.js";
import type { TaskScheduleRequest, TaskScheduler } from "#shared/adapters/task-scheduler.js";
import type { TimerArm, TimerQueue } from "#shared/adapters/timer-queue.js";
import type { SendInOrderResult, TopicQueue, VisibilityChange } from "#shared/adapters/topic-queue.js";
import {
  type EnvironmentConfigInput,
  type PunctualConfig,
  parseConfig,
  type TopicConfig,
} from "#shared/config/index.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import { scheduledGraceMs, stalledAfterMs } from "#shared/domain/sweep.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { type AddTaskInput, addTask } from "#shared/services/add-task.js";
import { type DeliverDeps, deliverBatch } from "#shared/services/deliver/index.js";
import { relayTimerMessages } from "#shared/services/relay.js";
import {
  type SweeperDeps,
  type SweepLimits,
  type SweepReport,
  sweep,
} from "#shared/services/sweeper/index.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { FakeCallbacks, MemoryMetrics } from "../deliver/fakes.js";
import { memoryLogger } from "../relay/fakes.js";

/** A whole second, well inside the ULID range. */
export const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
export const QUEUE_URL = "https://sqs.local/000000000000/demo.fifo";
export const QUEUE_ARN = "arn:aws:sqs:eu-west-1:000000000000:demo.fifo";
export const DLQ_URL = "https://sqs.local/000000000000/demo-dlq.fifo";
export const TIMER_DLQ_URL = "https://sqs.local/000000000000/timer-dlq";
export const SCHEDULE_DLQ_URL = "https://sqs.local/000000000000/schedule-dlq";
const FIFO_DEDUP_WINDOW_MS = 5 * 60_000;
const TIMER_VISIBILITY_MS = 180_000;
const TIMER_MAX_RECEIVES = 20;

/** Sizing as the CDK stack derives it for a 5 s callback timeout: deliver 30 s, FIFO visibility 180 s. */
export const DELIVER_SIZING = { timeoutSeconds: 30, visibilityTimeoutSeconds: 180 };

export function simConfig(sweeper: EnvironmentConfigInput["sweeper"] = {}): PunctualConfig {
  return parseConfig({
    name: "test",
    sweeper,
    system: { allowedCallbackHosts: ["*"] },
    timer: { horizonSeconds: 300, leadSeconds: 120 },
    topics: {
      demo: {
        deliverBy: "order_id",
        maxAttempts: 3,
        callbackTimeoutSeconds: 5,
        backoff: { initialSeconds: 1, maxSeconds: 10, multiplier: 2, jitter: "none" },
      },
    },
  });
}

interface TimerMessage {
  readonly id: number;
  readonly taskId: string;
  visibleAtMs: number;
  receives: number;
}

/** The standard timer queue: per-message delay, redelivery after the visibility timeout, redrive to its DLQ. */
export class SimTimerQueue implements TimerQueue {
  readonly messages: TimerMessage[] = [];
  private next = 0;
  /** Crash-point hook: the send is answered 200 but the message never lands. */
  dropNext = 0;
  constructor(
    private readonly clock: { now: number },
    private readonly dlq: SimPointerQueue,
  ) {}

  /** Crash-point hook: the send fails (SQS error). */
  failNext = 0;

  async arm(taskId: string, delaySeconds: number): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw Object.assign(new Error("SQS is down"), { name: "ServiceUnavailable" });
    }
    if (this.dropNext > 0) {
      this.dropNext--;
      return;
    }
    this.messages.push({
      id: ++this.next,
      taskId,
      visibleAtMs: this.clock.now + delaySeconds * 1000,
      receives: 0,
    });
  }

  async armMany(items: readonly TimerArm[]): Promise<string[]> {
    for (const item of items) await this.arm(item.taskId, item.delaySeconds);
    return [];
  }

  /** Messages visible now, marked received (hidden for the visibility timeout). */
  receive(): TimerMessage[] {
    const visible = this.messages.filter((m) => m.visibleAtMs <= this.clock.now);
    for (const m of visible) {
      m.receives++;
      m.visibleAtMs = this.clock.now + TIMER_VISIBILITY_MS;
    }
    // maxReceiveCount: what has been received too often moves to the timer DLQ instead.
    for (const m of visible.filter((v) => v.receives > TIMER_MAX_RECEIVES)) {
      this.remove(m.id);
      this.dlq.put(taskMessageBody(m.taskId));
    }
    return visible.filter((m) => m.receives <= TIMER_MAX_RECEIVES);
  }

  remove(id: number): void {
    const index = this.messages.findIndex((m) => m.id === id);
    if (index >= 0) this.messages.splice(index, 1);
  }

  lose(taskId?: string): void {
    for (const m of [...this.messages]) if (!taskId || m.taskId === taskId) this.remove(m.id);
  }
}

export class SimScheduler implements TaskScheduler {
  readonly created: TaskScheduleRequest[] = [];
  async createTaskSchedule(request: TaskScheduleRequest): Promise<void> {
    this.created.push(request);
  }
  async deleteTaskSchedule(): Promise<void> {}
}

interface FifoMessage {
  readonly messageId: string;
  readonly groupId: string;
  readonly taskId: string;
}

/** A topic FIFO queue: order per group, 5-minute deduplication on the task id, and its FIFO DLQ. */
export class SimFifo implements Pick<TopicQueue, "sendInOrder" | "sendToDeadLetter" | "setVisibility"> {
  readonly queues = new Map<string, FifoMessage[]>();
  readonly deadLetters: { dlqUrl: string; taskId: string; reason: string }[] = [];
  /** Every message ever enqueued (after deduplication), per queue. */
  readonly enqueued: { queueUrl: string; groupId: string; taskId: string }[] = [];
  private readonly dedup = new Map<string, number>();
  private next = 0;
  /** Crash-point hooks. */
  failSends = false;
  failDeadLetter = false;
  constructor(private readonly clock: { now: number }) {}

  async sendInOrder(
    queueUrl: string,
    groupId: string,
    taskIds: readonly string[],
  ): Promise<SendInOrderResult> {
    if (this.failSends) return { sent: [], failure: { taskIds: [...taskIds], error: "ServiceUnavailable" } };
    const queue = this.queues.get(queueUrl) ?? [];
    this.queues.set(queueUrl, queue);
    for (const taskId of taskIds) {
      if (this.isDuplicate(queueUrl, taskId)) continue;
      queue.push({ messageId: `m${++this.next}`, groupId, taskId });
      this.enqueued.push({ queueUrl, groupId, taskId });
    }
    return { sent: [...taskIds] };
  }

  async sendToDeadLetter(dlqUrl: string, _groupId: string, taskId: string, reason: string): Promise<void> {
    if (this.failDeadLetter) throw new Error("SQS unavailable");
    if (this.isDuplicate(dlqUrl, taskId)) return;
    this.deadLetters.push({ dlqUrl, taskId, reason });
  }

  async setVisibility(
    _queueUrl: string,
    _changes: readonly VisibilityChange[],
  ): Promise<{ failed: string[] }> {
    return { failed: [] };
  }

  ids(queueUrl = QUEUE_URL): string[] {
    return (this.queues.get(queueUrl) ?? []).map((m) => m.taskId);
  }

  /** Messages gone without a trace (purged, moved by the maxReceiveCount backstop, expired). */
  lose(taskId?: string, queueUrl = QUEUE_URL): void {
    const queue = this.queues.get(queueUrl) ?? [];
    this.queues.set(
      queueUrl,
      queue.filter((m) => taskId !== undefined && m.taskId !== taskId),
    );
  }

  takeHead(queueUrl: string): FifoMessage | undefined {
    return this.queues.get(queueUrl)?.shift();
  }

  putBack(queueUrl: string, message: FifoMessage): void {
    this.queues.get(queueUrl)?.unshift(message);
  }

  private isDuplicate(queueUrl: string, taskId: string): boolean {
    const key = `${queueUrl}|${taskId}`;
    const sentAt = this.dedup.get(key);
    if (sentAt !== undefined && this.clock.now - sentAt < FIFO_DEDUP_WINDOW_MS) return true;
    this.dedup.set(key, this.clock.now);
    return false;
  }
}

/** A standard DLQ read by the sweeper. */
export class SimPointerQueue {
  readonly messages: { messageId: string; receiptHandle: string; body: string; visibleAtMs: number }[] = [];
  private next = 0;
  put(body: string): void {
    const n = ++this.next;
    this.messages.push({ messageId: `p${n}`, receiptHandle: `rh-p${n}`, body, visibleAtMs: 0 });
  }
}

export class SimDeadLetters implements DeadLetterSource {
  constructor(
    readonly queues: Record<string, SimPointerQueue>,
    private readonly clock: { now: number },
  ) {}
  /** Received messages are hidden for the visibility timeout, as SQS does. */
  async receive(queueUrl: string, max: number, visibilitySeconds: number): Promise<ReceivedPointer[]> {
    const visible = (this.queues[queueUrl]?.messages ?? [])
      .filter((m) => m.visibleAtMs <= this.clock.now)
      .slice(0, Math.min(max, 10));
    for (const m of visible) m.visibleAtMs = this.clock.now + visibilitySeconds * 1000;
    return visible.map(({ messageId, receiptHandle, body }) => ({ messageId, receiptHandle, body }));
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
}

/**
 * The pipeline in memory with the real services (add-task, relay, deliver, sweeper) on a simulated clock, so a
 * test can stop any step between its writes and watch the sweeper repair what is left.
 */
export function simulate(
  options: { limits?: Partial<SweepLimits>; sweeper?: EnvironmentConfigInput["sweeper"] } = {},
) {
  const clock = { now: T0 };
  const config = simConfig(options.sweeper);
  const topic = config.resolvedTopics.demo as TopicConfig;
  const store = new MemoryTaskStore();
  const timerDlq = new SimPointerQueue();
  const scheduleDlq = new SimPointerQueue();
  const timer = new SimTimerQueue(clock, timerDlq);
  const scheduler = new SimScheduler();
  const fifo = new SimFifo(clock);
  const callbacks = new FakeCallbacks();
  const logger = memoryLogger();
  const signer = new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]);
  const newUlid = monotonicFactory();

  const deliverDeps: DeliverDeps = {
    store,
    topicQueue: fifo,
    bindingFor: (arn) => (arn === QUEUE_ARN ? { topic, queueUrl: QUEUE_URL, dlqUrl: DLQ_URL } : undefined),
    callbackClientFor: () => callbacks,
    signer: async () => signer,
    metrics: new MemoryMetrics(),
    logger,
    clock: () => clock.now,
    random: () => 0.5,
  };

  const sweeperDeps: SweeperDeps = {
    store,
    topicQueue: fifo,
    timer,
    topics: {
      demo: {
        config: topic,
        queueUrl: QUEUE_URL,
        dlqUrl: DLQ_URL,
        stalledAfterMs: stalledAfterMs(topic, config.sweeper, DELIVER_SIZING),
      },
    },
    scheduledGraceMs: (kind) => scheduledGraceMs(config, kind),
    deadLetters: {
      source: new SimDeadLetters({ [TIMER_DLQ_URL]: timerDlq, [SCHEDULE_DLQ_URL]: scheduleDlq }, clock),
      queueUrls: [SCHEDULE_DLQ_URL, TIMER_DLQ_URL],
    },
    logger,
    clock: () => clock.now,
    ...(options.limits ? { limits: options.limits } : {}),
  };

  let record = 0;
  const fifoRecord = (message: FifoMessage): SQSRecord => ({
    messageId: message.messageId,
    receiptHandle: `rh-${++record}`,
    body: taskMessageBody(message.taskId),
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: "0",
      SenderId: "sim",
      ApproximateFirstReceiveTimestamp: "0",
      MessageGroupId: message.groupId,
      MessageDeduplicationId: message.taskId,
      SequenceNumber: "0",
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: QUEUE_ARN,
    awsRegion: "eu-west-1",
  });

  const sim = {
    clock,
    config,
    topic,
    store,
    timer,
    scheduler,
    fifo,
    callbacks,
    logger,
    timerDlq,
    scheduleDlq,
    sweeperDeps,
    stalledAfterMs: sweeperDeps.topics.demo?.stalledAfterMs as number,
    graceMs: scheduledGraceMs(config, "queue"),

    advance(ms: number) {
      clock.now += ms;
    },

    /** POST /v1/tasks through the real add-task service. */
    async add(content: Record<string, unknown>, when: { delay_seconds: number } = { delay_seconds: 0 }) {
      const input: AddTaskInput = {
        body: { topic: "demo", ...when, content, callback: { url: "https://hooks.example.com/punctual" } },
      };
      const result = await addTask(
        { store, timerQueue: timer, scheduler, config, now: () => clock.now, newUlid },
        input,
      );
      return result.body.task_id;
    },

    /** Writes a task as it would be left mid-pipeline (status and times as given). */
    async put(task: TaskRecord) {
      await store.putNew(task);
      return task.taskId;
    },

    /** The relay over every timer message visible now; failed ones stay for their visibility timeout. */
    async runRelay() {
      const visible = timer.receive();
      if (visible.length === 0) return { failedMessageIds: [] as string[] };
      const result = await relayTimerMessages(
        {
          store,
          topicQueue: fifo,
          timer: { rearm: async (entries) => ({ failedTaskIds: await timer.armMany(entries) }) },
          topicQueueUrls: { demo: QUEUE_URL },
          logger,
          clock: () => clock.now,
          sleep: async (ms) => {
            clock.now += ms;
          },
        },
        visible.map((m) => ({
          messageId: String(m.id),
          body: taskMessageBody(m.taskId),
          receiveCount: m.receives,
        })),
      );
      const failed = new Set(result.failedMessageIds);
      for (const m of visible) if (!failed.has(String(m.id))) timer.remove(m.id);
      return result;
    },

    /**
     * The deliver function over the FIFO queue, one message at a time from the head (FIFO order across the
     * queue keeps every group's order); a failed record goes back to the head and stops this drain.
     */
    async runDeliver(maxMessages = 1_000) {
      for (let i = 0; i < maxMessages; i++) {
        const head = fifo.takeHead(QUEUE_URL);
        if (!head) return;
        const response = await deliverBatch(
          deliverDeps,
          { Records: [fifoRecord(head)] },
          {
            getRemainingTimeInMillis: () => 60_000,
          },
        );
        if (response.batchItemFailures.length > 0) {
          fifo.putBack(QUEUE_URL, head);
          return;
        }
      }
    },

    async sweep(): Promise<SweepReport> {
      return sweep(sweeperDeps);
    },

    status(taskId: string) {
      return store.tasks.get(taskId)?.status;
    },

    /** Task ids the receiver was called for, in order (duplicates included). */
    delivered(): string[] {
      return callbacks.calledFor();
    },
  };
  return sim;
}

export type Sim = ReturnType<typeof simulate>;
