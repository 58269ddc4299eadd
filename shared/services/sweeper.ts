import type { DeadLetterSource } from "#shared/adapters/dead-letter-source.js";
import type { TaskStore } from "#shared/adapters/task-store.js";
import type { TimerQueue } from "#shared/adapters/timer-queue.js";
import type { TopicQueue } from "#shared/adapters/topic-queue.js";
import type { TopicConfig } from "#shared/config/index.js";
import { taskMessageSchema } from "#shared/domain/messages.js";
import {
  FIFO_DEDUPLICATION_WINDOW_MS,
  lastSentAtMs,
  progressAtMs,
  SWEEP_SHARDS,
} from "#shared/domain/sweep.js";
import { type TaskRecord, TERMINAL_STATUSES, type TimerKind } from "#shared/domain/task.js";
import { queueDelaySeconds } from "#shared/domain/timing.js";
import { errorText, forEachBounded } from "#shared/runtime/async.js";
import { deadLetterTask } from "./dead-letter.js";
import { RELAY_LOOKBACK_MS, type ServiceLogger } from "./relay.js";

/**
 * The orphan sweeper: every minute it finds the tasks a crash or a lost message left behind and puts them back
 * on their way, so a task acknowledged with 2xx is delivered or dead-lettered without anyone looking.
 *
 * Where a 2xx was returned (or a message consumed) and a later step can fail without SQS retrying it, and how
 * each is repaired:
 *
 * 1. add-task wrote the task and armed its timer (SendMessage / CreateSchedule answered 200 → 201 to the
 *    client), but the timer message was lost (SQS or the emulator lost it; a schedule deleted by hand). The
 *    task stays `scheduled` past its due time → forwarded (below).
 * 2. add-task wrote the task, arming failed and so did removing it (the client got a 503), or the function died
 *    between the two writes (the client got a 5xx or a timeout). The outcome was unknown to the client, and the
 *    task is `scheduled` without a timer → forwarded like (1): at-least-once for an unknown outcome; a retry with
 *    the same idempotency key yields the same task id, so the receiver sees one `webhook-id`.
 * 3. Scheduler fired, the timer queue refused it through every retry, and the firing went to the schedule DLQ
 *    (or was dropped when even that failed: InvocationsFailedToBeSentToDeadLetterCount). The task stays
 *    `scheduled` → forwarded; the DLQ message is resolved and deleted (below).
 * 4. The relay received a timer message and failed it until `maxReceiveCount` moved it to the timer DLQ. The
 *    task stays `scheduled` → forwarded; the DLQ message is resolved and deleted.
 * 5. The relay sent a group to the FIFO queue and crashed before `markQueued`: the timer message is not deleted,
 *    comes back and re-sends (FIFO deduplication absorbs it within 5 minutes; deliver skips finished tasks after
 *    that) — no sweeper needed. Should that message be lost as well (4), the task is `scheduled` past due →
 *    forwarded, behind its live FIFO message, where it is deduplicated or skipped.
 * 6. A task is `queued` but its FIFO message is gone: moved to the topic DLQ by the `maxReceiveCount` backstop,
 *    expired by retention in a long backlog, or purged by hand. No attempt, no progress → requeued.
 * 7. A task is `delivering` with no message in flight: deliver died after `startAttempt`, and the message was
 *    then lost as in (6). No progress → requeued (the attempt counter lives in the table, so the topic's
 *    `maxAttempts` still holds across the repair).
 * 8. A task is `delivering` with its attempts used up but never dead-lettered: deliver died between
 *    `recordAttemptFailure` and the DLQ send, or the DLQ send / `markFailed` kept failing until the message was
 *    lost → dead-lettering is finished here: topic DLQ (deduplication id = task id), then `markFailed`.
 * 9. The sweeper's own steps: it sends first and records second (`markQueued`, `markRequeued`, `markFailed`), so
 *    a crash in between is repaired by its next run, and the FIFO queues' deduplication absorbs the repeat.
 *
 * Finding them without a Scan: the sparse sweep index (shared/domain/sweep.ts) holds exactly the unfinished
 * tasks, by shard and due time. A run reads every shard up to `now − the shortest window`, groups what it found
 * by ordering group, and judges each group by its head (its earliest unfinished task, read strongly consistent
 * from the table):
 *
 * - head `scheduled` and more than the grace past due → its timer is lost;
 * - head `queued` / `delivering` and idle (no `queued` mark, attempt or re-send) for longer than the topic's
 *   stall window → its message is lost (a live head is attempted at least once per backoff step or
 *   visibility timeout);
 * - otherwise the group is progressing, and any follower is legitimately waiting behind the head.
 *
 * A stalled group is repaired as one: exhausted heads are dead-lettered (8), then every unfinished task that is
 * due is sent to the topic's FIFO queue in group order (due time, then acceptance) with MessageGroupId = the
 * group and MessageDeduplicationId = the task id, `scheduled` ones are marked `queued`, and `queued` /
 * `delivering` ones `requeuedAtMs` (which restarts their stall clock) — unless their last send is under 5
 * minutes old, when FIFO deduplication may drop the copy and the next run must try again. Whatever is still
 * alive in the queue stays ahead of its copy, so a copy never overtakes anything; deliver skips finished
 * tasks, so a copy costs one read; and the receiver, should a copy ever be delivered, sees the same task id.
 * Only due tasks are sent (never early); cancelled, delivered and failed tasks are never touched (a cancel
 * racing a repair wins at deliver, which re-reads the status).
 *
 * The timer DLQ and the schedule DLQ are drained rather than left for operators. Their messages are pointers
 * to tasks, and the table, not the pointer, says what is left to do: a finished (or missing) task → the pointer
 * is deleted; a task already on its FIFO queue → deleted (the stall check watches it); a `scheduled` task →
 * its group is repaired at once (due) or its timer re-armed on the timer queue (not yet due), then the pointer
 * is deleted. A pointer the sweeper cannot resolve — unreadable, or its repair keeps failing — stays, so those
 * DLQs alarm only on what is genuinely broken. The topic FIFO DLQs are different: they are the product's
 * dead-letter destination, and stay for operators.
 *
 * What the sweeper cannot undo: a follower delivered ahead of a head whose message was lost before the sweeper
 * noticed (the loss itself reorders; the sweeper then delivers the head as soon as it can).
 */
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
  /** Index entries read per shard and run; a longer backlog is read oldest first over several runs. */
  readonly candidatesPerShard: number;
  /** Groups examined per run, oldest first. */
  readonly maxGroups: number;
  /** Shard queries and groups handled at the same time. */
  readonly concurrency: number;
  /** Receives (of up to 10 messages) per dead-letter queue and run. */
  readonly pointerReceivesPerQueue: number;
  /** How long a received dead-letter message stays hidden if it is not resolved (retried next run). */
  readonly pointerVisibilitySeconds: number;
  /** No new group is started when less time than this is left in the invocation. */
  readonly reserveMs: number;
}

