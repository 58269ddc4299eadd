import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { validationFailed } from "#shared/api/errors.js";
import { echoed } from "#shared/domain/echoed.js";

/**
 * For a route that acts on its resource and takes no query parameters: any parameter is a 400 naming it, before
 * anything is done. Ignoring it would act on the whole resource while the caller meant something narrower — a
 * `DELETE /v1/tasks/{id}?subscriber=audit` (as replay and list take `subscriber`) cancelling every subscriber's
 * copy, a `POST …/pause?group=…` pausing the whole topic, a `POST …/run?delay_seconds=90` running the task now.
 */
export function noQueryGuard(): MiddlewareObj<APIGatewayProxyEventV2> {
  return {
    before: async ({ event }) => {
      // The parsed map and the raw string both: a parameter without a value may be in only one of them.
      const names = new Set([
        ...Object.keys(event.queryStringParameters ?? {}),
        ...new URLSearchParams(event.rawQueryString ?? "").keys(),
      ]);
      if (names.size === 0) return;
      // Named as every refusal names a value the caller sent: cut to its first 64 characters (echoed.ts).
      const issues = [...names].map((name) => ({ path: echoed(name), message: "unknown parameter" }));
      throw validationFailed(issues, "this route takes no query parameters");
    },
  };
}
