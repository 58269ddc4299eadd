import type { Logger } from "@aws-lambda-powertools/logger";
import { armingDepsFromEnvironment } from "#shared/adapters/arming-wiring.js";
import {
  topicSettingsFromEnvironment,
  type WithTopicSettings,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { jsonBody } from "#shared/api/middleware/json-body.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { type RescheduleTaskDeps, rescheduleTask } from "#shared/services/reschedule-task.js";

/** PATCH /v1/tasks/{id}. Everything below runs once per cold start; a missing variable fails the cold start. */
const arming = armingDepsFromEnvironment();
const { config } = arming;
const logger = createFunctionLogger(config);

export function createHandler(
  deps: RescheduleTaskDeps & WithTopicSettings & { readonly logger: Logger },
): HttpHandler {
  const withLogging: RescheduleTaskDeps = {
    ...deps,
    onError: deps.onError ?? ((message, error, taskId) => deps.logger.warn(message, { taskId, error })),
  };
  return httpRoute(
    { method: "PATCH", logger: deps.logger, pathParameters: ["id"], jsonBody: jsonBody() },
    async (request) => ({
      statusCode: 200,
      body: await rescheduleTask(
        await withCurrentSettings(withLogging),
        request.pathParameter("id"),
        request.body,
      ),
    }),
  );
}

export const handler = createHandler({
  ...arming,
  logger,
  settings: topicSettingsFromEnvironment(config, logger),
});
