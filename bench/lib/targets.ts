import { type ChildProcess, fork } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import { PunctualClient } from "punctual/client";
import { Pool } from "undici";
import { PEER_CONCURRENCY } from "./concurrency.js";
import { cpuMeter, processTree, selfCpuMeter, type ThreadSplit, threadCpuMeter } from "./stats.js";
import { TRACE_DIR, traceClient } from "./trace.js";

export interface BenchTask {
  readonly id: string;
  readonly group: string;
  readonly dueMs: number;
  /** An idempotency key, as our client gives every add (BullMQ: the job id, its deduplication). */
  readonly key?: string;
}

export interface CpuReading {
  /** The system under test: its process and descendants (Punctual: functions + emulators), plus Redis. */
  readonly systemMs: number;
  /** Of which the system's main process (Punctual: the functions, API and pollers; BullMQ: the worker). */
  readonly mainMs: number;
  /**
   * The main process's CPU by thread: its main thread (Punctual: API, pollers, functions), its busiest other
   * thread (Punctual: the emulators' thread) and the rest (V8 and libuv helpers).
   */
  readonly threads: ThreadSplit;
  /** This process: load generator and callback receiver. */
  readonly clientMs: number;
}

/** One system as the workloads see it: add a task, learn when it arrived. */
export interface Target {
  readonly name: "punctual" | "bullmq";
  add(task: BenchTask): Promise<void>;
  /** All of `tasks` in one request; throws unless every one was accepted. */
  addMany(tasks: readonly BenchTask[]): Promise<void>;
  /** One add as a user's code makes it: Punctual's typed client (keyed, naturally batched); BullMQ's Queue.add with a job id. */
  addThroughClient(task: BenchTask): Promise<void>;
  /** Bench task id → first receive time (ms). */
  readonly received: Map<string, number>;
  readonly stats: { duplicates: number; logLines: string[] };
  cpuMeter(): () => CpuReading;
  stop(): Promise<void>;
}

const SUT_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), "sut.ts");
/** Concurrency of the API client (the adds workload's figure) and of the callback receiver's keep-alive pool. */
export const CLIENT_CONNECTIONS = 64;
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;

