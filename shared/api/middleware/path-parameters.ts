import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { notFound } from "#shared/api/errors.js";
import { utf8Escapes } from "./query-encoding.js";

/**
 * Path parameters the route needs: a request without one (or with it empty) is 404, no such resource. So is a path
 * whose %-escapes are not UTF-8 (`/groups/caf%E9/cancel`, a Latin-1 client's `café`): the local API server matches
 * no route with it, and API Gateway documents no reading of it; one that made each such byte U+FFFD would hand the
 * route another value (the group `caf\uFFFD`, cancelled in place of `café`). Read from the raw path.
 */
export function pathParameterGuard(names: readonly string[]): MiddlewareObj<APIGatewayProxyEventV2> {
  return {
    before: async ({ event }) => {
      if (!escapedAsUtf8(event)) throw notFound("no such resource");
      for (const name of names) {
        if (!event.pathParameters?.[name]) throw notFound("no such resource");
      }
    },
  };
}

/**
 * Whether each segment of the raw path that is still %-encoded encodes UTF-8. A segment that is itself a path
 * parameter's value is text already, not escapes: API Gateway's HTTP API hands `rawPath` decoded (the local API
 * server hands it as sent), so a group named `caf%E9` as text (sent `caf%25E9`) arrives there as `caf%E9`, and read
 * as escapes it was a 404 for a group that exists.
 */
function escapedAsUtf8(event: APIGatewayProxyEventV2): boolean {
  const values = new Set(Object.values(event.pathParameters ?? {}));
  return (event.rawPath ?? "").split("/").every((segment) => values.has(segment) || utf8Escapes(segment));
}
