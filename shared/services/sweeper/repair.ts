import { attemptsUsedUp } from "#shared/domain/attempt-log.js";
import { isFanOutParent } from "#shared/domain/fan-out.js";
import { scheduleIdsOf } from "#shared/domain/messages.js";
import { claimHolders, successorDueAtMs, successorRecord } from "#shared/domain/reschedule.js";
import {
  FIFO_DEDUPLICATION_WINDOW_MS,
  lastSentAtMs,
  progressAtMs,
  retryAfterAllowanceMs,
  UNFINISHED_STATUSES,
} from "#shared/domain/sweep.js";
import { claimExpiry, type TaskSummary, TERMINAL_STATUSES } from "#shared/domain/task.js";
import { queueDelaySeconds } from "#shared/domain/timing.js";
import { errorText, forEachBounded } from "#shared/runtime/async.js";
import { deadLetterTask } from "../dead-letter.js";
import type { Counters, GroupWork, RunState, SweeperDeps, SweeperTopic } from "./types.js";

/**
 * Judges and repairs the run's groups (at most `maxGroups`, `budgeted`), none started when the invocation is
 * nearly out of time. A group repaired (or found healthy) resolves its pointers (`settlePointers`); a failure is
 * counted and left to the next run.
 */
export async function repairGroups(deps: SweeperDeps, run: RunState, clock: () => number): Promise<void> {
  const { counters, limits } = run;
  if (run.groups.size > limits.maxGroups) counters.deferred = true;
  await forEachBounded(budgeted(run), limits.concurrency, async (group) => {
    if (deps.remainingMs && deps.remainingMs() < limits.reserveMs) {
      counters.deferred = true;
      return;
    }
    counters.groupsExamined++;
    run.examined.add(group.pk);
    try {
      await settlePointers(deps, group, await repairGroup(deps, group, run, clock), run);
    } catch (error) {
      if (error instanceof UnconfiguredTopicError) {
        counters.unconfiguredGroups++;
        run.unconfiguredTopics.add(error.topic);
        return;
      }
      counters.failures++;
      deps.logger.warn("repairing a group failed; the next run retries", {
        pk: group.pk,
        error: errorText(error),
      });
    }
  });
}

/**
 * The groups this run examines: those named by a pointer first (at most half the budget when it is short), then
 * the oldest, each up to `maxGroups`. Over the budget, only half of what is left goes to the oldest; the other half takes the groups the index's moving window
 * found (index-window.ts, sized to fit), then a window of the other younger groups that moves on every minute.
 * Oldest-first alone starves: a backlog of groups that are overdue but alive (a receiver's outage, its heads
 * backing off; a paused topic) stays the oldest on every run, and a newer group whose timer or message was lost —
 * in any topic — would wait until that backlog has drained. The two halves alternate in the list, so a run cut
 * short by time (repairGroups starts no group within `reserveMs` of its end) still examines both.
 */
export function budgeted(run: Pick<RunState, "groups" | "limits" | "now">): GroupWork[] {
  const { maxGroups } = run.limits;
  const ordered = [...run.groups.values()].sort(
    (a, b) => b.pointers.length - a.pointers.length || a.fromMs - b.fromMs,
  );
  const allPointed = ordered.filter((g) => g.pointers.length > 0);
  const rest = ordered.slice(allPointed.length);
  if (ordered.length <= maxGroups) {
    return [
      ...allPointed,
      ...alternate(
        rest.filter((g) => !g.windowed),
        rest.filter((g) => g.windowed),
      ),
    ];
  }
  // The rest of the pointed groups wait: their pointers come back after their visibility timeout.
  const pointed = allPointed.slice(0, Math.max(pointedShare(maxGroups), maxGroups - rest.length));
  const left = maxGroups - pointed.length;
  const oldest = Math.ceil(left / 2);
  const windowed = rest
    .slice(oldest)
    .filter((g) => g.windowed)
    .slice(0, left - oldest);
  const younger = rest.slice(oldest).filter((g) => !g.windowed);
  const windowSize = Math.min(left - oldest - windowed.length, younger.length);
  const start = windowSize === 0 ? 0 : (Math.floor(run.now / 60_000) * windowSize) % younger.length;
  const window = Array.from(
    { length: windowSize },
    (_, i) => younger[(start + i) % younger.length] as GroupWork,
  );
  return [...pointed, ...alternate(rest.slice(0, oldest), [...windowed, ...window])];
}

/**
 * Pointed groups take at most half of the budget when it is short: a huge timer DLQ's pointers (an hour of failing
 * FIFO sends) took all of it, run after run, and no group the index found was examined until the DLQ drained.
 */
