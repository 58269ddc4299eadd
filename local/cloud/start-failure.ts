import { DataDirInUseError } from "#local/runtime/data-dir-lock.js";
import { isDataFileError } from "#local/runtime/data-file-error.js";
import { ConfigError } from "#shared/config/index.js";
import { SigningSecretError } from "#shared/security/signing.js";
import { OutdatedDataDirError } from "./provision.js";

/**
 * The one line `npm start` prints, instead of a stack trace, for a failure the developer can fix: a port taken
 * (most often by a local cloud already running), a data directory in use or made by an older version, a file
 * of `--data` / `--settings` that cannot be written (a read-only or full disk, a file where a directory should
 * be) or read back (schedules.json or event-source-mappings.json cut short or edited), a `PUNCTUAL_SIGNING_SECRET` that is no signing secret, or an invalid configuration (the environment file or
 * PUNCTUAL_CONFIG_OVERRIDES: its problems one a line, as synth names them). Anything else is undefined: its stack trace is
 * what helps there.
 */
export function startFailureMessage(
  error: unknown,
  ports: { readonly port: number; readonly awsPort: number },
): string | undefined {
  if (
    error instanceof DataDirInUseError ||
    error instanceof OutdatedDataDirError ||
    error instanceof ConfigError ||
    isDataFileError(error)
  )
    return (error as Error).message;
  if (error instanceof SigningSecretError) return signingSecretMessage(error);
  const e = error as { code?: unknown; port?: unknown; address?: unknown; path?: unknown } | undefined;
  if (typeof e?.code === "string" && UNWRITABLE.has(e.code) && typeof e.path === "string") {
    return (
      `cannot write ${e.path} (${(error as Error).message}): give --data <dir> and --settings <file> a place ` +
      "this user can write, on a disk with free space"
    );
  }
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

/** What the file system answers when a path cannot be created or written. */
const UNWRITABLE = new Set(["EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "ENOTDIR", "EEXIST", "EISDIR"]);

/** The only signing secret `npm start` and the local receiver take is the environment variable's (else the default). */
export function signingSecretMessage(error: SigningSecretError): string {
  return `PUNCTUAL_SIGNING_SECRET is no usable signing secret: ${error.message}; unset it to use the local default`;
}
