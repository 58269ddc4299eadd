/**
 * Numbers the stack derives from the configuration: function timeouts and memory, queue visibility
 * timeouts, receive-count backstops, retention and throttling. Kept free of `aws-cdk-lib` so the local cloud
 * can size its emulated queues and event-source runners from exactly the same rules as AWS.
 */
import type { PunctualConfig } from "#shared/config/index.js";
import { MATERIALIZER_PERIOD_MS } from "#shared/domain/schedule.js";

/** SQS's largest message size (1 MiB). Our messages are tiny (`{"v":1,"taskId":…}`), but the limit is set explicitly. */
export const MAX_MESSAGE_SIZE_BYTES = 1_048_576;

/** Messages wait in the timer queues at most this long (SQS default: 4 days). */
export const QUEUE_RETENTION_SECONDS = 4 * 86_400;
/**
 * Topic FIFO queues keep their messages for SQS's maximum, 14 days (MessageRetentionPeriod 60–1,209,600 s). Since
 * issue 13.2 a near-term task waiting in its topic queue is carried by that message alone (it is not in the sweep
 * index unless `sweeper.indexNearTermTasks`), so the retention bounds how long a paused topic holds such a task
 * safely: 14 days, not 4. A FIFO message moved to its DLQ starts a new retention period there (AWS: "For FIFO
 * queues, the enqueue timestamp resets when the message is moved to a dead-letter queue"), so an equal DLQ
 * retention still keeps every dead letter for 14 days.
 */
export const TOPIC_QUEUE_RETENTION_SECONDS = 14 * 86_400;
/** Dead-letter queues keep their messages for SQS's maximum, 14 days — longer than any source queue. */
export const DLQ_RETENTION_SECONDS = 14 * 86_400;

/**
 * The relay forwards a batch of timer messages (config `eventSources.relay.batchSize`, 10 by default, 100 in the
 * deployed environments): a DynamoDB query per group, up to 32 groups side by side, then SendMessageBatch calls
 * holding one entry per group (the relay writes nothing to the table), plus in-place waiting of at most the early
 * wake + 1 s (≤ 11 s, config-enforced). The relay answers `RELAY_ANSWER_RESERVE_MS` (6 s) before this timeout,
 * reporting what is unfinished as failed; the timer queue's visibility timeout is 6 × this.
 */
export const RELAY_TIMEOUT_SECONDS = 30;
/**
 * Backstop only: the relay reports failed records and makes them visible again after a backoff of 1, 2, 4 … 32 s,
 * then a minute per receive, each between half of it and all of it (`relayRetrySeconds`,
 * shared/domain/relay-plan.ts), so 60 receives are 28–55 minutes of retries (32 s + 54 × 30 s at the least, 63 s +
 * 54 × 60 s at the most) before a timer message is parked in the timer DLQ; a relay that dies mid-batch leaves its
 * messages to the visibility timeout (6 × 30 s) instead. The task stays `scheduled` in the table; the sweeper
 * forwards it once it is past due and drains the DLQ message. SQS allows 1–1,000.
 */
export const TIMER_QUEUE_MAX_RECEIVE_COUNT = 60;

/** API functions answer API Gateway, whose HTTP API integration timeout is 30 s at most. */
export const API_FUNCTION_TIMEOUT_SECONDS = 10;

/**
 * The topic queue's receive-count backstop, the deliver function's timeout and the queues' visibility timeouts:
 * shared with the deliver function (shared/config/receive-backstop.ts).
 */
export {
  deliverTimeoutSeconds,
  SQS_MAX_RECEIVE_COUNT,
  topicMaxReceiveCount,
  VISIBILITY_TIMEOUT_FACTOR,
  visibilityTimeoutSeconds,
} from "#shared/config/index.js";

/**
 * Lambda memory (MB) of the pipeline's functions. CPU scales with memory; the hot paths (relay, deliver) get
 * 512 MB. The API's functions are sized in their route's row (shared/api/routes.ts).
 */
export const FUNCTION_MEMORY_MB = {
  relay: 512,
  deliver: 512,
  sweeper: 256,
  // Issue 14, point 4: adds occurrence tasks through the add-task service, up to 16 at a time.
  "schedule-materializer": 512,
} as const;

/** The orphan sweeper runs on an EventBridge rule every this many minutes. */
export const SWEEPER_RATE_MINUTES = 1;
/**
 * The sweeper's timeout: below its rate, so runs rarely overlap (overlapping runs are harmless: every repair is
 * idempotent). The sweeper starts no new group in its last 10 s.
 */
export const SWEEPER_TIMEOUT_SECONDS = 50;

/**
 * The schedule materializer (issue 14, point 4) runs every minute; its horizon (4 minutes,
 * shared/domain/schedule.ts) covers three missed runs. Timeout below the rate, like the sweeper's; overlapping
 * runs are harmless (occurrences are idempotent, the cursor write conditional). The period is the domain's: the
 * pass at creation and resume covers two of them (INLINE_COVER_MS), so a faster rate only adds slack.
 */
export const MATERIALIZER_RATE_MINUTES = MATERIALIZER_PERIOD_MS / 60_000;
export const MATERIALIZER_TIMEOUT_SECONDS = 50;

/**
 * Default throttling of the API stage (requests/s and burst). The seeds ask for 3,500 adds/s per topic; the
 * account-level API Gateway quota (10,000 rps) still applies above this.
 */
export const API_THROTTLE = { rateLimit: 5_000, burstLimit: 2_500 } as const;

/**
 * Timer-queue backlog alarm threshold. Delayed messages (up to SQS's 900 s) may count towards
 * `ApproximateAgeOfOldestMessage`, so the alarm fires only when the oldest message is older than the longest
 * legitimate delay plus the system backlog allowance.
 */
export function timerBacklogAlarmSeconds(config: Pick<PunctualConfig, "system">): number {
  return 900 + config.system.alarms.backlogAgeSeconds;
}

/** Log retention (days): short for throw-away environments, three months where data is retained. */
export function logRetentionDays(config: Pick<PunctualConfig, "removalPolicy">): number {
  return config.removalPolicy === "retain" ? 90 : 7;
}
