import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { SQSClient } from "@aws-sdk/client-sqs";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import {
  topicSettingsFromEnvironment,
  type WithTopicSettings,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { LambdaTopicSwitch, SqsTopicQueueStats } from "#shared/adapters/topic-switch.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { readTopology } from "#shared/contract/topology.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { getTopic, type TopicReadDeps } from "#shared/services/topics.js";

/** GET /v1/topics/{topic}. Everything below runs once per cold start; a missing variable fails it. */
const env = requireEnv([ENV.environment, ENV.tableName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

export function createHandler(
  deps: TopicReadDeps & WithTopicSettings & { readonly logger: Logger },
): HttpHandler {
  return httpRoute({ method: "GET", logger: deps.logger, pathParameters: ["topic"] }, async (request) => ({
    statusCode: 200,
    body: await getTopic(await withCurrentSettings(deps), request.pathParameter("topic")),
  }));
}

export const handler = createHandler({
  config,
  mappings: readTopology("topicMappings"),
  topicSwitch: new LambdaTopicSwitch(createAwsClient(LambdaClient)),
  queues: new SqsTopicQueueStats(createAwsClient(SQSClient)),
  store: new DynamoTaskStore({ client: createAwsClient(DynamoDBClient), tableName: env.TABLE_NAME }),
  now: Date.now,
  logger,
  settings: topicSettingsFromEnvironment(config, logger),
});
