/**
 * Hostile input over every route of the route table (shared/api/routes.ts): the properties of
 * hostile-input.test.ts (which goes deep on POST /v1/tasks and GET/DELETE /v1/tasks/{id}) for each route's real
 * middy handler, built with its `createHandler` from the table's `entry`, on the in-memory store and the fake
 * timer queue, scheduler, topic queues and topic switch (no SDK mocks).
 *
 * For every generated request (odd methods, path parameters, query strings, headers, bodies, base64 flags):
 * - never a 5xx; a 4xx has the structured body `{"error":{"code","message",…}}` whose code belongs to its status;
 * - the body is JSON (content-type application/json), bounded, with no stack trace, file path or `Error:` text;
 * - a request that is certainly invalid (wrong method, a path parameter naming nothing, a repeated or unknown
 *   query parameter, a forged cursor, malformed or wrong-typed JSON, …) is refused, never a 2xx;
 * - a non-2xx (and any GET) leaves the store, the timers, the topic queues and the topic switch exactly as they
 *   were; a 2xx of an add, cancel or replay has exactly the effects it claims (checkEffects).
 * Each case runs in one of two seeded worlds (split case by case, so the run's time stays): tasks on a plain topic,
 * or on a fan-out topic (docs/API.md "Fan-out": each task a parent and one copy per subscriber), where the oracle knows
 * fan-out's own answers (stateRules).
 * Every answer is also held to the published OpenAPI document (docs/openapi.json, checkDocumented): its status is
 * one the route's operation lists, its body validates against that response's schema, and an error's code is
 * named in that response's description, so a client generated from the document reads what the API answers.
 * A route the table gains without a spec below fails "every route is covered".
 *
 * Reproduce a failure with the seed (and path) fast-check prints: `FC_SEED=<seed> FC_PATH=<path> npx vitest run
 * test/unit/api/hostile-routes.test.ts`. `FC_RUNS_SCALE=10` runs ten times as many cases; the seed is fixed unless `FC_SEED` is set (`random` for a new one each run:
 * test/support/fast-check-runs.ts).
 */
import { isDeepStrictEqual } from "node:util";
import { gzipSync } from "node:zlib";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { HttpHandler } from "#shared/api/http-route.js";
import { MAX_REQUEST_BODY_BYTES } from "#shared/api/lambda-event-size.js";
import { API_ROUTE_KEYS, API_ROUTES, DEFAULT_ROUTE } from "#shared/api/routes.js";
import { MAX_BATCH_BODY_BYTES, MAX_BATCH_TASKS } from "#shared/api/schemas/batch.js";
import { retentionExpiry } from "#shared/domain/task.js";
import { type MaterializerRunDeps, runMaterializer } from "#shared/services/schedules/run.js";
import openApiDocument from "../../../docs/openapi.json" with { type: "json" };
import { type Case, plainValidReq, validCase } from "../../support/arbitraries/add-task-request.js";
import {
  exactNumberCase,
  oddTimingCase,
  unicodeCase,
  unknownFieldCase,
  wrongTypeCase,
} from "../../support/arbitraries/hostile-posts.js";
import {
  CONTENT_TYPES,
  forgedCursors,
  HOSTILE_CRONS,
  HOSTILE_TIMEZONES,
  ODD_NUMBER_TOKENS,
  ODD_TIMESTAMPS,
  type ParamPlan,
  PLAIN_PLAN,
  type QueryPlan,
  type RoutePlan,
  routePlan,
  type SchedulePlan,
  schedulePlan,
  WRONG_VALUES,
} from "../../support/arbitraries/hostile-routes.js";
import { ID_MUTATIONS, type IdMutation, isMethod } from "../../support/arbitraries/task-ids.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { FakeTopicQueueStats, FakeTopicSwitch, topicMapping } from "../../support/fakes/topic-switch.js";
import { propertyRuns, propertyScale } from "../../support/fast-check-runs.js";
import { OpenApiValidator } from "../../support/openapi-validator.js";
import { handlersOn, routeHandlerFactories } from "../../support/route-handlers.js";
import { fixture, NOW, silentLogger, testConfig } from "./fakes.js";

// ---------------------------------------------------------------------------------------------------------
// Harness: every route's handler from the table's entry, a seeded world per case, snapshots of every effect.
// ---------------------------------------------------------------------------------------------------------

const TOPICS = ["demo", "small", "fallback", "strict", "orders"] as const;
/**
 * The fan-out topic (docs/API.md "Fan-out"): a task added to it is a parent plus one copy per subscriber. Every route's
 * properties run in two worlds, split between them case by case: the plain one (tasks and schedules on `demo`)
 * and the fan-out one (the same on `orders`: parents, their copies' lanes, `?subscriber=`, the parent's cancel).
 */
const FAN_OUT_TOPIC = "orders";
const SUBSCRIBERS = [
  { id: "billing", url: "https://billing.example.com/hook" },
  { id: "audit", url: "https://audit.example.com/hook" },
] as const;
const SUBSCRIBER_IDS: readonly string[] = SUBSCRIBERS.map((sub) => sub.id);
const FLAVOURS = ["plain", "fan-out"] as const;
type Flavour = (typeof FLAVOURS)[number];
/** Which world a case runs in: shrinks to the plain one. */
const flavour = fc.constantFrom(...FLAVOURS);
const factories = routeHandlerFactories([...API_ROUTES, DEFAULT_ROUTE]);

const runs = propertyRuns;

const logger = silentLogger();
const context = {
  functionName: "punctual-test",
  awsRequestId: "req-fc",
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

function world() {
  const f = fixture(NOW);
  const config = testConfig({ [FAN_OUT_TOPIC]: { deliverBy: "order_id", subscribers: [...SUBSCRIBERS] } });
  const topicQueue = new FakeTopicQueue(() => NOW);
  const topicSwitch = new FakeTopicSwitch();
  const queues = new FakeTopicQueueStats();
  const mappings = Object.fromEntries(TOPICS.map((t) => [t, topicMapping(t)]));
  // A schedule's inline pass and the materializer report a failure here instead of failing the request.
  const scheduleErrors: unknown[] = [];
  const topicQueues = Object.fromEntries(TOPICS.map((t) => [t, topicMapping(t).queueUrl]));
  const deps = {
    ...f.deps,
    config,
    logger,
    topicQueue,
    topicSwitch,
    queues,
    mappings,
    topicQueues,
    routeKeys: API_ROUTE_KEYS,
    onMaterializeError: (_id: string, error: unknown) => scheduleErrors.push(error),
    onScheduleError: (_id: string, error: unknown) => scheduleErrors.push(error),
  };
  const handler = handlersOn(factories, deps);
  return { f, topicQueue, topicSwitch, handler, deps, scheduleErrors };
}
type World = ReturnType<typeof world>;

/** What the seeded world holds: the ids and names a valid request aims at. */
interface Seeds {
  readonly flavour: Flavour;
  /** The topic the tasks, schedules and host were seeded on: `demo`, or the fan-out topic. */
  readonly topic: string;
  /** In the fan-out world, parents: each state is its copies' (the failed one's: audit's failed, billing's delivered). */
  readonly tasks: { queue: string; schedule: string; queued: string; failed: string };
  /** Copies named by their own ids (fan-out world only): audit's of the first parent, and of the failed one. */
  readonly copies?: { readonly scheduled: string; readonly failed: string };
  readonly schedules: { active: string; paused: string };
  readonly host: string;
}

/** A valid add body on `topic`: a fan-out topic's task carries no callback (its subscribers are its callbacks). */
const TASK_BODY = (order: string, delay: number, topic = "demo") => ({
  topic,
  delay_seconds: delay,
  content: { order_id: order },
  ...(topic === FAN_OUT_TOPIC ? {} : { callback: { url: "https://hooks.example.com/n" } }),
});
const scheduleBody = (topic: string) => ({
  topic,
  cron: "0 0 1 1 *",
  timezone: "UTC",
  content: { order_id: "s" },
  ...(topic === FAN_OUT_TOPIC ? {} : { callback: { url: "https://hooks.example.com/s" } }),
});

async function ok(w: World, name: string, req: Req): Promise<Record<string, unknown>> {
  const res = await call(w.handler(name), req);
  expect(res.statusCode, `seeding ${name}: ${res.body}`).toBeLessThan(300);
  return JSON.parse(res.body ?? "{}") as Record<string, unknown>;
}

const jsonPost = (body: unknown, params?: Record<string, string>): Req => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
  ...(params ? { pathParameters: params } : {}),
});

/** A task's delivery tasks: a parent's copies by subscriber (in SUBSCRIBERS' order), a plain task itself. */
async function lanesOf(w: World, taskId: string): Promise<string[]> {
  const links = (await w.f.store.get(taskId))?.fanOut;
  return links ? SUBSCRIBER_IDS.map((id) => links.find((l) => l.subscriber === id)?.taskId ?? "") : [taskId];
}

/** A delivery task through its attempt to dead-lettered, or (`delivered`) to delivered. */
async function finish(w: World, taskId: string, outcome: "failed" | "delivered"): Promise<void> {
  const { store } = w.f;
  await store.markQueued(taskId, NOW);
  await store.startAttempt(taskId, NOW);
  const expiresAt = retentionExpiry(NOW, 1);
  if (outcome === "failed") await store.markFailed(taskId, { error: "HTTP 500", atMs: NOW, expiresAt });
  else await store.markDelivered(taskId, { atMs: NOW, latenessMs: 0, deliveryLatencyMs: 5, expiresAt });
}

