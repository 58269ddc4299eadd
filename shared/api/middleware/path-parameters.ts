import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { notFound } from "#shared/api/errors.js";

/** Path parameters the route needs: a request without one (or with it empty) is 404, no such resource. */
export function pathParameterGuard(names: readonly string[]): MiddlewareObj<APIGatewayProxyEventV2> {
  return {
    before: async ({ event }) => {
      for (const name of names) {
        if (!event.pathParameters?.[name]) throw notFound("no such resource");
      }
    },
  };
}
