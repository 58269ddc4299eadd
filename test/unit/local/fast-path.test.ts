import { randomUUID } from "node:crypto";
import { MessageChannel } from "node:worker_threads";
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { ListSchedulesCommand, SchedulerClient } from "@aws-sdk/client-scheduler";
import {
  CreateQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type RunningEmulators,
  startEmulators,
} from "#local/aws/emulators.js";
import { LocalFastPath } from "#local/aws/fast-path.js";
import type { FaultPolicy } from "#local/aws/faults.js";
import { type InProcessRequest, serveInProcess } from "#local/aws/in-process.js";
import { abortableCall } from "#shared/adapters/abort-signals.js";
import { createAwsClient, setLocalAwsTransport } from "#shared/adapters/aws-clients.js";
import { tableActive } from "../../support/dynalite-table.js";

/**
 * The local runtime's fast path against the real emulators (in this thread; the local cloud runs them in a
 * worker thread behind the same MessagePort protocol). Faults: PutItem always throttled, GetItem always dropped,
 * UpdateItem executed then dropped — for clients routed with `faults: true` only.
 */
let emulators: RunningEmulators;
let fastPath: LocalFastPath;
const seen: InProcessRequest[] = [];
const table = `fast-${randomUUID()}`;
const FAULTS: FaultPolicy = {
  services: { dynamodb: { operations: { PutItem: { throttle: 1 }, GetItem: { reset: 1 } } } },
};

