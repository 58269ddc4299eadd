import { createRequire } from "node:module";
import { beforeAll, describe, expect, it } from "vitest";
import {
  MAX_NESTING,
  nestingOf,
  refuseConditionsDynaliteThrowsOn,
  unsafeShapeIn,
} from "#local/aws/dynalite-conditions.js";
import type { ExpressionParser } from "#local/aws/dynalite-expressions.js";

/**
 * The condition shapes the local cloud refuses before dynalite evaluates them (local/aws/dynalite-conditions.ts):
 * each stopped the emulators' thread (test/e2e/hostile-dynamodb-requests.test.ts sends them over the wire). Here,
 * which shapes are refused and which pass, on dynalite's own parser.
 */
const require = createRequire(import.meta.url);
const parser = require("dynalite/db/conditionParser.js") as ExpressionParser;
const dynaliteDb = require("dynalite/db/index.js") as { compare: unknown };

function parse(text: string, values: Record<string, unknown> = {}): unknown {
  const context = {
    attrNames: {},
    attrVals: values,
    unusedAttrNames: {},
    unusedAttrVals: {},
    isReserved: () => false,
    compare: dynaliteDb.compare,
  };
  return parser.parse(text, { context } as Parameters<ExpressionParser["parse"]>[1]);
}

const v = { S: "1" };

beforeAll(() => {
  refuseConditionsDynaliteThrowsOn(parser);
});

describe("conditions dynalite would throw on when an attribute is missing", () => {
  it.each([
    [":x IN (a)", /IN/],
    [":x IN (:y, a.b[0])", /IN/],
    [":x IN (size(a))", /IN/],
    [":x BETWEEN :y AND a", /BETWEEN/],
    [":x BETWEEN :y AND size(a)", /BETWEEN/],
    ["begins_with(a, b)", /begins_with/],
    ["attribute_exists(c) AND NOT (:x IN (:y, a))", /IN/],
  ])("%s is refused with a message naming the shape", (text, shape) => {
    const answer = parse(text, { ":x": v, ":y": v });
    expect(typeof answer).toBe("string");
    expect(answer).toMatch(shape);
    expect(answer).toMatch(/local cloud/);
  });

  it.each([
    "a IN (:x, :y)",
    ":x BETWEEN a AND :y",
    "a BETWEEN :x AND :y",
    "begins_with(a, :x)",
    "begins_with(:x, a)",
    "contains(a, b)",
    "a = b",
  ])("%s is parsed as dynalite parses it", (text) => {
    const answer = parse(text, { ":x": v, ":y": v });
    expect(typeof answer).toBe("object");
    expect(unsafeShapeIn((answer as { expression: unknown }).expression)).toBeUndefined();
  });
});

describe("conditions nested deeper than dynalite parses in reasonable time", () => {
  const nested = (depth: number) => `a = b${" OR (a = b".repeat(depth)}${")".repeat(depth)}`;

  it("counts the depth of the parentheses, a function's included", () => {
    expect(nestingOf("a = :x")).toBe(0);
    expect(nestingOf("(a = :x) AND (b = :y)")).toBe(1);
    expect(nestingOf("(attribute_exists(a) OR (b = :y))")).toBe(2);
    expect(nestingOf(nested(4))).toBe(4);
    expect(nestingOf(`${"(".repeat(299)}attribute_exists(a)${")".repeat(299)}`)).toBe(300);
  });

  it(`takes a condition nested ${MAX_NESTING} deep and refuses one level more, unparsed`, () => {
    expect(typeof parse(nested(MAX_NESTING))).toBe("object");
    expect(parse(nested(MAX_NESTING + 1))).toMatch(
      new RegExp(`nests parentheses ${MAX_NESTING + 1} deep .*at most ${MAX_NESTING}`),
    );
    // Parsed, this one would take longer than anyone waits: refused before dynalite's parser sees it.
    expect(parse(`${"(".repeat(399)}attribute_exists(a)${")".repeat(399)}`)).toMatch(
      /nests parentheses 400 deep/,
    );
  });
});
