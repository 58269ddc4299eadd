import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { validationFailed } from "#shared/api/errors.js";
import { echoed } from "#shared/domain/echoed.js";

/**
 * Two spellings of one header name (`Idempotency-Key` and `idempotency-key`) with different values: the
 * header normaliser (@middy/http-header-normalizer, registered right after this) would silently keep whichever
 * came last, so the request is refused as ambiguous instead. (API Gateway itself joins repeated headers with
 * commas, which the individual checks refuse where it matters.) middy has no middleware for this.
 */
export function headerGuard(): MiddlewareObj<APIGatewayProxyEventV2> {
  return {
    before: async ({ event }) => {
      const seen = new Map<string, string | undefined>();
      for (const [name, value] of Object.entries(event.headers ?? {})) {
        const key = name.toLowerCase();
        if (seen.has(key) && seen.get(key) !== value) {
          throw validationFailed(
            [{ path: echoed(key), message: "given more than once with different values" }],
            `conflicting values for header ${echoed(key)}`,
          );
        }
        seen.set(key, value);
      }
    },
  };
}
