import { randomBytes } from "node:crypto";
import { monotonicFactory, ulid } from "ulid";
import { RecentSendsTopicQueue } from "#shared/adapters/recent-sends.js";
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
import { type RescheduleTaskDeps, rescheduleTask } from "#shared/services/reschedule-task.js";
import {
  type SweeperDeps,
  type SweepLimits,
  type SweepReport,
  sweep,
} from "#shared/services/sweeper/index.js";
import { DLQ_URL, QUEUE_ARN, QUEUE_URL } from "./deliver-binding.js";
import { fifoRecord, T0 } from "./factories.js";
import { FakeCallbacks } from "./fakes/callbacks.js";
import { FakeDeadLetterSource, FakePointerQueue } from "./fakes/dead-letter-source.js";
import { MemoryMetrics } from "./fakes/metrics.js";
import { FakeScheduler } from "./fakes/scheduler.js";
import { FakeTimerQueue } from "./fakes/timer-queue.js";
import { FakeTopicQueue } from "./fakes/topic-queue.js";
import { memoryLogger } from "./logger.js";
import { MemoryTaskStore } from "./memory-task-store.js";

export { DLQ_URL, QUEUE_URL, T0 };
export const TIMER_DLQ_URL = "https://sqs.local/000000000000/timer-dlq";
export const SCHEDULE_DLQ_URL = "https://sqs.local/000000000000/schedule-dlq";

/** The relay's jitter in simulations: always the longest wait of a step (1, 2, 4 … 60 s), so runs are repeatable. */
export const SIM_RELAY_RANDOM = () => 1 - Number.EPSILON;

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

/**
 * The pipeline in memory with the real services (add-task, relay, deliver, sweeper) on a simulated clock, so a
 * test can stop any step between its writes and watch the sweeper repair what is left.
 */
export function simulate(
  options: {
    limits?: Partial<SweepLimits>;
    sweeper?: EnvironmentConfigInput["sweeper"];
    /** The relay keeps one container's memory of its recent sends across runs, as the deployed relay does. */
    relayMemory?: boolean;
    /** Timer messages armed this many seconds before due (config `eventSources.earlyWakeSeconds`). */
    earlyWakeSeconds?: number;
  } = {},
) {
  const clock = { now: T0 };
  const earlyWake =
    options.earlyWakeSeconds !== undefined ? { earlyWakeSeconds: options.earlyWakeSeconds } : {};
  const config = simConfig(options.sweeper);
  const topic = config.resolvedTopics.demo as TopicConfig;
  const store = new MemoryTaskStore();
  const now = () => clock.now;
  const timerDlq = new FakePointerQueue();
  const scheduleDlq = new FakePointerQueue();
  const timer = new FakeTimerQueue(now, timerDlq);
  const scheduler = new FakeScheduler();
  const fifo = new FakeTopicQueue(now);
  const relayQueue = options.relayMemory ? new RecentSendsTopicQueue(fifo, now) : fifo;
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
      source: new FakeDeadLetterSource({ [TIMER_DLQ_URL]: timerDlq, [SCHEDULE_DLQ_URL]: scheduleDlq }, now),
      queueUrls: [SCHEDULE_DLQ_URL, TIMER_DLQ_URL],
    },
    logger,
    clock: () => clock.now,
    ...(options.limits ? { limits: options.limits } : {}),
    ...earlyWake,
  };

  const sim = {
    clock,
    config,
    topic,
    store,
    timer,
    scheduler,
    fifo,
    callbacks,
    /** The key deliver signs callbacks with (each signed with its attempt's start: callback-request.ts). */
    signer,
    logger,
    timerDlq,
    scheduleDlq,
    sweeperDeps,
    stalledAfterMs: sweeperDeps.topics.demo?.stalledAfterMs as number,
    graceMs: scheduledGraceMs(config, "queue"),

    advance(ms: number) {
      clock.now += ms;
    },

    /**
     * POST /v1/tasks through the real add-task service. With `lateByMs` the request was accepted that long ago
     * (its due time floored, its ULID drawn, at that clock: another instance's, so not this one's monotonic
     * factory) and its write lands now, as a slow write does; with `firstWriteFails` as well, that first attempt
     * claimed its idempotency key and its write failed (503), and the client's retry re-creates the very task now
     * (`replay`, its original due time). Resolves with the id acknowledged now.
     */
    async add(
      content: Record<string, unknown>,
      when: { delay_seconds: number } = { delay_seconds: 0 },
      late: { lateByMs?: number; firstWriteFails?: boolean } = {},
    ) {
      const lateByMs = late.lateByMs ?? 0;
      const key = late.firstWriteFails ? { idempotency_key: `retry-${randomBytes(8).toString("hex")}` } : {};
      const input: AddTaskInput = {
        body: {
          topic: "demo",
          ...when,
          ...key,
          content,
          callback: { url: "https://hooks.example.com/punctual" },
        },
      };
      const acceptedAt = clock.now - lateByMs;
      const deps = {
        store,
        timerQueue: timer,
        scheduler,
        config,
        now: () => (lateByMs > 0 ? acceptedAt : clock.now),
        // The timer is planned when it is armed, after the write: now.
        timerClock: () => clock.now,
        newUlid: lateByMs > 0 ? (at: number) => ulid(at) : newUlid,
      };
      if (late.firstWriteFails) {
        const put = store.putNew;
        store.putNew = async () => {
          store.putNew = put;
          throw Object.assign(new Error("write failed"), { name: "InternalServerError" });
        };
        await addTask(deps, input).then(
          () => Promise.reject(new Error("the first attempt was to fail")),
          () => undefined,
        );
        store.putNew = put;
        return (await addTask({ ...deps, now: () => clock.now }, input)).body.task_id;
      }
      return (await addTask(deps, input)).body.task_id;
    },

    /** PATCH /v1/tasks/{id} through the real reschedule service. */
    async reschedule(taskId: string, body: Record<string, unknown>) {
      const deps: RescheduleTaskDeps = { store, timerQueue: timer, scheduler, config, now: () => clock.now };
      return rescheduleTask(deps, taskId, body);
    },

    /** Writes a task as it would be left mid-pipeline (status and times as given). */
    async put(task: TaskRecord) {
      await store.putNew(task);
      return task.taskId;
    },

    /**
     * The relay over every timer message visible now, as the deployed one: failed ones come back after its backoff
     * (`relayRetrySeconds`, each step's longest wait: `SIM_RELAY_RANDOM`), and with `dieBeforeAck` every other one
     * after the visibility timeout (the function died after its sends, before Lambda deleted the batch).
     */
    async runRelay(options: { dieBeforeAck?: boolean } = {}) {
      const visible = timer.receive();
      if (visible.length === 0) return { failedMessageIds: [] as string[] };
      const result = await relayTimerMessages(
        {
          store,
          topicQueue: relayQueue,
          timer,
          topicQueueUrls: { demo: QUEUE_URL },
          logger,
          clock: () => clock.now,
          sleep: async (ms) => {
            clock.now += ms;
          },
          random: SIM_RELAY_RANDOM,
          ...earlyWake,
        },
        visible.map((m) => ({
          messageId: String(m.id),
          body: taskMessageBody(m.taskId),
          receiveCount: m.receives,
          receiptHandle: m.receiptHandle,
        })),
      );
      const failed = new Set(result.failedMessageIds);
      if (options.dieBeforeAck) return result;
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
          {
            Records: [
              fifoRecord(
                { taskId: head.taskId, pk: head.groupId, scheduleId: head.scheduleId },
                { messageId: head.messageId, arn: QUEUE_ARN },
              ),
            ],
          },
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
