import type { DeadLetterSource } from "#shared/adapters/dead-letter-source.js";
import type { SweepCursor, TaskStore, UnfinishedTaskRef } from "#shared/adapters/task-store.js";
import type { TimerQueue } from "#shared/adapters/timer-queue.js";
import type { TopicQueue } from "#shared/adapters/topic-queue.js";
import type { TopicConfig } from "#shared/config/index.js";
import { SWEEP_SHARDS } from "#shared/domain/sweep.js";
import type { TimerKind } from "#shared/domain/task.js";
import type { ServiceLogger } from "#shared/runtime/observability.js";

/** The sweeper's ports, settings and report, and the working state one run passes between its steps. */
export interface SweeperTopic {
  readonly config: TopicConfig;
  readonly queueUrl: string;
  readonly dlqUrl: string;
  /** How long a group head may be idle before the group counts as stalled (`stalledAfterMs`). */
  readonly stalledAfterMs: number;
}

export interface SweepLimits {
  /** Sweep index shards to read (SWEEP_SHARDS). */
  readonly shards: number;
  /**
   * Index entries read oldest first per shard and run. Past them (a backlog), each shard is also read through a
   * window that moves on every run, sized to the younger half of `maxGroups` (candidates.ts).
   */
  readonly candidatesPerShard: number;
  /**
   * Groups examined per run: pointed ones (at most half), then half of the rest to the oldest, half to the index
   * window's and a window of the remaining groups moving every minute (repair.ts, `budgeted`).
   */
  readonly maxGroups: number;
  /** Shard queries and groups handled at the same time. */
  readonly concurrency: number;
  /**
   * Unfinished due tasks of one group read, and so at most re-sent, per run: the group's first ones in group
   * order. A longer stalled group (a paused topic's hot group, a purged queue) is repaired a head part per run,
   * the next part once the head has moved on (repair.ts, `readGroup`).
   */
  readonly resendPerGroup: number;
  /**
   * Items of one group a read passes over, finished ones included (a hot group's delivered tasks lie between an
   * old candidate and now, or in a read-back): it bounds each group's read, which had no bound but the group.
   */
  readonly groupItemsPerRead: number;
  /** Receives (of up to 10 messages) per dead-letter queue and run. */
  readonly pointerReceivesPerQueue: number;
  /**
   * Long polling of the dead-letter queues (timer, schedule, and the topics' FIFO DLQs): every server is asked (a
   * short poll samples some, and missed messages of a small queue); a read ends at an empty answer, which waits
   * this long.
   */
  readonly pointerWaitSeconds: number;
  /**
   * Receives (of up to 10 messages) per topic dead-letter queue and run: enough to read a queue through, as its
   * still-failed messages are made visible again after each run (topic-dead-letters.ts). One read per message.
   */
  readonly topicDeadLetterReceives: number;
  /** How long a received dead-letter message stays hidden if it is not resolved (retried next run). */
  readonly pointerVisibilitySeconds: number;
  /** No new group is started when less time than this is left in the invocation. */
  readonly reserveMs: number;
  /**
   * The topic-DLQ pass's share of the invocation: it runs first, for at most this long, so that no number of
   * stalled groups can make a run skip it (topic-dead-letters.ts).
   */
  readonly topicDeadLetterShareMs: number;
  /** The timer and schedule DLQs' share of the invocation, after the topic-DLQ pass (pointers.ts). */
  readonly pointerShareMs: number;
}