function startSut(args: string[]): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = fork(SUT_ENTRY, args, {
    // BENCH_PROFILE_DIR: V8 CPU profiles of the system under test (and of the emulators the local cloud forks).
    execArgv: [
      "--import",
      "tsx",
      "--no-warnings",
      ...(PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}`] : []),
      ...(process.env.BENCH_SUT_FLAGS ? process.env.BENCH_SUT_FLAGS.split(" ") : []),
    ],
    // BENCH_SUT_STDOUT: the system under test's stdout on the bench's (V8 traces such as --trace-gc print there).
    stdio: ["ignore", process.env.BENCH_SUT_STDOUT ? "inherit" : "ignore", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`system under test exited early (${code}): ${stderr}`)));
    child.on("message", (message: { type?: string }) => {
      if (message?.type === "ready") {
        child.removeAllListeners("exit");
        resolve({ child, ready: message });
      }
    });
  });
}

async function stopSut(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.send({ type: "stop" });
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

function meterFor(main: number, pids: () => number[]): () => () => CpuReading {
  return () => {
    const system = cpuMeter(pids());
    const mainOnly = cpuMeter([main]);
    const threads = threadCpuMeter(main);
    const client = selfCpuMeter();
    return () => ({ systemMs: system(), mainMs: mainOnly(), threads: threads(), clientMs: client() });
  };
}

/** Punctual's local cloud, fed through its HTTP API, calling back a real HTTP receiver on loopback. */
export async function startPunctual(): Promise<Target> {
  const received = new Map<string, number>();
  const stats = { duplicates: 0, logLines: [] as string[] };
  const trace = TRACE_DIR ? traceClient() : undefined;
  const receiver = await startReceiver(received, stats, trace);
  const { child, ready } = await startSut(["punctual"]);
  child.on("message", (m: { type?: string; line?: string }) => {
    if (m?.type === "log" && stats.logLines.length < 1000) stats.logLines.push(String(m.line));
  });
  const pool = new Pool(String(ready.apiUrl), { connections: CLIENT_CONNECTIONS });
  // The typed client as a user builds it: natural batching on, its default maxInFlight, a key on every add.
  const client = new PunctualClient({ apiUrl: String(ready.apiUrl) });
  const body = taskBody(receiver.callbackUrl);
  return {
    name: "punctual",
    received,
    stats,
    add: async (task) => postTask(pool, body(task)),
    addThroughClient: async (task) => {
      await client.addTask(body(task));
    },
    addMany: async (tasks) =>
      postBatch(
        pool,
        tasks.map((task) => ({ ...body(task), ...(task.key ? { idempotency_key: task.key } : {}) })),
      ),
    cpuMeter: meterFor(child.pid as number, () => processTree(child.pid as number)),
    stop: async () => {
      trace?.save(`bench-${child.pid}`);
      await stopSut(child);
      await pool.close();
      receiver.server.closeAllConnections();
      await new Promise((resolve) => receiver.server.close(resolve));
    },
  };
}

/** The callback receiver: the first arrival of each bench task (by its `bench_id`), later ones counted as duplicates. */
async function startReceiver(
  received: Map<string, number>,
  stats: { duplicates: number },
  trace: ReturnType<typeof traceClient> | undefined,
): Promise<{ server: http.Server; callbackUrl: string }> {
  const server = http.createServer((req, res) => {
    const at = Date.now();
    trace?.callback();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const id = (JSON.parse(Buffer.concat(chunks).toString()) as { content: { bench_id: string } }).content
        .bench_id;
      if (received.has(id)) stats.duplicates++;
      else received.set(id, at);
      res.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, callbackUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` };
}

function taskBody(callbackUrl: string) {
  return (task: BenchTask) => ({
    topic: "demo",
    due_at: new Date(task.dueMs).toISOString(),
    content: { order_id: task.group, bench_id: task.id },
    callback: { url: callbackUrl },
  });
}

async function postTask(pool: Pool, body: unknown): Promise<void> {
  const response = await pool.request({
    path: "/v1/tasks",
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.body.text();
  if (response.statusCode !== 201) throw new Error(`HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
}

/** One POST /v1/tasks/batch; throws unless every item was accepted. */
async function postBatch(pool: Pool, tasks: unknown[]): Promise<void> {
  const response = await pool.request({
    path: "/v1/tasks/batch",
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ tasks }),
  });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
  const refused = (JSON.parse(text) as { results: { status: number }[] }).results.filter(
    (r) => r.status !== 201,
  );
  if (refused.length > 0)
    throw new Error(`${refused.length} items refused (first: HTTP ${refused[0]?.status})`);
}

/**
 * BullMQ on Redis, the usual Node choice: delayed jobs (`delay` in ms), a Worker with a no-op processor in its own
 * process. BullMQ has no per-key ordering without BullMQ Pro's groups, so it does strictly less work per task.
 */
export async function startBullmq(redis: { port: number; pid: number }, queueName: string): Promise<Target> {
  const received = new Map<string, number>();
  const stats = { duplicates: 0, logLines: [] as string[] };
  const { child } = await startSut(["bullmq", String(redis.port), queueName, String(PEER_CONCURRENCY)]);
  child.on("message", (m: { type?: string; items?: [string, number][] }) => {
    if (m?.type !== "received") return;
    for (const [id, at] of m.items ?? []) {
      if (received.has(id)) stats.duplicates++;
      else received.set(id, at);
    }
  });
  const queue = new Queue(queueName, { connection: { host: "127.0.0.1", port: redis.port } });
  await queue.waitUntilReady();
  return {
    name: "bullmq",
    received,
    stats,
    add: async (task) => {
      await queue.add(
        "t",
        { id: task.id, g: task.group },
        { delay: Math.max(0, task.dueMs - Date.now()), removeOnComplete: true, removeOnFail: true },
      );
    },
    addThroughClient: async (task) => {
      await queue.add(
        "t",
        { id: task.id, g: task.group },
        {
          delay: Math.max(0, task.dueMs - Date.now()),
          removeOnComplete: true,
          removeOnFail: true,
          jobId: `client-${task.id}`,
        },
      );
    },
    addMany: async (tasks) => {
      await queue.addBulk(
        tasks.map((task) => ({
          name: "t",
          data: { id: task.id, g: task.group },
          opts: {
            delay: Math.max(0, task.dueMs - Date.now()),
            removeOnComplete: true,
            removeOnFail: true,
            ...(task.key ? { jobId: task.key } : {}),
          },
        })),
      );
    },
    cpuMeter: meterFor(child.pid as number, () => [...processTree(child.pid as number), redis.pid]),
    stop: async () => {
      await stopSut(child);
      await queue.obliterate({ force: true });
      await queue.close();
    },
  };
}
