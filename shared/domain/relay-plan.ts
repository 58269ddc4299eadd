import type { TaskKey } from "./keys.js";
import { relayDecision } from "./timing.js";

/** A timer message the relay could read: its id and the task key its body names. */
export interface KeyedMessage {
  readonly key: TaskKey;
}

/** What one relay batch does with its messages, decided at one instant (see `planRelayBatch`). */
export interface RelayBatchPlan<M extends KeyedMessage> {
  /** Back on the timer queue with the remaining whole seconds. */
  readonly rearm: readonly { readonly message: M; readonly delaySeconds: number }[];
  /** Forwarded at once. */
  readonly dueNow: readonly M[];
  /** Forwarded after one in-place wait that ends at `waitUntilMs` (the latest of their due times). */
  readonly dueSoon: readonly M[];
  readonly waitUntilMs: number;
}

/**
 * The relay's decision for a whole batch, at `nowMs`: each message by `relayDecision`, and one in-place wait per
 * batch, as long as its latest sub-second remainder. Pure, so the capacity planner (plan/) runs the same decision.
 */
export function planRelayBatch<M extends KeyedMessage>(
  messages: readonly M[],
  nowMs: number,
  /** The longest remainder waited out in place (relayDecision's default: one second). */
  maxInlineWaitMs?: number,
): RelayBatchPlan<M> {
  const rearm: { message: M; delaySeconds: number }[] = [];
  const dueNow: M[] = [];
  const dueSoon: M[] = [];
  let waitUntilMs = 0;
  for (const message of messages) {
    const decision = relayDecision(message.key.dueAtMs, nowMs, maxInlineWaitMs);
    if (decision.action === "rearm") rearm.push({ message, delaySeconds: decision.delaySeconds });
    else if (decision.action === "wait") {
      waitUntilMs = Math.max(waitUntilMs, message.key.dueAtMs);
      dueSoon.push(message);
    } else dueNow.push(message);
  }
  return { rearm, dueNow, dueSoon, waitUntilMs };
}

/** A batch's messages by ordering group (partition key), groups in the order of their first message. */
export function byPartition<M extends KeyedMessage>(messages: readonly M[]): Map<string, M[]> {
  const groups = new Map<string, M[]>();
  for (const message of messages) {
    const group = groups.get(message.key.pk);
    if (group) group.push(message);
    else groups.set(message.key.pk, [message]);
  }
  return groups;
}

/**
 * The due-time range of a group's sweep: up to this batch's latest own task (never past `now`), back to the
 * look-back before the earlier of `now` and the batch's earliest own task. Anchoring the look-back on the
 * message as well as on `now` keeps the range non-empty for a message that arrives long after its task was due
 * (DynamoDB refuses a BETWEEN whose lower bound is above its upper one, which would fail the message on every
 * receive until it is dead-lettered) and still takes the group's earlier stragglers first.
 */
export function groupSweepWindow(
  messages: readonly KeyedMessage[],
  now: number,
  lookbackMs: number,
): { fromMs: number; toMs: number } {
  const dues = messages.map((m) => m.key.dueAtMs);
  const toMs = Math.min(now, Math.max(...dues));
  return { fromMs: Math.min(now, Math.min(...dues)) - lookbackMs, toMs };
}

/** The batch's latest own task of a group by sort key: the group's sweep ends there. */
export function latestOwnKey(messages: readonly KeyedMessage[]): TaskKey {
  return messages.reduce((a, b) => (b.key.sk > a.key.sk ? b : a)).key;
}
