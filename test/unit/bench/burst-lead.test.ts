import { describe, expect, it } from "vitest";
import { burstLeadMs } from "../../../bench/lib/burst-lead.js";

describe("the burst's lead from the adds workload (bench/lib/burst-lead.ts)", () => {
  it("gives the 3,000-task burst room at the single-add rate measured, as before the warm-up", () => {
    // Prepare: a result saved before the warm-up was split off (no warmUp), 600 adds/s
    const saved = { tasks: 6_000, addRate: 600 };

    // Act
    const leadMs = burstLeadMs(3_000, saved);

    // Assess: 5 s of adds, a tenth more, and 2 s
    expect(leadMs).toBeCloseTo(7_500, 6);
  });

  it("counts the warm-up's adds with the measured ones: the burst adds on a fresh system", () => {
    // Prepare: 1,500 adds in the warm-up at 500/s (3 s), then 8,000 measured at 800/s (10 s): 9,500 in 13 s
    const adds = { tasks: 8_000, addRate: 800, warmUp: { durationMs: 3_000, tasks: 1_500, addRate: 500 } };

    // Act
    const leadMs = burstLeadMs(3_000, adds);

    // Assess
    expect(leadMs).toBeCloseTo((3_000 / (9_500 / 13)) * 1_100 + 2_000, 6);
    expect(leadMs).toBeGreaterThan(burstLeadMs(3_000, { tasks: 8_000, addRate: 800 }));
  });

  it("never starts less than 5 s ahead, and falls back to 300 adds/s with no adds measured", () => {
    // Act
    const fast = burstLeadMs(3_000, {
      tasks: 50_000,
      addRate: 5_000,
      warmUp: { durationMs: 1_000, tasks: 3_000, addRate: 3_000 },
    });
    const unmeasured = burstLeadMs(3_000, undefined);

    // Assess
    expect(fast).toBe(5_000);
    expect(unmeasured).toBeCloseTo(13_000, 6);
  });
});
