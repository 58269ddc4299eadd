import { describe, expect, it } from "vitest";
import { destinationsHint } from "../../../console/src/destinations-hint.js";

/**
 * GET /v1/destinations is a paged list in topic and host order: a page with a `next_cursor` has more rows after
 * it, an open circuit possibly among them. The panel must say so, or a host missing from a page reads as a host
 * with no circuit.
 */
describe("the destinations panel's hint", () => {
  const all = { openOnly: false, firstPage: true };

  it("says more rows follow, and where every open circuit is, when the page has a next_cursor", () => {
    // Open-only pages are filtered reads (each evaluates `limit` items): a cursor says the read goes on, not that
    // another open circuit is there, so the line may not promise one.
    expect(destinationsHint({ destinations: [], next_cursor: "abc" }, all)).toMatch(
      /More destinations follow on the next page; "open circuits only" lists every circuit/,
    );
    expect(
      destinationsHint({ destinations: [], next_cursor: "abc" }, { openOnly: true, firstPage: true }),
    ).toBe("The list goes on: the next page may hold more open circuits.");
  });

  it("says there is no circuit only on an empty first page with no cursor", () => {
    expect(destinationsHint({ destinations: [], next_cursor: null }, all)).toBe(
      "No callback host has a circuit yet.",
    );
    expect(
      destinationsHint({ destinations: [], next_cursor: null }, { openOnly: true, firstPage: true }),
    ).toBe("No circuit is open.");
    expect(
      destinationsHint({ destinations: [], next_cursor: null }, { openOnly: false, firstPage: false }),
    ).toBeUndefined();
  });
});
