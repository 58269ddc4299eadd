import { describe, expect, it } from "vitest";
import { destinationsHint } from "../../../console/src/destinations-hint.js";

/**
 * GET /v1/destinations holds at most about 4 MB of rows, open circuits first: past that the closed ones are left
 * out and the answer says `truncated`. The panel must say so (the CLI does), or a host missing from it reads as a
 * host with no circuit.
 */
describe("the destinations panel's hint", () => {
  it("says that closed circuits were left out of a truncated answer", () => {
    expect(destinationsHint({ destinations: [], truncated: true })).toMatch(/closed ones were left out/);
  });

  it("says there is no circuit yet only when the answer holds none and left none out", () => {
    expect(destinationsHint({ destinations: [] })).toBe("No callback host has a circuit yet.");
  });
});