export const DEFAULT_SWEEP_LIMITS: SweepLimits = {
  shards: SWEEP_SHARDS,
  candidatesPerShard: 2_000,
  maxGroups: 2_000,
  concurrency: 8,
  pointerReceivesPerQueue: 10,
  pointerVisibilitySeconds: 60,
  reserveMs: 10_000,
};

export interface SweeperDeps {
  readonly store: Pick<
    TaskStore,
    "get" | "listUnfinishedDueBy" | "listUnfinishedInGroup" | "markQueued" | "markRequeued" | "markFailed"
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
  /** Time left in the invocation (Lambda's `getRemainingTimeInMillis`). */
  readonly remainingMs?: () => number;
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
  /** Steps that failed; each is retried by the next run. */
  readonly failures: number;
  /** Work was left for the next run (a shard read or the group cap was cut short, or time ran out). */
  readonly deferred: boolean;
}

interface PointerRef {
  readonly queueUrl: string;
  readonly receiptHandle: string;
}

interface GroupWork {
  readonly pk: string;
  /** Lower bound of the group query: the earliest due time of its overdue tasks. */
  fromMs: number;
  /** Dead-letter pointers naming a `scheduled`, due task of this group: the group is repaired whatever its head. */
  readonly pointers: PointerRef[];
}

