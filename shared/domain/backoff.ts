import { MAX_BACKOFF_SECONDS, type TopicSettings } from "#shared/config/schema.js";

/**
 * Seconds to hide a failed task before its next attempt: exponential from `initialSeconds`, capped at
 * `maxSeconds`, with jitter so a receiver that failed many groups at once is not hit by all of them together.
 * `attempt` is the number of the attempt that just failed (1 for the first).
 */
export function backoffSeconds(
  attempt: number,
  backoff: TopicSettings["backoff"],
  random: () => number = Math.random,
): number {
  const exponential = backoff.initialSeconds * backoff.multiplier ** Math.max(0, attempt - 1);
  const capped = Math.min(backoff.maxSeconds, exponential);
  let seconds: number;
  switch (backoff.jitter) {
    case "none":
      seconds = capped;
      break;
    case "full":
      seconds = random() * capped;
      break;
    case "equal":
      seconds = capped / 2 + (random() * capped) / 2;
      break;
  }
  // Visibility timeouts are whole seconds; rounding up never retries sooner than the policy says. The config
  // schema already caps the policy; clamping here as well keeps a hand-built or out-of-range policy (a NaN
  // multiplier, a huge exponent) from producing a visibility change SQS would refuse, which would leave the
  // message to come back after the queue's own timeout instead of the backoff.
  if (!Number.isFinite(seconds) || seconds < 0) return seconds > 0 ? MAX_BACKOFF_SECONDS : 0;
  return Math.min(MAX_BACKOFF_SECONDS, Math.ceil(seconds));
}
