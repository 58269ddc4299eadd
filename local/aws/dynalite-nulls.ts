import { createRequire } from "node:module";
import { ATTRIBUTE_VALUE_FIELDS } from "./dynalite-types.js";

/**
 * Where a DynamoDB request holds a JSON `null` as a list member or a map value, found by the action's own type
 * descriptors (dynalite's validations), so that a structure's null member, which DynamoDB reads as absent, is not
 * mistaken for one. Why: DynamoDB's model has no sparse collections, and a Smithy service refuses a null in a
 * collection that is not `@sparse` while reading the request, a 400 SerializationException
 * (https://smithy.io/2.0/spec/type-refinement-traits.html#sparse-trait); dynalite keeps the null and its
 * validations then throw a TypeError on it (`null.S`), which local/aws/dynalite-guard.ts can only answer 500.
 * Run on that throw only, never on a request dynalite answered, so it costs nothing on the way to an answer.
 */
export function nullMemberIn(action: string, request: unknown): string | undefined {
  const types = typesOf(action);
  if (!types || typeof request !== "object" || request === null) return undefined;
  return nullInStruct(request as Record<string, unknown>, types, "");
}

/** The refusal DynamoDB's deserializer answers for such a null (the exact wording of AWS's is not published). */
export function nullMemberMessage(path: string): string {
  return `A null value at '${path}', in a list or map that DynamoDB's model allows no null in`;
}

/** dynalite's type descriptors: a field's name → `"String"`, `"Map<AttributeValue>"` or `{ type, children }`. */
type Fields = Readonly<Record<string, unknown>>;

const require = createRequire(import.meta.url);
const GENERIC = /(.+?)<(.+)>$/;
const byAction = new Map<string, Fields | undefined>();

/** An action's descriptors by its target's name (`PutItem`), as dynalite's handler picks its validation module. */
function typesOf(action: string): Fields | undefined {
  if (!byAction.has(action)) byAction.set(action, EXTRA_TYPES[action] ?? dynaliteTypes(action));
  return byAction.get(action);
}

function dynaliteTypes(action: string): Fields | undefined {
  if (!/^[A-Z][A-Za-z]+$/.test(action)) return undefined;
  try {
    const name = action[0]?.toLowerCase() + action.slice(1);
    return (require(`dynalite/validations/${name}.js`) as { types?: Fields }).types;
  } catch {
    return undefined; // an action dynalite does not serve: it answers that itself
  }
}

/** Actions answered in front of dynalite, described as its validations describe theirs. */
const EXTRA_TYPES: Readonly<Record<string, Fields>> = {
  // BatchExecuteStatement (local/aws/partiql.ts): its statements' parameters are attribute values.
  BatchExecuteStatement: {
    Statements: {
      type: "List",
      children: {
        type: "ValueStruct<BatchStatementRequest>",
        children: { Parameters: { type: "List", children: "AttrStruct<ValueStruct>" } },
      },
    },
  },
};

function nullInStruct(value: Record<string, unknown>, fields: Fields, path: string): string | undefined {
  for (const name of Object.keys(fields)) {
    const member = value[name];
    // A structure's null member is an absent one, as DynamoDB reads it (dynalite's checkTypes drops it too).
    if (member == null || !Object.hasOwn(value, name)) continue;
    const found = nullIn(member, fields[name], path ? `${path}.${name}` : name);
    if (found !== undefined) return found;
  }
  return undefined;
}

function nullIn(value: unknown, descriptor: unknown, path: string): string | undefined {
  const { base, children } = shapeOf(descriptor);
  if (typeof value !== "object" || value === null) return undefined; // a type dynalite's checks refuse
  switch (base) {
    case "List":
    case "ParameterizedList":
      if (!Array.isArray(value)) return undefined;
      for (const [i, member] of value.entries()) {
        const at = `${path}.${i + 1}`;
        const found = member == null ? at : nullIn(member, children, at);
        if (found !== undefined) return found;
      }
      return undefined;
    case "Map":
    case "ParameterizedMap":
      if (Array.isArray(value)) return undefined;
      for (const [key, member] of Object.entries(value)) {
        const at = `${path}.${key}`;
        const found = member == null ? at : nullIn(member, children, at);
        if (found !== undefined) return found;
      }
      return undefined;
    case "ValueStruct":
    case "FieldStruct":
      if (Array.isArray(value) || typeof children !== "object" || children === null) return undefined;
      return nullInStruct(value as Record<string, unknown>, children as Fields, path);
    default:
      return undefined;
  }
}

/** A descriptor's type without its parameter, and what its members are (`AttrStruct<X>` expanded as dynalite does). */
function shapeOf(descriptor: unknown): { base: string; children: unknown } {
  const { type, children } =
    typeof descriptor === "string"
      ? { type: descriptor, children: undefined }
      : ((descriptor ?? {}) as { type?: unknown; children?: unknown });
  const name = typeof type === "string" ? type : "";
  const generic = GENERIC.exec(name);
  if (generic?.[1] === "AttrStruct")
    return shapeOf({ type: `${generic[2]}<AttributeValue>`, children: ATTRIBUTE_VALUE_FIELDS });
  return {
    base: generic ? (generic[1] as string) : name,
    children: typeof children === "string" ? { type: children } : children,
  };
}
