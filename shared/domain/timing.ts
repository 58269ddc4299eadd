import { msAtOrAfterInstant, msAtOrAfterSeconds } from "./whole-ms.js";

/** SQS refuses per-message delays above 900 s (fauxqs accepts them, so we cap ourselves). */
export const MAX_SQS_DELAY_SECONDS = 900;

export type TimerPlan =
  | { readonly kind: "queue"; readonly delaySeconds: number }
  | { readonly kind: "schedule"; readonly fireAtMs: number; readonly expression: string };

export interface TimerSettings {
  readonly horizonSeconds: number;
  readonly leadSeconds: number;
  /**
   * Timer-queue messages arrive this many whole seconds before due (0 when absent), so the event source's poll,
   * its batching window and a cold start are spent before the due time; the relay holds each task until due.
   */
  readonly earlyWakeSeconds?: number;
}

/**
 * Where a task's timer goes. Near-term tasks ride the timer queue with a per-message delay rounded *down* to
 * whole seconds and shortened by the early wake (the relay waits out the rest, so nothing is ever early); later
 * tasks get a one-time schedule `lead` seconds ahead of due, which absorbs Scheduler's up-to-60 s late firing.
 */
export function planTimer(dueAtMs: number, nowMs: number, settings: TimerSettings): TimerPlan {
  const untilDueMs = dueAtMs - nowMs;
  const fireAtMs = Math.floor((dueAtMs - settings.leadSeconds * 1000) / 1000) * 1000;
  // A schedule must name a second at least a second ahead: Scheduler documents no at() in the past, and the
  // CreateSchedule call and two clocks lie in between. Rounded down to the second, due − lead names the second
  // now is in not only within the lead (horizon 0) but for up to a second past it (lead = horizon, which the
  // config allows): the queue takes any delay, and the relay re-arms what it cannot reach in one.
  if (untilDueMs <= settings.horizonSeconds * 1000 || fireAtMs - nowMs < MIN_SCHEDULE_AHEAD_MS) {
    const earlyWakeMs = (settings.earlyWakeSeconds ?? 0) * 1000;
    return { kind: "queue", delaySeconds: queueDelaySeconds(untilDueMs - earlyWakeMs) };
  }
  return { kind: "schedule", fireAtMs, expression: atExpression(fireAtMs) };
}

/** The least time between planning a schedule and the second its at() names. */
const MIN_SCHEDULE_AHEAD_MS = 1000;

/** Whole seconds of delay that never overshoot `untilDueMs`, within what SQS accepts. */
export function queueDelaySeconds(untilDueMs: number): number {
  return Math.min(MAX_SQS_DELAY_SECONDS, Math.max(0, Math.floor(untilDueMs / 1000)));
}

/** EventBridge Scheduler's one-time expression, in UTC, to the second. */
export function atExpression(atMs: number): string {
  return `at(${new Date(atMs).toISOString().slice(0, 19)})`;
}

export type RelayDecision =
  | { readonly action: "forward" }
  | { readonly action: "wait"; readonly waitMs: number }
  | { readonly action: "rearm"; readonly delaySeconds: number };

/**
 * What the relay does with a timer message: forward what is due; wait in place for what arrived early by design
 * (the early wake plus the sub-second rest of the rounded-down delay — cheaper and more precise than another
 * queue round trip); put anything earlier back on the timer queue with the remaining whole seconds, less the
 * early wake (a schedule that fired ahead of due, or a delay longer than SQS allows). Each re-arm leaves at least
 * a second less to go, so re-arming converges on a wait.
 */
export function relayDecision(dueAtMs: number, nowMs: number, earlyWakeSeconds = 0): RelayDecision {
  const untilDueMs = dueAtMs - nowMs;
  if (untilDueMs <= 0) return { action: "forward" };
  const earlyWakeMs = earlyWakeSeconds * 1000;
  if (untilDueMs <= earlyWakeMs + 1000) return { action: "wait", waitMs: untilDueMs };
  return { action: "rearm", delaySeconds: queueDelaySeconds(untilDueMs - earlyWakeMs) };
}

/**
 * Due time of a request: exactly one of the three forms; a past due time means "now". A number's `written` is its
 * JSON token, kept only when its digits past the double's decide another millisecond than the double does
 * (`1796346000.0000001` is the double `1796346000`): so the spec, which idempotent repeats hash, is unchanged for
 * every other request.
 */
export type DueSpec =
  | { readonly timingMoment: number; readonly written?: string }
  | { readonly dueAt: string }
  | { readonly delaySeconds: number; readonly written?: string };

/** The first whole millisecond at or after the instant asked for: a sub-millisecond part rounds up, never down. */
export function requestedDueMs(spec: DueSpec, nowMs: number): number {
  if ("dueAt" in spec) return msAtOrAfterInstant(spec.dueAt);
  const seconds = "timingMoment" in spec ? spec.timingMoment : spec.delaySeconds;
  const ms = msAtOrAfterSeconds(spec.written ?? String(seconds));
  return "timingMoment" in spec ? ms : nowMs + ms;
}

/** The largest `maxDelaySeconds` a topic may have (the config schema's bound): five years of 366 days. */
export const MAX_DELAY_CEILING_SECONDS = 5 * 366 * 86_400;

/** A timing_moment above this is almost certainly milliseconds, worth saying so in the error. */
const LIKELY_MILLISECONDS = 100_000_000_000;

/**
 * Why a due time further ahead than the topic's maxDelay is refused, naming the limit: `maxDelaySeconds` undefined
 * when the request names no configured topic (then the most any topic may allow). One wording for every too-far
 * time, however far: `1e20` seconds, which no JS number holds exactly, is told the same limit as a second too many.
 */
export function tooFarAheadMessage(maxDelaySeconds: number | undefined, timingMoment?: number): string {
  const hint =
    timingMoment !== undefined && timingMoment > LIKELY_MILLISECONDS
      ? " (timing_moment is in seconds, not milliseconds)"
      : "";
  return maxDelaySeconds === undefined
    ? `is more than ${MAX_DELAY_CEILING_SECONDS} s ahead, the most any topic's maxDelay allows${hint}`
    : `is more than ${maxDelaySeconds} s ahead, the topic's maxDelay${hint}`;
}
