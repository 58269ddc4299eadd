import { randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { TaskStore } from "#shared/adapters/task-store.js";
import { lambdaEventBytes, MAX_EVENT_BODY_BYTES } from "#shared/api/lambda-event-size.js";
import { MAX_REQUEST_BODY_BYTES } from "#shared/api/middleware/json-body.js";
import { IDEMPOTENCY_HEADER } from "#shared/domain/add-task-request.js";
import { API_FUNCTION_ENV } from "../../support/function-env.js";
import { fixture, silentLogger } from "./fakes.js";

const ENV_VARS = API_FUNCTION_ENV;

type Modules = {
  add: typeof import("#functions/add-task.js");
  batch: typeof import("#functions/add-tasks-batch.js");
  get: typeof import("#functions/get-task.js");
  cancel: typeof import("#functions/cancel-task.js");
  run: typeof import("#functions/run-task.js");
};
let fns: Modules;

function stubEnv(vars: Record<string, string | undefined>) {
  // An empty value is what requireEnv treats as missing.
  for (const [name, value] of Object.entries(vars)) vi.stubEnv(name, value ?? "");
}

beforeAll(async () => {
  stubEnv(ENV_VARS);
  fns = {
    add: await import("#functions/add-task.js"),
    batch: await import("#functions/add-tasks-batch.js"),
    get: await import("#functions/get-task.js"),
    cancel: await import("#functions/cancel-task.js"),
    run: await import("#functions/run-task.js"),
  };
  vi.unstubAllEnvs();
});

afterEach(() => vi.unstubAllEnvs());

const context = {
  functionName: "punctual-test",
  awsRequestId: "req-1",
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

function event(
  method: string,
  path: string,
  options: {
    headers?: Record<string, string>;
    body?: string;
    base64?: boolean;
    id?: string;
    query?: Record<string, string>;
  } = {},
): APIGatewayProxyEventV2 {
  return {
    version: "2.0",
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: new URLSearchParams(options.query ?? {}).toString(),
    ...(options.query ? { queryStringParameters: options.query } : {}),
    headers: options.headers ?? {},
    ...(options.id !== undefined ? { pathParameters: { id: options.id } } : {}),
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: "localhost",
      domainPrefix: "local",
      http: { method, path, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "vitest" },
      requestId: "r-1",
      routeKey: `${method} ${path}`,
      stage: "$default",
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    ...(options.body !== undefined ? { body: options.body } : {}),
    isBase64Encoded: options.base64 ?? false,
  };
}

const JSON_HEADERS = { "Content-Type": "application/json" };
const validBody = {
  topic: "demo",
  delay_seconds: 5,
  content: { order_id: "o-1" },
  callback: { url: "https://hooks.example.com/n" },
};

function setup(overrides: { store?: TaskStore } = {}) {
  const f = fixture(Date.now());
  const logger = silentLogger();
  const deps = { ...f.deps, ...(overrides.store ? { store: overrides.store } : {}), logger };
  return {
    f,
    logger,
    add: fns.add.createHandler(deps),
    get: fns.get.createHandler(deps),
    cancel: fns.cancel.createHandler(deps),
    run: fns.run.createHandler(deps),
  };
}

/** Adds `validBody` through the add handler; its parsed 201 answer. */
async function addValidTask(add: ReturnType<typeof setup>["add"]) {
  return parse(
    await add(
      event("POST", "/v1/tasks", { headers: JSON_HEADERS, body: JSON.stringify(validBody) }),
      context,
    ),
  );
}

function parse(result: APIGatewayProxyStructuredResultV2) {
  expect(result.headers?.["content-type"]).toBe("application/json");
  return JSON.parse(result.body ?? "") as {
    task_id: string;
    error?: Record<string, unknown>;
    [field: string]: unknown;
  };
}

describe("POST /v1/tasks", () => {
  it("creates a task: 201, JSON, Location", async () => {
    const { add, f } = setup();
    const result = await add(
      event("POST", "/v1/tasks", { headers: JSON_HEADERS, body: JSON.stringify(validBody) }),
      context,
    );
    expect(result.statusCode).toBe(201);
    const body = parse(result);
    expect(body).toMatchObject({ topic: "demo", status: "scheduled" });
    expect(result.headers?.location).toBe(`/v1/tasks/${encodeURIComponent(body.task_id)}`);
    expect(f.timerQueue.armed).toHaveLength(1);
  });

  it("publishes TasksAccepted (EMF, Topic + service) once per new task; not for a repeat nor a refusal", async () => {
    // Prepare
    const stdout = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const { Metrics } = await import("@aws-lambda-powertools/metrics");
    const f = fixture(Date.now());
    const add = fns.add.createHandler({
      ...f.deps,
      logger: silentLogger(),
      metrics: new Metrics({ namespace: "Punctual", serviceName: "punctual-local" }),
    });
    const keyed = { headers: { ...JSON_HEADERS, [IDEMPOTENCY_HEADER]: `k-${randomUUID()}` } };
    const body = JSON.stringify(validBody);
    // Act: a new task, its idempotent repeat (200), a refused request (400).
    const first = await add(event("POST", "/v1/tasks", { ...keyed, body }), context);
    const repeat = await add(event("POST", "/v1/tasks", { ...keyed, body }), context);
    const refused = await add(event("POST", "/v1/tasks", { headers: JSON_HEADERS, body: "{}" }), context);
    const emf = stdout.mock.calls
      .map(([chunk]) => String(chunk))
      .filter((line) => line.includes('"CloudWatchMetrics"'))
      .map((line) => JSON.parse(line));
    stdout.mockRestore();
    // Assess
    expect([first.statusCode, repeat.statusCode, refused.statusCode]).toEqual([201, 200, 400]);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ Topic: "demo", service: "punctual-local", TasksAccepted: 1 });
    expect(emf[0]._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: "Punctual",
      Dimensions: [expect.arrayContaining(["Topic", "service"])],
      Metrics: [{ Name: "TasksAccepted", Unit: "Count" }],
    });
  });

  it("a batch publishes TasksAccepted once per topic with its count of new tasks (201 items only)", async () => {
    // Prepare
    const stdout = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const { Metrics } = await import("@aws-lambda-powertools/metrics");
    const f = fixture(Date.now());
    const batch = fns.batch.createHandler({
      ...f.deps,
      logger: silentLogger(),
      metrics: new Metrics({ namespace: "Punctual", serviceName: "punctual-local" }),
    });
    const key = `k-${randomUUID()}`;
    const tasks = [
      { ...validBody, idempotency_key: key },
      { ...validBody, idempotency_key: key },
      { ...validBody, content: { order_id: "o-2" } },
      { topic: "demo" },
    ];
    // Act: two new tasks, a repeat of the first inside the batch (200), a refused item (400).
    const result = await batch(
      event("POST", "/v1/tasks/batch", { headers: JSON_HEADERS, body: JSON.stringify({ tasks }) }),
      context,
    );
    const emf = stdout.mock.calls
      .map(([chunk]) => String(chunk))
      .filter((line) => line.includes('"CloudWatchMetrics"'))
      .map((line) => JSON.parse(line));
    stdout.mockRestore();
    // Assess
    const { results } = JSON.parse(result.body ?? "{}") as { results: { status: number }[] };
    expect(results.map((r) => r.status).sort()).toEqual([200, 201, 201, 400]);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ Topic: "demo", service: "punctual-local", TasksAccepted: 2 });
  });

  it.each(["application/json; charset=utf-8", "Application/JSON", 'application/json;charset="UTF-8"'])(
    "accepts content-type %s",
    async (contentType) => {
      const { add } = setup();
      const result = await add(
        event("POST", "/v1/tasks", {
          headers: { "CONTENT-TYPE": contentType },
          body: JSON.stringify(validBody),
        }),
        context,
      );
      expect(result.statusCode).toBe(201);
    },
  );

  it.each([
    ["text/plain"],
    ["application/x-www-form-urlencoded"],
    ["application/json; charset=latin1"],
    ["application/jsonp"],
    [undefined],
  ])("answers 415 for content-type %s", async (contentType) => {
    const { add, f } = setup();
    const headers: Record<string, string> = contentType ? { "content-type": contentType } : {};
    const result = await add(
      event("POST", "/v1/tasks", { headers, body: JSON.stringify(validBody) }),
      context,
    );
    expect(result.statusCode).toBe(415);
    expect(parse(result).error).toMatchObject({ code: "unsupported_media_type" });
    expect(f.store.tasks.size).toBe(0);
  });

  it.each([["{"], ['{"topic": "demo",}'], ["nul"], ["   "], [""]])(
    "answers 400 invalid_json for %j",
    async (raw) => {
      const { add } = setup();
      const result = await add(event("POST", "/v1/tasks", { headers: JSON_HEADERS, body: raw }), context);
      expect(result.statusCode).toBe(400);
      const body = parse(result);
      expect(body.error).toMatchObject({ code: "invalid_json", message: expect.any(String) });
      expect(body.error?.issues).toEqual([{ path: "", message: expect.any(String) }]);
    },
  );

  it("answers 415, stores nothing, for a compressed body (gzip, as base64) or any content-encoding but identity", async () => {
    // Prepare
    const { add, f } = setup();
    const json = JSON.stringify(validBody);
    const sends = [
      { encoding: "gzip", body: gzipSync(json).toString("base64"), base64: true },
      { encoding: "br", body: json, base64: false },
      { encoding: "deflate, gzip", body: json, base64: false },
    ];

    // Act
    const results = await Promise.all(
      sends.map(({ encoding, body, base64 }) =>
        add(
          event("POST", "/v1/tasks", {
            headers: { ...JSON_HEADERS, "Content-Encoding": encoding },
            body,
            base64,
          }),
          context,
        ),
      ),
    );

    // Assess
    for (const result of results) {
      expect(result.statusCode).toBe(415);
      expect(parse(result).error).toMatchObject({
        code: "unsupported_media_type",
        message: expect.stringContaining("must not be compressed"),
      });
      expect(result.headers?.["accept-encoding"]).toBe("identity");
    }
    expect(f.store.tasks.size).toBe(0);
  });

  it("answers 400 invalid_json for a missing body", async () => {
    const { add } = setup();
    const result = await add(event("POST", "/v1/tasks", { headers: JSON_HEADERS }), context);
    expect(parse(result).error).toMatchObject({ code: "invalid_json" });
  });

  it("refuses a body above the hard cap with 413 before parsing it", async () => {
    const { add } = setup();
    const huge = `{"topic":"demo","content":"${"x".repeat(1024 * 1024)}"`; // not even valid JSON
    const result = await add(event("POST", "/v1/tasks", { headers: JSON_HEADERS, body: huge }), context);
    expect(result.statusCode).toBe(413);
    expect(parse(result).error).toMatchObject({ code: "payload_too_large" });
  });

  it("refuses with 413 a body under the byte cap whose escaped size would not fit Lambda's event, and writes nothing", async () => {
    // Prepare: 1,000,000 raw control characters (not valid JSON) are under the 1 MiB cap but take 6,000,000 bytes
    // once escaped into the event (\u0001 each): past Lambda's 6 MB, where AWS would fail the invocation (a bare
    // 500) before our code could answer the structured 4xx.
    const { f, add } = setup();
    const body = `{"topic":"demo","delay_seconds":1,"content":"${"\u0001".repeat(1_000_000)}"}`;
    expect(Buffer.byteLength(body)).toBeLessThan(MAX_REQUEST_BODY_BYTES);
    expect(lambdaEventBytes(body)).toBeGreaterThan(MAX_EVENT_BODY_BYTES);

    // Act
    const result = await add(event("POST", "/v1/tasks", { headers: JSON_HEADERS, body }), context);

    // Assess
    expect(result.statusCode).toBe(413);
    expect(parse(result).error).toMatchObject({ code: "payload_too_large" });
    expect(f.store.tasks.size).toBe(0);
  });

  it.each([
    [
      "content",
      `{"topic":"demo","delay_seconds":1,"content":{"a":${"[".repeat(200_000)}${"]".repeat(200_000)}}}`,
    ],
    [
      "an unknown field",
      `{"topic":"demo","delay_seconds":1,"content":{},"x":${"[".repeat(200_000)}${"]".repeat(200_000)}}`,
    ],
    ["the root", `${"[".repeat(200_000)}${"]".repeat(200_000)}`],
  ])("answers 400, not 500, for absurdly deep nesting in %s", async (_where, raw) => {
    const { add } = setup();
    const result = await add(event("POST", "/v1/tasks", { headers: JSON_HEADERS, body: raw }), context);
    expect(result.statusCode).toBe(400);
    expect(parse(result).error).toMatchObject({ code: "validation_failed" });
  });

  it("accepts a base64-encoded body", async () => {
    const { add } = setup();
    const body = Buffer.from(JSON.stringify(validBody)).toString("base64");
    const result = await add(
      event("POST", "/v1/tasks", { headers: JSON_HEADERS, body, base64: true }),
      context,
    );
    expect(result.statusCode).toBe(201);
  });

  it("answers 400 validation_failed with issue paths", async () => {
    const { add } = setup();
    const result = await add(
      event("POST", "/v1/tasks", { headers: JSON_HEADERS, body: JSON.stringify({ ...validBody, extra: 1 }) }),
      context,
    );
    expect(result.statusCode).toBe(400);
    expect(parse(result)).toEqual({
      error: {
        code: "validation_failed",
        message: expect.any(String),
        issues: [{ path: "extra", message: "unknown field" }],
      },
    });
  });

  it("answers 400 unknown_topic and 400 for a refused callback", async () => {
    const { add } = setup();
    const unknown = await add(
      event("POST", "/v1/tasks", {
        headers: JSON_HEADERS,
        body: JSON.stringify({ ...validBody, topic: "zzz" }),
      }),
      context,
    );
    expect(parse(unknown).error).toMatchObject({ code: "unknown_topic" });
    const ssrf = await add(
      event("POST", "/v1/tasks", {
        headers: JSON_HEADERS,
        body: JSON.stringify({ ...validBody, callback: { url: "http://169.254.169.254/latest" } }),
      }),
      context,
    );
    expect(ssrf.statusCode).toBe(400);
    expect(parse(ssrf).error?.issues).toEqual([{ path: "callback.url", message: expect.any(String) }]);
  });

  it("honours the Idempotency-Key header whatever its case", async () => {
    const { add } = setup();
    const send = (key: string, b: unknown) =>
      add(
        event("POST", "/v1/tasks", {
          headers: { ...JSON_HEADERS, "Idempotency-Key": key },
          body: JSON.stringify(b),
        }),
        context,
      );
    const first = await send("abc", validBody);
    const again = await send("abc", validBody);
    const different = await send("abc", { ...validBody, delay_seconds: 6 });
    expect([first.statusCode, again.statusCode, different.statusCode]).toEqual([201, 200, 409]);
    expect(parse(again).task_id).toBe(parse(first).task_id);
    expect(parse(different).error).toMatchObject({ code: "idempotency_conflict" });
  });

  it("answers 503 with Retry-After when the timer cannot be armed", async () => {
    const { add, f } = setup();
    f.timerQueue.failNext = 1;
    const result = await add(
      event("POST", "/v1/tasks", { headers: JSON_HEADERS, body: JSON.stringify(validBody) }),
      context,
    );
    expect(result.statusCode).toBe(503);
    expect(result.headers?.["retry-after"]).toBe("1");
    expect(parse(result).error).toMatchObject({ code: "service_unavailable" });
    expect(result.body).not.toContain("arn:aws");
  });

  it("turns an unexpected error into a generic 500: logged, never shown", async () => {
    const f = fixture();
    const secret = "table punctual-prod-tasks in arn:aws:dynamodb:eu-west-1:123456789012";
    const broken = Object.assign(Object.create(f.store), {
      claimIdempotencyKey: async () => {
        throw new Error(secret);
      },
      putNew: async () => {
        throw new TypeError(secret);
      },
    }) as TaskStore;
    const { add, logger } = setup({ store: broken });
    const errors = vi.spyOn(logger, "error");
    const result = await add(
      event("POST", "/v1/tasks", { headers: JSON_HEADERS, body: JSON.stringify(validBody) }),
      context,
    );
    expect(result.statusCode).toBe(500);
    expect(parse(result)).toEqual({ error: { code: "internal_error", message: expect.any(String) } });
    expect(result.body).not.toContain(secret);
    expect(result.body).not.toMatch(/\bat .*\.ts:\d+|TypeError|stack/);
    expect(errors).toHaveBeenCalledWith(
      "request failed: internal_error",
      expect.objectContaining({ message: secret }),
    );
  });

  it("answers 405 with Allow for another method", async () => {
    const { add } = setup();
    const result = await add(event("PUT", "/v1/tasks", { headers: JSON_HEADERS, body: "{}" }), context);
    expect(result.statusCode).toBe(405);
    expect(result.headers?.allow).toBe("POST");
    expect(parse(result).error).toMatchObject({ code: "method_not_allowed" });
  });
});

