import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { methodNotAllowed } from "#shared/api/errors.js";

export type HttpMethod = "GET" | "POST" | "PATCH" | "DELETE";

/**
 * The route's one method, else 405 with `Allow` in the structured error body. API Gateway only routes the
 * right method here, so this guards direct invocations and the local cloud; middy has no such middleware.
 */
export function methodGuard(method: HttpMethod): MiddlewareObj<APIGatewayProxyEventV2> {
  return {
    before: async ({ event }) => {
      if (!isMethod(event.requestContext?.http?.method, method)) throw methodNotAllowed([method]);
    },
  };
}

/**
 * Methods compare ASCII-case-insensitively. A plain `toUpperCase()` would also map non-ASCII letters onto ASCII
 * (`"poſt"` and `"poﬆ"` both become `"POST"`), admitting method names no HTTP client can send.
 */
function isMethod(method: unknown, expected: HttpMethod): boolean {
  return typeof method === "string" && /^[A-Za-z]+$/.test(method) && method.toUpperCase() === expected;
}
