/**
 * `npx tsx plan/calibrate-pipeline.ts [--tasks 1500] [--in-flight 32]`: the local profile's per-task costs as the
 * pipeline pays them, on the local cloud itself (emulators in their child process, functions and API here): adds
 * through the API (the bench's request), then the real task store's calls on those tasks — the relay's group
 * Query and `queued` mark, deliver's attempt start and `delivered` mark — with the table's real item shape and
 * indexes. Prints CPU per call in this process (main) and in the emulators (server), as JSON. Tasks are due in
 * 250 s, inside the timer horizon, and the run finishes before they fire.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { Pool } from "undici";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "#local/aws/emulators.js";
import { startLocalCloud } from "#local/cloud/local-cloud.js";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { ENV } from "#shared/runtime/env.js";
import { cpuMeter, processTree, selfCpuMeter } from "../bench/lib/stats.js";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const TASKS = arg("--tasks", 1500);
const IN_FLIGHT = arg("--in-flight", 32);
const GROUPS = 300;

interface Cost {
  readonly mainCpuMs: number;
  readonly serverCpuMs: number;
}

async function bounded(n: number, work: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let i = next++; i < n; i = next++) await work(i);
    }),
  );
}

async function measure(
  serverPids: number[],
  n: number,
  work: (i: number) => Promise<unknown>,
): Promise<Cost> {
  const main = selfCpuMeter();
  const server = cpuMeter(serverPids);
  await bounded(n, work);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { mainCpuMs: round(main() / n), serverCpuMs: round(server() / n) };
}

/** The HTTP client's own cost (this process), to take out of the adds: a trivial server answering alike. */
async function clientBaseline(body: (i: number) => string): Promise<number> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(201, { "content-type": "application/json" }).end('{"task_id":"x"}'));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, {
    connections: IN_FLIGHT,
  });
  const cpu = selfCpuMeter();
  await bounded(TASKS, async (i) => {
    const r = await pool.request({ path: "/v1/tasks", method: "POST", body: body(i) });
    await r.body.text();
  });
  const perRequest = cpu() / TASKS;
  await pool.close();
  server.close();
  // Client and server of the baseline share this process: the client's half is taken out of the adds.
  return perRequest / 2;
}

const cloud = await startLocalCloud({ apiPort: 0, awsPort: 0, sweeperIntervalMs: 3_600_000 });
try {
  const serverPids = processTree(process.pid).filter((pid) => pid !== process.pid);
  const tableName = Object.values(cloud.functionEnvironments).find((env) => env[ENV.tableName])?.[
    ENV.tableName
  ] as string;
  const dueMs = Date.now() + 250_000;
  const body = (i: number) =>
    JSON.stringify({
      topic: "demo",
      due_at: new Date(dueMs).toISOString(),
      content: { order_id: `c${i % GROUPS}`, bench_id: `c${i}` },
      callback: { url: "http://127.0.0.1:9/hook" },
    });
  const api = new Pool(cloud.apiUrl, { connections: IN_FLIGHT });
  const ids: string[] = [];
  const add = await measure(serverPids, TASKS, async (i) => {
    const r = await api.request({
      path: "/v1/tasks",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body(i),
    });
    const answer = JSON.parse(await r.body.text()) as { task_id?: string };
    if (r.statusCode !== 201 || !answer.task_id) throw new Error(`add answered ${r.statusCode}`);
    ids.push(answer.task_id);
  });
  await api.close();
  const client = createAwsClient(DynamoDBClient, {
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: cloud.endpoints.dynamodb,
  });
  const store = new DynamoTaskStore({ tableName, client });
  const keys = ids.map((id) => parseTaskId(id)).filter((k) => k !== undefined);
  const pks = [...new Set(keys.map((k) => k.pk))];
  const query = await measure(serverPids, pks.length, (i) =>
    store.listScheduledInGroup(pks[i] as string, dueMs - 900_000, dueMs),
  );
  const queued = await measure(serverPids, ids.length, (i) => store.markQueued(ids[i] as string, Date.now()));
  const attempt = await measure(serverPids, ids.length, (i) =>
    store.startAttempt(ids[i] as string, Date.now()),
  );
  const delivered = await measure(serverPids, ids.length, (i) =>
    store.markDelivered(ids[i] as string, {
      atMs: Date.now(),
      latenessMs: 5,
      deliveryLatencyMs: 3,
      expiresAt: Math.floor(Date.now() / 1000) + 86_400,
    }),
  );
  const httpClient = await clientBaseline(body);
  process.stdout.write(
    `${JSON.stringify(
      {
        measuredAt: new Date().toISOString(),
        loadAverage: os.loadavg()[0],
        tasks: TASKS,
        inFlight: IN_FLIGHT,
        addThroughApi: {
          ...add,
          mainCpuMs: Math.round((add.mainCpuMs - httpClient) * 1000) / 1000,
          httpClientCpuMsRemoved: Math.round(httpClient * 1000) / 1000,
        },
        listScheduledInGroup: query,
        markQueued: queued,
        startAttempt: attempt,
        markDelivered: delivered,
      },
      null,
      2,
    )}\n`,
  );
  client.destroy();
} finally {
  await cloud.stop();
}
process.exit(0);