/**
 * Four tasks (scheduled on the queue, scheduled with a schedule, queued, dead-lettered), two schedules and a host
 * with an open circuit, on `demo`; in the fan-out world the same on the fan-out topic, each task a parent whose
 * copies are in that state (the dead-lettered one's: audit's failed, billing's delivered).
 */
async function seeded(flavour: Flavour = "plain"): Promise<{ w: World; s: Seeds }> {
  const w = world();
  const topic = flavour === "fan-out" ? FAN_OUT_TOPIC : "demo";
  const add = async (order: string, delay: number) =>
    String((await ok(w, "add-task", jsonPost(TASK_BODY(order, delay, topic)))).task_id);
  const tasks = { queue: await add("a", 10), schedule: await add("b", 3000), queued: await add("c", 20) };
  const failed = await add("d", 30);
  for (const id of await lanesOf(w, tasks.queued)) await w.f.store.markQueued(id, NOW);
  const [first, second] = await lanesOf(w, failed);
  if (second === undefined) await finish(w, first as string, "failed");
  else {
    await finish(w, first as string, "delivered");
    await finish(w, second, "failed");
  }
  const copies =
    second === undefined
      ? undefined
      : { scheduled: (await lanesOf(w, tasks.queue))[1] as string, failed: second };
  const schedule = async () =>
    String((await ok(w, "create-schedule", jsonPost(scheduleBody(topic)))).schedule_id);
  const schedules = { active: await schedule(), paused: await schedule() };
  await ok(w, "pause-schedule", { method: "POST", pathParameters: { id: schedules.paused } });
  const host = flavour === "fan-out" ? "audit.example.com" : "hooks.example.com";
  await w.f.store.destinations.recordDestinationFailure(topic, host, NOW, "HTTP 500");
  await w.f.store.destinations.openCircuit(topic, host, NOW, NOW + 60_000);
  const s = { flavour, topic, tasks: { ...tasks, failed }, schedules, host };
  return { w, s: copies ? { ...s, copies } : s };
}

/** Everything a request could have changed. Reads (queue depths, the switch's state) are not effects. */
function snapshot(w: World) {
  const { store, timerQueue, scheduler } = w.f;
  return structuredClone({
    tasks: [...store.tasks.entries()],
    idempotency: [...store.idempotency.entries()],
    schedules: [...store.schedules.entries()],
    destinations: [...store.destinations.items.entries()],
    rates: [...store.destinations.rateCounts.entries()],
    armed: [...timerQueue.armed],
    schedulesCreated: [...scheduler.created],
    schedulesDeleted: [...scheduler.deleted],
    enqueued: [...w.topicQueue.enqueued],
    deadLetters: [...w.topicQueue.deadLetters],
    switches: [...w.topicSwitch.changes],
  });
}

interface Req {
  readonly method?: string | undefined;
  readonly rawPath?: string;
  readonly rawQuery?: string;
  readonly headers?: Record<string, string> | undefined;
  readonly body?: string | undefined;
  readonly base64?: boolean;
  readonly pathParameters?: Record<string, string> | undefined;
}

/** API Gateway's `queryStringParameters`: decoded keys, a repeated key's values joined with commas. */
function queryParameters(raw: string): Record<string, string> | undefined {
  if (raw === "") return undefined;
  const joined = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(raw)) joined.set(k, joined.has(k) ? `${joined.get(k)},${v}` : v);
  return Object.fromEntries(joined);
}

/** A fresh event per call: middy's header normaliser rewrites `headers` in place. */
function makeEvent(req: Req): APIGatewayProxyEventV2 {
  const path = req.rawPath ?? "/v1/x";
  const http =
    req.method === undefined
      ? undefined
      : { method: req.method, path, protocol: "HTTP/1.1", sourceIp: "203.0.113.7", userAgent: "fast-check" };
  const query = queryParameters(req.rawQuery ?? "");
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: path,
    rawQueryString: req.rawQuery ?? "",
    ...(query ? { queryStringParameters: query } : {}),
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

// ---------------------------------------------------------------------------------------------------------
// The envelope every answer must have.
// ---------------------------------------------------------------------------------------------------------

const CODES_BY_STATUS: Readonly<Record<number, readonly string[]>> = {
  400: [
    "validation_failed",
    "unknown_topic",
    "invalid_json",
    "fan_out_callback",
    "not_fan_out",
    "unknown_subscriber",
  ],
  404: ["not_found"],
  405: ["method_not_allowed"],
  409: ["conflict", "idempotency_conflict", "fan_out_unsupported"],
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

/** Far above any error body; a success answer (a list, the OpenAPI document) may be larger. */
const MAX_ERROR_BYTES = 32 * 1024;
const MAX_RESPONSE_BYTES = 1024 * 1024;

interface ErrorShape {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly issues?: readonly { readonly path: string; readonly message: string }[];
  };
}

function requestText(req: Req): string {
  const decoded =
    req.base64 && req.body !== undefined ? Buffer.from(req.body, "base64").toString("utf8") : "";
  return `${JSON.stringify(req)}\n${req.body ?? ""}\n${decoded}\n${decodeURIComponentSafe(req.rawQuery ?? "")}`;
}

function decodeURIComponentSafe(text: string): string {
  return [...new URLSearchParams(text)].map(([k, v]) => `${k}=${v}`).join("&");
}

function checkEnvelope(
  res: APIGatewayProxyStructuredResultV2,
  req: Req,
  openapi: boolean,
): Record<string, unknown> {
  const status = res.statusCode ?? 0;
  const raw = res.body ?? "";
  const where = `status ${status}, body ${raw.slice(0, 500)}`;
  expect(status, where).toBeGreaterThanOrEqual(200);
  expect(status, where).toBeLessThan(500);
  expect(res.headers?.["content-type"], where).toBe("application/json");
  const cap = status >= 300 ? MAX_ERROR_BYTES : MAX_RESPONSE_BYTES;
  expect(Buffer.byteLength(raw), `response of ${raw.length} chars: ${raw.slice(0, 200)}`).toBeLessThanOrEqual(
    cap,
  );
  // The OpenAPI document describes the API's errors in words; only its error answers are checked for leaks.
  if (!(openapi && status < 300)) {
    const sent = requestText(req);
    for (const pattern of LEAK_PATTERNS) {
      if (pattern.test(raw)) expect(pattern.test(sent), `${pattern} leaked: ${where}`).toBe(true);
    }
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
    for (const issue of error.issues ?? []) {
      expect(typeof issue.path, where).toBe("string");
      expect(typeof issue.message, where).toBe("string");
    }
    if (status === 405)
      expect(res.headers?.allow, where).toMatch(/^(GET|POST|PATCH|DELETE)(, (GET|POST|PATCH|DELETE))*$/);
  }
  return body;
}

const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();
function checkNoPollution(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_KEYS);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}

// ---------------------------------------------------------------------------------------------------------
// Per-route specs: what a valid request is, and what of it a plan may change without certainly breaking it.
// ---------------------------------------------------------------------------------------------------------

type Check = (value: string) => boolean | undefined;
interface QueryKey {
  readonly valid: (s: Seeds) => string;
  /** Whether a value is valid: true, false, or undefined (depends, not asserted). */
  readonly check?: Check;
}

interface RouteSpec {
  /** The query keys the route reads. */
  readonly query?: Readonly<Record<string, QueryKey>>;
  /** The query a valid request carries. */
  readonly baseQuery?: (s: Seeds) => Record<string, string>;
  /** Valid JSON bodies, for routes that take one (a plan picks one to start from). */
  readonly bodies?: (s: Seeds) => readonly Record<string, unknown>[];
  /** Values of the right type that may still be odd for a field (each may be refused or taken: never a 5xx). */
  readonly oddValues?: Readonly<Record<string, readonly unknown[]>>;
  /** Body fields that take any JSON value (content, the batch's items, checked one by one). */
  readonly openFields?: readonly string[];
  readonly maxBodyBytes?: number;
  /** Path parameters any non-empty value of which names a resource (a group value). */
  readonly openParams?: readonly string[];
  /** The valid request's statuses. */
  readonly okStatuses: readonly number[];
  /** Its statuses in the fan-out world, where they differ (a parent is never moved: docs/API.md "Fan-out"). */
  readonly fanOutStatuses?: readonly number[];
  /** Which seeded task the plain valid request names (default the first, scheduled on the queue). */
  readonly validPick?: number;
}

/** The demo topic's maxDelay (the test config leaves it at the default, a year). */
const DEMO_MAX_DELAY_MS = 365 * 86_400_000;

/** NOW plus that many seconds, as an RFC 3339 time. */
const iso = (seconds: number) => new Date(NOW + seconds * 1000).toISOString();

/** A number in a query string is taken only in plain decimal digits (no sign, space, leading zero, 0x, 1e2). */
const limitCheck =
  (max: number): Check =>
  (v) =>
    /^[1-9][0-9]*$/.test(v) && Number(v) <= max;
const knownTopic = (v: string): boolean => (TOPICS as readonly string[]).includes(v);
const forged: Check = () => false;

