import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import middy from "@middy/core";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { RecentSendsTopicQueue } from "#shared/adapters/recent-sends.js";
import { SqsTimerQueue } from "#shared/adapters/timer-queue.js";
import { SqsTopicQueue } from "#shared/adapters/topic-queue.js";
import { changeVisibility } from "#shared/adapters/visibility.js";
import { loadEnvironmentConfig, relayGroupConcurrency } from "#shared/config/index.js";
import { readTopology } from "#shared/contract/topology.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger, loggerContext } from "#shared/runtime/observability.js";
import { type RelayDeps, relayTimerMessages } from "#shared/services/relay.js";

/**
 * Timer queue → topic FIFO queues. Everything at module scope runs once per cold start; bad configuration fails
 * the cold start rather than a batch. No metrics middleware: the relay publishes no metrics of its own (its
 * effect shows in the deliver function's lateness), and an empty logMetrics would warn on every invocation.
 */
const env = requireEnv([ENV.environment, ENV.tableName, ENV.timerQueueUrl]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const topicQueueUrls = readTopology("topicQueues");

const logger = createFunctionLogger(config);
for (const topic of Object.keys(config.resolvedTopics)) {
  if (!Object.hasOwn(topicQueueUrls, topic))
    logger.warn("topic has no FIFO queue in the topology", { topic });
}

const sqs = createAwsClient(SQSClient);
const timerQueue = new SqsTimerQueue(sqs, env.TIMER_QUEUE_URL);

export function createRelayHandler(deps: RelayDeps, log: Logger = logger) {
  return middy<SQSEvent, SQSBatchResponse>()
    .use(loggerContext(log))
    .handler(async (event, context) => {
      const { failedMessageIds } = await relayTimerMessages(
        { ...deps, remainingMs: () => context.getRemainingTimeInMillis() },
        event.Records.map((record) => ({
          messageId: record.messageId,
          body: record.body,
          receiveCount: Number(record.attributes?.ApproximateReceiveCount) || 1,
          receiptHandle: record.receiptHandle,
        })),
      );
      return { batchItemFailures: failedMessageIds.map((itemIdentifier) => ({ itemIdentifier })) };
    });
}

export const handler = createRelayHandler({
  store: new DynamoTaskStore({
    client: createAwsClient(DynamoDBClient),
    tableName: env.TABLE_NAME,
  }),
  // Skips re-sends FIFO deduplication would drop anyway (shared/adapters/recent-sends.ts): module scope, so one
  // memory per container.
  topicQueue: new RecentSendsTopicQueue(new SqsTopicQueue(sqs)),
  timer: {
    rearm: async (entries, signal) => ({ failedTaskIds: await timerQueue.armMany(entries, signal) }),
    // Not a method of SqsTimerQueue: every function that arms timers bundles that class whole, and only the relay
    // may change a timer message's visibility.
    retryAfter: (changes, signal) => changeVisibility(sqs, env.TIMER_QUEUE_URL, changes, signal),
  },
  topicQueueUrls,
  logger,
  earlyWakeSeconds: config.eventSources.earlyWakeSeconds,
  groupConcurrency: relayGroupConcurrency(config.eventSources),
});
