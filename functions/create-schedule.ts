import type { Logger } from "@aws-lambda-powertools/logger";
import { armingDepsWith } from "#shared/adapters/arming-wiring.js";
import { DynamoScheduleStore } from "#shared/adapters/dynamo-task-store.js";
import {
  topicSettingsFromEnvironment,
  type WithTopicSettings,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { jsonBody } from "#shared/api/middleware/json-body.js";
import { IDEMPOTENCY_HEADER } from "#shared/domain/add-task-request.js";
import { createFunctionLogger, functionMetricsFactory } from "#shared/runtime/observability.js";
import {
  createSchedule,
  type ScheduleRouteDeps,
  scheduleMayBeStored,
} from "#shared/services/schedules/manage.js";
import { scheduleLogging } from "#shared/services/schedules/wiring.js";

/** POST /v1/schedules. Everything below runs once per cold start; a missing variable fails the cold start. */
const arming = armingDepsWith(DynamoScheduleStore);
const logger = createFunctionLogger(arming.config);

export function createHandler(
  deps: ScheduleRouteDeps & WithTopicSettings & { readonly logger: Logger },
): HttpHandler {
  // A create has no idempotency key: a timed-out one may have stored its schedule, so not a 503 "retry".
  const options = {
    method: "POST",
    logger: deps.logger,
    jsonBody: jsonBody(),
    // Refused by the service, with a create's own message (list the topic's schedules before repeating).
    idempotencyKey: true,
    timeoutError: scheduleMayBeStored,
  } as const;
  return httpRoute(options, async (request) => {
    const view = await createSchedule(
      await withCurrentSettings(deps),
      request.body,
      request.header(IDEMPOTENCY_HEADER),
    );
    return {
      statusCode: 201,
      body: view,
      headers: { location: `/v1/schedules/${encodeURIComponent(view.schedule_id)}` },
    };
  });
}

export const handler = createHandler({
  ...arming,
  // A skip in the inline pass is counted for the skipped-occurrences alarm, as the materializer counts its own.
  ...scheduleLogging(logger, functionMetricsFactory(arming.config, logger)()),
  logger,
  // Topic settings without a deploy: a schedule's task template is checked against today's allow-list.
  settings: topicSettingsFromEnvironment(arming.config, logger),
});