const SPECS: Readonly<Record<string, RouteSpec>> = {
  "add-task": {
    bodies: (s) => [
      TASK_BODY("z", 60, s.topic),
      { ...TASK_BODY("z", 60, s.topic), delay_seconds: undefined, due_at: iso(600) },
    ],
    openFields: ["content"],
    okStatuses: [201],
  },
  "add-tasks-batch": {
    bodies: (s) => [{ tasks: [TASK_BODY("y", 60, s.topic), TASK_BODY("z", 90, s.topic)] }],
    openFields: [],
    // Counts at the limit (MAX_BATCH_TASKS) and one past it, and items that are no add body at all.
    oddValues: {
      tasks: [
        [],
        Array.from({ length: MAX_BATCH_TASKS }, (_, i) => TASK_BODY(`b${i}`, 60 + i)),
        Array.from({ length: MAX_BATCH_TASKS + 1 }, (_, i) => TASK_BODY(`b${i}`, 60 + i)),
        Array.from({ length: MAX_BATCH_TASKS }, () => TASK_BODY("same", 60)),
        Array.from({ length: MAX_BATCH_TASKS }, () => ({})),
        [null],
        [[]],
        ["x"],
        [{}],
        [TASK_BODY("y", 60), null],
      ],
    },
    maxBodyBytes: MAX_BATCH_BODY_BYTES,
    okStatuses: [200, 201, 207],
  },
  "get-task": {
    query: { include: { valid: () => "content", check: (v) => v === "content" } },
    okStatuses: [200],
  },
  "cancel-task": { okStatuses: [200] },
  openapi: { okStatuses: [200] },
  "pause-topic": { okStatuses: [200] },
  "resume-topic": { okStatuses: [200] },
  "list-topics": { okStatuses: [200] },
  "get-topic": { okStatuses: [200] },
  "reschedule-task": {
    bodies: () => [{ delay_seconds: 600 }, { due_at: iso(900) }, { timing_moment: NOW / 1000 + 1200 }],
    oddValues: {
      // At the limits, a hair either side: the timer's horizon (300 s) and demo's maxDelay (a year).
      delay_seconds: [
        0,
        -0,
        0.5,
        1e-9,
        299.9995,
        300.0005,
        31_535_999.9995,
        31_536_000,
        31_536_000.0005,
        31_536_001,
        1e21,
        Number.MAX_SAFE_INTEGER,
      ],
      due_at: [...ODD_TIMESTAMPS, iso(31_536_000), new Date(NOW + 31_536_000_001).toISOString()],
      timing_moment: [
        0,
        1,
        NOW / 1000 - 1,
        NOW / 1000 - 0.0005,
        NOW / 1000 + 0.5,
        NOW / 1000 + 31_536_000,
        NOW / 1000 + 31_536_000.0005,
        253_402_300_799,
        8.64e12,
        1e21,
      ],
    },
    okStatuses: [200],
    fanOutStatuses: [409],
  },
  "run-task": { okStatuses: [200], fanOutStatuses: [409] },
  "cancel-group": {
    query: {
      group: { valid: () => "a" },
      limit: { valid: () => "10", check: limitCheck(1000) },
      cursor: { valid: () => "x", check: forged },
    },
    openParams: ["value"],
    okStatuses: [200],
  },
  "list-tasks": {
    baseQuery: (s) => ({ topic: s.topic, group: "a" }),
    query: {
      topic: { valid: (s) => s.topic, check: (v) => (knownTopic(v) ? undefined : false) },
      group: { valid: () => "a" },
      status: { valid: () => "failed" },
      limit: { valid: () => "10", check: limitCheck(100) },
      cursor: { valid: () => "x", check: forged },
      subscriber: { valid: () => "audit" },
    },
    okStatuses: [200],
  },
  "replay-task": {
    query: { subscriber: { valid: () => "audit" } },
    okStatuses: [202],
    validPick: 3,
  },
  "replay-topic": {
    oddValues: {
      task_ids: [
        [],
        [""],
        ["x".repeat(201)],
        Array.from({ length: 1001 }, (_, i) => `demo.x.0.${i}`),
        Array.from({ length: 1000 }, () => "demo._.0.00000000000000000000000000"),
        ["__proto__", "constructor"],
      ],
      error_contains: ["", "%", "\u0000", "x".repeat(201), "HTTP"],
      failed_after: ODD_TIMESTAMPS,
      failed_before: ODD_TIMESTAMPS,
      cursor: forgedCursors("demo", "demo#x"),
    },
    bodies: (s) => [
      { failed_after: iso(-60), failed_before: iso(60), error_contains: "HTTP", dry_run: false },
      { task_ids: [s.tasks.failed], dry_run: true },
      {},
    ],
    okStatuses: [200],
  },
  "create-schedule": {
    bodies: (s) => [
      scheduleBody(s.topic),
      {
        ...scheduleBody(s.topic),
        cron: "*/5 * * * *",
        deliver_by: "order_id",
        start_at: iso(-3600),
        end_at: iso(86_400),
      },
      { ...scheduleBody(s.topic), cron: "@daily", timezone: "Europe/Berlin", start_at: iso(3600) },
    ],
    openFields: ["content"],
    oddValues: {
      cron: HOSTILE_CRONS,
      timezone: HOSTILE_TIMEZONES,
      start_at: ODD_TIMESTAMPS,
      end_at: ODD_TIMESTAMPS,
      deliver_by: ["order_id", "", "__proto__", "content.order_id", "x".repeat(128)],
      callback: [{ url: "http://127.0.0.1/x" }, { url: "https://169.254.169.254/latest" }, { url: "" }, {}],
    },
    okStatuses: [201],
  },
  "get-schedule": { okStatuses: [200] },
  "list-schedules": {
    baseQuery: (s) => ({ topic: s.topic }),
    query: {
      topic: { valid: (s) => s.topic, check: (v) => (knownTopic(v) ? undefined : false) },
      limit: { valid: () => "10", check: limitCheck(100) },
      cursor: { valid: () => "x", check: forged },
    },
    okStatuses: [200],
  },
  "pause-schedule": { okStatuses: [200] },
  "resume-schedule": { okStatuses: [200] },
  "delete-schedule": { okStatuses: [200] },
  "list-destinations": {
    query: {
      limit: { valid: () => "10", check: limitCheck(100) },
      cursor: { valid: () => "x", check: forged },
      state: { valid: () => "open", check: (v) => (v === "open" || v === "closed" ? undefined : false) },
    },
    okStatuses: [200],
  },
  "reset-destination": {
    query: { topic: { valid: (s) => s.topic, check: (v) => (knownTopic(v) ? undefined : false) } },
    okStatuses: [200],
  },
};

type Route = (typeof API_ROUTES)[number];
const methodOf = (route: Route) => route.routeKey.split(" ")[0] as string;
const paramsOf = (route: Route) => [...route.routeKey.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);

/** Each path parameter's real values (what `pick` chooses from) and whether a value names something. */
function paramValues(
  route: Route,
  name: string,
  s: Seeds,
): { real: string[]; known: (v: string) => boolean } {
  const spec = SPECS[route.name];
  if (spec?.openParams?.includes(name)) return { real: ["a", "b", "c", "d"], known: (v) => v !== "" };
  // The seeded topic first: the plain request names it.
  if (name === "topic") return { real: [s.topic, ...TOPICS.filter((t) => t !== s.topic)], known: knownTopic };
  // Host names are case-insensitive, and a fully qualified name's trailing dot names the same host: the route
  // reads the host as a callback URL's is keyed (shared/domain/destination.ts), so every spelling finds it.
  if (name === "host") return { real: [s.host], known: (v) => v.toLowerCase().replace(/\.$/, "") === s.host };
  if (name === "id" && route.routeKey.includes("/v1/schedules/")) {
    const ids = Object.values(s.schedules);
    return { real: ids, known: (v) => ids.includes(v) };
  }
  if (name === "id") {
    const ids = [...Object.values(s.tasks), ...Object.values(s.copies ?? {})];
    // The route's own target first: the plain request names it.
    const pick = spec?.validPick ?? 0;
    return { real: [...ids.slice(pick), ...ids.slice(0, pick)], known: (v) => ids.includes(v) };
  }
  throw new Error(`route ${route.routeKey}: no values for path parameter {${name}}; add them to paramValues`);
}

function paramValue(plan: ParamPlan, real: readonly string[]): string {
  if (plan.kind === "hostile") return plan.value;
  const base = real[plan.pick % real.length] as string;
  if (plan.kind === "real") return base;
  return (ID_MUTATIONS[plan.mutation] as IdMutation)(base, plan.p, plan.odd);
}

// ---------------------------------------------------------------------------------------------------------
// From a plan to a request, and the reasons it must be refused.
// ---------------------------------------------------------------------------------------------------------

interface Built {
  readonly req: Req;
  /** Why the request must be refused (empty: it may succeed). */
  readonly refuse: string[];
  /** The exact status it must get, where one check alone decides. */
  readonly status?: number;
  /** The error codes that status may carry, where the one check says. */
  readonly codes?: readonly string[];
  /** The path parameters' values, as the route names them. */
  readonly values: Readonly<Record<string, string>>;
}

/** The segment as a client would send it (a lone surrogate, which no URL can hold, as is). */
function pathSegment(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return value;
  }
}

