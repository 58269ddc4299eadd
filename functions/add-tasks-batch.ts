import type { Logger } from "@aws-lambda-powertools/logger";
import { armingDepsFromEnvironment } from "#shared/adapters/arming-wiring.js";
import {
  topicSettingsFromEnvironment,
  type WithTopicSettings,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { MAX_BATCH_BODY_BYTES } from "#shared/api/schemas/batch.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import type { AddTaskDeps } from "#shared/services/add-task.js";
import { addTasksBatch } from "#shared/services/add-tasks-batch.js";

/** POST /v1/tasks/batch. Everything below runs once per cold start; a missing variable fails the cold start. */
const arming = armingDepsFromEnvironment();
const { config } = arming;
const logger = createFunctionLogger(config);

export function createHandler(
  deps: AddTaskDeps & WithTopicSettings & { readonly logger: Logger },
): HttpHandler {
  const withLogging: AddTaskDeps = {
    ...deps,
    onError: deps.onError ?? ((message, error, taskId) => deps.logger.error(message, { taskId, error })),
  };
  return httpRoute(
    { method: "POST", logger: deps.logger, jsonBody: true, maxBodyBytes: MAX_BATCH_BODY_BYTES },
    async (request) => ({
      statusCode: 200,
      body: await addTasksBatch(await withCurrentSettings(withLogging), request.body),
    }),
  );
}

export const handler = createHandler({
  ...arming,
  logger,
  settings: topicSettingsFromEnvironment(config, logger),
});
