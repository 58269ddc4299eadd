/**
 * How `npm start` ends: on Ctrl-C (SIGINT), SIGTERM, or the terminal closing (SIGHUP), the local cloud stops in
 * order — no new requests, in-flight deliveries finish, pollers stop, then the emulators, which write their state
 * (schedules.json is written a moment after each change). SIGHUP used to kill the process outright: closing the
 * terminal cut deliveries mid-flight and could lose the last schedules created.
 *
 * A second Ctrl-C (or SIGTERM) while stopping forces the exit (code 130): the orderly stop waits for in-flight
 * deliveries, up to the topic's callback timeout (up to 120 s) against a receiver that hangs, and a second Ctrl-C used
 * to be ignored. Nothing accepted is lost by forcing: the tasks are in --data's DynamoDB, and the deliveries cut short
 * are sent again on the next start (docs/OPERATIONS.md, "The local cloud"). A SIGHUP after Ctrl-C (the terminal
 * closed while stopping) does not force: nobody asked to. A stop that fails says so in one line and exits 1.
 *
 * One Ctrl-C reaches the local cloud more than once: the terminal signals its whole process group (npm and the node
 * process running this) and npm forwards SIGINT and SIGTERM to its child, this process (the script `exec`s node; it
 * ran through tsx's CLI until 2026-12-06, which relayed its own copies too). So a single Ctrl-C on `npm start` often
 * arrived twice within a few milliseconds and forced the exit, deliveries cut short (found walking
 * docs/OPERATIONS.md, 2026-12-06: 2 of 3 stops).
 * A signal within `SAME_SIGNAL_MS` of the one that began the stop is taken for a copy of it; a person's second
 * Ctrl-C comes later than that.
 */
export const SAME_SIGNAL_MS = 1000;

export function stopOnSignals(options: {
  readonly stop: () => Promise<void>;
  readonly write: (text: string) => void;
  readonly exit: (code: number) => void;
  readonly target?: NodeJS.EventEmitter;
  /** Milliseconds on a monotonic clock (tests pass their own). */
  readonly now?: () => number;
}): void {
  const target = options.target ?? process;
  const now = options.now ?? (() => performance.now());
  let stopping = false;
  let stoppingSince = 0;
  let exited = false;
  const exit = (code: number): void => {
    if (exited) return;
    exited = true;
    options.exit(code);
  };
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) {
      if (signal !== "SIGHUP" && now() - stoppingSince >= SAME_SIGNAL_MS) force(signal);
      return;
    }
    stopping = true;
    stoppingSince = now();
    options.write(`\n${signal}: stopping… (Ctrl-C again to force)\n`);
    try {
      await options.stop();
    } catch (error) {
      options.write(`the orderly stop failed (${(error as Error)?.message ?? String(error)}); exiting\n`);
      exit(1);
      return;
    }
    if (exited) return;
    options.write("stopped.\n");
    exit(0);
  };
  const force = (signal: string): void => {
    if (exited) return;
    options.write(
      `\n${signal} again: forced exit; deliveries cut short are sent again on the next start with the same --data\n`,
    );
    exit(130);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) target.on(signal, () => void shutdown(signal));
}
