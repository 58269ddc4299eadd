import { isProtectedTopic, type TopicSettings } from "./schema.js";

/** SQS's largest redrive `maxReceiveCount`. */
export const SQS_MAX_RECEIVE_COUNT = 1_000;

/**
 * `maxReceiveCount` of a topic's FIFO queue: a *backstop*, far above `maxAttempts`. Followers of a failing head
 * task are received (and reported failed, unattempted) many times while the head backs off; attempts are
 * counted in DynamoDB and the deliver function dead-letters the head itself at `maxAttempts`.
 *
 * A FIFO batch carries up to 10 of a group's messages, so the tenth is received with every attempt of the nine
 * ahead of it and then its own: up to 10 × maxAttempts − 9 receives when nothing else goes wrong. Every other
 * receive counts too (an invocation throttled, timed out or failed, a DynamoDB error, a record returned for lack
 * of time), so exactly 10 × maxAttempts left room for nine of them over the whole failing run: one failed
 * invocation per head moved that follower to the DLQ, and its followers were delivered before the sweeper re-sent
 * it. 20 × maxAttempts leaves room for one such receive per attempt ahead of it, up to SQS's largest value
 * (reached at maxAttempts 50; above that the room shrinks to 1,000 − (10 × maxAttempts − 9)).
 *
 * Here, not in the CDK's sizing, because the deliver function reads it too: past half of it, its waits that use no
 * attempt stretch (shared/services/deliver/visibility.ts). It reads the deployed topic's (its binding's
 * `maxReceiveCount`, shared/services/deliver/bindings.ts): runtime settings may lower `maxAttempts`, which changes
 * no queue, and counted from the lowered value the waits stretched long before the queue's real backstop.
 */
export function topicMaxReceiveCount(
  topic: Pick<
    TopicSettings,
    "maxAttempts" | "rateLimit" | "maxConcurrencyPerHost" | "circuitFailureThreshold"
  >,
): number {
  // A protected topic's messages also come back each time their destination makes them wait (no attempt
  // used): every wait is a receive. SQS's largest maxReceiveCount keeps that from reaching the DLQ.
  if (isProtectedTopic(topic)) return SQS_MAX_RECEIVE_COUNT;
  return Math.min(SQS_MAX_RECEIVE_COUNT, Math.max(100, topic.maxAttempts * 20));
}

/** AWS: a queue's visibility timeout should be at least 6 × its consuming function's timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

export function visibilityTimeoutSeconds(consumerTimeoutSeconds: number): number {
  return VISIBILITY_TIMEOUT_FACTOR * consumerTimeoutSeconds;
}

/**
 * A deliver function handles a batch of up to 10 FIFO messages and never starts a callback it cannot finish
 * before its own timeout (unstarted records go back with visibility 0 and no attempt counted). Three full
 * callback timeouts plus 5 s of DynamoDB/SQS bookkeeping per invocation, and never under 30 s.
 */
export function deliverTimeoutSeconds(topic: Pick<TopicSettings, "callbackTimeoutSeconds">): number {
  return Math.max(30, Math.ceil(3 * topic.callbackTimeoutSeconds + 5));
}

/**
 * A topic FIFO queue's visibility timeout as the stack deploys it (cdk/lib/constructs/topic.ts). Here, not only in
 * the CDK's sizing, because the deliver function reads it too: Lambda may invoke it with a batch received up to
 * that long before (shared/services/deliver/visibility.ts, `secondsLeftOfReceipt`).
 */
export function topicQueueVisibilitySeconds(topic: Pick<TopicSettings, "callbackTimeoutSeconds">): number {
  return visibilityTimeoutSeconds(deliverTimeoutSeconds(topic));
}
