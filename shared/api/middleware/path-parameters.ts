import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { notFound } from "#shared/api/errors.js";
import { utf8Escapes } from "./query-encoding.js";

/**
 * Path parameters the route needs: a request without one (or with it empty) is 404, no such resource. So is a path
 * whose %-escapes are not UTF-8 (`/groups/caf%E9/cancel`, a Latin-1 client's `café`): the local API server matches
 * no route with it, and API Gateway documents no reading of it; one that made each such byte U+FFFD would hand the
 * route another value (the group `caf\uFFFD`, cancelled in place of `café`). Read from the raw path, as sent.
 */
export function pathParameterGuard(names: readonly string[]): MiddlewareObj<APIGatewayProxyEventV2> {
  return {
    before: async ({ event }) => {
      if (!utf8Escapes(event.rawPath ?? "")) throw notFound("no such resource");
      for (const name of names) {
        if (!event.pathParameters?.[name]) throw notFound("no such resource");
      }
    },
  };
}
