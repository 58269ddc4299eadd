import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { CallbackClient } from "#shared/adapters/callback-client.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { DEFAULT_SAFETY_MARGIN_MS, VISIBILITY_WAIT_MS } from "#shared/services/deliver/types.js";
import { deliverDeps, testTopic } from "../../../support/deliver-binding.js";
import { eventOf, fifoRecord, makeTask } from "../../../support/factories.js";
import { HTTP } from "../../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";
import { MemoryTaskStore } from "../../../support/memory-task-store.js";

/**
 * The batch's visibility changes are the last AWS call of a deliver invocation. One whose answer is lost must not
 * hold the invocation to Lambda's timeout: that fails the whole batch, so every record of it — acknowledged ones
 * too — stays in flight for the topic queue's visibility timeout (210 s as deployed) and holds its FIFO group's next
 * messages back as long. Given up after a few seconds, or near the end of the invocation, the batch still answers.
 */
const GIVEN_UP =
  "error the batch's visibility changes did not answer in time; the batch answers without them";

/**
 * A finished task's record (acknowledged, dropped) and a task whose callback fails (its group backs off), in one
 * batch whose visibility change never answers. `remainingAfterCallbackMs`: the invocation's time left once the
 * callback has run.
 */
async function hungBatch(remainingAfterCallbackMs: number) {
  const now = Date.now();
  const store = new MemoryTaskStore();
  const queue = new FakeTopicQueue();
  queue.hangVisibility = true;
  const logger = memoryLogger();
  let remainingMs = 60_000;
  const callbacks: CallbackClient = {
    post: async () => {
      remainingMs = remainingAfterCallbackMs;
      return HTTP(500);
    },
    close: async () => {},
  };
  const deps = deliverDeps({
    store,
    topicQueue: queue,
    metrics: new MemoryMetrics(),
    logger,
    clock: () => now,
    topic: testTopic(),
    callbacks,
    signer: new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]),
  });
  const finished = makeTask({
    group: "done",
    dueAtMs: now - 1_000,
    acceptedAtMs: now - 5_000,
    status: "delivered",
  });
  const failing = makeTask({
    group: "fails",
    dueAtMs: now - 1_000,
    acceptedAtMs: now - 5_000,
    status: "queued",
  });
  await store.putNew(finished);
  await store.putNew(failing);
  const failingRecord = fifoRecord(failing);
  const event = eventOf(fifoRecord(finished), failingRecord);
  const deliver = () => deliverBatch(deps, event, { getRemainingTimeInMillis: () => remainingMs });
  return { queue, logger, failingRecord, deliver };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("deliver: visibility changes that do not answer", () => {
  it("are given up before the invocation ends: the batch answers, acknowledging what it finished", async () => {
    // Prepare: the invocation's time runs short while the callback runs
    const { queue, logger, failingRecord, deliver } = await hungBatch(DEFAULT_SAFETY_MARGIN_MS / 2);

    // Act
    const response = await deliver();

    // Assess: answered, only the failed record returned; its change was asked for, then given up
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: failingRecord.messageId }] });
    expect(queue.visibilityByHandle()).toEqual({ [failingRecord.receiptHandle]: expect.any(Number) });
    expect(queue.visibilityGivenUp).toBe(1);
    expect(logger.entries.map((e) => `${e.level} ${e.message}`)).toContain(GIVEN_UP);
  });

  it(`are given up after ${VISIBILITY_WAIT_MS} ms however much of the invocation is left`, async () => {
    // Prepare: most of the invocation left; timers under the test's control
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { queue, logger, failingRecord, deliver } = await hungBatch(30_000);
    let response: Awaited<ReturnType<typeof deliver>> | undefined;

    // Act
    const answered = deliver().then((r) => {
      response = r;
    });
    await vi.advanceTimersByTimeAsync(VISIBILITY_WAIT_MS);
    await answered;

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: failingRecord.messageId }] });
    expect(queue.visibilityGivenUp).toBe(1);
    expect(logger.entries.map((e) => `${e.level} ${e.message}`)).toContain(GIVEN_UP);
  });
});
