import type { Context } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { LastGoodTopicSettings, withCurrentSettings } from "#shared/adapters/topic-settings.js";
import { httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { apiEvent } from "../../support/api-event.js";
import { hangs } from "../../support/invocation.js";
import { memoryLogger } from "../../support/logger.js";
import { silentLogger } from "../api/fakes.js";

/** The API functions' timeout (cdk/lib/sizing.ts API_FUNCTION_TIMEOUT_SECONDS): what a cold route has to answer in. */
const API_TIMEOUT_MS = 10_000;

describe("a cold API route whose first settings poll does not answer", () => {
  it("answers with the deployed settings before the route's early 503", { timeout: 20_000 }, async () => {
    // Prepare: the port as topicSettingsFromEnvironment builds it (default waits, polled during init), its poll hung
    const deployed = loadEnvironmentConfig("local");
    const settings = new LastGoodTopicSettings(deployed, hangs, memoryLogger());
    void settings.current();
    const deadline = Date.now() + API_TIMEOUT_MS;
    const context = {
      functionName: "list-topics",
      getRemainingTimeInMillis: () => deadline - Date.now(),
    } as unknown as Context;
    const handler = httpRoute({ method: "GET", logger: silentLogger() }, async () => {
      const { config } = await withCurrentSettings({ config: deployed, settings });
      return { statusCode: 200, body: { topics: Object.keys(config.resolvedTopics) } };
    });

    // Act
    const answer = await handler(apiEvent("GET /v1/topics"), context);

    // Assess: the deployed settings served (h-topics' fix), not the route's "timed out; retry" 503
    expect(answer.statusCode).toBe(200);
  });
});