function buildParams(route: Route, plan: RoutePlan, s: Seeds, refuse: string[]) {
  const names = paramsOf(route);
  const values: Record<string, string> = {};
  names.forEach((name, i) => {
    const { real, known } = paramValues(route, name, s);
    const value = paramValue(plan.params[i] ?? { kind: "real", pick: 0 }, real);
    values[name] = value;
    if (!known(value))
      refuse.push(`path parameter ${name}=${JSON.stringify(value.slice(0, 40))} names nothing`);
  });
  let rawPath = route.routeKey.split(" ")[1] as string;
  for (const [name, value] of Object.entries(values))
    rawPath = rawPath.replace(`{${name}}`, pathSegment(value));
  if (names.length === 0) return { rawPath, values };
  switch (plan.paramShape) {
    case "none":
      refuse.push("no path parameters");
      return { rawPath, values };
    case "empty":
      refuse.push("empty path parameters");
      return { rawPath, values, pathParameters: {} };
    case "other-names":
      refuse.push("path parameters under other names");
      return {
        rawPath,
        values,
        pathParameters: Object.fromEntries(names.map((n) => [n.toUpperCase(), values[n] as string])),
      };
    case "extra":
      return { rawPath, values, pathParameters: { ...values, extra: "x" } };
    default:
      return { rawPath, values, pathParameters: values };
  }
}

/** The route's reading of a query key (own keys only: `__proto__` and `constructor` are keys like any other). */
function queryKeyOf(spec: RouteSpec, key: string): QueryKey | undefined {
  return spec.query && Object.hasOwn(spec.query, key) ? spec.query[key] : undefined;
}

function queryValueText(
  spec: RouteSpec,
  key: string,
  plan: QueryPlan["pairs"][number]["value"],
  s: Seeds,
): string {
  switch (plan.kind) {
    case "valid":
      return queryKeyOf(spec, key)?.valid(s) ?? "x";
    case "number":
      return plan.text;
    case "cursor": {
      const cursors = forgedCursors("demo", "demo#x");
      return cursors[plan.pick % cursors.length] as string;
    }
    default:
      return plan.text;
  }
}

function buildQuery(route: Route, plan: QueryPlan, s: Seeds, refuse: string[]): string {
  const spec = SPECS[route.name] as RouteSpec;
  const known = Object.keys(spec.query ?? {});
  const params = new URLSearchParams(spec.baseQuery?.(s) ?? {});
  for (const pair of plan.pairs) {
    const key =
      typeof pair.key === "number" ? (known[pair.key % Math.max(1, known.length)] ?? "foo") : pair.key;
    params.append(key, queryValueText(spec, key, pair.value, s));
  }
  const raw = [params.toString(), plan.raw].filter((part) => part !== "").join("&");
  // Every route refuses what it does not read: ignored, `?dry_run=true` or `?subscriber=…` would act on more than
  // the caller asked for, and a read would answer something else than asked (`GET /v1/destinations?topic=demo`
  // listing every topic's hosts, `?includes=content` no content).
  const seen = new Set<string>();
  for (const [key, value] of new URLSearchParams(raw)) {
    if (seen.has(key)) refuse.push(`query parameter ${JSON.stringify(key)} repeated`);
    seen.add(key);
    const read = queryKeyOf(spec, key);
    if (!read) refuse.push(`unknown query parameter ${JSON.stringify(key.slice(0, 40))}`);
    if (read?.check?.(value) === false) refuse.push(`query ${key}=${JSON.stringify(value.slice(0, 40))}`);
  }
  return raw;
}

const jsonType = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

/** The body text a plan makes of the route's valid body, and whether that text is certainly refused. */
function buildBody(spec: RouteSpec, plan: RoutePlan, s: Seeds, refuse: string[]): string | undefined {
  const bodies = spec.bodies?.(s) ?? [{}];
  const valid = JSON.parse(JSON.stringify(bodies[plan.variant % bodies.length])) as Record<string, unknown>;
  const fields = Object.keys(valid);
  const field = (i: number) => fields[i % Math.max(1, fields.length)] as string;
  const open = (name: string) => spec.openFields?.includes(name) ?? false;
  const text = JSON.stringify(valid);
  const withRaw = (name: string, token: string) =>
    `{${fields.map((f) => `${JSON.stringify(f)}:${f === name ? token : JSON.stringify(valid[f])}`).join(",")}}`;
  const edit = plan.body;
  switch (edit.kind) {
    case "valid":
      return text;
    case "none":
      refuse.push("no body");
      return undefined;
    case "truncated":
      refuse.push("truncated JSON");
      return text.slice(0, Math.floor(edit.p * text.length));
    case "garbage": {
      let parsed: unknown;
      try {
        parsed = JSON.parse(edit.text);
      } catch {
        parsed = undefined;
      }
      if (jsonType(parsed) !== "object") refuse.push("not a JSON object");
      return edit.text;
    }
    case "not-object":
      refuse.push("not a JSON object");
      return edit.text;
    case "wrong-type": {
      if (fields.length === 0) return text;
      const name = field(edit.field);
      const value = WRONG_VALUES[edit.value];
      if (!open(name) && jsonType(value) !== jsonType(valid[name])) refuse.push(`${name} of the wrong type`);
      return JSON.stringify({ ...valid, [name]: value });
    }
    case "unknown-field":
      refuse.push(`unknown field ${edit.name.slice(0, 20)}`);
      return `${text.slice(0, -1)}${fields.length ? "," : ""}${JSON.stringify(edit.name)}:1}`;
    case "duplicate-field": {
      if (fields.length === 0) return text;
      const name = field(edit.field);
      refuse.push(`${name} twice`);
      return `{${JSON.stringify(name)}:${JSON.stringify(valid[name])},${text.slice(1)}`;
    }
    case "odd-number": {
      if (fields.length === 0) return text;
      const name = field(edit.field);
      if (!open(name) && jsonType(valid[name]) !== "number") refuse.push(`${name} a number`);
      return withRaw(name, ODD_NUMBER_TOKENS[edit.token] as string);
    }
    case "odd-time": {
      if (fields.length === 0) return text;
      const name = field(edit.field);
      if (!open(name) && jsonType(valid[name]) !== "string") refuse.push(`${name} a string`);
      return withRaw(name, JSON.stringify(ODD_TIMESTAMPS[edit.time]));
    }
    case "huge": {
      // Whitespace after the value is still the valid body: refused only for its size.
      if (edit.bytes > (spec.maxBodyBytes ?? MAX_REQUEST_BODY_BYTES)) refuse.push(`${edit.bytes} bytes`);
      return text + " ".repeat(edit.bytes);
    }
    case "gzip":
      refuse.push("a gzip body");
      return text;
    case "odd-value": {
      const odd = Object.entries(spec.oddValues ?? {});
      if (odd.length === 0) return text;
      const [name, values] = odd[edit.field % odd.length] as [string, readonly unknown[]];
      return JSON.stringify({ ...valid, [name]: values[edit.value % values.length] });
    }
  }
}

function buildHeaders(plan: RoutePlan["headers"], takesJson: boolean, refuse: string[]) {
  if (plan.noHeaders) {
    if (takesJson) refuse.push("no content-type");
    return undefined;
  }
  const headers: Record<string, string> = { ...plan.extra };
  delete headers["content-type"];
  const type = plan.contentType === undefined ? undefined : CONTENT_TYPES[plan.contentType];
  if (type !== undefined) headers["content-type"] = type;
  if (
    takesJson &&
    !["application/json", "application/json; charset=utf-8", "APPLICATION/JSON"].includes(type ?? "")
  )
    refuse.push(`content-type ${type}`);
  if (plan.conflictingSpelling && type !== undefined) {
    headers["Content-Type"] = type === "text/plain" ? "application/json" : "text/plain";
    refuse.push("two content-types");
  }
  if (plan.contentEncoding !== undefined) headers["content-encoding"] = plan.contentEncoding;
  return headers;
}

/** The routes that read the `Idempotency-Key` header themselves (`idempotencyKey: true` in their httpRoute). */
const READS_KEY_HEADER: ReadonlySet<string> = new Set(["add-task", "add-tasks-batch", "create-schedule"]);

