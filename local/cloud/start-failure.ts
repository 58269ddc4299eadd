import { DataDirInUseError } from "#local/runtime/data-dir-lock.js";

/**
 * The one line `npm start` prints, instead of a stack trace, for a failure the developer can fix: a port taken
 * (most often by a local cloud already running) or a data directory in use. Anything else is undefined: its
 * stack trace is what helps there.
 */
export function startFailureMessage(
  error: unknown,
  ports: { readonly port: number; readonly awsPort: number },
): string | undefined {
  if (error instanceof DataDirInUseError) return error.message;
  const e = error as { code?: unknown; port?: unknown; address?: unknown } | undefined;
  if (e?.code !== "EADDRINUSE") return undefined;
  const where = `${typeof e.address === "string" ? e.address : "127.0.0.1"}:${String(e.port)}`;
  const option =
    e.port === ports.awsPort
      ? "--aws-port <port> (or AWS_PORT)"
      : e.port === ports.port
        ? "--port <port> (or PORT)"
        : "--port / --aws-port";
  return `port ${where} is already in use (another local cloud, perhaps): stop it, or choose another port with ${option}`;
}