/**
 * An AWS call that never answers (a dropped connection: the SDK's own socket timeout is 5 minutes, far past the
 * function's) after the task was written. Left to the function's early timeout, the add answered "timed out" with
 * nothing cleaned up: a near-term task stayed `scheduled`, unarmed and outside the sweep index, never delivered
 * and never removed. The add gives such a call up in time to run its own clean-up, as for any failed call.
 */
describe("POST /v1/tasks: a timer call that hangs into the function's deadline", () => {
  const hangingArm = (f: ReturnType<typeof setup>["f"]) => {
    f.timerQueue.arm = () => new Promise<void>(() => undefined);
  };
  const nearDeadline = () => {
    const deadline = Date.now() + 2_700;
    return { ...context, getRemainingTimeInMillis: () => deadline - Date.now() } as Context;
  };

  it("without a key: answers the add's own 503 and removes the task", async () => {
    const { f, add } = setup();
    hangingArm(f);
    const res = await add(
      event("POST", "/v1/tasks", { headers: JSON_HEADERS, body: JSON.stringify(validBody) }),
      nearDeadline(),
    );
    expect(res.statusCode).toBe(503);
    expect(parse(res).error).toMatchObject({
      code: "service_unavailable",
      message: "could not arm the task's timer; the task was not accepted, retry the request",
    });
    expect(f.store.tasks.size).toBe(0);
  });

  it("with a key: answers 503 and hands the unarmed task to the sweeper", async () => {
    const { f, add } = setup();
    hangingArm(f);
    const res = await add(
      event("POST", "/v1/tasks", {
        headers: { ...JSON_HEADERS, [IDEMPOTENCY_HEADER]: `k-${randomUUID()}` },
        body: JSON.stringify(validBody),
      }),
      nearDeadline(),
    );
    expect(res.statusCode).toBe(503);
    const [kept] = [...f.store.tasks.values()];
    expect(kept).toMatchObject({ status: "scheduled", sweepShard: expect.any(Number) });
  });
});

