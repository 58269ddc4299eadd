/**
 * `npx tsx plan/calibrate.ts [--calls 300]`: measures the local profile's per-call costs on this machine — the
 * emulators (dynalite, fauxqs) in a child process exactly as the local cloud forks them, the SDK clients here as
 * the functions build them — and prints them as JSON (paste into plan/local-profile.ts). For each call: CPU in
 * this process (client: serialise, sign, HTTP), CPU in the emulator process (server) and the rest of the wall
 * time, from `calls` sequential calls after a warm-up. Run it on a quiet machine (`uptime`).
 */
import { type ChildProcess, fork } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { LOCAL_CREDENTIALS, LOCAL_REGION, resolveLocalhostSubdomains } from "#local/aws/emulators.js";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { cpuMeter, selfCpuMeter } from "../bench/lib/stats.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const argCalls = process.argv.indexOf("--calls");
const CALLS = argCalls > 0 ? Number(process.argv[argCalls + 1]) : 300;
const argInFlight = process.argv.indexOf("--in-flight");
/** Calls in flight: under load Node amortises wake-ups and parsing, so CPU per call is lower than one at a time. */
const IN_FLIGHT = argInFlight > 0 ? Number(process.argv[argInFlight + 1]) : 8;

interface Measured {
  latencyMs: number;
  clientCpuMs: number;
  serverCpuMs: number;
}

async function startEmulators(): Promise<{ child: ChildProcess; endpoints: Record<string, string> }> {
  const child = fork(path.join(ROOT, "local/aws/main.ts"), ["{}"], {
    execArgv: ["--import", "tsx", "--no-warnings"],
    stdio: ["ignore", "ignore", "ignore", "ipc"],
  });
  const endpoints = await new Promise<Record<string, string>>((resolve) =>
    child.on("message", (m: { type?: string; endpoints?: Record<string, string> }) => {
      if (m.type === "ready" && m.endpoints) resolve(m.endpoints);
    }),
  );
  return { child, endpoints };
}

/** Sequential calls of one kind: per call, wall time beyond both CPUs, and each side's CPU. */
async function measure(serverPid: number, call: (i: number) => Promise<unknown>): Promise<Measured> {
  for (let i = 0; i < 30; i++) await call(-1 - i);
  const client = selfCpuMeter();
  const server = cpuMeter([serverPid]);
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let i = next++; i < CALLS; i = next++) await call(i);
    }),
  );
  // Wall time per call as one caller sees it (IN_FLIGHT callers share the two processes).
  const wall = ((performance.now() - started) * IN_FLIGHT) / CALLS / IN_FLIGHT;
  const clientCpuMs = client() / CALLS;
  const serverCpuMs = server() / CALLS;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    // The part of a call's time that is neither process's CPU (loopback, event-loop turns), per call.
    latencyMs: round(Math.max(0, wall - Math.max(clientCpuMs, serverCpuMs))),
    clientCpuMs: round(clientCpuMs),
    serverCpuMs: round(serverCpuMs),
  };
}

const content = "x".repeat(400);
resolveLocalhostSubdomains();
const { child, endpoints } = await startEmulators();
const config = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
const ddb = createAwsClient(DynamoDBClient, { ...config, endpoint: endpoints.dynamodb });
const sqsOrigin = new URL(endpoints.sqs as string);
const sqs = createAwsClient(SQSClient, {
  ...config,
  endpoint: `http://sqs.${LOCAL_REGION}.localhost:${sqsOrigin.port}`,
});
const pid = child.pid as number;
try {
  await ddb.send(
    new CreateTableCommand({
      TableName: "tasks",
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "S" },
      ],
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
    }),
  );
  const timer = (await sqs.send(new CreateQueueCommand({ QueueName: "timer" }))).QueueUrl as string;
  const fifo = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: "topic.fifo",
        Attributes: { FifoQueue: "true", ContentBasedDeduplication: "false" },
      }),
    )
  ).QueueUrl as string;
  const key = (i: number) => ({ pk: { S: `g${i % 300}` }, sk: { S: `${String(i).padStart(8, "0")}` } });
  const results: Record<string, Measured> = {};
  results.ddbPut = await measure(pid, (i) =>
    ddb.send(
      new PutItemCommand({
        TableName: "tasks",
        Item: { ...key(i), content: { S: content }, status: { S: "scheduled" } },
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    ),
  );
  results.ddbUpdate = await measure(pid, (i) =>
    ddb.send(
      new UpdateItemCommand({
        TableName: "tasks",
        Key: key(Math.max(0, i)),
        UpdateExpression: "SET #s = :s, attempts = if_not_exists(attempts, :z)",
        ExpressionAttributeNames: { "#s": "status" },
        ExpressionAttributeValues: { ":s": { S: `s${i}` }, ":z": { N: "0" } },
      }),
    ),
  );
  results.ddbQuery = await measure(pid, (i) =>
    ddb.send(
      new QueryCommand({
        TableName: "tasks",
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": { S: `g${Math.abs(i) % 300}` } },
        ConsistentRead: true,
      }),
    ),
  );
  results.ddbGet = await measure(pid, (i) =>
    ddb.send(new GetItemCommand({ TableName: "tasks", Key: key(Math.max(0, i)), ConsistentRead: true })),
  );
  results.sqsSend = await measure(pid, (i) =>
    sqs.send(new SendMessageCommand({ QueueUrl: timer, MessageBody: JSON.stringify({ taskId: `t${i}` }) })),
  );
  const entries = (i: number) =>
    Array.from({ length: 10 }, (_, k) => ({
      Id: `e${k}`,
      MessageBody: JSON.stringify({ taskId: `f${i}-${k}` }),
      MessageGroupId: `g${i % 50}`,
      MessageDeduplicationId: `f${i}-${k}`,
    }));
  results.sqsSendBatch = await measure(pid, (i) =>
    sqs.send(new SendMessageBatchCommand({ QueueUrl: fifo, Entries: entries(i) })),
  );
  let handles: string[] = [];
  results.sqsReceive = await measure(pid, async () => {
    const got = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: timer,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ["All"],
      }),
    );
    handles = (got.Messages ?? []).map((m) => m.ReceiptHandle as string);
  });
  results.sqsDeleteBatch = await measure(pid, async () => {
    const got = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: fifo, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    handles = (got.Messages ?? []).map((m) => m.ReceiptHandle as string);
    if (handles.length > 0)
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: fifo,
          Entries: handles.map((h, k) => ({ Id: `d${k}`, ReceiptHandle: h })),
        }),
      );
  });
  // Receive + delete measured together above (a delete needs a fresh receipt): the delete alone is the rest.
  results.sqsDeleteBatch = {
    latencyMs: Math.max(0, results.sqsDeleteBatch.latencyMs - (results.sqsReceive?.latencyMs ?? 0)),
    clientCpuMs: Math.max(0, results.sqsDeleteBatch.clientCpuMs - (results.sqsReceive?.clientCpuMs ?? 0)),
    serverCpuMs: Math.max(0, results.sqsDeleteBatch.serverCpuMs - (results.sqsReceive?.serverCpuMs ?? 0)),
  };
  process.stdout.write(
    `${JSON.stringify({ measuredAt: new Date().toISOString(), loadAverage: os.loadavg()[0], calls: CALLS, inFlight: IN_FLIGHT, results }, null, 2)}\n`,
  );
} finally {
  ddb.destroy();
  sqs.destroy();
  child.send({ type: "stop" });
}
