import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { tableAfter } from "./readme.js";

/**
 * README "Environment variables" lists every `PUNCTUAL_*` variable the code reads, and only those. Not listed:
 * `PUNCTUAL_BUNDLED_ENVIRONMENT`, an esbuild define (cdk/lib/bundling.ts) rather than a variable anyone sets, and
 * the end-to-end suite's `PUNCTUAL_E2E_*`, which localstack/README.md lists.
 */
const root = new URL("../../../", import.meta.url);
const NOT_VARIABLES = new Set(["PUNCTUAL_BUNDLED_ENVIRONMENT"]);

function tableVariables(): Set<string> {
  const cells = tableAfter("### Environment variables").map(([variables]) => variables ?? "");
  return new Set(
    cells.flatMap((cell) => [...cell.matchAll(/`(PUNCTUAL_[A-Z0-9_]+)`/g)].map((m) => m[1] as string)),
  );
}

/** The variables named in the repository's code (git's tracked files: no node_modules, no build output). */
function variablesInCode(pathspecs: string[]): Set<string> {
  const out = execFileSync("git", ["grep", "-ohE", "\\bPUNCTUAL_[A-Z0-9_]+\\b", "--", ...pathspecs], {
    cwd: root,
    encoding: "utf8",
  });
  return new Set(
    out.split("\n").filter((name) => name && !NOT_VARIABLES.has(name) && !name.startsWith("PUNCTUAL_E2E_")),
  );
}

describe("README environment variables", () => {
  it("lists every PUNCTUAL_* variable the code reads (tests aside)", () => {
    const read = variablesInCode(["*.ts", "*.mjs", ":!test/**", ":!**/*.test.ts"]);
    const listed = tableVariables();
    expect([...read].filter((name) => !listed.has(name)).sort()).toEqual([]);
  });

  it("lists none that nothing reads", () => {
    const named = variablesInCode(["*.ts", "*.mjs", "package.json"]);
    expect([...tableVariables()].filter((name) => !named.has(name)).sort()).toEqual([]);
  });
});
