import { type HttpError, methodNotAllowed, notFound } from "./errors.js";

/**
 * What the API answers for a request no route took (API Gateway's `$default` route): 405 with an `Allow` header
 * when the path exists under other methods, else 404. `routeKeys` are the stack's own (`GET /v1/tasks/{id}`),
 * imported by the function from the route table (shared/api/routes.ts) the stack builds its routes from.
 */
export function unmatchedRouteError(routeKeys: readonly string[], method: string, path: string): HttpError {
  const allowed = new Set<string>();
  for (const key of routeKeys) {
    const [routeMethod, routePath] = key.split(" ");
    if (routeMethod && routePath && pathPattern(routePath).test(path)) allowed.add(routeMethod.toUpperCase());
  }
  if (allowed.size === 0 || allowed.has(method.toUpperCase())) return notFound("no such route");
  return methodNotAllowed([...allowed].sort());
}

/**
 * API Gateway's path matching: `{name}` is one non-empty segment, a final `{name+}` is one or more. Literal
 * segments compare exactly (API Gateway's paths are case-sensitive).
 */
function pathPattern(routePath: string): RegExp {
  const source = routePath
    .split("/")
    .map((segment) => {
      if (/^\{\w+\+\}$/.test(segment)) return ".+";
      if (/^\{\w+\}$/.test(segment)) return "[^/]+";
      return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return new RegExp(`^${source}$`);
}
