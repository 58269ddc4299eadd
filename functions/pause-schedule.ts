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
import { pauseSchedule, type StopScheduleDeps } from "#shared/services/schedules/manage.js";

/** POST /v1/schedules/{id}/pause. Everything below runs once per cold start; a missing variable fails the cold start. */
const env = requireEnv([ENV.environment, ENV.tableName, ENV.scheduleGroupName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

export function createHandler(deps: StopScheduleDeps & { readonly logger: Logger }): HttpHandler {
  return httpRoute({ method: "POST", logger: deps.logger, pathParameters: ["id"] }, async (request) => ({
    statusCode: 200,
    body: await pauseSchedule(deps, request.pathParameter("id")),
  }));
}

/** Cancelling an occurrence armed by a schedule deletes it: only the group is needed (as cancel-task). */
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
