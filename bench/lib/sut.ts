/**
 * The system under test, in a process of its own so its CPU is measured apart from the load generator and the
 * callback receiver (which stand in for the user's services):
 *   punctual — the local cloud (functions, API, pollers; emulators in its child process);
 *   bullmq <redisPort> <queue> <concurrency> — a BullMQ Worker with a no-op processor that reports when each
 *   job started (its "callback receive time").
 * Talks to the bench over IPC: `ready`, `received` batches, `log`; stops on `stop`.
 */
import { writeFileSync } from "node:fs";
import { startLocalCloud } from "#local/cloud/local-cloud.js";
import { PEER_CONCURRENCY } from "./concurrency.js";
import { TRACE_DIR, traceServer } from "./trace.js";

type Send = (message: unknown) => void;
const send: Send = (message) => process.send?.(message);
const [mode, ...args] = process.argv.slice(2);
let stop: () => Promise<void>;

if (mode === "punctual") {
  // BENCH_CALLS_FILE: route the functions' AWS calls through zero-rate fault proxies, which count them per
  // operation, and write the counts there at stop (a diagnostic: the proxies add a hop to every call).
  const callsFile = process.env.BENCH_CALLS_FILE;
  const cloud = await startLocalCloud({
    apiPort: 0,
    awsPort: 0,
    ...(callsFile ? { faults: { rates: {} } } : {}),
    // As many concurrent deliveries as BullMQ's worker gets (100, bench/lib/targets.ts). The topic default (10)
    // protects a receiver; at 10, deliver is bound by round trips (10 groups × 3 sequential calls per task),
    // not by anything the comparison is about.
    configOverrides: { topics: { demo: { maxConcurrency: PEER_CONCURRENCY } } },
    // Only trouble is worth reporting; the bench prints how many such lines there were.
    log: (line) => {
      if (/error|fail/i.test(line)) send({ type: "log", line });
    },
  });
  const trace = TRACE_DIR ? traceServer() : undefined;
  stop = async () => {
    trace?.save(`sut-${process.pid}`);
    if (callsFile) writeFileSync(callsFile, JSON.stringify(await cloud.faults?.stats(), null, 2));
    await cloud.stop();
  };
  send({ type: "ready", apiUrl: cloud.apiUrl });
} else if (mode === "bullmq") {
  const { Worker } = await import("bullmq");
  const [port, queue, concurrency] = args;
  let pending: [string, number][] = [];
  const worker = new Worker(
    queue as string,
    async (job) => {
      pending.push([job.data.id as string, Date.now()]);
    },
    { connection: { host: "127.0.0.1", port: Number(port) }, concurrency: Number(concurrency) },
  );
  await worker.waitUntilReady();
  // Batched like the receiver's own bookkeeping: one IPC message per 50 ms, not one per job.
  const flush = setInterval(() => {
    if (pending.length === 0) return;
    send({ type: "received", items: pending });
    pending = [];
  }, 50);
  stop = async () => {
    clearInterval(flush);
    await worker.close();
    if (pending.length > 0) send({ type: "received", items: pending });
  };
  send({ type: "ready" });
} else {
  throw new Error(`unknown mode ${mode}`);
}

process.on("message", (message: { type?: string }) => {
  if (message?.type !== "stop") return;
  stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
process.on("disconnect", () => process.exit(0));
