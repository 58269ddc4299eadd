import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { validationFailed } from "#shared/api/errors.js";

/**
 * For a route that acts and keeps no idempotency key (all but the adds, which read the header themselves): an
 * `Idempotency-Key` header is a 400 naming it, before anything is done. Ignored, it would make the caller believe the
 * call keyed and repeat it after a lost answer: a replay repeated so delivers the task a second time, a bulk
 * replay takes the tasks that failed again meanwhile. Reads are not guarded: repeating one changes nothing.
 * Runs after the header normaliser (it reads the name in lower case); a present but empty header counts too.
 */
export function noIdempotencyKeyGuard(): MiddlewareObj<APIGatewayProxyEventV2> {
  return {
    before: async ({ event }) => {
      // Kept short: every route's bundle carries it, and the schedule functions are at their size budget.
      if (event.headers?.["idempotency-key"] !== undefined)
        throw validationFailed([{ path: "Idempotency-Key", message: "this route keeps no key: send none" }]);
    },
  };
}
