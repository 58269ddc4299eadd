import { describe, expect, it } from "vitest";
import {
  loadEnvironmentConfig,
  type PunctualConfig,
  type TopicConfig,
  topicMaxReceiveCount,
  topicQueueVisibilitySeconds,
} from "#shared/config/index.js";
import { applyRuntimeSettings } from "#shared/config/runtime-settings.js";
import { deliverBindings } from "#shared/services/deliver/bindings.js";
import { applyVisibility, RECEIPT_CLOCK_MARGIN_SECONDS } from "#shared/services/deliver/visibility.js";
import { DLQ_URL, QUEUE_ARN, QUEUE_URL } from "../../../support/deliver-binding.js";
import { fifoRecord, makeTask, T0 } from "../../../support/factories.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";

/**
 * A topic's queue keeps the `maxReceiveCount` it was deployed with (20 × the deployed maxAttempts, cdk/lib/sizing.ts);
 * runtime settings may lower `maxAttempts`, which changes no queue. Deliver stretches waits that use no attempt
 * only past half of that backstop: counted from the lowered maxAttempts instead, a topic deployed with 50 (backstop
 * 1,000) and lowered to 5 started doubling its waits after 50 receives instead of 500, so a group held a few
 * minutes by a DynamoDB outage then waited up to 15 minutes, where README promises waits of a few seconds there.
 */
const demoOf = (config: PunctualConfig): TopicConfig => config.resolvedTopics.demo as TopicConfig;

describe("the receive backstop after a runtime change of maxAttempts", () => {
  it("is the deployed queue's: a 2 s retry after 60 receives stays 2 s on a topic deployed with maxAttempts 50", async () => {
    // Prepare: deployed with maxAttempts 50 (backstop 1,000); the runtime document lowers it to 5
    const deployed = loadEnvironmentConfig("local");
    const withFifty = {
      ...deployed,
      resolvedTopics: {
        ...deployed.resolvedTopics,
        demo: {
          ...(deployed.resolvedTopics.demo as (typeof deployed.resolvedTopics)[string]),
          maxAttempts: 50,
        },
      },
    };
    const lowered = applyRuntimeSettings(withFifty, { topics: { demo: { maxAttempts: 5 } } });
    if (!lowered.ok) throw new Error(lowered.problems.join("; "));
    const routes = { [QUEUE_ARN]: { topic: "demo", queueUrl: QUEUE_URL, dlqUrl: DLQ_URL } };
    const bindings = deliverBindings(lowered.config, routes, withFifty);
    const queue = new FakeTopicQueue();
    const record = fifoRecord(makeTask({ dueAtMs: T0, acceptedAtMs: T0 }), { receiveCount: 60 });

    // Act
    await applyVisibility(
      { bindingFor: (arn: string) => bindings.get(arn), topicQueue: queue, logger: memoryLogger() } as never,
      [record],
      { batchItemFailures: [{ itemIdentifier: record.messageId }] },
      () => ({ kind: "retry", seconds: 2 }),
      { batchStartMs: T0, clock: () => T0 },
    );

    // Assess
    expect(bindings.get(QUEUE_ARN)?.topic.maxAttempts).toBe(5);
    expect(bindings.get(QUEUE_ARN)?.maxReceiveCount).toBe(topicMaxReceiveCount(demoOf(withFifty)));
    expect(topicMaxReceiveCount(demoOf(withFifty))).toBe(1_000);
    expect(queue.visibility.flatMap((v) => v.changes.map((c) => c.seconds))).toEqual([2]);
  });
});

describe("the queue's visibility timeout after a runtime change of callbackTimeoutSeconds", () => {
  it("is the deployed queue's: a later receive's 12 hours count from up to that timeout before the batch", async () => {
    // Prepare: deployed with 120 s callbacks (a 365 s deliver timeout, so a 2,190 s visibility timeout); the runtime
    // document lowers them to 5 s, which changes no queue. A message due days ahead, received a second time: Lambda may
    // have retried a throttled invocation with it until its visibility timeout nearly ran out
    // (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html)
    const deployed = loadEnvironmentConfig("local");
    const slow = {
      ...deployed,
      resolvedTopics: {
        ...deployed.resolvedTopics,
        demo: {
          ...(deployed.resolvedTopics.demo as (typeof deployed.resolvedTopics)[string]),
          callbackTimeoutSeconds: 120,
        },
      },
    };
    const lowered = applyRuntimeSettings(slow, { topics: { demo: { callbackTimeoutSeconds: 5 } } });
    if (!lowered.ok) throw new Error(lowered.problems.join("; "));
    const routes = { [QUEUE_ARN]: { topic: "demo", queueUrl: QUEUE_URL, dlqUrl: DLQ_URL } };
    const bindings = deliverBindings(lowered.config, routes, slow);
    const queue = new FakeTopicQueue();
    const record = fifoRecord(makeTask({ dueAtMs: T0 + 3 * 86_400_000, acceptedAtMs: T0 }), {
      receiveCount: 2,
    });

    // Act
    await applyVisibility(
      { bindingFor: (arn: string) => bindings.get(arn), topicQueue: queue, logger: memoryLogger() } as never,
      [record],
      { batchItemFailures: [{ itemIdentifier: record.messageId }] },
      () => ({ kind: "until-due", seconds: 3 * 86_400 }),
      { batchStartMs: T0, clock: () => T0 },
    );

    // Assess: no more than SQS allows had this receive been 2,190 s before the batch
    expect(bindings.get(QUEUE_ARN)?.topic.callbackTimeoutSeconds).toBe(5);
    expect(bindings.get(QUEUE_ARN)?.queueVisibilitySeconds).toBe(topicQueueVisibilitySeconds(demoOf(slow)));
    expect(topicQueueVisibilitySeconds(demoOf(slow))).toBe(2_190);
    expect(queue.visibility.flatMap((v) => v.changes.map((c) => c.seconds))).toEqual([
      43_200 - 2_190 - RECEIPT_CLOCK_MARGIN_SECONDS,
    ]);
  });
});