describe("GET /v1/tasks/{id}", () => {
  it("returns the task, 404 for unknown or malformed ids, 404 without an id, 405 for POST", async () => {
    const { add, get } = setup();
    const created = await addValidTask(add);
    const found = await get(event("GET", "/v1/tasks/x", { id: created.task_id }), context);
    expect(found.statusCode).toBe(200);
    expect(parse(found)).toMatchObject({ task_id: created.task_id, status: "scheduled", attempts: 0 });

    for (const id of ["nope", `${created.task_id}x`]) {
      const missing = await get(event("GET", "/v1/tasks/x", { id }), context);
      expect(missing.statusCode).toBe(404);
      expect(parse(missing).error).toMatchObject({ code: "not_found" });
    }
    expect((await get(event("GET", "/v1/tasks/"), context)).statusCode).toBe(404);
    expect((await get(event("POST", "/v1/tasks/x", { id: created.task_id }), context)).statusCode).toBe(405);
  });

  it("answers a GET that carries a content-encoding header but no body as any GET", async () => {
    // Prepare
    const { add, get } = setup();
    const created = await addValidTask(add);

    // Act
    const found = await get(
      event("GET", "/v1/tasks/x", { id: created.task_id, headers: { "Content-Encoding": "gzip" } }),
      context,
    );

    // Assess
    expect(found.statusCode).toBe(200);
  });
  it("refuses a GET whose body says anything (400, as an unknown query parameter is); empty or {} pass", async () => {
    // Prepare: a read ignoring its body answers something else than asked, as one ignoring a query parameter would
    // (`GET /v1/destinations` with {"state":"open"} listing every circuit).
    const { add, get } = setup();
    const created = await addValidTask(add);
    const read = (body: string | undefined, headers: Record<string, string> = {}) =>
      get(
        event("GET", "/v1/tasks/x", {
          id: created.task_id,
          headers,
          ...(body === undefined ? {} : { body }),
        }),
        context,
      );

    // Act
    const refused = await read('{"include":"content"}', { "content-type": "application/json" });
    const passed = await Promise.all([read(undefined), read(""), read(" {} ")]);

    // Assess
    expect(refused.statusCode).toBe(400);
    expect(parse(refused).error).toMatchObject({
      code: "validation_failed",
      issues: [{ path: "", message: "this route takes no request body; send none" }],
    });
    expect(passed.map((r) => r.statusCode)).toEqual([200, 200, 200]);
  });
});

