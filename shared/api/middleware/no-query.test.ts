import type { Request } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { HttpError } from "#shared/api/errors.js";
import { noQueryGuard } from "./no-query.js";

function requestWith(
  rawQueryString: string,
  queryStringParameters?: Record<string, string>,
): Request<APIGatewayProxyEventV2> {
  return { event: { rawQueryString, queryStringParameters } } as unknown as Request<APIGatewayProxyEventV2>;
}

describe("noQueryGuard", () => {
  it("answers 400 naming every parameter, from the parsed map or the raw string", async () => {
    const cases: [Request<APIGatewayProxyEventV2>, string[]][] = [
      [requestWith("subscriber=audit", { subscriber: "audit" }), ["subscriber"]],
      [requestWith("force"), ["force"]],
      [requestWith("a=1&b=2&a=3", { a: "1,3", b: "2" }), ["a", "b"]],
      [requestWith("", { group: "A-1001" }), ["group"]],
      [requestWith("gr%C3%BCn=1"), ["grün"]],
    ];
    for (const [request, names] of cases) {
      // Act
      const refused = await noQueryGuard()
        .before?.(request)
        .then(
          () => undefined,
          (error: unknown) => error,
        );

      // Assess
      expect(refused, names.join()).toBeInstanceOf(HttpError);
      expect((refused as HttpError).toBody().error, names.join()).toMatchObject({
        code: "validation_failed",
        issues: names.map((path) => ({ path, message: "unknown parameter" })),
      });
    }
  });

  it("names a long parameter as every refusal echoes a value: its first 64 characters, cut with …", async () => {
    // Prepare: a 3,000-character name was answered in full up to the 200-character issue cap.
    const name = "k".repeat(3000);

    // Act
    const refused = await noQueryGuard()
      .before?.(requestWith(`${name}=1`, { [name]: "1" }))
      .then(
        () => undefined,
        (error: unknown) => error,
      );

    // Assess
    expect((refused as HttpError).toBody().error.issues).toEqual([
      { path: `${"k".repeat(63)}…`, message: "unknown parameter" },
    ]);
  });

  it("lets a request without a query through", async () => {
    // Act
    const passed = [requestWith(""), requestWith("", {})].map((r) => noQueryGuard().before?.(r));

    // Assess
    await expect(Promise.all(passed)).resolves.toEqual([undefined, undefined]);
  });
});
