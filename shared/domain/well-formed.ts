import type { ErrorIssue } from "#shared/api/errors.js";
import { echoed } from "./echoed.js";

/**
 * A lone UTF-16 surrogate (half of a pair, such as the `\ud83d` of an emoji sent alone) has no UTF-8 form, and
 * DynamoDB strings are UTF-8: a request field stored as a string or used in a key (topic, ordering group value,
 * deliver_by, callback URL, schedule fields) holding one would be refused by the service or stored altered — and
 * a group value hashed as UTF-8 becomes U+FFFD, so `A-\ud83d` and `A-\ud83e` would be one ordering group, and a
 * reschedule of a task whose stored value was altered would move it to another. Such a field is refused instead.
 * Content is not: it is stored as JSON text, in which a lone surrogate stays its ASCII escape.
 *
 * `String.prototype.isWellFormed` says the same, but it is ES2024 and the project compiles against ES2023's
 * library (Node 20 has it; the types do not). With the `u` flag a pair is one code point, so `\p{Cs}` (surrogate)
 * matches only halves that have no partner.
 */
const LONE_SURROGATE = /\p{Cs}/u;

/** Why `value` cannot be stored as a string, naming its first lone surrogate; undefined when it can. */
export function notWellFormed(value: string): string | undefined {
  const lone = LONE_SURROGATE.exec(value);
  if (!lone) return undefined;
  const unit = lone[0].charCodeAt(0).toString(16).toUpperCase();
  return `must be well-formed Unicode: a lone surrogate (U+${unit} at ${lone.index}) has no UTF-8 form`;
}

/**
 * An issue for each string in a request's fields (nested ones included) that holds a lone surrogate, except under
 * `content` (kept as JSON text) and at or under paths that already have an issue (an unknown field, a key's own
 * rule): one reason per field is enough. Paths are written as the schema's issues are (each key echoed cut).
 */
export function notWellFormedIssues(
  fields: Readonly<Record<string, unknown>>,
  known: readonly ErrorIssue[] = [],
): ErrorIssue[] {
  const flagged = new Set(known.map((issue) => issue.path));
  const issues: ErrorIssue[] = [];
  const visit = (value: unknown, path: string): void => {
    if (flagged.has(path)) return;
    if (typeof value === "string") {
      const reason = notWellFormed(value);
      if (reason) issues.push({ path, message: reason });
    } else if (typeof value === "object" && value !== null) {
      for (const [key, item] of Object.entries(value)) visit(item, `${path}.${echoed(key)}`);
    }
  };
  for (const [key, value] of Object.entries(fields)) if (key !== "content") visit(value, echoed(key));
  return issues;
}
