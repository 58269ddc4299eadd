import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { type RequestTarget, targetParts } from "#shared/api/request-target.js";
import { answerParserRefusals } from "../../console/server.js";
import { createLambdaContext, invokeWithTimeout } from "./lambda-context.js";
import type { LambdaHandler } from "./sqs-event-source.js";

export interface ApiRoute {
  /** API Gateway route key, e.g. `GET /v1/tasks/{id}`. */
  readonly routeKey: string;
  readonly functionName: string;
  readonly handler: LambdaHandler;
  readonly timeoutSeconds: number;
}

/** The route key of API Gateway's catch-all route. */
const DEFAULT_ROUTE_KEY = "$default";

/** API Gateway's payload limit: larger requests never reach a function. */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

/**
 * Lambda's limit on a synchronous invocation's event, and on its result, each: 6 MiB ("Request must be smaller than
 * 6291456 bytes for the InvokeFunction operation"). Past it the invocation fails and API Gateway answers its bare
 * 500: the function never runs, or its answer is lost. Without it here, a body API Gateway takes (under 10 MB) but
 * Lambda refuses would reach the function locally and be answered by our own code, hiding the real 500.
 */
const MAX_INVOCATION_BYTES = 6 * 1024 * 1024;

/**
 * API Gateway's integration timeout for a Lambda integration (HTTP API: 30 s, the most it allows): past it the caller
 * gets a 503 while the function goes on to its own timeout. Every API function's is shorter (cdk/lib/sizing.ts), so
 * this only shows when a route's timeout is raised past it.
 */
const INTEGRATION_TIMEOUT_MS = 30_000;

/**
 * An HTTP API quota: "Total combined size of request line and header values: 10240 bytes", not adjustable
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html). Node's parser takes 16 KiB,
 * so without this a request AWS refuses before any function runs (a long group value percent-encoded in a path or
 * `?group=`, beside a SigV4 session token or a JWT) was served locally. AWS documents the quota, not its answer:
 * 431 is HTTP's status for it (RFC 6585 §5), with API Gateway's `{"message"}` body; any 4xx says nothing was done.
 */
const MAX_REQUEST_LINE_AND_HEADER_VALUES_BYTES = 10_240;

/** Room in an event for everything but the body: headers (at most 10,240 bytes, above), the query, the context. */
const EVENT_OVERHEAD_BYTES = 64 * 1024;

/**
 * The HTTP API as API Gateway runs it: each request becomes a payload-v2 event for the route's function, and
 * the function's result becomes the response. A request no route matches goes to the `$default` route when the
 * stack has one, else gets API Gateway's own 404 body.
 */
export async function startApiServer(options: {
  readonly host: string;
  readonly port: number;
  readonly routes: readonly ApiRoute[];
  readonly log?: (line: string) => void;
  /** Served before the routes (the console under /console); answers whether it handled the request. */
  readonly prelude?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;
  /** API Gateway's integration timeout; 30 s unless a test shortens it. */
  readonly integrationTimeoutMs?: number;
  /** Headers on the answers to what Node's HTTP parser refuses (the console's, which shares this origin). */
  readonly parserRefusalHeaders?: Readonly<Record<string, string>>;
}): Promise<{ url: string; stop(): Promise<void>; inFlight(): number }> {
  const api: ApiState = {
    ...routeTable(options.routes),
    options,
    inFlight: 0,
    accepting: true,
  };
  const server = http.createServer((req, res) => serveRequest(api, req, res));
  server.keepAliveTimeout = 65_000;
  if (options.parserRefusalHeaders) answerParserRefusals(server, options.parserRefusalHeaders);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    inFlight: () => api.inFlight,
    stop: () => stopServer(server, api),
  };
}

interface RouteMatcher {
  readonly route: ApiRoute;
  readonly method: string;
  readonly pattern: RegExp;
  readonly names: string[];
}

/** The routes, the server's in-flight count and whether it still takes requests. */
interface ApiState {
  readonly matchers: readonly RouteMatcher[];
  readonly catchAll: RouteMatcher | undefined;
  readonly options: {
    readonly log?: (line: string) => void;
    readonly prelude?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;
    readonly integrationTimeoutMs?: number;
  };
  inFlight: number;
  accepting: boolean;
}