class Counters {
  candidates = 0;
  groupsExamined = 0;
  groupsRepaired = 0;
  forwarded = 0;
  requeued = 0;
  deadLettered = 0;
  rearmed = 0;
  pointersResolved = 0;
  failures = 0;
  deferred = false;
}

/** One sweeper run. Never throws for a failed repair: it is counted, logged and retried by the next run. */
export async function sweep(deps: SweeperDeps): Promise<SweepReport> {
  const clock = deps.clock ?? Date.now;
  const limits: SweepLimits = { ...DEFAULT_SWEEP_LIMITS, ...deps.limits };
  const counters = new Counters();
  const now = clock();
  const groups = new Map<string, GroupWork>();
  const resolved: PointerRef[] = [];
  const rearms: { taskId: string; delaySeconds: number; pointer: PointerRef }[] = [];

  // 1. Dead-letter pointers: resolve each against the table.
  for (const queueUrl of deps.deadLetters?.queueUrls ?? []) {
    await readPointers(deps, limits, queueUrl, now, { groups, resolved, rearms, counters });
  }

  // 2. Overdue unfinished tasks from the sweep index.
  const topics = Object.values(deps.topics);
  const shortestWindowMs = Math.min(
    deps.scheduledGraceMs("queue"),
    deps.scheduledGraceMs("schedule"),
    ...topics.map((t) => t.stalledAfterMs),
  );
  await readCandidates(deps, limits, now - shortestWindowMs, groups, counters);

  // 3. Judge and repair group by group, oldest first; groups named by a pointer go first.
  // (After a failed shard read, `groups` holds only the groups named by pointers.)
  const ordered = [...groups.values()].sort(
    (a, b) => b.pointers.length - a.pointers.length || a.fromMs - b.fromMs,
  );
  if (ordered.length > limits.maxGroups) counters.deferred = true;
  await forEachBounded(ordered.slice(0, limits.maxGroups), limits.concurrency, async (group) => {
    if (deps.remainingMs && deps.remainingMs() < limits.reserveMs) {
      counters.deferred = true;
      return;
    }
    counters.groupsExamined++;
    try {
      if (await repairGroup(deps, group, now, clock, counters)) resolved.push(...group.pointers);
    } catch (error) {
      counters.failures++;
      deps.logger.warn("repairing a group failed; the next run retries", {
        pk: group.pk,
        error: errorText(error),
      });
    }
  });

  // 4. Not-yet-due tasks from the dead-letter queues go back on the timer queue.
  if (rearms.length > 0) {
    let failed: Set<string>;
    try {
      failed = new Set(
        await deps.timer.armMany(rearms.map(({ taskId, delaySeconds }) => ({ taskId, delaySeconds }))),
      );
    } catch (error) {
      deps.logger.warn("re-arming timers failed", { count: rearms.length, error: errorText(error) });
      failed = new Set(rearms.map((r) => r.taskId));
    }
    for (const rearm of rearms) {
      if (failed.has(rearm.taskId)) counters.failures++;
      else {
        counters.rearmed++;
        resolved.push(rearm.pointer);
      }
    }
  }

  // 5. Resolved pointers are deleted; the rest reappear after their visibility timeout.
  if (deps.deadLetters && resolved.length > 0) {
    const byQueue = new Map<string, string[]>();
    for (const p of resolved) byQueue.set(p.queueUrl, [...(byQueue.get(p.queueUrl) ?? []), p.receiptHandle]);
    for (const [queueUrl, handles] of byQueue) {
      const { failed } = await deps.deadLetters.source.remove(queueUrl, handles);
      counters.pointersResolved += handles.length - failed.length;
      counters.failures += failed.length;
    }
  }

  const report: SweepReport = { ...counters };
  const repaired = report.forwarded + report.requeued + report.deadLettered + report.rearmed;
  if (repaired > 0 || report.failures > 0) deps.logger.info("sweep finished", { ...report });
  else deps.logger.debug("sweep finished", { ...report });
  return report;
}

