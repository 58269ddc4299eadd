/**
 * `npx tsx plan/calibrate.ts [--tasks 3000] [--in-flight 32]`: measures the local profile's per-call CPU on this
 * machine, on the local cloud as the bench runs it (plan/local-profile.ts takes the figures): one process, the
 * emulators in their worker thread, this thread's AWS clients on the fast path (local/aws/fast-path.ts). Every
 * call is the pipeline's own — the add through the API server, the task store's and the queues' adapters with the
 * table's real item shape, conditions and index — and its CPU is read per thread (/proc/self/task/*): the calling
 * thread (`main`: the SDK's serialisation and parsing, the fast path's message, the handler), the emulators'
 * thread (`emulators`: dynalite, fauxqs) and V8's/libuv's helper threads (`helpers`: GC, compilation). The load
 * generator and callback receiver run in a process of their own (plan/calibrate-client.ts), as in the bench.
 *
 * Batch calls are measured with 1 and 10 entries, so each has a per-call and a per-entry figure. Prints JSON.
 * CPU, not wall time: the machine is shared, so the load average is printed too; run it on a quiet machine.
 */
import { fork } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "#local/aws/emulators.js";
import { startLocalCloud } from "#local/cloud/local-cloud.js";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { createCallbackClient } from "#shared/adapters/callback-client.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { type FinishWrite, startedTask } from "#shared/adapters/task-store.js";
import { SqsTimerQueue } from "#shared/adapters/timer-queue.js";
import { SqsTopicQueue } from "#shared/adapters/topic-queue.js";
import { makeTaskKey, newUlid } from "#shared/domain/keys.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { ENV } from "#shared/runtime/env.js";
import { threadCpuMeter } from "../bench/lib/stats.js";
import type { CalibratedCall, Calibration, ThreadCost } from "./local-profile.js";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const TASKS = arg("--tasks", 3000);
/** Calls in flight, as under the pipeline's load (one at a time costs more CPU per call: fewer wake-ups shared). */
const IN_FLIGHT = arg("--in-flight", 32);
/** The bench's burst shape: each group holds TASKS / GROUPS tasks, one per second of due time. */
const GROUPS = 300;
/** Calls per round (a cold round, then a warm one). */
const ROUND = 1000;

type Cost = ThreadCost;
type Measured = CalibratedCall;

const round = (x: number) => Math.round(x * 1000) / 1000;
const costOf = (f: (k: keyof Cost) => number): Cost => ({
  main: round(f("main")),
  emulators: round(f("emulators")),
  helpers: round(f("helpers")),
});

/**
 * A batch call as a part per call plus a part per entry, from calls of 1 and of 10 entries (the warm-up, a
 * property of the code path, not of the size, is the two's sum).
 */
function perEntry(one: Measured, ten: Measured): Measured {
  const entry = costOf((k) => Math.max(0, (ten.warm[k] - one.warm[k]) / 9));
  return {
    warm: costOf((k) => Math.max(0, one.warm[k] - entry[k])),
    entry,
    warmUp: { ...costOf((k) => one.warmUp[k] + ten.warmUp[k]), calls: one.warmUp.calls },
  };
}

/** Runs `n` jobs, IN_FLIGHT at a time. */
async function bounded(n: number, work: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, IN_FLIGHT) }, async () => {
      for (let i = next++; i < n; i = next++) await work(i);
    }),
  );
}

const client = fork(fileURLToPath(new URL("./calibrate-client.ts", import.meta.url)), {
  execArgv: ["--import", "tsx", "--no-warnings"],
});
const ask = <T>(message: object, answer: string) =>
  new Promise<T>((resolve, reject) => {
    const on = (m: { type: string; error?: string }) => {
      if (m.type === "failed") reject(new Error(m.error));
      if (m.type !== answer) return;
      client.off("message", on);
      resolve(m as T);
    };
    client.on("message", on);
    if (answer !== "ready") client.send(message);
  });
await ask({}, "ready");

const cloud = await startLocalCloud({ apiPort: 0, awsPort: 0, sweeperIntervalMs: 3_600_000 });
/** The emulators' thread: the busiest thread besides this one while the adds run (then fixed). */
let emulatorTid: number | undefined;

/** CPU per thread of a stretch of work. */
async function cpuOf(work: () => Promise<unknown>): Promise<Cost & { tid?: number }> {
  const threads = threadCpuMeter(process.pid, {
    ...(emulatorTid !== undefined ? { busiestTid: emulatorTid } : {}),
  });
  await work();
  const split = threads();
  return {
    main: split.mainMs,
    emulators: split.busiestMs,
    helpers: split.restMs,
    ...(split.busiestTid !== undefined ? { tid: split.busiestTid } : {}),
  };
}

