import { describe, expect, it } from "vitest";
import { BenchArgsError, parseBenchArgs } from "../../../bench/lib/args.js";

describe("npm run bench's command line", () => {
  it("reads the documented options", () => {
    // Act
    const args = parseBenchArgs([
      "--quick",
      "--only=burst,sustained",
      "--systems=punctual",
      "--burst-via=batch",
    ]);

    // Assess
    expect(args).toEqual({
      quick: true,
      only: ["burst", "sustained"],
      systems: ["punctual"],
      noFunctions: false,
      burstVia: "batch",
      sustainedVia: "api",
    });
  });

  it("with nothing given runs every workload on both systems", () => {
    expect(parseBenchArgs([])).toMatchObject({
      quick: false,
      only: undefined,
      systems: ["punctual", "bullmq"],
    });
  });

  it("reads --only burst (a space, not =) as --only=burst, not as a full run", () => {
    expect(parseBenchArgs(["--only", "burst"]).only).toEqual(["burst"]);
  });

  it.each([
    [["--quick", "burst"], "a stray workload name"],
    [["--qiuck"], "an option misspelt"],
    [["--only=bursts"], "an unknown workload"],
    [["--systems=redis"], "an unknown system"],
    [["--burst-via=sqs"], "an unknown way in"],
  ])("refuses %j rather than running something else (%s)", (argv) => {
    expect(() => parseBenchArgs(argv)).toThrow(BenchArgsError);
  });
});
