import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ROUTES } from "../../../client/routes.js";
import { API_ROUTES } from "../../../shared/api/routes.js";
import { topicSettingsSchema } from "../../../shared/config/schema.js";
import { tableAfter, userDocs } from "./readme.js";

/**
 * README "API (v1)" holds the table of every route the API serves: exactly the route table's rows, so none is
 * missed; the user docs (README and the reference documents, docs/API.md holding each route's section:
 * ./readme.ts) name every typed client method; and every `curl` example they show calls one of those routes, with
 * a status its route answers and field names its answers have (as docs/openapi.json, generated from the route
 * schemas, says).
 */
const openapi = JSON.parse(readFileSync(new URL("../../../docs/openapi.json", import.meta.url), "utf8")) as {
  paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
};

function routesTable(): string[] {
  return tableAfter("**Routes** (the route table").map(([route]) => (route ?? "").replace(/`/g, ""));
}

/** The user docs' bash blocks, a `\\` continuation joined to its line. */
function bashBlocks(): string[][] {
  return [...userDocs.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) =>
    (m[1] ?? "").replace(/\\\n\s*/g, " ").split("\n"),
  );
}

/**
 * Each `curl` of a bash block: its method (`-X`, else POST with `-d`, else GET), its path, and the status the docs
 * show for it (`# 201 …` after it on its line, else the first such comment line before the next curl), if any.
 */
function curlCalls(): { method: string; path: string; status?: string }[] {
  return bashBlocks().flatMap((lines) =>
    lines.flatMap((line, i) => {
      if (!/^curl /.test(line.trim()) || !line.includes("/v1/")) return [];
      const method = /-X (\w+)/.exec(line)?.[1] ?? (/ -d /.test(line) ? "POST" : "GET");
      const path = /(?:\$API|https?:\/\/[^/"'\s]+)(\/v1\/[^"'\s?#]*)/.exec(line)?.[1] ?? line;
      const next = lines.slice(i + 1).findIndex((after) => /^curl /.test(after.trim()));
      const comments = [
        line.slice(line.indexOf(" #")),
        ...lines.slice(i + 1, next < 0 ? undefined : i + 1 + next),
      ];
      const status = comments.map((c) => /^\s*#\s*(\d{3})\b/.exec(c)?.[1]).find(Boolean);
      return [{ method, path, ...(status ? { status } : {}) }];
    }),
  );
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
    const named = (method: string) => new RegExp(`\\b${method}\\b`).test(userDocs);
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

  it("every status a curl example shows is one its route answers", () => {
    const shown = curlCalls().filter((call) => call.status !== undefined);
    expect(shown.length).toBeGreaterThan(20);
    const unanswered = shown.filter(({ method, path, status }) => {
      const [, routePath = ""] = (routeOf(method, path) ?? " ").split(" ");
      return !Object.keys(openapi.paths[routePath]?.[method.toLowerCase()]?.responses ?? {}).includes(
        status as string,
      );
    });
    expect(unanswered).toEqual([]);
  });

  it("every field the examples' answers show is one the API's answers have", () => {
    const fields = new Set<string>();
    const collect = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(collect);
      else if (node && typeof node === "object") {
        const { properties } = node as { properties?: unknown };
        if (properties && typeof properties === "object")
          for (const key of Object.keys(properties)) fields.add(key);
        Object.values(node).forEach(collect);
      }
    };
    collect(openapi);
    // A topic view's `settings` is the runtime document's row for it (free-form in the schema), plus its `name`.
    for (const key of [...Object.keys(topicSettingsSchema.shape), "name"]) fields.add(key);
    const shown = bashBlocks()
      .filter((lines) => lines.some((line) => /^curl /.test(line.trim())))
      .flatMap((lines) =>
        lines.filter((line) => line.includes("#")).map((line) => line.slice(line.indexOf("#"))),
      )
      .flatMap((comment) => [...comment.matchAll(/"([A-Za-z_]\w*)":/g)].map((m) => m[1] as string));
    expect(shown.length).toBeGreaterThan(50);
    expect([...new Set(shown)].filter((field) => !fields.has(field))).toEqual([]);
  });
});
