import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ABORTED_ANSWER_MS, CLEAN_UP_RESERVE_MS, inTime } from "#shared/services/add-task.js";
import { hangs } from "../../support/invocation.js";

/** `inTime`: a call given up near the invocation's deadline, whole or keeping what it did by then. */
const deps = { timeLeftMs: () => CLEAN_UP_RESERVE_MS + 1_000 };

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("inTime", () => {
  it("fails a call still unanswered at the deadline as a TimeoutError, and aborts its signal", async () => {
    // Prepare
    let signal: AbortSignal | undefined;
    const outcome = inTime(deps, (s) => {
      signal = s;
      return hangs();
    });
    const assessed = expect(outcome).rejects.toMatchObject({ name: "TimeoutError" });

    // Act
    await vi.advanceTimersByTimeAsync(1_000);

    // Assess
    await assessed;
    expect(signal?.aborted).toBe(true);
  });

  it("keepsWhatIsDone: answers what the call answers once aborted, not a failure of the whole", async () => {
    // Prepare: a call of many parts that answers with the parts not done as soon as it is aborted
    const outcome = inTime(
      deps,
      (signal) =>
        new Promise<string[]>((resolve) =>
          signal.addEventListener("abort", () => resolve(["the hung part"]), { once: true }),
        ),
      { keepsWhatIsDone: true },
    );

    // Act
    await vi.advanceTimersByTimeAsync(1_000);

    // Assess
    await expect(outcome).resolves.toEqual(["the hung part"]);
  });

  it(`keepsWhatIsDone: fails a call that ignores its abort ${ABORTED_ANSWER_MS} ms after it`, async () => {
    // Prepare
    const outcome = inTime(deps, () => hangs(), { keepsWhatIsDone: true });
    let settled = false;
    outcome
      .catch(() => undefined)
      .finally(() => {
        settled = true;
      });

    // Act: the deadline, then not quite the answer's time
    await vi.advanceTimersByTimeAsync(1_000 + ABORTED_ANSWER_MS - 1);
    const settledBefore = settled;
    await vi.advanceTimersByTimeAsync(1);

    // Assess
    expect(settledBefore).toBe(false);
    await expect(outcome).rejects.toMatchObject({ name: "TimeoutError" });
  });

  it("refuses a call due at or past its deadline unsent, as a TimeoutError", async () => {
    // Prepare: the step before ran right up to this call's deadline
    const calls: AbortSignal[] = [];

    // Act
    const outcome = inTime({ timeLeftMs: () => CLEAN_UP_RESERVE_MS }, async (signal) => {
      calls.push(signal);
      return "answered";
    });

    // Assess: never made (an in-memory call would have answered at once; a real one costs its CPU, then aborts)
    await expect(outcome).rejects.toMatchObject({ name: "TimeoutError" });
    expect(calls).toEqual([]);
  });

  it("reserveMs: gives the call up that long before the end instead of the clean-up's reserve", async () => {
    // Prepare: a step with work after it besides the clean-up keeps 500 ms more of the invocation
    let signal: AbortSignal | undefined;
    const outcome = inTime(
      deps,
      (s) => {
        signal = s;
        return hangs();
      },
      { reserveMs: CLEAN_UP_RESERVE_MS + 500 },
    );
    const assessed = expect(outcome).rejects.toMatchObject({ name: "TimeoutError" });

    // Act
    await vi.advanceTimersByTimeAsync(500);

    // Assess
    await assessed;
    expect(signal?.aborted).toBe(true);
  });
});
