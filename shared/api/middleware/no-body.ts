import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { validationFailed } from "#shared/api/errors.js";

/** Says nothing: empty, whitespace, or an empty JSON object (what some clients send with every POST). */
const SAYS_NOTHING = /^\s*(?:\{\s*\})?\s*$/;

/**
 * For a route that acts and takes no body: a body that says anything is a 400, before the handler acts, as a query
 * parameter is (no-query.ts). Ignored, it would let the route act on more than the caller asked for —
 * `DELETE /v1/tasks/{id}` with `{"subscriber":"audit"}` cancelling every subscriber's copy, `POST …/run` with
 * `{"delay_seconds":90}` running the task now. A base64 body is judged decoded (latin1: any bytes, no throw).
 */
export function noBodyGuard(): MiddlewareObj<APIGatewayProxyEventV2> {
  return {
    before: async ({ event }) => {
      const raw = event.body ?? "";
      const text = event.isBase64Encoded ? Buffer.from(raw, "base64").toString("latin1") : raw;
      if (SAYS_NOTHING.test(text)) return;
      throw validationFailed(
        [{ path: "", message: "this route takes no request body; send none" }],
        "this route takes no request body",
      );
    },
  };
}
