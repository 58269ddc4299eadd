import type { Logger } from "@aws-lambda-powertools/logger";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import {
  settingsPropagationSeconds,
  topicSettingsFromEnvironment,
  type WithTopicSettings,
  withCurrentSettings,
} from "#shared/adapters/topic-settings.js";
import { LambdaTopicSwitch } from "#shared/adapters/topic-switch.js";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { readTopology } from "#shared/contract/topology.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
import { setTopicPaused, type TopicDeps } from "#shared/services/topics.js";

/** POST /v1/topics/{topic}/resume. Everything below runs once per cold start; a missing variable fails it. */
const env = requireEnv([ENV.environment]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

export function createHandler(
  deps: TopicDeps & WithTopicSettings & { readonly logger: Logger },
): HttpHandler {
  return httpRoute({ method: "POST", logger: deps.logger, pathParameters: ["topic"] }, async (request) => {
    const answer = await setTopicPaused(
      await withCurrentSettings(deps),
      request.pathParameter("topic"),
      false,
    );
    deps.logger.info("topic resumed", { topic: answer.topic });
    return { statusCode: 200, body: answer };
  });
}

export const handler = createHandler({
  config,
  mappings: readTopology("topicMappings"),
  topicSwitch: new LambdaTopicSwitch(createAwsClient(LambdaClient)),
  logger,
  // A resume reads the runtime settings: while they say `paused: true` it is a 409, not a resume the sweep undoes.
  settings: topicSettingsFromEnvironment(config, logger),
  settingsPropagationSeconds: settingsPropagationSeconds(config),
});
