import type { Logger } from "@aws-lambda-powertools/logger";
import { armingDepsWith } from "#shared/adapters/arming-wiring.js";
import { DynamoScheduleStore } from "#shared/adapters/dynamo-task-store.js";
import {
  topicSettingsFromEnvironment,
  type WithTopicSettings,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { createFunctionLogger, functionMetricsFactory } from "#shared/runtime/observability.js";
import { resumeSchedule, type ScheduleRouteDeps } from "#shared/services/schedules/manage.js";
import { scheduleLogging } from "#shared/services/schedules/wiring.js";

/** POST /v1/schedules/{id}/resume. Everything below runs once per cold start; a missing variable fails the cold start. */
const arming = armingDepsWith(DynamoScheduleStore);
const logger = createFunctionLogger(arming.config);

export function createHandler(
  deps: ScheduleRouteDeps & WithTopicSettings & { readonly logger: Logger },
): HttpHandler {
  return httpRoute({ method: "POST", logger: deps.logger, pathParameters: ["id"] }, async (request) => ({
    statusCode: 200,
    body: await resumeSchedule(await withCurrentSettings(deps), request.pathParameter("id")),
  }));
}

export const handler = createHandler({
  ...arming,
  // A skip in the inline pass is counted for the skipped-occurrences alarm, as the materializer counts its own.
  ...scheduleLogging(logger, functionMetricsFactory(arming.config, logger)()),
  logger,
  // Topic settings without a deploy: a schedule's task template is checked against today's allow-list.
  settings: topicSettingsFromEnvironment(arming.config, logger),
});
