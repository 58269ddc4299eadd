import { describe, expect, it } from "vitest";
import { MAX_BACKOFF_SECONDS } from "#shared/config/schema.js";
import { RETRY_WAIT_MARGIN_MS, retryWaitLeftMs } from "#shared/domain/retry-wait.js";
import type { TaskRecord } from "#shared/domain/task.js";

const NOW = 1_800_000_000_000;

/** An item is cast, not parsed: what a hand edit or a corrupted item may hold where the wait's end is read. */
const holding = (value: unknown) => ({ retryNotBeforeMs: value }) as Pick<TaskRecord, "retryNotBeforeMs">;

describe("retryWaitLeftMs", () => {
  it("counts what is left of a wait, none within the margin, none without one", () => {
    expect(retryWaitLeftMs(holding(NOW + 5_000), NOW)).toBe(5_000);
    expect(retryWaitLeftMs(holding(NOW + RETRY_WAIT_MARGIN_MS), NOW)).toBe(0);
    expect(retryWaitLeftMs(holding(NOW - 1), NOW)).toBe(0);
    expect(retryWaitLeftMs({}, NOW)).toBe(0);
  });

  it.each<[string, unknown]>([
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["text", "soon"],
    ["null", null],
  ])("a wait's end that is not a number (%s) is no wait: never a hide for NaN seconds", (_, value) => {
    const left = retryWaitLeftMs(holding(value), NOW);
    expect(left).toBe(0);
  });

  it("a wait's end further ahead than any wait can ask (a hand edit, a skewed writer) is no wait, not days of hides", () => {
    const longest = MAX_BACKOFF_SECONDS * 1_000;
    expect(retryWaitLeftMs(holding(NOW + longest), NOW)).toBe(longest);
    expect(retryWaitLeftMs(holding(NOW + 30 * 86_400_000), NOW)).toBe(0);
  });
});
