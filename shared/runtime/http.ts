import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy, { type MiddlewareObj, type MiddyfiedHandler } from "@middy/core";
import httpHeaderNormalizer from "@middy/http-header-normalizer";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import type { PunctualConfig } from "#shared/config/index.js";
import { parseExactJson } from "#shared/domain/exact-json.js";
import {
  type HttpError,
  invalidJson,
  methodNotAllowed,
  notFound,
  payloadTooLarge,
  serviceUnavailable,
  toHttpError,
  unsupportedMediaType,
  validationFailed,
} from "#shared/domain/http-errors.js";
import { serviceName } from "#shared/domain/metrics.js";

/**
 * Hard cap on a request body, checked before parsing. Topic limits (at most 350 KiB of content) are enforced
 * later on the parsed content; this only keeps a huge body from being parsed at all. A content sent as an
 * escaped JSON string can be several times its own size, hence the headroom.
 */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;

/**
 * Nesting limit for any JSON body, checked before parsing (the parser recurses; a body of a million `[` would
 * overflow the stack). Far above what a route accepts (content: 64 levels), so routes still give their own error.
 */
export const MAX_JSON_DEPTH = 128;

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export type HttpMethod = "GET" | "POST" | "DELETE";

export interface HttpRequest {
  readonly event: APIGatewayProxyEventV2;
  /**
   * The JSON-parsed body for routes that take one; undefined otherwise. Parsed losslessly (shared/domain/exact-json.ts):
   * numbers are `LosslessNumber`s holding the token as written, and no object has a key twice.
   */
  readonly body: unknown;
  /** Request header by lower-case name. */
  header(name: string): string | undefined;
  pathParameter(name: string): string | undefined;
}

export interface HttpResult {
  readonly statusCode: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export type HttpHandler = MiddyfiedHandler<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>;

export interface RouteOptions {
  /** `ANY`: the route takes every method (API Gateway's `$default` route). */
  readonly method: HttpMethod | "ANY";
  readonly logger: Logger;
  /** The route takes a JSON body (415 for another content type, 400 for malformed JSON, 413 above the cap). */
  readonly jsonBody?: boolean;
  /** Path parameters the route needs; a request without them is 404 (no such resource), not a 500. */
  readonly pathParameters?: readonly string[];
  readonly maxBodyBytes?: number;
  /**
   * Answer this long before the Lambda deadline (a 503 the client can retry) instead of letting Lambda kill
   * the invocation, which API Gateway would turn into a bodyless 500.
   */
  readonly timeoutEarlyMs?: number;
}

type LoggerLevel = NonNullable<NonNullable<ConstructorParameters<typeof Logger>[0]>["logLevel"]>;

const parsedBodies = new WeakMap<object, unknown>();

/**
 * The middy stack every HTTP function uses. Order: the error responder is registered first because middy runs
 * `onError` in reverse, so it is the last word on every error; then Powertools' context injection, header
 * normalisation (API Gateway passes headers as the client sent them), and our request guard.
 */
export function httpRoute(
  options: RouteOptions,
  handle: (request: HttpRequest) => Promise<HttpResult>,
): HttpHandler {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>({
    timeoutEarlyInMillis: options.timeoutEarlyMs ?? 500,
    timeoutEarlyResponse: () => {
      throw serviceUnavailable("the request timed out; retry it");
    },
  })
    .use(errorResponder(options.logger))
    .use(injectLambdaContext(options.logger))
    .use(headerConflictGuard())
    .use(httpHeaderNormalizer())
    .use(requestGuard(options))
    .handler(async (event) => {
      const headers = event.headers ?? {};
      const result = await handle({
        event,
        body: parsedBodies.get(event),
        header: (name) => headers[name.toLowerCase()],
        pathParameter: (name) => event.pathParameters?.[name],
      });
      return jsonResponse(result.statusCode, result.body, result.headers);
    });
}

export function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: {
      ...headers,
      "content-type": "application/json",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
    body: JSON.stringify(body),
  };
}

