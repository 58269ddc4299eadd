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
 * How long `task` still waits at `nowMs` for the attempt its last failed attempt put off (a backoff step or a
 * `Retry-After`), or 0 when it may be attempted (no wait recorded, or its end within RETRY_WAIT_MARGIN_MS).
 * An item is cast, not parsed: an end that is not a finite number (a hand edit) is no wait, never a hide for NaN
 * seconds (a visibility change SQS refuses, the record back every visibility timeout until the backstop).
 */
export function retryWaitLeftMs(task: Pick<TaskRecord, "retryNotBeforeMs">, nowMs: number): number {
  const endMs: unknown = task.retryNotBeforeMs;
  if (typeof endMs !== "number" || !Number.isFinite(endMs) || endMs - RETRY_WAIT_MARGIN_MS <= nowMs) return 0;
  return endMs - nowMs;
}
