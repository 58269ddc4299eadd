import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ROUTES } from "../../../client/routes.js";
import { API_ROUTES } from "../../../shared/api/routes.js";

/**
 * README "API (v1)" opens with every route the API serves: exactly the route table's rows, so none is missed; and
 * each route's section names its typed client method.
 */
const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");

function routesTable(): string[] {
  const lines = readme.slice(readme.indexOf("**Routes** (the route table")).split("\n");
  const first = lines.findIndex((line) => line.startsWith("|"));
  const end = lines.findIndex((line, i) => i > first && !line.startsWith("|"));
  return lines.slice(first + 2, end).map((line) => /^\| `([^`]+)`/.exec(line)?.[1] ?? line);
}

describe("README routes table", () => {
  it("lists exactly the routes of shared/api/routes.ts", () => {
    expect(routesTable().sort()).toEqual(API_ROUTES.map((route) => route.routeKey).sort());
  });

  it("names every method of the typed client (client/routes.ts)", () => {
    const named = (method: string) => new RegExp(`\\b${method}\\b`).test(readme);
    expect(Object.keys(ROUTES).filter((method) => !named(method))).toEqual([]);
  });
});
