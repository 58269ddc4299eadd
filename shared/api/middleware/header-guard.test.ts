import type { Request } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { HttpError } from "#shared/api/errors.js";
import { headerGuard } from "./header-guard.js";

function requestWith(headers: Record<string, string>): Request<APIGatewayProxyEventV2> {
  return { event: { headers } } as unknown as Request<APIGatewayProxyEventV2>;
}

describe("headerGuard", () => {
  it("refuses two spellings of one header with different values as a 400 naming the header", async () => {
    // Prepare
    const request = requestWith({ "Idempotency-Key": "a", "idempotency-key": "b" });

    // Act
    const refused = await headerGuard()
      .before?.(request)
      .then(
        () => undefined,
        (error: unknown) => error,
      );

    // Assess
    expect(refused).toBeInstanceOf(HttpError);
    expect((refused as HttpError).toBody()).toEqual({
      error: {
        code: "validation_failed",
        message: "conflicting values for header idempotency-key",
        issues: [{ path: "idempotency-key", message: "given more than once with different values" }],
      },
    });
  });

  it("lets through repeated spellings with one value, and distinct headers", async () => {
    // Prepare
    const request = requestWith({
      "Content-Type": "application/json",
      "content-type": "application/json",
      a: "1",
    });

    // Act
    const passed = headerGuard().before?.(request);

    // Assess
    await expect(passed).resolves.toBeUndefined();
  });
});
