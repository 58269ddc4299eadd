import type { Logger } from "@aws-lambda-powertools/logger";
import type { Request } from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { describe, expect, it, vi } from "vitest";
import { GENERIC_INTERNAL_MESSAGE, notFound, serviceUnavailable } from "#shared/api/errors.js";
import { errorResponder } from "./error-responder.js";

function spyLogger() {
  return { debug: vi.fn(), error: vi.fn() };
}

async function respond(error: unknown, logger = spyLogger()) {
  const request = { event: {}, error, response: undefined } as unknown as Request<
    APIGatewayProxyEventV2,
    APIGatewayProxyStructuredResultV2
  >;
  await errorResponder(logger as unknown as Logger).onError?.(request);
  const response = request.response as APIGatewayProxyStructuredResultV2;
  return { response, body: JSON.parse(response.body ?? ""), logger };
}

describe("errorResponder", () => {
  it("answers an HttpError's own status, body and headers, logging a 4xx at debug only", async () => {
    // Act
    const { response, body, logger } = await respond(notFound());

    // Assess
    expect(response.statusCode).toBe(404);
    expect(response.headers).toMatchObject({
      "content-type": "application/json",
      "cache-control": "no-store",
    });
    expect(body).toEqual({ error: { code: "not_found", message: "no such task" } });
    expect(logger.debug).toHaveBeenCalledOnce();
    expect(logger.error).not.toHaveBeenCalled();
  });

  it("answers anything else as a 500 with the generic message, logging the original error", async () => {
    // Prepare
    const thrown = new Error("table arn:aws:dynamodb:eu-west-1:123456789012:table/tasks is throttled");

    // Act
    const { response, body, logger } = await respond(thrown);

    // Assess
    expect(response.statusCode).toBe(500);
    expect(body).toEqual({ error: { code: "internal_error", message: GENERIC_INTERNAL_MESSAGE } });
    expect(JSON.stringify(body)).not.toContain("arn:");
    expect(logger.error).toHaveBeenCalledWith("request failed: internal_error", thrown);
  });

  it("answers middy's early timeout and an exposed 5xx as a retryable 503 with their own message", async () => {
    // Prepare
    const timeout = Object.assign(new Error("[AbortError]: The operation was aborted."), {
      name: "TimeoutError",
    });

    // Act
    const early = await respond(timeout);
    const exposed = await respond(serviceUnavailable("try later"));

    // Assess
    expect(early.response.statusCode).toBe(503);
    expect(early.response.headers).toMatchObject({ "retry-after": "1" });
    expect(early.body.error.message).toBe("the request timed out; retry it");
    expect(exposed.body.error).toEqual({ code: "service_unavailable", message: "try later" });
  });
});