function routeTable(routes: readonly ApiRoute[]) {
  // `$default` is API Gateway's catch-all route: it takes whatever no other route matched.
  const matchers = routes
    .filter((route) => route.routeKey !== DEFAULT_ROUTE_KEY)
    .map((route) => ({ route, ...compile(route.routeKey) }));
  const defaultRoute = routes.find((route) => route.routeKey === DEFAULT_ROUTE_KEY);
  const catchAll = defaultRoute ? { route: defaultRoute, method: "", pattern: /^/, names: [] } : undefined;
  return { matchers, catchAll };
}

async function serveRequest(api: ApiState, req: http.IncomingMessage, res: http.ServerResponse) {
  if (!api.accepting)
    return send(res, { statusCode: 503, body: JSON.stringify({ message: "Service Unavailable" }) });
  api.inFlight++;
  try {
    if (await api.options.prelude?.(req, res)) return;
    // An HTTP API names each request in this header, whoever answers it (API Gateway itself or a function).
    const requestId = randomUUID();
    res.setHeader("apigw-requestid", requestId);
    if (requestLineAndHeaderValuesBytes(req) > MAX_REQUEST_LINE_AND_HEADER_VALUES_BYTES) {
      return send(res, {
        statusCode: 431,
        body: JSON.stringify({ message: "Request Header Fields Too Large" }),
      });
    }
    // The query is read through URL; the path never is (targetParts).
    const target = targetParts(req.url ?? "/");
    const method = (req.method ?? "GET").toUpperCase();
    const match = matchRoute(api, method, target.path);
    if (!match) return send(res, { statusCode: 404, body: JSON.stringify({ message: "Not Found" }) });
    const body = await readBody(req);
    if (body === undefined) {
      return send(res, { statusCode: 413, body: JSON.stringify({ message: "Request Entity Too Large" }) });
    }
    const event = toEvent(req, target, method, match.m.route.routeKey, match.params, body, requestId);
    if (
      body.length * 6 + EVENT_OVERHEAD_BYTES > MAX_INVOCATION_BYTES &&
      eventBytes(event) > MAX_INVOCATION_BYTES
    )
      throw new Error("Request must be smaller than 6291456 bytes for the InvokeFunction operation");
    const { route } = match.m;
    const context = createLambdaContext(route.functionName, route.timeoutSeconds);
    const invocation = invokeWithTimeout(() => route.handler(event as never, context), route.timeoutSeconds);
    const result = await withinIntegrationTimeout(api, invocation);
    if (result === INTEGRATION_TIMED_OUT)
      return send(res, { statusCode: 503, body: JSON.stringify({ message: "Service Unavailable" }) });
    const resultBytes = Buffer.byteLength(JSON.stringify(result) ?? "");
    if (resultBytes > MAX_INVOCATION_BYTES)
      throw new Error(`Response payload size (${resultBytes} bytes) exceeded maximum allowed payload size`);
    send(res, responseOf(result));
  } catch (error) {
    api.options.log?.(`[api] ${(error as Error).message}`);
    send(res, { statusCode: 500, body: JSON.stringify({ message: "Internal Server Error" }) });
  } finally {
    api.inFlight--;
  }
}

/**
 * The request line (`POST /v1/tasks?x=1 HTTP/1.1`) and every header value, in bytes as they came: Node keeps a
 * head's bytes one character each (latin1), so a string's length is its byte count.
 */
function requestLineAndHeaderValuesBytes(req: http.IncomingMessage): number {
  let bytes = `${req.method} ${req.url} HTTP/${req.httpVersion}`.length;
  for (let i = 1; i < req.rawHeaders.length; i += 2) bytes += (req.rawHeaders[i] as string).length;
  return bytes;
}

const INTEGRATION_TIMED_OUT = Symbol("integration timed out");

/**
 * The invocation's result, or INTEGRATION_TIMED_OUT once API Gateway would stop waiting for it. The function is
 * not stopped then (Lambda does not stop it either): it stays counted in flight until it ends, however it ends.
 */
