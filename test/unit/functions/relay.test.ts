import type { Context } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeTask } from "../../support/factories.js";
import { FakeTimerQueue } from "../../support/fakes/timer-queue.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../support/logger.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";

const QUEUE = "https://sqs.local/000000000000/punctual-local-demo.fifo";

const context = {
  functionName: "punctual-local-relay",
  awsRequestId: "r1",
  invokedFunctionArn: "arn:aws:lambda:eu-west-1:000000000000:function:punctual-local-relay",
  memoryLimitInMB: "256",
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

describe("functions/relay.ts", () => {
  beforeEach(() => {
    vi.resetModules();
    vi.stubEnv("PUNCTUAL_ENV", "local");
    vi.stubEnv("TABLE_NAME", "punctual-test");
    vi.stubEnv("AWS_REGION", "eu-west-1");
    vi.stubEnv("TIMER_QUEUE_URL", "https://sqs.local/000000000000/punctual-local-timer");
    vi.stubEnv("PUNCTUAL_TOPOLOGY", JSON.stringify({ topicQueues: { demo: QUEUE } }));
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "ERROR");
  });
  afterEach(() => vi.unstubAllEnvs());

  it("maps SQS records to the relay and answers with a partial batch response", async () => {
    const { createRelayHandler } = await import("#functions/relay.js");
    const store = new MemoryTaskStore();
    const fifo = new FakeTopicQueue();
    const now = Date.now();
    const task = makeTask({ group: "a", dueAtMs: now - 10, acceptedAtMs: now - 100 });
    await store.putNew(task);
    const ghost = makeTask({ topic: "ghost", group: "a", dueAtMs: now - 10, acceptedAtMs: now - 100 });
    await store.putNew(ghost);
    const timer = new FakeTimerQueue();
    const handler = createRelayHandler({
      store,
      topicQueue: fifo,
      timer,
      topicQueueUrls: { demo: QUEUE },
      logger: memoryLogger(),
      random: () => 1 - Number.EPSILON,
    });
    const record = (messageId: string, taskId: string) => ({
      messageId,
      receiptHandle: `rh-${messageId}`,
      body: JSON.stringify({ v: 1, taskId }),
      attributes: {
        ApproximateReceiveCount: "2",
        SentTimestamp: "0",
        SenderId: "x",
        ApproximateFirstReceiveTimestamp: "0",
      },
      messageAttributes: {},
      md5OfBody: "",
      eventSource: "aws:sqs",
      eventSourceARN: "arn:aws:sqs:eu-west-1:000000000000:punctual-local-timer",
      awsRegion: "eu-west-1",
    });
    const response = await handler(
      { Records: [record("m1", task.taskId), record("m2", ghost.taskId)] },
      context,
    );
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "m2" }] });
    expect(fifo.idsIn(QUEUE)).toEqual([task.taskId]);
    // The failed record's own receipt handle, its wait by its receive count (the second: a 2 s step)
    expect(timer.visibilityChanges).toEqual([{ receiptHandle: "rh-m2", seconds: 2 }]);
  });

  it("fails the cold start on a malformed topology, naming the field", async () => {
    vi.stubEnv("PUNCTUAL_TOPOLOGY", '["nope"]');
    await expect(import("#functions/relay.js")).rejects.toThrow(/invalid PUNCTUAL_TOPOLOGY/);
    vi.resetModules();
    vi.stubEnv("PUNCTUAL_TOPOLOGY", JSON.stringify({ topicQueues: { demo: 42 } }));
    await expect(import("#functions/relay.js")).rejects.toThrow(/PUNCTUAL_TOPOLOGY\.topicQueues\.demo/);
    vi.resetModules();
    vi.stubEnv("PUNCTUAL_TOPOLOGY", JSON.stringify({ deliveries: {} }));
    await expect(import("#functions/relay.js")).rejects.toThrow(
      /PUNCTUAL_TOPOLOGY\.topicQueues lists nothing/,
    );
  });
});
