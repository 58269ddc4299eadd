import { createContext } from "preact";
import { useContext, useEffect, useRef, useState } from "preact/hooks";
import { errorText } from "./action.js";
import { type LoadGate, loadGate } from "./load-gate.js";

/** How often the page refreshes itself while visible. */
export const REFRESH_MS = 3_000;

/** A counter that moves every REFRESH_MS while the tab is visible, and at once when it becomes visible again. */
export function useRefreshTick(): [number, () => void] {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const bump = () => {
      if (document.visibilityState === "visible") setTick((t) => t + 1);
    };
    const timer = setInterval(bump, REFRESH_MS);
    document.addEventListener("visibilitychange", bump);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", bump);
    };
  }, []);
  return [tick, () => setTick((t) => t + 1)];
}

export interface Refresh {
  readonly tick: number;
  /** Refreshes every panel now (after an action). */
  readonly now: () => void;
}

export const RefreshContext = createContext<Refresh>({ tick: 0, now: () => undefined });

export const useRefresh = () => useContext(RefreshContext);

/**
 * Loads `load()` whenever the refresh tick or `deps` move; keeps the last good value while a load fails. A load
 * slower than the refresh is not dropped: the next one waits for it (load-gate.ts). Once `deps` move, nothing
 * loaded for the old ones is shown (another topic's dead letters under this one's name, with its Replay and
 * Cancel buttons), nor answered, until the new ones' load answers; the old ones' load is given an aborted signal.
 */
export function useLoad<T>(
  load: (signal: AbortSignal) => Promise<T>,
  deps: readonly unknown[],
): { data?: T; error?: string } {
  const { tick } = useRefresh();
  const [state, setState] = useState<{ deps?: readonly unknown[]; data?: T; error?: string }>({});
  const gate = useRef<LoadGate<T> | undefined>(undefined);
  useEffect(() => {
    const current = loadGate<T>((outcome) =>
      "data" in outcome
        ? setState({ deps, data: outcome.data })
        : // As an action's error: the API's code and message, cut (a proxy's HTML page is not shown whole).
          setState((s) => ({
            deps,
            data: sameDeps(s.deps, deps) ? s.data : undefined,
            error: errorText(outcome.error),
          })),
    );
    gate.current = current;
    return () => current.dispose();
  }, deps);
  // After the effect above (effects run in order): a move of `deps` loads through the new gate.
  useEffect(() => gate.current?.run(load), [tick, ...deps]);
  return sameDeps(state.deps, deps) ? state : {};
}

function sameDeps(a: readonly unknown[] | undefined, b: readonly unknown[]): boolean {
  return a !== undefined && a.length === b.length && a.every((value, i) => Object.is(value, b[i]));
}

/**
 * Shows an action's line (runAction's answer: what it did, or why not) through `setMessage` and refreshes every
 * panel; a declined action (undefined) does neither.
 */
export function useShowLine(setMessage: (message: string) => void): (line: string | undefined) => void {
  const refresh = useRefresh();
  return (line) => {
    if (line === undefined) return;
    setMessage(line);
    refresh.now();
  };
}
