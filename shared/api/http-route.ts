import type { Logger } from "@aws-lambda-powertools/logger";
import middy, { type MiddlewareObj, type MiddyfiedHandler } from "@middy/core";
import httpHeaderNormalizer from "@middy/http-header-normalizer";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { EARLY_ANSWER_MS } from "#shared/api/early-answer.js";
import { type HttpError, serviceUnavailable } from "#shared/api/errors.js";
import { loggerContext } from "#shared/runtime/observability.js";
import { jsonResponse } from "./json-response.js";
import { errorResponder } from "./middleware/error-responder.js";
import { headerGuard } from "./middleware/header-guard.js";
import { type HttpMethod, methodGuard } from "./middleware/method-guard.js";
import { noBodyGuard } from "./middleware/no-body.js";
import { noIdempotencyKeyGuard } from "./middleware/no-idempotency-key.js";
import { noQueryGuard } from "./middleware/no-query.js";
import { parsedBody } from "./middleware/parsed-body.js";
import { pathParameterGuard } from "./middleware/path-parameters.js";
import { queryEncodingGuard } from "./middleware/query-encoding.js";
import { repeatedQueryGuard } from "./middleware/repeated-query.js";

export type { HttpMethod } from "./middleware/method-guard.js";

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
  /** The invocation's time left (Lambda's `getRemainingTimeInMillis`), for a route that works in steps. */
  remainingMs(): number;
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
  /**
   * The route takes a JSON body: its parser, `jsonBody()` of ./middleware/json-body.ts with the route's byte cap
   * (415 for another content type, 400 for malformed JSON, 413 above the cap). Handed in by the function rather
   * than built here, so that a function whose route takes no body does not bundle the parser.
   */
  readonly jsonBody?: MiddlewareObj<APIGatewayProxyEventV2>;
  /** Path parameters the route needs; a request without them is 404 (no such resource), not a 500. */
  readonly pathParameters?: readonly string[];
  /**
   * The route takes no query parameters: any is a 400 naming it, before the handler acts. Defaults to true for
   * every route: ignored, a parameter would let a route act on more than the caller asked for (`POST
   * …/replay?dry_run=true` replaying, `DELETE …?subscriber=…` cancelling every copy) or a read answer something
   * else than asked (`GET /v1/destinations?topic=demo` listing every topic's hosts). A route that reads its own
   * query says `false` and validates it with a strict schema.
   */
  readonly noQuery?: boolean;
  /**
   * The route takes no body: one that says anything (not empty, not `{}`) is a 400, before the handler acts.
   * Defaults to true for every route that takes no JSON body, for the same reason: a route that acts would act on
   * more than asked, and a read would answer something else than asked (`GET /v1/destinations` with
   * `{"state":"open"}` listing every circuit).
   */
  readonly noBody?: boolean;
  /**
   * The route reads the `Idempotency-Key` header itself (the add takes it; the batch and a schedule's create refuse
   * it with their own message). Every other route that changes something refuses it (no-idempotency-key.ts):
   * ignored, the caller would take the call for keyed and repeat it.
   */
  readonly idempotencyKey?: boolean;
  /**
   * Answer this long before the Lambda deadline (a 503 the client can retry) instead of letting Lambda kill
   * the invocation, which API Gateway would turn into a bodyless 500. `EARLY_ANSWER_MS` by default.
   */
  readonly timeoutEarlyMs?: number;
  /**
   * What that early answer is: by default a 503 "retry". A route that cannot be repeated safely once it may have
   * acted (a create without an idempotency key) answers its own error instead.
   */
  readonly timeoutError?: () => HttpError;
}

/**
 * The middy stack every HTTP function uses, one middleware per job (shared/api/middleware/). Order: the error
 * responder first, because middy runs `onError` in reverse, so it is the last word on every error; then
 * Powertools' context injection, the header guard (before normalisation, which would hide conflicting
 * spellings), header normalisation (API Gateway passes headers as the client sent them), and the route's own
 * guards: method, path parameters, repeated query keys, no query (or, for a route that reads its query, its
 * encoding), no idempotency key, no body (reads too) or JSON body.
 */
export function httpRoute(
  options: RouteOptions,
  handle: (request: HttpRequest) => Promise<HttpResult>,
): HttpHandler {
  const route = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Error, Context>({
    timeoutEarlyInMillis: options.timeoutEarlyMs ?? EARLY_ANSWER_MS,
    timeoutEarlyResponse: () => {
      throw options.timeoutError?.() ?? serviceUnavailable("the request timed out; retry it");
    },
  })
    .use(errorResponder(options.logger))
    .use(loggerContext(options.logger))
    .use(headerGuard())
    .use(httpHeaderNormalizer());
  if (options.method !== "ANY") route.use(methodGuard(options.method));
  if (options.pathParameters) route.use(pathParameterGuard(options.pathParameters));
  // Every route but `$default` (ANY), whose answer is a 404 or 405 whatever the query.
  if (options.method !== "ANY") route.use(repeatedQueryGuard());
  const acts = options.method !== "GET" && options.method !== "ANY";
  if (options.noQuery ?? options.method !== "ANY") route.use(noQueryGuard());
  else if (options.method !== "ANY") route.use(queryEncodingGuard());
  if (acts && !options.idempotencyKey) route.use(noIdempotencyKeyGuard());
  if (options.noBody ?? (options.method !== "ANY" && !options.jsonBody)) route.use(noBodyGuard());
  if (options.jsonBody) route.use(options.jsonBody);
  return route.handler(async (event, context) => {
    const headers = event.headers ?? {};
    const result = await handle({
      event,
      body: parsedBody(event),
      header: (name) => headers[name.toLowerCase()],
      pathParameter: (name) => event.pathParameters?.[name],
      remainingMs: () => context.getRemainingTimeInMillis(),
    });
    return jsonResponse(result.statusCode, result.body, result.headers);
  });
}
