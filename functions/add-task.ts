import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SQSClient } from "@aws-sdk/client-sqs";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { EventBridgeTaskScheduler } from "#shared/adapters/task-scheduler.js";
import { SqsTimerQueue } from "#shared/adapters/timer-queue.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { IDEMPOTENCY_HEADER } from "#shared/domain/add-task-request.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger, functionMetricsFactory } from "#shared/runtime/observability.js";
import { publishAccepted } from "#shared/services/accepted-metrics.js";
import { type AddTaskDeps, addTask } from "#shared/services/add-task.js";

/** POST /v1/tasks. Everything below runs once per cold start; a missing variable fails the cold start. */
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

export interface AddTaskHandlerDeps extends AddTaskDeps {
  readonly logger: Logger;
  /** Absent: no `TasksAccepted` metric (tests that do not look at it). */
  readonly createMetrics?: () => Metrics;
}

export function createHandler(deps: AddTaskHandlerDeps): HttpHandler {
  const withLogging: AddTaskDeps = {
    ...deps,
    onError: deps.onError ?? ((message, error, taskId) => deps.logger.error(message, { taskId, error })),
  };
  return httpRoute({ method: "POST", logger: deps.logger, jsonBody: true }, async (request) => {
    const result = await addTask(withLogging, {
      body: request.body,
      idempotencyKeyHeader: request.header(IDEMPOTENCY_HEADER),
    });
    if (result.statusCode === 201 && deps.createMetrics)
      publishAccepted(deps.createMetrics, result.body.topic);
    return {
      statusCode: result.statusCode,
      body: result.body,
      headers: { location: `/v1/tasks/${encodeURIComponent(result.body.task_id)}` },
    };
  });
}

export const handler = createHandler({
  store: new DynamoTaskStore({
    client: createAwsClient(DynamoDBClient),
    tableName: env.TABLE_NAME,
  }),
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
  createMetrics: functionMetricsFactory(config, logger),
});
