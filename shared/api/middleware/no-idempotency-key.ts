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
      if (event.headers?.["idempotency-key"] === undefined) return;
      throw validationFailed(
        [
          {
            path: "Idempotency-Key",
            message:
              "this route takes no Idempotency-Key header (no key is kept for it): send it without; only adds (POST /v1/tasks, a batch item's idempotency_key) are keyed",
          },
        ],
        "this route takes no Idempotency-Key header",
      );
    },
  };
}
