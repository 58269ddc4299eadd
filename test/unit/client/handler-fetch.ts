import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { vi } from "vitest";
import { API_FUNCTION_ENV } from "../../support/function-env.js";
import { fixture, silentLogger } from "../api/fakes.js";

type Handler = ReturnType<typeof import("#functions/add-task.js").createHandler>;
let modules:
  | { single: typeof import("#functions/add-task.js"); batch: typeof import("#functions/add-tasks-batch.js") }
  | undefined;

/** Imports the add handlers under the environment their cold start reads (call in `beforeAll`). */
export async function loadAddHandlers(): Promise<void> {
  const vars = API_FUNCTION_ENV;
  for (const [name, value] of Object.entries(vars)) vi.stubEnv(name, value);
  modules = {
    single: await import("#functions/add-task.js"),
    batch: await import("#functions/add-tasks-batch.js"),
  };
  vi.unstubAllEnvs();
}

const context = { functionName: "t", awsRequestId: "r", getRemainingTimeInMillis: () => 10_000 } as Context;

/**
 * A `fetch` that hands each request to its route's real handler (the single add's and the batch's, over one fixture
 * store, as API Gateway would invoke them), and records the paths and bodies it was sent.
 */
export function handlerFetch() {
  if (!modules) throw new Error("call loadAddHandlers() in beforeAll first");
  const f = fixture(Date.now());
  const deps = { ...f.deps, logger: silentLogger() };
  const handlers: Record<string, Handler> = {
    "/v1/tasks": modules.single.createHandler(deps),
    "/v1/tasks/batch": modules.batch.createHandler(deps),
  };
  const paths: string[] = [];
  const bodies: unknown[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const url = new URL(String(input));
    paths.push(url.pathname);
    bodies.push(init?.body);
    const handle = handlers[url.pathname];
    if (!handle) throw new Error(`no handler for ${url.pathname}`);
    const event = {
      version: "2.0",
      routeKey: `POST ${url.pathname}`,
      rawPath: url.pathname,
      rawQueryString: "",
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      requestContext: { http: { method: "POST", path: url.pathname } },
      body: init?.body as string,
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2;
    const answer = (await handle(event, context)) as APIGatewayProxyStructuredResultV2;
    return new Response(answer.body ?? "", {
      status: answer.statusCode ?? 200,
      headers: answer.headers as Record<string, string>,
    });
  };
  return { fetch, paths, bodies, store: f.store };
}
