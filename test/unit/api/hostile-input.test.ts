/**
 * Hostile input (issue 4, acceptance point 3): property-based tests over the three real middy handlers, built
 * with `createHandler` on the in-memory store and fake timer queue / scheduler (no SDK mocks).
 *
 * The properties, for every generated request:
 * - the response is a 2xx only where the input is actually valid, and otherwise a 4xx with the structured body
 *   `{"error":{"code","message",…}}` whose code matches its status; never a 5xx;
 * - the body is JSON (content-type application/json) and carries no stack trace, file path or `Error:` text;
 * - a non-2xx leaves the store exactly as it was (no task item, no idempotency item) and arms no timer;
 * - a 2xx has exactly the effects it claims (one task, one timer, the content as sent).
 *
 * Reproduce a failure with the seed (and path) fast-check prints: `FC_SEED=<seed> FC_PATH=<path> npx vitest run
 * test/unit/api/hostile-input.test.ts`. `FC_RUNS_SCALE=10` runs ten times as many cases; the seed is fixed unless `FC_SEED` is set (`random` for a new one each run:
 * test/support/fast-check-runs.ts) (a deeper soak).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import fc from "fast-check";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { HttpHandler } from "#shared/api/http-route.js";
import { parseAddTaskRequest } from "#shared/domain/add-task-request.js";
import {
  BODY_FIELDS,
  type Case,
  fieldsOf,
  idempotencyKey,
  jsonLeaf,
  jsonObjectText,
  plainValidReq,
  type Req,
  reqOf,
  storedContentOf,
  type ValidReq,
  validReq,
} from "../../support/arbitraries/add-task-request.js";
import {
  corruptedCase,
  deepCase,
  duplicateCase,
  exactNumberCase,
  headerCase,
  hugeCase,
  manyIssuesCase,
  methodCase,
  oddTimingCase,
  seedStyleCase,
  truncatedCase,
  unicodeCase,
  unknownFieldCase,
  unknownFieldRefusal,
  wrongTypeCase,
} from "../../support/arbitraries/hostile-posts.js";
import { ID_MUTATIONS, type IdMutation, idCase, isMethod } from "../../support/arbitraries/task-ids.js";
import { propertyRuns, propertyScale } from "../../support/fast-check-runs.js";
import { API_FUNCTION_ENV } from "../../support/function-env.js";
import { fixture, NOW, silentLogger, testConfig } from "./fakes.js";

// ---------------------------------------------------------------------------------------------------------
// Harness: the real handlers, fresh fakes per case, snapshots of every side effect.
// ---------------------------------------------------------------------------------------------------------

const ENV_VARS = API_FUNCTION_ENV;

type Modules = {
  add: typeof import("#functions/add-task.js");
  get: typeof import("#functions/get-task.js");
  cancel: typeof import("#functions/cancel-task.js");
};
let fns: Modules;

beforeAll(async () => {
  for (const [name, value] of Object.entries(ENV_VARS)) vi.stubEnv(name, value);
  fns = {
    add: await import("#functions/add-task.js"),
    get: await import("#functions/get-task.js"),
    cancel: await import("#functions/cancel-task.js"),
  };
  vi.unstubAllEnvs();
});

const runs = propertyRuns;

const logger = silentLogger();
const context = {
  functionName: "punctual-test",
  awsRequestId: "req-fc",
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

/** A topic with subscribers (docs/API.md "Fan-out"): a task added to it is a parent and one copy per subscriber. */
const FAN_OUT_TOPIC = "orders";
const SUBSCRIBERS = [
  { id: "billing", url: "https://billing.example.com/hook" },
  { id: "audit", url: "https://audit.example.com/hook" },
];

/** The handlers on fresh fakes; `fanOut` adds the fan-out topic to the configuration. */
function api(fanOut = false) {
  const f = fixture(NOW);
  const config = fanOut
    ? testConfig({ [FAN_OUT_TOPIC]: { deliverBy: "order_id", subscribers: SUBSCRIBERS } })
    : f.config;
  const deps = { ...f.deps, config, logger };
  return {
    f,
    add: fns.add.createHandler(deps),
    get: fns.get.createHandler(deps),
    cancel: fns.cancel.createHandler(deps),
  };
}
type Api = ReturnType<typeof api>;

