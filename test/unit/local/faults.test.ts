import type http from "node:http";
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
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
import { ERROR_FAULT_KINDS, FaultInjector, operationOf, uniformFaultRates } from "#local/aws/faults.js";
import { tableActive } from "../../support/dynalite-table.js";

const request = (headers: Record<string, string>, method = "POST", url = "/") =>
  ({ headers, method, url }) as unknown as http.IncomingMessage;

describe("operationOf", () => {
  it("reads X-Amz-Target, an SQS query Action, or Scheduler's REST route", () => {
    expect(operationOf("dynamodb", request({ "x-amz-target": "DynamoDB_20120810.PutItem" }))).toBe("PutItem");
    expect(operationOf("sqs", request({ "x-amz-target": "AmazonSQS.SendMessageBatch" }))).toBe(
      "SendMessageBatch",
    );
    expect(operationOf("sqs", request({}), "Action=ReceiveMessage&QueueUrl=x")).toBe("ReceiveMessage");
    const scheduler = (method: string, url: string) => operationOf("scheduler", request({}, method, url));
    expect(scheduler("POST", "/schedules/t-abc?x=1")).toBe("CreateSchedule");
    expect(scheduler("DELETE", "/schedules/t-abc?groupName=g")).toBe("DeleteSchedule");
    expect(scheduler("GET", "/schedules/t-abc")).toBe("GetSchedule");
    expect(scheduler("PUT", "/schedules/t-abc")).toBe("UpdateSchedule");
    expect(scheduler("GET", "/schedules?MaxResults=5")).toBe("ListSchedules");
    expect(scheduler("POST", "/schedule-groups/g")).toBe("CreateScheduleGroup");
  });
});

describe("FaultInjector", () => {
  it("refuses unknown kinds and rates that cannot be probabilities", () => {
    expect(() => new FaultInjector({ rates: { explode: 0.1 } as never })).toThrow(/unknown fault kind/);
    expect(() => new FaultInjector({ rates: { reset: 1.5 } })).toThrow(/\[0, 1\]/);
    expect(() => new FaultInjector({ rates: { reset: 0.6, error: 0.6 } })).toThrow(/more than 1/);
  });

  it("draws the same faults for the same seed, per operation, at about the configured rate", () => {
    const draws = (seed: number) => {
      const faults = new FaultInjector({ seed, rates: uniformFaultRates(0.06) });
      return Array.from({ length: 5000 }, () => faults.decide("dynamodb", "PutItem")?.kind ?? "-");
    };
    const a = draws(7);
    expect(draws(7)).toEqual(a);
    expect(draws(8)).not.toEqual(a);
    const rate = a.filter((k) => k !== "-").length / a.length;
    expect(rate).toBeGreaterThan(0.045);
    expect(rate).toBeLessThan(0.075);
    for (const kind of ERROR_FAULT_KINDS) expect(a).toContain(kind);
  });

  it("refuses batch entries one by one: each on its own (independent) or the rest of its group too (stopGroup)", () => {
    const groups = Array.from({ length: 400 }, (_, i) => `g${i % 4}`);
    const independent = new FaultInjector({ seed: 3, batchEntryErrors: { rate: 0.3 } });
    const codes = independent.decideEntries("SendMessageBatch", groups);
    const refused = codes.filter((c) => c !== undefined);
    expect(refused.length / groups.length).toBeCloseTo(0.3, 1);
    expect(new Set(refused)).toEqual(new Set(["InternalError", "ServiceUnavailable"]));
    // a later entry of a refused entry's group lands (the worst case for order)
    expect(
      groups.some((g, i) => codes[i] === undefined && codes.slice(0, i).some((c, j) => c && groups[j] === g)),
    ).toBe(true);

    const stopGroup = new FaultInjector({ seed: 3, batchEntryErrors: { rate: 0.3, shape: "stopGroup" } });
    const stopped = stopGroup.decideEntries("SendMessageBatch", groups);
    for (const g of new Set(groups)) {
      const ofGroup = stopped.filter((_, i) => groups[i] === g);
      const first = ofGroup.findIndex((c) => c !== undefined);
      if (first >= 0) expect(ofGroup.slice(first).every((c) => c !== undefined)).toBe(true);
    }
    expect(stopGroup.stats()["sqs.SendMessageBatch"]?.entries).toBe(400);
    expect(() => new FaultInjector({ batchEntryErrors: { rate: 2 } })).toThrow(/batchEntryErrors/);
  });

  it("resolves rates per operation, then per service, then policy-wide", () => {
    const faults = new FaultInjector({
      rates: { error: 1 },
      services: { sqs: { rates: { throttle: 1 }, operations: { ReceiveMessage: {} } } },
    });
    expect(faults.decide("dynamodb", "GetItem")?.kind).toBe("error");
    expect(faults.decide("sqs", "SendMessage")?.kind).toBe("throttle");
    expect(faults.decide("sqs", "ReceiveMessage")).toBeUndefined();
    expect(faults.stats()["sqs.ReceiveMessage"]).toEqual({ requests: 1, faults: {} });
    faults.setPolicy({});
    expect(faults.decide("dynamodb", "GetItem")).toBeUndefined();
  });
});

