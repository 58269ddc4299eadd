import { backoffSeconds } from "./backoff.js";
import type { TaskKey } from "./keys.js";
import { relayDecision } from "./timing.js";

/** A timer message the relay could read: the task key its body names. */
export interface KeyedMessage {
  readonly key: TaskKey;
}

/** What one relay batch does with its messages, decided at one instant (see `splitRelayBatch`). */
export interface RelaySplit<M extends KeyedMessage> {
  /** Back on the timer queue with the remaining whole seconds (less the early wake). */
  readonly rearm: readonly { readonly message: M; readonly delaySeconds: number }[];
  /** Held in place and forwarded in waves as each comes due (see `dueWave`), earliest due first. */
  readonly hold: readonly M[];
}

/**
 * The relay's decision for a whole batch at `nowMs`, each message by `relayDecision` with the early wake: re-arm
 * what is further off, hold the rest (due now, or due within the early wake plus a second). Pure, so the capacity
 * planner (plan/) runs the same decision as shared/services/relay.ts.
 */
export function splitRelayBatch<M extends KeyedMessage>(
  messages: readonly M[],
  nowMs: number,
  earlyWakeSeconds = 0,
): RelaySplit<M> {
  const rearm: { message: M; delaySeconds: number }[] = [];
  const hold: M[] = [];
  for (const message of messages) {
    const decision = relayDecision(message.key.dueAtMs, nowMs, earlyWakeSeconds);
    if (decision.action === "rearm") rearm.push({ message, delaySeconds: decision.delaySeconds });
    else hold.push(message);
  }
  // A stable sort: messages due at the same instant keep the batch's order.
  hold.sort((a, b) => a.key.dueAtMs - b.key.dueAtMs);
  return { rearm, hold };
}

/**
 * The next wave of held messages at `nowMs`: every one due by now (`pending` is sorted by due time, as `hold` is).
 * When the wave is empty, the relay sleeps until `rest[0]` is due and asks again — re-reading the clock, so a
 * timer that fires a millisecond early forwards nothing early.
 */
export function dueWave<M extends KeyedMessage>(
  pending: readonly M[],
  nowMs: number,
): { readonly wave: M[]; readonly rest: M[] } {
  const notDue = pending.findIndex((m) => m.key.dueAtMs > nowMs);
  const split = notDue === -1 ? pending.length : notDue;
  return { wave: pending.slice(0, split), rest: pending.slice(split) };
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

/** The longest wait before the relay retries a timer message it could not forward or re-arm. */
export const RELAY_RETRY_MAX_SECONDS = 60;

/** The relay's retry steps: 1 s after a first receive, doubling with each receive up to a minute. */
const RELAY_RETRY_STEPS = {
  initialSeconds: 1,
  multiplier: 2,
  maxSeconds: RELAY_RETRY_MAX_SECONDS,
  jitter: "equal",
} as const;

/**
 * How long a timer message the relay could not forward (or re-arm) stays hidden before it is received again: the
 * step for its receive count (1, 2, 4 … 32 s, then `RELAY_RETRY_MAX_SECONDS`), between half of it and all of it
 * (`backoffSeconds`' equal jitter, whole seconds rounded up, so never 0). Without it the message would wait out the
 * timer queue's visibility timeout (3 minutes on AWS, 6 × the relay's timeout), so one throttled call would make its
 * tasks minutes late; with it a passing fault costs a second or two, and a lasting one (a table or queue unavailable
 * for a while) is retried every 30–60 s rather than hammered. The jitter matters because relay failures come
 * together: one throttled SendMessageBatch or one hot partition fails every message of many batches at once, and
 * the same steps would bring them all back in the same second to meet the same throttle.
 */
export function relayRetrySeconds(receiveCount: number, random: () => number = Math.random): number {
  const receive = Number.isFinite(receiveCount) ? Math.max(1, Math.floor(receiveCount)) : 1;
  return backoffSeconds(receive, RELAY_RETRY_STEPS, random);
}