function build(route: Route, plan: RoutePlan, s: Seeds): Built {
  const spec = SPECS[route.name] as RouteSpec;
  const refuse: string[] = [];
  const routeMethod = methodOf(route);
  const method =
    plan.method === "route"
      ? routeMethod
      : plan.method === "lower"
        ? routeMethod.toLowerCase()
        : plan.method === "none"
          ? undefined
          : plan.method;
  const wrongMethod = !isMethod(method, routeMethod);
  if (wrongMethod) refuse.push(`method ${JSON.stringify(method)}`);
  const { rawPath, values, pathParameters } = buildParams(route, plan, s, refuse);
  const rawQuery = buildQuery(route, plan.query, s, refuse);
  const takesJson = spec.bodies !== undefined;
  // A route that acts and keeps no key refuses an `Idempotency-Key` header before reading anything (its body too:
  // shared/api/middleware/no-idempotency-key.ts); the adds and a schedule's create read the header themselves.
  const headerKey = !plan.headers.noHeaders && plan.headers.extra["idempotency-key"] !== undefined;
  if (headerKey && !wrongMethod && routeMethod !== "GET" && !READS_KEY_HEADER.has(route.name))
    refuse.push("an Idempotency-Key header on a route that keeps no key");
  // Refusals decided before the body is looked at (method, path, query, key header): a 415 for a compressed body
  // comes after.
  const early = refuse.length;
  const bodyRefusals: string[] = [];
  let body = buildBody(spec, plan, s, bodyRefusals);
  let headers = buildHeaders(plan.headers, takesJson && body !== undefined, bodyRefusals);
  let base64 = false;
  if (plan.body.kind === "gzip" && body !== undefined) {
    body = gzipSync(body).toString("base64");
    base64 = true;
    headers = { ...headers, "content-encoding": "gzip" };
  } else if (plan.base64 === true && body !== undefined) {
    body = Buffer.from(body, "utf8").toString("base64");
    base64 = true;
  } else if (plan.base64 === "lie") base64 = true;
  if (takesJson && plan.base64 !== "lie") refuse.push(...bodyRefusals);
  // A route that takes no body (a read too) refuses one that says anything, as it refuses a query parameter:
  // ignored, `POST …/run` with {"delay_seconds":90} would run the task now, and `GET /v1/destinations` with
  // {"state":"open"} list every circuit. Empty, or `{}`, says nothing.
  const sent = body === undefined ? "" : base64 ? Buffer.from(body, "base64").toString("latin1") : body;
  if (!takesJson && !/^\s*(\{\s*\})?\s*$/.test(sent)) refuse.push("a body on a route that takes none");
  const conflict = headers?.["Content-Type"] !== undefined;
  if (!(takesJson && plan.base64 !== "lie") && conflict) refuse.push("two content-types");
  // A JSON route takes no compressed body: any content-encoding but identity is a 415 before the body is read,
  // whatever the body (none, valid, gzip, garbage) — so where nothing earlier refuses, the status is exactly 415.
  const encoding = headers?.["content-encoding"];
  const compressed =
    takesJson &&
    encoding?.split(",").some((coding) => !["", "identity"].includes(coding.trim().toLowerCase()));
  if (compressed) refuse.push(`content-encoding ${encoding}`);
  const exact = wrongMethod && !conflict ? 405 : compressed && early === 0 && !conflict ? 415 : undefined;
  // What the seeded tasks' state and fan-out decide: where it is the one reason, its status (and codes) too.
  const rules = stateRules(route, plan, { values, rawQuery, sent }, s);
  const decided = refuse.length === 0 && rules.length === 1 ? rules[0] : undefined;
  refuse.push(...rules.map((rule) => rule.reason));
  const req: Req = {
    method,
    rawPath,
    rawQuery,
    headers,
    pathParameters,
    ...(body !== undefined ? { body } : {}),
    base64,
  };
  if (exact !== undefined) return { req, refuse, values, status: exact };
  if (decided?.status !== undefined)
    return { req, refuse, values, status: decided.status, codes: decided.codes };
  return { req, refuse, values };
}

/** A reason a request is refused that the seeded world decides, with its status and codes where it alone decides. */
interface Rule {
  readonly reason: string;
  readonly status?: number;
  readonly codes?: readonly string[];
}

/** The seeded ids that are fan-out tasks: the parents and the copies named by their own ids (none in the plain world). */
function fanOutIds(s: Seeds): string[] {
  return s.copies ? [...Object.values(s.tasks), ...Object.values(s.copies)] : [];
}

/** A `subscriber` query value the schema takes (1–64 characters); another is `validation_failed` first. */
const subscriberShaped = (v: string) => v.length >= 1 && v.length <= 64;

/**
 * What the seeded world decides of a request the checks above may let through (docs/API.md "Fan-out", "Find and
 * replay", "cancel"): a fan-out task or copy is never rescheduled or run (409 `fan_out_unsupported`); a parent
 * whose copies have all moved on is not cancelled (409, and its cancel changes nothing); only a finished task, or
 * a parent with a finished copy, is replayed; `?subscriber=` names one of a fan-out task's (or topic's, with a
 * group) subscribers; a task on a fan-out topic carries no callback.
 */
function stateRules(
  route: Route,
  plan: RoutePlan,
  sent: { values: Readonly<Record<string, string>>; rawQuery: string; sent: string },
  s: Seeds,
): Rule[] {
  const id = sent.values.id ?? "";
  const query = new URLSearchParams(sent.rawQuery);
  switch (route.name) {
    case "run-task":
    case "reschedule-task": {
      if (!fanOutIds(s).includes(id)) return [];
      // A reschedule's odd bodies (and a valid one sent as base64 that is none) may be refused for their own sake first.
      const decides = route.name === "run-task" || (plan.body.kind === "valid" && plan.base64 !== "lie");
      const reason = "a fan-out task or copy is never moved";
      return [decides ? { reason, status: 409, codes: ["fan_out_unsupported"] } : { reason }];
    }
    case "replay-task":
      return replayRules(id, query, s);
    case "list-tasks":
      return laneRules(query);
    case "add-task":
    case "create-schedule":
      return plan.base64 !== "lie" && fanOutCallback(sent.sent)
        ? [
            {
              reason: "a callback on a fan-out topic",
              status: 400,
              codes: ["fan_out_callback", "validation_failed"],
            },
          ]
        : [];
    default:
      return [];
  }
}

function replayRules(id: string, query: URLSearchParams, s: Seeds): Rule[] {
  const subscriber = query.get("subscriber");
  const known = [...Object.values(s.tasks), ...Object.values(s.copies ?? {})].includes(id);
  if (!known) return [];
  if (subscriber !== null) {
    const shaped = subscriberShaped(subscriber);
    if (!s.copies || !Object.values(s.tasks).includes(id))
      return [
        {
          reason: "?subscriber= on a task that is not fan-out",
          status: 400,
          codes: [shaped ? "not_fan_out" : "validation_failed"],
        },
      ];
    if (!SUBSCRIBER_IDS.includes(subscriber))
      return [
        {
          reason: "?subscriber= naming none of the task's subscribers",
          status: 400,
          codes: [shaped ? "unknown_subscriber" : "validation_failed"],
        },
      ];
  }
  // Finished: the dead-lettered task (a parent: audit's copy failed, billing's delivered), and its failed copy.
  const finished = [s.tasks.failed, ...(s.copies ? [s.copies.failed] : [])];
  return finished.includes(id)
    ? []
    : [{ reason: "nothing of it is finished", status: 409, codes: ["conflict"] }];
}

function laneRules(query: URLSearchParams): Rule[] {
  const subscriber = query.get("subscriber");
  if (subscriber === null) return [];
  if (query.get("topic") !== FAN_OUT_TOPIC)
    return [{ reason: "?subscriber= on a topic without subscribers" }];
  if (!SUBSCRIBER_IDS.includes(subscriber)) return [{ reason: "?subscriber= naming none of the topic's" }];
  if (!query.has("group")) return [{ reason: "?subscriber= without its group" }];
  return [];
}

