import type { Logger } from "@aws-lambda-powertools/logger";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";
// The committed document (a spec proves it is generated from the current schemas): bundled as data, so the
// function carries no zod schemas and no generator.
import document from "../docs/openapi.json" with { type: "json" };

/** GET /v1/openapi.json: the API's OpenAPI 3.1 document. */
const env = requireEnv([ENV.environment]);
const logger = createFunctionLogger(loadEnvironmentConfig(env.PUNCTUAL_ENV));

export function createHandler(deps: { readonly logger: Logger }): HttpHandler {
  return httpRoute({ method: "GET", logger: deps.logger }, async () => ({ statusCode: 200, body: document }));
}

export const handler = createHandler({ logger });
