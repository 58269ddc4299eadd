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

  it("judges a base64 body as the same text sent raw: a leading BOM and JSON's white space say nothing either way", async () => {
    // Prepare: UTF-8 bytes, as a client sends them; API Gateway hands non-text bodies over base64-encoded
    const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
    const nothing = ["\uFEFF", "\uFEFF{}", "\uFEFF \r\n{ }\t"];
    const something = ["\u00A0", "\u2028", "\uFEFF\uFEFF", "\u000B{}", "{}\f"];

    // Act
    const raw = await Promise.all([...nothing, ...something].map((body) => outcome(requestWith(body))));
    const encoded = await Promise.all(
      [...nothing, ...something].map((body) => outcome(requestWith(b64(body), true))),
    );

    // Assess: the same verdict for each text, raw or encoded
    const verdicts = (outcomes: unknown[]) =>
      outcomes.map((o) => (o instanceof HttpError ? o.status : "passed"));
    const expected = [...nothing.map(() => "passed"), ...something.map(() => 400)];
    expect(verdicts(raw)).toEqual(expected);
    expect(verdicts(encoded)).toEqual(expected);
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