/** Whether a body is a JSON object for the fan-out topic that names a callback. */
function fanOutCallback(text: string): boolean {
  try {
    const body = JSON.parse(text) as unknown;
    if (jsonType(body) !== "object") return false;
    const fields = body as Record<string, unknown>;
    return fields.topic === FAN_OUT_TOPIC && fields.callback !== undefined;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The runner.
// ---------------------------------------------------------------------------------------------------------

const openApi = new OpenApiValidator();

/**
 * The answer as the OpenAPI document promises it (test/support/openapi-validator.ts, which the e2e tests use too): a
 * status the operation lists, a body its response schema takes; and an error code its description names.
 */
function checkDocumented(route: Route, res: APIGatewayProxyStructuredResultV2): void {
  const [method = "", path = ""] = route.routeKey.split(" ");
  const status = res.statusCode ?? 0;
  const where = `${route.routeKey} answered ${status} ${res.body?.slice(0, 300)}`;
  // The route key's own path: the operation is the route's, whatever path the hostile request spelled.
  expect(openApi.problems(method, path, status, res.body ?? ""), where).toEqual([]);
  if (status >= 300) {
    const { error } = JSON.parse(res.body ?? "") as ErrorShape;
    const response = openApiDocument.paths[path as keyof typeof openApiDocument.paths] as Record<
      string,
      { responses: Record<string, { description: string }> }
    >;
    const description = response[method.toLowerCase()]?.responses[String(status)]?.description;
    expect(description, `an error code the document does not name: ${where}`).toContain(error.code);
  }
}

/** One case: every check above; answers the status, for a table of cases that knows it. */
async function runCase(route: Route, plan: RoutePlan, flavour: Flavour = "plain"): Promise<number> {
  const { w, s } = await seeded(flavour);
  const { req, refuse, status: exact, codes, values } = build(route, plan, s);
  const before = snapshot(w);
  const res = await call(w.handler(route.name), req);
  const body = checkEnvelope(res, req, route.name === "openapi");
  checkDocumented(route, res);
  const after = snapshot(w);
  checkNoPollution();
  const status = res.statusCode ?? 0;
  const why = `${refuse.join("; ")} → ${status} ${res.body?.slice(0, 300)}`;
  if (refuse.length > 0) expect(status, `accepted: ${why}`).toBeGreaterThanOrEqual(400);
  if (exact !== undefined) expect(status, why).toBe(exact);
  if (exact === 405) expect(res.headers?.allow).toBe(methodOf(route));
  if (exact === 415) expect(res.headers?.["accept-encoding"], why).toBe("identity");
  if (codes !== undefined) expect(codes, why).toContain((body as unknown as ErrorShape).error.code);
  // A fan-out task is never moved, whatever else is wrong with the request: its 409 says why.
  if (
    status === 409 &&
    ["run-task", "reschedule-task"].includes(route.name) &&
    fanOutIds(s).includes(values.id ?? "")
  )
    expect((body as unknown as ErrorShape).error.code, why).toBe("fan_out_unsupported");
  if (status >= 300 || methodOf(route) === "GET") {
    expect(after, `${status}: the store, a timer, a queue or the switch changed: ${why}`).toEqual(before);
  }
  if (status === 404) expect((body as unknown as ErrorShape).error.code).toBe("not_found");
  // However the new time is spelt, a task moved is due from now to the topic's maxDelay (the seeded tasks' demo).
  if (route.name === "reschedule-task" && status < 300) {
    const due = Date.parse(String(body.due_at));
    expect(due, why).toBeGreaterThanOrEqual(NOW);
    expect(due, why).toBeLessThanOrEqual(NOW + DEMO_MAX_DELAY_MS);
  }
  if (status < 300)
    checkEffects(route.name, {
      id: values.id ?? "",
      query: new URLSearchParams(req.rawQuery ?? ""),
      body,
      before,
      after,
      why,
    });
  // A create or resume answers even when its inline pass failed: a failure there is a defect all the same.
  expect(w.scheduleErrors.map(String), why).toEqual([]);
  return status;
}

type Snapshot = ReturnType<typeof snapshot>;

/** The tasks a request wrote, added or removed. */
function changedTasks(before: Snapshot, after: Snapshot): string[] {
  const was = new Map(before.tasks);
  const now = new Map(after.tasks);
  return [...new Set([...was.keys(), ...now.keys()])].filter(
    (id) => !isDeepStrictEqual(was.get(id), now.get(id)),
  );
}

const sorted = (ids: Iterable<string>) => [...ids].sort();

/** The ids a snapshot's new entries name: timers armed (queue or Scheduler), messages sent to a topic queue. */
function armedSince(before: Snapshot, after: Snapshot): string[] {
  const queue = after.armed.slice(before.armed.length).map((a) => a.taskId);
  return [...queue, ...after.schedulesCreated.slice(before.schedulesCreated.length).map((c) => c.taskId)];
}
const sentSince = (before: Snapshot, after: Snapshot) =>
  after.enqueued.slice(before.enqueued.length).map((m) => m.taskId);

interface Answered {
  readonly id: string;
  readonly query: URLSearchParams;
  readonly body: Record<string, unknown>;
  readonly before: Snapshot;
  readonly after: Snapshot;
  readonly why: string;
}

/**
 * A 2xx has exactly the effects it claims, a fan-out task's through its copies (docs/API.md "Fan-out"): an add writes
 * the task (a parent and one copy per subscriber) and arms each delivery task once, never a parent; a cancel
 * touches the task (a parent and its copies that had not started) and nothing else; a replay queues and sends
 * exactly the finished tasks it names (one subscriber's copy, or a parent's finished copies: nobody else is called
 * again); a bulk replay only tasks that were dead-lettered; a parent's view lists its subscribers' copies.
 */
function checkEffects(route: string, a: Answered): void {
  const changed = changedTasks(a.before, a.after);
  const was = new Map(a.before.tasks);
  const now = new Map(a.after.tasks);
  switch (route) {
    case "add-task": {
      const id = String(a.body.task_id);
      const copies = (a.body.subscribers as { id: string; task_id: string }[] | undefined) ?? [];
      expect(
        copies.map((c) => c.id),
        a.why,
      ).toEqual(a.body.topic === FAN_OUT_TOPIC ? SUBSCRIBER_IDS : []);
      const deliveries = copies.length > 0 ? copies.map((c) => c.task_id) : [id];
      expect(sorted(changed), a.why).toEqual(sorted(new Set([id, ...deliveries])));
      for (const copy of copies) expect(now.get(copy.task_id)?.parentTaskId, a.why).toBe(id);
      expect(sorted(armedSince(a.before, a.after)), a.why).toEqual(sorted(deliveries));
      return;
    }
    case "cancel-task": {
      const lanes = (was.get(a.id)?.fanOut ?? []).map((l) => l.taskId);
      expect(
        changed.every((id) => id === a.id || lanes.includes(id)),
        a.why,
      ).toBe(true);
      // A parent's DELETE cancels its copies waiting for their attempt and discards its dead-lettered ones (out of
      // the dead-letter list), as DELETE of each copy's own id would; a delivered one goes on as it is.
      for (const lane of lanes) {
        const ends = ["scheduled", "queued", "failed"].includes(String(was.get(lane)?.status));
        expect(now.get(lane)?.status, a.why).toBe(ends ? "cancelled" : was.get(lane)?.status);
        if (ends) expect(now.get(lane)?.failedTopic, a.why).toBeUndefined();
      }
      return;
    }
    case "replay-task": {
      const lanes = was.get(a.id)?.fanOut;
      const subscriber = a.query.get("subscriber");
      const finished = (id: string) => ["failed", "delivered"].includes(String(was.get(id)?.status));
      const replayed = !lanes
        ? [a.id]
        : lanes.filter((l) => (subscriber === null ? finished(l.taskId) : l.subscriber === subscriber));
      const ids = replayed.map((r) => (typeof r === "string" ? r : r.taskId));
      expect(sorted(changed), a.why).toEqual(sorted(ids));
      for (const id of ids) expect(now.get(id)?.status, a.why).toBe("queued");
      expect(sorted(sentSince(a.before, a.after)), a.why).toEqual(sorted(ids));
      return;
    }
    case "replay-topic": {
      for (const id of changed) {
        expect(was.get(id)?.status, a.why).toBe("failed");
        expect(now.get(id)?.status, a.why).toBe("queued");
      }
      expect(sorted(sentSince(a.before, a.after)), a.why).toEqual(sorted(changed));
      return;
    }
    case "get-task": {
      const task = was.get(a.id);
      if (task?.fanOut) {
        const rows = a.body.subscribers as { id: string; task_id: string }[];
        expect(
          rows.map((r) => [r.id, r.task_id]),
          a.why,
        ).toEqual(task.fanOut.map((l) => [l.subscriber, l.taskId]));
        expect(a.body.callback_url, a.why).toBe("");
      }
      if (task?.parentTaskId) {
        expect(a.body.parent_task_id, a.why).toBe(task.parentTaskId);
        expect(a.body.subscriber, a.why).toBe(task.subscriber);
      }
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// What the properties found, each kept as the request fast-check shrank it to (the seed and path of the run that
// found it in the comment: `FC_SEED=… FC_PATH=…` replays it with the generator of that commit).
// ---------------------------------------------------------------------------------------------------------

/** The plain request plus `?foo=x`: a parameter the route does not read. */
const UNREAD_QUERY: RoutePlan = {
  ...PLAIN_PLAN,
  query: { pairs: [{ key: "foo", value: { kind: "valid" } }], raw: "" },
};

const FOUND: readonly { readonly route: string; readonly found: string; readonly plan: RoutePlan }[] = [
  // Routes that change something ignored a query parameter they do not read, and acted: a caller narrowing the
  // action (`POST /v1/topics/demo/replay?dry_run=true`, `DELETE /v1/schedules/{id}?topic=…`) got it done in full.
  { route: "add-task", found: "seed -722297757, path 9:0", plan: UNREAD_QUERY },
  { route: "add-tasks-batch", found: "seed -1552694139, path 26:0:0", plan: UNREAD_QUERY },
  { route: "reschedule-task", found: "seed 1042814329, path 116:0:0:0:0:0", plan: UNREAD_QUERY },
  { route: "replay-topic", found: "seed -925397954, path 6:0:0:0:0:0", plan: UNREAD_QUERY },
  { route: "create-schedule", found: "seed 1507523955, path 45:0:0", plan: UNREAD_QUERY },
  { route: "pause-schedule", found: "seed -628122470, path 1:0:0:0", plan: UNREAD_QUERY },
  { route: "resume-schedule", found: "seed 1832316245, path 0:0:0:0:0", plan: UNREAD_QUERY },
  {
    route: "delete-schedule",
    found: "seed -1819637894, path 7:0:0:0:0:0:0:0:0:0:0:0:0:0:0",
    plan: UNREAD_QUERY,
  }, // A task replay took any query key besides `subscriber` and ignored it (`?subscribers=audit`, a typo, replayed
  // every subscriber's copy).
  { route: "replay-task", found: "by the rule above, probed directly", plan: UNREAD_QUERY },
  // Routes that act and take no body ignored one and acted in full: DELETE /v1/tasks/{id} with
  // {"subscriber":"audit"} cancelled every copy, POST …/run with {"delay_seconds":90} ran the task now.
  ...(
    [
      ["cancel-task", "seed -1196285591, path 4"],
      ["run-task", "seed -484395714, path 5:0:0"],
      ["pause-topic", "seed -656993931, path 17:0:0"],
      ["resume-topic", "seed -313409005, path 15"],
      ["cancel-group", "seed 835163551, path 22:0:0:0:0:0:0:0:0:0"],
      ["replay-task", "seed -1744622173"],
      ["pause-schedule", "seed -888875831, path 16:0"],
      ["resume-schedule", "seed -1046172601, path 11"],
      ["delete-schedule", "seed 1093438685, path 7"],
      ["reset-destination", "seed 142672230, path 14:0"],
    ] as const
  ).map(([route, found]) => ({
    route,
    found,
    plan: { ...PLAIN_PLAN, body: { kind: "garbage" as const, text: '{"subscriber":"audit"}' } },
  })),
  // A schedule whose cron was an ISO date (croner takes one as a run-once job, so validation passed) answered 500:
  // every occurrence computation then read it as a pattern and threw.
  {
    route: "create-schedule",
    found: "seed 1364605729, path 17:1",
    plan: { ...PLAIN_PLAN, body: { kind: "odd-time", field: 1, time: 0 } },
  },
  // The host's trailing-dot spelling names the same destination (as its callback URLs are keyed): the oracle took
  // only a case change for the same host and called the reset's 200 a wrong acceptance (probed directly, with the
  // host near-misses added to the hostile path segments).
  {
    route: "reset-destination",
    found: "probed directly",
    plan: { ...PLAIN_PLAN, params: [{ kind: "hostile", value: "hooks.example.com." }] },
  },
  // A bulk replay whose body was JSON `null` read it as `{}`, no filter: every dead-lettered task of the topic
  // replayed, 200 (FC_RUNS_SCALE=8).
  {
    route: "replay-topic",
    found: "seed 1355855545, path 404:1:1",
    plan: { ...PLAIN_PLAN, body: { kind: "not-object", text: "null" } },
  },
];

/**
 * The plain request aimed at the route's `pick`th seeded task, in paramValues' order (the fan-out world's ids:
 * the parents queue, schedule, queued, failed, then audit's scheduled and failed copies; a replay's list starts
 * at the failed parent), with these query parameters.
 */
const aimed = (pick: number, query: Record<string, string> = {}): RoutePlan => ({
  ...PLAIN_PLAN,
  params: [{ kind: "real", pick }, PLAIN_PLAN.params[1] as ParamPlan],
  query: {
    pairs: Object.entries(query).map(([key, text]) => ({ key, value: { kind: "odd", text } })),
    raw: "",
  },
});

/**
 * Fan-out's own paths, each once in every run (a property reaches some only now and then): the answer's status,
 * and through runCase its effects (checkEffects) and its refusals' codes (stateRules).
 */
const FAN_OUT_CASES: readonly {
  readonly route: string;
  readonly what: string;
  readonly plan: RoutePlan;
  readonly status: number;
}[] = [
  {
    route: "replay-task",
    what: "?subscriber=audit: only audit's failed copy",
    plan: aimed(0, { subscriber: "audit" }),
    status: 202,
  },
  {
    route: "replay-task",
    what: "?subscriber=billing: only billing's delivered copy",
    plan: aimed(0, { subscriber: "billing" }),
    status: 202,
  },
  { route: "replay-task", what: "no subscriber: every finished copy", plan: aimed(0), status: 202 },
  {
    route: "replay-task",
    what: "a subscriber the task does not have",
    plan: aimed(0, { subscriber: "search" }),
    status: 400,
  },
  {
    route: "replay-task",
    what: "?subscriber= on a copy's own id",
    plan: aimed(2, { subscriber: "audit" }),
    status: 400,
  },
  { route: "replay-task", what: "a failed copy by its own id", plan: aimed(2), status: 202 },
  {
    route: "replay-task",
    what: "?subscriber=audit, its copy still scheduled",
    plan: aimed(3, { subscriber: "audit" }),
    status: 409,
  },
  { route: "replay-task", what: "no copy finished", plan: aimed(5), status: 409 },
  { route: "cancel-task", what: "a parent and its scheduled copies", plan: aimed(0), status: 200 },
  { route: "cancel-task", what: "a parent and its queued copies", plan: aimed(2), status: 200 },
  {
    route: "cancel-task",
    what: "a parent whose copies all finished: its dead-lettered copy discarded",
    plan: aimed(3),
    status: 200,
  },
  { route: "cancel-task", what: "a scheduled copy by its own id", plan: aimed(4), status: 200 },
  {
    route: "cancel-task",
    what: "a dead-lettered copy by its own id: discarded",
    plan: aimed(5),
    status: 200,
  },
  { route: "run-task", what: "a parent", plan: aimed(0), status: 409 },
  { route: "run-task", what: "a copy", plan: aimed(4), status: 409 },
  { route: "reschedule-task", what: "a finished parent", plan: aimed(3), status: 409 },
  { route: "reschedule-task", what: "a copy", plan: aimed(5), status: 409 },
  { route: "get-task", what: "a parent's view", plan: aimed(3), status: 200 },
  { route: "get-task", what: "a copy's view", plan: aimed(4), status: 200 },
  { route: "list-tasks", what: "a subscriber's lane", plan: aimed(0, { subscriber: "audit" }), status: 200 },
  {
    route: "list-tasks",
    what: "a subscriber the topic does not have",
    plan: aimed(0, { subscriber: "search" }),
    status: 400,
  },
  {
    route: "add-task",
    what: "a callback on a fan-out topic",
    plan: {
      ...PLAIN_PLAN,
      body: { kind: "garbage", text: JSON.stringify({ ...TASK_BODY("z", 60), topic: FAN_OUT_TOPIC }) },
    },
    status: 400,
  },
];

function routeNamed(name: string): Route {
  const route = API_ROUTES.find((r) => r.name === name);
  if (!route) throw new Error(`no route ${name} in the table`);
  return route;
}

// ---------------------------------------------------------------------------------------------------------
// The batch route, item by item: the single add's hostile cases as items of one batch.
// ---------------------------------------------------------------------------------------------------------

/** An add case usable as a batch item: its body is plain JSON text and it carries nothing in headers. */
function asItem(c: Case): { text: string; expect: Case["expect"] } | undefined {
  const text = (c.req.body ?? "").replace(/^\uFEFF/, "");
  const headerKey = Object.keys(c.req.headers ?? {}).some((h) => h.toLowerCase() === "idempotency-key");
  if (c.req.base64 || headerKey || text.trim() === "") return undefined;
  try {
    JSON.parse(text);
  } catch {
    return undefined;
  }
  return { text, expect: c.expect };
}

const batchItem = fc
  .oneof(
    plainValidReq.map((v) => validCase("valid", v)),
    wrongTypeCase,
    unknownFieldCase,
    oddTimingCase,
    unicodeCase,
    exactNumberCase,
  )
  .map(asItem)
  .filter((item): item is NonNullable<ReturnType<typeof asItem>> => item !== undefined);

interface BatchResult {
  readonly status: number;
  readonly task_id?: string;
  readonly error?: ErrorShape["error"];
}

async function runBatchCase(items: readonly NonNullable<ReturnType<typeof asItem>>[]): Promise<void> {
  const { w } = await seeded();
  const req: Req = {
    method: "POST",
    rawPath: "/v1/tasks/batch",
    headers: { "content-type": "application/json" },
    body: `{"tasks":[${items.map((i) => i.text).join(",")}]}`,
  };
  const before = snapshot(w);
  const res = await call(w.handler("add-tasks-batch"), req);
  const body = checkEnvelope(res, req, false);
  checkDocumented(routeNamed("add-tasks-batch"), res);
  const after = snapshot(w);
  checkNoPollution();
  if ((res.statusCode ?? 0) >= 300) {
    // A refusal of the whole batch (a key twice somewhere in the raw JSON): nothing written.
    expect(after, res.body).toEqual(before);
    return;
  }
  const results = body.results as BatchResult[];
  expect(results.length, res.body).toBe(items.length);
  const created = new Set<string>();
  results.forEach((result, i) => {
    const e = (items[i] as (typeof items)[number]).expect;
    const where = `item ${i}: ${items[i]?.text.slice(0, 200)} → ${JSON.stringify(result).slice(0, 300)}`;
    expect(result.status, where).toBeLessThan(500);
    if (e.kind === "valid") expect(result.status, where).toBe(201);
    if (e.kind === "refused") expect(result.status, where).toBeGreaterThanOrEqual(400);
    if (result.status === 201) created.add(String(result.task_id));
    if (result.status >= 400) expect(CODES_BY_STATUS[result.status], where).toContain(result.error?.code);
  });
  // Only the items answered 201 were stored and armed; nothing else changed.
  const beforeIds = new Set(before.tasks.map(([id]) => id));
  expect(new Set(after.tasks.map(([id]) => id).filter((id) => !beforeIds.has(id)))).toEqual(created);
  expect(after.tasks.filter(([id]) => beforeIds.has(id))).toEqual(before.tasks);
  const armed = [
    ...after.armed.slice(before.armed.length).map((a) => a.taskId),
    ...after.schedulesCreated.slice(before.schedulesCreated.length).map((c) => c.taskId),
  ];
  expect(new Set(armed)).toEqual(created);
  expect(armed.length).toBe(created.size);
}

// ---------------------------------------------------------------------------------------------------------
// POST /v1/schedules with hostile schedule fields, and what a schedule taken must then survive.
// ---------------------------------------------------------------------------------------------------------

interface ScheduleView {
  readonly schedule_id: string;
  readonly status: string;
  readonly next_occurrences: readonly string[];
  readonly start_at?: string;
  readonly end_at?: string;
}

/** Every occurrence listed is after the answer's now, ascending and inside [start_at, end_at). */
function checkOccurrences(view: ScheduleView, nowMs: number, where: string): void {
  const times = view.next_occurrences.map((t) => Date.parse(t));
  for (const [i, t] of times.entries()) {
    expect(Number.isFinite(t), where).toBe(true);
    expect(t, where).toBeGreaterThan(nowMs);
    if (i > 0) expect(t, where).toBeGreaterThan(times[i - 1] as number);
    if (view.start_at !== undefined) expect(t, where).toBeGreaterThanOrEqual(Date.parse(view.start_at));
    if (view.end_at !== undefined) expect(t, where).toBeLessThan(Date.parse(view.end_at));
  }
}

async function runScheduleCase(flavour: Flavour, plan: SchedulePlan): Promise<void> {
  const { w, s } = await seeded(flavour);
  // In the fan-out world the schedule is on the fan-out topic (each occurrence a parent and its copies).
  const req = jsonPost({ ...scheduleBody(s.topic), ...plan, ...(s.copies ? { topic: s.topic } : {}) });
  const before = snapshot(w);
  const res = await call(w.handler("create-schedule"), req);
  const body = checkEnvelope(res, req, false);
  checkDocumented(routeNamed("create-schedule"), res);
  checkNoPollution();
  const where = `${JSON.stringify(plan)} → ${res.statusCode} ${res.body?.slice(0, 300)}`;
  expect(w.scheduleErrors.map(String), where).toEqual([]);
  if ((res.statusCode ?? 0) >= 300) {
    expect(snapshot(w), where).toEqual(before);
    return;
  }
  expect(res.statusCode, where).toBe(201);
  const view = body as unknown as ScheduleView;
  checkOccurrences(view, w.f.clock.now, where);
  // Taken: it reads, pauses and resumes (still active: the clock has not moved), the materializer makes its
  // occurrences as their time comes (the last may end it), and it deletes; no 5xx, no swallowed failure.
  const id = { id: view.schedule_id };
  const act = async (route: string, method: string) => {
    const r = { method, pathParameters: id };
    const answer = await call(w.handler(route), r);
    checkEnvelope(answer, r, false);
    checkDocumented(routeNamed(route), answer);
    expect(answer.statusCode, `${route}: ${where} then ${answer.body?.slice(0, 300)}`).toBe(200);
    return JSON.parse(answer.body ?? "{}") as ScheduleView;
  };
  checkOccurrences(await act("get-schedule", "GET"), w.f.clock.now, where);
  await act("pause-schedule", "POST");
  checkOccurrences(await act("resume-schedule", "POST"), w.f.clock.now, where);
  for (const next of view.next_occurrences.slice(0, 2)) {
    w.f.clock.now = Date.parse(next);
    const run = await runMaterializer(w.deps as unknown as MaterializerRunDeps);
    expect(run.failures, where).toBe(0);
  }
  // Paused across its next occurrences and resumed after them (skipped, not made up): active again, or ended.
  const later = await act("get-schedule", "GET");
  const third = view.next_occurrences[2];
  if (later.status === "active" && third !== undefined) {
    await act("pause-schedule", "POST");
    w.f.clock.now = Date.parse(third) + 1;
    checkOccurrences(await act("resume-schedule", "POST"), w.f.clock.now, where);
    const run = await runMaterializer(w.deps as unknown as MaterializerRunDeps);
    expect(run.failures, where).toBe(0);
  }
  await act("delete-schedule", "DELETE");
  expect(w.scheduleErrors.map(String), where).toEqual([]);
}

// ---------------------------------------------------------------------------------------------------------
// The `$default` route: every request no row took.
// ---------------------------------------------------------------------------------------------------------

function routePattern(route: Route): RegExp {
  const path = (route.routeKey.split(" ")[1] as string)
    .split("/")
    .map((seg) => (/^\{\w+\}$/.test(seg) ? "[^/]+" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${path}$`);
}

const unmatchedPlan = fc.record({
  method: fc.oneof(
    fc.constantFrom(
      "GET",
      "POST",
      "PATCH",
      "DELETE",
      "PUT",
      "HEAD",
      "OPTIONS",
      "get",
      "",
      " GET",
      "G\u0000ET",
    ),
    fc.string({ maxLength: 8 }),
  ),
  path: fc.option(
    fc.oneof(
      fc.constantFrom(
        "/",
        "",
        "//",
        "/v1",
        "/v1/",
        "/v1/tasks/",
        "/v1//tasks",
        "/V1/tasks",
        "/v1/tasks/a/b/c",
      ),
      fc.constantFrom("/v1/tasks/%2e%2e", "/v1/tasks/..", "/v1/tasks/\u0000", "/v1/x".repeat(500), "/v1/😀"),
      fc.string({ maxLength: 40 }).map((t) => `/v1/${t}`),
    ),
    { nil: undefined },
  ),
  plan: routePlan,
});

/** Modest: 25 routes × RUNS cases, each seeding a fresh world; well under a minute on two shared cores. */
const RUNS = 60;
const TIMEOUT_MS = 60_000 * propertyScale();

describe("hostile input: every route of the table", { timeout: TIMEOUT_MS }, () => {
  it("every route is covered: a spec, a handler, values for its path parameters", async () => {
    const { s } = await seeded();
    for (const route of API_ROUTES) {
      expect(SPECS[route.name], `route ${route.name} (${route.routeKey}) has no spec here`).toBeDefined();
      expect(factories.get(route.name), `${route.entry} exports no createHandler`).toBeTypeOf("function");
      for (const name of paramsOf(route)) expect(() => paramValues(route, name, s)).not.toThrow();
    }
    expect(Object.keys(SPECS).sort()).toEqual(API_ROUTES.map((r) => r.name).sort());
    expect(factories.get(DEFAULT_ROUTE.name), `${DEFAULT_ROUTE.entry} exports no createHandler`).toBeTypeOf(
      "function",
    );
  });

  it.each(FLAVOURS.flatMap((f) => API_ROUTES.map((route) => [route.routeKey, f, route] as const)))(
    "%s (%s world): the plain valid request succeeds (the harness reaches the route's service)",
    async (_key, flavour, route) => {
      const { w, s } = await seeded(flavour);
      const { req, refuse } = build(route, PLAIN_PLAN, s);
      const spec = SPECS[route.name] as RouteSpec;
      const statuses = (flavour === "fan-out" && spec.fanOutStatuses) || spec.okStatuses;
      if (statuses.every((status) => status < 300)) expect(refuse).toEqual([]);
      const res = await call(w.handler(route.name), req);
      checkEnvelope(res, req, route.name === "openapi");
      checkDocumented(route, res);
      expect(statuses, res.body?.slice(0, 300)).toContain(res.statusCode);
    },
  );

  it.each(FAN_OUT_CASES)("fan-out: $route, $what ($status)", async ({ route, plan, status }) => {
    expect(await runCase(routeNamed(route), plan, "fan-out")).toBe(status);
  });

  it.each(FLAVOURS.flatMap((f) => FOUND.map((found) => ({ ...found, flavour: f }))))(
    "found: $route ($found), $flavour world",
    async ({ route, plan, flavour }) => {
      await runCase(routeNamed(route), plan, flavour);
    },
  );

  it("$default (unmatched-route): any method and path is a 404, or a 405 whose Allow lists the path's methods", async () => {
    await fc.assert(
      fc.asyncProperty(unmatchedPlan, async ({ method, path, plan }) => {
        const { w, s } = await seeded();
        const route = API_ROUTES[plan.variant % API_ROUTES.length] as Route;
        const built = build(route, { ...plan, method: "route" }, s);
        const rawPath = path ?? built.req.rawPath;
        const req: Req = { ...built.req, method, rawPath };
        const before = snapshot(w);
        const res = await call(w.handler(DEFAULT_ROUTE.name), req);
        checkEnvelope(res, req, false);
        // Two spellings of a header with different values are refused first (400), as on every route.
        const conflict = req.headers?.["Content-Type"] !== undefined;
        expect(conflict ? [400] : [404, 405], res.body).toContain(res.statusCode);
        if (res.statusCode === 405) {
          // Only a path some route has, and only that path's other methods.
          const allowed = API_ROUTES.filter((r) => routePattern(r).test(rawPath ?? "")).map(methodOf);
          expect(allowed.length).toBeGreaterThan(0);
          expect(String(res.headers?.allow).split(", ").sort()).toEqual([...new Set(allowed)].sort());
        }
        expect(snapshot(w)).toEqual(before);
      }),
      runs(RUNS * 3),
    );
  });

  it("POST /v1/tasks/batch with hostile items: each item answered as its own add would be, only 201s stored", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(batchItem, { minLength: 1, maxLength: 6 }), runBatchCase),
      runs(RUNS),
    );
  });

  it("POST /v1/schedules with hostile cron, time zone, start and end: a structured 4xx that changes nothing, or a 201 whose schedule reads, materializes, pauses, resumes and deletes", async () => {
    await fc.assert(fc.asyncProperty(flavour, schedulePlan, runScheduleCase), runs(RUNS * 3));
  });

  it.each(API_ROUTES.map((route) => [route.routeKey, route] as const))(
    "%s: hostile requests get a structured 4xx and change nothing, or a 2xx where valid (plain and fan-out worlds)",
    async (_key, route) => {
      await fc.assert(
        fc.asyncProperty(flavour, routePlan, async (world, plan) => {
          await runCase(route, plan, world);
        }),
        runs(RUNS),
      );
    },
  );
});
