import type { ReceivedPointer } from "#shared/adapters/dead-letter-source.js";
import { currentAttemptRecorded, deadLettersAtOnce } from "#shared/domain/attempt-log.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { parseTaskMessage } from "#shared/domain/messages.js";
import { replayLifeOf } from "#shared/domain/replay.js";
import { progressAtMs, UNFINISHED_STATUSES } from "#shared/domain/sweep.js";
import { finishedExpiry, type TaskRecord } from "#shared/domain/task.js";
import { errorText } from "#shared/runtime/async.js";
import { deadLetteringWriteId } from "../dead-letter.js";
import type { RunState, SweeperDeps, SweeperTopic } from "./types.js";

/**
 * Keeps each topic's FIFO dead-letter queue in agreement with the table (issue 11 point 3): a DLQ message
 * counts as failed work only while its task is still `failed`. Each run receives the topic DLQs; a message whose
 * task was replayed since (or is gone past retention) is deleted, one whose task is still `failed` is made visible
 * again at once (visibility 0, so the depth the alarm watches does not dip while the sweeper looks), and an
 * unreadable one is left for an operator. DLQ depth therefore returns to what is really failed within one sweep
 * of a replay; a replay that fails again adds its own message (dedup id `<id>#r<n>`).
 *
 * Each run reads a topic DLQ through (up to `topicDeadLetterReceives` receives, within the pass's share of the run),
 * holding still-failed messages hidden until the end: with a fixed handful of receives, the same oldest messages
 * came back on every run, and whatever lay behind them — a replayed task's message, or an unfinished task moved
 * here by the backstop, which only this pass puts in the sweep index — was never reached while they stayed.
 *
 * FIFO limit: SQS hands out a group's messages in order and none while an earlier one of that group is in
 * flight, so a stale message behind a still-failed one of the same group waits until that one is replayed too.
 */
export async function reconcileTopicDeadLetters(deps: SweeperDeps, run: RunState): Promise<void> {
  if (!deps.deadLetters) return;
  const remaining = deps.remainingMs;
  // By name: a message names its task's topic, which must be this DLQ's (judge).
  const topics = Object.entries(deps.topics).map(([name, topic]) => ({ ...topic, name }));
  // The pass's share of the run (it goes first, so the group repairs cannot use it up); never into the reserve.
  const passEnd =
    remaining && Math.max(run.limits.reserveMs, remaining() - run.limits.topicDeadLetterShareMs);
  const timeUp = remaining && passEnd !== undefined ? () => remaining() < passEnd : () => false;
  // Side by side, each topic with the whole share: every read ends with a long poll's empty answer, a second of
  // waiting (reconcileOne), and one topic after another those seconds added up past the share, taken from the
  // group repairs; nor can one topic's long DLQ hold the others back. A topic's read judges at most ten messages
  // at a time, so the DynamoDB reads in flight are ten per topic.
  await Promise.all(topics.map((topic) => reconcileOne(deps, topic, run, timeUp)));
}

/** A topic as this pass reads it: its DLQ, config, and the name its tasks' ids carry. */
type NamedTopic = SweeperTopic & { readonly name: string };

async function reconcileOne(
  deps: SweeperDeps,
  topic: NamedTopic,
  run: RunState,
  timeUp: () => boolean,
): Promise<void> {
  const source = deps.deadLetters?.source;
  if (!source) return;
  const seen = new Set<string>();
  const stillFailed: string[] = [];
  for (let receive = 0; receive < run.limits.topicDeadLetterReceives; receive++) {
    if (timeUp()) {
      run.counters.deferred = true;
      break;
    }
    let messages: Awaited<ReturnType<typeof source.receive>>;
    try {
      // Long polling, as the pointer pass (pointers.ts): a short poll samples some of the queue's servers and may
      // answer a small DLQ with nothing, which ended the read with its messages unseen — a replayed task's, left
      // counted in the DLQ's depth, or a backstop-moved unfinished task's, which only this pass puts in the index.
      messages = await source.receive(
        topic.dlqUrl,
        10,
        run.limits.pointerVisibilitySeconds,
        run.limits.pointerWaitSeconds,
      );
    } catch (error) {
      run.counters.failures++;
      deps.logger.warn("reading a topic dead-letter queue failed", {
        queueUrl: topic.dlqUrl,
        error: errorText(error),
      });
      break;
    }
    // A message seen before in this run came back after its visibility timeout: the queue has been read through.
    const fresh = messages.filter((m) => !seen.has(m.messageId));
    for (const m of fresh) seen.add(m.messageId);
    // Side by side (≤ 10): the still-failed messages stay hidden until the run's end, so the time the queue's
    // visible count (which its alarm watches) is down is kept short.
    const verdicts = await Promise.all(fresh.map((message) => judge(deps, topic, message, run)));
    const stale = fresh.filter((_, i) => verdicts[i] === "stale").map((m) => m.receiptHandle);
    stillFailed.push(...fresh.filter((_, i) => verdicts[i] !== "stale").map((m) => m.receiptHandle));
    // Removed as they are found, so a run cut short keeps what it resolved.
    if (stale.length > 0) await removeStale(source, topic, stale, run);
    // Only an empty answer (or one repeating a message) says the queue is read through: a FIFO queue may answer
    // with one message group's messages however many other groups wait, so fewer than ten ended the read at the
    // same first groups on every run.
    if (messages.length === 0 || fresh.length < messages.length) break;
  }
  if (stillFailed.length > 0) await source.release(topic.dlqUrl, stillFailed);
}

