import { describe, expect, it } from "vitest";
import { DEFAULT_FC_SEED, propertyRuns, propertySeed } from "../../support/fast-check-runs.js";

describe("property tests' seed and runs (test/support/fast-check-runs.ts)", () => {
  it("runs with the fixed seed unless FC_SEED chooses one, or random", () => {
    expect(propertySeed({})).toBe(DEFAULT_FC_SEED);
    expect(propertySeed({ FC_SEED: "" })).toBe(DEFAULT_FC_SEED);
    expect(propertySeed({ FC_SEED: "260511629" })).toBe(260511629);
    expect(propertySeed({ FC_SEED: "-7" })).toBe(-7);
    expect(propertySeed({ FC_SEED: "random" })).toBeUndefined();
  });

  it("refuses an FC_SEED that is not an integer rather than run unseeded by mistake", () => {
    for (const bad of ["abc", "1.5", "1e400", "0x10x"])
      expect(() => propertySeed({ FC_SEED: bad })).toThrow(/FC_SEED/);
  });

  it("scales the cases and replays a path", () => {
    expect(propertyRuns(300, {})).toEqual({ numRuns: 300, seed: DEFAULT_FC_SEED });
    expect(propertyRuns(300, { FC_RUNS_SCALE: "4", FC_SEED: "random", FC_PATH: "3:1" })).toEqual({
      numRuns: 1200,
      path: "3:1",
    });
    expect(propertyRuns(1, { FC_RUNS_SCALE: "0.1" })).toMatchObject({ numRuns: 1 });
  });
});
