import { randomUUID } from "node:crypto";
import type { APIGatewayProxyEventV2 } from "aws-lambda";

export interface ApiEventOptions {
  readonly pathParameters?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/**
 * An API Gateway HTTP API event (payload format 2.0) for a route key such as "GET /v1/tasks/{id}": its path is the
 * route's with each `{name}` replaced by `pathParameters[name]`, as written.
 */
export function apiEvent(routeKey: string, options: ApiEventOptions = {}): APIGatewayProxyEventV2 {
  const [method = "GET", template = "/"] = routeKey.split(" ");
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => options.pathParameters?.[name] ?? "");
  return {
    version: "2.0",
    routeKey,
    rawPath: path,
    rawQueryString: new URLSearchParams(options.query ?? {}).toString(),
    headers: { ...options.headers },
    ...(options.pathParameters ? { pathParameters: { ...options.pathParameters } } : {}),
    ...(options.query ? { queryStringParameters: { ...options.query } } : {}),
    requestContext: {
      http: { method, path, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "vitest" },
      requestId: randomUUID(),
    },
    ...(options.body !== undefined ? { body: options.body } : {}),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}