async function removeStale(
  source: NonNullable<SweeperDeps["deadLetters"]>["source"],
  topic: NamedTopic,
  stale: readonly string[],
  run: RunState,
): Promise<void> {
  const { failed } = await source.remove(topic.dlqUrl, stale);
  run.counters.pointersResolved += stale.length - failed.length;
  run.counters.failures += failed.length;
}

/**
 * A failed task's message sent in a life before the one it failed in: only when the task failed after its last
 * replay (a bulk replay undone after a failed send counts a replay but is still the earlier failure, whose
 * message this is).
 */
function fromEarlierLife(message: ReceivedPointer, task: TaskRecord): boolean {
  const life = message.deduplicationId && replayLifeOf(task.taskId, message.deduplicationId);
  const failedSinceReplay = (task.failedAtMs ?? 0) > (task.replayedAtMs ?? Number.POSITIVE_INFINITY);
  return typeof life === "number" && life < (task.replays ?? 0) && failedSinceReplay;
}

/**
 * A task still `delivering` whose last attempt decided its dead-lettering (its attempts used up, or its
 * destination refused by policy, which is dead-lettered at once, `deadLettersAtOnce`): that dead-lettering (DLQ send, then `failed`)
 * stopped between its two steps, so this message of its current life is the one that send made. Deleted here, the
 * task would end `failed` with no dead-letter message at all, out of the DLQ's depth and its alarm: deliver's
 * returning record (or the sweeper's stall repair) sends again under the same deduplication id, which SQS drops
 * for 5 minutes after this send, deleted or not. So it is kept, as a failed task's is, and its dead-lettering is
 * finished here (finishDeadLettering).
 */
function deadLetteringCutShort(
  task: TaskRecord,
  topic: NamedTopic,
  message: ReceivedPointer,
  nowMs: number,
): "exhausted" | "refused" | "underWay" | false {
  const { deduplicationId } = message;
  const currentLife =
    deduplicationId === undefined || replayLifeOf(task.taskId, deduplicationId) === (task.replays ?? 0);
  if (task.status !== "delivering" || !currentLife) return false;
  const maxAttempts = topic.config?.maxAttempts;
  const exhausted = maxAttempts !== undefined && task.attempts >= maxAttempts;
  if (!exhausted && !deadLettersAtOnce(task.lastError)) return false;
  // Past maxAttempts (its one more call made: attemptsUsedUp) no call is made whatever the log says: deliver and the
  // stall repair dead-letter it. Idle as long as the repair waits for a stalled head, that call is not under way.
  const pastMax = maxAttempts !== undefined && task.attempts > maxAttempts;
  if (pastMax && idle(task, topic, nowMs)) return "exhausted";
  // A start leaves the last attempt's error in place: a refused task whose record came back and started its next
  // attempt (the allow-list may have been widened since) still reads as refused while that attempt runs, and as
  // exhausted when that attempt is its last; marked `failed` then, the attempt's delivery would be refused.
  if (!currentAttemptRecorded(task)) return "underWay";
  return exhausted ? "exhausted" : "refused";
}

/** Idle as long as the stall repair waits before it takes a head for stalled (repair.ts, `exhaustedAndIdle`). */
function idle(task: TaskRecord, topic: NamedTopic, nowMs: number): boolean {
  return nowMs - progressAtMs(task) >= topic.stalledAfterMs;
}

/**
 * A refused task accepted within the settings' propagation time: deliver may hold such a refusal for the settings
 * to settle (deliver, settlingRefusal) instead of dead-lettering it, so it is left to its record.
 */
function maySettle(deps: SweeperDeps, task: TaskRecord): boolean {
  return (deps.clock ?? Date.now)() - task.acceptedAtMs < (deps.settingsSettleMs ?? 0);
}

