import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { EventBridgeTaskScheduler } from "#shared/adapters/task-scheduler.js";
import {
  topicSettingsFromEnvironment,
  type WithTopicSettings,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { type CancelTaskDeps, cancelTask } from "#shared/services/cancel-task.js";

/** DELETE /v1/tasks/{id}. Everything below runs once per cold start; a missing variable fails the cold start. */
const env = requireEnv([ENV.environment, ENV.tableName, ENV.scheduleGroupName]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

export function createHandler(
  deps: CancelTaskDeps & WithTopicSettings & { readonly logger: Logger },
): HttpHandler {
  const withLogging: CancelTaskDeps = {
    ...deps,
    onScheduleDeleteError:
      deps.onScheduleDeleteError ??
      ((error, scheduleName) =>
        deps.logger.warn("deleting a cancelled task's schedule failed", { scheduleName, error })),
  };
  return httpRoute({ method: "DELETE", logger: deps.logger, pathParameters: ["id"] }, async (request) => ({
    statusCode: 200,
    body: await cancelTask(await withCurrentSettings(withLogging), request.pathParameter("id")),
  }));
}

/**
 * Deleting a schedule needs only its group; the create-side settings are unused here, so cancel-task needs no
 * queue or role variables.
 */
export const handler = createHandler({
  store: new DynamoTaskStore({
    client: createAwsClient(DynamoDBClient),
    tableName: env.TABLE_NAME,
  }),
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
  settings: topicSettingsFromEnvironment(config, logger),
});
