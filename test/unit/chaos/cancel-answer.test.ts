/**
 * The chaos client's reading of a cancel's 200 (chaos/engine/client.ts): whether the task it cancelled had been called
 * back before, so that only callbacks arriving after the first DELETE was sent break "cancel means cancelled".
 */
import { describe, expect, it } from "vitest";
import { calledBeforeCancel, inFlightAttemptOf } from "../../../chaos/engine/client.js";

const entry = { attempt: 1, started_at: "2026-12-05T03:00:00.000Z", duration_ms: 20, status: 503 };

describe("calledBeforeCancel", () => {
  it("reads a task cancelled before any attempt as never called, so any callback at all is after the cancel", () => {
    expect(calledBeforeCancel({ status: "cancelled", attempts: 0, attempt_log: [] })).toBe(false);
    expect(calledBeforeCancel({ status: "cancelled", attempts: 0 })).toBe(false);
    expect(calledBeforeCancel(undefined)).toBe(false);
  });

  it("reads a discarded dead letter, or a task cancelled while it waited for its retry, as called before", () => {
    expect(calledBeforeCancel({ status: "cancelled", attempts: 3, failed_at: "2026-12-05T03:00:00Z" })).toBe(
      true,
    );
    expect(calledBeforeCancel({ status: "cancelled", attempts: 1, attempt_log: [entry] })).toBe(true);
  });

  it("reads a task whose only calls were failed circuit probes (each attempt given back: attempts 0) as called before, by its attempt log", () => {
    expect(
      calledBeforeCancel({
        status: "cancelled",
        attempts: 0,
        attempt_log: [entry, { ...entry, attempt: 2 }],
      }),
    ).toBe(true);
  });
});

describe("inFlightAttemptOf", () => {
  it("reads a 202's attempts as the number of the attempt in flight (they count it), and nothing from an answer without them", () => {
    expect(inFlightAttemptOf({ status: "delivering", attempts: 2, attempt_log: [entry] })).toBe(2);
    expect(inFlightAttemptOf({ status: "delivering" })).toBeUndefined();
    expect(inFlightAttemptOf(undefined)).toBeUndefined();
  });
});