/**
 * `n` calls of a kind never made before in this process (items 0 … n − 1), then `n` more (items n … 2n − 1),
 * IN_FLIGHT at a time: the second round is the warm cost, the first round's excess the warm-up.
 */
async function measure(n: number, work: (i: number) => Promise<unknown>): Promise<Measured> {
  const cold = await cpuOf(() => bounded(n, work));
  const warm = await cpuOf(() => bounded(n, (i) => work(n + i)));
  return {
    warm: costOf((k) => warm[k] / n),
    warmUp: { ...costOf((k) => Math.max(0, cold[k] - warm[k])), calls: n },
  };
}

/** Sequential calls, one at a time: the wall time of a call beyond the CPU of the threads it runs on. */
async function latencyOf(n: number, work: (i: number) => Promise<unknown>, threads: readonly (keyof Cost)[]) {
  const started = performance.now();
  const cpu = await cpuOf(async () => {
    for (let i = 0; i < n; i++) await work(i);
  });
  const wall = (performance.now() - started) / n;
  return round(Math.max(0, wall - threads.reduce((sum, k) => sum + cpu[k] / n, 0)));
}

/** What the measuring steps share: the task store and SQS client on the fast path, and the adds' tasks. */
interface Parts {
  readonly store: DynamoTaskStore;
  readonly sqs: SQSClient;
  /** The added tasks' ids in the order of their bodies: task i is in group i mod GROUPS, due baseDue + ⌊i / GROUPS⌋ s. */
  readonly ids: string[];
  readonly baseDue: number;
  readonly queue: (name: string, fifo: boolean) => Promise<string>;
  readonly id: (i: number) => string;
}

/**
 * The add through the API (HTTP server, add handler, PutItem, the timer's SendMessage), cold then warm. Due in
 * 250 s (inside the timer horizon, after the run): nothing fires meanwhile. Fixes the emulators' thread.
 */
async function measureAdds(ids: string[], baseDue: number): Promise<Measured> {
  const bodies = Array.from({ length: TASKS }, (_, i) =>
    JSON.stringify({
      topic: "demo",
      due_at: new Date(baseDue + Math.floor(i / GROUPS) * 1000).toISOString(),
      content: { order_id: `c${i % GROUPS}`, bench_id: `c${i}` },
      callback: { url: "http://127.0.0.1:9/hook" },
    }),
  );
  const round = (from: number, to: number) => async () => {
    const answer = await ask<{ ids: string[] }>(
      { type: "adds", apiUrl: cloud.apiUrl, bodies: bodies.slice(from, to), inFlight: IN_FLIGHT },
      "added",
    );
    ids.push(...answer.ids);
  };
  const cold = await cpuOf(round(0, TASKS / 2));
  emulatorTid = cold.tid;
  const warm = await cpuOf(round(TASKS / 2, TASKS));
  return {
    warm: costOf((k) => warm[k] / (TASKS / 2)),
    warmUp: { ...costOf((k) => Math.max(0, cold[k] - warm[k])), calls: TASKS / 2 },
  };
}

/** A copy of a real task under a new id (same group and due time). */
const copyOf = (r: TaskRecord): TaskRecord => ({
  ...r,
  ...makeTaskKey(r.topic, r.groupValue, r.dueAtMs, newUlid(Date.now())),
});

/** The add's two calls on their own: PutItem of a copy of a real task (a new id), the timer's SendMessage. */
async function measureAddCalls(parts: Parts, records: readonly TaskRecord[]) {
  const ddbPut = await measure(ROUND, (i) => parts.store.putNew(copyOf(records[i] as TaskRecord)));
  const parked = new SqsTimerQueue(parts.sqs, await parts.queue("calibrate-parked", false));
  const sqsSend = await measure(ROUND, (i) => parked.arm(parts.id(i), 900));
  const fastPath = await latencyOf(300, (i) => parts.store.get(parts.id(i)), ["main", "emulators"]);
  return { ddbPut, sqsSend, fastPath };
}

