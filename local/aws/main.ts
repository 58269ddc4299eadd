/**
 * Child-process entry for the emulators: they run apart from the functions and the load they serve, so the
 * SDK clients (the first thing to saturate) and the emulators do not compete for one event loop.
 */
import { startEmulators } from "./emulators.js";

const options = JSON.parse(process.argv[2] ?? "{}");
const emulators = await startEmulators({
  ...options,
  log: (line: string) => process.stderr.write(`[aws] ${line}\n`),
});
process.send?.({ type: "ready", gatewayUrl: emulators.gatewayUrl, endpoints: emulators.endpoints });

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await emulators.stop();
  process.exit(0);
}
process.on("message", (message: { type?: string }) => {
  if (message?.type === "stop") void shutdown();
});
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
// The parent died without telling us: never outlive it.
process.on("disconnect", () => void shutdown());
