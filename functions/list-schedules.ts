import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import type { TaskStore } from "#shared/adapters/task-store.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig, type PunctualConfig } from "#shared/config/index.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { listSchedules } from "#shared/services/schedules/list.js";

/** GET /v1/schedules?topic=…. Runs once per cold start; a missing variable fails it. */
const env = requireEnv([ENV.environment, ENV.tableName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

export interface ListSchedulesHandlerDeps {
  readonly store: Pick<TaskStore, "listSchedules">;
  readonly config: PunctualConfig;
  readonly now: () => number;
  readonly logger: Logger;
}

export function createHandler(deps: ListSchedulesHandlerDeps): HttpHandler {
  return httpRoute({ method: "GET", logger: deps.logger, noQuery: false }, async (request) => ({
    statusCode: 200,
    body: await listSchedules(deps, request.event.queryStringParameters),
  }));
}

export const handler = createHandler({
  store: new DynamoTaskStore({ client: createAwsClient(DynamoDBClient), tableName: env.TABLE_NAME }),
  config,
  now: Date.now,
  logger,
});
