import { describe, expect, it } from "vitest";
import { lambdaEventBytes } from "./lambda-event-size.js";

/** What JSON.stringify writes for `text` inside the event's quotes, in UTF-8 bytes. */
const escapedBytes = (text: string) => Buffer.byteLength(JSON.stringify(text)) - 2;

describe("a body's size in Lambda's event (shared/api/lambda-event-size.ts)", () => {
  it("is what JSON's escaping writes for ASCII: quotes and backslashes twice, control characters two or six", () => {
    for (const text of ['{"a":"b"}', '"\\"\\\\"', "line\nbreak\ttab\r", "\u0001\u001f\b\f", "plain"])
      expect(lambdaEventBytes(text)).toBe(escapedBytes(text));
  });

  it("counts every non-ASCII UTF-16 unit as \\uXXXX, at least what either writing of it takes", () => {
    for (const text of ["é", "日本", "😀", "a\u2028b"]) {
      expect(lambdaEventBytes(text)).toBe(
        [...text].reduce((bytes, c) => bytes + (c.charCodeAt(0) < 0x80 ? 1 : 6 * c.length), 0),
      );
      expect(lambdaEventBytes(text)).toBeGreaterThanOrEqual(escapedBytes(text));
    }
  });

  it("adds up over a concatenation, so a batch can be filled item by item", () => {
    const parts = ['{"tasks":[', '{"content":"\\"x\\""}', ",", '{"n":"é"}', "]}"];
    expect(lambdaEventBytes(parts.join(""))).toBe(parts.reduce((sum, p) => sum + lambdaEventBytes(p), 0));
  });
});
