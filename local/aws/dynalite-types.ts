// First: dynalite's store module, which dynalite's validations load, must take the string-storing MemoryLevel
// (local/aws/dynalite-memory.ts).
import "./dynalite-memory.js";
import { createRequire } from "node:module";

/** A field's type as dynalite's validations describe it: `"String"`, or `{ type, children, …checks }`. */
type Descriptor = unknown;
/** dynalite's struct of fields (an action's `types`, a struct's `children`): field name → descriptor. */
type Fields = Readonly<Record<string, Descriptor>>;
/** Checks one value that is not null or undefined; answers it converted, as dynalite's `checkType` does. */
type Check = (value: unknown) => unknown;

interface DynaliteValidations {
  checkTypes(data: unknown, types: Fields): Record<string, unknown>;
}

const require = createRequire(import.meta.url);
/** dynalite's validations module: the very instance its HTTP handler calls (`validations.checkTypes`). */
const dynaliteValidations = require("dynalite/validations/index.js") as DynaliteValidations;

/** dynalite's generic type syntax, `Map<AttributeValue>`: the same expression its `checkType` matches with. */
const GENERIC = /(.+?)<(.+)>$/;
/** What an `AttrStruct<X>` stands for in dynalite's `checkType` (its literal, rebuilt there on every call). */
export const ATTRIBUTE_VALUE_FIELDS: Fields = {
  S: "String",
  B: "Blob",
  N: "String",
  BOOL: "Boolean",
  NULL: "Boolean",
  BS: { type: "List", children: "Blob" },
  NS: { type: "List", children: "String" },
  SS: { type: "List", children: "String" },
  L: { type: "List", children: "AttrStruct<ValueStruct>" },
  M: { type: "Map<AttributeValue>", children: "AttrStruct<ValueStruct>" },
};
const PARAMETERIZED_MISMATCH =
  "class sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl cannot be cast to class java.lang.Class (sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl and java.lang.Class are in module java.base of loader 'bootstrap')";

/** The errors dynalite's `checkType` answers with (a 400 SerializationException): the only ones ours may throw. */
class TypeCheckError extends Error {
  readonly statusCode = 400;
  readonly body: { __type: string; Message: string };
  constructor(message: string) {
    super(message);
    this.body = { __type: "com.amazon.coral.service#SerializationException", Message: message };
  }
}

/** A descriptor this module does not compile (dynalite's own code would throw a TypeError or "Unknown type"). */
class Unsupported extends Error {}

const wrapped = new WeakSet<DynaliteValidations>();

/**
 * dynalite's type check of every request (`validations.checkTypes`), compiled once per descriptor instead of
 * interpreted per value. Why: dynalite walks each request against its action's descriptors, and per attribute
 * value it runs a regular expression over the type's name, builds `AttrStruct`'s ten-field literal afresh and
 * recurses through `reduce` closures; profiled, that walk was 11 % of the emulators' thread in batched adds
 * (a BatchWriteItem of 25 items of ~15 attributes each). What it changes: nothing dynalite answers.
 * - Each descriptor becomes one check function, made on first use and kept (by the descriptor object, or its
 *   name); every check does what dynalite's `checkType` does for that type, in the same order, with the same
 *   conversions (booleans from text, integers floored) and the same error messages.
 * - dynalite's version also deletes the request's fields that no descriptor names; its handler replaces the
 *   request with the answer, and the answer shares no object with the request, so that is left out.
 * - Anything else thrown (a descriptor this module does not compile, a request body that is not an object)
 *   runs dynalite's own check on the untouched request instead, which answers as it always did.
 */
export function compileTypeChecks(validations: DynaliteValidations = dynaliteValidations): void {
  if (wrapped.has(validations)) return;
  wrapped.add(validations);
  const original = validations.checkTypes;
  const compiled = new WeakMap<object, Check>();
  validations.checkTypes = (data, types) => {
    try {
      let check = compiled.get(types);
      if (!check) {
        check = structCheck(types);
        compiled.set(types, check);
      }
      return check(data) as Record<string, unknown>;
    } catch (error) {
      if (error instanceof TypeCheckError) throw error;
      return original(data, types);
    }
  };
}

