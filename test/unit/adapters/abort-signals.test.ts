import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterEach, describe, expect, it, vi } from "vitest";
import { abortableCall } from "#shared/adapters/abort-signals.js";
import { createAwsClient } from "#shared/adapters/aws-clients.js";

/**
 * Abort signals on our SDK clients (shared/adapters/abort-signals.ts): a call's signal must reach the transport
 * and stop the call, as the SDK's own `send(command, { abortSignal })` does, without per-call options, which make
 * the SDK resolve the command's middleware stack on every call and drop the client's cache.
 */
interface Seen {
  readonly signal: AbortSignal | undefined;
  readonly target: string | undefined;
}

type Answer = "ok" | "server error" | "hang";

/** A transport in place of the SDK's sockets: records each attempt's signal and answers as told. */
function transport(answers: Answer[] = []) {
  const seen: Seen[] = [];
  const handler = {
    metadata: { handlerProtocol: "test" },
    handle: (request: { headers: Record<string, string> }, options?: { abortSignal?: AbortSignal }) => {
      const signal = options?.abortSignal;
      seen.push({ signal, target: request.headers["x-amz-target"] });
      const answer = answers.shift() ?? "ok";
      if (answer === "hang") return hangUntilAborted(signal);
      return Promise.resolve({ response: response(answer === "ok" ? 200 : 500) });
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
    destroy: () => undefined,
  };
  return { handler, seen };
}

function response(statusCode: number) {
  const body =
    statusCode === 200 ? "{}" : '{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}';
  return {
    statusCode,
    headers: { "content-type": "application/x-amz-json-1.0" },
    body: new TextEncoder().encode(body),
  };
}

function hangUntilAborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    signal?.addEventListener("abort", () =>
      reject(Object.assign(new Error("aborted"), { name: "AbortError" })),
    );
  });
}

const clients: DynamoDBClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
  vi.restoreAllMocks();
});

function ourClient(handler: ReturnType<typeof transport>["handler"], maxAttempts = 3): DynamoDBClient {
  const client = createAwsClient(DynamoDBClient, {
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    requestHandler: handler,
    maxAttempts,
  });
  clients.push(client);
  return client;
}

const put = (id: string) => new PutItemCommand({ TableName: "tasks", Item: { pk: { S: id } } });

describe("abortable calls on the clients createAwsClient builds", () => {
  it("keep the client's cached middleware stack: one resolution for many signalled calls", async () => {
    // Prepare
    const resolve = vi.spyOn(PutItemCommand.prototype, "resolveMiddleware");
    const { handler, seen } = transport();
    const client = ourClient(handler);
    // Act
    for (const id of ["a", "b", "c"]) {
      await client.send(...abortableCall(client, put(id), new AbortController().signal));
    }
    // Assess
    expect(seen).toHaveLength(3);
    expect(resolve).toHaveBeenCalledTimes(1);
  });

  it("hand each call's own signal to the transport, also for calls in flight together", async () => {
    // Prepare
    const { handler, seen } = transport();
    const client = ourClient(handler);
    const first = new AbortController();
    const second = new AbortController();
    // Act
    await Promise.all([
      client.send(...abortableCall(client, put("a"), first.signal)),
      client.send(...abortableCall(client, put("b"), second.signal)),
      client.send(...abortableCall(client, put("c"), undefined)),
    ]);
    // Assess
    expect(seen.map((s) => s.signal)).toEqual([first.signal, second.signal, undefined]);
  });

  it("stop a hung call when its signal aborts, and only that call", async () => {
    // Prepare: the PutItem reaches the transport and hangs there.
    const { handler, seen } = transport(["hang"]);
    const client = ourClient(handler);
    const abort = new AbortController();
    const hung = client.send(...abortableCall(client, put("hung"), abort.signal));
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    // Act
    abort.abort();
    const other = client.send(
      ...abortableCall(client, new GetItemCommand({ TableName: "t", Key: {} }), undefined),
    );
    // Assess
    await expect(hung).rejects.toMatchObject({ name: "AbortError" });
    await expect(other).resolves.toBeDefined();
    expect(seen.map((s) => s.target)).toEqual(["DynamoDB_20120810.PutItem", "DynamoDB_20120810.GetItem"]);
  });

  it("refuse a call whose signal aborted before it reached the transport", async () => {
    const { handler, seen } = transport();
    const client = ourClient(handler);
    const abort = new AbortController();
    const call = client.send(...abortableCall(client, put("late"), abort.signal));
    abort.abort();
    await expect(call).rejects.toMatchObject({ name: "AbortError" });
    expect(seen).toEqual([]);
  });

  it("send no attempt after the abort: a retry due after it is refused before the transport", async () => {
    // Prepare: the first attempt fails retryably; the call is aborted while the SDK backs off.
    const { handler, seen } = transport(["server error", "ok"]);
    const client = ourClient(handler, 2);
    const abort = new AbortController();
    const original = handler.handle;
    handler.handle = (request, options) => {
      const answered = original(request, options);
      abort.abort();
      return answered;
    };
    // Act
    const call = client.send(...abortableCall(client, put("x"), abort.signal));
    // Assess
    await expect(call).rejects.toMatchObject({ name: "AbortError" });
    expect(seen).toHaveLength(1);
  });

  it("put the signal's middlewares first and last: once per call, and once per attempt on the request sent", () => {
    const { handler } = transport();
    const names = ourClient(handler)
      .middlewareStack.identify()
      .map((entry) => entry.split(" ")[0]);
    expect(names[0]).toBe("punctualAbortSignalCallMiddleware");
    expect(names.at(-1)).toBe("punctualAbortSignalMiddleware");
    expect(names.indexOf("retryMiddleware")).toBeLessThan(names.indexOf("httpSigningMiddleware"));
  });

  it("leave nothing behind: the same command sent again without a signal is sent, after an aborted call", async () => {
    // Prepare
    const { handler, seen } = transport();
    const client = ourClient(handler);
    const command = put("again");
    const abort = new AbortController();
    abort.abort();
    await expect(client.send(...abortableCall(client, command, abort.signal))).rejects.toMatchObject({
      name: "AbortError",
    });
    // Act
    const again = client.send(...abortableCall(client, command, undefined));
    const plain = client.send(command);
    // Assess
    await expect(again).resolves.toBeDefined();
    await expect(plain).resolves.toBeDefined();
    expect(seen.map((s) => s.signal)).toEqual([undefined, undefined]);
  });

  it("keep two commands built on one input object apart: each call has its own signal", async () => {
    // Prepare
    const { handler, seen } = transport(["hang", "hang"]);
    const client = ourClient(handler);
    const input = { TableName: "tasks", Item: { pk: { S: "shared" } } };
    const first = new AbortController();
    const second = new AbortController();
    const a = client.send(...abortableCall(client, new PutItemCommand(input), first.signal));
    const b = client.send(...abortableCall(client, new PutItemCommand(input), second.signal));
    await vi.waitFor(() => expect(seen).toHaveLength(2));
    // Act
    first.abort();
    // Assess
    await expect(a).rejects.toMatchObject({ name: "AbortError" });
    expect(seen.map((s) => s.signal)).toEqual([first.signal, second.signal]);
    second.abort();
    await expect(b).rejects.toMatchObject({ name: "AbortError" });
  });
});

