import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { type DestinationResetDeps, resetDestination } from "#shared/services/destinations.js";

/** POST /v1/destinations/{host}/reset (issue 14). Runs once per cold start; a missing variable fails it. */
const env = requireEnv([ENV.environment, ENV.tableName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

export function createHandler(deps: DestinationResetDeps & { readonly logger: Logger }): HttpHandler {
  return httpRoute(
    { method: "POST", logger: deps.logger, pathParameters: ["host"], noQuery: false },
    async (request) => {
      const answer = await resetDestination(
        deps,
        request.pathParameter("host"),
        request.event.queryStringParameters ?? {},
      );
      deps.logger.info("circuit reset by hand", {
        host: answer.host,
        topics: answer.destinations.map((d) => d.topic),
      });
      return { statusCode: 200, body: answer };
    },
  );
}

export const handler = createHandler({
  store: new DynamoTaskStore({ client: createAwsClient(DynamoDBClient), tableName: env.TABLE_NAME }),
  config,
  now: Date.now,
  logger,
});
