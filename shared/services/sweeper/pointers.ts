import type { DeadLetterSource } from "#shared/adapters/dead-letter-source.js";
import { parseTaskMessage } from "#shared/domain/messages.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { queueDelaySeconds } from "#shared/domain/timing.js";
import { errorText } from "#shared/runtime/async.js";
import { RELAY_LOOKBACK_MS } from "../relay.js";
import { groupWork, type PointerRef, type RunState, type SweeperDeps } from "./types.js";

type DeadLetterMessage = Awaited<ReturnType<DeadLetterSource["receive"]>>[number];

/**
 * Receives the timer and schedule DLQs' pointers and resolves each against the table, within the pass's share of
 * the run (`pointerShareMs`, divided between the queues as the topic-DLQ pass divides its share). Up to
 * `pointerReceivesPerQueue` receives each: ten had a huge DLQ (an hour of failing FIFO sends dead-letters every
 * near-term timer message, whose pointer is then its task's only carrier) drained a hundred pointers a minute.
 */
export async function readAllPointers(deps: SweeperDeps, run: RunState): Promise<void> {
  const queueUrls = deps.deadLetters?.queueUrls ?? [];
  const remaining = deps.remainingMs;
  const passEnd = remaining && Math.max(run.limits.reserveMs, remaining() - run.limits.pointerShareMs);
  for (const [i, queueUrl] of queueUrls.entries()) {
    const queueEnd =
      remaining && passEnd !== undefined
        ? remaining() - Math.max(0, remaining() - passEnd) / (queueUrls.length - i)
        : undefined;
    await readPointers(deps, queueUrl, run, () => remaining !== undefined && remaining() < (queueEnd ?? 0));
  }
}

/**
 * One queue's pointers, ten at a time, each ten resolved side by side. Long polling (`pointerWaitSeconds`): a
 * short poll samples some of the queue's servers, and on a queue of fewer than 1,000 messages answered with a
 * few or none, which ended the read — a pointer, the only carrier of a near-term task whose timer message it
 * is, could wait several runs to be seen.
 */
async function readPointers(
  deps: SweeperDeps,
  queueUrl: string,
  run: RunState,
  timeUp: () => boolean,
): Promise<void> {
  const source = deps.deadLetters?.source;
  if (!source) return;
  for (let receive = 0; receive < run.limits.pointerReceivesPerQueue && !timeUp(); receive++) {
    let messages: DeadLetterMessage[];
    try {
      messages = await source.receive(
        queueUrl,
        10,
        run.limits.pointerVisibilitySeconds,
        run.limits.pointerWaitSeconds,
      );
    } catch (error) {
      run.counters.failures++;
      deps.logger.warn("reading a dead-letter queue failed", { queueUrl, error: errorText(error) });
      return;
    }
    await Promise.all(messages.map((message) => resolvePointer(deps, queueUrl, message, run)));
    // Only an empty answer says the queue is read: a long poll answers as soon as some messages are there.
    if (messages.length === 0) return;
  }
  if (timeUp()) run.counters.deferred = true;
}

/**
 * What a pointer's task needs: nothing (finished, gone, or on its FIFO queue) → resolved; `scheduled` and due
 * → its group is repaired this run; `scheduled` and not yet due → its timer is re-armed.
 */
async function resolvePointer(
  deps: SweeperDeps,
  queueUrl: string,
  message: DeadLetterMessage,
  run: RunState,
): Promise<void> {
  const pointer = { queueUrl, receiptHandle: message.receiptHandle };
  const taskId = parseTaskMessage(message.body)?.taskId;
  if (!taskId) {
    // Not ours to interpret: it stays, and the queue's alarm calls an operator.
    deps.logger.error("unreadable message in a dead-letter queue; left for an operator", {
      queueUrl,
      messageId: message.messageId,
    });
    return;
  }
  let task: TaskRecord | undefined;
  try {
    task = await deps.store.get(taskId);
  } catch (error) {
    run.counters.failures++;
    deps.logger.warn("reading a dead-lettered task failed", { taskId, error: errorText(error) });
    return;
  }
  if (task?.status !== "scheduled") {
    // Finished, gone (never accepted, or past retention), or on its FIFO queue where the stall check
    // watches it: the pointer has nothing left to say.
    run.resolved.push(pointer);
  } else if (task.dueAtMs <= run.now) {
    groupWork(run.groups, task.pk, task.dueAtMs, task.dueAtMs - RELAY_LOOKBACK_MS).pointers.push({
      ...pointer,
      taskId,
    });
  } else {
    run.rearms.push({ taskId, dueAtMs: task.dueAtMs, pointer });
  }
}

/**
 * Not-yet-due tasks from the dead-letter queues go back on the timer queue; their pointers then resolve. Each delay
 * is counted from now, when the timers are sent, not from the run's start: the repairs before this step can take
 * tens of seconds, and a delay counted from the start would fire that much late (an early firing is harmless: the
 * relay waits out the rest), less the early wake, as the add arms a new task (`planTimer`): without it the timer
 * reached the relay at due and the batching window made the task late.
 */
export async function rearmNotYetDue(deps: SweeperDeps, run: RunState): Promise<void> {
  if (run.rearms.length === 0) return;
  const now = (deps.clock ?? Date.now)();
  const arms = run.rearms.map(({ taskId, dueAtMs }) => ({
    taskId,
    delaySeconds: queueDelaySeconds(dueAtMs - now - (deps.earlyWakeSeconds ?? 0) * 1000),
  }));
  let failed: Set<string>;
  try {
    failed = new Set(await deps.timer.armMany(arms));
  } catch (error) {
    deps.logger.warn("re-arming timers failed", { count: run.rearms.length, error: errorText(error) });
    failed = new Set(run.rearms.map((r) => r.taskId));
  }
  for (const rearm of run.rearms) {
    if (failed.has(rearm.taskId)) run.counters.failures++;
    else {
      run.counters.rearmed++;
      run.resolved.push(rearm.pointer);
    }
  }
}

/** Resolved pointers are deleted; the rest reappear after their visibility timeout and are tried again. */
export async function deleteResolvedPointers(deps: SweeperDeps, run: RunState): Promise<void> {
  if (!deps.deadLetters || run.resolved.length === 0) return;
  const byQueue = new Map<string, string[]>();
  for (const p of run.resolved as PointerRef[]) {
    byQueue.set(p.queueUrl, [...(byQueue.get(p.queueUrl) ?? []), p.receiptHandle]);
  }
  for (const [queueUrl, handles] of byQueue) {
    const { failed } = await deps.deadLetters.source.remove(queueUrl, handles);
    run.counters.pointersResolved += handles.length - failed.length;
    run.counters.failures += failed.length;
  }
}
