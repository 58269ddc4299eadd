import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { type DestinationDeps, listDestinations } from "#shared/services/destinations.js";

/** GET /v1/destinations?limit=&cursor=&state= (issue 14). Runs once per cold start; a missing variable fails it. */
const env = requireEnv([ENV.environment, ENV.tableName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

export function createHandler(deps: DestinationDeps & { readonly logger: Logger }): HttpHandler {
  return httpRoute({ method: "GET", logger: deps.logger, noQuery: false }, async (request) => ({
    statusCode: 200,
    body: await listDestinations(deps, request.event.queryStringParameters),
  }));
}

export const handler = createHandler({
  store: new DynamoTaskStore({ client: createAwsClient(DynamoDBClient), tableName: env.TABLE_NAME }),
  now: Date.now,
  logger,
});
