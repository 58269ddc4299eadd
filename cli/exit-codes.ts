import { isPunctualError, RETRYABLE_STATUSES } from "../client/index.js";

/**
 * What `punctual` exits with, for scripts:
 *   0  success
 *   1  usage: unknown command or option, a missing or malformed argument, no API URL, no region for SigV4 or
 *      --env's look-up, no or a malformed signing secret, a `console --port` in use
 *   2  the API refused the request (4xx but 408, 429): fix the request; sending it again will not help
 *   3  the API failed (5xx) or still throttled (429, or 408) after the client's retries, or could not be reached,
 *      or an AWS look-up (--env, --secret-arn) failed: may be retried, except that a create or a single replay
 *      (which the client never repeats) may have been applied: look before running it again (README); a
 *      `tasks add` without a key says the key it sent, to run it again with (MayHaveBeenApplied)
 *   141 the reader closed the pipe (`| head`): stopped quietly, as SIGPIPE stops a Unix tool (cli/bin/punctual.mjs)
 */
export const EXIT = { ok: 0, usage: 1, refused: 2, failed: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A mistake in how the CLI was called, found by our own checks (commander reports its own). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * A batch answered 200 but some items were not added: exit 3 when any may be retried (`mayBeRetried`), else 2. The
 * results are printed first; this only sets the exit code and says how many.
 */
export class BatchItemsFailed extends Error {
  override readonly name = "BatchItemsFailed";
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

/**
 * A run of several calls (a bulk replay's pages) that one call's error stopped after others were done: it exits as
 * that error would, and is printed with what was done before it (`done`, `summary`), which would otherwise be lost.
 */
export class StoppedPartWay extends Error {
  override readonly name = "StoppedPartWay";
  constructor(
    readonly error: unknown,
    readonly done: Readonly<Record<string, unknown>>,
    readonly summary: readonly string[],
  ) {
    super(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/**
 * A failure after which the request may still have been applied (exit 3: a try that timed out after the API wrote,
 * a 503 after the function ran), with how to run it again without applying it twice: it exits as `error` would, and
 * is printed with `hint` before it (with --json, `retry` beside `error`).
 */
export class MayHaveBeenApplied extends Error {
  override readonly name = "MayHaveBeenApplied";
  constructor(
    readonly error: unknown,
    readonly retry: Readonly<Record<string, unknown>>,
    readonly hint: string,
  ) {
    super(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof StoppedPartWay || error instanceof MayHaveBeenApplied) return exitCodeOf(error.error);
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof BatchItemsFailed) return error.exitCode;
  if (isPunctualError(error)) return mayBeRetried(error.status) ? EXIT.failed : EXIT.refused;
  return EXIT.failed;
}

/**
 * An answer's status that says the same request may succeed later (exit 3): not a 4xx, or one the client retries
 * (429: API Gateway's throttling; 408), the request itself fine, which a script told "fix the request" would give up.
 */
export function mayBeRetried(status: number): boolean {
  return status < 400 || status >= 500 || RETRYABLE_STATUSES.has(status);
}
