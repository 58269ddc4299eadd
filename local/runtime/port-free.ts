import net from "node:net";

/**
 * Rejects, as `listen` would (code EADDRINUSE, address, port), when `port` on `host` is taken; else resolves, the
 * port free again. `npm start` asks before it starts anything: the API's port is opened last, and a taken one used
 * to be found only after the emulators, the stack, recovery (re-arming what came due, with --data) and the pollers
 * had started, seconds later, all to be stopped again. A port taken between this check and its use is still
 * refused there, in the same words.
 */
export async function ensurePortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", reject);
    probe.listen({ host, port, exclusive: true }, () => resolve());
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}
