import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tableAfter } from "./readme.js";

/**
 * docs/OPERATIONS.md "Environment variables" lists every `PUNCTUAL_*` variable the code reads, and only those. Not listed:
 * `PUNCTUAL_BUNDLED_ENVIRONMENT`, an esbuild define (cdk/lib/bundling.ts) rather than a variable anyone sets, and
 * the end-to-end suite's `PUNCTUAL_E2E_*`, which localstack/README.md lists.
 */
const root = new URL("../../../", import.meta.url);
const NOT_VARIABLES = new Set(["PUNCTUAL_BUNDLED_ENVIRONMENT"]);

function tableVariables(): Set<string> {
  const cells = tableAfter("\n## Environment variables").map(([variables]) => variables ?? "");
  return new Set(
    cells.flatMap((cell) => [...cell.matchAll(/`(PUNCTUAL_[A-Z0-9_]+)`/g)].map((m) => m[1] as string)),
  );
}

/** The source rooms (docs/ARCHITECTURE.md); `test/` only where a variable merely has to be named somewhere. */
const SOURCE_ROOMS = [
  "functions",
  "shared",
  "cdk",
  "local",
  "client",
  "cli",
  "console",
  "plan",
  "bench",
  "chaos",
  "scripts",
];

/** The `PUNCTUAL_*` names in the rooms' TypeScript and JavaScript (specs left out unless `withTests`). */
function variablesInCode(rooms: readonly string[], withTests = false): Set<string> {
  const names = new Set<string>();
  for (const room of rooms) {
    const files = readdirSync(new URL(`${room}/`, root), { recursive: true, withFileTypes: true }).filter(
      (entry) =>
        entry.isFile() &&
        /\.(ts|tsx|mjs)$/.test(entry.name) &&
        (withTests || !entry.name.endsWith(".test.ts")) &&
        !path.join(entry.parentPath, entry.name).includes(`${path.sep}node_modules${path.sep}`),
    );
    for (const file of files) {
      const text = readFileSync(path.join(file.parentPath, file.name), "utf8");
      for (const [name] of text.matchAll(/\bPUNCTUAL_[A-Z0-9_]+\b/g))
        if (!NOT_VARIABLES.has(name) && !name.startsWith("PUNCTUAL_E2E_")) names.add(name);
    }
  }
  return names;
}

describe("the environment variables table (docs/OPERATIONS.md)", () => {
  it("lists every PUNCTUAL_* variable the code reads (tests aside)", () => {
    const read = variablesInCode(SOURCE_ROOMS);
    const listed = tableVariables();
    expect([...read].filter((name) => !listed.has(name)).sort()).toEqual([]);
  });

  it("lists none that nothing reads", () => {
    const named = variablesInCode([...SOURCE_ROOMS, "test"], true);
    expect([...tableVariables()].filter((name) => !named.has(name)).sort()).toEqual([]);
  });
});
