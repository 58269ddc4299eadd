/**
 * Worker-thread entry of a function host (local/runtime/function-host.ts): imports its handler modules, with
 * this thread's AWS clients on the fast path to the emulators' thread, and runs the invocations it is sent.
 */
import type { MessagePort } from "node:worker_threads";
import { parentPort, workerData } from "node:worker_threads";
import type { Context } from "aws-lambda";
import { LocalFastPath } from "#local/aws/fast-path.js";
import { setLocalAwsTransport } from "#shared/adapters/aws-clients.js";
import { capturingEmf } from "./emf-capture.js";
import type { HostedFunction, Invocation, InvocationResult } from "./function-host.js";

type Handler = (event: unknown, context: Context) => Promise<unknown>;

const { functions, emulators, printMetrics } = workerData as {
  functions: HostedFunction[];
  emulators: MessagePort;
  printMetrics: boolean;
};
const emfSink = {
  record: (document: unknown) => parentPort?.postMessage({ type: "emf", document }),
  print: printMetrics,
};
const fastPath = new LocalFastPath(emulators);
setLocalAwsTransport(fastPath);
const handlers = new Map<string, Handler>();
for (const fn of functions) {
  const module = (await import(fn.moduleUrl)) as { handler?: Handler };
  if (typeof module.handler !== "function") throw new Error(`${fn.moduleUrl} exports no handler`);
  handlers.set(fn.logicalId, capturingEmf(emfSink, module.handler));
}

/** The invoking thread's context, with the same deadline. */
function contextOf(invocation: Invocation): Context {
  const deadline = Date.now() + invocation.context.remainingMs;
  return {
    ...invocation.context.fields,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

async function run(invocation: Invocation): Promise<InvocationResult> {
  const handler = handlers.get(invocation.logicalId);
  try {
    if (!handler) throw new Error(`no local function ${invocation.logicalId} in this host`);
    return { id: invocation.id, value: await handler(invocation.event, contextOf(invocation)) };
  } catch (error) {
    const { name, message, stack } = error instanceof Error ? error : new Error(String(error));
    return { id: invocation.id, error: { name, message, ...(stack ? { stack } : {}) } };
  }
}

parentPort?.on("message", (message: Invocation | { type: "stop" }) => {
  if ("type" in message) {
    fastPath.close();
    parentPort?.postMessage({ type: "stopped" });
    return;
  }
  void run(message).then((result) => parentPort?.postMessage(result));
});
parentPort?.postMessage({ type: "ready" });