export const DEFAULT_SWEEP_LIMITS: SweepLimits = {
  shards: SWEEP_SHARDS,
  candidatesPerShard: 2_000,
  maxGroups: 2_000,
  concurrency: 8,
  // One group's repair must fit in `reserveMs`, the time left when the run's last group may start: 100 tasks are
  // 100 SendMessageBatch calls one after another (a call holds at most one entry of a group, so a refused entry
  // can never let the group's next one land ahead of it: shared/adapters/topic-queue.ts; ~25 ms each in region:
  // ~2.5 s), then 100 conditional writes sent together, after a read of at most a 1 MB page or two. About 3 s, a
  // third of the reserve at twice those latencies, for each of the `concurrency` groups in flight. What it costs a
  // huge group: up to a minute's wait (the next run) per 100 tasks delivered one at a time.
  resendPerGroup: 100,
  // About 10 pages of 1 MB at 1 KB a task: well under a second.
  groupItemsPerRead: 10_000,
  // Up to 1,000 pointers a queue and run, within `pointerShareMs` (a receive and ten reads side by side: ~20 ms).
  pointerReceivesPerQueue: 100,
  pointerWaitSeconds: 1,
  topicDeadLetterReceives: 300,
  pointerVisibilitySeconds: 60,
  reserveMs: 10_000,
  // About 3,000 messages read, judged and released (a few hundred a second); the groups keep at least 25 s.
  topicDeadLetterShareMs: 10_000,
  pointerShareMs: 5_000,
};

export interface SweeperDeps {
  readonly store: Pick<
    TaskStore,
    | "get"
    | "listUnfinishedDueBy"
    | "readSweepCursor"
    | "writeSweepCursor"
    | "listUnfinishedInGroup"
    | "listGroupStatusesLatestFirst"
    | "markQueued"
    | "markRequeued"
    | "markFailed"
    | "putNew"
    | "settleRescheduled"
    | "moveIdempotencyClaim"
    | "enterSweepIndex"
  >;
  readonly topicQueue: Pick<TopicQueue, "sendInOrder" | "sendToDeadLetter">;
  readonly timer: Pick<TimerQueue, "armMany">;
  /** Topic name → its queues and stall window. */
  readonly topics: Readonly<Record<string, SweeperTopic>>;
  /** How long past due a task may stay `scheduled`, by how its timer was armed (`scheduledGraceMs`). */
  readonly scheduledGraceMs: (timer: TimerKind) => number;
  /** The timer DLQ and the schedule DLQ, drained every run. */
  readonly deadLetters?: { readonly source: DeadLetterSource; readonly queueUrls: readonly string[] };
  readonly logger: ServiceLogger;
  readonly clock?: () => number;
  /**
   * How long a runtime settings change takes to reach every function (`settingsPropagationSeconds`): a task
   * refused by policy within it of its acceptance may be one deliver holds for the settings to settle, not one it
   * dead-lettered (topic-dead-letters.ts). 0 when absent.
   */
  readonly settingsSettleMs?: number;
  /** Time left in the invocation (Lambda's `getRemainingTimeInMillis`). */
  readonly remainingMs?: () => number;
  /**
   * Timer messages are armed this many whole seconds before due (config `eventSources.earlyWakeSeconds`, 0 when
   * absent), as `planTimer` arms a new task's: the relay's batching window and poll are spent before due.
   */
  readonly earlyWakeSeconds?: number;
  readonly limits?: Partial<SweepLimits>;
}

export interface SweepReport {
  /** Overdue unfinished tasks found in the sweep index. */
  readonly candidates: number;
  readonly groupsExamined: number;
  readonly groupsRepaired: number;
  /** `scheduled` tasks sent to their FIFO queue (lost timers). */
  readonly forwarded: number;
  /**
   * `queued` / `delivering` tasks sent to their FIFO queue again (lost messages), counted (and recorded with
   * `markRequeued`) once the copy cannot be dropped by FIFO deduplication, i.e. 5 minutes after the last send.
   */
  readonly requeued: number;
  /** Exhausted tasks whose dead-lettering was finished. */
  readonly deadLettered: number;
  /** Not-yet-due tasks from a dead-letter queue put back on the timer queue. */
  readonly rearmed: number;
  /** Timer / schedule DLQ messages resolved and deleted. */
  readonly pointersResolved: number;
  /** Reschedules that stopped after their first write, finished here (successor written and armed). */
  readonly reschedulesFinished: number;
  /** Steps that failed; each is retried by the next run. */
  readonly failures: number;
  /**
   * Groups whose tasks name a topic the sweeper is not configured for (removed by a deploy): left as they are,
   * their dead-letter messages kept, repaired once the topic is deployed again. Not failures: they would fail every
   * run for as long as the tasks exist, holding the failures alarm on.
   */
  readonly unconfiguredGroups: number;
  /** Work was left for the next run (a shard read or the group cap was cut short, or time ran out). */
  readonly deferred: boolean;
}

