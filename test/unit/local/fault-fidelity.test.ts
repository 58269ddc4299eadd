import { randomUUID } from "node:crypto";
import { MessageChannel } from "node:worker_threads";
import {
  BatchExecuteStatementCommand,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { CreateScheduleCommand, GetScheduleCommand, SchedulerClient } from "@aws-sdk/client-scheduler";
import {
  CreateQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { ConfiguredRetryStrategy } from "@smithy/core/retry";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type RunningEmulators,
  startEmulators,
} from "#local/aws/emulators.js";
import { LocalFastPath } from "#local/aws/fast-path.js";
import { type AwsService, FAULT_KINDS, type FaultKind, type FaultPolicy } from "#local/aws/faults.js";
import { serveInProcess } from "#local/aws/in-process.js";
import { tableActive } from "../../support/dynalite-table.js";

/**
 * Does every injected fault reach a real SDK v3 client as AWS would show it, on both transports (the fault
 * proxies of local/aws/gateway.ts and the in-process fast path of local/aws/in-process.ts)? One operation per
 * service at rate 1, three attempts without backoff: the error's name and status, whether the SDK retried it, and
 * whether the operation really ran (the *After kinds run on every attempt, as a retry on AWS repeats them).
 */
const TIMINGS = { timeoutMs: 30, slowMs: 10 } satisfies FaultPolicy;
const MAX_ATTEMPTS = 3;
const QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:fidelity";
const ROLE_ARN = "arn:aws:iam::000000000000:role/scheduler";
const TABLE = `fidelity-${randomUUID()}`;

let emulators: RunningEmulators;
let fastPath: LocalFastPath;
let raw: ReturnType<typeof rawClients>;

beforeAll(async () => {
  emulators = await startEmulators({ faults: TIMINGS });
  const channel = new MessageChannel();
  serveInProcess(channel.port2, (request) => emulators.dispatch(request));
  fastPath = new LocalFastPath(channel.port1);
  raw = rawClients();
  const { dynamodb } = raw;
  await dynamodb.send(
    new CreateTableCommand({
      TableName: TABLE,
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await tableActive(dynamodb, TABLE);
});

afterAll(async () => {
  for (const client of Object.values(raw ?? {})) client.destroy();
  fastPath?.close();
  await emulators?.stop();
});

/** A client's config: the SDK's own rules of what it retries, without its backoff (the test stays fast). */
const base = () => ({
  region: LOCAL_REGION,
  credentials: LOCAL_CREDENTIALS,
  // One per client: a strategy's retry quota is spent across every client that shares it.
  retryStrategy: new ConfiguredRetryStrategy(MAX_ATTEMPTS, 0),
});
const sqsHost = (port: string) => `http://sqs.${LOCAL_REGION}.localhost:${port}`;
const portOf = (url: string) => new URL(url).port;

/** Fault-free clients straight to the emulators: to prepare and to look at what really happened. */
function rawClients() {
  return {
    dynamodb: new DynamoDBClient({ ...base(), endpoint: emulators.endpoints.dynamodb }),
    sqs: new SQSClient({ ...base(), endpoint: sqsHost(portOf(emulators.endpoints.sqs)) }),
    scheduler: new SchedulerClient({ ...base(), endpoint: emulators.endpoints.scheduler }),
  };
}

type Transport = "gateway" | "fast path";
const TRANSPORTS: readonly Transport[] = ["gateway", "fast path"];

/** Clients that meet the fault policy, and the queue URL they must use (SQS sends to the queue URL's host). */
function faultedClients(transport: Transport) {
  if (transport === "fast path") {
    const fresh = rawClients();
    return {
      dynamodb: fastPath.route(fresh.dynamodb, { faults: true }),
      sqs: fastPath.route(fresh.sqs, { faults: true }),
      scheduler: fastPath.route(fresh.scheduler, { faults: true }),
      queueUrl: (url: string) => url,
    };
  }
  const proxies = emulators.faultEndpoints;
  if (!proxies) throw new Error("no fault proxies");
  return {
    dynamodb: new DynamoDBClient({ ...base(), endpoint: proxies.dynamodb }),
    sqs: new SQSClient({ ...base(), endpoint: sqsHost(portOf(proxies.sqs)) }),
    scheduler: new SchedulerClient({ ...base(), endpoint: proxies.scheduler }),
    queueUrl: (url: string) =>
      url.replace(`:${portOf(emulators.endpoints.sqs)}/`, `:${portOf(proxies.sqs)}/`),
  };
}

async function newQueue(name: string, fifo = false): Promise<string> {
  const { QueueUrl } = await raw.sqs.send(
    new CreateQueueCommand({
      QueueName: fifo ? `${name}.fifo` : name,
      ...(fifo ? { Attributes: { FifoQueue: "true" } } : {}),
    }),
  );
  if (!QueueUrl) throw new Error("no queue URL");
  return QueueUrl;
}

async function bodiesOn(queueUrl: string, expected: number): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < 3; i++) {
    const got = await raw.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: bodies.length < expected ? 1 : 0,
      }),
    );
    bodies.push(...(got.Messages ?? []).map((m) => m.Body ?? ""));
    if ((got.Messages ?? []).length === 0 && bodies.length >= expected) break;
  }
  return bodies.sort();
}