async function readPointers(
  deps: SweeperDeps,
  limits: SweepLimits,
  queueUrl: string,
  now: number,
  into: {
    groups: Map<string, GroupWork>;
    resolved: PointerRef[];
    rearms: { taskId: string; delaySeconds: number; pointer: PointerRef }[];
    counters: Counters;
  },
): Promise<void> {
  const source = deps.deadLetters?.source;
  if (!source) return;
  for (let receive = 0; receive < limits.pointerReceivesPerQueue; receive++) {
    let messages: Awaited<ReturnType<DeadLetterSource["receive"]>>;
    try {
      messages = await source.receive(queueUrl, 10, limits.pointerVisibilitySeconds);
    } catch (error) {
      into.counters.failures++;
      deps.logger.warn("reading a dead-letter queue failed", { queueUrl, error: errorText(error) });
      return;
    }
    for (const message of messages) {
      const pointer = { queueUrl, receiptHandle: message.receiptHandle };
      const taskId = pointerTaskId(message.body);
      if (!taskId) {
        // Not ours to interpret: it stays, and the queue's alarm calls an operator.
        deps.logger.error("unreadable message in a dead-letter queue; left for an operator", {
          queueUrl,
          messageId: message.messageId,
        });
        continue;
      }
      let task: TaskRecord | undefined;
      try {
        task = await deps.store.get(taskId);
      } catch (error) {
        into.counters.failures++;
        deps.logger.warn("reading a dead-lettered task failed", { taskId, error: errorText(error) });
        continue;
      }
      if (task?.status !== "scheduled") {
        // Finished, gone (never accepted, or past retention), or on its FIFO queue where the stall check
        // watches it: the pointer has nothing left to say.
        into.resolved.push(pointer);
      } else if (task.dueAtMs <= now) {
        const group = groupWork(into.groups, task.pk, task.dueAtMs - RELAY_LOOKBACK_MS);
        group.pointers.push(pointer);
      } else {
        into.rearms.push({ taskId, delaySeconds: queueDelaySeconds(task.dueAtMs - now), pointer });
      }
    }
    if (messages.length < 10) return;
  }
}

/**
 * Reads every shard of the sweep index up to `dueByMs`. Returns false when a shard could not be read: a group's
 * head might then be missing from what was read, and judging the group by a follower could reorder it, so the
 * run repairs only the groups named by dead-letter pointers.
 */
async function readCandidates(
  deps: SweeperDeps,
  limits: SweepLimits,
  dueByMs: number,
  groups: Map<string, GroupWork>,
  counters: Counters,
): Promise<boolean> {
  const shards = Array.from({ length: limits.shards }, (_, i) => i);
  const read = new Map<number, Awaited<ReturnType<TaskStore["listUnfinishedDueBy"]>>>();
  let complete = true;
  await forEachBounded(shards, limits.concurrency, async (shard) => {
    try {
      read.set(shard, await deps.store.listUnfinishedDueBy(shard, dueByMs, limits.candidatesPerShard));
    } catch (error) {
      complete = false;
      counters.failures++;
      deps.logger.warn("reading the sweep index failed", { shard, error: errorText(error) });
    }
  });
  if (!complete) return false;

  // A shard cut short was read up to its last due time; only what every shard was read up to is complete, so
  // a group's head (due no later than any follower) is never left out while a follower is in.
  let cutoff = dueByMs;
  for (const { tasks, truncated } of read.values()) {
    const last = tasks[tasks.length - 1];
    if (truncated && last) {
      cutoff = Math.min(cutoff, last.dueAtMs);
      counters.deferred = true;
    }
  }
  for (const { tasks } of read.values()) {
    for (const task of tasks) {
      if (task.dueAtMs > cutoff) continue;
      counters.candidates++;
      const group = groupWork(groups, task.pk, task.dueAtMs);
      group.fromMs = Math.min(group.fromMs, task.dueAtMs);
    }
  }
  return true;
}

function groupWork(groups: Map<string, GroupWork>, pk: string, fromMs: number): GroupWork {
  let group = groups.get(pk);
  if (!group) {
    group = { pk, fromMs, pointers: [] };
    groups.set(pk, group);
  } else {
    group.fromMs = Math.min(group.fromMs, fromMs);
  }
  return group;
}

