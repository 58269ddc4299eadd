import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { NODE_VERSION_WARNING_VARIABLE } from "../../../shared/runtime/node-version.js";

const BIN = path.resolve(import.meta.dirname, "../../../cli/bin/punctual.mjs");

let home: string | undefined;
afterEach(() => {
  if (home) rmSync(home, { recursive: true, force: true });
  home = undefined;
});

/**
 * The installed CLI as a user starts it: no region anywhere (no AWS_REGION, a home without ~/.aws), and the SDK's
 * Node-version notice not switched off by the environment (vitest's own setting removed), so what reaches stderr is
 * what a user on Node 20 sees. Nothing is sent: without a region the look-up never starts.
 */
function punctualWithoutRegion(args: string[]): Promise<{ code: number; out: string; err: string }> {
  home = mkdtempSync(path.join(tmpdir(), "punctual-home-"));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, PUNCTUAL_API_URL: "" };
  for (const name of [
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    NODE_VERSION_WARNING_VARIABLE,
  ]) {
    delete env[name];
  }
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: typeof error?.code === "number" ? error.code : 0, out: stdout, err: stderr });
    });
  });
}

// Each test starts the installed CLI in a new Node process (what a user sees on stderr is the point): its start-up
// and imports took up to 1.5 s on a loaded 2-core host, too near vitest's 5 s default; hence each its own timeout.
describe("punctual --env NAME with no region to be found", () => {
  it("is a usage error (exit 1), as --api without a region is, not a failure worth retrying", async () => {
    // Act
    const result = await punctualWithoutRegion(["--env", "prod", "tasks", "get", "t-1"]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/region of stack Punctual-prod: give --region or set AWS_REGION/);
  }, 20_000);

  it("with --json leaves one JSON document on stderr, the SDK's Node-version notice included in none", async () => {
    // Act
    const result = await punctualWithoutRegion(["--env", "prod", "--json", "key", "--topic", "demo"]);

    // Assess
    expect(result.out).toBe("");
    expect(JSON.parse(result.err)).toEqual({
      error: { code: "usage", message: expect.stringMatching(/give --region or set AWS_REGION/) },
    });
    expect(result.code).toBe(1);
  }, 20_000);
});
