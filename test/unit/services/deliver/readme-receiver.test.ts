import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { parse as parseLossless, stringify as stringifyLossless } from "lossless-json";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type CallbackClient, createCallbackClient } from "#shared/adapters/callback-client.js";
import { loadEnvironmentConfig, type TopicConfig } from "#shared/config/index.js";
import { MAX_JSON_DEPTH, parseExactJson } from "#shared/domain/exact-json.js";
import { signingSecretLoader, verificationKeys } from "#shared/security/signing.js";
import { resolvedAddressAllowed } from "#shared/security/ssrf.js";
import { addTask } from "#shared/services/add-task.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { binding, QUEUE_ARN } from "../../../support/deliver-binding.js";
import { eventOf, fifoRecord } from "../../../support/factories.js";
import { MemoryMetrics } from "../../../support/fakes/metrics.js";
import { FakeScheduler } from "../../../support/fakes/scheduler.js";
import { FakeTimerQueue } from "../../../support/fakes/timer-queue.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";
import { MemoryTaskStore } from "../../../support/memory-task-store.js";

/**
 * docs/CALLBACKS.md "Callback contract", as a receiver lives it: a task added through the real add service (the body parsed
 * as the API parses it), delivered by the real deliver code and callback client to a real HTTP server on
 * 127.0.0.1, signed by the loader deliver runs with (the stored value a rotation document, as Secrets Manager
 * would answer it), and verified with the recipe README and docs/CALLBACKS.md show — `new Webhook(key).verify(rawBody, request.headers)` —
 * using each key `npx punctual key` prints (`verificationKeys`).
 */
const current = `whsec_${randomBytes(32).toString("base64")}`;
// The stack's generated secret: 44 characters of [A-Za-z0-9], bare (cdk/lib/punctual-stack.ts).
const previous = randomBytes(64)
  .toString("base64")
  .replace(/[^A-Za-z0-9]/g, "")
  .slice(0, 44);
const stored = JSON.stringify({ current, previous });
const keys = verificationKeys(stored, "demo");

interface Received {
  readonly headers: Record<string, string>;
  readonly rawBody: Buffer;
  /** What `verify` returned with each printed key, or the error it threw. */
  readonly verified: unknown[];
}

let server: Server;
let base: string;
const received: Received[] = [];
/** Status to answer per request, in order (then 204). */
const answers: number[] = [];