export function pointedShare(maxGroups: number): number {
  return Math.ceil(maxGroups / 2);
}

/** a0, b0, a1, b1, …, then the rest of the longer one. */
function alternate<T>(a: readonly T[], b: readonly T[]): T[] {
  const out: T[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i] as T);
    if (i < b.length) out.push(b[i] as T);
  }
  return out;
}

/** A group whose head's topic the sweeper has no queues for: nothing is done, its pointers are kept. */
class UnconfiguredTopicError extends Error {
  constructor(readonly topic: string) {
    super(`topic "${topic}" is not configured for the sweeper`);
  }
}

/** The tasks of a group a repair reached: all of them, or (cut short by `resendPerGroup`) those it read. */
type Reached = "all" | ReadonlySet<string>;

/**
 * Judges one group by its head and repairs it when stalled (or named by a pointer), as far as it was read.
 * Returns what it reached, all of which needs nothing more (repaired, progressing, or finished); throws when a
 * step failed.
 */
async function repairGroup(
  deps: SweeperDeps,
  group: GroupWork,
  run: RunState,
  clock: () => number,
): Promise<Reached> {
  const { now, counters } = run;
  const { listed, reached } = await readGroup(deps, group, run);
  await finishReschedules(deps, listed, clock, counters);
  const tasks = listed.filter((t) => t.status !== "rescheduled" && !isFanOutParent(t));
  const head = tasks[0];
  if (!head) return reached;
  const topic = Object.hasOwn(deps.topics, head.topic) ? deps.topics[head.topic] : undefined;
  if (!topic) throw new UnconfiguredTopicError(head.topic);
  const stalled = isStalled(deps, topic, head, now);
  if (!stalled && group.pointers.length === 0) return reached;

  const exhausted = stalled ? exhaustedAndIdle(tasks, topic, now) : [];
  await finishDeadLettering(deps, topic, exhausted, clock, counters);

  // A stalled group is re-sent whole, as far as it was read (its messages may all be gone); a group named by a
  // pointer but otherwise alive only needs its `scheduled` tasks forwarded, behind whatever is already queued.
  const done = new Set(exhausted.map((t) => t.taskId));
  const resend = tasks.filter((t) => !done.has(t.taskId) && (stalled || t.status === "scheduled"));
  if (resend.length > 0) await resendInOrder(deps, topic, group.pk, head, resend, now, clock, counters);
  if (exhausted.length > 0 || resend.length > 0) counters.groupsRepaired++;
  return reached;
}

/**
 * The group's first `resendPerGroup` unfinished tasks due by now, in group order: one run's share of a huge group
 * (a paused topic's hot group, a purged queue), so that its sends and writes fit the run's time and the run still
 * reaches its other groups, re-arms, pointers and topic-DLQ pass. What is sent is always the group's head part,
 * so nothing is sent ahead of an earlier unfinished task; the rest waits for a later run, which finds the group
 * stalled again once this part has been delivered (its new head is idle since long before) or was lost again.
 *
 * The read also passes over at most `groupItemsPerRead` of the group's items: a hot group that went on past an
 * old candidate (its loss reordered it) or a read-back over a busy stretch (index-window.ts) made one group's
 * read as long as the group's history. Cut short, what it found is still the group's first unfinished tasks from
 * `fromMs` (a head part). Cut short with nothing found, it starts again nearer the group's earliest candidate
 * (`restartFrom`).
 */
async function readGroup(
  deps: SweeperDeps,
  group: GroupWork,
  run: RunState,
): Promise<{ listed: TaskSummary[]; reached: Reached }> {
  const max = run.limits.resendPerGroup;
  const scan = run.limits.groupItemsPerRead;
  let read = await deps.store.listUnfinishedInGroup(group.pk, group.fromMs, run.now, max + 1, scan);
  if (read.tasks.length === 0 && !read.complete && group.earliestDueMs > group.fromMs) {
    const from = await restartFrom(deps, group, run);
    read =
      from === undefined
        ? { tasks: [], complete: false }
        : await deps.store.listUnfinishedInGroup(group.pk, from, run.now, max + 1, scan);
  }
  if (read.tasks.length <= max && read.complete) return { listed: read.tasks, reached: "all" };
  run.counters.deferred = true;
  const listed = read.tasks.slice(0, max);
  return { listed, reached: new Set(listed.map((t) => t.taskId)) };
}