describe("DELETE /v1/tasks/{id}", () => {
  it("cancels (200), repeats (200), cancels a queued one (200), requests the cancel of one whose callback is in flight (202, twice), refuses a delivered one (409), 404 for unknown", async () => {
    const { add, cancel, f } = setup();
    const create = () => addValidTask(add);
    const a = await create();
    const first = await cancel(event("DELETE", "/v1/tasks/x", { id: a.task_id }), context);
    expect(first.statusCode).toBe(200);
    expect(parse(first)).toMatchObject({ status: "cancelled" });
    expect((await cancel(event("DELETE", "/v1/tasks/x", { id: a.task_id }), context)).statusCode).toBe(200);

    const q = await create();
    await f.store.markQueued(q.task_id, Date.now());
    const queued = await cancel(event("DELETE", "/v1/tasks/x", { id: q.task_id }), context);
    expect(queued.statusCode).toBe(200);
    expect(parse(queued)).toMatchObject({ status: "cancelled" });

    const b = await create();
    await f.store.markQueued(b.task_id, Date.now());
    const started = await f.store.startAttempt(b.task_id, Date.now());
    const requested = await cancel(event("DELETE", "/v1/tasks/x", { id: b.task_id }), context);
    expect(requested.statusCode).toBe(202);
    expect(parse(requested)).toMatchObject({ status: "delivering", cancel_requested: true });
    const repeated = await cancel(event("DELETE", "/v1/tasks/x", { id: b.task_id }), context);
    expect(repeated.statusCode).toBe(202);
    expect(parse(repeated)).toEqual(parse(requested));

    const d = await create();
    await f.store.markQueued(d.task_id, Date.now());
    const dStarted = await f.store.startAttempt(d.task_id, Date.now());
    await f.store.markDelivered(d.task_id, {
      atMs: Date.now(),
      latenessMs: 0,
      deliveryLatencyMs: 1,
      expiresAt: 9,
      attemptSeq: dStarted?.attemptSeq ?? 0,
    });
    const conflict = await cancel(event("DELETE", "/v1/tasks/x", { id: d.task_id }), context);
    expect(conflict.statusCode).toBe(409);
    expect(parse(conflict).error).toMatchObject({ code: "conflict", task_status: "delivered" });
    expect(started?.status).toBe("delivering");

    expect((await cancel(event("DELETE", "/v1/tasks/x", { id: "zzz" }), context)).statusCode).toBe(404);
  });

  it("cancels when the request carries a content-encoding header but no body", async () => {
    // Prepare
    const { add, cancel } = setup();
    const created = await addValidTask(add);

    // Act
    const result = await cancel(
      event("DELETE", "/v1/tasks/x", { id: created.task_id, headers: { "content-encoding": "gzip" } }),
      context,
    );

    // Assess
    expect(result.statusCode).toBe(200);
  });
});

