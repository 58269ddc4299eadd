import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bundle, FUNCTIONS, type FunctionName, sdkBytesOf } from "../../../bench/functions.js";

/**
 * Every handler the stack deploys: each file in functions/, not only the ones the benchmark measures (FUNCTIONS
 * leaves out the schedule materializer and the settings validator), so no function escapes the budget.
 */
const HANDLERS = readdirSync(new URL("../../../functions/", import.meta.url))
  .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"))
  .map((file) => file.slice(0, -".ts".length));

/**
 * The benchmark issue's target: a function's bundle ≤ 250 KB. What the target counts is the bundle without the AWS
 * SDK (docs/PERFORMANCE.md, "Targets"): the pinned SDK stays bundled for cold init, and one client alone is ~190 KB
 * whatever the function does. Bundled here exactly as the prod stack bundles (bench/functions.ts, cdk/lib/bundling.ts).
 */
const LIMIT_BYTES = 250 * 1024;

/**
 * The functions that do not fit without narrower libraries than this code base uses (docs/PERFORMANCE.md, "Not
 * done, and why"), each with the most it may weigh without the SDK (KB, rounded up), so that an exception does not
 * grow unseen either. Exactly these: one that comes under the limit must leave the list. None since 2026-12-03
 * (late): zod/mini instead of classic zod (shared/zod.ts) took ~57 KB off every function, and create-schedule
 * (288 → 230.2 KB), resume-schedule (283.4 → 225.6) and the schedule materializer (273.3 → 217.1) left the list.
 */
const KNOWN_OVER: Readonly<Record<string, number>> = {};

/**
 * The runtime's zod is zod/mini with the English locale alone (shared/zod.ts): classic zod (~97 KB, every method on
 * every schema) or another locale in a bundle is a module that imported `zod` or the `locales` namespace.
 */
function isStrayZod(input: string): boolean {
  return (
    input.includes("node_modules/zod/v4/classic/") ||
    (input.includes("node_modules/zod/v4/locales/") && !input.endsWith("/locales/en.js"))
  );
}

describe("function bundles", () => {
  const outdir = mkdtempSync(path.join(tmpdir(), "punctual-bundle-size-"));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it("stay within 250 KB without the AWS SDK, but for the known exceptions, which stay within their own", async () => {
    const over: string[] = [];
    const grown: string[] = [];
    const strayZod: string[] = [];
    expect(HANDLERS).toEqual(expect.arrayContaining([...FUNCTIONS]));
    for (const name of HANDLERS) {
      const { file, metafile } = await bundle(name as FunctionName, outdir, "prod");
      const withoutSdk = statSync(file).size - sdkBytesOf(metafile);
      // What the output holds: zod/mini's index names every locale, which esbuild reads and then leaves out.
      for (const output of Object.values(metafile.outputs)) {
        for (const [input, { bytesInOutput }] of Object.entries(output.inputs))
          if (bytesInOutput > 0 && isStrayZod(input)) strayZod.push(`${name}: ${input}`);
      }
      const row = `${name} ${(withoutSdk / 1024).toFixed(1)} KB`;
      if (withoutSdk > LIMIT_BYTES) over.push(row);
      const ceilingKb = KNOWN_OVER[name];
      if (ceilingKb !== undefined && withoutSdk > ceilingKb * 1024)
        grown.push(`${row} (at most ${ceilingKb})`);
    }
    expect(over.map((row) => row.split(" ")[0]).sort(), over.join(", ")).toEqual(
      Object.keys(KNOWN_OVER).sort(),
    );
    expect(grown, grown.join(", ")).toEqual([]);
    expect(strayZod).toEqual([]);
  }, 180_000);
});
