import type { z } from "zod";
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
    let message = issue.message;
    if (issue.code === "invalid_type" && valueAt(input, issue.path) === undefined) message = "is required";
    out.push({ path: base.join("."), message });
  }
  return out;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (!isPlainObject(current) || typeof key === "symbol" || !Object.hasOwn(current, key)) return undefined;
    current = current[key as string];
  }
  return current;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
