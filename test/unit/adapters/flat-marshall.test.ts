import { marshall } from "@aws-sdk/util-dynamodb";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { marshallItem } from "#shared/adapters/flat-marshall.js";

/** marshall's own answer for the store's items, or its error's message. */
function marshalled(value: Record<string, unknown>): unknown {
  try {
    return JSON.stringify(marshall(value, { removeUndefinedValues: true }));
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function ours(value: Record<string, unknown>): unknown {
  try {
    return JSON.stringify(marshallItem(value));
  } catch (error) {
    return { error: (error as Error).message };
  }
}

const scalar = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.integer(),
  fc.double(),
  fc.constantFrom(
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER + 1,
    Number.MIN_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER - 1,
    -0,
    1e-7,
    1e21,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
  ),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
);
const anyValue = fc.oneof(
  scalar,
  fc.array(scalar, { maxLength: 3 }),
  fc.dictionary(fc.string(), scalar, { maxKeys: 3 }),
  fc.constant(new Set(["a"])),
  fc.constant(new Uint8Array([1, 2])),
  fc.constant(10n),
  fc.constant(() => 1),
);
/** Keys as items have them, plus integer-like ones (listed first by JS) and `__proto__`-free oddities. */
const key = fc.oneof(fc.string(), fc.constantFrom("pk", "sk", "10", "2", "constructor", "toString"));

describe("marshallItem: the store's items as marshall writes them", () => {
  it("answers what marshall answers, attribute for attribute and in order, for flat and nested items alike", () => {
    fc.assert(
      fc.property(fc.dictionary(key, fc.oneof(scalar, scalar, anyValue), { maxKeys: 12 }), (item) => {
        expect(ours(item)).toEqual(marshalled(item));
      }),
      { numRuns: 2000 },
    );
  });

  it("answers what marshall answers for an object that is not plain (null prototype, a class instance)", () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, {
      pk: "a",
      n: 1,
      gone: undefined,
    });
    class Task {
      readonly pk = "a";
    }
    for (const item of [bare, new Task() as unknown as Record<string, unknown>]) {
      expect(ours(item)).toEqual(marshalled(item));
    }
  });

  it("answers what marshall answers for the odd keys, values and objects a review tried (2026-12-06)", () => {
    /** The answer's JSON, its keys in order and its prototype (a `__proto__` key sets it, in marshall too). */
    const shape = (answer: (item: Record<string, unknown>) => unknown, item: Record<string, unknown>) => {
      try {
        const out = answer(item) as Record<string, unknown>;
        return [JSON.stringify(out), Object.keys(out), JSON.stringify(Object.getPrototypeOf(out))];
      } catch (error) {
        return { error: (error as Error).message };
      }
    };
    const theirs = (item: Record<string, unknown>) => marshall(item, { removeUndefinedValues: true });
    const nullPrototype = Object.assign(Object.create(null) as Record<string, unknown>, {
      b: 1,
      2: "x",
      a: null,
    });
    const inherited = Object.assign(Object.create({ inherited: "i" }) as Record<string, unknown>, { a: 1 });
    const items: Record<string, Record<string, unknown>> = {
      ownProto: JSON.parse('{"a":1,"__proto__":"x","b":2}'),
      ownProtoNull: JSON.parse('{"__proto__":null,"b":2}'),
      constructorKey: { constructor: "x", a: 1 },
      methodNames: { toString: "x", valueOf: 1, hasOwnProperty: true },
      integerLikeKeys: { b: 1, "10": 2, "2": 3, "-1": 4, "01": 5, a: 6, "4294967295": 7, "4294967294": 8 },
      frozen: Object.freeze({ a: 1, b: "x" }),
      symbolKey: { [Symbol("s")]: 1, a: 1 },
      symbolValue: { a: Symbol("v") },
      inherited,
      nullPrototype,
      numbers: {
        z: -0,
        tiny: 5e-324,
        float: 0.1 + 0.2,
        long: 123456.78901234567,
        small: 1e-7,
        neg: -1.5e-10,
      },
      huge: { a: 1e21 },
      unsafe: { a: Number.MAX_SAFE_INTEGER + 2 },
      nan: { a: Number.NaN },
      strings: { empty: "", lone: "\ud800x", nul: "\u0000" },
      bigint: { a: 10n },
      date: { a: new Date(0) },
      buffer: { a: Buffer.from("ab") },
      bytes: { a: new Uint8Array([1]) },
      set: { a: new Set([1]) },
      nested: { a: { b: { c: 1 } }, l: [1, undefined, null] },
      boxed: { a: Object(1), b: Object("x"), c: Object(false) },
      functionValue: { a: () => 1, b: 1 },
      onlyUndefined: { a: undefined },
    };
    for (const [name, item] of Object.entries(items)) {
      expect([name, shape(marshallItem, item)]).toEqual([name, shape(theirs, item)]);
    }
  });

  it("writes a task item's scalars as marshall does (the batch add's item, one attribute of each kind)", () => {
    const item = {
      pk: "demo#k3Jx0aQ9fT2bLw1c",
      sk: "001764979200000#01JD3Z",
      dueAtMs: 1_764_979_200_000,
      attempts: 0,
      content: '{"order_id":"m1"}',
      groupValue: undefined,
      held: false,
      lastError: null,
    };
    expect(marshallItem(item)).toEqual(marshall(item, { removeUndefinedValues: true }));
    expect(Object.keys(marshallItem(item))).toEqual(
      Object.keys(marshall(item, { removeUndefinedValues: true })),
    );
  });
});
