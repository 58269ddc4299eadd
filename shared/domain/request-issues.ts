import type * as z from "zod/mini";
import type { ErrorIssue } from "#shared/api/errors.js";
import { echoed } from "./echoed.js";

// Request issues for every route, in a module that builds no zod schema: a route that imports only these does not
// bundle the add-task request's schemas (top-level schema construction is code esbuild must keep).

/**
 * zod issues → `{path, message}`; an unknown field becomes one issue per field, at that field's path, and a
 * missing field says so plainly instead of zod's "expected string, received undefined".
 */
export function toIssues(issues: readonly z.core.$ZodIssue[], input?: unknown): ErrorIssue[] {
  const out: ErrorIssue[] = [];
  for (const issue of issues) {
    // Paths hold the caller's own keys (an unknown field, a record's key): each is echoed cut.
    const base = issue.path.map((segment) => echoed(String(segment)));
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys)
        out.push({ path: [...base, echoed(key)].join("."), message: "unknown field" });
      continue;
    }
    out.push({ path: base.join("."), message: messageOf(issue, input) });
  }
  return out;
}

/**
 * zod's message, but plain where it would mislead: a missing member "is required", and a number the JSON body
 * parser kept as written (lossless-json's `LosslessNumber`, exact-json.ts) is "received number" — zod names an
 * object by its class, which would tell the caller our parser's name for a plain JSON number.
 */
function messageOf(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code !== "invalid_type") return issue.message;
  const value = valueAt(input, issue.path);
  if (value === undefined) return "is required";
  if (isLosslessNumberLike(value)) return `Invalid input: expected ${issue.expected}, received number`;
  return issue.message;
}

/** The value at a zod issue's path: members of plain objects and items of arrays; undefined where there is none. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (Array.isArray(current) && typeof key === "number") {
      current = current[key];
      continue;
    }
    if (!isPlainObject(current) || typeof key === "symbol" || !Object.hasOwn(current, key)) return undefined;
    current = current[key as string];
  }
  return current;
}

/**
 * lossless-json's marker on its class, read here so that routes importing these issues do not bundle the parser.
 * A parsed JSON object is plain, so a caller's `{"isLosslessNumber":true}` is not taken for one.
 */
function isLosslessNumberLike(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value) || isPlainObject(value))
    return false;
  return (value as { isLosslessNumber?: unknown }).isLosslessNumber === true;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Past this many unknown fields a body is refused for them alone, none of its values read: reading each (its
 * numbers, its strings for lone surrogates, the schema) took seconds for a 4 MiB batch item of 450,000 of them, close
 * to the function's time, to list 20 issues (and ~1 s of CPU for 200,000 in a PATCH or a schedule).
 */
export const MAX_UNKNOWN_FIELDS = 1000;

/**
 * A body's refusal for more than MAX_UNKNOWN_FIELDS fields outside `known` (a schema's shape), read from its keys
 * alone and worded as the schema's own refusal of them would be; undefined for a body with fewer.
 */
export function tooManyUnknownFields(body: object, known: object): ErrorIssue[] | undefined {
  const unknown = Object.keys(body).filter((key) => !Object.hasOwn(known, key));
  if (unknown.length <= MAX_UNKNOWN_FIELDS) return undefined;
  return toIssues([{ code: "unrecognized_keys", keys: unknown, path: [], message: "" } as z.core.$ZodIssue]);
}
