/**
 * Requests as API Gateway presents them to our functions (HTTP API, payload format 2.0, the format every route's
 * integration uses: cdk/lib/constructs/task-api.ts): a repeated header's values joined with a comma, a repeated
 * query key's values joined with a comma in `queryStringParameters` (the raw query string keeps the repeat), header
 * names in lower case, and a body whose content type is not text base64-encoded (`isBase64Encoded: true`). A
 * hostile caller's duplicates must each be a structured 4xx that changes nothing, or an unambiguous acceptance
 * (docs/API.md, "As API Gateway presents a request") — never a task keyed on `a,b`, never a 500.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { describe, expect, it } from "vitest";
import type { HttpHandler } from "#shared/api/http-route.js";
import { makeTask } from "../../support/factories.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { FakeTopicQueueStats, FakeTopicSwitch, topicMapping } from "../../support/fakes/topic-switch.js";
import { handlersOn, routeHandlerFactories } from "../../support/route-handlers.js";
import { fixture, NOW, silentLogger } from "./fakes.js";

const factories = routeHandlerFactories();

const context = {
  functionName: "punctual-test",
  awsRequestId: "req-apigw",
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

function world() {
  const f = fixture(NOW);
  const deps = {
    ...f.deps,
    logger: silentLogger(),
    topicQueue: new FakeTopicQueue(() => NOW),
    topicQueues: { demo: topicMapping("demo").queueUrl },
    topicSwitch: new FakeTopicSwitch(),
    queues: new FakeTopicQueueStats(),
    mappings: { demo: topicMapping("demo") },
  };
  const handler = handlersOn(factories, deps);
  /** Everything a request could change: tasks, idempotency claims, timers, schedules. */
  const effects = () =>
    structuredClone({
      tasks: [...f.store.tasks.entries()],
      idempotency: [...f.store.idempotency.entries()],
      armed: [...f.timerQueue.armed],
      schedules: [...f.scheduler.created],
    });
  return { f, handler, effects };
}

interface Sent {
  /** Each header as the client sent it, repeated where given a list. */
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  /** The query string as sent, repeats and all. */
  readonly query?: string;
  readonly body?: string;
}

/**
 * The payload 2.0 event API Gateway builds from what a client sent (the page cited at toEvent in
 * local/runtime/api-server.ts): header names lower-cased, repeats joined with ","; Cookie headers apart; the query
 * kept raw and its repeated keys' values joined with ","; a body base64-encoded unless its media type is text.
 */
function asApiGatewayPresents(routeKey: string, sent: Sent, pathParameters?: Record<string, string>) {
  const [method = "", template = ""] = routeKey.split(" ");
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => pathParameters?.[name] ?? "");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(sent.headers ?? {})) {
    headers[name.toLowerCase()] = typeof value === "string" ? value : value.join(",");
  }
  const query: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(sent.query ?? "")) {
    query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  }
  const mediaType = (headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  const text =
    /^text\//.test(mediaType) ||
    ["application/json", "application/xml", "application/javascript"].includes(mediaType);
  const base64 = sent.body !== undefined && sent.body !== "" && !text;
  return {
    version: "2.0",
    routeKey,
    rawPath: path,
    rawQueryString: sent.query ?? "",
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(pathParameters ? { pathParameters } : {}),
    requestContext: { http: { method, path }, requestId: "apigw" },
    ...(sent.body ? { body: base64 ? Buffer.from(sent.body).toString("base64") : sent.body } : {}),
    isBase64Encoded: base64,
  } as unknown as APIGatewayProxyEventV2;
}

async function call(handler: HttpHandler, event: APIGatewayProxyEventV2) {
  const result = (await handler(event, context)) as APIGatewayProxyStructuredResultV2;
  return { status: result.statusCode ?? 0, json: JSON.parse(result.body ?? "{}") };
}

const ADD = JSON.stringify({
  topic: "demo",
  delay_seconds: 60,
  content: { order_id: "A-1" },
  callback: { url: "https://hooks.example.com/punctual" },
});
const JSON_TYPE = { "Content-Type": "application/json" };

