import type { Request } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { HttpError } from "#shared/api/errors.js";
import { noIdempotencyKeyGuard } from "./no-idempotency-key.js";

function requestWith(headers: Record<string, string> | undefined): Request<APIGatewayProxyEventV2> {
  return { event: { headers } } as unknown as Request<APIGatewayProxyEventV2>;
}

describe("noIdempotencyKeyGuard", () => {
  it("answers 400 at Idempotency-Key for any value, an empty one too", async () => {
    for (const value of ["k-1", "", "a,b"]) {
      // Act
      const refused = await noIdempotencyKeyGuard()
        .before?.(requestWith({ "idempotency-key": value }))
        .then(
          () => undefined,
          (error: unknown) => error,
        );

      // Assess
      expect(refused, value).toBeInstanceOf(HttpError);
      expect((refused as HttpError).toBody().error, value).toMatchObject({
        code: "validation_failed",
        issues: [{ path: "Idempotency-Key" }],
      });
    }
  });

  it("lets a request without the header through", async () => {
    // Act
    const passed = [requestWith(undefined), requestWith({ accept: "application/json" })].map((r) =>
      noIdempotencyKeyGuard().before?.(r),
    );

    // Assess
    await expect(Promise.all(passed)).resolves.toEqual([undefined, undefined]);
  });
});
