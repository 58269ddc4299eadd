import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import type { TaskStore } from "#shared/adapters/task-store.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { getSchedule } from "#shared/services/schedules/read.js";

/** GET /v1/schedules/{id}. Runs once per cold start; a missing variable fails it. */
const env = requireEnv([ENV.environment, ENV.tableName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

export interface GetScheduleHandlerDeps {
  readonly store: Pick<TaskStore, "getSchedule">;
  readonly now: () => number;
  readonly logger: Logger;
}

export function createHandler(deps: GetScheduleHandlerDeps): HttpHandler {
  return httpRoute({ method: "GET", logger: deps.logger, pathParameters: ["id"] }, async (request) => ({
    statusCode: 200,
    body: await getSchedule(deps, request.pathParameter("id")),
  }));
}

export const handler = createHandler({
  store: new DynamoTaskStore({ client: createAwsClient(DynamoDBClient), tableName: env.TABLE_NAME }),
  now: Date.now,
  logger,
});