describe("routes that act on one resource and take no query parameters", () => {
  // A careless caller's parameter (`?subscriber=` as the replay and list routes take it, `?delay_seconds=` as on
  // a PATCH) must not be ignored by a route that then acts on the whole task: 400 naming it, nothing changed.
  it.each([
    ["DELETE", "/v1/tasks/x", { subscriber: "audit" }],
    ["POST", "/v1/tasks/x/run", { delay_seconds: "90" }],
  ] as const)("%s %s with %j: 400 naming the parameter, the task untouched", async (method, path, query) => {
    const handlers = setup();
    const created = await addValidTask(handlers.add);
    const before = await handlers.f.store.get(created.task_id);
    const handler = method === "DELETE" ? handlers.cancel : handlers.run;

    const answer = await handler(event(method, path, { id: created.task_id, query }), context);

    expect(answer.statusCode).toBe(400);
    expect(parse(answer).error).toMatchObject({
      code: "validation_failed",
      issues: Object.keys(query).map((name) => ({ path: name, message: "unknown parameter" })),
    });
    expect(await handlers.f.store.get(created.task_id)).toEqual(before);
    expect(handlers.f.timerQueue.armed).toHaveLength(1);
  });
});

describe("cold start", () => {
  it("fails fast, naming every missing variable", async () => {
    vi.resetModules();
    stubEnv({ ...ENV_VARS, TABLE_NAME: undefined, SCHEDULER_ROLE_ARN: undefined });
    await expect(import("#functions/add-task.js")).rejects.toThrow(
      "missing environment variables: TABLE_NAME, SCHEDULER_ROLE_ARN",
    );
  });

  it("fails fast on an unknown environment", async () => {
    vi.resetModules();
    stubEnv({ ...ENV_VARS, PUNCTUAL_ENV: "nowhere" });
    await expect(import("#functions/get-task.js")).rejects.toThrow(/unknown environment/);
  });

  it("needs only its own variables", async () => {
    vi.resetModules();
    stubEnv({ PUNCTUAL_ENV: "local", TABLE_NAME: "t", SCHEDULE_GROUP_NAME: "g", AWS_REGION: "us-east-1" });
    await expect(import("#functions/cancel-task.js")).resolves.toHaveProperty("handler");
    await expect(import("#functions/get-task.js")).resolves.toHaveProperty("handler");
  });
});

