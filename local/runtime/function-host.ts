import type { MessagePort, Worker } from "node:worker_threads";
import type { Context } from "aws-lambda";
import type { EmfSink } from "./emf-capture.js";
import type { LambdaHandler } from "./sqs-event-source.js";
import { startTsWorker } from "./ts-worker.js";

export interface HostedFunction {
  readonly logicalId: string;
  /** The handler module (a fresh instance per host, as a Lambda container has). */
  readonly moduleUrl: string;
}

/** One invocation crossing to the host: the event, and the context's fields and remaining time. */
export interface Invocation {
  readonly id: number;
  readonly logicalId: string;
  readonly event: unknown;
  readonly context: {
    readonly remainingMs: number;
    readonly fields: Omit<Context, "getRemainingTimeInMillis" | "done" | "fail" | "succeed">;
  };
}

export type InvocationResult =
  | { readonly id: number; readonly value: unknown }
  | { readonly id: number; readonly error: { name: string; message: string; stack?: string } };

export interface FunctionHost {
  /** Invokes a hosted function as the local runtime invokes an in-process one. */
  handlerFor(logicalId: string): LambdaHandler;
  stop(): Promise<void>;
}

/**
 * A worker thread that runs some of the local cloud's functions (the local cloud's `thread` layout): their
 * handler code and their AWS clients' work leave the thread that serves the API and polls the queues, as Lambda
 * runs each function apart from its event sources. Events and results cross by structured clone, as they
 * cross Lambda's invoke API as JSON; the functions' AWS calls go straight to the emulators' thread over
 * `emulators` (the fast path). The invoking side keeps Lambda's timeout (local/runtime/lambda-context.ts).
 */
export async function startFunctionHost(
  functions: readonly HostedFunction[],
  emulators: MessagePort,
  emfSink: EmfSink,
): Promise<FunctionHost> {
  const worker: Worker = startTsWorker(new URL("./function-host-main.ts", import.meta.url), {
    // The host catches its functions' EMF lines itself and sends each document here, to the cloud's sink.
    workerData: { functions, emulators, printMetrics: emfSink.print },
    transferList: [emulators],
  });
  const waiting = new Map<number, (result: InvocationResult) => void>();
  let nextId = 0;
  await new Promise<void>((resolve, reject) => {
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`function host exited early (code ${code})`)));
    worker.on("message", (message: InvocationResult | { type: string; document?: unknown }) => {
      if ("type" in message) {
        if (message.type === "ready") resolve();
        else if (message.type === "emf") emfSink.record(message.document);
        return;
      }
      waiting.get(message.id)?.(message);
    });
  });
  worker.removeAllListeners("exit");
  worker.removeAllListeners("error");

  const invoke = (logicalId: string, event: unknown, context: Context) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, (result) => {
        waiting.delete(id);
        if ("error" in result) reject(Object.assign(new Error(result.error.message), result.error));
        else resolve(result.value);
      });
      const { getRemainingTimeInMillis, done, fail, succeed, ...fields } = context;
      const invocation: Invocation = {
        id,
        logicalId,
        event,
        context: { remainingMs: getRemainingTimeInMillis(), fields },
      };
      worker.postMessage(invocation);
    });

  return {
    handlerFor: (logicalId) => (event, context) => invoke(logicalId, event, context),
    stop: async () => {
      const stopped = new Promise<void>((resolve) =>
        worker.on("message", (m: { type?: string }) => m?.type === "stopped" && resolve()),
      );
      worker.postMessage({ type: "stop" });
      await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 2_000))]);
      await worker.terminate();
    },
  };
}