/** Everything a request could have changed: the table (tasks and idempotency items) and every timer call. */
function snapshot(f: Api["f"]) {
  return structuredClone({
    tasks: [...f.store.tasks.entries()],
    idempotency: [...f.store.idempotency.entries()],
    armed: [...f.timerQueue.armed],
    schedulesCreated: [...f.scheduler.created],
    schedulesDeleted: [...f.scheduler.deleted],
  });
}
type Snapshot = ReturnType<typeof snapshot>;

/** A fresh event per call: middy's header normaliser rewrites `headers` in place. */
function makeEvent(req: Req): APIGatewayProxyEventV2 {
  const path = req.rawPath ?? "/v1/tasks";
  const http =
    req.method === undefined
      ? undefined
      : { method: req.method, path, protocol: "HTTP/1.1", sourceIp: "203.0.113.7", userAgent: "fast-check" };
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: path,
    rawQueryString: "",
    ...(req.headers !== undefined ? { headers: { ...req.headers } } : {}),
    ...(req.pathParameters !== undefined ? { pathParameters: { ...req.pathParameters } } : {}),
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: "localhost",
      domainPrefix: "local",
      ...(http ? { http } : {}),
      requestId: "r-fc",
      routeKey: "$default",
      stage: "$default",
      time: new Date(NOW).toISOString(),
      timeEpoch: NOW,
    },
    ...(req.body !== undefined ? { body: req.body } : {}),
    isBase64Encoded: req.base64 ?? false,
  } as APIGatewayProxyEventV2;
}

async function call(handler: HttpHandler, req: Req): Promise<APIGatewayProxyStructuredResultV2> {
  return (await handler(makeEvent(req), context)) as APIGatewayProxyStructuredResultV2;
}

const CODES_BY_STATUS: Readonly<Record<number, readonly string[]>> = {
  400: ["validation_failed", "unknown_topic", "invalid_json"],
  404: ["not_found"],
  405: ["method_not_allowed"],
  409: ["conflict", "idempotency_conflict"],
  413: ["payload_too_large"],
  415: ["unsupported_media_type"],
};

/** Internals that must never reach a client (unless the client sent that very text itself). */
const LEAK_PATTERNS: readonly RegExp[] = [
  /\n\s+at\s/,
  /\bat [^\s"]+ \([^)]*:\d+:\d+\)/,
  /\/work\//,
  /node_modules/,
  /file:\/\//,
  /\.[cm]?[jt]s:\d+/,
  /\b(?:Type|Syntax|Range|Reference|Internal|Aggregate)Error\b/,
  /\bError:/,
  /\bstack\b/i,
  /arn:aws/,
  /punctual-local-tasks/,
];

/** Far above any real answer (a task view is well under 8 KiB), far below Lambda's 6 MB response limit. */
const MAX_RESPONSE_BYTES = 32 * 1024;

interface ErrorShape {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly issues?: readonly { readonly path: string; readonly message: string }[];
    readonly [extra: string]: unknown;
  };
}

function requestText(req: Req): string {
  const decoded =
    req.base64 && req.body !== undefined ? Buffer.from(req.body, "base64").toString("utf8") : "";
  return `${JSON.stringify(req)}\n${req.body ?? ""}\n${decoded}`;
}

/**
 * The envelope every response must have. Returns the parsed body. For non-2xx also checks the error shape and
 * that the code belongs to the status.
 */