describe("what the add route logs, through Powertools' own formatting at DEBUG", () => {
  const MARKED = {
    topic: "demo",
    delay_seconds: 5,
    content: { order_id: "SECRET-GROUP-VALUE", card: "4111-SECRET-CONTENT" },
    callback: { url: "https://hooks.example.com/n?token=SECRET-URL-TOKEN" },
  };
  const MARKED_HEADERS = {
    ...JSON_HEADERS,
    authorization: "Bearer SECRET-JWT",
    [IDEMPOTENCY_HEADER]: "SECRET-IDEMPOTENCY-KEY",
  };

  /** Every line the logger wrote (stdout and stderr), as written. */
  function capturedLines(): () => string {
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    return () => [...out.mock.calls, ...err.mock.calls].map(([chunk]) => String(chunk)).join("");
  }

  afterEach(() => vi.restoreAllMocks());

  it.each([
    [
      "the timer cannot be armed (503, the task removed)",
      503,
      (f: ReturnType<typeof fixture>) => {
        f.timerQueue.failNext = 1;
      },
    ],
    [
      "the task write fails (500)",
      500,
      (f: ReturnType<typeof fixture>) => {
        f.store.putNew = async () => {
          throw new TypeError("the write failed");
        };
      },
    ],
  ])(
    "when %s: ids and errors, never the content, group value, callback query, key or headers",
    async (_what, status, fail) => {
      // Prepare
      const lines = capturedLines();
      const f = fixture(Date.now());
      const logger = new Logger({ serviceName: "punctual-test", logLevel: "DEBUG" });
      const add = fns.add.createHandler({ ...f.deps, logger });
      fail(f);

      // Act
      const result = await add(
        event("POST", "/v1/tasks", { headers: MARKED_HEADERS, body: JSON.stringify(MARKED) }),
        context,
      );

      // Assess
      expect(result.statusCode).toBe(status);
      const logged = lines();
      expect(logged).toMatch(/"level":"ERROR"/);
      expect(logged).not.toMatch(/SECRET/);
    },
  );
});