/** Checks kept by descriptor: an object by identity, a name by its text (AttrStruct's expansions are names). */
const byObject = new WeakMap<object, Check>();
const byName = new Map<string, Check>();

/** The check of one descriptor, made once; recursive descriptors (`L` of `AttrStruct`) resolve lazily. */
function checkOf(descriptor: Descriptor): Check {
  if (typeof descriptor === "string") {
    let check = byName.get(descriptor);
    if (!check) {
      check = compile(descriptor, undefined);
      byName.set(descriptor, check);
    }
    return check;
  }
  if (typeof descriptor !== "object" || descriptor === null) throw new Unsupported();
  let check = byObject.get(descriptor);
  if (!check) {
    const { type, children } = descriptor as { type?: unknown; children?: unknown };
    // dynalite: `if (type.type) type = type.type`, then `type.match(…)`: only a named type gets that far.
    if (typeof type !== "string" || type === "") throw new Unsupported();
    check = compile(type, typeof children === "string" ? { type: children } : children);
    byObject.set(descriptor, check);
  }
  return check;
}

/** A check that compiles its target on first call: what lets `AttrStruct` refer to itself through `L` and `M`. */
function lazily(descriptor: Descriptor): Check {
  let check: Check | undefined;
  return (value) => {
    check ??= checkOf(descriptor);
    return check(value);
  };
}

function compile(name: string, children: unknown): Check {
  const generic = GENERIC.exec(name);
  const type = generic ? generic[1] : name;
  const subtype = generic ? generic[2] : undefined;
  if (type === "AttrStruct") {
    return checkOf({ type: `${subtype}<AttributeValue>`, children: ATTRIBUTE_VALUE_FIELDS });
  }
  switch (type) {
    case "Boolean":
      return booleanCheck;
    case "Short":
    case "Integer":
    case "Long":
    case "Double":
      return numberCheck(type);
    case "String":
      return stringCheck;
    case "Blob":
      return blobCheck;
    case "List":
      return listCheck(children, "Unexpected field type");
    case "ParameterizedList":
      return listCheck(children, PARAMETERIZED_MISMATCH);
    case "ParameterizedMap":
      return mapCheck(
        children,
        PARAMETERIZED_MISMATCH,
        "Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>",
      );
    case "Map": {
      if (subtype === undefined) throw new Unsupported();
      const qualified = subtype.includes(".") ? subtype : `com.amazonaws.dynamodb.v20120810.${subtype}`;
      return mapCheck(
        children,
        "Unexpected field type",
        `Unrecognized collection type java.util.Map<java.lang.String, ${qualified}>`,
      );
    }
    case "ValueStruct":
      return objectCheck(children, subtype, "Unexpected value type in payload");
    case "FieldStruct":
      return objectCheck(children, subtype, "Unexpected field type");
    default:
      throw new Unsupported();
  }
}

/** dynalite's answer for an object or array where a scalar was expected. */
function notScalar(value: object, javaType: string): TypeCheckError {
  return new TypeCheckError(
    Array.isArray(value)
      ? `Unrecognized collection type class ${javaType}`
      : "Start of structure or map found where not expected",
  );
}

function booleanCheck(value: unknown): unknown {
  switch (typeof value) {
    case "number":
      throw new TypeCheckError(
        `${value % 1 === 0 ? "NUMBER_VALUE" : "DECIMAL_VALUE"} cannot be converted to Boolean`,
      );
    case "string": {
      // dynalite: 'true'/'false'/'1'/'0'/'no'/'yes' convert, in any case.
      const text = value.toUpperCase();
      if (text === "TRUE" || text === "1" || text === "YES") return true;
      if (text === "FALSE" || text === "0" || text === "NO") return false;
      throw new TypeCheckError("Unexpected token received from parser");
    }
    case "object":
      throw notScalar(value as object, "java.lang.Boolean");
  }
  return value;
}

