import { isServerError, isThrottlingError, isTransientError } from "@smithy/core/retry";
import type { SdkError } from "@smithy/types";
import { echoed } from "#shared/domain/echoed.js";

/**
 * Errors the HTTP API answers with. Every error body has one shape, so clients can branch on `error.code`
 * without parsing messages:
 *
 *   {"error":{"code":"validation_failed","message":"…","issues":[{"path":"due_at","message":"…"}]}}
 *
 * Messages of 4xx errors are written for the caller and always shown. A 5xx shows only a message we wrote for
 * the purpose (`expose`), never an exception's own text: those can carry table names, ARNs or stack frames.
 */

export type ErrorCode =
  | "validation_failed"
  | "unknown_topic"
  | "invalid_json"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "idempotency_conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "service_unavailable"
  | "internal_error"
  // Issue 14, point 3: fan-out.
  | "fan_out_callback"
  | "not_fan_out"
  | "unknown_subscriber"
  | "fan_out_unsupported";

export interface ErrorIssue {
  /** Dotted path into the request body (`callback.url`), a header name, or "" for the body as a whole. */
  readonly path: string;
  readonly message: string;
}

export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly issues?: readonly ErrorIssue[];
    readonly [extra: string]: unknown;
  };
}

export const GENERIC_INTERNAL_MESSAGE = "internal error; the request may be retried";

/**
 * An error body lists at most this many issues, each path and message clipped. Issues echo the request (one
 * per unknown member, with its name), so unbounded they would let a 1 MiB body of short unknown keys produce a
 * ~6 MB answer: past Lambda's response limit, which API Gateway turns into a 500.
 */
export const MAX_ISSUES = 20;
export const MAX_ISSUE_TEXT = 200;

export interface HttpErrorOptions {
  readonly issues?: readonly ErrorIssue[];
  /** Whether `message` may be shown to the caller. Defaults to true below 500 and false from 500 up. */
  readonly expose?: boolean;
  /** Extra fields for the error object (e.g. `task_status` on a cancel conflict). Always shown. */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly cause?: unknown;
}

export class HttpError extends Error {
  override readonly name = "HttpError";
  readonly issues: readonly ErrorIssue[] | undefined;
  readonly expose: boolean;
  readonly details: Readonly<Record<string, string | number | boolean>> | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;

  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    options: HttpErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.issues = options.issues;
    this.expose = options.expose ?? status < 500;
    this.details = options.details;
    this.headers = options.headers;
  }

  /** The response body; a 5xx that is not exposed gets the generic message whatever was thrown. */
  toBody(): ErrorBody {
    const message = this.expose ? this.message : GENERIC_INTERNAL_MESSAGE;
    return {
      error: {
        ...(this.details ?? {}),
        code: this.code,
        message,
        ...(this.issues && this.issues.length > 0
          ? { issues: this.issues.slice(0, MAX_ISSUES).map(clipIssue) }
          : {}),
        ...(this.issues && this.issues.length > MAX_ISSUES
          ? { issues_omitted: this.issues.length - MAX_ISSUES }
          : {}),
      },
    };
  }
}

function clipIssue(issue: ErrorIssue): ErrorIssue {
  return { path: clip(issue.path), message: clip(issue.message) };
}

function clip(text: string): string {
  return text.length > MAX_ISSUE_TEXT ? `${text.slice(0, MAX_ISSUE_TEXT)}…` : text;
}

export function isHttpError(error: unknown): error is HttpError {
  return error instanceof HttpError;
}

export function validationFailed(
  issues: readonly ErrorIssue[],
  message = "the request is invalid",
): HttpError {
  return new HttpError(400, "validation_failed", message, { issues });
}

/** A task on a fan-out topic that names its own callback (its subscribers are its callbacks). */
export function fanOutCallback(topic: string): HttpError {
  return new HttpError(
    400,
    "fan_out_callback",
    `topic "${echoed(topic)}" delivers every task to its subscribers; a task on it cannot name its own callback`,
    { issues: [{ path: "callback", message: "must be absent on a fan-out topic" }] },
  );
}

/** `subscriber` given for a task (or a topic) that is not fan-out: it has no subscribers. */
export function notFanOut(what: string): HttpError {
  return new HttpError(400, "not_fan_out", `${what} has no subscribers; leave \`subscriber\` out`, {
    issues: [{ path: "subscriber", message: "only a fan-out task or topic has subscribers" }],
  });
}

/** `subscriber` that is not one of the task's subscribers. */
export function unknownSubscriber(subscriber: string, known: readonly string[]): HttpError {
  return new HttpError(400, "unknown_subscriber", `unknown subscriber "${echoed(subscriber)}"`, {
    issues: [{ path: "subscriber", message: `must be one of: ${known.join(", ")}` }],
  });
}

/** An operation fan-out tasks do not support (reschedule, run now): it answers what to do instead. */
export function fanOutUnsupported(message: string): HttpError {
  return new HttpError(409, "fan_out_unsupported", message);
}

export function unknownTopic(topic: string, known: readonly string[]): HttpError {
  return new HttpError(400, "unknown_topic", `unknown topic "${echoed(topic)}"`, {
    issues: [{ path: "topic", message: `must be one of: ${known.join(", ")}` }],
  });
}

/**
 * A task of a topic removed from the configuration (still readable until its retention ends): no queue could
 * deliver it, so a replay, a reschedule or a run is refused, nothing written.
 */
