import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { describe, expect, it } from "vitest";

const BIN = path.resolve(import.meta.dirname, "../../../cli/bin/punctual.mjs");

/**
 * `npx punctual console` runs the CLI as `sh -c 'punctual' …` under npm, which passes a SIGTERM on to that shell
 * only: the shell dies of it without passing it on. Here a shell that cannot `exec` its command (`; :` after it)
 * stands in for npm's.
 */
describe("punctual console whose parent shell is stopped", () => {
  it("stops too, instead of serving on with the user's credentials", async () => {
    // Prepare: the console started through a shell, serving (its URL printed)
    const shell = spawn(
      "sh",
      ["-c", `"${process.execPath}" "${BIN}" --api http://127.0.0.1:9 console --port 0; :`],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    shell.stdout.setEncoding("utf8");
    const serving = new Promise<void>((resolve) =>
      shell.stdout.on("data", (chunk: string) => {
        output += chunk;
        if (output.includes("Punctual console for")) resolve();
      }),
    );
    await serving;
    const closed = once(shell.stdout, "close");

    // Act: the shell is stopped, as npm stops it
    shell.kill("SIGTERM");

    // Assess: the console's end of the pipe closes, so it has exited (a console left running would hold it open)
    await closed;
    expect(shell.killed).toBe(true);
  }, 30_000);
});
