import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bundle, coldInitMs } from "../../../bench/functions.js";

/**
 * `npm run bench` imports each bundle in a fresh process with the function's dummy environment: the bundle must be
 * built for the environment that environment names, or a function that loads its config at import (the sweeper,
 * the topic routes) finds no such environment in it and the bench stops.
 */
describe("the bench's cold init", () => {
  const outdir = mkdtempSync(path.join(tmpdir(), "punctual-cold-init-"));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it("imports a function that loads its environment's config at import", async () => {
    const { file } = await bundle("pause-topic", outdir);
    expect(Number.isFinite(coldInitMs("pause-topic", file))).toBe(true);
  }, 60_000);
});
