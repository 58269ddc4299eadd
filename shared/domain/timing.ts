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
  // Within the lead the schedule would fire at or before now (possible only with horizon 0, which the config's
  // lead ≤ horizon check lets through): Scheduler documents no at() in the past, the queue takes any delay.
  if (untilDueMs <= Math.max(settings.horizonSeconds, settings.leadSeconds) * 1000) {
    const earlyWakeMs = (settings.earlyWakeSeconds ?? 0) * 1000;
    return { kind: "queue", delaySeconds: queueDelaySeconds(untilDueMs - earlyWakeMs) };
  }
  const fireAtMs = Math.floor((dueAtMs - settings.leadSeconds * 1000) / 1000) * 1000;
  return { kind: "schedule", fireAtMs, expression: atExpression(fireAtMs) };
}

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

/** Due time of a request: exactly one of the three forms; a past due time means "now". */
export type DueSpec =
  | { readonly timingMoment: number }
  | { readonly dueAt: string }
  | { readonly delaySeconds: number };

export function requestedDueMs(spec: DueSpec, nowMs: number): number {
  if ("timingMoment" in spec) return Math.round(spec.timingMoment * 1000);
  if ("dueAt" in spec) return Date.parse(spec.dueAt);
  return nowMs + Math.round(spec.delaySeconds * 1000);
}
