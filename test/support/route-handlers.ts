import { beforeAll, vi } from "vitest";
import type { HttpHandler } from "#shared/api/http-route.js";
import { API_ROUTES } from "#shared/api/routes.js";
import { topicMapping } from "./fakes/topic-switch.js";
import { API_FUNCTION_ENV } from "./function-env.js";

/** The environment a route's module reads when imported: the API function's, with one topic `demo`. */
const ROUTE_MODULE_ENV = {
  ...API_FUNCTION_ENV,
  PUNCTUAL_TOPOLOGY: JSON.stringify({
    topicMappings: { demo: topicMapping("demo") },
    topicQueues: { demo: topicMapping("demo").queueUrl },
  }),
};

export type CreateHandler = (deps: unknown) => HttpHandler;

export interface RouteEntry {
  readonly name: string;
  readonly entry: string;
}

/**
 * Each route's real `createHandler`, by route name, imported from the table's `entry` in a `beforeAll` of the
 * calling file (the map is empty until then). The environment is stubbed only while the modules load, since they
 * read it at import.
 */
export function routeHandlerFactories(
  routes: readonly RouteEntry[] = API_ROUTES,
): ReadonlyMap<string, CreateHandler> {
  const factories = new Map<string, CreateHandler>();
  beforeAll(async () => {
    for (const [name, value] of Object.entries(ROUTE_MODULE_ENV)) vi.stubEnv(name, value);
    const root = new URL("../../", import.meta.url);
    for (const route of routes) {
      const module = (await import(new URL(route.entry, root).href)) as { createHandler: CreateHandler };
      factories.set(route.name, module.createHandler);
    }
    vi.unstubAllEnvs();
  });
  return factories;
}

/** A lookup of the route named `name`'s handler built on `deps`; throws for a route the map lacks. */
export function handlersOn(factories: ReadonlyMap<string, CreateHandler>, deps: unknown) {
  return (name: string): HttpHandler => {
    const create = factories.get(name);
    if (!create) throw new Error(`no handler for route ${name}`);
    return create(deps);
  };
}
