/**
 * A start-up failure of the emulators passed from their thread or child process to `npm start`, which can then
 * print the one line local/cloud/start-failure.ts makes of it (a port taken, a `--data` file it cannot read back)
 * instead of "exited early (code 1)". Only what a structured clone or IPC message carries: name, message, stack and
 * the fields that line reads.
 */
export function copyOfError(error: unknown): Record<string, unknown> {
  const e = (error ?? {}) as Record<string, unknown>;
  const fields = ["code", "syscall", "address", "port", "path"].filter((key) => e[key] !== undefined);
  return {
    name: error instanceof Error ? error.name : "Error",
    message: error instanceof Error ? error.message : String(error),
    stack: error instanceof Error ? error.stack : undefined,
    ...Object.fromEntries(fields.map((key) => [key, e[key]])),
  };
}

/** The copy as an Error again, with those fields. */
export function errorFrom(copy: Record<string, unknown> | undefined): Error {
  const { message, ...fields } = copy ?? {};
  return Object.assign(new Error(String(message ?? "the emulators failed to start")), fields);
}
