import { randomBytes } from "node:crypto";
import type { Context } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { binding, DLQ_URL, QUEUE_ARN, QUEUE_URL } from "../../support/deliver-binding.js";
import { eventOf, fifoRecord, makeTask } from "../../support/factories.js";
import { FakeCallbacks, HTTP } from "../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../support/logger.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

function lambdaContext(remainingMs = 30_000): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: "punctual-test-deliver-demo",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:eu-west-1:000000000000:function:punctual-test-deliver-demo",
    memoryLimitInMB: "256",
    awsRequestId: "req-1",
    logGroupName: "/aws/lambda/x",
    logStreamName: "s",
    getRemainingTimeInMillis: () => remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

describe("functions/deliver.ts", () => {
  beforeEach(() => {
    vi.resetModules();
    vi.stubEnv("PUNCTUAL_ENV", "local");
    vi.stubEnv("TABLE_NAME", "punctual-test");
    vi.stubEnv("AWS_REGION", "eu-west-1");
    vi.stubEnv(
      "PUNCTUAL_TOPOLOGY",
      JSON.stringify({
        deliveries: { [QUEUE_ARN]: { topic: "demo", queueUrl: QUEUE_URL, dlqUrl: DLQ_URL } },
      }),
    );
    vi.stubEnv("PUNCTUAL_SIGNING_SECRET", SECRET);
    vi.stubEnv("SIGNING_SECRET_ARN", "");
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "ERROR");
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it.each([1, 10])(
    "wires middy, the group runner (groupConcurrency %i) and the metrics: partial batch response + one EMF line with Topic",
    async (groupConcurrency) => {
      const stdout = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
      const { createDeliverHandler } = await import("#functions/deliver.js");
      const store = new MemoryTaskStore();
      const callbacks = new FakeCallbacks();
      const now = Date.now();
      const ok = makeTask({ group: "a", dueAtMs: now - 10, acceptedAtMs: now - 100, status: "queued" });
      const bad = makeTask({ group: "b", dueAtMs: now - 10, acceptedAtMs: now - 100, status: "queued" });
      await store.putNew(ok);
      await store.putNew(bad);
      callbacks.answer(bad.taskId, HTTP(500));
      const { CallbackSigner } = await import("#shared/security/signing.js");
      const { PowertoolsDeliveryMetrics } = await import("#shared/services/deliver/index.js");
      const { Metrics } = await import("@aws-lambda-powertools/metrics");
      const createMetrics = () => new Metrics({ namespace: "Punctual", serviceName: "punctual-local" });
      const handler = createDeliverHandler(
        {
          store,
          topicQueue: new FakeTopicQueue(),
          bindingFor: (arn) => (arn === QUEUE_ARN ? binding() : undefined),
          callbackClientFor: () => callbacks,
          signer: async () => new CallbackSigner([SECRET]),
          metrics: new PowertoolsDeliveryMetrics(createMetrics),
          logger: memoryLogger(),
          groupConcurrency,
        },
        undefined,
      );
      const okRecord = fifoRecord(ok);
      const badRecord = fifoRecord(bad);

      const response = await handler(eventOf(okRecord, badRecord), lambdaContext());

      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: badRecord.messageId }] });
      const emf = stdout.mock.calls
        .map(([chunk]) => String(chunk))
        .filter((line) => line.includes('"CloudWatchMetrics"'))
        .map((line) => JSON.parse(line));
      expect(emf).toHaveLength(1);
      expect(emf[0]).toMatchObject({ Topic: "demo", TasksDelivered: 1, DeliveryAttemptsFailed: 1 });
    },
  );

  it("delivers each batch with the topic settings its port answers at that moment (max attempts changed at runtime)", async () => {
    // Prepare: the port says demo allows one attempt (the deployed local config says 3).
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const { createDeliverHandler } = await import("#functions/deliver.js");
    const { loadEnvironmentConfig } = await import("#shared/config/index.js");
    const { applyRuntimeSettings } = await import("#shared/config/runtime-settings.js");
    const { StaticTopicSettings } = await import("#shared/adapters/topic-settings.js");
    const applied = applyRuntimeSettings(loadEnvironmentConfig("local"), {
      topics: { demo: { maxAttempts: 1 } },
    });
    if (!applied.ok) throw new Error(applied.problems.join("; "));
    const store = new MemoryTaskStore();
    const callbacks = new FakeCallbacks();
    const topicQueue = new FakeTopicQueue();
    const now = Date.now();
    const bad = makeTask({ group: "b", dueAtMs: now - 10, acceptedAtMs: now - 100, status: "queued" });
    await store.putNew(bad);
    callbacks.answer(bad.taskId, HTTP(500));
    const { CallbackSigner } = await import("#shared/security/signing.js");
    const handler = createDeliverHandler(
      {
        store,
        topicQueue,
        bindingFor: () => undefined,
        callbackClientFor: () => callbacks,
        signer: async () => new CallbackSigner([SECRET]),
        metrics: new MemoryMetrics(),
        logger: memoryLogger(),
        groupConcurrency: 1,
      },
      undefined,
      new StaticTopicSettings(applied.config),
    );

    // Act
    const response = await handler(eventOf(fifoRecord(bad)), lambdaContext());

    // Assess: one failed attempt used up the topic's attempts, so the task is dead-lettered, not retried.
    expect(response).toEqual({ batchItemFailures: [] });
    expect((await store.get(bad.taskId))?.status).toBe("failed");
  });

  it("fails the cold start without a signing secret or with a topology naming an unknown topic", async () => {
    vi.stubEnv("PUNCTUAL_SIGNING_SECRET", "");
    await expect(import("#functions/deliver.js")).rejects.toThrow(
      /PUNCTUAL_SIGNING_SECRET, SIGNING_SECRET_ARN/,
    );
    vi.resetModules();
    vi.stubEnv("PUNCTUAL_SIGNING_SECRET", SECRET);
    vi.stubEnv(
      "PUNCTUAL_TOPOLOGY",
      JSON.stringify({
        deliveries: { [QUEUE_ARN]: { topic: "nope", queueUrl: QUEUE_URL, dlqUrl: DLQ_URL } },
      }),
    );
    await expect(import("#functions/deliver.js")).rejects.toThrow(/unknown topic "nope"/);
  });
});