/**
 * A cut-short dead-lettering's second step (`failed`), its DLQ message being this one: whenever deliver's record
 * comes back (the queue's visibility timeout: minutes), it finds the task final and sends nothing, so the DLQ holds
 * exactly this message — kept alone, a record back after SQS's 5 minutes sent a second one (a refused task's too:
 * its attempts left, deliver tried it again and dead-lettered it again). A refusal that may be waiting for the
 * settings to settle is left to that record (maySettle). A failed write (the task moved on meanwhile, or DynamoDB)
 * changes nothing; the message is kept and judged again next run.
 */
async function finishDeadLettering(
  deps: SweeperDeps,
  topic: SweeperTopic,
  task: TaskRecord,
  run: RunState,
): Promise<void> {
  const atMs = (deps.clock ?? Date.now)();
  try {
    const written = await deps.store.markFailed(task.taskId, {
      error: task.lastError ?? "attempts exhausted",
      atMs,
      expiresAt: finishedExpiry(task, atMs, topic.config.retentionDays),
      // Only in the attempt read: one its record's redelivery started since records its own outcome.
      ...(task.attemptSeq !== undefined && { attemptSeq: task.attemptSeq }),
      writeId: deadLetteringWriteId(),
    });
    // Deliver's returning record may have finished it first: then nothing was repaired here.
    if (!written) return;
    run.counters.deadLettered++;
    deps.logger.warn("dead-lettering finished: its DLQ message was sent, its task never marked failed", {
      taskId: task.taskId,
      attempts: task.attempts,
    });
  } catch (error) {
    // Counted, as every failed repair is: the repair-failures alarm is how a DynamoDB outage here shows.
    run.counters.failures++;
    deps.logger.warn("finishing a cut-short dead-lettering failed; the next run retries", {
      taskId: task.taskId,
      error: errorText(error),
    });
  }
}

/**
 * `stale` when the message's task is no longer `failed`, or is failed in a later life than the message's (it
 * was dead-lettered, replayed and dead-lettered again before a run saw it unfinished: that failure sent its own
 * message, DLQ first, so one message per failed task stays); `failed` when it is, or cannot be told (kept). A task
 * still unfinished (replayed since, or its message came here through the queue's `maxReceiveCount` backstop) is
 * first made sure to be in the sweep index — a near-term task is not in it otherwise — so that the stall repair,
 * not this message, carries it on; if that write fails the message is kept for the next run.
 */
async function judge(
  deps: SweeperDeps,
  topic: NamedTopic,
  message: ReceivedPointer,
  run: RunState,
): Promise<"stale" | "failed"> {
  const queueUrl = topic.dlqUrl;
  const taskId = parseTaskMessage(message.body)?.taskId;
  if (!taskId) {
    // Not ours to interpret, and no failed task lists it: the log says which message keeps the DLQ non-empty.
    deps.logger.error("unreadable message in a topic dead-letter queue; left for an operator", {
      queueUrl,
      messageId: message.messageId,
    });
    return "failed";
  }
  if (parseTaskId(taskId)?.topic !== topic.name) {
    // Deliver dead-letters a task to its own topic's DLQ only, so this one was sent here by hand. Judged here, a
    // live task of the other topic would be measured against this topic's maxAttempts and marked `failed` in the
    // middle of its retries (deadLetteringCutShort), or its message deleted: neither is this pass's to decide.
    deps.logger.error(
      "a topic dead-letter queue holds a message for another topic's task; left for an operator",
      { queueUrl, messageId: message.messageId, taskId },
    );
    return "failed";
  }
  try {
    const task = await deps.store.get(taskId);
    if (task && UNFINISHED_STATUSES.includes(task.status)) await deps.store.enterSweepIndex(taskId);
    const cutShort = task && deadLetteringCutShort(task, topic, message, (deps.clock ?? Date.now)());
    // An attempt under way after the dead-lettering keeps the message (that attempt, dead-lettering too, sends under
    // the same deduplication id: within 5 minutes SQS drops it) and is left to record its own outcome.
    if (cutShort === "exhausted" || (cutShort === "refused" && !maySettle(deps, task as TaskRecord))) {
      await finishDeadLettering(deps, topic, task as TaskRecord, run);
    }
    if (cutShort) return "failed";
    if (task?.status !== "failed") return "stale";
    return fromEarlierLife(message, task) ? "stale" : "failed";
  } catch (error) {
    run.counters.failures++;
    deps.logger.warn("reading a dead-lettered task failed", { taskId, error: errorText(error) });
    return "failed";
  }
}