/**
 * Judges one group by its head and repairs it when stalled (or named by a pointer). Returns true when the group
 * needs nothing more (repaired, progressing, or finished); throws when a step failed.
 */
async function repairGroup(
  deps: SweeperDeps,
  group: GroupWork,
  now: number,
  clock: () => number,
  counters: Counters,
): Promise<boolean> {
  const tasks = await deps.store.listUnfinishedInGroup(group.pk, group.fromMs, now);
  const head = tasks[0];
  if (!head) return true;
  const topic = Object.hasOwn(deps.topics, head.topic) ? deps.topics[head.topic] : undefined;
  if (!topic) {
    throw new Error(`topic "${head.topic}" is not configured for the sweeper`);
  }
  const stalled = isStalled(deps, topic, head, now);
  if (!stalled && group.pointers.length === 0) return true;

  // Exhausted and idle: deliver's own retry would only dead-letter them, but their message is gone.
  const exhausted = stalled
    ? tasks.filter(
        (t) =>
          t.status === "delivering" &&
          t.attempts >= topic.config.maxAttempts &&
          now - progressAtMs(t) >= topic.stalledAfterMs,
      )
    : [];
  for (const task of exhausted) {
    const reason = task.lastError ?? "attempts exhausted";
    await deadLetterTask(
      deps,
      { dlqUrl: topic.dlqUrl, retentionDays: topic.config.retentionDays },
      task,
      reason,
      clock,
    );
    counters.deadLettered++;
    deps.logger.warn("orphan dead-lettered: attempts were used up but dead-lettering never finished", {
      taskId: task.taskId,
      attempts: task.attempts,
    });
  }

  // A stalled group is re-sent whole (its messages may all be gone); a group named by a pointer but otherwise
  // alive only needs its `scheduled` tasks forwarded, behind whatever is already queued.
  const done = new Set(exhausted.map((t) => t.taskId));
  const resend = tasks.filter((t) => !done.has(t.taskId) && (stalled || t.status === "scheduled"));
  if (resend.length > 0) {
    const result = await deps.topicQueue.sendInOrder(
      topic.queueUrl,
      group.pk,
      resend.map((t) => t.taskId),
    );
    const sent = new Set(result.sent);
    const markedAt = clock();
    const marks = await Promise.allSettled(
      resend
        .filter((t) => sent.has(t.taskId))
        .map(async (t) => {
          if (t.status === "scheduled") {
            await deps.store.markQueued(t.taskId, markedAt);
            counters.forwarded++;
          } else if (now - lastSentAtMs(t) >= FIFO_DEDUPLICATION_WINDOW_MS) {
            await deps.store.markRequeued(t.taskId, markedAt);
            counters.requeued++;
          }
          // Else the copy went within 5 minutes of the last send and FIFO deduplication may have dropped
          // it: the stall clock is left running, so the next run sends again until a copy is sure to land.
        }),
    );
    deps.logger.warn("orphans repaired: group sent to its FIFO queue again", {
      pk: group.pk,
      topic: topic.config.name,
      head: head.taskId,
      headStatus: head.status,
      sent: result.sent.length,
    });
    if (result.failure) throw new Error(`sending to the FIFO queue failed: ${result.failure.error}`);
    const failedMark = marks.find((m) => m.status === "rejected");
    if (failedMark) throw (failedMark as PromiseRejectedResult).reason;
  }
  if (exhausted.length > 0 || resend.length > 0) counters.groupsRepaired++;
  return true;
}

function isStalled(deps: SweeperDeps, topic: SweeperTopic, head: TaskRecord, now: number): boolean {
  if (TERMINAL_STATUSES.has(head.status)) return false;
  if (head.status === "scheduled") return now - head.dueAtMs >= deps.scheduledGraceMs(head.timer);
  return now - progressAtMs(head) >= topic.stalledAfterMs;
}

function pointerTaskId(body: string): string | undefined {
  try {
    const parsed = taskMessageSchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data.taskId : undefined;
  } catch {
    return undefined;
  }
}