function numberCheck(type: "Short" | "Integer" | "Long" | "Double"): Check {
  return (value) => {
    switch (typeof value) {
      case "boolean":
        throw new TypeCheckError(`${value ? "TRUE_VALUE" : "FALSE_VALUE"} cannot be converted to ${type}`);
      case "number":
        return type === "Double" ? value : Math.floor(value);
      case "string":
        throw new TypeCheckError(`STRING_VALUE cannot be converted to ${type}`);
      case "object":
        throw notScalar(value as object, `java.lang.${type}`);
    }
    return value;
  };
}

function stringCheck(value: unknown): unknown {
  switch (typeof value) {
    case "boolean":
      throw new TypeCheckError(`${value ? "TRUE_VALUE" : "FALSE_VALUE"} cannot be converted to String`);
    case "number":
      throw new TypeCheckError(
        `${value % 1 === 0 ? "NUMBER_VALUE" : "DECIMAL_VALUE"} cannot be converted to String`,
      );
    case "object":
      throw notScalar(value as object, "java.lang.String");
  }
  return value;
}

function blobCheck(value: unknown): unknown {
  switch (typeof value) {
    case "boolean":
    case "number":
      throw new TypeCheckError("only base-64-encoded strings are convertible to bytes");
    case "object":
      throw notScalar(value as object, "java.nio.ByteBuffer");
  }
  const text = value as string;
  if (text.length % 4)
    throw new TypeCheckError(
      `Base64 encoded length is expected a multiple of 4 bytes but found: ${text.length}`,
    );
  if (Buffer.from(text, "base64").toString("base64") !== text)
    throw new TypeCheckError("Invalid last non-pad Base64 character dectected");
  return value;
}

/** A list: each member checked, null members kept as null (dynalite maps them through `checkType`). */
function listCheck(children: unknown, scalarMessage: string): Check {
  const member = lazily(children);
  return (value) => {
    if (typeof value !== "object") throw new TypeCheckError(scalarMessage);
    if (!Array.isArray(value)) throw new TypeCheckError("Start of structure or map found where not expected");
    const checked = new Array(value.length);
    for (let i = 0; i < value.length; i++) checked[i] = value[i] == null ? null : member(value[i]);
    return checked;
  };
}

/** A map: each value checked, null values kept as null, keys assigned as dynalite assigns them. */
function mapCheck(children: unknown, scalarMessage: string, arrayMessage: string): Check {
  const member = lazily(children);
  return (value) => {
    if (typeof value !== "object") throw new TypeCheckError(scalarMessage);
    if (Array.isArray(value)) throw new TypeCheckError(arrayMessage);
    const entries = value as Record<string, unknown>;
    const checked: Record<string, unknown> = {};
    for (const key of Object.keys(entries)) {
      const entry = entries[key];
      checked[key] = entry == null ? null : member(entry);
    }
    return checked;
  };
}

/** ValueStruct and FieldStruct: an object checked against its fields (dynalite's nested `checkTypes`). */
function objectCheck(children: unknown, subtype: string | undefined, scalarMessage: string): Check {
  if (typeof children !== "object" || children === null) throw new Unsupported();
  const fields = structCheck(children as Fields);
  return (value) => {
    if (typeof value !== "object") throw new TypeCheckError(scalarMessage);
    if (Array.isArray(value))
      throw new TypeCheckError(
        `Unrecognized collection type class com.amazonaws.dynamodb.v20120810.${subtype}`,
      );
    return fields(value);
  };
}

/**
 * dynalite's `checkTypes`: the fields in the descriptors' order, each non-null value checked, a null answer left
 * out. A field named like a property every object inherits is not compiled: dynalite's deletion of null fields
 * would let such a field read the inherited property.
 */
function structCheck(fields: Fields): Check {
  if (Object.keys(fields).some((name) => name in Object.prototype)) throw new Unsupported();
  const names = Object.keys(fields).filter((name) => fields[name]);
  const checks = names.map((name) => lazily(fields[name]));
  return (value) => {
    const data = value as Record<string, unknown>;
    const checked: Record<string, unknown> = {};
    for (let i = 0; i < names.length; i++) {
      const field = data[names[i] as string];
      if (field == null) continue;
      const result = (checks[i] as Check)(field);
      if (result != null) checked[names[i] as string] = result;
    }
    return checked;
  };
}