function checkEnvelope(res: APIGatewayProxyStructuredResultV2, req: Req): Record<string, unknown> {
  const status = res.statusCode ?? 0;
  const raw = res.body ?? "";
  const where = `status ${status}, body ${raw.slice(0, 500)}`;
  expect(status, where).toBeGreaterThanOrEqual(200);
  expect(status, where).toBeLessThan(500);
  expect(res.headers?.["content-type"], where).toBe("application/json");
  // Bounded whatever the request: Lambda refuses to return more than 6 MB (API Gateway then answers 500), and an
  // error body should not amplify the request that caused it.
  expect(Buffer.byteLength(raw), `response of ${raw.length} chars: ${raw.slice(0, 200)}`).toBeLessThanOrEqual(
    MAX_RESPONSE_BYTES,
  );
  const sent = requestText(req);
  for (const pattern of LEAK_PATTERNS) {
    if (pattern.test(raw)) expect(pattern.test(sent), `${pattern} leaked: ${where}`).toBe(true);
  }
  const body = JSON.parse(raw) as Record<string, unknown>;
  expect(typeof body, where).toBe("object");
  expect(body, where).not.toBeNull();
  if (status >= 300) {
    expect(Object.keys(CODES_BY_STATUS), where).toContain(String(status));
    expect(Object.keys(body), where).toEqual(["error"]);
    const { error } = body as unknown as ErrorShape;
    expect(CODES_BY_STATUS[status], where).toContain(error.code);
    expect(typeof error.message, where).toBe("string");
    expect(error.message.length, where).toBeGreaterThan(0);
    if (error.issues !== undefined) {
      expect(Array.isArray(error.issues), where).toBe(true);
      for (const issue of error.issues) {
        expect(typeof issue.path, where).toBe("string");
        expect(typeof issue.message, where).toBe("string");
      }
    }
    if (status === 405) expect(res.headers?.allow, where).toMatch(/^(GET|POST|DELETE)$/);
  }
  return body;
}

function issuesOf(body: Record<string, unknown>): readonly { path: string; message: string }[] {
  return (body as unknown as ErrorShape).error?.issues ?? [];
}

/** The prototype must come out of every case untouched (`__proto__` keys are data, never a prototype). */
const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();
function checkNoPollution(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_KEYS);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}

// ---------------------------------------------------------------------------------------------------------
// The POST runner (what a case expects is declared with the arbitraries, test/support/arbitraries/).
// ---------------------------------------------------------------------------------------------------------

const SEED_BODY = JSON.stringify({
  topic: "demo",
  delay_seconds: 30,
  content: { order_id: "seed" },
  callback: { url: "https://hooks.example.com/seed" },
});

/** A store that already holds one task and one idempotency item, so "unchanged" has something to guard. */
async function seededApi(): Promise<Api> {
  const h = api();
  const res = await call(h.add, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": "seed-key" },
    body: SEED_BODY,
  });
  expect(res.statusCode).toBe(201);
  return h;
}

function checkDue(body: Record<string, unknown>, dueMs: number): void {
  expect(body.due_at).toBe(new Date(Math.max(dueMs, NOW)).toISOString());
}

/** A 201 created exactly one task, exactly one timer for it, and maybe one idempotency item; nothing else. */
function checkCreated(before: Snapshot, after: Snapshot, taskId: string): void {
  const beforeIds = new Set(before.tasks.map(([id]) => id));
  const added = after.tasks.filter(([id]) => !beforeIds.has(id));
  expect(added.map(([id]) => id)).toEqual([taskId]);
  expect(after.tasks.filter(([id]) => beforeIds.has(id))).toEqual(before.tasks);
  const timers = [
    ...after.armed.slice(before.armed.length).map((a) => a.taskId),
    ...after.schedulesCreated.slice(before.schedulesCreated.length).map((s) => s.taskId),
  ];
  expect(timers).toEqual([taskId]);
  expect(after.armed.slice(0, before.armed.length)).toEqual(before.armed);
  expect(after.schedulesCreated.slice(0, before.schedulesCreated.length)).toEqual(before.schedulesCreated);
  expect(after.schedulesDeleted).toEqual(before.schedulesDeleted);
  const newClaims = after.idempotency.filter(([k]) => !before.idempotency.some(([b]) => b === k));
  expect(newClaims.length).toBeLessThanOrEqual(1);
  for (const [, claim] of newClaims) expect(claim.taskId).toBe(taskId);
  expect(after.idempotency.filter(([k]) => before.idempotency.some(([b]) => b === k))).toEqual(
    before.idempotency,
  );
}

