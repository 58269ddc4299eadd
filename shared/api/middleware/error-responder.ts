import type { Logger } from "@aws-lambda-powertools/logger";
import type { MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { type HttpError, serviceUnavailable, toHttpError } from "#shared/api/errors.js";
import { jsonResponse } from "../json-response.js";

/**
 * Every error becomes the structured body. HttpErrors carry their own status and safe message (`expose`);
 * anything else is a 500 with a generic message, logged in full here (with the stack) and never sent to the
 * client. Register it first: middy runs `onError` in reverse, so it has the last word on every error.
 *
 * Why not @middy/http-error-handler: it answers the error's message as the body (or a fixed fallback), while
 * the API's contract is one JSON error shape with a `code`, clipped `issues`, extra details and headers such as
 * `Allow` or `Retry-After`, and a generic message for anything unexpected.
 */
export function errorResponder(
  logger: Logger,
): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  return {
    onError: async (request) => {
      const thrown = request.error;
      const error = asHttpError(thrown);
      logRefusal(logger, error, thrown);
      request.response = jsonResponse(error.status, error.toBody(), error.headers);
    },
  };
}

/** middy's early-timeout error is a retryable 503 whose message we wrote; anything else via toHttpError. */
function asHttpError(thrown: unknown): HttpError {
  return thrown instanceof Error && thrown.name === "TimeoutError"
    ? serviceUnavailable("the request timed out; retry it", thrown)
    : toHttpError(thrown);
}

/** A 5xx is our fault: logged as an error with its cause. A 4xx is the caller's: a debug line. */
function logRefusal(logger: Logger, error: HttpError, thrown: unknown): void {
  if (error.status < 500) {
    logger.debug(`request refused: ${error.code}`, { status: error.status, message: error.message });
    return;
  }
  const detail = error === thrown ? (error.cause ?? error) : thrown;
  if (detail instanceof Error) logger.error(`request failed: ${error.code}`, detail);
  else logger.error(`request failed: ${error.code}`, { error: String(detail) });
}
