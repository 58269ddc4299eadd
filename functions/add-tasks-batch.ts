import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SQSClient } from "@aws-sdk/client-sqs";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { EventBridgeTaskScheduler } from "#shared/adapters/task-scheduler.js";
import { SqsTimerQueue } from "#shared/adapters/timer-queue.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { MAX_BATCH_BODY_BYTES } from "#shared/api/schemas/batch.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import type { AddTaskDeps } from "#shared/services/add-task.js";
import { addTasksBatch } from "#shared/services/add-tasks-batch.js";

/** POST /v1/tasks/batch. Everything below runs once per cold start; a missing variable fails the cold start. */
const env = requireEnv([
  ENV.environment,
  ENV.tableName,
  ENV.timerQueueUrl,
  ENV.timerQueueArn,
  ENV.scheduleGroupName,
  ENV.schedulerRoleArn,
  ENV.scheduleDlqArn,
]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

export function createHandler(deps: AddTaskDeps & { readonly logger: Logger }): HttpHandler {
  const withLogging: AddTaskDeps = {
    ...deps,
    onError: deps.onError ?? ((message, error, taskId) => deps.logger.error(message, { taskId, error })),
  };
  return httpRoute(
    { method: "POST", logger: deps.logger, jsonBody: true, maxBodyBytes: MAX_BATCH_BODY_BYTES },
    async (request) => ({ statusCode: 200, body: await addTasksBatch(withLogging, request.body) }),
  );
}

export const handler = createHandler({
  store: new DynamoTaskStore({ client: createAwsClient(DynamoDBClient), tableName: env.TABLE_NAME }),
  timerQueue: new SqsTimerQueue(createAwsClient(SQSClient), env.TIMER_QUEUE_URL),
  scheduler: new EventBridgeTaskScheduler(createAwsClient(SchedulerClient), {
    groupName: env.SCHEDULE_GROUP_NAME,
    targetArn: env.TIMER_QUEUE_ARN,
    roleArn: env.SCHEDULER_ROLE_ARN,
    deadLetterArn: env.SCHEDULE_DLQ_ARN,
    retry: config.timer.scheduleRetry,
  }),
  config,
  now: Date.now,
  logger,
});
