import { describe, expect, it } from "vitest";
import { ROUTES } from "../../../client/routes.js";
import { API_ROUTES } from "../../../shared/api/routes.js";
import { readme, tableAfter } from "./readme.js";

/**
 * README "API (v1)" opens with every route the API serves: exactly the route table's rows, so none is missed; each
 * route's section names its typed client method; and every `curl` example calls one of those routes.
 */

function routesTable(): string[] {
  return tableAfter("**Routes** (the route table").map(([route]) => (route ?? "").replace(/`/g, ""));
}

/** Each `curl` of a bash block (continuation lines joined): its method (`-X`, else POST with `-d`, else GET) and path. */
function curlCalls(): { method: string; path: string }[] {
  const blocks = [...readme.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  const lines = blocks.flatMap((block) => block.replace(/\\\n\s*/g, " ").split("\n"));
  return lines
    .filter((line) => /^curl /.test(line.trim()) && line.includes("/v1/"))
    .map((line) => {
      const method = /-X (\w+)/.exec(line)?.[1] ?? (/ -d /.test(line) ? "POST" : "GET");
      const path = /(?:\$API|https?:\/\/[^/"'\s]+)(\/v1\/[^"'\s?#]*)/.exec(line)?.[1] ?? line;
      return { method, path };
    });
}

/** The route a request reaches: a route key's `{parameter}` stands for one path segment. */
function routeOf(method: string, path: string): string | undefined {
  const matches = (routeKey: string) => {
    const [keyMethod, keyPath = ""] = routeKey.split(" ");
    const pattern = keyPath.replace(/[.]/g, "\\.").replace(/\{[^}]+\}/g, "[^/]+");
    return keyMethod === method && new RegExp(`^${pattern}$`).test(path);
  };
  return API_ROUTES.map((route) => route.routeKey).find(matches);
}

describe("README routes table", () => {
  it("lists exactly the routes of shared/api/routes.ts", () => {
    expect(routesTable().sort()).toEqual(API_ROUTES.map((route) => route.routeKey).sort());
  });

  it("names every method of the typed client (client/routes.ts)", () => {
    const named = (method: string) => new RegExp(`\\b${method}\\b`).test(readme);
    expect(Object.keys(ROUTES).filter((method) => !named(method))).toEqual([]);
  });

  it("every curl example calls a route of the table", () => {
    const calls = curlCalls();
    expect(calls.length).toBeGreaterThan(30);
    const unrouted = calls.filter(({ method, path }) => routeOf(method, path) === undefined);
    expect(unrouted).toEqual([]);
  });

  it("the check itself refuses a route that does not exist", () => {
    expect(routeOf("POST", "/v1/tasks/abc/run")).toBe("POST /v1/tasks/{id}/run");
    expect(routeOf("PUT", "/v1/tasks/abc")).toBeUndefined();
    expect(routeOf("POST", "/v1/topics/demo/replay/now")).toBeUndefined();
  });
});
