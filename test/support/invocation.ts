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

/** A network round trip to a service, in fake time: what a healthy DynamoDB or SQS call takes at the least. */
export const ROUND_TRIP_MS = 10;

/**
 * `call` answering one round trip after it is made, as a real service does (an in-memory fake answers at once,
 * even at the very deadline it was given up at), and failing as the SDK does once its signal is aborted first.
 */
export function afterRoundTrip<A extends unknown[], T>(
  call: (...args: A) => Promise<T>,
  signalOf: (...args: A) => AbortSignal | undefined,
): (...args: A) => Promise<T> {
  return (...args) =>
    new Promise<T>((resolve, reject) => {
      const signal = signalOf(...args);
      const aborted = () => {
        clearTimeout(timer);
        reject(Object.assign(new Error("Request aborted"), { name: "AbortError" }));
      };
      if (signal?.aborted) return aborted();
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", aborted);
        call(...args).then(resolve, reject);
      }, ROUND_TRIP_MS);
      signal?.addEventListener("abort", aborted, { once: true });
    });
}
