import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { outputAfterSignal } from "../../support/npm-script-stand-in.js";

/**
 * docs/OPERATIONS.md ("The local cloud"): SIGTERM stops the local cloud in order and leaves no process behind. A supervisor
 * (systemd, a CI step, `kill %1`) signals the process it started, `npm start`, and npm passes the signal to its
 * child only: the `sh -c` running the script. Without `exec` that shell dies and the local cloud it started runs
 * on, orphaned, holding its ports. The same holds for the receiver (`npm run receiver`; `npx tsx …` has a shell of
 * npm's own in between, which no script of ours can replace: README, "Run it locally"). This runs each script's own
 * wording through npm, with a stand-in for its `tsx local/bin/….ts` that reports the signal.
 */
const root = new URL("../../../", import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));
const dir = mkdtempSync(join(tmpdir(), "punctual-npm-start-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// It ends itself after 10 s, so a failing run leaves nothing behind either.
const STAND_IN = `process.on("SIGTERM", () => { console.log("stand-in stopping"); process.exit(0); });
console.log("stand-in up"); setTimeout(() => process.exit(0), 10_000);`;

describe("npm start and npm run receiver", () => {
  it.each([
    ["start", "the local cloud's", "node --import tsx local/bin/start.ts"],
    ["receiver", "the receiver's", "tsx local/bin/receiver.ts"],
  ])(
    "npm run %s passes a SIGTERM sent to npm on to %s process",
    async (name, _whose, command) => {
      const script: string = pkg.scripts[name];
      expect(script).toContain(command);
      writeFileSync(join(dir, "stand-in.mjs"), STAND_IN);
      const scripts = { [name]: script.replace(command, "node stand-in.mjs") };
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "stand-in", private: true, scripts }));

      const output = await outputAfterSignal(["run", name, "--silent"], { cwd: dir }, (npm) =>
        npm.kill("SIGTERM"),
      );
      expect(output).toContain("stand-in stopping");
    },
    30_000,
  );
});