/** The relay's calls: the group Query (1 and 10 tasks due), the FIFO SendMessageBatch (1 and 10), the mark. */
async function measureRelayCalls(parts: Parts, records: readonly TaskRecord[]) {
  const { store, baseDue, id } = parts;
  const pks = [...new Set(records.map((r) => r.pk))];
  const pk = (i: number) => pks[i % pks.length] as string;
  const query1 = await measure(pks.length, (i) => store.listScheduledInGroup(pk(i), baseDue, baseDue));
  const query10 = await measure(pks.length, (i) =>
    store.listScheduledInGroup(pk(i), baseDue - 1000, baseDue + 10_000),
  );
  const topic = new SqsTopicQueue(parts.sqs);
  const fifo1 = await parts.queue("calibrate-topic-1.fifo", true);
  const fifo10 = await parts.queue("calibrate-topic-10.fifo", true);
  const send1 = await measure(ROUND, (i) => topic.sendInOrder(fifo1, `g${i % GROUPS}`, [id(i)]));
  const tenIds = (i: number) => Array.from({ length: 10 }, (_, k) => id(i * 10 + k));
  const send10 = await measure(ROUND / 10, (i) => topic.sendInOrder(fifo10, `g${i % GROUPS}`, tenIds(i)));
  return {
    ddbQuery: perEntry(query1, query10),
    sqsSendBatch: perEntry(send1, send10),
    ddbUpdateQueued: await measure(ROUND, (i) => store.markQueued(id(i), Date.now())),
  };
}

/**
 * The pollers' calls on a standard queue of visible messages: ReceiveMessage of 1 and of 10 (with the attributes
 * the local event source asks for), then DeleteMessageBatch of 1 and of 10 of those receipts.
 */
