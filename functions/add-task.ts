import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { armingDepsWith } from "#shared/adapters/arming-wiring.js";
import { DynamoAddStore } from "#shared/adapters/dynamo-task-store.js";
import {
  topicSettingsFromEnvironment,
  type WithTopicSettings,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { jsonBody } from "#shared/api/middleware/json-body.js";
import { IDEMPOTENCY_HEADER } from "#shared/domain/add-task-request.js";
import { createFunctionLogger, functionMetricsFactory } from "#shared/runtime/observability.js";
import { publishAccepted } from "#shared/services/accepted-metrics.js";
import { type AddTaskDeps, addTask } from "#shared/services/add-task.js";

/** POST /v1/tasks. Everything below runs once per cold start; a missing variable fails the cold start. */
const arming = armingDepsWith(DynamoAddStore);
const { config } = arming;
const logger = createFunctionLogger(config);

export interface AddTaskHandlerDeps extends AddTaskDeps, WithTopicSettings {
  readonly logger: Logger;
  /** Absent: no `TasksAccepted` metric (tests that do not look at it). */
  readonly metrics?: Metrics;
}

export function createHandler(deps: AddTaskHandlerDeps): HttpHandler {
  const withLogging: AddTaskDeps = {
    ...deps,
    onError: deps.onError ?? ((message, error, taskId) => deps.logger.error(message, { taskId, error })),
  };
  return httpRoute(
    { method: "POST", logger: deps.logger, jsonBody: jsonBody(), idempotencyKey: true },
    async (request) => {
      const inInvocation = { ...withLogging, settings: deps.settings, timeLeftMs: request.remainingMs };
      const result = await addTask(await withCurrentSettings(inInvocation), {
        body: request.body,
        idempotencyKeyHeader: request.header(IDEMPOTENCY_HEADER),
      });
      if (result.statusCode === 201 && deps.metrics) publishAccepted(deps.metrics, result.body.topic);
      return {
        statusCode: result.statusCode,
        body: result.body,
        headers: { location: `/v1/tasks/${encodeURIComponent(result.body.task_id)}` },
      };
    },
  );
}

export const handler = createHandler({
  ...arming,
  logger,
  settings: topicSettingsFromEnvironment(config, logger),
  metrics: functionMetricsFactory(config, logger)(),
});
