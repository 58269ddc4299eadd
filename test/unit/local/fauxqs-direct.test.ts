import type http from "node:http";
import { buildApp } from "fauxqs";
import inject from "light-my-request";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFauxqsDirect, type FauxqsDirect } from "#local/aws/fauxqs-direct.js";
import type { InProcessAnswer, InProcessRequest } from "#local/aws/in-process.js";

/**
 * The fast path's direct SQS calls (local/aws/fauxqs-direct.ts) against fauxqs's own app through light-my-request
 * (what the fast path did before, and still does for everything else): two apps on two stores get the same calls,
 * one side through Fastify, the other direct, and must answer alike — status, headers and body, with the values
 * fauxqs draws at random (message ids, receipt handles, request ids) compared by shape.
 */
type Side = { direct: FauxqsDirect; app: ReturnType<typeof buildApp>; listener: http.RequestListener };
let viaFastify: Side;
let viaDirect: Side;
const AUTH =
  "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=unsigned";

async function side(): Promise<Side> {
  const direct = await createFauxqsDirect();
  const app = buildApp({ logger: false, stores: { sqsStore: direct.store } as never });
  await app.ready();
  const [listener] = app.server.listeners("request");
  return { direct, app, listener: listener as http.RequestListener };
}

beforeAll(async () => {
  viaFastify = await side();
  viaDirect = await side();
});

afterAll(async () => {
  await viaFastify.app.close();
  await viaDirect.app.close();
});

let nextId = 0;
function request(action: string, body: unknown, headers: Record<string, string> = {}): InProcessRequest {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return {
    id: nextId++,
    service: "sqs",
    faults: false,
    method: "POST",
    url: "/",
    headers: {
      host: "sqs.us-east-1.localhost:4566",
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": `AmazonSQS.${action}`,
      "content-length": String(Buffer.byteLength(text)),
      authorization: AUTH,
      ...headers,
    },
    body: new TextEncoder().encode(text),
  };
}

type Seen = { statusCode: number; headers: Record<string, string>; body: string };

async function throughFastify(call: InProcessRequest): Promise<Seen> {
  const response = await inject(viaFastify.listener, {
    method: "POST",
    url: call.url,
    headers: call.headers,
    payload: Buffer.from(call.body ?? ""),
  });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) headers[name] = String(value);
  return { statusCode: response.statusCode, headers, body: response.payload };
}