async function withinIntegrationTimeout(
  api: ApiState,
  invocation: Promise<unknown>,
): Promise<unknown | typeof INTEGRATION_TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<typeof INTEGRATION_TIMED_OUT>((resolve) => {
    timer = setTimeout(
      () => resolve(INTEGRATION_TIMED_OUT),
      api.options.integrationTimeoutMs ?? INTEGRATION_TIMEOUT_MS,
    );
  });
  try {
    const outcome = await Promise.race([invocation, timedOut]);
    if (outcome === INTEGRATION_TIMED_OUT) {
      api.inFlight++;
      invocation.then(
        () => api.inFlight--,
        (error: Error) => {
          api.inFlight--;
          api.options.log?.(`[api] after the integration timeout: ${error.message}`);
        },
      );
    }
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The route a request takes and its path parameters, decoded; else the `$default` route, else undefined. A path
 * whose percent-encoding does not decode (`/v1/tasks/%ZZ`, `%E0%A4%A`) matches no route: API Gateway decodes the
 * path before it matches routes, so such a request reaches `$default` (whose function answers 404), never a route
 * function — nor a bare 500 from this server's own decoding. For the same reason an encoded slash (`a%2Fb`) is a
 * separator there: a parameter that decodes to one matches no route (a group named `a/b` travels in `?group=`).
 * Nor does one that decodes to a dot segment (`..`, `%2e`): the strict reading of what API Gateway leaves undocumented
 * (targetParts), so that no path climbs out of its route, here or in a function that joins it into another.
 */
function matchRoute(
  api: ApiState,
  method: string,
  pathname: string,
): { m: RouteMatcher; params: Record<string, string> } | undefined {
  for (const m of api.matchers) {
    const found = m.method === method ? m.pattern.exec(pathname) : null;
    const params = found && decodedParameters(m.names, found);
    if (params) return { m, params };
  }
  return api.catchAll ? { m: api.catchAll, params: {} } : undefined;
}

function decodedParameters(
  names: readonly string[],
  found: RegExpExecArray,
): Record<string, string> | undefined {
  try {
    const values = names.map((_, i) => decodeURIComponent(found[i + 1] ?? ""));
    if (values.some((value) => value.includes("/") || value === "." || value === "..")) return undefined;
    return Object.fromEntries(names.map((n, i) => [n, values[i] ?? ""]));
  } catch {
    return undefined;
  }
}

async function stopServer(server: http.Server, api: ApiState): Promise<void> {
  api.accepting = false;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  while (api.inFlight > 0) await new Promise((r) => setTimeout(r, 20));
  server.closeAllConnections();
  await closed;
}

function compile(routeKey: string) {
  const [method = "GET", path = "/"] = routeKey.split(" ");
  const names: string[] = [];
  const source = path
    .split("/")
    .map((part) => {
      const param = /^\{(\w+)\}$/.exec(part);
      if (!param) return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      names.push(param[1] as string);
      return "([^/]+)";
    })
    .join("/");
  return { method: method.toUpperCase(), pattern: new RegExp(`^${source}$`), names };
}

/**
 * The request body, or undefined past API Gateway's limit. Read with 'data'/'end' listeners rather than
 * `for await`: the async iterator cost ~2 % of the API thread's CPU per add, for a body that is one chunk.
 */
function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        req.removeAllListeners("data");
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.once("end", () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.once("error", reject);
  });
}

/**
 * As API Gateway (HTTP API, payload 2.0) builds `queryStringParameters`: a repeated key's values joined with a
 * comma, an empty value kept (`x=&x=y` → `",y"`). Through a Map, so a key Object.prototype has (`constructor`,
 * `__proto__`) is an ordinary key, not joined to the prototype's value or dropped.
 */
function queryParametersOf(url: Pick<URL, "searchParams">): Record<string, string> {
  const joined = new Map<string, string>();
  for (const [name, value] of url.searchParams) {
    const before = joined.get(name);
    joined.set(name, before === undefined ? value : `${before},${value}`);
  }
  return Object.fromEntries(joined);
}

/**
 * The event's bytes as Lambda counts them, at worst: whether API Gateway writes a non-ASCII character as UTF-8 or
 * as `\uXXXX` its documentation does not say (shared/api/lambda-event-size.ts), so each UTF-16 unit counts six.
 * Only measured for a body that could reach the limit: a 6-byte escape per body byte cannot below it.
 */
