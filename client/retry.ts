import { PunctualError } from "./errors.js";

/**
 * When and how long to wait before sending a request again. Hand-written because it is a few lines and must
 * take injected `sleep`/`random` (tests assert the exact waits) and the server's `Retry-After`, which general
 * retry libraries either ignore or hide.
 */
export interface RetryPolicy {
  /** Attempts in all, the first included. Default 4. */
  readonly maxAttempts: number;
  /** The first backoff ceiling; it doubles each attempt. Default 200 ms. */
  readonly baseDelayMs: number;
  /** No backoff, and no `Retry-After`, waits longer than this. Default 20 s. */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 200, maxDelayMs: 20_000 };

/**
 * The policy, refused when it cannot bound the retries: `n >= NaN` is never true, so a NaN `maxAttempts` (the
 * `Number()` of an unset variable) retried a failing call forever, and a NaN delay waited nothing.
 */
export function checkedRetryPolicy(policy: RetryPolicy): RetryPolicy {
  if (!Number.isSafeInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw new RangeError(`retry.maxAttempts must be a whole number ≥ 1, got ${policy.maxAttempts}`);
  }
  for (const name of ["baseDelayMs", "maxDelayMs"] as const) {
    if (!Number.isFinite(policy[name]) || policy[name] < 0) {
      throw new RangeError(`retry.${name} must be a finite number ≥ 0, got ${policy[name]}`);
    }
  }
  return policy;
}

/**
 * Answers a route the client may repeat (a read, an idempotent change, a keyed add) is sent again on; a route that
 * acts again on each request (`never`: a replay, `createSchedule`) is sent again on none. Each says "nothing was
 * done", or "it may have been done, and a repeat finds it": throttling (429, API Gateway's), 503 (ours, with
 * Retry-After; and an HTTP API's own when the function outran its 30 s integration timeout), 408 (a proxy that gave
 * up waiting for the request: nothing was processed, RFC 9110 §15.5.9), 502 and 504 (API Gateway, a load balancer
 * or a proxy in front of the API: the function may or may not have run), and a CDN's 520–524 (Cloudflare's, also
 * used by others: the origin's answer was empty or garbled (520), it refused or dropped the connection (521–523),
 * or did not answer within the CDN's timeout (524)). Not 500 (an HTTP API's answer to a function error too): that
 * is a bug, and repeating it only delays it; a batch answered 500 is split instead (`isFunctionFailure`). Not 501
 * or 505 (the request cannot be served at all: UNSERVED_STATUSES), 507, 508, 511, nor 525–527 and 530 (a CDN that cannot reach or
 * trust the origin's TLS): misconfigurations a repeat within seconds does not mend.
 */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([
  408, 429, 502, 503, 504, 520, 521, 522, 523, 524,
]);

/**
 * Answers that say the request was not served at all (501: no such method here; 505: not this HTTP version): nothing
 * was done, and a repeat gets the same. Not retried (RETRYABLE_STATUSES), and, unlike a 500 (the function may have
 * written before it failed) or another 5xx, no sign that the request may have been applied.
 */
export const UNSERVED_STATUSES: ReadonlySet<number> = new Set([501, 505]);

/** A 3xx: never followed, nor sent again (client/errors.ts `redirectError`); nothing was done by the API. */
export function isRedirect(status: number): boolean {
  return status >= 300 && status < 400;
}

/**
 * How long to wait before attempt `attempt + 1` (attempt counts from 1): the server's `Retry-After` when it gave
 * one, else "full jitter" exponential backoff, random in [0, min(max, base·2^(attempt-1))], so clients that
 * failed together do not retry together.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  attempt: number,
  retryAfter: string | null | undefined,
  random: () => number,
  nowMs: number,
): number {
  const fromServer = parseRetryAfterMs(retryAfter, nowMs);
  if (fromServer !== undefined) return Math.min(fromServer, policy.maxDelayMs);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * `Retry-After` is delay-seconds or an HTTP date (RFC 9110 §10.2.3); anything else is ignored (the backoff applies).
 * Every HTTP-date form starts with a day name and is in GMT: Date.parse alone reads `-5` or `5.5` as a date in
 * 2001, which would make a malformed value an immediate retry, and reads asctime's zone-less form as local time.
 */
export function parseRetryAfterMs(value: string | null | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!/^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /.test(trimmed)) return undefined;
  const at = Date.parse(/ GMT$/.test(trimmed) ? trimmed : `${trimmed} GMT`);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * A whole batch answered 500: the function failed (a bug, a crash) on something in it, maybe one item, where the
 * others would have been added alone; so its items, each with its key, go again in halves (the batcher's calls and
 * `addTasks`' items alike). Not another 5xx: 501 and 505 say the request cannot be served at all, a 502, 504 or
 * 52x that outlasts the retries says the API or the way to it is down, and halving would only multiply requests.
 */
export function isFunctionFailure(error: unknown): error is PunctualError {
  return error instanceof PunctualError && error.status === 500;
}
