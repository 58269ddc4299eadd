import { type ChildProcessByStdio, spawn } from "node:child_process";
import type { Readable } from "node:stream";

type Npm = ChildProcessByStdio<null, Readable, null>;

/**
 * Runs `npm <args>` in `cwd` (a package.json whose script starts a stand-in printing "stand-in up"), sends it a
 * signal with `signal` once the stand-in is up, and answers everything printed on stdout by the time npm has
 * closed: "close" is npm and the stand-in both exited (the stand-in holds the same stdout pipe). `detached` puts
 * npm in its own process group, as a terminal's foreground job is, for a signal to the whole group.
 */
export async function outputAfterSignal(
  args: readonly string[],
  options: { cwd: string; detached?: boolean },
  signal: (npm: Npm) => void,
): Promise<string> {
  const npm = spawn("npm", [...args], { ...options, stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  const up = new Promise<void>((resolve) =>
    npm.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("stand-in up")) resolve();
    }),
  );
  const closed = new Promise<void>((resolve) => npm.on("close", () => resolve()));
  await up;
  signal(npm);
  await closed;
  return output;
}
