import { MessageChannel, type MessagePort, type Worker } from "node:worker_threads";
import { startTsWorker } from "#local/runtime/ts-worker.js";
import type { EmulatorOptions } from "./emulators.js";
import { errorFrom } from "./error-copy.js";
import { LocalFastPath } from "./fast-path.js";
import type { AwsService, FaultPolicy, FaultStats } from "./faults.js";

export interface EmulatorThread {
  readonly gatewayUrl: string;
  readonly endpoints: Record<AwsService, string>;
  readonly faultEndpoints?: Record<AwsService, string>;
  /** The socket-free route to these emulators for this process's AWS clients. */
  readonly fastPath: LocalFastPath;
  /** Another socket-free route to the emulators, for a thread of its own (a function host). */
  connect(): MessagePort;
  setFaults(policy: FaultPolicy): Promise<void>;
  faultStats(): Promise<FaultStats>;
  stop(): Promise<void>;
}

const EMULATOR_YOUNG_GENERATION_MB = 96;

type ThreadMessage = {
  type?: string;
  id?: number;
  line?: string;
  stats?: FaultStats;
  error?: Record<string, unknown>;
} & Partial<Pick<EmulatorThread, "gatewayUrl" | "endpoints" | "faultEndpoints">>;

/**
 * The emulators in a worker thread of this process: a core of their own, like the child process they ran in
 * before, and reachable without sockets by the fast path (local/aws/fast-path.ts). Their HTTP endpoints stay up
 * for tests and tools. The thread runs TypeScript through tsx, like the child process did.
 */
export async function startEmulatorThread(
  options: Omit<EmulatorOptions, "log">,
  log: (line: string) => void,
  hooks: EmulatorThreadHooks = {},
): Promise<EmulatorThread> {
  const channel = new MessageChannel();
  const worker = startTsWorker(hooks.entry ?? new URL("./thread-main.ts", import.meta.url), {
    workerData: { options, calls: channel.port2 },
    transferList: [channel.port2],
    // The emulators allocate a short-lived object graph per call (JSON, LevelDB codecs, expression parsers);
    // a young generation larger than V8's default (16 MB semi-spaces on 64-bit) scavenges less often.
    resourceLimits: { maxYoungGenerationSizeMb: EMULATOR_YOUNG_GENERATION_MB },
  });
  const waiters = new Map<number, (message: ThreadMessage) => void>();
  let nextId = 0;
  const ask = (message: Record<string, unknown>) =>
    new Promise<ThreadMessage>((resolve) => {
      const id = nextId++;
      waiters.set(id, (answer) => {
        waiters.delete(id);
        resolve(answer);
      });
      worker.postMessage({ ...message, id });
    });
  const ready = await untilReady(worker, waiters, log).catch(async (error: unknown) => {
    // What the thread started before failing (dynalite's server, LevelDB) must not outlive the failure.
    await worker.terminate();
    throw error;
  });
  worker.removeAllListeners("exit");
  worker.removeAllListeners("error");
  const fastPath = new LocalFastPath(channel.port1);
  const life = watchThread(worker, fastPath, log, hooks.onFailure);
  return {
    gatewayUrl: String(ready.gatewayUrl),
    endpoints: ready.endpoints as Record<AwsService, string>,
    ...(ready.faultEndpoints ? { faultEndpoints: ready.faultEndpoints } : {}),
    fastPath,
    connect: () => {
      const extra = new MessageChannel();
      worker.postMessage({ type: "attach", port: extra.port2 }, [extra.port2]);
      return extra.port1;
    },
    setFaults: async (policy) => {
      await ask({ type: "set-faults", policy });
    },
    faultStats: async () => (await ask({ type: "fault-stats" })).stats ?? {},
    stop: () => life.stop(),
  };
}

export interface EmulatorThreadHooks {
  /**
   * The thread ended on its own after start-up (an uncaught error in an emulator: LevelDB's "No space left on
   * device" when the disk holding --data fills up). Its calls waiting for an answer fail at once.
   */
  readonly onFailure?: (error: Error) => void;
  /** The thread's entry module (tests: one that fails). */
  readonly entry?: URL;
}

/**
 * A thread that died used to leave every AWS call of the local cloud waiting out its timeout (the API answered
 * 503s, deliveries stalled), and `stop` waiting for an "exit" already past: Ctrl-C never finished.
 */
function watchThread(
  worker: Worker,
  fastPath: LocalFastPath,
  log: (line: string) => void,
  onFailure: ((error: Error) => void) | undefined,
): { stop(): Promise<void> } {
  let lastError: Error | undefined;
  let exited = false;
  let stopping = false;
  worker.on("error", (error) => {
    lastError = error;
    log(`[aws] emulator thread failed: ${error.message}`);
  });
  worker.once("exit", (code) => {
    exited = true;
    if (stopping) return;
    fastPath.close();
    onFailure?.(lastError ?? new Error(`the emulator thread exited (code ${code})`));
  });
  return {
    stop: async () => {
      stopping = true;
      if (!exited) await stopThread(worker, fastPath);
    },
  };
}

/** Routes the thread's messages (log lines, answers to `ask`) and settles once its emulators are up. */
function untilReady(
  worker: Worker,
  waiters: ReadonlyMap<number, (message: ThreadMessage) => void>,
  log: (line: string) => void,
): Promise<ThreadMessage> {
  return new Promise<ThreadMessage>((resolve, reject) => {
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`emulator thread exited early (code ${code})`)));
    worker.on("message", (message: ThreadMessage) => {
      if (message?.type === "log") log(String(message.line));
      if (message?.type === "ready") resolve(message);
      if (message?.type === "failed") reject(errorFrom(message.error));
      if (message?.type === "fault-stats" || message?.type === "faults-set")
        waiters.get(message.id ?? -1)?.(message);
    });
  });
}

async function stopThread(worker: Worker, fastPath: LocalFastPath): Promise<void> {
  const stopped = new Promise<void>((resolve) =>
    worker.on("message", (m: ThreadMessage) => m?.type === "stopped" && resolve()),
  );
  worker.postMessage({ type: "stop" });
  const timer = setTimeout(() => void worker.terminate(), 5_000);
  await Promise.race([stopped, new Promise((resolve) => worker.once("exit", resolve))]);
  clearTimeout(timer);
  fastPath.close();
  await worker.terminate();
}
