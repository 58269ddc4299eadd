import type { Logger } from "@aws-lambda-powertools/logger";
import { disarmingDepsWith } from "#shared/adapters/arming-wiring.js";
import { DynamoScheduleStore } from "#shared/adapters/dynamo-task-store.js";
import {
  topicSettingsFromEnvironment,
  type WithTopicSettings,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { deleteSchedule, type StopScheduleDeps } from "#shared/services/schedules/stop-routes.js";

/** DELETE /v1/schedules/{id}. Everything below runs once per cold start; a missing variable fails the cold start. */
const disarming = disarmingDepsWith(DynamoScheduleStore);
const { config } = disarming;
const logger = createFunctionLogger(config);

export function createHandler(
  deps: StopScheduleDeps & WithTopicSettings & { readonly logger: Logger },
): HttpHandler {
  return httpRoute({ method: "DELETE", logger: deps.logger, pathParameters: ["id"] }, async (request) => ({
    statusCode: 200,
    body: await deleteSchedule(await withCurrentSettings(deps), request.pathParameter("id")),
  }));
}

export const handler = createHandler({
  ...disarming,
  logger,
  // The occurrences a run has leased are checked as the materializer checks them: with today's topic settings.
  settings: topicSettingsFromEnvironment(config, logger),
});
