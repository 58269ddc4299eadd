import { readCandidates, shortestWindowMs } from "./candidates.js";
import { advanceIndexWindow } from "./index-window.js";
import { deleteResolvedPointers, readAllPointers, rearmNotYetDue } from "./pointers.js";
import { repairGroups } from "./repair.js";
import { reconcileTopicDeadLetters } from "./topic-dead-letters.js";
import {
  Counters,
  DEFAULT_SWEEP_LIMITS,
  type RunState,
  type SweeperDeps,
  type SweepReport,
} from "./types.js";

export type { SweeperDeps, SweeperTopic, SweepLimits, SweepReport } from "./types.js";
export { DEFAULT_SWEEP_LIMITS } from "./types.js";

/**
 * The orphan sweeper: every minute it finds the tasks a crash or a lost message left behind and puts them back
 * on their way, so a task acknowledged with 2xx is delivered or dead-lettered without anyone looking.
 *
 * Where a 2xx was returned (or a message consumed) and a later step can fail without SQS retrying it, and how
 * each is repaired:
 *
 * 1. add-task wrote the task and armed its timer (SendMessage / CreateSchedule answered 200 → 201 to the
 *    client), but the timer was lost (a schedule deleted by hand or a firing Scheduler dropped; a timer message
 *    purged by hand). The task stays `scheduled` past its due time → forwarded (below). A near-term task is in
 *    the index for this only with `sweeper.indexNearTermTasks` (shared/domain/sweep.ts, `indexedOnAdd`).
 * 2. add-task wrote the task, arming failed (or hung until the add gave it up: add-task.ts, `inTime`) and so did
 *    removing it, or the task has a key and stays for its retry (the client got a 503); or the function died
 *    between the two writes (the client got a 5xx or a timeout). The outcome was unknown to the client, and the
 *    task is `scheduled` without a timer → forwarded like (1): at-least-once for an unknown outcome; a retry with
 *    the same idempotency key yields the same task id, so the receiver sees one `webhook-id`. The add's clean-up
 *    puts such a task in the index; a near-term task of a function that died outright is not in it (unless
 *    `sweeper.indexNearTermTasks`) and waits for the retry with its key.
 * 3. Scheduler fired, the timer queue refused it through every retry, and the firing went to the schedule DLQ
 *    (or was dropped when even that failed: InvocationsFailedToBeSentToDeadLetterCount). The task stays
 *    `scheduled` → forwarded; the DLQ message is resolved and deleted (below).
 * 4. The relay received a timer message and failed it until `maxReceiveCount` moved it to the timer DLQ. The
 *    task stays `scheduled` → forwarded; the DLQ message is resolved and deleted.
 * 5. The relay sent a group to the FIFO queue and crashed before its batch was acknowledged: the timer message is
 *    not deleted, comes back and re-sends (FIFO deduplication absorbs it within 5 minutes; deliver skips finished
 *    tasks after that) — no sweeper needed. (The relay records nothing in the table: tasks stay `scheduled` until
 *    deliver's conditional start.)
 * 6. A task is handed over but its FIFO message is gone: moved to the topic DLQ by the `maxReceiveCount` backstop
 *    (the topic-DLQ pass puts the task in the index), expired by retention in a long backlog, or purged by hand
 *    (a near-term task only with the full index). No attempt, no progress → re-sent.
 * 7. A task is `delivering` with no message in flight: deliver died after `startAttempt`, and the message was
 *    then lost as in (6). No progress → requeued (the attempt counter lives in the table, so the topic's
 *    `maxAttempts` still holds across the repair).
 * 8. A task is `delivering` with its attempts used up but never dead-lettered: deliver died between
 *    `recordAttemptFailure` and the DLQ send, or the DLQ send / `markFailed` kept failing until the message was
 *    lost → dead-lettering is finished here: topic DLQ (deduplication id = task id), then `markFailed`. Died
 *    between the DLQ send and `markFailed`: the topic-DLQ pass finds that message and writes `markFailed` itself
 *    (topic-dead-letters.ts); deleted, the finishing send under the same id within SQS's 5 minutes was dropped.
 *    Every such `markFailed` is conditioned on the attempt read (`attemptSeq`), and an attempt under way (its
 *    outcome not yet logged) is left to record its own: neither fails a task under an attempt that may deliver it.
 * 9. The sweeper's own steps: it sends first and records second (`markQueued`, `markRequeued`, `markFailed`), so
 *    a crash in between is repaired by its next run, and the FIFO queues' deduplication absorbs the repeat.
 *
 * Finding them without a Scan: the sparse sweep index (shared/domain/sweep.ts) holds exactly the unfinished
 * tasks, by shard and due time. A run reads every shard up to `now − the shortest window` (oldest first, and past a
 * backlog through a window that moves on every run: index-window.ts), groups what it found
 * by ordering group, and judges each group by its head (its earliest unfinished task, read strongly consistent
 * from the table):
 *
 * - head `scheduled` and more than the grace past due → its timer is lost;
 * - head `queued` / `delivering` and idle (no `queued` mark, attempt or re-send) for longer than the topic's
 *   stall window (longer after a 429 or 503: a receiver's `Retry-After`, `retryAfterAllowanceMs`) → its message
 *   is lost (a live head is attempted at least once per backoff step, honoured Retry-After or visibility timeout);
 * - otherwise the group is progressing, and any follower is legitimately waiting behind the head.
 *
 * A stalled group is repaired as one: exhausted heads are dead-lettered (8), then every unfinished task that is
 * due is sent to the topic's FIFO queue in group order (due time, then acceptance) with MessageGroupId = the
 * group and MessageDeduplicationId = the task id, `scheduled` ones are marked `queued`, and `queued` /
 * `delivering` ones `requeuedAtMs` (which restarts their stall clock) — unless their last send is under 5
 * minutes old, when FIFO deduplication may drop the copy and the next run must try again. A huge group is
 * repaired a head part per run: its first `resendPerGroup` (100) unfinished due tasks, so the run fits its
 * time and still reaches everything else; the next part once this one has moved on (repair.ts). Whatever is still
 * alive in the queue stays ahead of its copy, so a copy never overtakes anything; deliver skips finished
 * tasks, so a copy costs one read; and the receiver, should a copy ever be delivered, sees the same task id.
 * Only due tasks are sent (never early); cancelled, delivered and failed tasks are never touched (a cancel
 * racing a repair wins at deliver, which re-reads the status).
 *
 * The timer DLQ and the schedule DLQ are drained rather than left for operators (long-polled, and read until an
 * empty answer: a short poll of a small queue samples some of its servers and misses messages). Their messages
 * are pointers to tasks, and the table, not the pointer, says what is left to do: a finished (or missing) task → the pointer
 * is deleted; a task already on its FIFO queue → deleted (the stall check watches it); a `scheduled` task →
 * its group is repaired at once (due) or its timer re-armed on the timer queue (not yet due), then the pointer
 * is deleted. A pointer the sweeper cannot resolve — unreadable, or its repair keeps failing — stays, so those
 * DLQs alarm only on what is genuinely broken. The topic FIFO DLQs are different: they are the product's
 * dead-letter destination, and stay for operators — except that a message whose task was replayed since is
 * deleted (topic-dead-letters.ts), so DLQ depth is what is really failed.
 *
 * What the sweeper cannot undo: a follower delivered ahead of a head whose message was lost before the sweeper
 * noticed (the loss itself reorders; the sweeper then delivers the head as soon as it can).
 *
 * The steps live beside this file: topic-dead-letters.ts (the topic DLQs), pointers.ts (dead-letter pointers:
 * read, re-arm, delete), candidates.ts and index-window.ts (the sweep index), repair.ts (judging and repairing a
 * group). Each is bounded, so none can starve another run after run: the topic-DLQ pass and the pointer reads by
 * their shares of the run (`topicDeadLetterShareMs`, `pointerShareMs`), the index read by counts, the group repairs by the group budget
 * and the time left (`reserveMs`).
 */
