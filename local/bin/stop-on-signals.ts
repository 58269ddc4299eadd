/**
 * How `npm start` ends: on Ctrl-C (SIGINT), SIGTERM, or the terminal closing (SIGHUP), the local cloud stops in
 * order — no new requests, in-flight deliveries finish, pollers stop, then the emulators, which write their state
 * (schedules.json is written a moment after each change). SIGHUP used to kill the process outright: closing the
 * terminal cut deliveries mid-flight and could lose the last schedules created.
 */
export function stopOnSignals(options: {
  readonly stop: () => Promise<void>;
  readonly write: (text: string) => void;
  readonly exit: (code: number) => void;
  readonly target?: NodeJS.EventEmitter;
}): void {
  const target = options.target ?? process;
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    options.write(`\n${signal}: stopping…\n`);
    await options.stop();
    options.write("stopped.\n");
    options.exit(0);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) target.on(signal, () => void shutdown(signal));
}
