import type { Logger } from "@aws-lambda-powertools/logger";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { unmatchedRouteError } from "#shared/domain/route-table.js";
import { ENV, parseJsonEnv, requireEnv } from "#shared/runtime/env.js";
import { createFunctionLogger, type HttpHandler, httpRoute } from "#shared/runtime/http.js";

/**
 * The API's `$default` route: every request no other route took. Without it API Gateway answers
 * `{"message":"Not Found"}` itself; with it, unknown paths get our structured `404 not_found` and known paths
 * with another method `405 method_not_allowed` with an `Allow` header. API_ROUTES lists the stack's route keys.
 */
const env = requireEnv([ENV.environment, ENV.apiRoutes]);
const config = loadEnvironmentConfig(env.PUNCTUAL_ENV);
const logger = createFunctionLogger(config);
const routeKeys = parseJsonEnv<string[]>(ENV.apiRoutes, env.API_ROUTES);

export function createHandler(deps: {
  readonly routeKeys: readonly string[];
  readonly logger: Logger;
}): HttpHandler {
  return httpRoute({ method: "ANY", logger: deps.logger }, async (request) => {
    const { method, path } = request.event.requestContext.http;
    throw unmatchedRouteError(deps.routeKeys, method, path);
  });
}

export const handler = createHandler({ routeKeys, logger });