/** One call per service, and how many times it really ran (looked at without faults). */
const OPERATIONS: Record<
  AwsService,
  {
    readonly name: string;
    call(clients: ReturnType<typeof faultedClients>, id: string, queueUrl: string): Promise<unknown>;
    ran(id: string, queueUrl: string): Promise<number>;
  }
> = {
  dynamodb: {
    name: "PutItem",
    call: (c, id) => c.dynamodb.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: id } } })),
    ran: async (id) => {
      const got = await raw.dynamodb.send(
        new GetItemCommand({ TableName: TABLE, Key: { pk: { S: id } }, ConsistentRead: true }),
      );
      return got.Item ? 1 : 0;
    },
  },
  sqs: {
    name: "SendMessage",
    call: (c, id, queueUrl) =>
      c.sqs.send(new SendMessageCommand({ QueueUrl: c.queueUrl(queueUrl), MessageBody: id })),
    ran: async (id, queueUrl) => (await bodiesOn(queueUrl, 0)).filter((b) => b === id).length,
  },
  scheduler: {
    name: "CreateSchedule",
    call: (c, id) =>
      c.scheduler.send(
        new CreateScheduleCommand({
          Name: id,
          ScheduleExpression: "at(2099-01-01T00:00:00)",
          FlexibleTimeWindow: { Mode: "OFF" },
          Target: { Arn: QUEUE_ARN, RoleArn: ROLE_ARN },
        }),
      ),
    ran: async (id) =>
      raw.scheduler.send(new GetScheduleCommand({ Name: id })).then(
        () => 1,
        () => 0,
      ),
  },
};

/**
 * What AWS answers (name, status) for each of the service's two spellings of a throttle / server error:
 * DynamoDB https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html ;
 * SQS https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html (InternalFailure 500,
 * ServiceUnavailable 503, ThrottlingException 400) — its RequestThrottled is a 403, as SQS's own model has it
 * (@aws-sdk/client-sqs: httpError 403, awsQueryError "RequestThrottled", 403) and as SQS was seen answering it
 * (https://github.com/async-aws/aws/issues/1227); Scheduler: its model's ThrottlingException 429 and
 * InternalServerException 500 (@aws-sdk/client-scheduler), and a 503 it does not model.
 */
const SERVICE_ERRORS: Record<AwsService, Record<"throttle" | "error", readonly [string, number][]>> = {
  dynamodb: {
    throttle: [
      ["ProvisionedThroughputExceededException", 400],
      ["ThrottlingException", 400],
    ],
    error: [
      ["InternalServerError", 500],
      ["ServiceUnavailable", 503],
    ],
  },
  sqs: {
    throttle: [
      ["RequestThrottled", 403],
      ["ThrottlingException", 400],
    ],
    error: [
      ["InternalFailure", 500],
      ["ServiceUnavailable", 503],
    ],
  },
  scheduler: {
    throttle: [
      ["ThrottlingException", 429],
      ["ThrottlingException", 429],
    ],
    error: [
      ["InternalServerException", 500],
      ["ServiceUnavailableException", 503],
    ],
  },
};

interface Seen {
  readonly name: string;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly attempts: number | undefined;
}

async function outcomeOf(call: Promise<unknown>): Promise<Seen> {
  try {
    const output = (await call) as { $metadata: { httpStatusCode?: number; attempts?: number } };
    return {
      name: "ok",
      status: output.$metadata.httpStatusCode,
      code: undefined,
      attempts: output.$metadata.attempts,
    };
  } catch (error) {
    const e = error as {
      name: string;
      code?: string;
      $metadata?: { httpStatusCode?: number; attempts?: number };
    };
    return {
      name: e.name,
      status: e.$metadata?.httpStatusCode,
      code: e.code,
      attempts: e.$metadata?.attempts,
    };
  }
}

