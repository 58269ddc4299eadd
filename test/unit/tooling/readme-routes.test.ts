import { describe, expect, it } from "vitest";
import { ROUTES } from "../../../client/routes.js";
import { API_ROUTES } from "../../../shared/api/routes.js";
import { readme, tableAfter } from "./readme.js";

/**
 * README "API (v1)" opens with every route the API serves: exactly the route table's rows, so none is missed; and
 * each route's section names its typed client method.
 */

function routesTable(): string[] {
  return tableAfter("**Routes** (the route table").map(([route]) => (route ?? "").replace(/`/g, ""));
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
