import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";

/**
 * `marshall(value, { removeUndefinedValues: true })`, the store's way to write an item, with a shortcut for what
 * nearly every item is: a plain object whose values are strings, safe numbers, booleans, null or undefined. Such an
 * item is converted here in one pass; anything else (a nested map or list, a set, binary, a number `marshall`
 * refuses, an object that is not plain) goes to `marshall` whole, so its answer — or its error — is marshall's.
 *
 * Why: `marshall` probes every value's constructor name up to seven times before it reaches a string, and turns
 * three special numbers into strings for each number it meets; a task item is a dozen flat scalars, marshalled
 * once per task written (a batch add marshals a hundred per request, on the API's one thread). Same item,
 * attribute for attribute and in the same order (`test/unit/adapters/flat-marshall.test.ts` compares the two).
 */
export function marshallItem(value: Record<string, unknown>): Record<string, AttributeValue> {
  return flatItem(value) ?? marshall(value, { removeUndefinedValues: true });
}

/**
 * The item, or undefined when a value is not a flat scalar `marshall` would write as this does. An item that falls
 * back has its values read twice (here, then by marshall): the store's items are object literals and spreads, whose
 * values are data, so no getter of theirs runs twice.
 */
function flatItem(value: Record<string, unknown>): Record<string, AttributeValue> | undefined {
  const prototype = Object.getPrototypeOf(value);
  // marshall takes an object whose `constructor` is not Object's for something else (and refuses it).
  if ((prototype !== Object.prototype && prototype !== null) || Object.hasOwn(value, "constructor"))
    return undefined;
  const item: Record<string, AttributeValue> = {};
  // for…in, as marshall's walk (own and inherited enumerable keys, in the same order).
  for (const key in value) {
    const attribute = value[key];
    if (attribute === undefined || typeof attribute === "function") continue;
    const converted = flatAttribute(attribute);
    if (converted === undefined) return undefined;
    item[key] = converted;
  }
  return item;
}

function flatAttribute(value: unknown): AttributeValue | undefined {
  if (typeof value === "string") return { S: value };
  // marshall refuses NaN, the infinities and unsafe integers (those fail these comparisons or bounds: its errors).
  if (typeof value === "number") {
    return value >= Number.MIN_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER
      ? { N: String(value) }
      : undefined;
  }
  if (typeof value === "boolean") return { BOOL: value };
  if (value === null) return { NULL: true };
  return undefined;
}