/** What the client must see after MAX_ATTEMPTS attempts, the last one answered with the `variant`-th spelling. */
function expectedOf(service: AwsService, kind: FaultKind, lastVariant: number) {
  const notForwarded = { ran: 0, attempts: MAX_ATTEMPTS };
  switch (kind) {
    case "slow":
      return { name: "ok", status: 200, attempts: 1, ran: 1 };
    case "throttle":
    case "error": {
      const [name, status] = SERVICE_ERRORS[service][kind][lastVariant % 2] ?? ["?", 0];
      return { name, status, ...notForwarded };
    }
    case "errorAfter": {
      const [name, status] = SERVICE_ERRORS[service].error[lastVariant % 2] ?? ["?", 0];
      return { name, status, attempts: MAX_ATTEMPTS, ran: service === "sqs" ? MAX_ATTEMPTS : 1 };
    }
    case "timeout":
    case "reset":
      return { code: "ECONNRESET", status: undefined, ...notForwarded };
    case "resetAfter":
      return {
        code: "ECONNRESET",
        status: undefined,
        attempts: MAX_ATTEMPTS,
        ran: service === "sqs" ? MAX_ATTEMPTS : 1,
      };
  }
}

const SERVICES: readonly AwsService[] = ["dynamodb", "sqs", "scheduler"];
const CASES = TRANSPORTS.flatMap((transport) =>
  SERVICES.flatMap((service) => FAULT_KINDS.map((kind) => ({ transport, service, kind }))),
);

describe("every fault kind, as the SDK sees it, on both transports", () => {
  it.each(CASES)("$transport · $service · $kind", async ({ transport, service, kind }) => {
    // Prepare: this one operation always meets this one kind.
    const operation = OPERATIONS[service];
    const id = `f-${randomUUID()}`;
    const queueUrl = service === "sqs" ? await newQueue(id) : "";
    const clients = faultedClients(transport);
    const stat = () => emulators.faultStats()[`${service}.${operation.name}`]?.faults[kind] ?? 0;
    const before = stat();
    emulators.setFaults({
      ...TIMINGS,
      services: { [service]: { operations: { [operation.name]: { [kind]: 1 } } } },
    });

    // Act
    const seen = await outcomeOf(operation.call(clients, id, queueUrl)).finally(() =>
      emulators.setFaults(TIMINGS),
    );

    // Assess: the last attempt's answer, the attempts the SDK made, and how often the operation really ran.
    const expected = expectedOf(service, kind, stat() - 1);
    expect(stat() - before).toBe(kind === "slow" ? 1 : MAX_ATTEMPTS);
    const { ran, ...answer } = expected;
    expect(seen).toMatchObject(answer);
    expect(await operation.ran(id, queueUrl)).toBe(ran);
  });
});

/** Entries that landed after a refused entry of their MessageGroupId in the same call (the overtakes). */
function overtakes(
  entries: readonly { Id: string; MessageGroupId: string }[],
  landed: ReadonlySet<string>,
): number {
  const refusedGroups = new Set<string>();
  let count = 0;
  for (const entry of entries) {
    if (!landed.has(entry.Id)) refusedGroups.add(entry.MessageGroupId);
    else if (refusedGroups.has(entry.MessageGroupId)) count++;
  }
  return count;
}

