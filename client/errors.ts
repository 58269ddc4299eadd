import type * as z from "zod/mini";
import { IDEMPOTENCY_KEY_MESSAGE, toIssues } from "#shared/domain/add-task-request.js";
import { MAX_JSON_DEPTH } from "#shared/domain/exact-json.js";
import { safeParseBounded } from "#shared/zod.js";
import { type ErrorIssue, errorBodySchema } from "./schemas.js";

/**
 * `code` is the API's own error code (`validation_failed`, `not_found`, `conflict`, …) when the API answered one;
 * otherwise one of these, chosen by the client.
 */
export type ClientErrorCode =
  /** No HTTP answer: connection refused or reset, DNS failure, or the per-attempt timeout. `status` is 0. */
  | "network_error"
  /**
   * A 2xx whose body does not match the route's response schema, or is not UTF-8 (retried where the route is safe to
   * repeat: a body cut short, garbled or re-encoded on its way), or nests deeper than 128 levels (MAX_ANSWER_DEPTH), or any answer over 10 MiB
   * (MAX_ANSWER_BYTES), which is not the API's: those two are not read, nor retried.
   */
  | "invalid_response"
  /** API Gateway refused before our code ran (IAM or JWT auth). */
  | "unauthorized"
  | "forbidden"
  /** Any other answer that is not our error shape (a proxy's HTML page, API Gateway's `{"message":…}`). */
  | "http_error";

export interface PunctualErrorInit {
  readonly code: string;
  readonly status: number;
  readonly message: string;
  readonly issues?: readonly ErrorIssue[];
  readonly details?: Readonly<Record<string, unknown>>;
  readonly requestId?: string;
  readonly cause?: unknown;
}

/** Every failure of a client call: branch on `code` (stable) or `status`, show `message` and `issues`. */
export class PunctualError extends Error {
  override readonly name = "PunctualError";
  readonly code: string;
  /** The HTTP status; 0 when no answer came (`network_error`). */
  readonly status: number;
  /** Which field was wrong and why (`{path:"delay_seconds",message:"…"}`); empty when the API named none. */
  readonly issues: readonly ErrorIssue[];
  /** The error object's other fields, e.g. `task_status` on a cancel conflict. */
  readonly details: Readonly<Record<string, unknown>>;
  /** API Gateway's request id, for support. */
  readonly requestId: string | undefined;

  constructor(init: PunctualErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.status = init.status;
    this.issues = init.issues ?? [];
    this.details = init.details ?? {};
    this.requestId = init.requestId;
  }

  /** 4xx: the request itself is wrong (or conflicts); sending it again unchanged will not help. */
  get isClientError(): boolean {
    return this.status >= 400 && this.status < 500;
  }
}

export function isPunctualError(error: unknown): error is PunctualError {
  return error instanceof PunctualError;
}

/** An error answer as a PunctualError: our structured body when it is one, else a code chosen from the status. */
export function errorFromResponse(
  status: number,
  text: string,
  requestId: string | undefined,
): PunctualError {
  const body = parseJson(text);
  const parsed = safeParseBounded(errorBodySchema, body);
  if (parsed.success) {
    const { code, message, issues, ...details } = parsed.data.error;
    return new PunctualError({
      code,
      status,
      message,
      ...(issues ? { issues } : {}),
      details,
      ...(requestId ? { requestId } : {}),
    });
  }
  const gatewayMessage =
    typeof body === "object" && body !== null && typeof (body as { message?: unknown }).message === "string"
      ? (body as { message: string }).message
      : undefined;
  const code: ClientErrorCode = status === 401 ? "unauthorized" : status === 403 ? "forbidden" : "http_error";
  const said =
    gatewayMessage ?? `HTTP ${status}${text ? `: ${withoutSessionToken(text).slice(0, 200)}` : ""}`;
  return new PunctualError({
    code,
    status,
    message: withoutSessionToken(said),
    ...(requestId ? { requestId } : {}),
  });
}