async function measurePollerCalls(parts: Parts) {
  const { sqs } = parts;
  const url = await parts.queue("calibrate-visible", false);
  const visible = new SqsTimerQueue(sqs, url);
  await bounded(4 * ROUND, (i) => visible.arm(parts.id(i), 0));
  const receipts: Message[][] = [];
  const receive = (max: number) => async () => {
    const attributes = { MessageSystemAttributeNames: ["All" as const], MessageAttributeNames: ["All"] };
    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: 0,
        ...attributes,
      }),
    );
    receipts.push(got.Messages ?? []);
  };
  const sqsReceive = perEntry(await measure(ROUND / 2, receive(1)), await measure(ROUND / 10, receive(10)));
  const ofSize = (n: number) => receipts.filter((r) => r.length === n);
  const del = (batches: Message[][]) => (i: number) =>
    sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: (batches[i] ?? []).map((m, k) => ({ Id: String(k), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  const [ones, tens] = [ofSize(1), ofSize(10)];
  const sqsDeleteBatch = perEntry(
    await measure(Math.floor(ones.length / 2), del(ones)),
    await measure(Math.floor(tens.length / 2), del(tens)),
  );
  return { sqsReceive, sqsDeleteBatch };
}

/** Deliver's calls: the attempt start (an UpdateItem returning the record), the callback's POST, the mark. */
async function measureDeliverCalls(parts: Parts) {
  const { store, id } = parts;
  const ddbUpdateAttempt = await measure(ROUND, (i) => store.startAttempt(id(i), Date.now()));
  const { port } = await ask<{ port: number }>({ type: "receiver" }, "listening");
  const callbacks = createCallbackClient({ policy: { isAllowed: () => true }, allowPlainHttp: true });
  const body = JSON.stringify({ content: { order_id: "c1", bench_id: "c1" }, task_id: id(0) });
  const post = () =>
    callbacks.post({ url: `http://127.0.0.1:${port}/hook`, body, headers: {}, timeoutMs: 5_000 });
  const callback = await measure(ROUND, post);
  const callbackLatency = await latencyOf(300, post, ["main"]);
  await callbacks.close();
  const ddbUpdateDelivered = await measure(ROUND, (i) =>
    store.markDelivered(id(i), {
      atMs: Date.now(),
      latenessMs: 5,
      deliveryLatencyMs: 3,
      expiresAt: Math.floor(Date.now() / 1000) + 86_400,
      attempt: { seq: 1, startedAtMs: Date.now(), durationMs: 3, status: 200 },
    }),
  );
  return { ddbUpdateAttempt, callback, callbackLatency, ddbUpdateDelivered };
}

/**
 * Deliver's batch calls (shared/services/deliver/up-front.ts) with 1 and with 10 tasks: the batch read
 * (`readMany`, one BatchGetItem), the batch start (`startAttempts`, one BatchExecuteStatement of conditional
 * UPDATEs) and the finishing call's `delivered` writes (`finishAttempts`), each a part per call and a part per
 * task (statement). They run on the tasks the other steps left `scheduled` (the last third of the adds).
 */
async function measureDeliverBatchCalls(parts: Parts, records: readonly TaskRecord[]) {
  const { store } = parts;
  // Fresh `scheduled` tasks to start and finish (copies of real ones, new ids): 1-entry calls on the first
  // 2 × ONES, 10-entry calls on the rest. Enough calls that /proc's 10 ms ticks do not blur the per-call figure.
  const ONES = ROUND / 2;
  const TENS = ROUND / 10;
  const copies = Array.from({ length: 2 * ONES + 20 * TENS }, (_, i) =>
    copyOf(records[i % records.length] as TaskRecord),
  );
  await bounded(copies.length, (i) => store.putNew(copies[i] as TaskRecord));
  const reads = (await Promise.all(copies.map((c) => store.get(c.taskId)))) as TaskRecord[];
  const tasksOf = (size: number, i: number) =>
    size === 1 ? reads.slice(i, i + 1) : reads.slice(2 * ONES + i * 10, 2 * ONES + i * 10 + 10);
  const ddbBatchGet = perEntry(
    await measure(ROUND / 2, (i) => store.readMany([parts.id(i)])),
    await measure(ROUND / 10, (i) =>
      store.readMany(Array.from({ length: 10 }, (_, k) => parts.id(i * 10 + k))),
    ),
  );
  const started = new Map<string, TaskRecord>();
  const start = (size: number) => (i: number) => {
    const atMs = Date.now();
    const batch = tasksOf(size, i);
    for (const read of batch) started.set(read.taskId, startedTask(read, atMs));
    return store.startAttempts(batch.map((read) => ({ read, atMs })));
  };
  const ddbBatchStart = perEntry(await measure(ONES, start(1)), await measure(TENS, start(10)));
  const delivered = (read: TaskRecord): FinishWrite => {
    const task = started.get(read.taskId) as TaskRecord;
    const atMs = Date.now();
    return {
      kind: "delivered",
      taskId: task.taskId,
      attemptSeq: task.attemptSeq as number,
      attemptLog: task.attemptLog,
      result: {
        atMs,
        latenessMs: 5,
        deliveryLatencyMs: 3,
        expiresAt: Math.floor(atMs / 1000) + 86_400,
        attempt: { seq: 1, startedAtMs: atMs, durationMs: 3, status: 200 },
      },
    };
  };
  const finish = (size: number) => (i: number) => store.finishAttempts(tasksOf(size, i).map(delivered));
  const ddbBatchFinish = perEntry(await measure(ONES, finish(1)), await measure(TENS, finish(10)));
  return { ddbBatchGet, ddbBatchStart, ddbBatchFinish };
}

async function calibrate(): Promise<Calibration> {
  const env = Object.values(cloud.functionEnvironments).find((e) => e[ENV.tableName]);
  const config = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const ddb = createAwsClient(DynamoDBClient, { ...config, endpoint: cloud.endpoints.dynamodb });
  const sqs = createAwsClient(SQSClient, { ...config, endpoint: cloud.endpoints.sqs });
  const store = new DynamoTaskStore({ tableName: env?.[ENV.tableName] as string, client: ddb });
  const queue = async (name: string, fifo: boolean) => {
    const attributes = fifo ? { Attributes: { FifoQueue: "true", ContentBasedDeduplication: "false" } } : {};
    return (await sqs.send(new CreateQueueCommand({ QueueName: name, ...attributes }))).QueueUrl as string;
  };
  const ids: string[] = [];
  const baseDue = Math.ceil((Date.now() + 250_000) / 1000) * 1000;
  const parts: Parts = { store, sqs, ids, baseDue, queue, id: (i) => ids[i % ids.length] as string };
  try {
    const addThroughApi = await measureAdds(ids, baseDue);
    const records = (await Promise.all(ids.slice(0, 2 * ROUND).map((id) => store.get(id)))) as TaskRecord[];
    const { fastPath, ...add } = await measureAddCalls(parts, records);
    const relay = await measureRelayCalls(parts, records);
    const pollers = await measurePollerCalls(parts);
    const { callbackLatency, ...deliver } = await measureDeliverCalls(parts);
    const deliverBatch = await measureDeliverBatchCalls(parts, records);
    return {
      measuredAt: new Date().toISOString(),
      loadAverage: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
      results: {
        addThroughApi,
        ...add,
        latency: { fastPath, callback: callbackLatency },
        ...relay,
        ...pollers,
        ...deliver,
        ...deliverBatch,
      },
    };
  } finally {
    ddb.destroy();
    sqs.destroy();
  }
}

try {
  process.stdout.write(`${JSON.stringify(await calibrate(), null, 2)}\n`);
} finally {
  await ask({ type: "stop" }, "stopped");
  client.disconnect();
  await cloud.stop();
}
process.exit(0);
