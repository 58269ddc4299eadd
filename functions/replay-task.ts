import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { SqsTopicQueue } from "#shared/adapters/topic-queue.js";
import { topicSettingsFromEnvironment } from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { readTopology } from "#shared/contract/topology.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { type ReplayDeps, replayTask } from "#shared/services/replay-task.js";

/** POST /v1/tasks/{id}/replay. Runs once per cold start; a missing variable fails it. */
const env = requireEnv([ENV.environment, ENV.tableName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

export function createHandler(deps: ReplayDeps & { readonly logger: Logger }): HttpHandler {
  const withLogging: ReplayDeps = {
    ...deps,
    onSendError:
      deps.onSendError ??
      ((error, taskId) =>
        deps.logger.warn(
          "sending a replayed task failed; it is as it was again, or else the sweeper re-sends it",
          {
            taskId,
            error,
          },
        )),
  };
  return httpRoute(
    { method: "POST", logger: deps.logger, pathParameters: ["id"], noQuery: false },
    async (request) => ({
      statusCode: 202,
      body: await replayTask(withLogging, request.pathParameter("id"), request.event.queryStringParameters),
    }),
  );
}

export const handler = createHandler({
  store: new DynamoTaskStore({ client: createAwsClient(DynamoDBClient), tableName: env.TABLE_NAME }),
  topicQueue: new SqsTopicQueue(createAwsClient(SQSClient)),
  topicQueues: readTopology("topicQueues"),
  now: Date.now,
  config,
  logger,
  // Read only where a topic's setting decides (a fan-out task's retention, a replayed copy's parent): currentTopics.
  settings: topicSettingsFromEnvironment(config, logger),
});
