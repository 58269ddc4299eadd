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
import { type ListTasksDeps, listTasks } from "#shared/services/list-tasks.js";

/** GET /v1/tasks?topic=…&(group=…|status=failed). Runs once per cold start; a missing variable fails it. */
const env = requireEnv([ENV.environment, ENV.tableName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

/** The topic's current settings per invocation: `&subscriber=` names a subscriber the runtime settings may add. */
export function createHandler(
  deps: ListTasksDeps & WithTopicSettings & { readonly logger: Logger },
): HttpHandler {
  return httpRoute({ method: "GET", logger: deps.logger, noQuery: false }, async (request) => ({
    statusCode: 200,
    body: await listTasks(await withCurrentSettings(deps), request.event.queryStringParameters),
  }));
}

export const handler = createHandler({
  store: new DynamoTaskStore({ client: createAwsClient(DynamoDBClient), tableName: env.TABLE_NAME }),
  config,
  now: Date.now,
  logger,
  settings: topicSettingsFromEnvironment(config, logger),
});
