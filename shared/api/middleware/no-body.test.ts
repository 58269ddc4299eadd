import type { Request } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { HttpError } from "#shared/api/errors.js";
import { noBodyGuard } from "./no-body.js";

function requestWith(body: string | undefined, isBase64Encoded = false): Request<APIGatewayProxyEventV2> {
  return { event: { body, isBase64Encoded } } as unknown as Request<APIGatewayProxyEventV2>;
}

async function outcome(request: Request<APIGatewayProxyEventV2>): Promise<unknown> {
  return noBodyGuard()
    .before?.(request)
    .then(
      () => undefined,
      (error: unknown) => error,
    );
}

describe("noBodyGuard", () => {
  it("answers 400 for a body that says anything, plain or base64", async () => {
    const b64 = (text: string) => Buffer.from(text).toString("base64");
    for (const request of [
      requestWith('{"subscriber":"audit"}'),
      requestWith('{"delay_seconds":90}'),
      requestWith("[]"),
      requestWith("null"),
      requestWith("x"),
      requestWith(b64('{"group":"A-1001"}'), true),
      requestWith(Buffer.from([0x1f, 0x8b, 0x08, 0x00]).toString("base64"), true),
    ]) {
      // Act
      const refused = await outcome(request);

      // Assess
      expect(refused, request.event.body).toBeInstanceOf(HttpError);
      expect((refused as HttpError).status).toBe(400);
      expect((refused as HttpError).toBody().error).toMatchObject({
        code: "validation_failed",
        issues: [{ path: "", message: "this route takes no request body; send none" }],
      });
    }
  });

  it("lets a body that says nothing through: none, empty, whitespace, {}", async () => {
    // Act
    const passed = await Promise.all(
      [undefined, "", " \n", "{}", "{ }", " {}\n", Buffer.from("{}").toString("base64")].map((body, i) =>
        outcome(requestWith(body, i === 6)),
      ),
    );

    // Assess
    expect(passed).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
  });

  it("lets a content-encoding header with no body through: the header alone says nothing", async () => {
    // Prepare
    const request = {
      event: { headers: { "content-encoding": "gzip" }, body: undefined, isBase64Encoded: false },
    } as unknown as Request<APIGatewayProxyEventV2>;

    // Act
    const passed = await outcome(request);

    // Assess
    expect(passed).toBeUndefined();
  });
});
