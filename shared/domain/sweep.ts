import { createHash } from "node:crypto";
import type { PunctualConfig, TopicConfig } from "#shared/config/index.js";
import { MAX_BACKOFF_SECONDS, MAX_VISIBILITY_SECONDS } from "#shared/config/schema.js";
import { attemptLogSlot } from "./attempt-log.js";
import {
  TASK_STATUSES,
  type TaskRecord,
  type TaskStatus,
  TERMINAL_STATUSES,
  type TimerKind,
} from "./task.js";

/**
 * The sweep index: a sparse global secondary index of the task table holding the unfinished tasks (`scheduled`,
 * `queued`, `delivering`) that are off the near-term happy path (`indexedOnAdd` below), so the sweeper finds
 * orphans with a few Queries instead of a Scan.
 *
 * - Partition key `sweepShard` (number): a shard in [0, SWEEP_SHARDS) derived from the task id. Set when a task
 *   is written off the near-term happy path or leaves it, REMOVEd when it becomes delivered / failed / cancelled;
 *   an item without it is not in the index. Spreading by task id (not by group) means no group, however hot,
 *   concentrates index writes on one key.
 * - Sort key `dueAtMs`: the due time, which never changes. The index is therefore written at most twice per task
 *   (insert, delete on completion), and never for a near-term task delivered at its first attempt —
 *   startAttempt touches neither key nor projected attribute. Every overdue indexed task of a group is found
 *   whenever a later one is, and the sweeper judges a group by its head read from the table, indexed or not.
 * - Projection: keys plus `taskId`. Progress times are read from the table itself, strongly consistent, and
 *   only for groups with overdue work.
 *
 * SWEEP_SHARDS may grow (new tasks spread over more shards; the sweeper queries them all) but must never shrink
 * while unfinished tasks sit in the high shards.
 */
export const SWEEP_INDEX_NAME = "unfinished-by-due";
export const SWEEP_SHARD_ATTRIBUTE = "sweepShard";
export const SWEEP_SORT_ATTRIBUTE = "dueAtMs";
export const SWEEP_SHARDS = 32;

/**
 * Whether a new task goes into the sweep index with its first write (issue 13.2). A near-term task does not: from
 * the moment add-task answers 2xx its timer message is durable in SQS, and every way it can then leave its queues
 * undelivered goes through a write that puts it in the index — a failed attempt (`recordAttemptFailure`), a
 * reschedule, the sweeper's own forward, a replay, an arming that failed (add-task's failure path; the fan-out
 * add's for each copy it leaves unarmed, shared/services/fan-out/add.ts), and a message moved to a DLQ (the timer
 * DLQ's pointer names the task; a topic DLQ message of an unfinished task makes the sweeper index it). What the
 * index then does not cover: a message purged by hand, or one that outlives its queue's retention (a topic paused
 * for days) — `sweeper.indexNearTermTasks` covers those for two index writes per task. A task armed through a
 * schedule is indexed as before (Scheduler may drop a firing).
 */
export function indexedOnAdd(
  task: Pick<TaskRecord, "timer">,
  sweeper: Pick<PunctualConfig["sweeper"], "indexNearTermTasks">,
): boolean {
  return task.timer === "schedule" || sweeper.indexNearTermTasks === true;
}

/** `scheduled`, `queued`, `delivering`: the statuses a task is in the sweep index with. */
export const UNFINISHED_STATUSES: readonly TaskStatus[] = TASK_STATUSES.filter(
  (s) => !TERMINAL_STATUSES.has(s),
);

/** The sweep shard of a task: stable, uniform, cheap (first 4 bytes of SHA-256 of the id). */
export function sweepShardOf(taskId: string): number {
  return createHash("sha256").update(taskId).digest().readUInt32BE(0) % SWEEP_SHARDS;
}

/**
 * SQS FIFO drops a message whose MessageDeduplicationId (our task id) was sent in the last 5 minutes: a copy of
 * a lost message sent sooner is silently discarded.
 */
export const FIFO_DEDUPLICATION_WINDOW_MS = 5 * 60_000;

/**
 * EventBridge Scheduler invokes with "60 second precision": a schedule set to run at 1:00 invokes its target between
 * 1:00:00 and 1:00:59 (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html). Read for an
 * `at()` with seconds, it may fire before its second as well as after: never more than 60 s after it, the bound used
 * here. An early fire is harmless: the timer message reaches the relay early, which holds or re-arms it until due.
 */
export const SCHEDULER_FIRING_WINDOW_SECONDS = 60;

/**
 * How long after its due time a task may still be `scheduled` before its timer counts as lost: the configured
 * grace, plus — for a task that rode a schedule — whatever part of Scheduler's firing window the lead does not
 * absorb (with the default 120 s lead, none).
 */
export function scheduledGraceMs(
  config: Pick<PunctualConfig, "sweeper" | "timer">,
  timer: TimerKind,
): number {
  const window =
    timer === "schedule" ? Math.max(0, SCHEDULER_FIRING_WINDOW_SECONDS - config.timer.leadSeconds) : 0;
  return (config.sweeper.scheduledGraceSeconds + window) * 1000;
}