describe("fault proxies over the wire", () => {
  let emulators: RunningEmulators;
  const config = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 };
  let dynamodb: DynamoDBClient;
  let rawDynamodb: DynamoDBClient;
  let scheduler: SchedulerClient;
  let sqs: SQSClient;

  beforeAll(async () => {
    emulators = await startEmulators({ faults: { timeoutMs: 100 } });
    const proxies = emulators.faultEndpoints;
    if (!proxies) throw new Error("no fault proxies");
    dynamodb = new DynamoDBClient({ ...config, endpoint: proxies.dynamodb });
    rawDynamodb = new DynamoDBClient({ ...config, endpoint: emulators.endpoints.dynamodb });
    scheduler = new SchedulerClient({ ...config, endpoint: proxies.scheduler });
    // fauxqs's host name, as the functions use it; queue URLs made through the proxy name the proxy's port.
    sqs = new SQSClient({
      ...config,
      endpoint: `http://sqs.${LOCAL_REGION}.localhost:${new URL(proxies.sqs).port}`,
    });
    await rawDynamodb.send(
      new CreateTableCommand({
        TableName: "faults",
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    await tableActive(rawDynamodb, "faults");
  });

  afterAll(async () => {
    for (const client of [dynamodb, rawDynamodb, scheduler, sqs]) client?.destroy();
    await emulators?.stop();
  });

  const failure = async (call: () => Promise<unknown>) => {
    try {
      await call();
      return { name: "none", status: undefined };
    } catch (error) {
      const e = error as { name: string; $metadata?: { httpStatusCode?: number } };
      return { name: e.name, status: e.$metadata?.httpStatusCode };
    }
  };

  it("answers with each service's own throttling and server errors, as its SDK parses them", async () => {
    emulators.setFaults({ rates: { throttle: 1 } });
    expect(await failure(() => dynamodb.send(new ListTablesCommand({})))).toEqual({
      name: "ProvisionedThroughputExceededException",
      status: 400,
    });
    expect(await failure(() => dynamodb.send(new ListTablesCommand({})))).toEqual({
      name: "ThrottlingException",
      status: 400,
    });
    expect(await failure(() => scheduler.send(new ListSchedulesCommand({})))).toEqual({
      name: "ThrottlingException",
      status: 429,
    });
    emulators.setFaults({ rates: { error: 1 } });
    expect(await failure(() => dynamodb.send(new ListTablesCommand({})))).toEqual({
      name: "InternalServerError",
      status: 500,
    });
    expect(await failure(() => scheduler.send(new ListSchedulesCommand({})))).toEqual({
      name: "InternalServerException",
      status: 500,
    });
    emulators.setFaults({});
  });

  it("keeps SQS queue URLs working through the proxy, and throttles SQS in its JSON shape", async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "fault-proxy-test" }));
    expect(new URL(QueueUrl ?? "").port).toBe(new URL(emulators.faultEndpoints?.sqs ?? "").port);
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "hello" }));
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
    expect(received.Messages?.[0]?.Body).toBe("hello");

    emulators.setFaults({ services: { sqs: { operations: { SendMessage: { throttle: 1 } } } } });
    expect(await failure(() => sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "x" })))).toEqual({
      name: "RequestThrottled",
      status: 403,
    });
    expect(await failure(() => sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "x" })))).toEqual({
      name: "ThrottlingException",
      status: 400,
    });
    emulators.setFaults({});
  });

  it("refuses SendMessageBatch entries inside a 200 while the others really land", async () => {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: "entry-faults.fifo", Attributes: { FifoQueue: "true" } }),
    );
    const send = (prefix: string) =>
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl,
          Entries: Array.from({ length: 10 }, (_, i) => ({
            Id: `m${i}`,
            MessageBody: `${prefix}${i}`,
            MessageGroupId: `g${i % 3}`,
            MessageDeduplicationId: `${prefix}${i}`,
          })),
        }),
      );

    emulators.setFaults({ seed: 5, batchEntryErrors: { rate: 0.5 } });
    const partial = await send("p");
    emulators.setFaults({ batchEntryErrors: { rate: 1 } });
    const none = await send("n");
    emulators.setFaults({});

    const successful = (partial.Successful ?? []).map((e) => `p${e.Id?.slice(1)}`);
    expect(successful.length).toBeGreaterThan(0);
    expect(partial.Failed?.length).toBe(10 - successful.length);
    expect(partial.Failed?.every((f) => f.SenderFault === false && f.Code !== undefined)).toBe(true);
    expect(none).toMatchObject({ Successful: [] });
    expect(none.Failed).toHaveLength(10);
    const bodies: string[] = [];
    for (let i = 0; i < 5 && bodies.length < successful.length; i++) {
      const got = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      bodies.push(...(got.Messages ?? []).map((m) => m.Body as string));
    }
    expect(bodies.sort()).toEqual(successful.sort());
  });

  it("drops the connection before the call, after a hold, or after the call was executed", async () => {
    const put = (id: string) =>
      dynamodb.send(new PutItemCommand({ TableName: "faults", Item: { pk: { S: id } } }));
    const stored = async (id: string) =>
      (await rawDynamodb.send(new GetItemCommand({ TableName: "faults", Key: { pk: { S: id } } }))).Item !==
      undefined;

    emulators.setFaults({ rates: { reset: 1 } });
    expect((await failure(() => put("before"))).name).not.toBe("none");
    expect(await stored("before")).toBe(false);

    emulators.setFaults({ rates: { timeout: 1 }, timeoutMs: 100 });
    const started = Date.now();
    expect((await failure(() => put("held"))).name).not.toBe("none");
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(await stored("held")).toBe(false);

    // The nastiest: the write happened, the caller sees an error (a dropped connection, or a 500).
    emulators.setFaults({ rates: { resetAfter: 1 } });
    expect((await failure(() => put("after"))).name).not.toBe("none");
    expect(await stored("after")).toBe(true);
    emulators.setFaults({ rates: { errorAfter: 1 } });
    expect((await failure(() => put("after-500"))).status).toBe(500);
    expect(await stored("after-500")).toBe(true);
    emulators.setFaults({});

    const stats = emulators.faultStats();
    expect(stats["dynamodb.PutItem"]?.faults).toMatchObject({
      reset: 1,
      timeout: 1,
      resetAfter: 1,
      errorAfter: 1,
    });
  });
});
