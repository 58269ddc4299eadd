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

  it("covers the edge units: NUL and DEL as JSON writes them, lone surrogates and U+2028/U+2029 at their \\uXXXX", () => {
    // DEL (0x7f) is printable for JSON (written as is); NUL takes \u0000; a lone surrogate is written \udXXX by a
    // well-formed JSON writer (and a pair as two of them at worst); U+2028/2029 as \u2028 by writers that escape them.
    const cases: Array<[string, number]> = [
      ["\u0000", 6],
      ["\u007f", 1],
      ["\ud800", 6],
      ["\udfff", 6],
      ["x\ud83d", 7],
      ["\u2028\u2029", 12],
    ];
    for (const [text, bytes] of cases) {
      expect(lambdaEventBytes(text), JSON.stringify(text)).toBe(bytes);
      expect(lambdaEventBytes(text)).toBeGreaterThanOrEqual(escapedBytes(text));
    }
  });

  it("adds up over a concatenation, even one that splits a surrogate pair", () => {
    const pair = "😀";
    expect(lambdaEventBytes(pair)).toBe(lambdaEventBytes(pair.slice(0, 1)) + lambdaEventBytes(pair.slice(1)));
  });

  it("adds up over a concatenation, so a batch can be filled item by item", () => {
    const parts = ['{"tasks":[', '{"content":"\\"x\\""}', ",", '{"n":"é"}', "]}"];
    expect(lambdaEventBytes(parts.join(""))).toBe(parts.reduce((sum, p) => sum + lambdaEventBytes(p), 0));
  });
});
