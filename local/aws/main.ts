/**
 * Child-process entry for the emulators: they run apart from the functions and the load they serve, so the
 * SDK clients (the first thing to saturate) and the emulators do not compete for one event loop.
 */
import { startEmulators } from "./emulators.js";
import { copyOfError } from "./error-copy.js";
import type { FaultPolicy } from "./faults.js";

const options = JSON.parse(process.argv[2] ?? "{}");
const emulators = await startEmulators({
  ...options,
  log: (line: string) => process.stderr.write(`[aws] ${line}\n`),
}).catch((error: unknown) => {
  // As in thread-main.ts: the reason, not only "exited early (code 1)" after a stack trace.
  process.send?.({ type: "failed", error: copyOfError(error) }, () => process.exit(1));
  return new Promise<never>(() => undefined);
});
process.send?.({
  type: "ready",
  gatewayUrl: emulators.gatewayUrl,
  endpoints: emulators.endpoints,
  faultEndpoints: emulators.faultEndpoints,
});

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await emulators.stop();
  process.exit(0);
}
process.on("message", (message: { type?: string; policy?: FaultPolicy; id?: number }) => {
  if (message?.type === "stop") void shutdown();
  // Fault control from the parent (local cloud): replace the policy, or report what was injected.
  if (message?.type === "set-faults" && message.policy) {
    emulators.setFaults(message.policy);
    process.send?.({ type: "faults-set", id: message.id });
  }
  if (message?.type === "fault-stats")
    process.send?.({ type: "fault-stats", id: message.id, stats: emulators.faultStats() });
});
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
// The parent died without telling us: never outlive it.
process.on("disconnect", () => void shutdown());
