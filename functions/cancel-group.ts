import type { Logger } from "@aws-lambda-powertools/logger";
import { disarmingDepsFromEnvironment } from "#shared/adapters/arming-wiring.js";
import {
  topicSettingsFromEnvironment,
  type WithTopicSettings,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { type CancelGroupDeps, cancelGroup } from "#shared/services/cancel-group.js";

/** POST /v1/topics/{topic}/groups/{value}/cancel. Runs once per cold start; a missing variable fails it. */
const disarming = disarmingDepsFromEnvironment();
const { config } = disarming;
const logger = createFunctionLogger(config);

export function createHandler(
  deps: CancelGroupDeps & WithTopicSettings & { readonly logger: Logger },
): HttpHandler {
  const withLogging: CancelGroupDeps = {
    ...deps,
    onScheduleDeleteError:
      deps.onScheduleDeleteError ??
      ((error, scheduleName) =>
        deps.logger.warn("deleting a cancelled task's schedule failed", { scheduleName, error })),
  };
  return httpRoute(
    { method: "POST", logger: deps.logger, pathParameters: ["topic", "value"], noQuery: false },
    async (request) => ({
      statusCode: 200,
      body: await cancelGroup(
        // The current topic settings (runtime document applied): each cancelled task's retention, as cancel-task.
        { ...(await withCurrentSettings(withLogging)), remainingMs: request.remainingMs },
        { topic: request.pathParameter("topic"), value: request.pathParameter("value") },
        request.event.queryStringParameters,
      ),
    }),
  );
}

export const handler = createHandler({
  ...disarming,
  logger,
  settings: topicSettingsFromEnvironment(config, logger),
});
