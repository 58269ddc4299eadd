import { isPunctualError } from "../client/index.js";

/**
 * What `punctual` exits with, for scripts:
 *   0  success
 *   1  usage: unknown command or option, a missing or malformed argument, no API URL or signing secret
 *   2  the API refused the request (4xx): fix the request; sending it again will not help
 *   3  the API failed (5xx), or could not be reached, or an AWS look-up (--env, --secret-arn) failed: may be retried
 */
export const EXIT = { ok: 0, usage: 1, refused: 2, failed: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A mistake in how the CLI was called, found by our own checks (commander reports its own). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * A batch answered 200 but some items were not added: exit 3 when any may be retried (503), else 2. The results
 * are printed first; this only sets the exit code and says how many.
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

export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof BatchItemsFailed) return error.exitCode;
  if (isPunctualError(error)) return error.status >= 400 && error.status < 500 ? EXIT.refused : EXIT.failed;
  return EXIT.failed;
}
