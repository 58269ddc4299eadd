import { describe, expect, it } from "vitest";
import { makeTaskKey } from "#shared/domain/keys.js";
import {
  byPartition,
  dueWave,
  groupSweepWindow,
  latestOwnKey,
  RELAY_RETRY_MAX_SECONDS,
  relayRetrySeconds,
  splitRelayBatch,
} from "#shared/domain/relay-plan.js";
import { seeded } from "../../support/factories.js";

const NOW = 1_800_000_000_000;
const message = (id: string, group: string, dueAtMs: number, ulid: string) => ({
  id,
  key: makeTaskKey("demo", group, dueAtMs, ulid),
});

describe("splitRelayBatch and dueWave", () => {
  it("re-arms what is further off than the early wake plus a second and holds the rest, earliest due first", () => {
    // Prepare: early wake 2 s, so anything due within 3 s is held.
    const due = message("a", "g1", NOW - 5, "01JD0000000000000000000001");
    const held = message("b", "g1", NOW + 2_900, "01JD0000000000000000000002");
    const sooner = message("c", "g2", NOW + 100, "01JD0000000000000000000003");
    const later = message("d", "g2", NOW + 7_500, "01JD0000000000000000000004");

    // Act
    const split = splitRelayBatch([due, held, sooner, later], NOW, 2);

    // Assess: the re-arm leaves the early wake off the remaining 7.5 s.
    expect(split.hold).toEqual([due, sooner, held]);
    expect(split.rearm).toEqual([{ message: later, delaySeconds: 5 }]);
  });

  it("without an early wake holds only the last second, as relayDecision does", () => {
    // Prepare
    const soon = message("a", "g1", NOW + 1_000, "01JD0000000000000000000005");
    const later = message("b", "g1", NOW + 1_001, "01JD0000000000000000000006");

    // Act
    const split = splitRelayBatch([later, soon], NOW);

    // Assess
    expect(split.hold).toEqual([soon]);
    expect(split.rearm).toEqual([{ message: later, delaySeconds: 1 }]);
  });

  it("takes as a wave every held message due by now, and nothing a millisecond early", () => {
    // Prepare
    const [a, b, c] = [NOW - 10, NOW, NOW + 1].map((due, i) =>
      message(`w${i}`, "g", due, `01JD000000000000000000002${i}`),
    ) as [ReturnType<typeof message>, ReturnType<typeof message>, ReturnType<typeof message>];

    // Act
    const first = dueWave([a, b, c], NOW);
    const early = dueWave(first.rest, NOW);
    const second = dueWave(first.rest, NOW + 1);

    // Assess
    expect(first).toEqual({ wave: [a, b], rest: [c] });
    expect(early).toEqual({ wave: [], rest: [c] });
    expect(second).toEqual({ wave: [c], rest: [] });
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

describe("relayRetrySeconds", () => {
  const receives = [1, 2, 3, 4, 5, 6, 7, 8, 20, 1000];
  const lowest = () => 0;
  const highest = () => 1 - Number.EPSILON;

  it("retries a failed timer message after a step of 1 s, doubling with each receive up to a minute, never less than half the step", () => {
    expect(receives.map((n) => relayRetrySeconds(n, highest))).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
    expect(receives.map((n) => relayRetrySeconds(n, lowest))).toEqual([1, 1, 2, 4, 8, 16, 30, 30, 30, 30]);
    expect(RELAY_RETRY_MAX_SECONDS).toBe(60);
  });

  it("spreads the messages one fault failed together over the step, in whole seconds", () => {
    // Prepare: 1,000 messages failed at their 6th receive (a 32 s step)
    const random = seeded(6);

    // Act
    const waits = Array.from({ length: 1_000 }, () => relayRetrySeconds(6, random));

    // Assess: from half the step to the step, over (nearly) every whole second of it
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(16);
    expect(Math.max(...waits)).toBe(32);
    expect(new Set(waits).size).toBeGreaterThanOrEqual(16);
  });

  it("reads a missing or nonsensical receive count as a first receive", () => {
    expect(
      [0, -3, Number.NaN, Number.POSITIVE_INFINITY, 1.9].map((n) => relayRetrySeconds(n, highest)),
    ).toEqual([1, 1, 1, 1, 1]);
  });
});
