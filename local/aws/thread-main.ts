/**
 * Worker-thread entry for the emulators (the local cloud's default layout, local/aws/emulator-thread.ts): they
 * keep a core of their own, as in a child process, and the local runtime's AWS clients reach them through a
 * MessagePort instead of sockets (local/aws/fast-path.ts).
 */
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { type EmulatorOptions, startEmulators } from "./emulators.js";
import { copyOfError } from "./error-copy.js";
import type { FaultPolicy } from "./faults.js";
import { serveInProcess } from "./in-process.js";

const { options, calls } = workerData as { options: EmulatorOptions; calls: MessagePort };
const emulators = await startEmulators({
  ...options,
  log: (line: string) => parentPort?.postMessage({ type: "log", line: `[aws] ${line}` }),
}).catch((error: unknown) => {
  // Rejected here, the thread's bootstrap printed a stack trace and exited 1: the main thread learnt only the exit
  // code, and `npm start` could not say "schedules.json is corrupt" in one line. The main thread ends this thread.
  parentPort?.postMessage({ type: "failed", error: copyOfError(error) });
  return new Promise<never>(() => undefined);
});

/** Serves the calls arriving on one port (the main thread's, and one per function host). */
const ports: MessagePort[] = [];
function serve(port: MessagePort): void {
  ports.push(port);
  serveInProcess(port, emulators.dispatch);
}
serve(calls);

type Control = { type?: string; policy?: FaultPolicy; id?: number; port?: MessagePort };
parentPort?.on("message", (message: Control) => {
  if (message?.type === "attach" && message.port) serve(message.port);
  if (message?.type === "stop") {
    void emulators.stop().then(() => {
      for (const port of ports) port.close();
      parentPort?.postMessage({ type: "stopped" });
    });
  }
  if (message?.type === "set-faults" && message.policy) {
    emulators.setFaults(message.policy);
    parentPort?.postMessage({ type: "faults-set", id: message.id });
  }
  if (message?.type === "fault-stats")
    parentPort?.postMessage({ type: "fault-stats", id: message.id, stats: emulators.faultStats() });
});

parentPort?.postMessage({
  type: "ready",
  gatewayUrl: emulators.gatewayUrl,
  endpoints: emulators.endpoints,
  faultEndpoints: emulators.faultEndpoints,
});
