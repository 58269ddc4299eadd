import { loadEnvironmentConfig, type TopicConfig } from "#shared/config/index.js";
import type { DeliverBinding } from "#shared/services/deliver/index.js";

/** The `demo` topic's queues as the deliver function's binding names them. */
export const QUEUE_ARN = "arn:aws:sqs:eu-west-1:000000000000:punctual-test-demo.fifo";
export const QUEUE_URL = "https://sqs.local/000000000000/punctual-test-demo.fifo";
export const DLQ_URL = "https://sqs.local/000000000000/punctual-test-demo-dlq.fifo";

/** The local `demo` topic with small, readable delivery settings (3 attempts, 5 s timeout, no jitter). */
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