describe("every command we send with a signal carries it to the transport", () => {
  const table = "tasks";
  const key = { pk: { S: "k" }, sk: { S: "s" } };
  const dynamodb: [string, () => { readonly input: object }][] = [
    ["PutItem", () => new PutItemCommand({ TableName: table, Item: key })],
    ["GetItem", () => new GetItemCommand({ TableName: table, Key: key })],
    [
      "UpdateItem",
      () => new UpdateItemCommand({ TableName: table, Key: key, UpdateExpression: "SET a = :a" }),
    ],
    [
      "BatchWriteItem",
      () => new BatchWriteItemCommand({ RequestItems: { [table]: [{ PutRequest: { Item: key } }] } }),
    ],
    ["BatchGetItem", () => new BatchGetItemCommand({ RequestItems: { [table]: { Keys: [key] } } })],
  ];

  it.each(dynamodb)("DynamoDB %s", async (_name, command) => {
    const { handler, seen } = transport();
    const client = ourClient(handler);
    const signal = new AbortController().signal;
    await client.send(...(abortableCall(client, command(), signal) as [never, undefined]));
    expect(seen.map((s) => s.signal)).toEqual([signal]);
  });

  it("Secrets Manager GetSecretValue", async () => {
    const { handler, seen } = transport();
    const client = createAwsClient(SecretsManagerClient, {
      region: "us-east-1",
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
      requestHandler: handler,
    });
    const signal = new AbortController().signal;
    await client
      .send(...abortableCall(client, new GetSecretValueCommand({ SecretId: "s" }), signal))
      .catch(() => undefined);
    client.destroy();
    expect(seen.map((s) => s.signal)).toEqual([signal]);
  });
});

describe("abortable calls on a client built elsewhere, or whose handler was replaced", () => {
  it("a handler replaced after the client was prepared (the local cloud's own clients): the SDK's own options", () => {
    const { handler } = transport();
    const client = ourClient(handler);
    (client.config as { requestHandler: unknown }).requestHandler = transport().handler;
    const signal = new AbortController().signal;
    const command = put("a");
    expect(abortableCall(client, command, signal)).toEqual([command, { abortSignal: signal }]);
  });

  it("get the SDK's own options", () => {
    const client = new DynamoDBClient({ region: "us-east-1" });
    clients.push(client);
    const signal = new AbortController().signal;
    const command = put("a");
    expect(abortableCall(client, command, signal)).toEqual([command, { abortSignal: signal }]);
    expect(abortableCall(client, command, undefined)).toEqual([command, undefined]);
  });
});
