import { describe, expect, it } from "vitest";
import { makeTaskKey } from "#shared/domain/keys.js";
import { byPartition, groupSweepWindow, latestOwnKey, planRelayBatch } from "#shared/domain/relay-plan.js";

const NOW = 1_800_000_000_000;
const message = (id: string, group: string, dueAtMs: number, ulid: string) => ({
  id,
  key: makeTaskKey("demo", group, dueAtMs, ulid),
});

describe("planRelayBatch", () => {
  it("forwards what is due, waits once for the latest sub-second remainder, re-arms the rest", () => {
    // Prepare
    const due = message("a", "g1", NOW - 5, "01JD0000000000000000000001");
    const soon = message("b", "g1", NOW + 300, "01JD0000000000000000000002");
    const sooner = message("c", "g2", NOW + 100, "01JD0000000000000000000003");
    const later = message("d", "g2", NOW + 4_500, "01JD0000000000000000000004");

    // Act
    const plan = planRelayBatch([due, soon, sooner, later], NOW);

    // Assess
    expect(plan.dueNow).toEqual([due]);
    expect(plan.dueSoon).toEqual([soon, sooner]);
    expect(plan.waitUntilMs).toBe(NOW + 300);
    expect(plan.rearm).toEqual([{ message: later, delaySeconds: 4 }]);
  });
});

describe("byPartition, groupSweepWindow, latestOwnKey", () => {
  it("groups by partition in first-seen order and sweeps up to the latest own task, never past now", () => {
    // Prepare
    const a1 = message("a1", "a", NOW - 2_000, "01JD0000000000000000000011");
    const b1 = message("b1", "b", NOW - 1_000, "01JD0000000000000000000012");
    const a2 = message("a2", "a", NOW - 1_000, "01JD0000000000000000000013");

    // Act
    const groups = byPartition([a1, b1, a2]);
    const window = groupSweepWindow([a1, a2], NOW, 60_000);

    // Assess
    expect([...groups.values()]).toEqual([[a1, a2], [b1]]);
    expect(window).toEqual({ fromMs: NOW - 2_000 - 60_000, toMs: NOW - 1_000 });
    expect(latestOwnKey([a2, a1])).toBe(a2.key);
    expect(groupSweepWindow([message("f", "a", NOW + 500, "01JD0000000000000000000014")], NOW, 0).toMs).toBe(
      NOW,
    );
  });
});
