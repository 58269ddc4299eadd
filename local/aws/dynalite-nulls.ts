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
  // A stack of its own, not recursion: a document nested deeper than the call stack (which is what made dynalite
  // throw) is walked to its null too, wherever it is, instead of overflowing before reaching it. Members are pushed
  // last first, so the first null is the one a depth-first walk in the request's order meets.
  const stack: Visit[] = [{ value: request, descriptor: { type: "FieldStruct", children: types }, path: "" }];
  for (let visit = stack.pop(); visit !== undefined; visit = stack.pop()) {
    if (visit.value == null) {
      if (visit.inCollection) return visit.path;
      continue;
    }
    const members = membersOf(visit);
    for (let i = members.length - 1; i >= 0; i--) stack.push(members[i] as Visit);
  }
  return undefined;
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

/** A value to look into, as its descriptor describes it; `inCollection`: a list member or a map value. */
interface Visit {
  readonly value: unknown;
  readonly descriptor: unknown;
  readonly path: string;
  readonly inCollection?: true;
}

/** A value's members to look into next, in the request's order. */
function membersOf({ value, descriptor, path }: Visit): Visit[] {
  const { base, children } = shapeOf(descriptor);
  if (typeof value !== "object" || value === null) return []; // a type dynalite's checks refuse
  switch (base) {
    case "List":
    case "ParameterizedList":
      if (!Array.isArray(value)) return [];
      return value.map((member, i) => ({
        value: member,
        descriptor: children,
        path: `${path}.${i + 1}`,
        inCollection: true,
      }));
    case "Map":
    case "ParameterizedMap":
      if (Array.isArray(value)) return [];
      return Object.entries(value).map(([key, member]) => ({
        value: member,
        descriptor: children,
        path: `${path}.${key}`,
        inCollection: true,
      }));
    case "ValueStruct":
    case "FieldStruct":
      if (Array.isArray(value) || typeof children !== "object" || children === null) return [];
      return structMembers(value as Record<string, unknown>, children as Fields, path);
    default:
      return [];
  }
}

function structMembers(value: Record<string, unknown>, fields: Fields, path: string): Visit[] {
  const members: Visit[] = [];
  for (const name of Object.keys(fields)) {
    const member = value[name];
    // A structure's null member is an absent one, as DynamoDB reads it (dynalite's checkTypes drops it too).
    if (member == null || !Object.hasOwn(value, name)) continue;
    members.push({ value: member, descriptor: fields[name], path: path ? `${path}.${name}` : name });
  }
  return members;
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
