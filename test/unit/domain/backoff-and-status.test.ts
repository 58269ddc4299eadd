import { describe, expect, it } from "vitest";
import { parseConfig, type TopicConfig } from "#shared/config/index.js";
import { MAX_BACKOFF_SECONDS, MAX_INVOCATION_SECONDS } from "#shared/config/schema.js";
import { backoffSeconds } from "#shared/domain/backoff.js";
import {
  canTransition,
  claimExpiry,
  DELIVERABLE_STATUSES,
  finishedExpiry,
  retentionExpiry,
  TASK_STATUSES,
} from "#shared/domain/task.js";

const POLICY = { initialSeconds: 1, maxSeconds: 2, multiplier: 2, jitter: "none" as const };

describe("backoff", () => {
  it("grows exponentially from initialSeconds and stops at maxSeconds", () => {
    const slow = { initialSeconds: 5, maxSeconds: 900, multiplier: 2, jitter: "none" as const };

    expect([1, 2, 3, 4, 5].map((a) => backoffSeconds(a, slow))).toEqual([5, 10, 20, 40, 80]);
    expect(backoffSeconds(20, slow)).toBe(900);
    expect([1, 2, 3].map((a) => backoffSeconds(a, POLICY))).toEqual([1, 2, 2]);
  });

  it("equal jitter stays within [half, full] of the step; full jitter within [0, full]", () => {
    const equal = { ...POLICY, initialSeconds: 10, maxSeconds: 100, jitter: "equal" as const };
    const full = { ...equal, jitter: "full" as const };

    expect(backoffSeconds(1, equal, () => 0)).toBe(5);
    expect(backoffSeconds(1, equal, () => 0.999)).toBe(10);
    expect(backoffSeconds(2, full, () => 0)).toBe(0);
    expect(backoffSeconds(2, full, () => 0.5)).toBe(10);
  });

  it("never exceeds SQS's 12-hour visibility limit, counted from receipt (one invocation may have passed)", () => {
    const huge = { initialSeconds: 43_200, maxSeconds: 43_200, multiplier: 10, jitter: "none" as const };

    expect(backoffSeconds(50, huge)).toBe(MAX_BACKOFF_SECONDS);
    expect(MAX_BACKOFF_SECONDS + MAX_INVOCATION_SECONDS).toBeLessThanOrEqual(43_200);
  });

  it("clamps a policy outside the schema's range (infinite, NaN or negative steps) into [0, cap]", () => {
    const overflow = {
      initialSeconds: 1e308,
      maxSeconds: Number.POSITIVE_INFINITY,
      multiplier: 10,
      jitter: "none" as const,
    };
    const negative = { ...POLICY, initialSeconds: -5, maxSeconds: 10 };
    const nan = { ...POLICY, multiplier: Number.NaN };

    expect(backoffSeconds(3, overflow)).toBe(MAX_BACKOFF_SECONDS);
    expect(backoffSeconds(1, negative)).toBe(0);
    expect(backoffSeconds(2, nan)).toBe(0);
  });
});

describe("idempotency claim expiry", () => {
  const topicWith = (overrides: object): TopicConfig =>
    parseConfig({ name: "t", topics: { a: overrides } }).resolvedTopics.a as TopicConfig;
  /** The latest a task can be forgotten when each attempt waits `pauseSeconds` before the next one. */
  const latestRetentionEnd = (topic: TopicConfig, dueAtMs: number, pauseSeconds: number) =>
    retentionExpiry(
      dueAtMs + topic.maxAttempts * (pauseSeconds + topic.callbackTimeoutSeconds) * 1000,
      topic.retentionDays,
    );

  it("outlives a task whose every attempt backs off for the longest step", () => {
    const topic = topicWith({ maxAttempts: 50, backoff: { maxSeconds: 3_600 } });

    expect(claimExpiry(0, topic)).toBeGreaterThanOrEqual(latestRetentionEnd(topic, 0, 3_600));
  });

  it("outlives a task whose receiver answers every attempt with a Retry-After up to the topic's cap, longer than its backoff", () => {
    const topic = topicWith({ maxAttempts: 50, backoff: { maxSeconds: 60 }, retryAfterCapSeconds: 3_600 });

    expect(claimExpiry(0, topic)).toBeGreaterThanOrEqual(latestRetentionEnd(topic, 0, 3_600));
  });
});

describe("status transitions", () => {
  it.each([
    ["scheduled", "queued", true],
    ["scheduled", "cancelled", true],
    ["scheduled", "delivering", true],
    ["queued", "cancelled", true],
    ["queued", "delivering", true],
    ["delivering", "delivering", true],
    ["delivering", "delivered", true],
    ["delivering", "failed", true],
    ["delivering", "cancelled", true],
    ["delivered", "delivering", false],
    ["cancelled", "queued", false],
    ["failed", "delivering", false],
  ] as const)("%s → %s: %s", (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed);
  });

  it("terminal statuses go nowhere", () => {
    for (const from of ["delivered", "failed", "cancelled"] as const) {
      expect(TASK_STATUSES.filter((to) => canTransition(from, to))).toEqual([]);
    }
    expect(DELIVERABLE_STATUSES).toEqual(["scheduled", "queued", "delivering"]);
  });

  it("retention counts from completion", () => {
    expect(retentionExpiry(Date.UTC(2026, 0, 1), 3)).toBe(Date.UTC(2026, 0, 4) / 1000);
  });

  it("a finished task expires with its retention, or at its floor (a moved task's) when that is later", () => {
    const done = Date.UTC(2026, 0, 1);
    const retention = Date.UTC(2026, 0, 4) / 1000;
    expect(finishedExpiry({}, done, 3)).toBe(retention);
    expect(finishedExpiry({ expiresAtFloor: retention + 86_400 }, done, 3)).toBe(retention + 86_400);
    expect(finishedExpiry({ expiresAtFloor: retention - 1 }, done, 3)).toBe(retention);
  });
});
