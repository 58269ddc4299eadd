import type { CallbackClient } from "#shared/adapters/callback-client.js";
import { loadEnvironmentConfig, type TopicConfig } from "#shared/config/index.js";
import type { CallbackSigner } from "#shared/security/signing.js";
import type { DeliverBinding, DeliverDeps } from "#shared/services/deliver/index.js";

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

/**
 * The deliver function's dependencies as every deliver spec wires them: one topic behind QUEUE_ARN, one callback
 * client and signer for it, a fixed `random` (no jitter draws); the spec brings its own fakes, clock and extras.
 */
export function deliverDeps(
  parts: Pick<DeliverDeps, "store" | "topicQueue" | "metrics" | "logger" | "clock"> & {
    readonly topic: TopicConfig;
    readonly callbacks: CallbackClient;
    readonly signer: CallbackSigner;
  },
  extra: Partial<DeliverDeps> = {},
): DeliverDeps {
  const { topic, callbacks, signer, ...rest } = parts;
  return {
    ...rest,
    bindingFor: (arn) => (arn === QUEUE_ARN ? binding(topic) : undefined),
    callbackClientFor: () => callbacks,
    signer: async () => signer,
    random: () => 0.5,
    ...extra,
  };
}
