import type { Request } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { HttpError } from "#shared/api/errors.js";
import { pathParameterGuard } from "./path-parameters.js";

function requestWith(pathParameters: Record<string, string> | undefined): Request<APIGatewayProxyEventV2> {
  return { event: { pathParameters } } as unknown as Request<APIGatewayProxyEventV2>;
}

describe("pathParameterGuard", () => {
  it("answers 404 when a needed parameter is absent or empty", async () => {
    const cases: (Record<string, string> | undefined)[] = [undefined, {}, { id: "" }, { other: "x" }];
    for (const parameters of cases) {
      // Act
      const refused = await pathParameterGuard(["id"])
        .before?.(requestWith(parameters))
        .then(
          () => undefined,
          (error: unknown) => error,
        );

      // Assess
      expect(refused, JSON.stringify(parameters)).toBeInstanceOf(HttpError);
      expect((refused as HttpError).toBody(), JSON.stringify(parameters)).toEqual({
        error: { code: "not_found", message: "no such resource" },
      });
    }
  });

  it("lets a request with every needed parameter through", async () => {
    // Act
    const passed = pathParameterGuard(["id"]).before?.(requestWith({ id: "t-1" }));

    // Assess
    await expect(passed).resolves.toBeUndefined();
  });
});
