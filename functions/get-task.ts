import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { topicSettingsFromEnvironment } from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { type GetTaskDeps, getTask } from "#shared/services/get-task.js";

/** GET /v1/tasks/{id}. Everything below runs once per cold start; a missing variable fails the cold start. */
const env = requireEnv([ENV.environment, ENV.tableName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

/** `settings`: the runtime topic settings, read for a fan-out task's view only (get-task.ts). */
export function createHandler(deps: GetTaskDeps & { readonly logger: Logger }): HttpHandler {
  return httpRoute(
    { method: "GET", logger: deps.logger, pathParameters: ["id"], noQuery: false },
    async (request) => ({
      statusCode: 200,
      body: await getTask(deps, request.pathParameter("id"), request.event.queryStringParameters),
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
