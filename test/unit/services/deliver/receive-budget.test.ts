import { randomBytes } from "node:crypto";
import type { SQSRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { deliverTimeoutSeconds, topicMaxReceiveCount, visibilityTimeoutSeconds } from "#cdk/lib/sizing.js";
import type { TaskStore } from "#shared/adapters/task-store.js";
import type { TopicConfig } from "#shared/config/index.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { DestinationCache, deliverBatch } from "#shared/services/deliver/index.js";
import { deliverDeps, testTopic } from "../../../support/deliver-binding.js";
import { fifoRecord, makeTask, T0 } from "../../../support/factories.js";
import { FakeCallbacks, HTTP } from "../../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";
import { MemoryTaskStore } from "../../../support/memory-task-store.js";

/**
 * SQS counts every receive towards the topic queue's `maxReceiveCount`, whether or not deliver used an attempt on
 * it. A disruption during which deliver fails its records without an attempt — DynamoDB or the signing secret
 * unavailable, a destination whose circuit is open — must not push waiting messages past that backstop: SQS would
 * move them to the topic's DLQ (its alarm pages although nothing failed), and a group's later messages, received
 * fewer times, would stay behind and be delivered before the sweeper re-sends the moved ones.
 */
const SIGNER = new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]);
/** Lambda's FIFO batch: up to 10 messages, a group's first ones in order. */
const BATCH_SIZE = 10;
const HOST = "hooks.example.com";

type Disruption = "dynamodb" | "signing secret" | "receiver down (circuit open)";

/** The store as DynamoDB answers while it is unavailable: every call fails. */
function unavailableWhile(store: MemoryTaskStore, down: () => boolean): TaskStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) =>
        down()
          ? Promise.reject(new Error("ServiceUnavailable: DynamoDB is unavailable"))
          : value.apply(target, args);
    },
  }) as unknown as TaskStore;
}

/**
 * One group of `groupSize` due tasks received as SQS hands a FIFO group to Lambda (its first ten, again when the
 * visibility deliver set runs out) through a disruption lasting `outageMs`. Returns the messages SQS would have
 * moved to the DLQ, the order the receiver got the tasks in, and when the first one arrived after the disruption.
 */
async function throughDisruption(disruption: Disruption, topic: TopicConfig, outageMs: number) {
  let now = T0;
  const upAtMs = T0 + outageMs;
  const down = () => now < upAtMs;
  const memory = new MemoryTaskStore();
  const queue = new FakeTopicQueue();
  const callbacks = new FakeCallbacks();
  const deps = deliverDeps(
    {
      store: disruption === "dynamodb" ? unavailableWhile(memory, down) : memory,
      topicQueue: queue,
      metrics: new MemoryMetrics(),
      logger: memoryLogger(),
      clock: () => now,
      topic,
      callbacks,
      signer: SIGNER,
    },
    {
      groupConcurrency: 10,
      destinationCache: new DestinationCache(),
      ...(disruption === "signing secret" && {
        signer: async () => {
          if (down()) throw new Error("signing secret unavailable");
          return SIGNER;
        },
      }),
    },
  );
  const messages: { taskId: string; pk: string; receives: number }[] = [];
  for (let i = 0; i < 12; i++) {
    const task = makeTask({
      group: "G",
      dueAtMs: T0 - 60_000 + i,
      acceptedAtMs: T0 - 120_000,
      status: "scheduled",
      callbackUrl: `https://${HOST}/hook`,
    });
    await memory.putNew(task);
    messages.push({ taskId: task.taskId, pk: task.pk, receives: 0 });
  }
  const budget = topicMaxReceiveCount(topic);
  const queueVisibilityMs = visibilityTimeoutSeconds(deliverTimeoutSeconds(topic)) * 1000;
  const moved: string[] = [];
  let firstAfterOutageMs: number | undefined;
  while (messages.length > 0 && now < upAtMs + 86_400_000) {
    callbacks.fallback = disruption === "receiver down (circuit open)" && down() ? HTTP(503) : HTTP(204);
    // SQS moves a message instead of handing it out once this receive would pass maxReceiveCount.
    for (const m of messages.slice(0, BATCH_SIZE).filter((m) => m.receives + 1 > budget)) {
      moved.push(m.taskId);
      messages.splice(messages.indexOf(m), 1);
    }
    const batch = messages.slice(0, BATCH_SIZE);
    for (const m of batch) m.receives++;
    const records: SQSRecord[] = batch.map((m) =>
      fifoRecord({ taskId: m.taskId, pk: m.pk }, { messageId: m.taskId, receiveCount: m.receives }),
    );
    queue.visibility.length = 0;
    const delivered = callbacks.requests.length;
    const response = await deliverBatch(
      deps,
      { Records: records },
      { getRemainingTimeInMillis: () => 60_000 },
    );
    if (!down() && callbacks.requests.length > delivered) firstAfterOutageMs ??= now - upAtMs;
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    for (const m of batch) if (!failed.has(m.taskId)) messages.splice(messages.indexOf(m), 1);
    const head = records.find((r) => failed.has(r.messageId));
    const seconds = head && queue.visibilityByHandle()[head.receiptHandle];
    // The next receive: when the group's visibility runs out (the queue's own timeout when none was set).
    now += head ? (seconds === undefined ? queueVisibilityMs : seconds * 1000) + 1_000 : 1_000;
  }
  const delivered = callbacks.requests
    .filter((r) => r.headers["webhook-id"])
    .map((r) => r.headers["webhook-id"]);
  return { moved, delivered: [...new Set(delivered)], firstAfterOutageMs, budget };
}

/** The `system` defaults a topic gets from every environment: 8 attempts, 5 s first step, equal jitter. */
const DEFAULTS = {
  maxAttempts: 8,
  backoff: { initialSeconds: 5, maxSeconds: 900, multiplier: 2, jitter: "equal" },
} as const satisfies Partial<TopicConfig>;

describe("receives that use no attempt and the topic queue's maxReceiveCount backstop", () => {
  it.each<[Disruption, Partial<TopicConfig>, number]>([
    ["dynamodb", DEFAULTS, 8 * 3_600_000],
    ["signing secret", DEFAULTS, 8 * 3_600_000],
    ["dynamodb", { ...DEFAULTS, maxAttempts: 3 }, 8 * 3_600_000],
    ["receiver down (circuit open)", { ...DEFAULTS, circuitFailureThreshold: 1 }, 24 * 3_600_000],
  ])(
    "%s for hours (%o): no message passes the backstop, the group is delivered in order within 15 minutes of the end",
    async (disruption, overrides, outageMs) => {
      // Prepare
      const topic = testTopic(overrides);

      // Act
      const { moved, delivered, firstAfterOutageMs, budget } = await throughDisruption(
        disruption,
        topic,
        outageMs,
      );

      // Assess
      expect(moved, `moved to the DLQ by maxReceiveCount ${budget}`).toEqual([]);
      expect(delivered).toHaveLength(12);
      expect(delivered).toEqual([...delivered].sort());
      expect(firstAfterOutageMs).toBeLessThanOrEqual(15 * 60_000 + 60_000);
    },
  );
});
