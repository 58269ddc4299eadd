import type { Logger } from "@aws-lambda-powertools/logger";
import { disarmingDepsFromEnvironment } from "#shared/adapters/arming-wiring.js";
import {
  topicSettingsFromEnvironment,
  type WithTopicSettings,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { type CancelTaskDeps, cancelTask } from "#shared/services/cancel-task.js";

/** DELETE /v1/tasks/{id}. Everything below runs once per cold start; a missing variable fails the cold start. */
const disarming = disarmingDepsFromEnvironment();
const { config } = disarming;
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
  return httpRoute({ method: "DELETE", logger: deps.logger, pathParameters: ["id"] }, async (request) => {
    const view = await cancelTask(await withCurrentSettings(withLogging), request.pathParameter("id"));
    // 202: the cancel is recorded on a callback in flight (a fan-out task: a copy's), which ends the task after it.
    return { statusCode: view.cancel_requested ? 202 : 200, body: view };
  });
}

export const handler = createHandler({
  ...disarming,
  logger,
  settings: topicSettingsFromEnvironment(config, logger),
});
