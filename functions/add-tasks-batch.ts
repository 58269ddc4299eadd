import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import { armingDepsWith } from "#shared/adapters/arming-wiring.js";
import { DynamoBatchAddStore } from "#shared/adapters/dynamo-task-store.js";
import {
  topicSettingsFromEnvironment,
  type WithTopicSettings,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { jsonBody } from "#shared/api/middleware/json-body.js";
import { MAX_BATCH_BODY_BYTES } from "#shared/api/schemas/batch-request.js";
import { IDEMPOTENCY_HEADER } from "#shared/domain/add-task-request.js";
import { createFunctionLogger, functionMetricsFactory } from "#shared/runtime/observability.js";
import { publishBatchAccepted } from "#shared/services/accepted-metrics.js";
import { addTasksBatch } from "#shared/services/add-tasks-batch.js";
import type { BatchedAddDeps } from "#shared/services/add-tasks-batched.js";

/** POST /v1/tasks/batch. Everything below runs once per cold start; a missing variable fails the cold start. */
const arming = armingDepsWith(DynamoBatchAddStore);
const { config } = arming;
const logger = createFunctionLogger(config);

export function createHandler(
  deps: BatchedAddDeps &
    WithTopicSettings & {
      readonly logger: Logger;
      /** Absent: no `TasksAccepted` metric (tests that do not look at it). */
      readonly metrics?: Metrics;
    },
): HttpHandler {
  const withLogging: BatchedAddDeps = {
    ...deps,
    onError: deps.onError ?? ((message, error, taskId) => deps.logger.error(message, { taskId, error })),
  };
  return httpRoute(
    {
      method: "POST",
      logger: deps.logger,
      jsonBody: jsonBody({ maxBytes: MAX_BATCH_BODY_BYTES }),
      // Refused by the service, with a batch's own message (give each item its key).
      idempotencyKey: true,
    },
    async (request) => {
      const body = await addTasksBatch(
        await withCurrentSettings({ ...withLogging, timeLeftMs: request.remainingMs }),
        request.body,
        request.header(IDEMPOTENCY_HEADER),
      );
      if (deps.metrics) publishBatchAccepted(deps.metrics, body.results);
      return { statusCode: 200, body };
    },
  );
}

export const handler = createHandler({
  ...arming,
  logger,
  metrics: functionMetricsFactory(config, logger)(),
  settings: topicSettingsFromEnvironment(config, logger),
});
