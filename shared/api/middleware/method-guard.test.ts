import type { Request } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { HttpError } from "#shared/api/errors.js";
import { methodGuard } from "./method-guard.js";

function requestWith(method: string): Request<APIGatewayProxyEventV2> {
  return { event: { requestContext: { http: { method } } } } as unknown as Request<APIGatewayProxyEventV2>;
}

async function outcomeOf(method: string): Promise<unknown> {
  return methodGuard("POST")
    .before?.(requestWith(method))
    .then(
      () => "passed",
      (error: unknown) => error,
    );
}

describe("methodGuard", () => {
  it("takes the route's method in any ASCII case", async () => {
    // Act
    const outcomes = await Promise.all(["POST", "post", "PoSt"].map(outcomeOf));

    // Assess
    expect(outcomes).toEqual(["passed", "passed", "passed"]);
  });

  it("answers 405 with Allow for another method, or a non-ASCII look-alike of this one", async () => {
    for (const method of ["GET", "DELETE", "poſt", "poﬆ", ""]) {
      // Act
      const refused = await outcomeOf(method);

      // Assess
      expect(refused, method).toBeInstanceOf(HttpError);
      expect((refused as HttpError).status, method).toBe(405);
      expect((refused as HttpError).headers, method).toEqual({ allow: "POST" });
    }
  });
});