export function topicNotConfigured(topic: string): HttpError {
  return conflict(`topic "${echoed(topic)}" is not configured any more: its tasks cannot be delivered`, {
    topic: echoed(topic),
  });
}

export function invalidJson(detail: string): HttpError {
  return new HttpError(400, "invalid_json", "the request body is not valid JSON", {
    issues: [{ path: "", message: detail }],
  });
}

export function notFound(message = "no such task"): HttpError {
  return new HttpError(404, "not_found", message);
}

export function methodNotAllowed(allowed: readonly string[]): HttpError {
  return new HttpError(405, "method_not_allowed", `method not allowed; use ${allowed.join(", ")}`, {
    headers: { allow: allowed.join(", ") },
  });
}

export function conflict(message: string, details?: HttpErrorOptions["details"]): HttpError {
  return new HttpError(409, "conflict", message, details ? { details } : {});
}

/** `path` is the field the key came in: the body's `idempotency_key`, or the `Idempotency-Key` header. */
export function idempotencyConflict(message: string, path = "idempotency_key"): HttpError {
  return new HttpError(409, "idempotency_conflict", message, {
    issues: [{ path, message }],
  });
}

export function payloadTooLarge(message: string, path = ""): HttpError {
  return new HttpError(413, "payload_too_large", message, { issues: [{ path, message }] });
}

export function unsupportedMediaType(received: string | undefined): HttpError {
  // API Gateway joins repeated headers with commas: a comma is most likely two Content-Type headers.
  const one = received?.includes(",") ? ", in one Content-Type header" : "";
  return new HttpError(
    415,
    "unsupported_media_type",
    `content-type must be application/json${one}${received ? `, received "${echoed(received)}"` : ""}`,
  );
}

/**
 * A body sent with a content coding (gzip, br, deflate, …): we take none, and say so, rather than decode the
 * compressed bytes as text and answer "not valid UTF-8". `Accept-Encoding` names what would be taken (RFC 9110
 * §15.5.16).
 */
export function unsupportedContentEncoding(received: string): HttpError {
  return new HttpError(
    415,
    "unsupported_media_type",
    `the request body must not be compressed: send it without content-encoding (or "identity"), received "${echoed(received)}"`,
    { headers: { "accept-encoding": "identity" } },
  );
}

/** A retryable refusal whose message we wrote ourselves, so it is shown even though it is a 5xx. */
export function serviceUnavailable(
  message: string,
  cause?: unknown,
  details?: HttpErrorOptions["details"],
  retryAfterSeconds = 1,
): HttpError {
  return new HttpError(503, "service_unavailable", message, {
    expose: true,
    cause,
    headers: { "retry-after": String(retryAfterSeconds) },
    ...(details ? { details } : {}),
  });
}

export function internalError(cause?: unknown): HttpError {
  return new HttpError(500, "internal_error", GENERIC_INTERNAL_MESSAGE, { cause, expose: false });
}

/**
 * Anything thrown becomes an HttpError; what is not one already is an internal error (nothing leaks), except an
 * AWS call the SDK's own retries did not get past because the service or the way to it failed for now: throttled
 * (DynamoDB ProvisionedThroughputExceededException on a provisioned table beyond its capacity and burst,
 * ThrottlingException, …), a 5xx, a timeout or a reset connection. Those are a retryable 503 with Retry-After, which
 * our client retries, not a 500, which it does not: a handler lets such an error through only before it wrote
 * anything or after its own clean-up (add-task's `writeOrRemove`, for one), so a retry finds what a retry should
 * (the chaos run counted 35–48 such 500s in 11,500 adds before). Anything else — a bug, a refusal the code did not
 * expect — stays a 500. Classified by the SDK's own rules (@smithy/core/retry), not a list of names of ours.
 */
export function toHttpError(error: unknown): HttpError {
  if (isHttpError(error)) return error;
  if (!isSdkError(error)) return internalError(error);
  if (isAwsThrottling(error)) return serviceUnavailable(THROTTLED_MESSAGE, error);
  if (isTransientError(error) || isServerError(error))
    return serviceUnavailable(DEPENDENCY_FAILED_MESSAGE, error);
  return internalError(error);
}

export const THROTTLED_MESSAGE =
  "the service is busy (a storage, queue or Lambda call was throttled); retry the request";
export const DEPENDENCY_FAILED_MESSAGE =
  "a storage or queue call failed for now (timeout, reset or server error); retry the request";

function isSdkError(error: unknown): error is SdkError {
  return typeof error === "object" && error !== null && "name" in error;
}

/** An AWS call the service refused for its rate (the SDK's rule): it changed nothing, so a retry is always safe. */
export function isAwsThrottling(error: unknown): boolean {
  return isSdkError(error) && isThrottlingError(error);
}

/**
 * A throttle on the SDK's only attempt of a call: the call changed nothing. After earlier attempts it may have: one
 * may have been a 5xx or a reset after DynamoDB wrote (a 5xx leaves the outcome unknown:
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html), and the SDK throws only
 * the last attempt's error, counting them in `$metadata.attempts`.
 */
export function isThrottledUnapplied(error: unknown): boolean {
  if (!isAwsThrottling(error)) return false;
  const attempts = (error as { $metadata?: { attempts?: unknown } }).$metadata?.attempts;
  return typeof attempts !== "number" || attempts <= 1;
}
