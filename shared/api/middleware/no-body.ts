import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { validationFailed } from "#shared/api/errors.js";
import { NO_BODY_ISSUE, NO_BODY_MESSAGE, saysNothing } from "#shared/api/says-nothing.js";

/**
 * For a route that acts and takes no body: a body that says anything is a 400, before the handler acts, as a query
 * parameter is (no-query.ts). Ignored, it would let the route act on more than the caller asked for —
 * `DELETE /v1/tasks/{id}` with `{"subscriber":"audit"}` cancelling every subscriber's copy, `POST …/run` with
 * `{"delay_seconds":90}` running the task now. A base64 body is judged as the UTF-8 text it encodes, so a text says
 * the same sent raw or encoded (bytes that are not UTF-8 decode to U+FFFD, which says something; no throw).
 */
export function noBodyGuard(): MiddlewareObj<APIGatewayProxyEventV2> {
  return {
    before: async ({ event }) => {
      const raw = event.body ?? "";
      const text = event.isBase64Encoded ? Buffer.from(raw, "base64").toString("utf8") : raw;
      if (saysNothing(text)) return;
      throw validationFailed([NO_BODY_ISSUE], NO_BODY_MESSAGE);
    },
  };
}
