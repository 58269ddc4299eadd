import type { TaskRecord } from "./task.js";
import { ATTEMPT_LOG_SIZE } from "./view-bounds.js";

/**
 * The attempt log: the last ATTEMPT_LOG_SIZE delivery attempts of a task, kept on the task item itself.
 *
 * Stored as a fixed-size ring: a map `attemptLog` whose keys are slots `"0"…"9"`, slot = (seq − 1) mod 10, where
 * `seq` (`attemptSeq`) counts every attempt the task ever made, replays included. Why a ring and not a list:
 * DynamoDB cannot trim a list inside an UpdateExpression (SET and REMOVE of the same list in one expression
 * overlap), so `list_append` alone would grow without bound, and trimming would cost a second write. Writing one
 * slot overwrites the oldest entry once the ring is full, so the log is bounded at ten entries for free, and
 * the entry rides in the UpdateItem deliver already makes to record the attempt's outcome (markDelivered /
 * recordAttemptFailure): no extra write on any path. `startAttempt` creates the empty map and bumps `attemptSeq`
 * in its own UpdateItem (SET of a map member needs the map to exist). The size is kept in ./view-bounds.ts, where
 * the console (a browser bundle) reads it too.
 */
export { ATTEMPT_LOG_SIZE };

/**
 * How a failed attempt's error (`lastError`, an entry's `error`) begins when the URL / address policy refused the
 * destination: deliver dead-letters such a task at once, whatever attempts it has left (the sweeper's topic-DLQ
 * pass reads it so: topic-dead-letters.ts), but for a refusal on resolution (`deadLettersAtOnce`).
 */
export const REFUSED_BY_POLICY = "destination refused by policy";

/**
 * The one refusal that is retried: the host's name resolved only to addresses the policy refuses. Unlike a URL,
 * an address literal or the allow-list, a DNS answer can change between attempts (a resolver's bad minute, a
 * record being moved, a filtering resolver's sinkhole), and nothing is dialled on a retry, so it takes the
 * backoff and `maxAttempts` like any failed attempt instead of failing every task of a host at once.
 */
export const REFUSED_ON_RESOLUTION = `${REFUSED_BY_POLICY}: host resolves to a non-public address`;

/** Whether a failed attempt's error dead-letters its task at once, whatever attempts it has left. */
export function deadLettersAtOnce(error: string | undefined): boolean {
  return error?.startsWith(REFUSED_BY_POLICY) === true && !error.startsWith(REFUSED_ON_RESOLUTION);
}

export interface AttemptLogEntry {
  /** The attempt's number over the task's whole life (replays continue it). */
  readonly seq: number;
  readonly startedAtMs: number;
  readonly durationMs: number;
  /** The receiver's HTTP status, when it answered. */
  readonly status?: number;
  readonly error?: string;
}

export function attemptLogSlot(seq: number): string {
  return String((((seq - 1) % ATTEMPT_LOG_SIZE) + ATTEMPT_LOG_SIZE) % ATTEMPT_LOG_SIZE);
}

/** The ring's entries, oldest first. */
export function attemptLogEntries(task: Pick<TaskRecord, "attemptLog">): AttemptLogEntry[] {
  return Object.values(task.attemptLog ?? {}).sort((a, b) => a.seq - b.seq);
}

/**
 * Whether the task's current attempt has its outcome recorded (its log entry is in its slot), so `lastError` and
 * the count are its own. A task without a log (its attempt started before the log existed) counts as recorded: it
 * is judged by `lastError` and its count alone, as before the log.
 */
export function currentAttemptRecorded(task: Pick<TaskRecord, "attemptLog" | "attemptSeq">): boolean {
  if (task.attemptLog === undefined || task.attemptSeq === undefined) return true;
  return task.attemptLog[attemptLogSlot(task.attemptSeq)]?.seq === task.attemptSeq;
}

/**
 * Whether a `delivering` task has used up its attempts, so it is dead-lettered without another call. Its last
 * attempt must have a recorded outcome: one whose outcome never was (its `delivered` or failure write failed, or
 * the invocation ended or its step was given up after the start) may have sent nothing, or been answered 2xx, and
 * dead-lettering it would end `failed` a task its receiver got. It gets one more call, with the same `webhook-id`
 * (a duplicate, as a lost `delivered` write costs on any earlier attempt; docs/RELIABILITY.md) — once: past
 * `maxAttempts` a task is used up whatever its log says, so at most `maxAttempts` + 1 attempts are counted (a circuit's
 * failed probe is a call whose attempt is given back).
 */
export function attemptsUsedUp(
  task: Pick<TaskRecord, "status" | "attempts" | "attemptLog" | "attemptSeq">,
  maxAttempts: number,
): boolean {
  if (task.status !== "delivering" || task.attempts < maxAttempts) return false;
  return task.attempts > maxAttempts || currentAttemptRecorded(task);
}

/**
 * Whether a `delivering` task is waiting for its next attempt with no callback in flight: its current attempt
 * (`attemptSeq`) has its outcome in its log slot. Every start bumps `attemptSeq` before its callback, and a
 * failure writes its entry only after the callback answered (or timed out), so a task that reads so has nothing
 * under way; a cancel conditioned on this very `attemptSeq` still being recorded loses to a start made since.
 * Stricter than currentAttemptRecorded: a task without a log (or a start whose outcome write never landed) cannot tell, so
 * it counts as in flight.
 */
export function awaitingRetry(task: Pick<TaskRecord, "status" | "attemptLog" | "attemptSeq">): boolean {
  if (task.status !== "delivering" || task.attemptSeq === undefined || task.attemptLog === undefined) {
    return false;
  }
  return task.attemptLog[attemptLogSlot(task.attemptSeq)]?.seq === task.attemptSeq;
}
