import { gzipSync } from "node:zlib";
import type { Request } from "@middy/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { isLosslessNumber } from "lossless-json";
import { describe, expect, it } from "vitest";
import type { HttpError } from "#shared/api/errors.js";
import { lambdaEventBytes, MAX_EVENT_BODY_BYTES } from "#shared/api/lambda-event-size.js";
import { isJsonContentType, jsonBody, MAX_REQUEST_BODY_BYTES } from "./json-body.js";
import { parsedBody } from "./parsed-body.js";

function eventWith(
  body: string,
  options: { contentType?: string; base64?: boolean; contentEncoding?: string } = {},
): APIGatewayProxyEventV2 {
  const contentType = options.contentType ?? "application/json";
  const encoding = options.contentEncoding;
  return {
    headers: {
      "content-type": contentType,
      ...(encoding !== undefined ? { "content-encoding": encoding } : {}),
    },
    body: options.base64 ? Buffer.from(body, "binary").toString("base64") : body,
    isBase64Encoded: options.base64 ?? false,
  } as unknown as APIGatewayProxyEventV2;
}

async function parse(event: APIGatewayProxyEventV2, maxBytes?: number): Promise<HttpError | undefined> {
  const request = { event } as Request<APIGatewayProxyEventV2>;
  return jsonBody({ maxBytes })
    .before?.(request)
    .then(
      () => undefined,
      (error: HttpError) => error,
    );
}

describe("jsonBody", () => {
  it("answers invalid_json, not a duplicate key, for a body that is not JSON but repeats a key", async () => {
    // Prepare: the counterexample fast-check found (hostile-input, seed 2021880693): `{{` then a repeated member.
    const event = eventWith('{{"content":{"id":""},"topic":"content":{"id":""},"topic":"demo"}');

    // Act
    const refused = await parse(event);

    // Assess
    expect(refused?.status).toBe(400);
    expect(refused?.code).toBe("invalid_json");
    expect(parsedBody(event)).toBeUndefined();
  });

  it("parses losslessly: numbers keep the token as written", async () => {
    // Prepare
    const event = eventWith('{"amount": 12345678901234567890.10}');

    // Act
    const refused = await parse(event);

    // Assess
    expect(refused).toBeUndefined();
    const amount = (parsedBody(event) as { amount: unknown }).amount;
    expect(isLosslessNumber(amount) && amount.toString()).toBe("12345678901234567890.10");
  });

  it("answers 415 for another content type, before looking at the body", async () => {
    // Act
    const refused = await parse(eventWith("not json", { contentType: "text/plain" }));

    // Assess
    expect(refused?.status).toBe(415);
    expect(refused?.code).toBe("unsupported_media_type");
  });

  it("answers 415 for a gzip body, saying compressed bodies are not taken, not 400 'not valid UTF-8'", async () => {
    // Prepare: what a client that compresses its requests sends through API Gateway (binary → base64).
    const event = {
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: gzipSync('{"topic":"demo"}').toString("base64"),
      isBase64Encoded: true,
    } as unknown as APIGatewayProxyEventV2;

    // Act
    const refused = await parse(event);

    // Assess
    expect(refused?.status).toBe(415);
    expect(refused?.code).toBe("unsupported_media_type");
    expect(refused?.toBody().error.message).toBe(
      'the request body must not be compressed: send it without content-encoding (or "identity"), received "gzip"',
    );
    expect(refused?.headers).toEqual({ "accept-encoding": "identity" });
    expect(parsedBody(event)).toBeUndefined();
  });

  it("answers 415 for every content-encoding but identity, whatever the body, before reading it", async () => {
    // Prepare: valid JSON as the body, so only the header can refuse it.
    const encodings = ["br", "deflate", "GZIP", "deflate, gzip", "identity, gzip", "x-custom", "zstd"];

    // Act
    const outcomes = await Promise.all(
      encodings.map((contentEncoding) => parse(eventWith('{"a":1}', { contentEncoding }))),
    );

    // Assess
    expect(outcomes.map((e) => `${e?.status} ${e?.code}`)).toEqual(
      encodings.map(() => "415 unsupported_media_type"),
    );
  });

  it("takes a body whose content-encoding says identity (any case, listed, or empty)", async () => {
    // Act
    const events = ["identity", "Identity", " identity , IDENTITY ", ""].map((contentEncoding) =>
      eventWith('{"a":1}', { contentEncoding }),
    );
    const outcomes = await Promise.all(events.map((event) => parse(event)));

    // Assess
    expect(outcomes).toEqual(events.map(() => undefined));
    expect(events.map((event) => parsedBody(event) !== undefined)).toEqual(events.map(() => true));
  });

  it("answers 413 above the cap, measuring a base64 body decoded", async () => {
    // Prepare
    const body = `"${"x".repeat(100)}"`;

    // Act
    const plain = await parse(eventWith(body), 50);
    const base64 = await parse(eventWith(body, { base64: true }), 50);

    // Assess
    expect(plain?.status).toBe(413);
    expect(base64?.toBody().error.message).toBe("the request body is 102 bytes; the limit is 50");
    expect(MAX_REQUEST_BODY_BYTES).toBe(1024 * 1024);
  });

  it("answers 413, on every JSON route by default, for a body under the cap that escapes past the event's room", async () => {
    // Prepare: 900,000 raw control characters are 900,002 bytes, under 1 MiB, but \u0001 each in Lambda's event.
    const body = `"${"\u0001".repeat(900_000)}"`;
    expect(Buffer.byteLength(body)).toBeLessThan(MAX_REQUEST_BODY_BYTES);
    expect(lambdaEventBytes(body)).toBeGreaterThan(MAX_EVENT_BODY_BYTES);

    // Act
    const refused = await parse(eventWith(body));

    // Assess
    expect(refused?.status).toBe(413);
    expect(refused?.code).toBe("payload_too_large");
  });

  it("answers 400 invalid_json for an empty body, bad JSON and invalid UTF-8 in base64", async () => {
    // Act
    const outcomes = await Promise.all([
      parse(eventWith("  ")),
      parse(eventWith("{")),
      parse(eventWith("\xff\xfe", { base64: true })),
    ]);

    // Assess
    expect(outcomes.map((e) => e?.code)).toEqual(["invalid_json", "invalid_json", "invalid_json"]);
    expect(outcomes[2]?.toBody().error.issues).toEqual([
      { path: "", message: "the request body is not valid UTF-8" },
    ]);
  });

  it("answers 400 validation_failed for a key given twice", async () => {
    // Act
    const refused = await parse(eventWith('{"a":1,"a":2}'));

    // Assess
    expect(refused?.status).toBe(400);
    expect(refused?.code).toBe("validation_failed");
  });
});

