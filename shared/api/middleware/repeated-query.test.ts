import type { Request } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { HttpError } from "#shared/api/errors.js";
import { repeatedQueryGuard } from "./repeated-query.js";

/** The event as API Gateway builds it: the raw string, and the map with a repeated key's values comma-joined. */
function requestWith(rawQueryString: string): Request<APIGatewayProxyEventV2> {
  const joined = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    const before = joined.get(name);
    joined.set(name, before === undefined ? value : `${before},${value}`);
  }
  const queryStringParameters = joined.size > 0 ? Object.fromEntries(joined) : undefined;
  return { event: { rawQueryString, queryStringParameters } } as unknown as Request<APIGatewayProxyEventV2>;
}

async function refusalOf(request: Request<APIGatewayProxyEventV2>): Promise<unknown> {
  return repeatedQueryGuard()
    .before?.(request)
    .then(
      () => undefined,
      (error: unknown) => error,
    );
}

describe("repeatedQueryGuard", () => {
  it("answers 400 naming each repeated key, however it was written", async () => {
    const cases: [string, string[]][] = [
      ["topic=demo&group=a&group=b", ["group"]],
      ["group=a&limit=1&group=b&limit=2&limit=3", ["group", "limit"]],
      ["force&force", ["force"]],
      ["x=&x=", ["x"]],
      ["a=1&%61=2", ["a"]],
      ["gr%C3%BCn=1&grün=2", ["grün"]],
    ];
    for (const [query, names] of cases) {
      // Act
      const refused = await refusalOf(requestWith(query));

      // Assess
      expect(refused, query).toBeInstanceOf(HttpError);
      expect((refused as HttpError).status, query).toBe(400);
      expect((refused as HttpError).toBody().error, query).toEqual({
        code: "validation_failed",
        message: "a query parameter is repeated",
        issues: names.map((path) => ({ path, message: "given more than once; give it once" })),
      });
    }
  });

  it("names a long repeated key as every refusal echoes a value: its first 64 characters, cut with …", async () => {
    // Prepare: a 3,000-character key was answered in full up to the 200-character issue cap.
    const name = "k".repeat(3000);

    // Act
    const refused = await refusalOf(requestWith(`${name}=1&${name}=2`));

    // Assess
    expect((refused as HttpError).toBody().error.issues).toEqual([
      { path: `${"k".repeat(63)}…`, message: "given more than once; give it once" },
    ]);
  });

  it("lets every key given once through, a value with a comma included", async () => {
    // Act
    const passed = ["", "topic=demo&group=a%2Cb&limit=5", "a=1&b=1&A=1"].map((q) =>
      repeatedQueryGuard().before?.(requestWith(q)),
    );

    // Assess
    await expect(Promise.all(passed)).resolves.toEqual([undefined, undefined, undefined]);
  });
});
