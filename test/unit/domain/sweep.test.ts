import { describe, expect, it } from "vitest";
import { loadEnvironmentConfig, parseConfig } from "#shared/config/index.js";
import {
  FIFO_DEDUPLICATION_WINDOW_MS,
  progressAtMs,
  retryAfterAllowanceMs,
  scheduledGraceMs,
  stalledAfterMs,
} from "#shared/domain/sweep.js";

describe("sweep windows", () => {
  it("grace: the configured seconds, plus Scheduler's firing window the lead does not absorb", () => {
    const prod = loadEnvironmentConfig("prod");
    expect(prod.sweeper).toEqual({ scheduledGraceSeconds: 120, stallMarginSeconds: 60 });
    expect(scheduledGraceMs(prod, "queue")).toBe(120_000);
    expect(scheduledGraceMs(prod, "schedule")).toBe(120_000); // lead 120 s ≥ the 60 s window
    const shortLead = parseConfig({
      name: "x",
      timer: { horizonSeconds: 30, leadSeconds: 20 },
      topics: { a: {} },
    });
    expect(scheduledGraceMs(shortLead, "schedule")).toBe(160_000);
  });

  it("stall: the longest pause between two attempts of a live head, plus a deliver invocation and the margin", () => {
    const sweeper = { scheduledGraceSeconds: 120, stallMarginSeconds: 60 };
    // Default backoff caps at 900 s, above a 210 s visibility timeout.
    expect(
      stalledAfterMs(
        { backoff: { initialSeconds: 5, maxSeconds: 900, multiplier: 2, jitter: "equal" } },
        sweeper,
        {
          timeoutSeconds: 35,
          visibilityTimeoutSeconds: 210,
        },
      ),
    ).toBe((900 + 35 + 60) * 1000);
    // A short backoff: never below FIFO deduplication's window, or the copy would be dropped.
    expect(
      stalledAfterMs(
        { backoff: { initialSeconds: 1, maxSeconds: 2, multiplier: 2, jitter: "none" } },
        sweeper,
        {
          timeoutSeconds: 30,
          visibilityTimeoutSeconds: 180,
        },
      ),
    ).toBe(FIFO_DEDUPLICATION_WINDOW_MS + 60_000);
    // A fixed window when configured (the local tests).
    expect(
      stalledAfterMs(
        { backoff: { initialSeconds: 1, maxSeconds: 2, multiplier: 2, jitter: "none" } },
        { ...sweeper, stalledAfterSeconds: 3 },
        { timeoutSeconds: 30, visibilityTimeoutSeconds: 180 },
      ),
    ).toBe(3_000);
  });

  it("a head whose latest recorded attempt was answered 429 or 503 may idle longer: up to the Retry-After cap past the backoff cap", () => {
    const topic = {
      backoff: { initialSeconds: 5, maxSeconds: 900, multiplier: 2, jitter: "equal" },
      retryAfterCapSeconds: 3_600,
      maxAttempts: 5,
    } as const;
    const answered = (status: number | undefined) => ({
      status: "delivering" as const,
      attempts: 2,
      attemptSeq: 2,
      attemptLog: { "1": { seq: 2, startedAtMs: 0, durationMs: 20, ...(status && { status }) } },
    });
    expect(retryAfterAllowanceMs(answered(503), topic)).toBe((3_600 - 900) * 1000);
    expect(retryAfterAllowanceMs(answered(429), topic)).toBe((3_600 - 900) * 1000);
    expect(retryAfterAllowanceMs(answered(500), topic)).toBe(0);
    expect(retryAfterAllowanceMs(answered(undefined), topic)).toBe(0); // no answer (a timeout)
    // The latest attempt under way (its outcome not recorded): the 503 in the log is an earlier attempt's.
    expect(retryAfterAllowanceMs({ ...answered(503), attemptSeq: 3 }, topic)).toBe(0);
    expect(retryAfterAllowanceMs({ status: "delivering", attempts: 0 }, topic)).toBe(0);
    // Its last attempt: dead-lettered at once, no wait follows.
    expect(retryAfterAllowanceMs({ ...answered(503), attempts: 5 }, topic)).toBe(0);
    // Replayed since (`queued`, its log kept): the 503 was its earlier life's.
    expect(retryAfterAllowanceMs({ ...answered(503), status: "queued", attempts: 0 }, topic)).toBe(0);
    expect(retryAfterAllowanceMs(answered(503), { ...topic, retryAfterCapSeconds: 600 })).toBe(0);
  });

  it("progress is the latest of due, queued, attempt and re-send", () => {
    expect(progressAtMs({ dueAtMs: 10 })).toBe(10);
    expect(progressAtMs({ dueAtMs: 10, queuedAtMs: 12, lastAttemptAtMs: 30, requeuedAtMs: 20 })).toBe(30);
  });

  it("config: the sweeper section is validated", () => {
    expect(() =>
      parseConfig({ name: "x", sweeper: { scheduledGraceSeconds: -1 }, topics: { a: {} } }),
    ).toThrow(/sweeper.scheduledGraceSeconds/);
  });
});