describe("per-entry SendMessageBatch refusals and per-statement BatchExecuteStatement errors", () => {
  const entryStats = () => {
    const s = emulators.faultStats()["sqs.SendMessageBatch"];
    const refused = Object.values(s?.entryErrors ?? {}).reduce((a, b) => a + b, 0);
    return { refused, pastRefused: s?.entriesPastRefused ?? 0 };
  };
  const batchOf = (prefix: string) =>
    Array.from({ length: 10 }, (_, i) => ({
      Id: `m${i}`,
      MessageBody: `${prefix}-${i}`,
      MessageGroupId: `g${i % 3}`,
      MessageDeduplicationId: `${prefix}-${i}`,
    }));

  it.each(TRANSPORTS)(
    "%s: refused entries in Failed as SQS shapes them, the others on the queue",
    async (transport) => {
      // Prepare: about half the entries refused (seeded), three groups in ten entries.
      const clients = faultedClients(transport);
      const queueUrl = await newQueue(`b-${randomUUID()}`, true);
      const entries = batchOf(randomUUID());
      const before = entryStats();
      emulators.setFaults({ ...TIMINGS, seed: 5, batchEntryErrors: { rate: 0.5 } });

      // Act
      const answer = await clients.sqs
        .send(new SendMessageBatchCommand({ QueueUrl: clients.queueUrl(queueUrl), Entries: entries }))
        .finally(() => {
          emulators.setFaults(TIMINGS);
          clients.sqs.destroy();
        });

      // Assess: one 200 call; every entry in exactly one list; the refused ones shaped as SQS's
      // BatchResultErrorEntry (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_BatchResultErrorEntry.html).
      const successful = (answer.Successful ?? []).map((e) => e.Id ?? "");
      const failed = answer.Failed ?? [];
      expect(answer.$metadata).toMatchObject({ httpStatusCode: 200, attempts: 1 });
      expect(successful.length).toBeGreaterThan(0);
      expect(failed.length).toBeGreaterThan(0);
      expect([...successful, ...failed.map((f) => f.Id)].sort()).toEqual(entries.map((e) => e.Id).sort());
      for (const entry of failed) {
        expect(entry).toEqual({
          Id: expect.any(String),
          SenderFault: false,
          Code: expect.stringMatching(/^(InternalError|ServiceUnavailable)$/),
          Message: expect.any(String),
        });
      }
      for (const entry of answer.Successful ?? [])
        expect(entry).toMatchObject({ MessageId: expect.any(String), MD5OfMessageBody: expect.any(String) });
      const landed = new Set(successful);
      const expectedBodies = entries.filter((e) => landed.has(e.Id)).map((e) => e.MessageBody);
      expect(await bodiesOn(queueUrl, expectedBodies.length)).toEqual(expectedBodies.sort());
      const after = entryStats();
      expect(after.refused - before.refused).toBe(failed.length);
      expect(after.pastRefused - before.pastRefused).toBe(overtakes(entries, landed));
    },
  );

  it.each(TRANSPORTS)("%s: a batch that fails as a whole counts no entry as landed", async (transport) => {
    // Prepare: a queue that does not exist; the entry refusals are drawn before the call is forwarded.
    const clients = faultedClients(transport);
    const queueUrl = (await newQueue(`b-${randomUUID()}`, true)).replace(
      /\/[^/]+$/,
      `/missing-${randomUUID()}.fifo`,
    );
    const before = entryStats();
    emulators.setFaults({ ...TIMINGS, seed: 5, batchEntryErrors: { rate: 0.5 } });

    // Act
    const seen = await outcomeOf(
      clients.sqs.send(
        new SendMessageBatchCommand({ QueueUrl: clients.queueUrl(queueUrl), Entries: batchOf("x") }),
      ),
    ).finally(() => {
      emulators.setFaults(TIMINGS);
      clients.sqs.destroy();
    });

    // Assess: SQS's answer for the whole call, and no overtake counted (nothing landed).
    expect(seen).toMatchObject({ name: "QueueDoesNotExist", status: 400 });
    expect(entryStats().pastRefused).toBe(before.pastRefused);
  });

  it.each(TRANSPORTS)(
    "%s: a batch whose every entry is refused is still answered as a whole: 200 on a queue, QueueDoesNotExist without",
    async (transport) => {
      // Prepare: every entry refused; one queue that exists, one that does not
      const clients = faultedClients(transport);
      const queueUrl = await newQueue(`b-${randomUUID()}`, true);
      const missing = queueUrl.replace(/\/[^/]+$/, `/missing-${randomUUID()}.fifo`);
      const entries = batchOf(randomUUID());
      emulators.setFaults({ ...TIMINGS, seed: 5, batchEntryErrors: { rate: 1 } });

      // Act
      const batch = (url: string) =>
        new SendMessageBatchCommand({ QueueUrl: clients.queueUrl(url), Entries: entries });
      const [answer, onMissing] = await Promise.all([
        clients.sqs.send(batch(queueUrl)),
        outcomeOf(clients.sqs.send(batch(missing))),
      ]).finally(() => {
        emulators.setFaults(TIMINGS);
        clients.sqs.destroy();
      });

      // Assess: the missing queue is reported, the real one lists every entry in Failed and holds none of them
      expect(onMissing).toMatchObject({ name: "QueueDoesNotExist", status: 400 });
      expect(answer.$metadata.httpStatusCode).toBe(200);
      expect(answer.Successful ?? []).toEqual([]);
      expect((answer.Failed ?? []).map((f) => f.Id).sort()).toEqual(entries.map((e) => e.Id).sort());
      expect(await bodiesOn(queueUrl, 0)).toEqual([]);
    },
  );

  it.each(TRANSPORTS)(
    "%s: a batch SQS refuses whole is not drawn per entry: its own error stands",
    async (transport) => {
      // Prepare: eleven entries (SendMessageBatch takes ten), every entry would be refused
      const clients = faultedClients(transport);
      const queueUrl = await newQueue(`b-${randomUUID()}`, true);
      const run = randomUUID();
      const entries = Array.from({ length: 11 }, (_, i) => ({
        Id: `m${i}`,
        MessageBody: `${run}-${i}`,
        MessageGroupId: "g",
        MessageDeduplicationId: `${run}-${i}`,
      }));
      emulators.setFaults({ ...TIMINGS, seed: 5, batchEntryErrors: { rate: 1 } });

      // Act
      const seen = await outcomeOf(
        clients.sqs.send(
          new SendMessageBatchCommand({ QueueUrl: clients.queueUrl(queueUrl), Entries: entries }),
        ),
      ).finally(() => {
        emulators.setFaults(TIMINGS);
        clients.sqs.destroy();
      });

      // Assess
      expect(seen).toMatchObject({ name: "TooManyEntriesInBatchRequest", status: 400 });
    },
  );

  it.each(TRANSPORTS)(
    "%s: statements answer their own Error inside a 200, the others really run",
    async (transport) => {
      // Prepare: about half the statements refused (seeded), each an INSERT of its own item.
      const clients = faultedClients(transport);
      const ids = Array.from({ length: 8 }, () => `s-${randomUUID()}`);
      const errorsOf = () =>
        emulators.faultStats()["dynamodb.BatchExecuteStatement"]?.statementErrors?.ThrottlingError ?? 0;
      const before = errorsOf();
      emulators.setFaults({ ...TIMINGS, seed: 3, statementErrors: { ThrottlingError: 0.5 } });

      // Act
      const answer = await clients.dynamodb
        .send(
          new BatchExecuteStatementCommand({
            Statements: ids.map((id) => ({
              Statement: `INSERT INTO "${TABLE}" VALUE {'pk': ?}`,
              Parameters: [{ S: id }],
            })),
          }),
        )
        .finally(() => {
          emulators.setFaults(TIMINGS);
          clients.dynamodb.destroy();
        });

      // Assess: one answer per statement, in order, shaped as BatchStatementResponse
      // (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchStatementResponse.html).
      const responses = answer.Responses ?? [];
      expect(answer.$metadata).toMatchObject({ httpStatusCode: 200, attempts: 1 });
      expect(responses).toHaveLength(ids.length);
      const refused = responses.flatMap((r, i) => (r.Error ? [i] : []));
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.length).toBeLessThan(ids.length);
      for (const response of responses) {
        expect(response.TableName).toBe(TABLE);
        if (response.Error)
          expect(response.Error).toEqual({ Code: "ThrottlingError", Message: expect.any(String) });
      }
      const stored = await Promise.all(ids.map((id) => OPERATIONS.dynamodb.ran(id, "")));
      expect(stored).toEqual(ids.map((_, i) => (refused.includes(i) ? 0 : 1)));
      expect(errorsOf() - before).toBe(refused.length);
    },
  );

  it.each(TRANSPORTS)(
    "%s: an injected ConditionalCheckFailed asked for ALL_OLD carries the item, as DynamoDB's does",
    async (transport) => {
      // Prepare: items that exist; every statement's condition refused by the injector.
      const clients = faultedClients(transport);
      const ids = Array.from({ length: 3 }, () => `c-${randomUUID()}`);
      for (const id of ids)
        await raw.dynamodb.send(
          new PutItemCommand({ TableName: TABLE, Item: { pk: { S: id }, n: { N: "1" } } }),
        );
      emulators.setFaults({ ...TIMINGS, statementErrors: { ConditionalCheckFailed: 1 } });

      // Act
      const answer = await clients.dynamodb
        .send(
          new BatchExecuteStatementCommand({
            Statements: ids.map((id) => ({
              Statement: `UPDATE "${TABLE}" SET "n"=? WHERE "pk"=? AND "n"=?`,
              Parameters: [{ N: "2" }, { S: id }, { N: "1" }],
              ReturnValuesOnConditionCheckFailure: "ALL_OLD",
            })),
          }),
        )
        .finally(() => {
          emulators.setFaults(TIMINGS);
          clients.dynamodb.destroy();
        });

      // Assess: BatchStatementError.Item "will be set if ReturnValuesOnConditionCheckFailure is specified as
      // ALL_OLD" (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchStatementError.html);
      // nothing written.
      expect(answer.Responses).toEqual(
        ids.map((id) => ({
          TableName: TABLE,
          Error: {
            Code: "ConditionalCheckFailed",
            Message: expect.any(String),
            Item: { pk: { S: id }, n: { N: "1" } },
          },
        })),
      );
      for (const id of ids) {
        const { Item } = await raw.dynamodb.send(
          new GetItemCommand({ TableName: TABLE, Key: { pk: { S: id } }, ConsistentRead: true }),
        );
        expect(Item?.n).toEqual({ N: "1" });
      }
    },
  );
});