async function runPostCase(c: Case): Promise<void> {
  const h = await seededApi();
  const before = snapshot(h.f);
  const res = await call(h.add, c.req);
  const body = checkEnvelope(res, c.req);
  const after = snapshot(h.f);
  const status = res.statusCode ?? 0;
  checkNoPollution();

  if (status >= 300) {
    expect(after, "a refused request changed the store or armed a timer").toEqual(before);
  } else if (status === 201) {
    checkCreated(before, after, String(body.task_id));
    const task = h.f.store.tasks.get(String(body.task_id));
    expect(task?.status).toBe("scheduled");
    expect(body).toMatchObject({ status: "scheduled", topic: task?.topic });
    // Whatever the spelling of the due time: never in the past, never beyond the topic's maxDelay.
    const due = Date.parse(String(body.due_at));
    expect(due).toBe(task?.dueAtMs);
    expect(due).toBeGreaterThanOrEqual(NOW);
    expect(due).toBeLessThanOrEqual(NOW + (task?.topic === "small" ? 3600 : 365 * 86_400) * 1000);
  } else {
    // 200 is only an idempotent replay of a task that already existed.
    expect(status).toBe(200);
    expect(before.tasks.some(([id]) => id === body.task_id)).toBe(true);
    expect(after.tasks.map(([id]) => id)).toEqual(before.tasks.map(([id]) => id));
  }

  const e = c.expect;
  if (e.kind === "valid") {
    expect(status, `valid input refused: ${res.body}`).toBe(201);
    const task = h.f.store.tasks.get(String(body.task_id));
    expect(task?.content).toBe(e.contentJson);
    expect(body.topic).toBe(e.topic);
    checkDue(body, e.dueMs);
  } else if (e.kind === "either") {
    if (status === 201 && e.callbackPrefix !== undefined) {
      expect(h.f.store.tasks.get(String(body.task_id))?.callbackUrl.startsWith(e.callbackPrefix)).toBe(true);
    }
  } else if (e.kind === "refused") {
    if (e.status === 0) expect(status, `ambiguous input accepted: ${res.body}`).toBeGreaterThanOrEqual(400);
    else expect(status, `invalid input accepted or wrongly refused: ${res.body}`).toBe(e.status);
    const { error } = body as unknown as ErrorShape;
    if (e.codes) expect(e.codes).toContain(error.code);
    if (e.issuePath !== undefined) {
      const want = e.issuePath;
      const hit = issuesOf(body).some(
        (i) =>
          (typeof want === "string" ? i.path === want : want.test(i.path)) &&
          (e.issueMessage === undefined || i.message === e.issueMessage),
      );
      expect(hit, `no issue at ${String(want)}: ${res.body}`).toBe(true);
    }
  }
}

const postProperty = (arb: fc.Arbitrary<Case>) => fc.asyncProperty(arb, runPostCase);

/**
 * Three tasks to aim at: scheduled on the queue, scheduled with a schedule, and queued with its attempt started; on
 * the fan-out topic (`fanOut`), three parents whose copies are so.
 */
