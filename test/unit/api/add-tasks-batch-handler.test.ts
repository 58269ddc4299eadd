import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { lambdaEventBytes, MAX_EVENT_BODY_BYTES } from "#shared/api/lambda-event-size.js";
import { MAX_REQUEST_BODY_BYTES } from "#shared/api/middleware/json-body.js";
import { MAX_BATCH_BODY_BYTES } from "#shared/api/schemas/batch.js";
import { API_FUNCTION_ENV } from "../../support/function-env.js";
import { fixture, silentLogger } from "./fakes.js";

let batch: typeof import("#functions/add-tasks-batch.js");

beforeAll(async () => {
  const vars = API_FUNCTION_ENV;
  for (const [name, value] of Object.entries(vars)) vi.stubEnv(name, value);
  batch = await import("#functions/add-tasks-batch.js");
  vi.unstubAllEnvs();
});

const context = { functionName: "t", awsRequestId: "r", getRemainingTimeInMillis: () => 10_000 } as Context;

function post(body: string): APIGatewayProxyEventV2 {
  return {
    version: "2.0",
    routeKey: "POST /v1/tasks/batch",
    rawPath: "/v1/tasks/batch",
    rawQueryString: "",
    headers: { "content-type": "application/json" },
    requestContext: { http: { method: "POST", path: "/v1/tasks/batch" } },
    body,
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

function setup() {
  const f = fixture(Date.now());
  return { f, handle: batch.createHandler({ ...f.deps, logger: silentLogger() }) };
}

const task = (content: Record<string, unknown>) => ({
  topic: "demo",
  delay_seconds: 5,
  content,
  callback: { url: "https://hooks.example.com/n" },
});

describe("POST /v1/tasks/batch", () => {
  it("takes a body above the single add's cap, up to the batch cap, and answers 200 with one result per item", async () => {
    const { f, handle } = setup();
    // 40 items of ~40 KB: over the single add's 1 MiB cap, under the batch's 4 MiB.
    const tasks = Array.from({ length: 40 }, (_, i) => task({ order_id: `o-${i}`, pad: "x".repeat(40_000) }));
    const body = JSON.stringify({ tasks });
    expect(Buffer.byteLength(body)).toBeGreaterThan(MAX_REQUEST_BODY_BYTES);
    const result = await handle(post(body), context);
    expect(result.statusCode).toBe(200);
    const answer = JSON.parse(result.body ?? "");
    expect(answer).toMatchObject({ added: 40, failed: 0 });
    expect(f.store.tasks.size).toBe(40);
  });

  it("refuses a body over the batch cap with 413 before parsing it, and writes nothing", async () => {
    const { f, handle } = setup();
    const result = await handle(post(`{"tasks":["${"x".repeat(MAX_BATCH_BODY_BYTES)}"`), context);
    expect(result.statusCode).toBe(413);
    expect(JSON.parse(result.body ?? "").error).toMatchObject({ code: "payload_too_large" });
    expect(f.store.tasks.size).toBe(0);
  });

  it("refuses with 413 a body under the byte cap whose escaped size would not fit Lambda's event, and writes nothing", async () => {
    // Prepare: content sent as a string of JSON text, quote-heavy: ~3 MiB of bytes (each quote written \"), twice
    // that once escaped into the event (\\\")
    const { f, handle } = setup();
    const quoted = JSON.stringify('"'.repeat(1.5 * 1024 * 1024));
    const body = `{"tasks":[{"topic":"demo","delay_seconds":90,"content":${quoted}}]}`;
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_BATCH_BODY_BYTES);
    expect(lambdaEventBytes(body)).toBeGreaterThan(MAX_EVENT_BODY_BYTES);

    // Act
    const result = await handle(post(body), context);

    // Assess
    expect(result.statusCode).toBe(413);
    expect(JSON.parse(result.body ?? "").error).toMatchObject({ code: "payload_too_large" });
    expect(f.store.tasks.size).toBe(0);
  });

  it("refuses an Idempotency-Key header with 400, adding nothing: ignored, a retry of the batch would add every item again", async () => {
    // Prepare: a caller who keys the request as a whole, as the single add allows
    const { f, handle } = setup();
    const body = JSON.stringify({ tasks: [task({ order_id: "o-1" }), task({ order_id: "o-2" })] });
    const keyed = (event: APIGatewayProxyEventV2) => ({
      ...event,
      headers: { ...event.headers, "idempotency-key": "batch-1" },
    });

    // Act: the request and its retry
    const first = await handle(keyed(post(body)), context);
    const retry = await handle(keyed(post(body)), context);

    // Assess
    for (const result of [first, retry]) {
      expect(result.statusCode).toBe(400);
      expect(JSON.parse(result.body ?? "").error).toMatchObject({
        code: "validation_failed",
        issues: [{ path: "Idempotency-Key" }],
      });
    }
    expect(f.store.tasks.size).toBe(0);
  });

  it("refuses a body that is not JSON with 400 invalid_json", async () => {
    const { handle } = setup();
    const result = await handle(post("{tasks:"), context);
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body ?? "").error).toMatchObject({ code: "invalid_json" });
  });
});

/**
 * A timer call that never answers (a dropped connection; the SDK's own socket timeout is 5 minutes) after the
 * batch's tasks were written. Left to the function's early timeout, the whole request answered "timed out" with
 * nothing cleaned up: its near-term tasks stayed `scheduled`, unarmed and outside the sweep index. The batch gives
 * such calls up in time to run each item's clean-up, as for any failed call, and answers per item.
 */
describe("POST /v1/tasks/batch: a timer call that hangs into the function's deadline", () => {
  it("answers each item 503 with its clean-up: removed without a key, handed to the sweeper with one", async () => {
    // Prepare: every timer call hangs; a group of two keyless items, a keyed one, a Scheduler-path one
    const { f, handle } = setup();
    f.timerQueue.arm = () => new Promise<void>(() => undefined);
    f.scheduler.createTaskSchedule = () => new Promise<void>(() => undefined);
    const deadline = Date.now() + 2_700;
    const nearDeadline = { ...context, getRemainingTimeInMillis: () => deadline - Date.now() } as Context;
    const tasks = [
      task({ order_id: "a" }),
      task({ order_id: "a", n: 2 }),
      { ...task({ order_id: "b" }), idempotency_key: "hung-1" },
      { ...task({ order_id: "c" }), delay_seconds: 3_600 },
    ];

    // Act
    const res = await handle(post(JSON.stringify({ tasks })), nearDeadline);

    // Assess
    expect(res.statusCode).toBe(200);
    const answer = JSON.parse(res.body ?? "") as { results: { status: number }[] };
    expect(answer.results.map((r) => r.status)).toEqual([503, 503, 503, 503]);
    const kept = [...f.store.tasks.values()];
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({
      idempotencyKey: "hung-1",
      status: "scheduled",
      sweepShard: expect.any(Number),
    });
  });
});
