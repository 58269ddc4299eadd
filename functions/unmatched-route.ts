import type { Logger } from "@aws-lambda-powertools/logger";
import { type HttpHandler, httpRoute } from "#shared/api/http-route.js";
import { API_ROUTE_KEYS } from "#shared/api/routes.js";
import { unmatchedRouteError } from "#shared/api/unmatched-route.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { ENV, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger } from "#shared/runtime/observability.js";

/**
 * The API's `$default` route: every request no other route took. Without it API Gateway answers
 * `{"message":"Not Found"}` itself; with it, unknown paths get our structured `404 not_found` and known paths
 * with another method `405 method_not_allowed` with an `Allow` header. The route keys come straight from the
 * route table the stack builds its routes from (plain data), so they cannot disagree.
 */
const env = requireEnv([ENV.environment]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);

export function createHandler(deps: {
  readonly routeKeys: readonly string[];
  readonly logger: Logger;
}): HttpHandler {
  return httpRoute({ method: "ANY", logger: deps.logger }, async (request) => {
    const { method, path } = request.event.requestContext.http;
    throw unmatchedRouteError(deps.routeKeys, method, path);
  });
}

export const handler = createHandler({ routeKeys: API_ROUTE_KEYS, logger });
