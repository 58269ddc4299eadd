import { isLosslessNumber, parse as parseLossless, stringify as stringifyLossless } from "lossless-json";

/**
 * A request body's JSON text: `JSON.stringify`'s, except that a member given as a `LosslessNumber` (lossless-json)
 * — of the body, or of a batch's `tasks` item — is written as the number's text, every digit as given. The API
 * reads a due time digit for digit from the JSON text and rounds a part below the millisecond up (never early:
 * shared/domain/whole-ms.ts), where a double has no room for those digits: `timing_moment` 1767225600.0000001 as a
 * JS number is 1767225600, due a fraction of a µs early. `JSON.stringify` would write the object's own fields
 * instead; Node 20 has no `JSON.rawJSON`. Only those members are looked at, where the API's numbers outside
 * `content` are (a `content` object is written as `JSON.stringify` writes it, its JSON text given as a string is
 * kept as written): any other body is `JSON.stringify`'s text, unchanged.
 */
export function bodyText(body: unknown): string {
  if (!isPlainObject(body) || !holdsExactNumber(body)) return JSON.stringify(body);
  return membersText(body, (key, value) =>
    // Array.from, not map: map keeps a sparse array's holes, which join writes as nothing (`[,{…}]`, no JSON).
    key === "tasks" && Array.isArray(value) && !("toJSON" in value)
      ? `[${Array.from(value, itemText).join(",")}]`
      : valueText(key, value),
  );
}

/**
 * The items of a batch body `bodyText` wrote with exact numbers, each as the text it holds (lossless-json reads
 * and writes each number token as it is); `JSON.parse` would read those numbers as doubles, losing the digits.
 */
export function exactItemTexts(body: string): string[] | undefined {
  try {
    const tasks = (parseLossless(body) as { tasks?: unknown } | null)?.tasks;
    return Array.isArray(tasks) ? tasks.map((task) => stringifyLossless(task) ?? "null") : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Looked for among data members only, read without running a getter: a body is read once, when written (a getter
 * read twice could answer twice, and the text sent must be what the caller's object said when the call was made).
 */
function holdsExactNumber(body: Record<string, unknown>): boolean {
  // A body with its own toJSON is written as that says, as JSON.stringify writes it.
  if ("toJSON" in body) return false;
  const tasks = Object.getOwnPropertyDescriptor(body, "tasks")?.value;
  return hasExactMember(body) || (Array.isArray(tasks) && tasks.some(hasExactMember));
}

function hasExactMember(value: unknown): boolean {
  if (!isPlainObject(value) || "toJSON" in value) return false;
  const members = Object.values(Object.getOwnPropertyDescriptors(value));
  return members.some((member) => member.enumerable && isLosslessNumber(member.value));
}

/** A batch item: its exact numbers as written when it has any; as `JSON.stringify` writes an array's item. */
function itemText(item: unknown, index: number): string {
  if (hasExactMember(item)) return membersText(item as Record<string, unknown>, valueText);
  return valueText(String(index), item) ?? "null";
}

/**
 * A member's value as JSON.stringify writes it inside its object: written as the one member of an object, so a
 * `toJSON` is called with the member's key, as JSON.stringify calls it (with "" when given the value alone).
 */
function valueText(key: string, value: unknown): string | undefined {
  if (isLosslessNumber(value)) return value.toString();
  const member = JSON.stringify({ [key]: value });
  return member === "{}" ? undefined : member.slice(JSON.stringify(key).length + 2, -1);
}

/** An object as `JSON.stringify` writes it (own enumerable string keys, in order; a member without JSON left out). */
function membersText(
  object: Record<string, unknown>,
  text: (key: string, value: unknown) => string | undefined,
): string {
  const members = Object.entries(object).flatMap(([key, value]) => {
    const written = text(key, value);
    return written === undefined ? [] : [`${JSON.stringify(key)}:${written}`];
  });
  return `{${members.join(",")}}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