/** A session token's value in a header line (`x-amz-security-token:IQoJ…`) or a query (`X-Amz-Security-Token=…`). */
const SESSION_TOKEN_VALUE = /(x-amz-security-token[:=])[^\s'"&\\]+/gi;

/**
 * API Gateway's 403 to a SigV4 signature it computes otherwise (a wrong secret key beside a valid key id and session
 * token, a proxy that changed the request) quotes the canonical request it expected, each signed header's value
 * included, the session token among them (captured in https://github.com/mhart/aws4/issues/110). The error's message
 * goes to the CLI's stderr and to an application's logs: the token's value is left out, the rest kept to debug with.
 */
function withoutSessionToken(text: string): string {
  return text.replace(SESSION_TOKEN_VALUE, "$1…");
}

/**
 * A 3xx, which the client never follows (fetch's `redirect: "manual"`): followed, the call, its body and its
 * signature or bearer token, would go to whatever host the answer names. No route of the API redirects, so a 3xx
 * comes from something in front of the URL given instead of the API (CloudFront's redirect-to-https answers an
 * http:// URL 301 with the https one, forwarding nothing:
 * https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_AwsCloudFrontDistributionCacheBehavior.html): the
 * error says where it points (no query, no user info), for the caller to give that URL instead.
 */
export function redirectError(
  status: number,
  location: string | null,
  sentTo: URL,
  requestId: string | undefined,
): PunctualError {
  const target =
    location !== null && URL.canParse(location, sentTo.href) ? new URL(location, sentTo) : undefined;
  const where = target ? ` to ${target.origin}${target.pathname}` : " with no location";
  return new PunctualError({
    code: "http_error",
    status,
    message: `the API URL was redirected (HTTP ${status})${where}, not followed: the request and its credentials go to ${sentTo.origin} only; if the API is there, give its base URL instead`,
    ...(requestId ? { requestId } : {}),
  });
}

/**
 * The deepest an answer may nest: the API's own body limit. Its answers nest a few levels; one deeper is not its
 * answer, and though JSON.parse reads it, whatever recurses into the value (JSON.stringify, a logger, the CLI's
 * table) overflows the stack: the CLI reported a task it had added as `Maximum call stack size exceeded`.
 */
export const MAX_ANSWER_DEPTH = MAX_JSON_DEPTH;

/** The answer's JSON value; undefined when it is not JSON, or is nested deeper than MAX_ANSWER_DEPTH. */
export function parseJson(text: string): unknown {
  if (nestedTooDeep(text)) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Whether JSON text opens more than `maxDepth` objects and arrays at once, strings skipped. Iterative (it guards a
 * stack), and only brackets counted: a duplicate key, which shared/domain/exact-json.ts's scan reports first,
 * cannot hide a depth after it.
 */
export function nestedTooDeep(text: string, maxDepth = MAX_ANSWER_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c) i++;
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x7b || code === 0x5b) {
      if (++depth > maxDepth) return true;
    } else if (code === 0x7d || code === 0x5d) depth--;
  }
  return false;
}

/**
 * The `idempotencyKey` option, refused before any request when no HTTP header can carry it as it is: a line end (a
 * key read from a file), NUL, or a character past U+00FF, for which fetch throws (the client would retry that as a
 * network error and end in `network_error`, status 0: "may be retried", the CLI's exit 3); or a leading or
 * trailing space or tab, which fetch strips, sending another key the API would take. The API refuses every such
 * key (printable ASCII, no space at either end), so the caller gets its own refusal: 400 at `Idempotency-Key`.
 */
export function checkKeyOption(key: string | undefined): void {
  if (key === undefined || !/[\0\r\n]|[^\0-\xff]|^[\t ]|[\t ]$/.test(key)) return;
  throw new PunctualError({
    code: "validation_failed",
    status: 400,
    message: "the request is invalid",
    issues: [{ path: "Idempotency-Key", message: IDEMPOTENCY_KEY_MESSAGE }],
  });
}

/** The longest an `invalid_response` message quotes of its first problem: the message stays one short line. */
const MAX_QUOTED_PROBLEM = 120;

/**
 * A 2xx the client cannot read (`invalid_response`): `what` ("the API's answer to GET /v1/tasks/{task_id}") is not
 * JSON, or does not match its schema — said on one line naming the first problem's path (zod's own message is a
 * multi-line dump of every issue), every problem in `issues` as the API's own errors give them.
 */
export function invalidAnswer(init: {
  readonly what: string;
  readonly body: unknown;
  readonly problems: readonly z.core.$ZodIssue[];
  readonly status: number;
  readonly requestId: string | undefined;
}): PunctualError {
  const { what, body, status, requestId } = init;
  const issues = body === undefined ? [] : toIssues(init.problems, body);
  return new PunctualError({
    code: "invalid_response",
    status,
    message:
      body === undefined
        ? `${what} is not JSON`
        : `${what} does not match its schema ${firstProblem(issues)}`,
    issues,
    ...(requestId ? { requestId } : {}),
  });
}

/** `at task_id: expected string, received number (and 2 more problems)`: one line, cut to a readable length. */
export function firstProblem(issues: readonly ErrorIssue[]): string {
  const [first] = issues;
  if (!first) return "";
  const where = first.path === "" ? "the answer itself" : first.path;
  const said = first.message.replace(/\s+/g, " ");
  const cut = said.length > MAX_QUOTED_PROBLEM ? `${said.slice(0, MAX_QUOTED_PROBLEM - 1)}…` : said;
  const more = issues.length - 1;
  return `at ${where}: ${cut}${more > 0 ? ` (and ${more} more problem${more === 1 ? "" : "s"})` : ""}`;
}