beforeAll(async () => {
  emulators = await startEmulators({ faults: FAULTS });
  const channel = new MessageChannel();
  serveInProcess(channel.port2, (request) => {
    seen.push(request);
    return emulators.dispatch(request);
  });
  fastPath = new LocalFastPath(channel.port1);
  await httpClients().dynamodb.send(
    new CreateTableCommand({
      TableName: table,
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await tableActive(httpClients().dynamodb, table);
});

afterAll(async () => {
  fastPath.close();
  await emulators.stop();
});

const base = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 };

/** Plain SDK clients over HTTP, as the tests and tools use them. */
function httpClients() {
  const sqsPort = new URL(emulators.endpoints.sqs).port;
  return {
    dynamodb: new DynamoDBClient({ ...base, endpoint: emulators.endpoints.dynamodb }),
    sqs: new SQSClient({ ...base, endpoint: `http://sqs.${LOCAL_REGION}.localhost:${sqsPort}` }),
  };
}

function fastClients(faults: boolean) {
  const http = httpClients();
  const sqsEndpoint = `http://sqs.${LOCAL_REGION}.localhost:${new URL(emulators.endpoints.sqs).port}`;
  return {
    dynamodb: fastPath.route(
      createAwsClient(DynamoDBClient, { ...base, endpoint: emulators.endpoints.dynamodb }),
      { faults },
    ),
    sqs: fastPath.route(createAwsClient(SQSClient, { ...base, endpoint: sqsEndpoint }), { faults }),
    scheduler: fastPath.route(
      createAwsClient(SchedulerClient, { ...base, endpoint: emulators.endpoints.scheduler }),
      { faults },
    ),
    http,
  };
}

const item = (pk: string) => ({ pk: { S: pk }, body: { S: "exactly as sent ✓" } });

describe("the local fast path", () => {
  it("reaches the same emulators as HTTP clients, without a socket or a signature", async () => {
    // Prepare
    const { dynamodb, sqs, scheduler, http } = fastClients(false);
    const pk = randomUUID();
    const before = seen.length;
    // Act
    await dynamodb.send(new PutItemCommand({ TableName: table, Item: item(pk) }));
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `fast-${randomUUID()}` }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "hello ✓" }));
    const schedules = await scheduler.send(new ListSchedulesCommand({}));
    // Assess: what the fast path wrote, HTTP clients read.
    const got = await http.dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } } }));
    expect(got.Item).toEqual(item(pk));
    const received = await http.sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
    expect(received.Messages?.map((m) => m.Body)).toEqual(["hello ✓"]);
    expect(schedules.Schedules).toEqual(expect.any(Array));
    expect(sqs.config.md5).toBe(false);
    expect(http.sqs.config.md5).not.toBe(false);
    const calls = seen.slice(before);
    expect(calls.map((c) => c.service)).toEqual(["dynamodb", "sqs", "sqs", "scheduler"]);
    for (const call of calls) {
      expect(call.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=local\/\d{8}\/us-east-1\//);
      expect(call.headers.authorization).toContain("Signature=unsigned");
      expect(call.headers["x-amz-user-agent"]).toBeUndefined();
    }
  });

  it("meets the fault policy only on clients routed with faults", async () => {
    // Prepare
    const faulted = fastClients(true).dynamodb;
    const spared = fastClients(false).dynamodb;
    const pk = randomUUID();
    // Act + Assess: a throttle answered in DynamoDB's shape, a dropped connection as the SDK sees one.
    await expect(
      faulted.send(new PutItemCommand({ TableName: table, Item: item(pk) })),
    ).rejects.toMatchObject({
      name: "ProvisionedThroughputExceededException",
    });
    await expect(
      faulted.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } } })),
    ).rejects.toMatchObject({ code: "ECONNRESET" });
    await spared.send(new PutItemCommand({ TableName: table, Item: item(pk) }));
    const got = await spared.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } } }));
    expect(got.Item).toEqual(item(pk));
    expect(emulators.faultStats()["dynamodb.PutItem"]?.faults.throttle).toBeGreaterThanOrEqual(1);
  });

  it("refuses SendMessageBatch entries one by one inside a 200 while the others really land", async () => {
    // Prepare: a FIFO queue, three groups in ten entries; about half the entries refused (seeded).
    const { sqs, http } = fastClients(true);
    const { QueueUrl } = await http.sqs.send(
      new CreateQueueCommand({ QueueName: `fast-${randomUUID()}.fifo`, Attributes: { FifoQueue: "true" } }),
    );
    const entries = Array.from({ length: 10 }, (_, i) => ({
      Id: `m${i}`,
      MessageBody: `b${i}`,
      MessageGroupId: `g${i % 3}`,
      MessageDeduplicationId: `${randomUUID()}-${i}`,
    }));
    emulators.setFaults({ seed: 5, batchEntryErrors: { rate: 0.5 } });
    // Act: the forwarded body is shorter than the one the SDK measured.
    const answer = await sqs
      .send(new SendMessageBatchCommand({ QueueUrl, Entries: entries }))
      .finally(() => emulators.setFaults(FAULTS));
    // Assess: a partial answer, and exactly the accepted entries on the queue.
    const accepted = (answer.Successful ?? []).map((e) => `b${e.Id?.slice(1)}`).sort();
    expect(accepted.length).toBeGreaterThan(0);
    expect(answer.Failed?.length).toBe(10 - accepted.length);
    expect(answer.Failed?.every((f) => f.SenderFault === false)).toBe(true);
    const bodies: string[] = [];
    for (let i = 0; i < 5 && bodies.length < accepted.length; i++) {
      const got = await http.sqs.send(
        new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      bodies.push(...(got.Messages ?? []).map((m) => m.Body as string));
    }
    expect(bodies.sort()).toEqual(accepted);
  });

  it("stops waiting when the caller aborts (a stopping poller's long poll)", async () => {
    // Prepare
    const { sqs } = fastClients(false);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `fast-${randomUUID()}` }));
    const abort = new AbortController();
    // Act
    const polling = sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 20 }), {
      abortSignal: abort.signal,
    });
    abort.abort();
    // Assess
    await expect(polling).rejects.toMatchObject({ name: "AbortError" });
  });

  it("a client made while it is the transport, as the functions' are, is aborted by a filed signal (abortableCall)", async () => {
    // Prepare: abort-signals wraps the request handler on client.config after the fast path has copied it
    setLocalAwsTransport(fastPath);
    const sqsEndpoint = `http://sqs.${LOCAL_REGION}.localhost:${new URL(emulators.endpoints.sqs).port}`;
    const sqs = createAwsClient(SQSClient, { ...base, endpoint: sqsEndpoint });
    setLocalAwsTransport(undefined);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `fast-${randomUUID()}` }));
    const abort = new AbortController();
    const call = abortableCall(
      sqs,
      new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 20 }),
      abort.signal,
    );

    // Act
    const polling = sqs.send(...call);
    abort.abort();

    // Assess: filed, not passed as an option (the client's cached handler is used), and still stopped
    expect(call[1]).toBeUndefined();
    await expect(polling).rejects.toMatchObject({ name: "AbortError" });
  });

  it("sends request bodies as bytes of their own, not views into Node's shared buffer pool", async () => {
    // Prepare: small calls, whose serialized bodies the SDK writes into pooled buffers
    const { dynamodb, sqs } = fastClients(false);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `fast-${randomUUID()}` }));
    const before = seen.length;
    // Act
    await dynamodb.send(new PutItemCommand({ TableName: table, Item: item(randomUUID()) }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "small ✓" }));
    // Assess: what crossed the port is each body alone (a pooled view crosses with its whole 8 KB pool).
    const bodies = seen.slice(before).map((call) => call.body);
    expect(bodies).toHaveLength(2);
    for (const body of bodies) {
      if (!(body instanceof Uint8Array)) throw new Error(`expected bytes, got ${typeof body}`);
      expect(body.byteLength).toBeGreaterThan(0);
      expect(body.buffer.byteLength).toBe(body.byteLength);
    }
  });

  it("answers with bytes of their own, not views into Node's shared buffer pool", async () => {
    // Prepare: a small answer from each kind of emulator listener (dynalite's, Fastify's).
    const call = (service: "dynamodb" | "sqs", target: string, body: object) =>
      emulators.dispatch({
        id: 0,
        service,
        faults: false,
        method: "POST",
        url: "/",
        headers: {
          host: "localhost",
          "content-type": "application/x-amz-json-1.0",
          "x-amz-target": target,
          authorization:
            "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/x/aws4_request, SignedHeaders=host, Signature=unsigned",
          "x-amz-date": "20260101T000000Z",
        },
        body: JSON.stringify(body),
      });
    // Act
    const answers = await Promise.all([
      call("dynamodb", "DynamoDB_20120810.ListTables", {}),
      call("sqs", "AmazonSQS.ListQueues", {}),
    ]);
    // Assess: posting a pooled view would copy (and allocate) the whole 8 KB pool per answer.
    for (const answer of answers) {
      if ("dropped" in answer) throw new Error("dropped");
      expect(answer.statusCode).toBe(200);
      expect(answer.body.byteLength).toBeGreaterThan(0);
      expect(answer.body.buffer.byteLength).toBe(answer.body.byteLength);
    }
  });

  it("leaves clients of services it does not emulate on their sockets", () => {
    // Prepare
    const lambda = new LambdaClient({ region: LOCAL_REGION });
    const handler = lambda.config.requestHandler;
    // Act
    fastPath.route(lambda, { faults: false });
    // Assess
    expect(lambda.config.requestHandler).toBe(handler);
    lambda.destroy();
  });
});
