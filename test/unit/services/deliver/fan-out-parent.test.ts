/**
 * Deliver never starts a fan-out parent (shared/domain/fan-out.ts): only its copies are delivered. The relay,
 * sweeper, replay and recovery never send a parent's id to a topic queue, but a topic message sent by hand (an
 * operator re-driving messages, a bug elsewhere) may name one: it is dropped — no callback, the parent item left
 * exactly as it was, the message consumed (not left to come back forever). Fakes at the store seam
 * (test/support/memory-task-store.ts); the same on dynalite in test/unit/adapters/deliver-fan-out-parent.test.ts.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { TopicConfig } from "#shared/config/index.js";
import { expandFanOut } from "#shared/domain/fan-out.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { OPERATOR_CANCEL } from "#shared/services/cancel-task.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { cancelFanOutCopies } from "#shared/services/fan-out/cancel.js";
import { deliverDeps, testTopic } from "../../../support/deliver-binding.js";
import { eventOf, fifoRecord, makeTask } from "../../../support/factories.js";
import { FakeCallbacks } from "../../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../../support/fakes/metrics.js";
import { FakeScheduler } from "../../../support/fakes/scheduler.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";
import { MemoryTaskStore } from "../../../support/memory-task-store.js";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const DROPPED = "fan-out parent: never delivered itself (its copies are); message dropped";

function setup(topic: TopicConfig = testTopic()) {
  const start = Date.now();
  const store = new MemoryTaskStore();
  const callbacks = new FakeCallbacks();
  const logger = memoryLogger();
  const deps = deliverDeps({
    store,
    topicQueue: new FakeTopicQueue(),
    metrics: new MemoryMetrics(),
    logger,
    clock: () => start,
    topic,
    callbacks,
    signer: new CallbackSigner([SECRET]),
  });
  const context = { getRemainingTimeInMillis: () => 60_000 };
  /** A parent as a fan-out add writes it (due 30 s ago), with its two copies. */
  const parent = async (group?: string): Promise<TaskRecord> => {
    const task = makeTask({ group, dueAtMs: start - 30_000, acceptedAtMs: start - 200_000 });
    const { parent, deliveries } = expandFanOut(task, [
      { id: "billing", url: "https://billing.example.com/hook" },
      { id: "audit", url: "https://audit.example.com/hook" },
    ]);
    await store.putNew(parent, { sweepIndex: false });
    for (const copy of deliveries) await store.putNew(copy, { sweepIndex: false });
    return structuredClone(store.tasks.get(parent.taskId) as TaskRecord);
  };
  const plain = async (group?: string) => {
    const t = makeTask({ group, dueAtMs: start - 30_000, acceptedAtMs: start - 200_000, status: "queued" });
    await store.putNew(t, { sweepIndex: false });
    return t;
  };
  const stored = (t: TaskRecord) => store.tasks.get(t.taskId);
  return { start, store, callbacks, logger, deps, context, parent, plain, stored };
}

describe("deliver: a topic message naming a fan-out parent", () => {
  it("alone (read-free start refused, then the read path) is consumed: no callback, the parent unchanged", async () => {
    // Prepare
    const h = setup();
    const parent = await h.parent("order-1");

    // Act
    const response = await deliverBatch(h.deps, eventOf(fifoRecord(parent)), h.context);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(h.callbacks.requests).toHaveLength(0);
    expect(h.stored(parent)).toEqual(parent);
    expect(h.logger.entries).toContainEqual(
      expect.objectContaining({ level: "warn", message: DROPPED, extra: { taskId: parent.taskId } }),
    );
  });

  it("in a batch started up front is dropped at the batch read; the batch's plain task is delivered", async () => {
    // Prepare: two records of different groups, so both are started up front
    const h = setup();
    const parent = await h.parent("order-1");
    const task = await h.plain("order-2");

    // Act
    const response = await deliverBatch(h.deps, eventOf(fifoRecord(parent), fifoRecord(task)), h.context);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(h.callbacks.requests.map((r) => r.url)).toEqual([task.callbackUrl]);
    expect(h.stored(parent)).toEqual(parent);
    expect(h.stored(task)?.status).toBe("delivered");
    expect(h.logger.entries.filter((e) => e.message === DROPPED)).toHaveLength(1);
  });

  it("on a protected topic (the read path at once) is consumed: no callback, the parent unchanged", async () => {
    const h = setup(testTopic({ maxConcurrencyPerHost: 2 }));
    const parent = await h.parent();

    const response = await deliverBatch(h.deps, eventOf(fifoRecord(parent)), h.context);

    expect(response.batchItemFailures).toEqual([]);
    expect(h.callbacks.requests).toHaveLength(0);
    expect(h.stored(parent)).toEqual(parent);
  });
});

describe("deliver's batch start and a cancelled parent's copies (the start statement has no `fanOut` clause)", () => {
  it.each([
    ["before the batch read: dropped at the read, no start made", "beforeRead"],
    [
      "between the batch read and its start: the start, conditioned on each copy as read, refused; the read path drops them",
      "afterRead",
    ],
  ] as const)("a parent's DELETE %s; no copy called", async (_, when) => {
    // Prepare: both copies' records in one batch (two lanes: both started up front); the parent's DELETE as the
    // cancel route makes it (the parent marked, then each copy cancelled by its own conditional write)
    const h = setup();
    const parent = await h.parent("order-1");
    const copies = (parent.fanOut ?? []).map((l) =>
      structuredClone(h.store.tasks.get(l.taskId) as TaskRecord),
    );
    const cancelParent = async () => {
      const expiresAt = Math.ceil(h.start / 1000) + 3600;
      await h.store.cancel(parent.taskId, h.start, expiresAt);
      const deps = { store: h.store, scheduler: new FakeScheduler() };
      await cancelFanOutCopies(deps, parent, h.start, expiresAt, OPERATOR_CANCEL);
    };
    if (when === "beforeRead") await cancelParent();
    else {
      const readMany = h.store.readMany.bind(h.store);
      h.store.readMany = (async (ids: readonly string[]) => {
        const read = await readMany(ids);
        await cancelParent();
        return read;
      }) as typeof h.store.readMany;
    }

    // Act
    const response = await deliverBatch(h.deps, eventOf(...copies.map((c) => fifoRecord(c))), h.context);

    // Assess: each copy carries its own cancel, which fences the batch's start as it fences the per-record one
    // (neither reads the parent): consumed, never called, no attempt counted
    expect(response.batchItemFailures).toEqual([]);
    expect(h.callbacks.requests).toHaveLength(0);
    expect(h.store.batchCalls.startAttempts).toBe(when === "beforeRead" ? 0 : 1);
    for (const copy of copies) expect(h.stored(copy)).toMatchObject({ status: "cancelled", attempts: 0 });
  });
});

describe("the memory store's startAttempt and a fan-out parent", () => {
  it("refuses a parent with or without maxAttempts and leaves it as it was", async () => {
    const h = setup();
    const parent = await h.parent();

    expect(await h.store.startAttempt(parent.taskId, h.start, 3)).toBeUndefined();
    expect(await h.store.startAttempt(parent.taskId, h.start)).toBeUndefined();
    expect(h.stored(parent)).toEqual(parent);
  });
});