/**
 * Where a group's read starts again once its first read passed over `groupItemsPerRead` finished tasks and found
 * nothing: that read ends well before the candidate, and jumping straight to the candidate skipped any unfinished
 * task in between, which the run then sent after it. So as many items are read back from the candidate, latest
 * first, and the read starts again at the earliest unfinished one of them (or the candidate) — when they reach back
 * to the first read's start, or a delivered or dead-lettered task lies below it: anything unfinished further back
 * was overtaken already (its loss reordered it). Otherwise nothing here says where the group's head is, and the
 * group waits (undefined) until the index names an earlier task of it.
 */
async function restartFrom(deps: SweeperDeps, group: GroupWork, run: RunState): Promise<number | undefined> {
  const back = await deps.store.listGroupStatusesLatestFirst(
    group.pk,
    group.fromMs,
    group.earliestDueMs,
    run.limits.groupItemsPerRead,
  );
  let earliest: number | undefined;
  let overtaken = false;
  for (const item of back.items) {
    const unfinished =
      UNFINISHED_STATUSES.includes(item.status) ||
      (item.status === "rescheduled" && item.sweepShard !== undefined);
    if (unfinished) {
      earliest = item.dueAtMs;
      overtaken = false;
    } else if (item.status === "delivered" || item.status === "failed") {
      overtaken = true;
    }
  }
  return back.complete || overtaken ? (earliest ?? group.earliestDueMs) : undefined;
}

/**
 * A pointer whose task the repair reached is resolved. One past the part read (a huge group cut short) has its
 * task put in the sweep index first, which then carries it: the index finds the group again while the task is
 * unfinished, and a later run's repair reaches it in group order. Kept instead, the pointer would sit in its DLQ,
 * alarming, for as long as the group takes to drain — and a near-term task's only carrier would be a message
 * that expires. A task already finished is resolved as well; a failed write keeps the pointer for the next run.
 */
async function settlePointers(deps: SweeperDeps, group: GroupWork, reached: Reached, run: RunState) {
  for (const pointer of group.pointers) {
    if (reached !== "all" && !reached.has(pointer.taskId)) await deps.store.enterSweepIndex(pointer.taskId);
    run.resolved.push(pointer);
  }
}

/**
 * A `scheduled` head is judged by its timer (the grace past due) unless it was started since: a read-free start
 * refunded unused gives its task back the status it found (`scheduled` for a task the relay handed over), keeping
 * that start's `lastAttemptAtMs`, and its record is still on the FIFO queue, to come back after its visibility
 * timeout or its group's backoff. Such a head is judged as a handed-over one (idle past the stall window), so no
 * copy is sent while that record can still come back. No other `scheduled` task has a start on record: a batch
 * give-back restores the task as read, a replay leaves it `queued`, a move's successor is new.
 */
function isStalled(deps: SweeperDeps, topic: SweeperTopic, head: TaskSummary, now: number): boolean {
  if (TERMINAL_STATUSES.has(head.status)) return false;
  if (head.status === "scheduled" && head.lastAttemptAtMs === undefined)
    return now - head.dueAtMs >= deps.scheduledGraceMs(head.timer);
  return now - progressAtMs(head) >= topic.stalledAfterMs + retryAfterAllowanceMs(head, topic.config);
}

/**
 * Exhausted and idle: deliver's own retry would only dead-letter them, but their message is gone. A last attempt
 * with no recorded outcome is not used up (attemptsUsedUp): re-sent with its group, it gets one more call.
 */
function exhaustedAndIdle(tasks: readonly TaskSummary[], topic: SweeperTopic, now: number): TaskSummary[] {
  return tasks.filter(
    (t) => attemptsUsedUp(t, topic.config.maxAttempts) && now - progressAtMs(t) >= topic.stalledAfterMs,
  );
}

async function finishDeadLettering(
  deps: SweeperDeps,
  topic: SweeperTopic,
  exhausted: readonly TaskSummary[],
  clock: () => number,
  counters: Counters,
): Promise<void> {
  for (const task of exhausted) {
    const reason = task.lastError ?? "attempts exhausted";
    const written = await deadLetterTask(
      deps,
      { dlqUrl: topic.dlqUrl, retentionDays: topic.config.retentionDays },
      task,
      reason,
      clock,
    );
    // Refused: an overlapping run or deliver's returning record finished it first (or an attempt moved on), so
    // nothing was repaired here; counted, two overlapping runs reported one dead letter twice. The store tells its
    // own resent write from that run's identical one (same clock) by the write's id (deadLetterTask).
    if (!written) continue;
    counters.deadLettered++;
    deps.logger.warn("orphan dead-lettered: attempts were used up but dead-lettering never finished", {
      taskId: task.taskId,
      attempts: task.attempts,
    });
  }
}

/**
 * Sends the group's tasks to its FIFO queue in group order, then records each send: `scheduled` → `queued`,
 * `queued` / `delivering` → `requeuedAtMs` once a copy cannot be dropped by FIFO deduplication.
 */
