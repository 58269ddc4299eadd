/**
 * One panel's loads, one at a time. The page refreshes every 3 s; a load still under way at a refresh is left to
 * finish and its answer shown, and one more load follows it (what the refresh asked for, an action's effect
 * included). Dropping the answer at each refresh, as the panels once did, showed nothing at all from an API or
 * CloudWatch slower than 3 s, while each refresh sent another call on top of the unfinished ones.
 */
export type LoadOutcome<T> = { readonly data: T } | { readonly error: unknown };

export interface LoadGate<T> {
  /**
   * Loads now, or once the load under way has answered (the latest `load` given meanwhile). `signal` aborts when
   * the gate is disposed: a load of many calls (the topics panel's metrics, a few at a time) stops sending them.
   */
  run(load: (signal: AbortSignal) => Promise<T>): void;
  /**
   * The panel moved on (another topic, page or task) or went away: no answer is shown, nothing more loads, and
   * the load under way is told to stop (its signal aborts).
   */
  dispose(): void;
}

export function loadGate<T>(apply: (outcome: LoadOutcome<T>) => void): LoadGate<T> {
  let running = false;
  let disposed = false;
  let next: ((signal: AbortSignal) => Promise<T>) | undefined;
  const stop = new AbortController();
  const start = (load: (signal: AbortSignal) => Promise<T>) => {
    running = true;
    new Promise<T>((resolve) => resolve(load(stop.signal)))
      .then(
        (data): LoadOutcome<T> => ({ data }),
        (error: unknown): LoadOutcome<T> => ({ error }),
      )
      .then((outcome) => {
        if (disposed) return;
        apply(outcome);
        running = false;
        const queued = next;
        next = undefined;
        if (queued) start(queued);
      });
  };
  return {
    run(load) {
      if (disposed) return;
      if (running) next = load;
      else start(load);
    },
    dispose() {
      disposed = true;
      next = undefined;
      stop.abort();
    },
  };
}