function requestGuard(options: RouteOptions): MiddlewareObj<APIGatewayProxyEventV2> {
  const maxBytes = options.maxBodyBytes ?? MAX_REQUEST_BODY_BYTES;
  return {
    before: async (request) => {
      const event = request.event;
      if (options.method !== "ANY" && !isMethod(event.requestContext?.http?.method, options.method))
        throw methodNotAllowed([options.method]);
      for (const name of options.pathParameters ?? []) {
        if (!event.pathParameters?.[name]) throw notFound("no such resource");
      }
      if (!options.jsonBody) return;

      const contentType = event.headers?.["content-type"];
      if (!isJsonContentType(contentType)) throw unsupportedMediaType(contentType);
      const raw = event.body ?? "";
      const size = event.isBase64Encoded ? Buffer.byteLength(raw, "base64") : Buffer.byteLength(raw, "utf8");
      if (size > maxBytes)
        throw payloadTooLarge(`the request body is ${size} bytes; the limit is ${maxBytes}`);
      const text = bodyText(event).replace(/^\uFEFF/, "");
      if (text.trim() === "") throw invalidJson("the request body is empty");
      const parsed = parseExactJson(text, MAX_JSON_DEPTH);
      if (parsed.ok) parsedBodies.set(event, parsed.value);
      else if (parsed.kind !== "syntax") throw validationFailed([parsed.issue]);
      else throw invalidJson(parsed.message);
    },
  };
}

/**
 * The body as text. A base64 body is decoded strictly: invalid UTF-8 would otherwise become U+FFFD, silently
 * changing content that must be delivered exactly as sent. (A plain-text body reaches us already decoded.)
 */
function bodyText(event: APIGatewayProxyEventV2): string {
  const raw = event.body ?? "";
  if (!event.isBase64Encoded) return raw;
  try {
    return STRICT_UTF8.decode(Buffer.from(raw, "base64"));
  } catch {
    throw invalidJson("the request body is not valid UTF-8");
  }
}

/**
 * Methods compare ASCII-case-insensitively. A plain `toUpperCase()` would also map non-ASCII letters onto ASCII
 * (`"poſt"` and `"poﬆ"` both become `"POST"`), admitting method names no HTTP client can send.
 */
function isMethod(method: unknown, expected: HttpMethod): boolean {
  return typeof method === "string" && /^[A-Za-z]+$/.test(method) && method.toUpperCase() === expected;
}

/**
 * Two spellings of one header name (`Idempotency-Key` and `idempotency-key`) with different values: the
 * normaliser below would silently keep whichever came last, so the request is refused as ambiguous instead.
 * (API Gateway itself joins repeated headers with commas, which the individual checks refuse where it matters.)
 */
function headerConflictGuard(): MiddlewareObj<APIGatewayProxyEventV2> {
  return {
    before: async ({ event }) => {
      const seen = new Map<string, string | undefined>();
      for (const [name, value] of Object.entries(event.headers ?? {})) {
        const key = name.toLowerCase();
        if (seen.has(key) && seen.get(key) !== value) {
          throw validationFailed(
            [{ path: key, message: "given more than once with different values" }],
            `conflicting values for header ${key.slice(0, 100)}`,
          );
        }
        seen.set(key, value);
      }
    },
  };
}

/** `application/json`, optionally with `charset=utf-8` (JSON is UTF-8 by definition, RFC 8259). */
export function isJsonContentType(value: string | undefined): boolean {
  if (!value) return false;
  const [type = "", ...params] = value.split(";");
  if (type.trim().toLowerCase() !== "application/json") return false;
  return params.every((param) => {
    const [name = "", paramValue = ""] = param.split("=");
    if (name.trim().toLowerCase() !== "charset") return true;
    const charset = paramValue.trim().replace(/^"|"$/g, "").toLowerCase();
    return charset === "utf-8" || charset === "utf8";
  });
}

/**
 * Every error becomes the structured body. HttpErrors carry their own status and safe message; anything else
 * is a 500 with a generic message, logged in full here (with the stack) and never sent to the client.
 */
function errorResponder(
  logger: Logger,
): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  return {
    onError: async (request) => {
      const thrown = request.error;
      const error: HttpError =
        thrown instanceof Error && thrown.name === "TimeoutError"
          ? serviceUnavailable("the request timed out; retry it", thrown)
          : toHttpError(thrown);
      if (error.status >= 500) {
        const detail = error === thrown ? (error.cause ?? error) : thrown;
        if (detail instanceof Error) logger.error(`request failed: ${error.code}`, detail);
        else logger.error(`request failed: ${error.code}`, { error: String(detail) });
      } else {
        logger.debug(`request refused: ${error.code}`, { status: error.status, message: error.message });
      }
      request.response = jsonResponse(error.status, error.toBody(), error.headers);
    },
  };
}

/**
 * The functions' logger. Powertools' own variables (set by the stack) win; the environment's config fills in
 * what they leave out, so a function started by hand logs at the configured level under the right service.
 */
export function createFunctionLogger(config: PunctualConfig, env: NodeJS.ProcessEnv = process.env): Logger {
  return new Logger({
    serviceName: env.POWERTOOLS_SERVICE_NAME || serviceName(config.name),
    logLevel: (env.POWERTOOLS_LOG_LEVEL || env.AWS_LAMBDA_LOG_LEVEL || config.logLevel) as LoggerLevel,
  });
}
