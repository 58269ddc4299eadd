import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import {
  topicSettingsFromEnvironment,
  type WithTopicSettings,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { type GetTaskDeps, getTask } from "#shared/services/get-task.js";

/** GET /v1/tasks/{id}. Everything below runs once per cold start; a missing variable fails the cold start. */
const env = requireEnv([ENV.environment, ENV.tableName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

/**
 * The topic's current settings per invocation: a fan-out task whose copies are all missing completed and expired
 * (404) or is still to have them written by its keyed retry, by the topic's retention, which the runtime settings
 * may change — read as DELETE, the list and the add read it, or GET answered 404 for a task they still served.
 */
export function createHandler(
  deps: GetTaskDeps & WithTopicSettings & { readonly logger: Logger },
): HttpHandler {
  return httpRoute(
    { method: "GET", logger: deps.logger, pathParameters: ["id"], noQuery: false },
    async (request) => ({
      statusCode: 200,
      body: await getTask(
        await withCurrentSettings(deps),
        request.pathParameter("id"),
        request.event.queryStringParameters,
      ),
    }),
  );
}

export const handler = createHandler({
  store: new DynamoTaskStore({
    client: createAwsClient(DynamoDBClient),
    tableName: env.TABLE_NAME,
  }),
  config,
  now: Date.now,
  logger,
  settings: topicSettingsFromEnvironment(config, logger),
});
