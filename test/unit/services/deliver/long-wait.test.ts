import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withPartiql } from "#local/aws/partiql.js";
import type { CallbackResult } from "#shared/adapters/callback-client.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import type { TaskStore } from "#shared/adapters/task-store.js";
import { topicQueueVisibilitySeconds } from "#shared/config/index.js";
import { RETRY_WAIT_MARGIN_MS } from "#shared/domain/retry-wait.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { deadLetterTask } from "#shared/services/dead-letter.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { RECEIPT_CLOCK_MARGIN_SECONDS } from "#shared/services/deliver/visibility.js";
import { deliverDeps, testTopic } from "../../../support/deliver-binding.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "../../../support/dynalite-table.js";
import { eventOf, fifoRecord, makeTask } from "../../../support/factories.js";
import { FakeCallbacks, HTTP } from "../../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";
import { MemoryTaskStore } from "../../../support/memory-task-store.js";

/**
 * A wait longer than what is left of a later receive's 12 hours (docs/RELIABILITY.md, "A later receive's 12
 * hours"): with 120 s callbacks (a 2,190 s queue visibility timeout) a later receive may hide its message at most
 * 43,200 − 2,190 − 60 s, so a `Retry-After` of 42,300 s (the cap's highest value) was cut to that and its message
 * came back, and was attempted, 1,350 s before the wait the receiver asked for. Now the task carries the wait's end
 * (`retryNotBeforeMs`, in its failure write) and a record back before it is hidden again for the rest, its group's
 * followers behind it, without an attempt. On the memory store and on DynamoDB's conditions (dynalite), through
 * each start: the read-free start (a record alone), the batch start (a head and its follower) and the read path
 * (a protected topic).
 */
let dynamo: LocalDynamo;
let tableCount = 0;

beforeAll(async () => {
  dynamo = await startDynalite({ wrap: withPartiql });
});

afterAll(async () => {
  await dynamo?.stop();
});

/** Off a whole second (a protected topic's rate token is refused in a second's last 250 ms, even 5 ms early). */
const T0 = 1_800_000_000_100;
const ASKED_SECONDS = 42_300;
const TOO_MANY = (retryAfter: string): CallbackResult => ({ ...HTTP(429), retryAfter });

type StoreKind = "memory" | "dynalite";
type Path = "alone" | "with its follower" | "on a protected topic";

async function storeOf(kind: StoreKind, clock: () => number): Promise<TaskStore> {
  if (kind === "memory") return new MemoryTaskStore();
  const tableName = `long-wait-${++tableCount}`;
  await createTaskTable(dynamo.client, tableName);
  return new DynamoTaskStore({ client: dynamo.client, tableName, nowSeconds: () => clock() / 1000 });
}

async function setup(kind: StoreKind, path: Path) {
  let now = T0;
  const clock = () => now;
  const store = await storeOf(kind, clock);
  const topic = testTopic({
    callbackTimeoutSeconds: 120,
    retryAfterCapSeconds: ASKED_SECONDS,
    ...(path === "on a protected topic" && { rateLimit: 100 }),
  });
  const callbacks = new FakeCallbacks();
  const queue = new FakeTopicQueue();
  const deps = deliverDeps({
    store,
    topicQueue: queue,
    metrics: new MemoryMetrics(),
    logger: memoryLogger(),
    clock,
    topic,
    callbacks,
    signer: new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]),
  });
  const task = async (dueAtMs: number) => {
    const t = makeTask({ group: "slow", dueAtMs, acceptedAtMs: T0 - 60_000, status: "queued" });
    await store.putNew(t);
    return t;
  };
  const head = await task(T0 - 2_000);
  const tasks = path === "with its follower" ? [head, await task(T0 - 1_000)] : [head];
  let receives = 1;
  /** One receive of the group's messages (a later one: its 12 hours count from before the batch). */
  const receive = async () => {
    receives++;
    const records = tasks.map((t) => fifoRecord(t, { receiveCount: receives }));
    const response = await deliverBatch(deps, eventOf(...records), {
      getRemainingTimeInMillis: () => 900_000,
    });
    const hidden = queue.visibilityByHandle();
    return {
      failed: response.batchItemFailures.length,
      hiddenFor: records.map((r) => hidden[r.receiptHandle]),
    };
  };
  const advance = (ms: number) => {
    now += ms;
  };
  return { store, topic, queue, clock, callbacks, head, tasks, receive, advance };
}