/** One sweeper run. Never throws for a failed repair: it is counted, logged and retried by the next run. */
export async function sweep(deps: SweeperDeps): Promise<SweepReport> {
  const clock = deps.clock ?? Date.now;
  const run: RunState = {
    now: clock(),
    limits: { ...DEFAULT_SWEEP_LIMITS, ...deps.limits },
    counters: new Counters(),
    groups: new Map(),
    resolved: [],
    rearms: [],
    examined: new Set(),
    unconfiguredTopics: new Set(),
  };
  // First, within its own share of the run: after the group repairs, many stalled groups left it no time.
  await reconcileTopicDeadLetters(deps, run);
  await readAllPointers(deps, run);
  // After a failed shard read, the run's groups hold only those named by pointers.
  await readCandidates(deps, run.now - shortestWindowMs(deps), run);
  await repairGroups(deps, run, clock);
  await advanceIndexWindow(deps, run);
  await rearmNotYetDue(deps, run);
  await deleteResolvedPointers(deps, run);
  return reportRun(deps, run);
}

function reportRun(deps: SweeperDeps, { counters, unconfiguredTopics }: RunState): SweepReport {
  const report: SweepReport = { ...counters };
  if (unconfiguredTopics.size > 0) {
    deps.logger.warn("unfinished tasks of topics not configured for the sweeper are left as they are", {
      topics: [...unconfiguredTopics].sort(),
      groups: report.unconfiguredGroups,
    });
  }
  const repaired = report.forwarded + report.requeued + report.deadLettered + report.rearmed;
  if (repaired > 0 || report.failures > 0) deps.logger.info("sweep finished", { ...report });
  else deps.logger.debug("sweep finished", { ...report });
  return report;
}