describe("an add as API Gateway presents a hostile caller's duplicates", () => {
  it.each([
    [
      "two Idempotency-Key headers (`a,b`)",
      { ...JSON_TYPE, "Idempotency-Key": ["a", "b"] },
      400,
      "validation_failed",
    ],
    [
      "the same Idempotency-Key twice (`a,a`)",
      { ...JSON_TYPE, "Idempotency-Key": ["a", "a"] },
      400,
      "validation_failed",
    ],
    [
      "two Content-Types (`application/json,text/plain`)",
      { "Content-Type": ["application/json", "text/plain"] },
      415,
      "unsupported_media_type",
    ],
    [
      "two Content-Types, the first with a parameter",
      { "Content-Type": ["application/json;v=1", "text/plain"] },
      415,
      "unsupported_media_type",
    ],
    [
      "two equal Content-Types",
      { "Content-Type": ["application/json", "application/json"] },
      415,
      "unsupported_media_type",
    ],
    ["Content-Encoding: gzip", { ...JSON_TYPE, "Content-Encoding": "gzip" }, 415, "unsupported_media_type"],
    [
      "two Content-Encodings (`identity,gzip`)",
      { ...JSON_TYPE, "Content-Encoding": ["identity", "gzip"] },
      415,
      "unsupported_media_type",
    ],
    [
      "application/octet-stream (base64 in the event)",
      { "Content-Type": "application/octet-stream" },
      415,
      "unsupported_media_type",
    ],
    [
      "application/json; charset=latin1",
      { "Content-Type": "application/json; charset=latin1" },
      415,
      "unsupported_media_type",
    ],
  ] as const)("%s: a structured 4xx, nothing stored", async (_, headers, status, code) => {
    // Prepare
    const w = world();
    const before = w.effects();
    // Act
    const answer = await call(
      w.handler("add-task"),
      asApiGatewayPresents("POST /v1/tasks", { headers, body: ADD }),
    );
    // Assess
    expect(answer.status, JSON.stringify(answer.json)).toBe(status);
    expect(answer.json.error?.code).toBe(code);
    expect(w.effects()).toEqual(before);
  });

  it("a query on the add, repeated (`?x=1&x=2`): 400 naming it, nothing stored", async () => {
    const w = world();
    const before = w.effects();
    const event = asApiGatewayPresents("POST /v1/tasks", { headers: JSON_TYPE, query: "x=1&x=2", body: ADD });
    const answer = await call(w.handler("add-task"), event);
    expect(answer.status).toBe(400);
    expect(answer.json.error).toMatchObject({ code: "validation_failed", issues: [{ path: "x" }] });
    expect(w.effects()).toEqual(before);
  });

  it("a JSON body with a charset parameter is taken whether it arrives as text or base64-encoded", async () => {
    // API Gateway documents that a binary body arrives base64-encoded, not which types are binary: the add must
    // read `application/json; charset=utf-8` either way, keyed on the one key sent.
    for (const base64 of [false, true]) {
      const w = world();
      const event = asApiGatewayPresents("POST /v1/tasks", {
        headers: { "Content-Type": "application/json; charset=utf-8", "Idempotency-Key": "k-1" },
        body: ADD,
      });
      const sent = base64
        ? ({
            ...event,
            body: Buffer.from(ADD).toString("base64"),
            isBase64Encoded: true,
          } as APIGatewayProxyEventV2)
        : event;
      const answer = await call(w.handler("add-task"), sent);
      expect(answer.status, JSON.stringify(answer.json)).toBe(201);
      expect([...w.f.store.idempotency.keys()].join()).toContain("k-1");
      expect([...w.f.store.idempotency.keys()].join()).not.toContain(",");
    }
  });

  it("two Authorization headers reach no function on AWS (IAM or JWT refuses them first); one that did is not read", async () => {
    // API Gateway authorizes before it invokes: a SigV4 or JWT check of `a,b` fails (403/401). Our functions never
    // read Authorization, so even a joined one changes nothing the request does not say.
    const w = world();
    const event = asApiGatewayPresents("POST /v1/tasks", {
      headers: { ...JSON_TYPE, Authorization: ["AWS4-HMAC-SHA256 a", "AWS4-HMAC-SHA256 b"] },
      body: ADD,
    });
    const answer = await call(w.handler("add-task"), event);
    expect(answer.status).toBe(201);
    expect(w.f.store.tasks.size).toBeGreaterThan(0);
  });
});

describe("the lists and a group cancel as API Gateway presents repeated query keys", () => {
  it.each([
    ["list-tasks", "GET /v1/tasks", "topic=demo&status=failed&limit=5&limit=500", "limit"],
    ["list-tasks", "GET /v1/tasks", "topic=demo&status=failed&status=delivered", "status"],
    ["list-tasks", "GET /v1/tasks", "topic=demo&group=A-1&group=A-2", "group"],
    ["list-schedules", "GET /v1/schedules", "topic=demo&limit=5&limit=500", "limit"],
  ] as const)(
    "%s (%s) ?%s: 400 naming %s, not the comma-joined value",
    async (name, routeKey, query, repeated) => {
      const w = world();
      const answer = await call(w.handler(name), asApiGatewayPresents(routeKey, { query }));
      expect(answer.status).toBe(400);
      expect(answer.json.error).toMatchObject({
        code: "validation_failed",
        issues: [{ path: repeated, message: expect.stringContaining("more than once") }],
      });
    },
  );

  it("a group cancel with `?limit=5&limit=500`: 400, the group's task still scheduled", async () => {
    // Prepare
    const w = world();
    const task = makeTask({ topic: "demo", group: "A-1", dueAtMs: NOW + 60_000, acceptedAtMs: NOW - 1_000 });
    await w.f.store.putNew(task);
    const before = w.effects();
    // Act
    const event = asApiGatewayPresents(
      "POST /v1/topics/{topic}/groups/{value}/cancel",
      { query: "limit=5&limit=500" },
      { topic: "demo", value: "A-1" },
    );
    const answer = await call(w.handler("cancel-group"), event);
    // Assess
    expect(answer.status).toBe(400);
    expect(answer.json.error.issues).toEqual([
      { path: "limit", message: expect.stringContaining("more than once") },
    ]);
    expect(w.effects()).toEqual(before);
  });

  it("a read with a body API Gateway base64-encoded (application/octet-stream): 400, as the same body as text", async () => {
    const w = world();
    for (const headers of [
      { "Content-Type": "application/octet-stream" },
      { "Content-Type": "text/plain" },
    ]) {
      const event = asApiGatewayPresents("GET /v1/tasks", {
        headers,
        query: "topic=demo&status=failed",
        body: "x",
      });
      const answer = await call(w.handler("list-tasks"), event);
      expect(answer.status, JSON.stringify(headers)).toBe(400);
      expect(answer.json.error.code).toBe("validation_failed");
    }
  });
});
