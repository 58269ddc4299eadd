import type { AbortOptions } from "#shared/adapters/task-store.js";

/**
 * A task write that hangs as on a dead connection, in place of `write`. `sentAgain()` is the SDK's own retry once
 * its socket timed out: it writes, unless the call's signal was aborted (an aborted SDK call is never sent again).
 */
export function hungWrite<F, O extends AbortOptions>(write: (first: F, options?: O) => Promise<unknown>) {
  let retry: () => Promise<unknown> = async () => undefined;
  const hung = (first: F, options?: O) =>
    new Promise<never>(() => {
      retry = async () => {
        if (!options?.signal?.aborted) await write(first, options);
      };
    });
  return { hung, sentAgain: () => retry() };
}
