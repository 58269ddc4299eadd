import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { EventBridgeTaskScheduler } from "#shared/adapters/task-scheduler.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { type CancelGroupDeps, cancelGroup } from "#shared/services/cancel-group.js";

/** POST /v1/topics/{topic}/groups/{value}/cancel. Runs once per cold start; a missing variable fails it. */
const env = requireEnv([ENV.environment, ENV.tableName, ENV.scheduleGroupName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

export function createHandler(deps: CancelGroupDeps & { readonly logger: Logger }): HttpHandler {
  const withLogging: CancelGroupDeps = {
    ...deps,
    onScheduleDeleteError:
      deps.onScheduleDeleteError ??
      ((error, scheduleName) =>
        deps.logger.warn("deleting a cancelled task's schedule failed", { scheduleName, error })),
  };
  return httpRoute(
    { method: "POST", logger: deps.logger, pathParameters: ["topic", "value"] },
    async (request) => ({
      statusCode: 200,
      body: await cancelGroup(
        withLogging,
        { topic: request.pathParameter("topic"), value: request.pathParameter("value") },
        request.event.queryStringParameters,
      ),
    }),
  );
}

/** Deleting a schedule needs only its group (as in cancel-task). */
export const handler = createHandler({
  store: new DynamoTaskStore({ client: createAwsClient(DynamoDBClient), tableName: env.TABLE_NAME }),
  scheduler: new EventBridgeTaskScheduler(createAwsClient(SchedulerClient), {
    groupName: env.SCHEDULE_GROUP_NAME,
    targetArn: "",
    roleArn: "",
    deadLetterArn: "",
    retry: config.timer.scheduleRetry,
  }),
  config,
  now: Date.now,
  logger,
});