async function seededTasks(
  h: Api,
  fanOut = false,
): Promise<{ queue: string; schedule: string; queued: string }> {
  const add = async (delay: number, order: string) => {
    const callback = { url: "https://hooks.example.com/n" };
    const res = await call(h.add, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        topic: fanOut ? FAN_OUT_TOPIC : "demo",
        delay_seconds: delay,
        content: { order_id: order },
        ...(fanOut ? {} : { callback }),
      }),
    });
    expect(res.statusCode).toBe(201);
    return String((JSON.parse(res.body ?? "{}") as { task_id: string }).task_id);
  };
  const ids = { queue: await add(10, "a"), schedule: await add(3000, "b"), queued: await add(20, "c") };
  // Its attempt started (a `queued` task alone is still cancellable): the DELETE this one meets is refused.
  const links = (await h.f.store.get(ids.queued))?.fanOut;
  for (const id of links ? links.map((l) => l.taskId) : [ids.queued]) {
    await h.f.store.markQueued(id, NOW);
    await h.f.store.startAttempt(id, NOW + 1);
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------------------
// The properties.
// ---------------------------------------------------------------------------------------------------------

/** Generous: the properties take a few seconds together, but the machine may be shared and busy. */
const TIMEOUT_MS = 60_000 * propertyScale();

describe("hostile input: POST /v1/tasks", { timeout: TIMEOUT_MS }, () => {
  it("valid requests get 201 with one stored task and one timer; a replay gets 200 and the same task", async () => {
    await fc.assert(
      fc.asyncProperty(validReq, fc.boolean(), async (v, altSpelling) => {
        const h = api();
        const req = reqOf(v);
        const res = await call(h.add, req);
        const body = checkEnvelope(res, req);
        expect(res.statusCode, res.body).toBe(201);
        const taskId = String(body.task_id);
        expect(body).toMatchObject({ topic: v.topic, status: "scheduled" });
        expect(res.headers?.location).toBe(`/v1/tasks/${encodeURIComponent(taskId)}`);
        checkDue(body, v.timing.dueMs);
        expect([...h.f.store.tasks.keys()]).toEqual([taskId]);
        const task = h.f.store.tasks.get(taskId);
        expect(task?.content).toBe(storedContentOf(v.contentText));
        expect(task?.status).toBe("scheduled");
        const timers = [
          ...h.f.timerQueue.armed.map((a) => a.taskId),
          ...h.f.scheduler.created.map((s) => s.taskId),
        ];
        expect(timers).toEqual([taskId]);
        expect(h.f.store.idempotency.size).toBe(v.key === undefined ? 0 : 1);

        // The same request again, maybe spelled differently (content as object vs string, the key in the other
        // place, other field order, other content-type spelling): the same task.
        const again: ValidReq = altSpelling
          ? {
              ...v,
              contentAsString: !v.contentAsString,
              keyIn: v.keyIn === "body" ? "header" : "body",
              ranks: [...v.ranks].reverse(),
              base64: !v.base64,
              contentType: "application/json; charset=utf-8",
            }
          : v;
        const replayReq = reqOf(again);
        const replay = await call(h.add, replayReq);
        const replayBody = checkEnvelope(replay, replayReq);
        if (v.key === undefined) {
          // No key, no idempotency: a second, distinct task.
          expect(replay.statusCode).toBe(201);
          expect(replayBody.task_id).not.toBe(taskId);
          expect(h.f.store.tasks.size).toBe(2);
          return;
        }
        expect(replay.statusCode, replay.body).toBe(200);
        expect(replayBody).toEqual(body);
        expect([...h.f.store.tasks.keys()]).toEqual([taskId]);
        expect(h.f.store.idempotency.size).toBe(1);
        // A replay of a still-scheduled task re-arms it (by design, in case the first arm was lost): same task only.
        const timersAfter = [
          ...h.f.timerQueue.armed.map((a) => a.taskId),
          ...h.f.scheduler.created.map((s) => s.taskId),
        ];
        expect(new Set(timersAfter)).toEqual(new Set([taskId]));

        // The same key with a different request on the same topic: 409 and nothing written.
        const before = snapshot(h.f);
        const changedReq = reqOf({ ...v, callbackUrl: "https://hooks.example.com/changed" });
        const conflict = await call(h.add, changedReq);
        const conflictBody = checkEnvelope(conflict, changedReq);
        expect(conflict.statusCode, conflict.body).toBe(409);
        expect((conflictBody as unknown as ErrorShape).error.code).toBe("idempotency_conflict");
        expect(snapshot(h.f)).toEqual(before);

        // The same key on another topic is another key (keys are scoped per topic): a new task, 201.
        const otherTopicReq = reqOf({
          ...v,
          topic: v.topic === "demo" ? "fallback" : "demo",
          callbackUrl: "https://hooks.example.com/changed",
        });
        const other = await call(h.add, otherTopicReq);
        const otherBody = checkEnvelope(other, otherTopicReq);
        expect(other.statusCode, other.body).toBe(201);
        expect(otherBody.task_id).not.toBe(taskId);
        checkCreated(before, snapshot(h.f), String(otherBody.task_id));
        checkNoPollution();
      }),
      runs(250),
    );
  });

  it("truncated and corrupted JSON: 400 invalid_json (or, if it still parses, a clean outcome)", async () => {
    await fc.assert(postProperty(fc.oneof(truncatedCase, corruptedCase)), runs(400));
  });

  it("wrong types, missing, doubled and unknown fields: 400 with an issue at the field", async () => {
    await fc.assert(postProperty(fc.oneof(wrongTypeCase, wrongTypeCase, unknownFieldCase)), runs(400));
  });

  // The key is the caller's: its issue names it cut to MAX_ECHOED_CHARS (shared/domain/echoed.ts), so a case
  // whose key ran past that expected the whole key (seed 260511629, path 361:0:…:37, FC_RUNS_SCALE=4).
  it("found: an unknown field whose key is longer than an answer echoes is named cut, ending in …", async () => {
    const key =
      "\u{10000}__proto__{{7*7}}../../etc/passwd\u{10000}../../etc/passwd\u{10000}\u{10000}prototype";
    const body = `{${JSON.stringify(key)}:{},"topic":"demo","due_at":"2026-11-23T12:00:00Z","content":{},"callback":{"url":"https://hooks.example.com"}}`;
    const c: Case = {
      label: "unknown field, long key",
      req: { method: "POST", headers: { "content-type": "application/json" }, body },
      expect: unknownFieldRefusal(key),
    };
    expect(c.expect).toMatchObject({ issuePath: `${key.slice(0, 63)}…` });
    await runPostCase(c);
  });

  it("huge bodies: 413 above the topic limit or the body cap, 201 below", async () => {
    await fc.assert(postProperty(hugeCase), runs(25));
  });

  it("many unknown members: 400 (or 413 above the cap) with a bounded error body", async () => {
    await fc.assert(postProperty(manyIssuesCase), runs(20));
  });

  it("deep nesting: fine in content up to 64 levels, 400 beyond and anywhere else", async () => {
    await fc.assert(postProperty(deepCase), runs(200));
  });

  it("odd unicode: NUL, RTL, zero-width, lone surrogates, emoji, invalid UTF-8", async () => {
    await fc.assert(postProperty(unicodeCase), runs(300));
  });

  it("odd due times and seed-style routing: never early, never late, never off the service's base URL", async () => {
    await fc.assert(postProperty(fc.oneof(oddTimingCase, seedStyleCase)), runs(200));
  });

  it("duplicate keys anywhere in the raw JSON: 400 naming where, nothing written", async () => {
    await fc.assert(postProperty(duplicateCase), runs(250));
  });

  it("number tokens in content: stored exactly as written (big, tiny, -0, 1.0, exponents), in both spellings", async () => {
    await fc.assert(postProperty(exactNumberCase), runs(200));
  });

  it("missing and conflicting headers, base64 mismatches", async () => {
    await fc.assert(postProperty(headerCase), runs(300));
  });

  it("odd methods and paths: 405 with Allow, nothing written", async () => {
    await fc.assert(postProperty(methodCase), runs(150));
  });

  it("a duplicate-key request claims no idempotency key: the plain request afterwards is the first, 201", async () => {
    await fc.assert(
      fc.asyncProperty(
        plainValidReq,
        idempotencyKey,
        fc.constantFrom(...BODY_FIELDS),
        jsonLeaf,
        async (v0, key, field, value) => {
          const v: ValidReq = { ...v0, key, keyIn: "body" };
          const h = api();
          const fields = fieldsOf(v);
          if (!fields.some(([n]) => n === field)) return;
          const dupReq: Req = {
            ...reqOf(v),
            body: jsonObjectText([[field, JSON.stringify(value)], ...fields]),
          };
          const first = await call(h.add, dupReq);
          checkEnvelope(first, dupReq);
          expect(first.statusCode, first.body).toBe(400);
          expect(h.f.store.idempotency.size).toBe(0);
          const plain = reqOf(v);
          const second = await call(h.add, plain);
          checkEnvelope(second, plain);
          expect(second.statusCode, second.body).toBe(201);
        },
      ),
      runs(100),
    );
  });
});

describe("hot code paths", () => {
  // Node 20's URL.canParse takes a V8 fast path once its call site is optimised, and that path misreads Latin-1
  // strings: `https://bücher.example` flips from parseable to not after a few thousand calls. A warm function
  // must judge the same URL the same way as a cold one.
  it("an IDN callback URL is still accepted after thousands of requests", () => {
    const body = {
      topic: "demo",
      delay_seconds: 1,
      content: {},
      callback: { url: "https://bücher.example/hook" },
    };
    for (let i = 0; i < 8000; i++) {
      const parsed = parseAddTaskRequest(i % 2 ? body : { ...body, callback: { url: "https://a.example/" } });
      if (!parsed.ok) expect.fail(`refused on call ${i}: ${JSON.stringify(parsed.issues)}`);
    }
  });
});

describe("hostile input: GET and DELETE /v1/tasks/{id}", { timeout: TIMEOUT_MS }, () => {
  it("odd ids, paths and methods: 404/405/409 and nothing touched, or the real task (plain or fan-out)", async () => {
    await fc.assert(
      // Split between plain tasks and fan-out parents (docs/API.md "Fan-out": a parent's cancel is its copies').
      fc.asyncProperty(idCase, fc.boolean(), async (c, fanOut) => {
        const h = api(fanOut);
        const ids = await seededTasks(h, fanOut);
        const realId = ids[c.target];
        let id: string;
        if (typeof c.id === "string") id = c.id;
        else {
          const [name, p, odd] = c.id;
          id = (ID_MUTATIONS[name] as IdMutation)(realId, p, odd);
        }
        const routeMethod = c.route === "get" ? "GET" : "DELETE";
        const method =
          c.method === "route"
            ? routeMethod
            : c.method === "route-lower"
              ? routeMethod.toLowerCase()
              : c.method === "route-mixed"
                ? routeMethod.charAt(0) + routeMethod.slice(1).toLowerCase()
                : c.method;
        const pathParameters: Record<string, string> | undefined =
          c.params === "id"
            ? { id }
            : c.params === "none"
              ? undefined
              : c.params === "empty-object"
                ? {}
                : c.params === "other-name"
                  ? { ID: id, taskId: id }
                  : { id, extra: "x" };
        const req: Req = {
          method,
          rawPath: c.rawPath,
          headers: c.headers,
          pathParameters,
          ...(c.body !== undefined ? { body: c.body } : {}),
        };
        const before = snapshot(h.f);
        const res = await call(c.route === "get" ? h.get : h.cancel, req);
        const body = checkEnvelope(res, req);
        const after = snapshot(h.f);
        checkNoPollution();
        const status = res.statusCode ?? 0;
        const givenId = pathParameters && "id" in pathParameters ? pathParameters.id : undefined;
        const known = Object.values(ids).find((real) => real === givenId);

        if (!isMethod(method, routeMethod)) {
          expect(status, res.body).toBe(405);
          expect(res.headers?.allow).toBe(routeMethod);
        } else if (givenId && c.body !== undefined && c.body.trim() !== "") {
          // Neither route takes a body: one that says anything is refused before the task is looked up, as a query
          // parameter is (shared/api/middleware/no-body.ts), rather than ignored while the task is cancelled or read.
          expect(status, res.body).toBe(400);
          expect((body as unknown as ErrorShape).error.code).toBe("validation_failed");
        } else if (known === undefined) {
          expect(status, res.body).toBe(404);
          expect((body as unknown as ErrorShape).error.code).toBe("not_found");
        } else if (c.route === "get") {
          expect(status).toBe(200);
          expect(body.task_id).toBe(known);
          expect(body).not.toHaveProperty("pk");
          expect(body).not.toHaveProperty("sk");
          expect(body).not.toHaveProperty("content");
        } else if (known === ids.queued) {
          expect(status).toBe(409);
          expect((body as unknown as ErrorShape).error).toMatchObject({
            code: "conflict",
            task_status: "delivering",
          });
        } else {
          expect(status).toBe(200);
          expect(body).toMatchObject({ task_id: known, status: "cancelled" });
          // Only that task (a parent: and its copies) changed, to cancelled; its schedules (a parent: its
          // copies') were deleted; nothing else.
          const lanes = [known, ...(h.f.store.tasks.get(known)?.fanOut ?? []).map((l) => l.taskId)];
          expect(after.tasks.filter(([tid]) => !lanes.includes(tid))).toEqual(
            before.tasks.filter(([tid]) => !lanes.includes(tid)),
          );
          for (const lane of lanes) expect(h.f.store.tasks.get(lane)?.status).toBe("cancelled");
          expect(after.idempotency).toEqual(before.idempotency);
          expect(after.armed).toEqual(before.armed);
          expect(after.schedulesCreated).toEqual(before.schedulesCreated);
          expect(after.schedulesDeleted.length - before.schedulesDeleted.length).toBe(
            known === ids.schedule ? (fanOut ? SUBSCRIBERS.length : 1) : 0,
          );
          return;
        }
        expect(after, "a GET or refused DELETE changed the store or a timer").toEqual(before);
      }),
      runs(400),
    );
  });
});