/**
 * How long the head of a group may show no progress (no `queued` mark, no attempt started) before the sweeper
 * re-sends the group. While a head is alive in its FIFO queue, the longest legitimate pause between two of its
 * attempts is a backoff (capped by SQS's visibility limit) or, if the deliver invocation died, the queue's
 * visibility timeout; one more deliver invocation and the configured margin come on top. Followers never need
 * a window of their own: the sweeper only judges a group by its head. Never shorter than FIFO deduplication's
 * window (plus the margin): a copy sent sooner would be discarded anyway.
 */
export function stalledAfterMs(
  topic: Pick<TopicConfig, "backoff">,
  sweeper: PunctualConfig["sweeper"],
  deliver: { readonly timeoutSeconds: number; readonly visibilityTimeoutSeconds: number },
): number {
  if (sweeper.stalledAfterSeconds !== undefined) return sweeper.stalledAfterSeconds * 1000;
  const pause = Math.max(
    Math.min(topic.backoff.maxSeconds, MAX_VISIBILITY_SECONDS),
    deliver.visibilityTimeoutSeconds,
  );
  return Math.max(
    (pause + deliver.timeoutSeconds + sweeper.stallMarginSeconds) * 1000,
    FIFO_DEDUPLICATION_WINDOW_MS + sweeper.stallMarginSeconds * 1000,
  );
}

/**
 * A topic's stall window under its current settings. The window travels in the topology, sized at deploy time by
 * the deployed backoff cap (`stalledAfterMs`), but `backoff` is a runtime setting (shared/config/runtime-settings.ts):
 * raised without a deploy, deliver's backoff steps outgrew the window, and every head backing off longer was taken
 * for stalled and its group sent again once per window. A raised cap lengthens the window by as much; a lowered one
 * keeps it (a longer window is only later, never wrong).
 */
export function currentStalledAfterMs(
  deployedWindowMs: number,
  deployed: Pick<TopicConfig, "backoff">,
  current: Pick<TopicConfig, "backoff">,
): number {
  const cap = (topic: Pick<TopicConfig, "backoff">) =>
    Math.min(topic.backoff.maxSeconds, MAX_VISIBILITY_SECONDS);
  return deployedWindowMs + Math.max(0, cap(current) - cap(deployed)) * 1000;
}

/** The answers whose `Retry-After` deliver honours (shared/adapters/callback-client.ts). */
const RETRY_AFTER_STATUSES: ReadonlySet<number | undefined> = new Set([429, 503]);

/**
 * How much longer than its topic's stall window a head may idle when its latest attempt, recorded, was answered
 * 429 or 503: deliver holds such a group for the receiver's `Retry-After`, up to `retryAfterCapSeconds` (3,600 s by
 * default; `retryAfterWait`), past the backoff cap the window is sized by (`stalledAfterMs`). The table keeps the
 * status, not the delay asked, so every such head is given the cap. Without it a head waiting out an hour was taken
 * for stalled every window (~17 minutes by default) and its group's first 100 due tasks sent again each time:
 * copies behind live messages, `OrphansRequeued` and "orphans repaired" warnings for nothing lost. Other heads
 * keep the window as it is, so a lost message is not repaired any later.
 */
export function retryAfterAllowanceMs(
  task: Pick<TaskRecord, "status" | "attempts" | "attemptLog" | "attemptSeq">,
  topic: Pick<TopicConfig, "backoff" | "retryAfterCapSeconds" | "maxAttempts">,
): number {
  // Only in the attempt's own life: a replay (`queued`, attempts from 0) keeps the log and its sequence, and a 503
  // from before its dead-lettering would make a replay stopped between its mark and its send wait the cap. Nor
  // after a last attempt: deliver dead-letters it at once, no wait follows, and a dead-lettering cut short there
  // is the sweeper's to finish at the stall window.
  if (task.status !== "delivering" || task.attemptSeq === undefined) return 0;
  if (task.attempts >= topic.maxAttempts) return 0;
  const latest = task.attemptLog?.[attemptLogSlot(task.attemptSeq)];
  if (latest?.seq !== task.attemptSeq || !RETRY_AFTER_STATUSES.has(latest.status)) return 0;
  const cap = Math.min(topic.retryAfterCapSeconds, MAX_BACKOFF_SECONDS);
  return Math.max(0, cap - topic.backoff.maxSeconds) * 1000;
}

/**
 * The last time a task made progress: its due time, its `queued` mark, its latest attempt, or the sweeper's
 * latest re-send.
 */
export function progressAtMs(
  task: Pick<TaskRecord, "dueAtMs" | "queuedAtMs" | "lastAttemptAtMs" | "requeuedAtMs">,
): number {
  return Math.max(task.dueAtMs, task.queuedAtMs ?? 0, task.lastAttemptAtMs ?? 0, task.requeuedAtMs ?? 0);
}

/** When the task's message was last sent to its FIFO queue, as far as the table knows. */
export function lastSentAtMs(task: Pick<TaskRecord, "dueAtMs" | "queuedAtMs" | "requeuedAtMs">): number {
  return Math.max(task.dueAtMs, task.queuedAtMs ?? 0, task.requeuedAtMs ?? 0);
}
