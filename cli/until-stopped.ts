/**
 * Resolves when a long-running command (`punctual console`) should stop: Ctrl-C, a SIGTERM or SIGHUP, or its parent
 * gone. Why the parent: `npx punctual console` runs the CLI under `npm exec` → `sh -c 'punctual' …`, and npm hands a
 * SIGTERM on to that shell only, which dies of it without passing it on: the CLI, reparented, kept serving (with the
 * user's AWS credentials) after its `npx` was stopped. Node has no parent-death signal (Linux's PR_SET_PDEATHSIG), so
 * the parent is watched: a change of `process.ppid` means it exited. A CLI started by PID 1 itself never sees one.
 */
export function untilStopped(
  seams: { readonly parentPid?: () => number; readonly pollMs?: number } = {},
): Promise<NodeJS.Signals | "parent exited"> {
  const parentPid = seams.parentPid ?? (() => process.ppid);
  const parentAtStart = parentPid();
  return new Promise((resolve) => {
    const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
    const stop = (reason: NodeJS.Signals | "parent exited") => {
      clearInterval(poll);
      for (const signal of signals) process.off(signal, onSignal);
      resolve(reason);
    };
    const onSignal = (signal: NodeJS.Signals) => stop(signal);
    for (const signal of signals) process.once(signal, onSignal);
    const poll = setInterval(() => {
      if (parentPid() !== parentAtStart) stop("parent exited");
    }, seams.pollMs ?? 1_000);
    // The watch alone never keeps the process alive; the server it guards does.
    poll.unref();
  });
}