function eventBytes(event: APIGatewayProxyEventV2): number {
  const json = JSON.stringify(event);
  let bytes = json.length;
  for (let i = 0; i < json.length; i++) if (json.charCodeAt(i) >= 0x80) bytes += 5;
  return bytes;
}

/** `target`: the request's path as sent and its query (targetParts). */
function toEvent(
  req: http.IncomingMessage,
  target: RequestTarget,
  method: string,
  routeKey: string,
  params: Record<string, string>,
  body: Buffer,
  requestId: string,
): APIGatewayProxyEventV2 {
  // Payload 2.0 combines a repeated header's values with ","; `req.headers` would keep only the first of some
  // (content-type, user-agent, …) and join the rest with ", ", so a body sent as two content types would pass here.
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values !== undefined && name !== "cookie") headers[name.toLowerCase()] = values.join(",");
  }
  const { path } = target;
  const cookies = cookiesOf(req);
  const query = queryParametersOf(target);
  const isText = body.length === 0 || isTextMediaType(headers["content-type"]);
  const now = new Date();
  return {
    version: "2.0",
    routeKey,
    rawPath: path,
    rawQueryString: target.search.slice(1),
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(Object.keys(params).length > 0 ? { pathParameters: params } : {}),
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: headers.host ?? "localhost",
      domainPrefix: "local",
      http: {
        method,
        path,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId,
      routeKey,
      stage: "$default",
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 ? { body: isText ? body.toString("utf8") : body.toString("base64") } : {}),
    isBase64Encoded: body.length > 0 && !isText,
  };
}

/** The media types whose body payload 2.0 hands over as text; API Gateway base64-encodes every other. */
const TEXT_MEDIA_TYPES = new Set(["application/json", "application/xml", "application/javascript"]);

/**
 * Whether API Gateway hands a body of this content type to the function as text rather than base64. AWS documents
 * only that a binary body is base64-encoded, not which types are text; observed on an HTTP API (payload 2.0,
 * https://github.com/ministackorg/ministack/pull/766): text/* and TEXT_MEDIA_TYPES, by the media type before any
 * parameter, in any case; everything else, no content type and application/x-www-form-urlencoded included, base64.
 * Read on the value the event carries: two Content-Type headers, joined with a comma, are read by the media type
 * before the first `;` (`application/json,text/plain` is base64, `application/json;v=1,text/plain` text). What AWS
 * does with two is not documented; every JSON route refuses a content type holding a comma (415) either way.
 */
function isTextMediaType(contentType: string | undefined): boolean {
  const mediaType = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  return mediaType.startsWith("text/") || TEXT_MEDIA_TYPES.has(mediaType);
}

/**
 * Payload 2.0 takes Cookie headers out of `headers` into `cookies`, one entry a cookie
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
 */
function cookiesOf(req: http.IncomingMessage): string[] {
  return (req.headersDistinct.cookie ?? [])
    .flatMap((header) => header.split(";"))
    .map((cookie) => cookie.trim())
    .filter((cookie) => cookie !== "");
}

/**
 * A function's result as payload 2.0 reads it: an object with a `statusCode` is the response; a string is the body;
 * any other JSON (an object without one: a handler that forgot to wrap its answer) is sent whole as a 200 JSON body.
 */
function responseOf(result: unknown): APIGatewayProxyStructuredResultV2 {
  if (typeof result === "string") return { statusCode: 200, body: result };
  if (typeof result === "object" && result !== null && "statusCode" in result)
    return result as APIGatewayProxyStructuredResultV2;
  return { statusCode: 200, body: result === undefined ? "" : JSON.stringify(result) };
}

/** Payload 2.0's `cookies` leave as one Set-Cookie header each (the page cited at cookiesOf). */
function send(res: http.ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  const headers: Record<string, string | number | boolean | string[]> = { ...(result.headers ?? {}) };
  if (result.cookies?.length) headers["set-cookie"] = [...result.cookies];
  if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type"))
    headers["content-type"] = "application/json";
  const body = result.isBase64Encoded
    ? Buffer.from(result.body ?? "", "base64")
    : Buffer.from(result.body ?? "");
  res.writeHead(result.statusCode ?? 200, headers as http.OutgoingHttpHeaders);
  res.end(body);
}
