import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { SqsTopicQueue } from "#shared/adapters/topic-queue.js";
import { topicSettingsFromEnvironment } from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { jsonBody } from "#shared/api/middleware/json-body.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { readTopology } from "#shared/contract/topology.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { type ReplayTopicDeps, replayTopic } from "#shared/services/replay-topic.js";

/** POST /v1/topics/{topic}/replay. Runs once per cold start; a missing variable fails it. */
const env = requireEnv([ENV.environment, ENV.tableName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

export function createHandler(deps: ReplayTopicDeps & { readonly logger: Logger }): HttpHandler {
  const withLogging: ReplayTopicDeps = {
    ...deps,
    onSendError:
      deps.onSendError ??
      ((error, taskId) =>
        deps.logger.warn(
          "sending a replayed task failed; it is failed again, or else the sweeper re-sends it",
          { taskId, error },
        )),
  };
  return httpRoute(
    { method: "POST", logger: deps.logger, pathParameters: ["topic"], jsonBody: jsonBody() },
    async (request) => ({
      statusCode: 200,
      body: await replayTopic(
        { ...withLogging, remainingMs: request.remainingMs },
        request.pathParameter("topic"),
        request.body,
      ),
    }),
  );
}

export const handler = createHandler({
  store: new DynamoTaskStore({ client: createAwsClient(DynamoDBClient), tableName: env.TABLE_NAME }),
  topicQueue: new SqsTopicQueue(createAwsClient(SQSClient)),
  topicQueues: readTopology("topicQueues"),
  config,
  now: Date.now,
  logger,
  // Read only where a topic's setting decides (a fan-out task's retention, a replayed copy's parent): currentTopics.
  settings: topicSettingsFromEnvironment(config, logger),
});