async function resendInOrder(
  deps: SweeperDeps,
  topic: SweeperTopic,
  pk: string,
  head: TaskSummary,
  resend: readonly TaskSummary[],
  now: number,
  clock: () => number,
  counters: Counters,
): Promise<void> {
  const result = await deps.topicQueue.sendInOrder(
    topic.queueUrl,
    pk,
    resend.map((t) => t.taskId),
    scheduleIdsOf(resend),
  );
  const sent = new Set(result.sent);
  const markedAt = clock();
  const marks = await Promise.allSettled(
    resend.filter((t) => sent.has(t.taskId)).map((t) => recordResend(deps, t, now, markedAt, counters)),
  );
  deps.logger.warn("orphans repaired: group sent to its FIFO queue again", {
    pk,
    topic: topic.config.name,
    head: head.taskId,
    headStatus: head.status,
    sent: result.sent.length,
  });
  if (result.failure) throw new Error(`sending to the FIFO queue failed: ${result.failure.error}`);
  const failedMark = marks.find((m) => m.status === "rejected");
  if (failedMark) throw (failedMark as PromiseRejectedResult).reason;
}

async function recordResend(
  deps: SweeperDeps,
  task: TaskSummary,
  now: number,
  markedAt: number,
  counters: Counters,
): Promise<void> {
  if (task.status === "scheduled") {
    await deps.store.markQueued(task.taskId, markedAt);
    counters.forwarded++;
  } else if (now - lastSentAtMs(task) >= FIFO_DEDUPLICATION_WINDOW_MS) {
    await deps.store.markRequeued(task.taskId, markedAt);
    counters.requeued++;
  }
  // Else the copy went within 5 minutes of the last send and FIFO deduplication may have dropped it: the stall
  // clock is left running, so the next run sends again until a copy is sure to land.
}

/**
 * A `rescheduled` task still in the sweep index: its reschedule (shared/services/reschedule-task.ts) stopped
 * after marking it, before its successor was written, armed or settled. Finished here in the same order: the
 * successor is written (it may exist already), armed on the timer queue if still `scheduled` (a due time beyond
 * SQS's 900 s is re-armed by the relay until due; a second timer message is harmless), then the old item leaves
 * the index. A failure is thrown, and the next run tries again.
 */
async function finishReschedules(
  deps: SweeperDeps,
  listed: readonly TaskSummary[],
  clock: () => number,
  counters: Counters,
): Promise<void> {
  for (const summary of listed) {
    if (summary.status !== "rescheduled") continue;
    // The group read carries no content (TaskSummary); the successor is the task itself, content included.
    const old = await deps.store.get(summary.taskId);
    if (old?.status !== "rescheduled") continue;
    const due = successorDueAtMs(old);
    if (due === undefined) throw new Error(`rescheduled task ${old.taskId} names no successor`);
    const successor = successorRecord(old, due, {
      kind: "queue",
      delaySeconds: queueDelaySeconds(due - clock()),
    });
    const stored =
      (await deps.store.putNew(successor)) === "created" ? successor : await deps.store.get(successor.taskId);
    if (stored?.status === "scheduled") {
      // Counted from the send, not the run's start: the run's reads and writes before it would make it late.
      const delaySeconds = queueDelaySeconds(due - clock() - (deps.earlyWakeSeconds ?? 0) * 1000);
      const failed = await deps.timer.armMany([{ taskId: successor.taskId, delaySeconds }]);
      if (failed.length > 0) throw new Error(`arming rescheduled task ${successor.taskId} failed`);
    }
    // The key's claim follows the task, as long as it lives (reschedule-task.ts, keepClaim).
    const topic = Object.hasOwn(deps.topics, old.topic) ? deps.topics[old.topic]?.config : undefined;
    if (old.idempotencyKey !== undefined && topic) {
      // Nor shorter than the old item's TTL, as keepClaim keeps it (a task moved earlier: run now).
      const expiresAt = Math.max(claimExpiry(due, topic), old.expiresAt ?? 0);
      const move = { from: claimHolders(old), to: successor.taskId, expiresAt };
      await deps.store.moveIdempotencyClaim(old.topic, old.idempotencyKey, move);
    }
    // The move that made this item is settled too (reschedule-task.ts, completeMove).
    if (old.rescheduledFrom !== undefined) await deps.store.settleRescheduled(old.rescheduledFrom);
    await deps.store.settleRescheduled(old.taskId);
    counters.reschedulesFinished++;
    deps.logger.warn("reschedule finished: its successor was missing or unsettled", {
      taskId: old.taskId,
      successor: successor.taskId,
    });
  }
}
