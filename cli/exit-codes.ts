import {
  InvalidTokenError,
  isPunctualError,
  isRedirect,
  RETRYABLE_STATUSES,
  UNSERVED_STATUSES,
} from "../client/index.js";

/**
 * What `punctual` exits with, for scripts:
 *   0  success
 *   1  usage: unknown command or option, a missing or malformed argument, no API URL, no region for SigV4 or
 *      --env's look-up, AWS credentials no header can carry (InvalidTokenError: nothing sent), no or a malformed
 *      signing secret, a `console --port` in use; but 3 when such credentials stop a multi-page command (`groups
 *      cancel`, `topics replay`) after its earlier pages acted (StoppedPartWay's `acted`)
 *   2  the API refused the request (4xx but 408, 429): fix the request; sending it again will not help
 *   3  the API failed with a 5xx the client retries (502, 503, 504, 520–524: RETRYABLE_STATUSES) or still throttled
 *      (429, or 408) after the client's retries, or could not be reached, or an AWS look-up (--env, --secret-arn)
 *      failed: may be retried
 *   4  the API failed with a 5xx the client does not retry, as a repeat does not mend it: 500 (the API's bug, or a
 *      crash), 501 and 505 (the request cannot be served at all: UNSERVED_STATUSES), 507, 508, 511, 525–527, 530 (a
 *      misconfigured API or CDN) and any other; and a 3xx (the API URL redirected, which the client never follows:
 *      nothing was done, the URL is wrong): do not loop on it; fix the API, the URL, or what is in front of it first
 *   A 3, or a 4 but for a 501, 505 or 3xx (nothing was done), may come after the request was applied: a create or a
 *   single replay (which the client never repeats) should be looked for before it is run again (docs/API.md, "Typed client and CLI"); a
 *   `tasks add` without a key says the key it sent, to run it again with (MayHaveBeenApplied, mayHaveBeenApplied),
 *   and `tasks add-batch` writes the items not added with their keys to a rerun file it names (cli/rerun-file.ts) —
 *   also when Ctrl-C stops either while it is unanswered (CliIo.onInterrupt; a 3)
 *   141 the reader closed the pipe (`| head`): stopped quietly, as SIGPIPE stops a Unix tool (cli/bin/punctual.mjs)
 */
export const EXIT = { ok: 0, usage: 1, refused: 2, failed: 3, unmended: 4 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A mistake in how the CLI was called, found by our own checks (commander reports its own). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * A batch answered 200 but some items were not added: exit as the item whose exit code says the most a script can
 * do (`batchExitCode`). The results are printed first; this only sets the exit code and says how many.
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
 * `acted`: the calls done changed something (a group cancel's, a bulk replay's pages, not a list's): an error that
 * alone exits 1 ("nothing sent", InvalidTokenError) exits 3 there, as the run was partly applied.
 */
export class StoppedPartWay extends Error {
  override readonly name = "StoppedPartWay";
  constructor(
    readonly error: unknown,
    readonly done: Readonly<Record<string, unknown>>,
    readonly summary: readonly string[],
    readonly acted = false,
  ) {
    super(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/**
 * A failure after which the request may still have been applied (`mayHaveBeenApplied`: exit 3, a try that timed
 * out after the API wrote, a 503 after the function ran; or exit 4, a 500 after the function wrote), with how to
 * run it again without applying it twice: it exits as `error` would, and
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
  if (error instanceof StoppedPartWay) return stoppedExitCode(error);
  if (error instanceof MayHaveBeenApplied) return exitCodeOf(error.error);
  // Credentials a repeat never mends, refused before anything was sent: a usage error as a `--token` with a line end
  // is, not "may be retried" (which also had `tasks add` name a key and `add-batch` write a rerun file for nothing).
  if (error instanceof UsageError || error instanceof InvalidTokenError) return EXIT.usage;
  if (error instanceof BatchItemsFailed) return error.exitCode;
  if (isPunctualError(error)) return exitCodeOfStatus(error.status);
  return EXIT.failed;
}

/**
 * A run stopped part-way exits as its error would, but for a usage error (1 says nothing was sent) after calls that
 * acted: credentials that turned unsendable on a later page (a refresh gone bad) stop `groups cancel` or `topics
 * replay` after earlier pages cancelled or replayed, so it is 3, partly applied, the totals so far printed.
 */
function stoppedExitCode(stopped: StoppedPartWay): ExitCode {
  const code = exitCodeOf(stopped.error);
  return code === EXIT.usage && stopped.acted ? EXIT.failed : code;
}

/**
 * An answer's status as an exit code, by the client's own classification (client/retry.ts): one it retries (429,
 * 408, a 502/503/504/52x) still failing, or no answer (0), may succeed later (3); any other 5xx is one a repeat does
 * not mend (4), which a script told "may be retried" would repeat forever; any other 4xx the request's own fault (2).
 */
export function exitCodeOfStatus(status: number): ExitCode {
  // A redirect repeated is redirected again: "may be retried" would have a script loop on a wrong URL forever.
  if (isRedirect(status)) return EXIT.unmended;
  if (status < 400 || RETRYABLE_STATUSES.has(status)) return EXIT.failed;
  return status >= 500 ? EXIT.unmended : EXIT.refused;
}

/**
 * A batch's exit code from its failed items' statuses: 3 when any may be retried (running the file again may add
 * them), else 4 when any met a 5xx (the API's fault, not the file's), else 2.
 */
export function batchExitCode(statuses: readonly number[]): ExitCode {
  const codes = new Set(statuses.map(exitCodeOfStatus));
  for (const code of [EXIT.failed, EXIT.unmended]) if (codes.has(code)) return code;
  return EXIT.refused;
}

/**
 * A failure after which the request may have been applied: no answer or a retried status still failing (3), or a
 * 5xx the client does not retry (4), a 500's function having maybe written before it failed, but a 501, 505 or 3xx
 * (`notServed`: the request was not served at all).
 */
export function mayHaveBeenApplied(error: unknown): boolean {
  const code = exitCodeOf(error);
  if (code === EXIT.failed) return true;
  return code === EXIT.unmended && !(isPunctualError(error) && notServed(error.status));
}

/** A 501 or 505 (UNSERVED_STATUSES), or a 3xx (no route of the API redirects): the API did nothing. */
function notServed(status: number): boolean {
  return UNSERVED_STATUSES.has(status) || isRedirect(status);
}

/** A batch item's status after which it may have been added, as `mayHaveBeenApplied` judges an error's. */
export function statusMayHaveApplied(status: number): boolean {
  const code = exitCodeOfStatus(status);
  return code === EXIT.failed || (code === EXIT.unmended && !notServed(status));
}

/**
 * A request the client never sends twice (a schedule's create, a single replay: a repeat acts again) that failed
 * after it may have been applied: exit 3 reads "may be retried", so the error says what may have happened and the
 * command to run first (`look_first`), rather than a bare error a script or a person would simply run again.
 */
export function withLookFirst(error: unknown, what: string, look: string): unknown {
  if (!mayHaveBeenApplied(error)) return error;
  return new MayHaveBeenApplied(
    error,
    { look_first: look },
    `${what}: look with ${look} before running this again`,
  );
}
