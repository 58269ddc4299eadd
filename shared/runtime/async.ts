/**
 * Runs `fn` over `items` with at most `limit` calls in flight: independent groups proceed side by side without
 * opening hundreds of SDK calls at once.
 */
export async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}

/**
 * A concurrency bound shared by work that starts at different times (forEachBounded needs the whole list up
 * front). Hand-written: a dozen lines, where p-limit would be a new dependency for the same thing.
 */
export function createLimiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    while (active >= Math.max(1, limit)) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/**
 * What `work` settled to, or "overdue" if it had not settled within `ms` (the work itself is left running: the
 * caller decides what a late answer means). The timer is cleared either way, so nothing keeps the process alive.
 */
export async function withinMs<T>(work: Promise<T>, ms: number): Promise<T | "overdue"> {
  let timer: NodeJS.Timeout | undefined;
  const overdue = new Promise<"overdue">((resolve) => {
    timer = setTimeout(() => resolve("overdue"), ms);
  });
  try {
    return await Promise.race([work, overdue]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `work` given `ms` to settle, as `withinMs`; past that, "overdue" and the signal it was handed aborted, so a call it
 * has in flight is torn down rather than left to answer into nothing.
 */
export async function abortedAfterMs<T>(
  work: (signal: AbortSignal) => Promise<T>,
  ms: number,
): Promise<T | "overdue"> {
  const givenUp = new AbortController();
  const outcome = await withinMs(work(givenUp.signal), ms);
  if (outcome === "overdue") givenUp.abort();
  return outcome;
}

/**
 * `work`, or an `AbortError` as soon as `signal` aborts, whichever comes first. For a call whose abort may go
 * unnoticed for a while (the SDK notices one during a retry's back-off only when the back-off ends: abort-signals.ts),
 * so that a caller holding a deadline is answered at it. A late failure of `work` is swallowed: nobody waits for it.
 */
export async function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    throw abortError();
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError());
    signal.addEventListener("abort", onAbort, { once: true });
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}

/** As the SDK's own handlers reject an aborted request (name `AbortError`, which no retry strategy retries). */
export function abortError(): Error {
  const error = new Error("Request aborted");
  error.name = "AbortError";
  return error;
}

/** An error as one log- and table-friendly line (name and message, never a stack). */
export function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** First wait before a batch's next round; doubled each round (50, 100, 200 ms: under 0.4 s in all). */
export const BATCH_ROUND_BACKOFF_MS = 50;

/** `ms` of waiting, cut short when `signal` aborts (it resolves either way: the caller checks the signal next). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Sends `items`, then whatever `send` hands back as still to do, waiting 50, 100, 200 ms… between calls, at most
 * `rounds` calls in all; resolves to what was still to do after the last. AWS asks batch callers to resend what a
 * batch left undone with exponential backoff (BatchWriteItem's UnprocessedItems, a batch statement's throttling, an
 * SQS batch entry failed on SQS's side); the SDK retries only a call that fails as a whole. `signal` cuts a wait short:
 * `send` is called at once, to give up what is pending as it sees fit (a caller holding a deadline is answered at it,
 * not up to 200 ms later, past the time `inTime` gives an aborted call to answer).
 */
export async function inRounds<T>(
  items: readonly T[],
  rounds: number,
  send: (pending: readonly T[]) => Promise<readonly T[]>,
  signal?: AbortSignal,
): Promise<readonly T[]> {
  let pending = items;
  for (let round = 0; round < rounds && pending.length > 0; round++) {
    if (round > 0) await sleep(BATCH_ROUND_BACKOFF_MS * 2 ** (round - 1), signal);
    pending = await send(pending);
  }
  return pending;
}
