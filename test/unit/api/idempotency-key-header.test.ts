/**
 * An `Idempotency-Key` header on a route that acts and keeps no key is a 400, not ignored: only an add (single or
 * a batch item's `idempotency_key`) is keyed. Ignored, the header makes a caller believe the call keyed and repeat it
 * after a lost answer: a replay repeated so is a second delivery. The batch and a schedule's create already refused
 * it (each with its own message); the client refuses the option on every route but addTask (client/client.ts).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { describe, expect, it } from "vitest";
import type { HttpHandler } from "#shared/api/http-route.js";
import { API_ROUTES } from "#shared/api/routes.js";
import { retentionExpiry } from "#shared/domain/task.js";
import { makeTask } from "../../support/factories.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { FakeTopicQueueStats, FakeTopicSwitch, topicMapping } from "../../support/fakes/topic-switch.js";
import { handlersOn, routeHandlerFactories } from "../../support/route-handlers.js";
import { fixture, NOW, silentLogger } from "./fakes.js";

const factories = routeHandlerFactories();

const context = {
  functionName: "punctual-test",
  awsRequestId: "req-key",
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

const QUEUE = "https://sqs.test/demo.fifo";

function world() {
  const f = fixture(NOW);
  const topicQueue = new FakeTopicQueue(() => NOW);
  const deps = {
    ...f.deps,
    logger: silentLogger(),
    topicQueue,
    topicQueues: { demo: QUEUE },
    topicSwitch: new FakeTopicSwitch(),
    queues: new FakeTopicQueueStats(),
    mappings: { demo: topicMapping("demo") },
  };
  const handler = handlersOn(factories, deps);
  return { f, topicQueue, handler };
}

/** The route key's path with every `{param}` given `value`, and those parameters. */
function request(
  routeKey: string,
  value: string,
  headers: Record<string, string>,
  body?: string,
): APIGatewayProxyEventV2 {
  const [method = "", path = ""] = routeKey.split(" ");
  const names = [...path.matchAll(/\{(\w+)\+?\}/g)].map((match) => match[1] as string);
  const pathParameters = Object.fromEntries(names.map((name) => [name, value]));
  return {
    version: "2.0",
    routeKey,
    rawPath: path,
    rawQueryString: "",
    headers,
    ...(names.length > 0 ? { pathParameters } : {}),
    requestContext: { http: { method, path } },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

async function call(handler: HttpHandler, event: APIGatewayProxyEventV2) {
  const result = (await handler(event, context)) as APIGatewayProxyStructuredResultV2;
  return { status: result.statusCode, json: JSON.parse(result.body ?? "{}") };
}

/** A delivered task of `demo`: replaying it delivers it again. */
async function deliveredTask(w: ReturnType<typeof world>) {
  const task = makeTask({ topic: "demo", group: "o-key", dueAtMs: NOW - 1_000, acceptedAtMs: NOW - 2_000 });
  await w.f.store.putNew(task);
  await w.f.store.startAttempt(task.taskId, NOW - 500);
  await w.f.store.markDelivered(task.taskId, {
    atMs: NOW - 400,
    latenessMs: 600,
    deliveryLatencyMs: 100,
    expiresAt: retentionExpiry(NOW - 400, 1),
  });
  return task;
}

describe("an Idempotency-Key header where no key is kept", () => {
  it("a replay with the header is a 400 naming it, nothing sent; without it, the task is replayed", async () => {
    // Prepare
    const w = world();
    const task = await deliveredTask(w);
    const before = structuredClone(await w.f.store.get(task.taskId));
    const replay = w.handler("replay-task");

    // Act
    const keyed = await call(
      replay,
      request("POST /v1/tasks/{id}/replay", task.taskId, { "idempotency-key": "replay-1" }),
    );

    // Assess
    expect(keyed.status).toBe(400);
    expect(keyed.json.error).toMatchObject({
      code: "validation_failed",
      issues: [{ path: "Idempotency-Key", message: "this route keeps no key: send none" }],
    });
    expect(w.topicQueue.enqueued).toEqual([]);
    expect(await w.f.store.get(task.taskId)).toEqual(before);
    const plain = await call(replay, request("POST /v1/tasks/{id}/replay", task.taskId, {}));
    expect(plain.status).toBe(202);
    expect(w.topicQueue.idsIn(QUEUE)).toEqual([task.taskId]);
  });

  it("every route that acts refuses it, before reading anything; only the single add takes it", async () => {
    const acting = API_ROUTES.filter((route) => !route.routeKey.startsWith("GET "));
    for (const route of acting) {
      // Prepare
      const w = world();
      const jsonRoute = [
        "POST /v1/tasks",
        "POST /v1/tasks/batch",
        "POST /v1/schedules",
        "PATCH /v1/tasks/{id}",
      ];
      const json = jsonRoute.includes(route.routeKey);
      const headers = { "idempotency-key": "k-1", ...(json ? { "content-type": "application/json" } : {}) };

      // Act
      const answer = await call(
        w.handler(route.name),
        request(route.routeKey, "demo", headers, json ? "{}" : undefined),
      );

      // Assess: the add refuses the empty body for its fields, not for the header.
      const headerIssue = (answer.json.error?.issues ?? []).some(
        (issue: { path: string }) => issue.path === "Idempotency-Key",
      );
      expect(answer.status, route.routeKey).toBe(400);
      expect(headerIssue, `${route.routeKey}: ${JSON.stringify(answer.json)}`).toBe(
        route.routeKey !== "POST /v1/tasks",
      );
    }
  });

  it("a read may carry it: GET routes answer as without it", async () => {
    // Prepare
    const w = world();
    const task = await deliveredTask(w);

    // Act
    const read = await call(
      w.handler("get-task"),
      request("GET /v1/tasks/{id}", task.taskId, { "idempotency-key": "k-1" }),
    );

    // Assess
    expect(read.status).toBe(200);
    expect(read.json.task_id).toBe(task.taskId);
  });
});