describe("isJsonContentType", () => {
  it("accepts application/json with no charset or UTF-8, nothing else", () => {
    const accepted = [
      "application/json",
      "Application/JSON; charset=utf-8",
      'application/json; charset="UTF8"',
    ];
    const refused = [undefined, "", "text/json", "application/json; charset=latin1", "application/jsonx"];

    expect(accepted.map(isJsonContentType)).toEqual(accepted.map(() => true));
    expect(refused.map(isJsonContentType)).toEqual(refused.map(() => false));
  });

  it("refuses two Content-Type headers as API Gateway joins them, and parameters RFC 9110 does not allow", () => {
    // Prepare: payload 2.0 joins a repeated header's values with a comma. `application/json;v=1` and `text/plain`
    // arrive as `application/json;v=1,text/plain`, which passed as JSON with the parameter `v=1,text/plain`.
    const refused = [
      "application/json;v=1,text/plain",
      "application/json; a=1,application/json",
      "application/json;charset=utf-8,application/json;charset=utf-8",
      'application/json; v="1,2"',
      "application/json; foo",
      "application/json; =utf-8",
      "application/json; charset=",
      "application/json; charset=utf-8 x",
    ];
    const accepted = [
      "application/json;",
      "application/json ; charset=utf-8",
      "application/json;charset=UTF-8;v=1",
      'application/json; v="a;b" ; charset="utf-8"',
      " application/json ",
    ];

    expect(refused.map(isJsonContentType)).toEqual(refused.map(() => false));
    expect(accepted.map(isJsonContentType)).toEqual(accepted.map(() => true));
  });

  it("names the repeat in its 415 when the content type holds a comma", async () => {
    // Act
    const refused = await parse(eventWith("{}", { contentType: "application/json;v=1,text/plain" }));

    // Assess
    expect(refused?.status).toBe(415);
    expect(refused?.code).toBe("unsupported_media_type");
    expect(refused?.message).toContain("one Content-Type header");
  });
});