describe.each<StoreKind>(["memory", "dynalite"])("a long retry wait on the %s store", (kind) => {
  it.each<Path>(["alone", "with its follower", "on a protected topic"])(
    "a record back before its Retry-After ends calls nobody and hides again for the rest (%s)",
    async (path) => {
      // Prepare: the receiver asks for 42,300 s; a later receive may hide the message no longer than 40,950 s
      const { store, topic, callbacks, head, tasks, receive, advance } = await setup(kind, path);
      callbacks.answer(head.taskId, TOO_MANY(String(ASKED_SECONDS)));
      const cut = 43_200 - topicQueueVisibilitySeconds(topic) - RECEIPT_CLOCK_MARGIN_SECONDS;
      const first = await receive();
      expect(callbacks.calledFor()).toEqual([head.taskId]);
      expect(cut).toBe(40_950);
      expect(first.hiddenFor).toEqual(tasks.map(() => cut));
      expect((await store.get(head.taskId))?.attempts).toBe(1);

      // Act: SQS hands the group back when the cut visibility ends, 1,350 s before the wait does
      advance(cut * 1000);
      const early = await receive();

      // Assess: no attempt; the head and its follower hide for the rest of the wait, which the receipt allows
      expect(callbacks.calledFor()).toEqual([head.taskId]);
      expect(early).toEqual({ failed: tasks.length, hiddenFor: tasks.map(() => ASKED_SECONDS - cut) });
      expect((await store.get(head.taskId))?.attempts).toBe(1);

      // Act: back when the wait is over
      advance((ASKED_SECONDS - cut) * 1000);
      const due = await receive();

      // Assess: attempted then, and the follower after it, in order
      expect(due.failed).toBe(0);
      expect(callbacks.calledFor()).toEqual([head.taskId, ...tasks.map((t) => t.taskId)]);
      expect((await store.get(head.taskId))?.status).toBe("delivered");
    },
  );

  it("a record back a few ms before its wait ends (the hosts' clocks) is attempted: no receive spent on it", async () => {
    // Prepare: the receiver asks for 42,300 s
    const { callbacks, head, receive, advance } = await setup(kind, "alone");
    callbacks.answer(head.taskId, TOO_MANY(String(ASKED_SECONDS)));
    await receive();

    // Act: back 5 ms before the wait's end (within RETRY_WAIT_MARGIN_MS)
    advance(ASKED_SECONDS * 1000 - 5);
    const back = await receive();

    // Assess
    expect(RETRY_WAIT_MARGIN_MS).toBeGreaterThan(5);
    expect(back.failed).toBe(0);
    expect(callbacks.calledFor()).toEqual([head.taskId, head.taskId]);
  });

  it("a backoff step is held to as a Retry-After is", async () => {
    // Prepare: a plain 500 (no Retry-After): the topic's first step, 10 s
    const { store, callbacks, head, receive, advance } = await setup(kind, "alone");
    callbacks.answer(head.taskId, HTTP(500));
    await receive();

    // Act: a copy back 2 s early (re-sent by hand, or by the sweeper)
    advance(8_000);
    const early = await receive();

    // Assess
    expect(callbacks.calledFor()).toEqual([head.taskId]);
    expect(early).toEqual({ failed: 1, hiddenFor: [2] });
    // The wait's end, written by the failure's own write
    expect((await store.get(head.taskId))?.retryNotBeforeMs).toBe(T0 + 10_000);
  });

  it("a replay is a new life: the wait its dead letter's last failure set does not hold it back", async () => {
    // Prepare: the receiver asks for 42,300 s; the topic's maxAttempts is then lowered to 1 (runtime settings), so
    // the sweeper finishes the task's dead-lettering once idle for its stall window (repair.ts, exhaustedAndIdle)
    const { store, topic, queue, clock, callbacks, head, receive, advance } = await setup(kind, "alone");
    callbacks.answer(head.taskId, TOO_MANY(String(ASKED_SECONDS)));
    await receive();
    advance(20 * 60_000);
    const waiting = await store.get(head.taskId);
    if (!waiting) throw new Error("task missing");
    const target = { dlqUrl: "dlq", retentionDays: topic.retentionDays };
    expect(await deadLetterTask({ topicQueue: queue, store }, target, waiting, "HTTP 429", clock)).toBe(true);

    // Act: an operator replays it at once, and its message is received
    expect((await store.markReplayed(head.taskId, clock())).outcome).toBe("replayed");
    const replayed = await receive();

    // Assess: delivered now, not hidden for the rest of the earlier life's wait
    expect(replayed.failed).toBe(0);
    expect(callbacks.calledFor()).toEqual([head.taskId, head.taskId]);
    expect((await store.get(head.taskId))?.status).toBe("delivered");
  });
});