function receive(request: IncomingMessage, rawBody: Buffer): Received {
  const verified = keys.map((key) => {
    // README / docs/CALLBACKS.md: the recipe, line for line.
    const webhook = new Webhook(key);
    try {
      return webhook.verify(rawBody, request.headers as Record<string, string>);
    } catch (error) {
      return error;
    }
  });
  return { headers: request.headers as Record<string, string>, rawBody, verified };
}

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push(receive(request, Buffer.concat(chunks)));
      response.writeHead(answers.shift() ?? 204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

const clients: CallbackClient[] = [];
afterEach(async () => {
  received.length = 0;
  answers.length = 0;
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const config = loadEnvironmentConfig("local");
const topic = { ...(config.resolvedTopics.demo as TopicConfig), maxAttempts: 3 };

/** The caller's request text through the API's parser and the add service; the task as stored. */
async function add(requestText: string, nowMs = Date.now()) {
  const parsed = parseExactJson(requestText, MAX_JSON_DEPTH);
  if (!parsed.ok) throw new Error(`test request does not parse: ${JSON.stringify(parsed)}`);
  const store = new MemoryTaskStore();
  const result = await addTask(
    { store, timerQueue: new FakeTimerQueue(), scheduler: new FakeScheduler(), config, now: () => nowMs },
    { body: parsed.value },
  );
  const task = store.tasks.get(result.body.task_id);
  if (!task) throw new Error("the add stored no task");
  return { store, task };
}

/** One delivery invocation of the task's FIFO record, signed by the deployed loader; `laterMs` after now (by its clock). */
async function deliver(store: MemoryTaskStore, task: { taskId: string; pk: string }, laterMs = 0) {
  const client = createCallbackClient({
    policy: { isAllowed: (host, ip) => resolvedAddressAllowed(host, ip, topic) },
    allowPlainHttp: true,
    userAgent: "Punctual-Webhooks",
  });
  clients.push(client);
  const signer = signingSecretLoader({
    env: { SIGNING_SECRET_ARN: "arn:aws:secretsmanager:eu-west-1:000000000000:secret:signing-AbCdEf" },
    fetchSecret: async () => stored,
  });
  return deliverBatch(
    {
      store,
      topicQueue: new FakeTopicQueue(),
      bindingFor: (arn) => (arn === QUEUE_ARN ? binding(topic) : undefined),
      callbackClientFor: () => client,
      signer,
      metrics: new MemoryMetrics(),
      logger: memoryLogger(),
      clock: () => Date.now() + laterMs,
    },
    eventOf(fifoRecord(task)),
    { getRemainingTimeInMillis: () => 30_000 },
  );
}

const request = (content: string, extra = "") =>
  `{ "topic": "demo", "delay_seconds": 0, "callback": { "url": "${base}/hook" }${extra}, "content": ${content} }`;

describe("the documented receiver recipe against a real delivered callback", () => {
  it("is the rotation's two keys, current first, each a whsec_ key of 32 bytes", () => {
    expect(keys).toHaveLength(2);
    for (const key of keys) expect(Buffer.from(key.slice("whsec_".length), "base64")).toHaveLength(32);
  });

  it.each([
    ["an empty object", "{}", {}],
    [
      "unicode, escapes, white space and numbers no double holds",
      '{ "order_id" : "A-1", "\\u00e9": "\\ud83d\\ude00 \\u2028 \\"q\\" \\\\ \\/ \\t", "big": 12345678901234567890, "x": 1.0E+2, "neg": -0, "b": { "2": [ ] } }',
      undefined,
    ],
    [
      "a string holding the content (seed style)",
      JSON.stringify('{"order_id":"A-2","big":12345678901234567890,"s":"é"}'),
      undefined,
    ],
  ])(
    "%s: verifies with either key, and the raw body holds the content exactly",
    async (_name, content, expected) => {
      // Prepare
      const { store, task } = await add(request(content));

      // Act
      expect(await deliver(store, task)).toEqual({ batchItemFailures: [] });

      // Assess: both keys verify what arrived; the content member is the stored text, the caller's value.
      expect(received).toHaveLength(1);
      const [callback] = received as [Received];
      expect(
        callback.verified.every((v) => !(v instanceof Error)),
        String(callback.verified),
      ).toBe(true);
      expect(callback.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
      const body = callback.rawBody.toString("utf8");
      expect(body.endsWith(`"content":${task.content}}`)).toBe(true);
      const callersValue = parseLossless(
        typeof JSON.parse(content) === "string" ? JSON.parse(content) : content,
      );
      expect(stringifyLossless((parseLossless(body) as { content: unknown }).content)).toBe(
        stringifyLossless(callersValue),
      );
      if (expected) expect((callback.verified[0] as { content: unknown }).content).toEqual(expected);
      expect(callback.headers).toMatchObject({ "webhook-id": task.taskId, "punctual-topic": "demo" });
    },
  );

  it("a late delivery and its retry verify: webhook-timestamp is each attempt's send time, webhook-id the task's", async () => {
    // Prepare: accepted (and due) ten minutes ago, past the library's five-minute tolerance; the first attempt fails.
    const { store, task } = await add(request('{"order_id":"A-3"}'), Date.now() - 600_000);
    answers.push(500);

    // Act: the retry comes back after its backoff (the topic's longest step, 2 s)
    await deliver(store, task);
    await deliver(store, task, (topic.backoff.maxSeconds as number) * 1000);

    // Assess
    expect(received).toHaveLength(2);
    for (const callback of received) {
      expect(
        callback.verified.every((v) => !(v instanceof Error)),
        String(callback.verified),
      ).toBe(true);
      expect(callback.headers["webhook-id"]).toBe(task.taskId);
      expect(Math.abs(Number(callback.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(10);
    }
    expect(received.map((c) => c.headers["punctual-attempt"])).toEqual(["1", "2"]);
    expect(store.tasks.get(task.taskId)?.status).toBe("delivered");
  });
});
