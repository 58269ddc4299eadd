import { EARLY_ANSWER_MS } from "#shared/api/early-answer.js";

/** A call that never answers (a dropped connection): given up by the code under test, or by nobody. */
export const hangs = () => new Promise<never>(() => undefined);

/**
 * An invocation with `timeLeftMs` to run, under fake timers: its time left runs down with the clock, and the HTTP
 * route's early answer (a 503 for the whole request, `EARLY_ANSWER_MS` before the deadline) is a timer on the same
 * deadline, to race the code under test against.
 */
export function invocation(timeLeftMs: number) {
  const deadline = Date.now() + timeLeftMs;
  const earlyAnswer = new Promise<"early answer">((resolve) =>
    setTimeout(() => resolve("early answer"), timeLeftMs - EARLY_ANSWER_MS),
  );
  return { timeLeftMs: () => deadline - Date.now(), earlyAnswer };
}
