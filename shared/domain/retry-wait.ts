import { MAX_BACKOFF_SECONDS } from "#shared/config/schema.js";
import type { TaskRecord } from "./task.js";

/**
 * How early a record may come back before its task's retry wait ends (`TaskRecord.retryNotBeforeMs`) and still be
 * attempted. A wait's end is counted from before its visibility change is even sent, so a record is normally back
 * after it; only the clocks of SQS and of the deliver hosts (Amazon Time Sync: well within a millisecond) can make
 * it look early. A few ms early must not cost a receive (hidden for a second more, towards the DLQ backstop):
 * 100 ms covers any such disagreement and is far below the whole seconds a `Retry-After` can ask for.
 */
export const RETRY_WAIT_MARGIN_MS = 100;

/**
 * The furthest ahead a wait's end can honestly lie: the longest backoff step or `Retry-After` any setting allows,
 * plus a minute for the writer's clock. An end beyond it was never written by deliver (a hand edit, a writer's clock
 * days off), so it is no wait: otherwise the task is hidden 12 hours at a time, never attempted, until the backstop.
 */
const LONGEST_WAIT_AHEAD_MS = MAX_BACKOFF_SECONDS * 1_000 + 60_000;

/**
 * How long `task` still waits at `nowMs` for the attempt its last failed attempt put off (a backoff step or a
 * `Retry-After`), or 0 when it may be attempted (no wait recorded, or its end within RETRY_WAIT_MARGIN_MS).
 * An item is cast, not parsed: an end that is not a finite number (a hand edit) is no wait, never a hide for NaN
 * seconds (a visibility change SQS refuses, the record back every visibility timeout until the backstop), and
 * neither is one further ahead than any wait can ask (LONGEST_WAIT_AHEAD_MS).
 */
export function retryWaitLeftMs(task: Pick<TaskRecord, "retryNotBeforeMs">, nowMs: number): number {
  const endMs: unknown = task.retryNotBeforeMs;
  if (typeof endMs !== "number" || !Number.isFinite(endMs)) return 0;
  const leftMs = endMs - nowMs;
  return leftMs <= RETRY_WAIT_MARGIN_MS || leftMs > LONGEST_WAIT_AHEAD_MS ? 0 : leftMs;
}