async function throughDirect(call: InProcessRequest): Promise<Seen> {
  const pending = viaDirect.direct.call(call);
  if (!pending) throw new Error(`not served directly: ${call.headers["x-amz-target"]}`);
  const answer = (await pending) as Extract<InProcessAnswer, { statusCode: number }>;
  return {
    statusCode: answer.statusCode,
    headers: answer.headers,
    body: new TextDecoder().decode(answer.body),
  };
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** What fauxqs draws at random or from the clock, as its shape. */
function shaped(seen: Seen): Seen {
  const headers = { ...seen.headers };
  expect(headers["x-amz-request-id"]).toMatch(/^[0-9A-F]{16}$/);
  expect(Number.isNaN(Date.parse(headers.date ?? ""))).toBe(false);
  headers["x-amz-request-id"] = "<request id>";
  headers.date = "<date>";
  return { ...seen, headers, body: seen.body.replace(UUID, "<uuid>") };
}

/** The same call on both sides (each side's own receipt handles, when the body needs one), answers compared. */
async function same(action: string, body: (side: "fastify" | "direct") => unknown): Promise<Seen> {
  const fastify = await throughFastify(request(action, body("fastify")));
  const direct = await throughDirect(request(action, body("direct")));
  expect(shaped(direct)).toEqual(shaped(fastify));
  return direct;
}

async function createQueue(name: string, attributes: Record<string, string> = {}): Promise<string> {
  let url = "";
  for (const s of [viaFastify, viaDirect]) {
    const call = request("CreateQueue", { QueueName: name, Attributes: attributes });
    const response = await inject(s.listener, {
      method: "POST",
      url: "/",
      headers: call.headers,
      payload: Buffer.from(call.body ?? ""),
    });
    url = (JSON.parse(response.payload) as { QueueUrl: string }).QueueUrl;
  }
  return url;
}

describe("fauxqs's hot SQS actions called without Fastify", () => {
  it("answer sends, receives, deletes and visibility changes exactly as fauxqs's app does", async () => {
    const queue = await createQueue("direct-standard", { VisibilityTimeout: "30" });
    await same("SendMessage", () => ({ QueueUrl: queue, MessageBody: "one", DelaySeconds: 0 }));
    await same("SendMessage", () => ({
      QueueUrl: queue,
      MessageBody: "two",
      MessageAttributes: { kind: { DataType: "String", StringValue: "task" } },
    }));
    await same("SendMessageBatch", () => ({
      QueueUrl: queue,
      Entries: [
        { Id: "a", MessageBody: "three" },
        { Id: "b", MessageBody: "four", DelaySeconds: 900 },
      ],
    }));
    await same("GetQueueAttributes", () => ({
      QueueUrl: queue,
      AttributeNames: [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "VisibilityTimeout",
      ],
    }));
    const handles: Record<string, string[]> = { fastify: [], direct: [] };
    const fastifyReceived = await throughFastify(
      request("ReceiveMessage", { QueueUrl: queue, MaxNumberOfMessages: 10, MessageAttributeNames: ["All"] }),
    );
    const directReceived = await throughDirect(
      request("ReceiveMessage", { QueueUrl: queue, MaxNumberOfMessages: 10, MessageAttributeNames: ["All"] }),
    );
    expect(shaped(directReceived)).toEqual(shaped(fastifyReceived));
    for (const [name, seen] of [
      ["fastify", fastifyReceived],
      ["direct", directReceived],
    ] as const) {
      const { Messages } = JSON.parse(seen.body) as { Messages: { ReceiptHandle: string }[] };
      handles[name] = Messages.map((m) => m.ReceiptHandle);
    }
    expect(handles.direct).toHaveLength(3);
    const handle = (s: "fastify" | "direct", i: number) => handles[s]?.[i] ?? "";
    await same("ChangeMessageVisibility", (s) => ({
      QueueUrl: queue,
      ReceiptHandle: handle(s, 0),
      VisibilityTimeout: 60,
    }));
    await same("ChangeMessageVisibilityBatch", (s) => ({
      QueueUrl: queue,
      Entries: [
        { Id: "x", ReceiptHandle: handle(s, 1), VisibilityTimeout: 0 },
        { Id: "y", ReceiptHandle: "not-a-handle", VisibilityTimeout: 0 },
      ],
    }));
    await same("DeleteMessage", (s) => ({ QueueUrl: queue, ReceiptHandle: handle(s, 0) }));
    await same("DeleteMessageBatch", (s) => ({
      QueueUrl: queue,
      Entries: [
        { Id: "x", ReceiptHandle: handle(s, 2) },
        { Id: "y", ReceiptHandle: "not-a-handle" },
      ],
    }));
  });

  it("answers fauxqs's errors, its failed batch entries and Fastify's 500 for a handler that throws alike", async () => {
    const fifo = await createQueue("direct-order.fifo", {
      FifoQueue: "true",
      ContentBasedDeduplication: "true",
    });
    const missing = `${fifo.replace("direct-order.fifo", "nowhere")}`;
    const errors = [
      await same("SendMessage", () => ({ QueueUrl: missing, MessageBody: "x" })),
      await same("SendMessage", () => ({ QueueUrl: fifo, MessageBody: "no group" })),
      await same("SendMessageBatch", () => ({ QueueUrl: fifo, Entries: [] })),
      await same("SendMessageBatch", () => ({ QueueUrl: fifo, Entries: [null] })),
      await same("SendMessage", () => null),
      await same("ReceiveMessage", () => ({ QueueUrl: missing })),
    ];
    expect(errors.map((e) => e.statusCode)).toEqual([400, 400, 400, 500, 500, 400]);
    expect(errors[0]?.headers["x-amzn-query-error"]).toBe("AWS.SimpleQueueService.NonExistentQueue;Sender");
    const partly = await same("SendMessageBatch", () => ({
      QueueUrl: fifo,
      Entries: [
        { Id: "ok", MessageBody: "in order", MessageGroupId: "g" },
        { Id: "late", MessageBody: "delayed", MessageGroupId: "g", DelaySeconds: 5 },
      ],
    }));
    expect(JSON.parse(partly.body).Failed).toHaveLength(1);
  });

  it("leaves to fauxqs's app what Fastify would treat otherwise, and the actions that read the request", async () => {
    const queue = await createQueue("direct-refused");
    const body = { QueueUrl: queue, MessageBody: "x" };
    const others: InProcessRequest[] = [
      request("CreateQueue", { QueueName: "elsewhere" }),
      request("GetQueueUrl", { QueueName: "direct-refused" }),
      request("SendMessage", "{not json"),
      request("SendMessage", body, { "content-length": "3" }),
      request("SendMessage", body, { "content-type": "application/json" }),
      request("SendMessage", "", {}),
      { ...request("SendMessage", body), url: "/000000000000/direct-refused" },
      { ...request("SendMessage", body), method: "PUT" },
    ];
    for (const call of others) expect(viaDirect.direct.call(call)).toBeUndefined();
  });
});
