import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

/** `npx punctual` as scripts run it: the bin as a child process. */
const BIN = fileURLToPath(new URL("../../../cli/bin/punctual.mjs", import.meta.url));

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI with `args`; the caller's environment, minus any API URL or secret it may hold, plus `env`. */
export function runPunctual(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const childEnv = { ...process.env, PUNCTUAL_API_URL: "", PUNCTUAL_SIGNING_SECRET: "", ...env };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: childEnv }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
