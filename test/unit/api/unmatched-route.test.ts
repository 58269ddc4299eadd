import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { unmatchedRouteError } from "#shared/api/unmatched-route.js";
import { silentLogger } from "./fakes.js";

const ROUTE_KEYS = ["POST /v1/tasks", "GET /v1/tasks/{id}", "DELETE /v1/tasks/{id}", "GET /v1/files/{path+}"];

describe("unmatchedRouteError", () => {
  it("answers 405 with the path's methods in Allow when the path exists", () => {
    const cases: [string, string, string][] = [
      ["PUT", "/v1/tasks", "POST"],
      ["GET", "/v1/tasks", "POST"],
      ["PATCH", "/v1/tasks/t-1", "DELETE, GET"],
      ["POST", "/v1/files/a/b/c", "GET"],
    ];
    for (const [method, path, allow] of cases) {
      const error = unmatchedRouteError(ROUTE_KEYS, method, path);
      expect(error.status, `${method} ${path}`).toBe(405);
      expect(error.code).toBe("method_not_allowed");
      expect(error.headers).toEqual({ allow });
    }
  });

  it("answers 404 for a path no route has, segment by segment", () => {
    for (const path of [
      "/",
      "/v1",
      "/v1/tasks/",
      "/v1/tasks/t-1/extra",
      "/V1/tasks",
      "/v1/files",
      "/v2/tasks",
    ]) {
      const error = unmatchedRouteError(ROUTE_KEYS, "GET", path);
      expect(error.status, path).toBe(404);
      expect(error.code).toBe("not_found");
      expect(error.headers ?? {}).toEqual({});
    }
  });
});

describe("the unmatched-route function", () => {
  let createHandler: typeof import("#functions/unmatched-route.js").createHandler;
  beforeAll(async () => {
    vi.stubEnv("PUNCTUAL_ENV", "local");
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "SILENT");
    ({ createHandler } = await import("#functions/unmatched-route.js"));
    vi.unstubAllEnvs();
  });

  function defaultRouteEvent(method: string, path: string): APIGatewayProxyEventV2 {
    return {
      version: "2.0",
      routeKey: "$default",
      rawPath: path,
      rawQueryString: "",
      headers: {},
      requestContext: {
        accountId: "000000000000",
        apiId: "local",
        domainName: "localhost",
        domainPrefix: "local",
        http: { method, path, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "vitest" },
        requestId: "r-1",
        routeKey: "$default",
        stage: "$default",
        time: new Date().toISOString(),
        timeEpoch: Date.now(),
      },
      isBase64Encoded: false,
    };
  }
  const context = { awsRequestId: "req-1", getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

  it("answers the structured error body, with Allow on a 405", async () => {
    const handler = createHandler({ routeKeys: ROUTE_KEYS, logger: silentLogger() });

    const wrongMethod = (await handler(
      defaultRouteEvent("PUT", "/v1/tasks/t-1"),
      context,
    )) as APIGatewayProxyStructuredResultV2;
    const unknownPath = (await handler(
      defaultRouteEvent("GET", "/nope"),
      context,
    )) as APIGatewayProxyStructuredResultV2;

    expect(wrongMethod.statusCode).toBe(405);
    expect(wrongMethod.headers).toMatchObject({ allow: "DELETE, GET", "content-type": "application/json" });
    expect(JSON.parse(wrongMethod.body ?? "")).toEqual({
      error: { code: "method_not_allowed", message: "method not allowed; use DELETE, GET" },
    });
    expect(unknownPath.statusCode).toBe(404);
    expect(JSON.parse(unknownPath.body ?? "")).toEqual({
      error: { code: "not_found", message: "no such route" },
    });
  });
});