export interface PointerRef {
  readonly queueUrl: string;
  readonly receiptHandle: string;
}

/** A dead-letter pointer naming a `scheduled`, due task of a group the run repairs. */
export interface GroupPointer extends PointerRef {
  readonly taskId: string;
}

export interface GroupWork {
  readonly pk: string;
  /** Lower bound of the group query: the earliest due time of its overdue tasks, less the look-back or read-back. */
  fromMs: number;
  /**
   * The earliest due time of the tasks that named the group (index entries, pointers): where its query reads
   * back from when the first found nothing unfinished within `groupItemsPerRead` (repair.ts, `restartFrom`).
   */
  earliestDueMs: number;
  /** Dead-letter pointers naming a `scheduled`, due task of this group: the group is repaired whatever its head. */
  readonly pointers: GroupPointer[];
  /** Found by the index's moving window: examined in the younger share of the group budget. */
  windowed?: boolean;
}

/** What the index's moving window read in one shard this run: where it started and what it found. */
export interface ShardWindow {
  readonly tasks: readonly UnfinishedTaskRef[];
  readonly truncated: boolean;
}

/** The index's moving window this run: the cursor it started from and each shard's read. */
export interface IndexWindow {
  readonly cursor: SweepCursor;
  readonly shards: Map<number, ShardWindow>;
}

export class Counters {
  candidates = 0;
  groupsExamined = 0;
  groupsRepaired = 0;
  forwarded = 0;
  requeued = 0;
  deadLettered = 0;
  rearmed = 0;
  pointersResolved = 0;
  reschedulesFinished = 0;
  failures = 0;
  unconfiguredGroups = 0;
  deferred = false;
}

/** A not-yet-due task named by a dead-letter pointer: back on the timer queue with its remaining delay. */
export interface Rearm {
  readonly taskId: string;
  readonly dueAtMs: number;
  readonly pointer: PointerRef;
}

/** What one run collects before it acts: groups to judge, pointers already resolved, timers to re-arm. */
export interface RunState {
  readonly now: number;
  readonly limits: SweepLimits;
  readonly counters: Counters;
  readonly groups: Map<string, GroupWork>;
  readonly resolved: PointerRef[];
  readonly rearms: Rearm[];
  /** The groups this run examined (judged, repaired or failed): the index window moves on past them only. */
  readonly examined: Set<string>;
  /** Set when the index was read past its complete part (a backlog). */
  window?: IndexWindow;
  /** The topics of the run's unconfigured groups (`unconfiguredGroups`), named in the run's one warning. */
  readonly unconfiguredTopics: Set<string>;
}

/**
 * The run's work for one group, created on first sight: its query starts at the earliest `fromMs` seen (a due time
 * less the relay's look-back, or the index window's read-back), and `earliestDueMs` is its earliest due time seen.
 */
export function groupWork(
  groups: Map<string, GroupWork>,
  pk: string,
  dueAtMs: number,
  fromMs: number,
): GroupWork {
  let group = groups.get(pk);
  if (!group) {
    group = { pk, fromMs, earliestDueMs: dueAtMs, pointers: [] };
    groups.set(pk, group);
  } else {
    group.fromMs = Math.min(group.fromMs, fromMs);
    group.earliestDueMs = Math.min(group.earliestDueMs, dueAtMs);
  }
  return group;
}
