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
 * test/unit/api/hostile-input.test.ts`. `FC_RUNS_SCALE=10` runs ten times as many cases (a deeper soak).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import fc from "fast-check";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { HttpHandler } from "#shared/api/http-route.js";
import { IDEMPOTENCY_KEY_PATTERN, parseAddTaskRequest } from "#shared/domain/add-task-request.js";
import { fixture, NOW, silentLogger } from "./fakes.js";

// ---------------------------------------------------------------------------------------------------------
// Harness: the real handlers, fresh fakes per case, snapshots of every side effect.
// ---------------------------------------------------------------------------------------------------------

const ENV_VARS = {
  PUNCTUAL_ENV: "local",
  TABLE_NAME: "punctual-local-tasks",
  TIMER_QUEUE_URL: "http://127.0.0.1:4566/000000000000/timer",
  TIMER_QUEUE_ARN: "arn:aws:sqs:us-east-1:000000000000:timer",
  SCHEDULE_GROUP_NAME: "punctual-local",
  SCHEDULER_ROLE_ARN: "arn:aws:iam::000000000000:role/scheduler",
  SCHEDULE_DLQ_ARN: "arn:aws:sqs:us-east-1:000000000000:schedule-dlq",
  AWS_REGION: "us-east-1",
  POWERTOOLS_LOG_LEVEL: "SILENT",
};

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

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
const SCALE = Number(process.env.FC_RUNS_SCALE ?? "1") || 1;

function runs(numRuns: number): fc.Parameters<unknown> {
  return {
    numRuns: Math.max(1, Math.round(numRuns * SCALE)),
    ...(SEED !== undefined ? { seed: SEED } : {}),
    ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
  };
}

const logger = silentLogger();
const context = {
  functionName: "punctual-test",
  awsRequestId: "req-fc",
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

function api() {
  const f = fixture(NOW);
  const deps = { ...f.deps, logger };
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

/** What a client (through API Gateway) controls. `method: undefined` leaves requestContext.http out. */
interface Req {
  readonly method?: string | undefined;
  readonly rawPath?: string;
  readonly headers?: Record<string, string> | undefined;
  readonly body?: string | undefined;
  readonly base64?: boolean;
  readonly pathParameters?: Record<string, string> | undefined;
}

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
  429: ["too_many_requests"],
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
// Arbitraries: valid requests, and hostile variations of them.
// ---------------------------------------------------------------------------------------------------------

const ODD_STRINGS = [
  "\u0000",
  "a\u0000b",
  "\u0001\u001f\u007f",
  "\u202Eevil\u202C",
  "\u200F\u05D0\u05D1",
  "\u200B",
  "\u200D",
  "\uFEFF",
  "\uD800",
  "\uDFFF",
  "x\uDBFFy",
  "\uDC00\uD800",
  "👨‍👩‍👧‍👦",
  "🇺🇳",
  "\u00C0\u00AF",
  "\u00E0\u0080\u00AF",
  "%C0%AE%C0%AE/",
  "%00",
  "%2e%2e%2f",
  "e\u0301",
  "é",
  "\u2028\u2029",
  "\r\n",
  "..",
  "../../etc/passwd",
  "\\u0000",
  "𝕏",
  "ﬆ",
  "İ",
  "ß",
  "\u{10FFFF}",
  "\uFFFF",
  "\uFFFE",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "$where",
  "{{7*7}}",
  "<script>",
  "' OR 1=1 --",
  "null",
  "{}",
];
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const oddUnit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...ODD_STRINGS) },
  { weight: 1, arbitrary: loneSurrogate },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) },
);
const oddString = (maxLength = 12, minLength = 0) => fc.string({ unit: oddUnit, minLength, maxLength });

const BODY_FIELDS = [
  "topic",
  "timing_moment",
  "due_at",
  "delay_seconds",
  "content",
  "deliver_by",
  "callback",
  "idempotency_key",
];
/** Content keys; `sn`/`url` (seed-style routing) and `order_id` (demo's deliverBy) are placed deliberately. */
const oddKey = fc
  .oneof(
    fc.constantFrom(
      "__proto__",
      "constructor",
      "prototype",
      "toString",
      "hasOwnProperty",
      "valueOf",
      "",
      " ",
    ),
    oddString(8),
  )
  .filter((k) => k !== "sn" && k !== "url" && k !== "order_id");
const jsonLeaf = fc.jsonValue({ maxDepth: 2, depthSize: "small", stringUnit: oddUnit });

/** A key that passes IDEMPOTENCY_KEY_PATTERN and contains no comma (a comma means two combined headers). */
const idempotencyKey = fc
  .stringMatching(/^[!-+\--~](?:[ -+\--~]{0,30}[!-+\--~])?$/)
  .filter((k) => IDEMPOTENCY_KEY_PATTERN.test(k) && k !== "seed-key");

type TimingField = "timing_moment" | "due_at" | "delay_seconds";
interface Timing {
  readonly field: TimingField;
  readonly json: string;
  readonly dueMs: number;
}

function isoWithOffset(ms: number, offsetMinutes: number, withMs: boolean): string {
  if (offsetMinutes === 0 && !withMs) return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, withMs ? 23 : 19);
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  return `${local}${sign}${hh}:${mm}`;
}

/** Due times the test config accepts for every topic ("small" allows at most 3600 s ahead). */
const timing: fc.Arbitrary<Timing> = fc.oneof(
  fc
    .oneof(fc.integer({ min: 0, max: 3590 }), fc.double({ min: 0, max: 3590, noNaN: true }))
    .map(
      (d): Timing => ({ field: "delay_seconds", json: JSON.stringify(d), dueMs: NOW + Math.round(d * 1000) }),
    ),
  fc
    .tuple(fc.integer({ min: -1_000_000, max: 3590 }), fc.constantFrom(0, 0.25, 0.5, 0.999))
    .map(([s, frac]) => {
      const t = NOW / 1000 + s + frac;
      return { field: "timing_moment" as const, json: JSON.stringify(t), dueMs: Math.round(t * 1000) };
    }),
  fc
    .tuple(
      fc.integer({ min: -1_000_000_000, max: 3_590_000 }),
      fc.oneof(fc.constant(0), fc.integer({ min: -720, max: 840 })),
      fc.boolean(),
    )
    .map(([offset, tz, withMs]) => {
      const ms = withMs ? NOW + offset : NOW + Math.floor(offset / 1000) * 1000;
      const text = isoWithOffset(ms, tz, withMs);
      return { field: "due_at" as const, json: JSON.stringify(text), dueMs: Date.parse(text) };
    }),
);

const VALID_CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json;charset=UTF-8",
  'application/json; charset="utf-8"',
  "application/json; charset=utf8",
  "Application/JSON",
  " application/json ",
  "application/json; foo=bar",
];
const CONTENT_TYPE_NAMES = ["content-type", "Content-Type", "CONTENT-TYPE", "cOnTeNt-TyPe"];
const IDEMPOTENCY_HEADER_NAMES = ["idempotency-key", "Idempotency-Key", "IDEMPOTENCY-KEY"];
const CALLBACK_HOSTS = [
  "hooks.example.com",
  "api.example.org",
  "hooks.example.com:8443",
  "xn--bcher-kva.example",
  "bücher.example",
  "1.1.1.1",
  "[2606:4700:4700::1111]",
];
const WHITESPACE = ["", " ", "\n", "\t", "\r\n  "];

interface ValidReq {
  readonly topic: string;
  readonly timing: Timing;
  /** The content object's JSON text, as sent (key order and escapes preserved). */
  readonly contentText: string;
  /** Seed style: `content` is a string holding the JSON. */
  readonly contentAsString: boolean;
  readonly deliverBy: string | undefined;
  readonly callbackUrl: string | undefined;
  readonly key: string | undefined;
  readonly keyIn: "body" | "header" | "both";
  readonly keyHeaderName: string;
  readonly contentType: string;
  readonly contentTypeName: string;
  readonly base64: boolean;
  readonly bom: boolean;
  readonly ws: string;
  readonly ranks: readonly number[];
  readonly method: string;
  readonly extraHeaders: Readonly<Record<string, string>>;
}

type Field = readonly [name: string, json: string];

function jsonObjectText(fields: readonly Field[], ws = ""): string {
  const members = fields.map(([name, json]) => `${JSON.stringify(name)}${ws}:${ws}${json}`);
  return `{${ws}${members.join(`${ws},${ws}`)}${ws}}`;
}

/** The body's fields in the generated order. */
function fieldsOf(v: ValidReq): Field[] {
  const fields: [Field, number][] = [];
  const add = (field: Field) => fields.push([field, v.ranks[fields.length] ?? 0]);
  add(["topic", JSON.stringify(v.topic)]);
  add([v.timing.field, v.timing.json]);
  add(["content", v.contentAsString ? JSON.stringify(v.contentText) : v.contentText]);
  if (v.deliverBy !== undefined) add(["deliver_by", JSON.stringify(v.deliverBy)]);
  if (v.callbackUrl !== undefined) add(["callback", JSON.stringify({ url: v.callbackUrl })]);
  if (v.key !== undefined && v.keyIn !== "header") add(["idempotency_key", JSON.stringify(v.key)]);
  return fields.sort((a, b) => a[1] - b[1]).map(([field]) => field);
}

interface BodyEdit {
  /** Replace a field's JSON (null removes it); a name not in the body is appended. */
  readonly set?: Readonly<Record<string, string | null>>;
  /** Extra members inserted at `at` (an index into the member list, clamped). */
  readonly insert?: readonly Field[];
  readonly at?: number;
}

function bodyTextOf(v: ValidReq, edit: BodyEdit = {}): string {
  let fields = fieldsOf(v);
  for (const [name, json] of Object.entries(edit.set ?? {})) {
    const index = fields.findIndex(([n]) => n === name);
    if (json === null) fields = fields.filter(([n]) => n !== name);
    else if (index >= 0) fields[index] = [name, json];
    else fields.push([name, json]);
  }
  if (edit.insert && edit.insert.length > 0) {
    const at = Math.min(edit.at ?? 0, fields.length);
    fields = [...fields.slice(0, at), ...edit.insert, ...fields.slice(at)];
  }
  return `${v.bom ? "\uFEFF" : ""}${jsonObjectText(fields, v.ws)}`;
}

function headersOf(v: ValidReq): Record<string, string> {
  return {
    ...v.extraHeaders,
    [v.contentTypeName]: v.contentType,
    ...(v.key !== undefined && v.keyIn !== "body" ? { [v.keyHeaderName]: v.key } : {}),
  };
}

function reqOf(v: ValidReq, edit: BodyEdit = {}, overrides: Partial<Req> = {}): Req {
  const text = bodyTextOf(v, edit);
  return {
    method: v.method,
    headers: headersOf(v),
    body: v.base64 ? Buffer.from(text, "utf8").toString("base64") : text,
    base64: v.base64,
    ...overrides,
  };
}

/** What the service stores as `content`: the parsed object re-serialised. */
function storedContentOf(contentText: string): string {
  return JSON.stringify(JSON.parse(contentText));
}

/** The request with other content; content too big for topic "small" moves the request to "demo". */
function withContent(v: ValidReq, contentText: string, contentAsString = v.contentAsString): ValidReq {
  const tooBigForSmall = v.topic === "small" && Buffer.byteLength(storedContentOf(contentText)) > 100;
  return { ...v, contentText, contentAsString, ...(tooBigForSmall ? { topic: "demo" } : {}) };
}

const HARMLESS_HEADERS = fc.dictionary(
  fc.constantFrom(
    "x-forwarded-for",
    "user-agent",
    "accept",
    "x-http-method-override",
    "x-amzn-trace-id",
    "__proto__",
    "constructor",
    "prototype",
    "content-length",
    "transfer-encoding",
    "x-odd",
  ),
  oddString(20),
  { maxKeys: 4 },
);

const validReq: fc.Arbitrary<ValidReq> = fc
  .record({
    topic: fc.constantFrom("demo", "fallback", "strict", "small"),
    timing,
    entries: fc.uniqueArray(fc.tuple(oddKey, jsonLeaf), { selector: ([k]) => k, maxLength: 5 }),
    orderId: fc.option(
      fc.oneof(
        oddString(30),
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.constant(null),
      ),
      { nil: undefined },
    ),
    seedStyle: fc.option(fc.constantFrom("orders/notify", "/orders/1?x=1", "a/b/c"), {
      nil: undefined,
      freq: 5,
    }),
    contentAsString: fc.boolean(),
    deliverBy: fc.option(fc.oneof(fc.constant("order_id"), oddString(20, 1)), { nil: undefined, freq: 3 }),
    callbackHost: fc.constantFrom(...CALLBACK_HOSTS),
    callbackPath: fc.webPath({ size: "small" }),
    omitCallback: fc.boolean(),
    key: fc.option(idempotencyKey, { nil: undefined }),
    keyIn: fc.constantFrom("body" as const, "header" as const, "both" as const),
    keyHeaderName: fc.constantFrom(...IDEMPOTENCY_HEADER_NAMES),
    contentType: fc.constantFrom(...VALID_CONTENT_TYPES),
    contentTypeName: fc.constantFrom(...CONTENT_TYPE_NAMES),
    base64: fc.boolean(),
    bom: fc.boolean(),
    ws: fc.constantFrom(...WHITESPACE),
    ranks: fc.array(fc.double({ noNaN: true }), { minLength: 6, maxLength: 6 }),
    method: fc.constantFrom("POST", "POST", "POST", "post", "Post"),
    extraHeaders: HARMLESS_HEADERS,
  })
  .map((g): ValidReq => {
    const members: Field[] = g.entries.map(([k, value]) => [k, JSON.stringify(value)]);
    if (g.orderId !== undefined) members.push(["order_id", JSON.stringify(g.orderId)]);
    if (g.seedStyle !== undefined) members.push(["sn", '"billing"'], ["url", JSON.stringify(g.seedStyle)]);
    const contentText = jsonObjectText(members);
    // deliver_by must name a field whose value can order tasks (or be absent, making the task its own group).
    const content = JSON.parse(contentText) as Record<string, unknown>;
    const groupValue =
      g.deliverBy !== undefined && Object.hasOwn(content, g.deliverBy) ? content[g.deliverBy] : null;
    const deliverBy = typeof groupValue === "object" && groupValue !== null ? undefined : g.deliverBy;
    let topic = g.topic;
    if (topic === "small" && Buffer.byteLength(storedContentOf(contentText)) > 100) topic = "demo";
    if (topic === "strict" && g.seedStyle !== undefined) topic = "demo";
    const host = topic === "strict" ? "hooks.example.com" : g.callbackHost;
    const callbackUrl =
      g.seedStyle !== undefined || (topic === "fallback" && g.omitCallback)
        ? undefined
        : `https://${host}${g.callbackPath}`;
    return {
      topic,
      timing: g.timing,
      contentText,
      contentAsString: g.contentAsString,
      deliverBy,
      callbackUrl,
      key: g.key,
      keyIn: g.keyIn,
      keyHeaderName: g.keyHeaderName,
      contentType: g.contentType,
      contentTypeName: g.contentTypeName,
      base64: g.base64,
      bom: g.bom,
      ws: g.ws,
      ranks: g.ranks,
      method: g.method,
      extraHeaders: g.extraHeaders,
    };
  });

/** A plain valid request for building hostile variations on: plain text, POST, no idempotency key. */
const plainValidReq = validReq.map(
  (v): ValidReq => ({ ...v, base64: false, bom: false, key: undefined, method: "POST" }),
);

// ---------------------------------------------------------------------------------------------------------
// Expectations and the POST runner.
// ---------------------------------------------------------------------------------------------------------

type Expectation =
  /** Valid input: 201, one task holding exactly this content, one timer. */
  | { readonly kind: "valid"; readonly topic: string; readonly contentJson: string; readonly dueMs: number }
  /** Invalid input: this 4xx (and code / an issue at this path when given), nothing written. */
  | {
      readonly kind: "refused";
      readonly status: number;
      readonly codes?: readonly string[];
      readonly issuePath?: string | RegExp;
      readonly issueMessage?: string;
    }
  /** Validity is not decided by construction (e.g. a random corruption that still parses): either outcome, each
   * with its own invariants. */
  | { readonly kind: "either"; readonly callbackPrefix?: string };

interface Case {
  readonly label: string;
  readonly req: Req;
  readonly expect: Expectation;
}

function validCase(label: string, v: ValidReq, req: Req = reqOf(v)): Case {
  return {
    label,
    req,
    expect: {
      kind: "valid",
      topic: v.topic,
      contentJson: storedContentOf(v.contentText),
      dueMs: v.timing.dueMs,
    },
  };
}

function refused(
  status: number,
  codes?: readonly string[],
  issuePath?: string | RegExp,
  issueMessage?: string,
): Expectation {
  return {
    kind: "refused",
    status,
    ...(codes ? { codes } : {}),
    ...(issuePath !== undefined ? { issuePath } : {}),
    ...(issueMessage !== undefined ? { issueMessage } : {}),
  };
}

/** "Some 4xx, whichever": for ambiguous requests where several refusals are right but acceptance is not. */
const refusedAny4xx: Expectation = { kind: "refused", status: 0 };

const VALIDATION = ["validation_failed"];
const INVALID_JSON = ["invalid_json"];

/** The guard's view of a body: BOM stripped; parse failure (or blank) → invalid_json. */
function parsesAsJson(text: string): boolean {
  const stripped = text.replace(/^\uFEFF/, "");
  if (stripped.trim() === "") return false;
  try {
    JSON.parse(stripped);
    return true;
  } catch {
    return false;
  }
}

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

// ---------------------------------------------------------------------------------------------------------
// Hostile POST generators.
// ---------------------------------------------------------------------------------------------------------

/** Truncated valid bodies (text or bytes): never valid JSON, always 400 invalid_json. */
const truncatedCase: fc.Arbitrary<Case> = fc
  .tuple(plainValidReq, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.boolean())
  .map(([v, cut, asBytes]): Case => {
    const text = bodyTextOf(v);
    if (asBytes) {
      const bytes = Buffer.from(text, "utf8");
      const prefix = bytes.subarray(0, Math.floor(cut * bytes.length));
      return {
        label: "truncated bytes (base64)",
        req: { ...reqOf(v), body: prefix.toString("base64"), base64: true },
        expect: refused(400, INVALID_JSON),
      };
    }
    return {
      label: "truncated text",
      req: { ...reqOf(v), body: text.slice(0, Math.floor(cut * text.length)) },
      expect: refused(400, INVALID_JSON),
    };
  });

const CORRUPTION_CHARS = [
  ...'{}[]":,\\/-+.eE0123456789 tfnul',
  "\u0000",
  "\u0001",
  "\t",
  "\n",
  "\u2028",
  "\uD800",
  "\uDC00",
  "\uFEFF",
  "é",
  "😀",
  "'",
  "NaN",
  "Infinity",
  "undefined",
  "//",
  "/*",
  "0x1",
  "01",
  "1e999",
  "-",
];
const mutation = fc.tuple(
  fc.constantFrom("insert", "replace", "delete", "duplicate", "swap"),
  fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  fc.constantFrom(...CORRUPTION_CHARS),
);

function mutate(text: string, [op, p, q, chars]: [string, number, number, string]): string {
  const i = Math.floor(p * text.length);
  const j = Math.floor(q * text.length);
  switch (op) {
    case "insert":
      return text.slice(0, i) + chars + text.slice(i);
    case "replace":
      return text.slice(0, i) + chars + text.slice(i + 1);
    case "delete":
      return text.slice(0, i) + text.slice(i + 1);
    case "duplicate":
      return (
        text.slice(0, Math.max(i, j)) +
        text.slice(Math.min(i, j), Math.max(i, j)) +
        text.slice(Math.max(i, j))
      );
    default: {
      const a = Math.min(i, j);
      const b = Math.max(i, j);
      if (a === b) return text;
      return text.slice(0, a) + text[b] + text.slice(a + 1, b) + text[a] + text.slice(b + 1);
    }
  }
}

/** Random corruptions: invalid JSON must be 400 invalid_json; a corruption that still parses may go either way. */
const corruptedCase: fc.Arbitrary<Case> = fc
  .tuple(plainValidReq, fc.array(mutation, { minLength: 1, maxLength: 3 }))
  .map(([v, mutations]): Case => {
    let text = bodyTextOf(v);
    for (const m of mutations) text = mutate(text, m as [string, number, number, string]);
    return {
      label: `corrupted (${mutations.map((m) => m[0]).join(",")})`,
      req: { ...reqOf(v), body: text },
      expect: parsesAsJson(text) ? { kind: "either" } : refused(400, INVALID_JSON),
    };
  });

const notString = jsonLeaf.filter((x) => typeof x !== "string");
const notNumber = jsonLeaf.filter((x) => typeof x !== "number");
const notObject = jsonLeaf.filter((x) => x === null || typeof x !== "object" || Array.isArray(x));
function holdsObject(text: string): boolean {
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
  } catch {
    return false;
  }
}

/** Per field: values of the wrong type (or of the right type but never acceptable) and where the issue lands. */
const wrongValue: fc.Arbitrary<{
  field: string;
  json: string | null;
  path: string | RegExp;
  codes: string[];
}> = fc.oneof(
  notString.map((x) => ({ field: "topic", json: JSON.stringify(x), path: "topic", codes: VALIDATION })),
  fc
    .oneof(fc.constant(""), fc.string({ minLength: 65, maxLength: 80 }))
    .map((x) => ({ field: "topic", json: JSON.stringify(x), path: "topic", codes: VALIDATION })),
  fc.constantFrom("timing_moment" as const, "delay_seconds" as const).chain((field) =>
    fc
      .oneof(
        notNumber.map((x) => JSON.stringify(x)),
        fc.constantFrom(
          "-1",
          "-0.001",
          "-1e300",
          "1e300",
          "1e15",
          "4102444800000",
          '"60"',
          '"1e3"',
          // No JS number holds these: refused, never read as Infinity / a rounded integer.
          "1e400",
          "-1e400",
          "123456789012345678901234567890",
        ),
      )
      .map((json) => ({ field, json, path: field, codes: VALIDATION })),
  ),
  fc
    .oneof(
      notString.map((x) => JSON.stringify(x)),
      fc
        .constantFrom(
          "tomorrow",
          "2026-01-01",
          "2026-01-01T00:00:00",
          "2026-01-01 00:00:00Z",
          "1700000000",
          "",
          "2026-11-23T12:00:00ZZ",
          "9999-12-31T23:59:59Z",
          "275760-09-13T00:00:00Z",
          "2028-11-23T12:00:00Z",
        )
        .map((s) => JSON.stringify(s)),
    )
    .map((json) => ({ field: "due_at", json, path: "due_at", codes: VALIDATION })),
  fc
    .oneof(
      notObject.filter((x) => !(typeof x === "string" && holdsObject(x))).map((x) => JSON.stringify(x)),
      fc
        .constantFrom("[]", "1", '"{}"', "{bad", "", "null", '{"a":1}x', "\uFEFF{}", "[{}]")
        .map((s) => JSON.stringify(s)),
    )
    .map((json) => ({ field: "content", json, path: "content", codes: VALIDATION })),
  fc
    .oneof(
      notString.map((x) => JSON.stringify(x)),
      fc.constantFrom('""', JSON.stringify("x".repeat(129))),
    )
    .map((json) => ({ field: "deliver_by", json, path: "deliver_by", codes: VALIDATION })),
  fc
    .oneof(
      notObject.map((x) => JSON.stringify(x)),
      fc.constant('"https://hooks.example.com/n"'),
      fc.constant("{}"),
      notString.map((x) => JSON.stringify({ url: x })),
      fc
        .constantFrom(
          "",
          "not a url",
          "/relative/path",
          "hooks.example.com/n",
          `https://hooks.example.com/${"a".repeat(2100)}`,
          "http://hooks.example.com/plain-http",
          "http://169.254.169.254/latest/meta-data",
          "https://169.254.169.254/latest",
          "https://10.0.0.1/",
          "https://[::ffff:10.0.0.1]/",
          "https://[fd00::1]/",
          "https://100.64.0.1/",
          "https://0.0.0.0/",
          "https://localhost/",
          "https://metadata.google.internal/",
          "https://user:pw@hooks.example.com/",
          "file:///etc/passwd",
          "gopher://hooks.example.com/",
          "javascript:alert(1)",
          "data:text/plain,hi",
        )
        .map((url) => JSON.stringify({ url })),
    )
    .map((json) => ({ field: "callback", json, path: /^callback(\.|$)/, codes: VALIDATION })),
  fc
    .oneof(
      notString.map((x) => JSON.stringify(x)),
      oddString(20)
        .filter((s) => !IDEMPOTENCY_KEY_PATTERN.test(s))
        .map((s) => JSON.stringify(s)),
      fc.constantFrom('""', '" lead"', '"trail "', '"a,b"', JSON.stringify("k".repeat(256)), '"ключ"'),
    )
    .map((json) => ({ field: "idempotency_key", json, path: "idempotency_key", codes: VALIDATION })),
  // Missing required fields.
  fc.constantFrom(
    { field: "topic", json: null, path: "topic", codes: VALIDATION },
    { field: "content", json: null, path: "content", codes: VALIDATION },
  ),
);

const wrongTypeCase: fc.Arbitrary<Case> = fc.oneof(
  fc.tuple(plainValidReq, wrongValue).map(([v, w]): Case => {
    // Replace the timing field the request actually uses when the wrong value is for a timing field.
    const set: Record<string, string | null> = { [w.field]: w.json };
    if (["timing_moment", "delay_seconds", "due_at"].includes(w.field) && w.field !== v.timing.field) {
      set[v.timing.field] = null;
    }
    return {
      label: `wrong ${w.field}`,
      req: reqOf(v, { set }),
      expect: refused(400, w.codes, w.path),
    };
  }),
  // No timing, or two timings.
  fc.tuple(plainValidReq, timing, fc.boolean()).map(([v, other, none]): Case => {
    if (none)
      return {
        label: "no timing",
        req: reqOf(v, { set: { [v.timing.field]: null } }),
        expect: refused(400, VALIDATION, ""),
      };
    const field =
      other.field === v.timing.field ? (other.field === "due_at" ? "delay_seconds" : "due_at") : other.field;
    const json =
      field === other.field
        ? other.json
        : field === "due_at"
          ? JSON.stringify(new Date(NOW).toISOString())
          : "5";
    return {
      label: "two timings",
      req: reqOf(v, { set: { [field]: json } }),
      expect: refused(400, VALIDATION),
    };
  }),
  // A body that is not an object at all.
  fc.tuple(plainValidReq, notObject).map(
    ([v, x]): Case => ({
      label: "root not an object",
      req: { ...reqOf(v), body: JSON.stringify(x) },
      expect: refused(400, VALIDATION, ""),
    }),
  ),
);

/** Unknown members, at the top level and inside `callback`, with the nastiest keys. */
const unknownFieldCase: fc.Arbitrary<Case> = fc
  .tuple(
    plainValidReq.filter((v) => v.callbackUrl !== undefined),
    fc.oneof(
      fc.constantFrom(
        "__proto__",
        "constructor",
        "prototype",
        "toString",
        "",
        " ",
        "Topic",
        "topic ",
        "callbackUrl",
      ),
      oddString(10),
    ),
    jsonLeaf,
    fc.nat(8),
    fc.boolean(),
  )
  .filter(([, key]) => !BODY_FIELDS.includes(key))
  .map(([v, key, value, at, inCallback]): Case => {
    if (inCallback && key !== "url") {
      const callback = jsonObjectText([
        ["url", JSON.stringify(v.callbackUrl)],
        [key, JSON.stringify(value)],
      ]);
      return {
        label: `unknown callback.${key}`,
        req: reqOf(v, { set: { callback } }),
        expect: refused(400, VALIDATION, `callback.${key}`, "unknown field"),
      };
    }
    return {
      label: `unknown field ${JSON.stringify(key)}`,
      req: reqOf(v, { insert: [[key, JSON.stringify(value)]], at }),
      expect: refused(400, VALIDATION, key, "unknown field"),
    };
  });

const DEMO_LIMIT = 256 * 1024;
const BODY_CAP = 1024 * 1024;

/** Big content strings: the topic limit (413 on content) and the body cap (413 before parsing). */
const hugeCase: fc.Arbitrary<Case> = fc
  .tuple(
    plainValidReq.filter((v) => v.topic === "demo"),
    fc.oneof(
      fc.integer({ min: DEMO_LIMIT - 2000, max: DEMO_LIMIT + 2000 }),
      fc.integer({ min: 1000, max: 600_000 }),
    ),
    fc.constantFrom("x", "é", "😀", "\u0000", '"', "\uD800"),
    fc.boolean(),
    fc.constantFrom("string", "array", "keys"),
  )
  .map(([v, n, unit, asString, shape]): Case => {
    const base = JSON.parse(v.contentText) as Record<string, unknown>;
    let blobJson: string;
    if (shape === "string") blobJson = JSON.stringify(unit.repeat(Math.ceil(n / unit.length)));
    else if (shape === "array") blobJson = `[${"1,".repeat(Math.floor(n / 2))}1]`;
    else
      blobJson = jsonObjectText(Array.from({ length: Math.floor(n / 12) }, (_, i): Field => [`k${i}`, "0"]));
    const contentText = `${v.contentText.slice(0, -1)}${Object.keys(base).length > 0 ? "," : ""}"blob":${blobJson}}`;
    const big: ValidReq = { ...v, contentText, contentAsString: asString };
    const text = bodyTextOf(big);
    const stored = storedContentOf(contentText);
    const label = `huge ${shape} ${n} × ${JSON.stringify(unit)}${asString ? " as string" : ""}`;
    if (Buffer.byteLength(text) > BODY_CAP)
      return { label, req: reqOf(big), expect: refused(413, ["payload_too_large"]) };
    if (Buffer.byteLength(stored) > DEMO_LIMIT)
      return { label, req: reqOf(big), expect: refused(413, ["payload_too_large"], "content") };
    return validCase(label, big);
  });

/**
 * Many unknown members (short keys, up to the body cap): each costs the request ~8 bytes and would cost an
 * unbounded error body ~45, enough to push a 1 MiB request's answer past Lambda's 6 MB response limit.
 */
const manyIssuesCase: fc.Arbitrary<Case> = fc
  .tuple(
    plainValidReq.filter((v) => v.callbackUrl !== undefined),
    fc.integer({ min: 0, max: 17 }).chain((bits) => fc.integer({ min: 2 ** bits, max: 2 ** (bits + 1) })),
    fc.constantFrom("top", "callback", "both"),
  )
  .map(([v, count, where]): Case => {
    const keys = Array.from({ length: count }, (_, i): Field => [`~${i.toString(36)}`, "0"]);
    const set: Record<string, string> = {};
    if (where !== "top") set.callback = jsonObjectText([["url", JSON.stringify(v.callbackUrl)], ...keys]);
    const req = reqOf(v, { set, insert: where === "callback" ? [] : keys, at: 1 });
    const bytes = Buffer.byteLength(req.body ?? "");
    return {
      label: `${count} unknown members (${where}), ${bytes} bytes`,
      req,
      expect:
        bytes > BODY_CAP
          ? refused(413, ["payload_too_large"])
          : refused(
              400,
              VALIDATION,
              { top: /^~0$/, callback: /^callback\.~0$/, both: /^(callback\.)?~0$/ }[where],
              "unknown field",
            ),
    };
  });

function nest(depth: number, kind: "array" | "object"): string {
  return kind === "array"
    ? `${"[".repeat(depth)}0${"]".repeat(depth)}`
    : `${'{"a":'.repeat(depth)}0${"}".repeat(depth)}`;
}

/** Deep nesting: inside content up to the documented 64 levels is fine; beyond, and anywhere else, it is a 400. */
const deepCase: fc.Arbitrary<Case> = fc
  .tuple(
    plainValidReq.filter((v) => v.topic === "demo" || v.topic === "fallback"),
    fc.oneof(fc.integer({ min: 55, max: 75 }), fc.integer({ min: 1, max: 20_000 })),
    fc.constantFrom("array" as const, "object" as const),
    fc.constantFrom(
      "content",
      "content-string",
      "topic",
      "callback",
      "unknown",
      "root",
      "deliver_by",
      "timing",
    ),
  )
  .map(([v, depth, kind, where]): Case => {
    const deep = nest(depth, kind);
    const label = `depth ${depth} ${kind} in ${where}`;
    if (where === "content" || where === "content-string") {
      const contentText = `${v.contentText.slice(0, -1)}${v.contentText === "{}" ? "" : ","}"deep":${deep}}`;
      const d: ValidReq = { ...v, contentText, contentAsString: where === "content-string" };
      // The content object is level 1 and the innermost container level 1 + depth.
      return 1 + depth > 64
        ? { label, req: reqOf(d), expect: refused(400, VALIDATION, "content") }
        : validCase(label, d);
    }
    if (where === "root")
      return { label, req: { ...reqOf(v), body: deep }, expect: refused(400, VALIDATION) };
    const field =
      where === "unknown"
        ? "deep"
        : where === "timing"
          ? v.timing.field
          : where === "callback"
            ? "callback"
            : where;
    const json = where === "callback" ? `{"url":${deep}}` : deep;
    return { label, req: reqOf(v, { set: { [field]: json } }), expect: refused(400, VALIDATION) };
  });

/** Odd unicode where only ASCII (or a known name) is acceptable, and raw invalid UTF-8 bytes. */
const unicodeCase: fc.Arbitrary<Case> = fc.oneof(
  fc.tuple(plainValidReq, oddString(70)).map(
    ([v, topic]): Case => ({
      label: "odd topic",
      req: reqOf(v, { set: { topic: JSON.stringify(topic) } }),
      expect: refused(400, ["validation_failed", "unknown_topic"], "topic"),
    }),
  ),
  fc
    .tuple(
      plainValidReq,
      oddString(20, 1).filter((k) => !IDEMPOTENCY_KEY_PATTERN.test(k)),
      fc.boolean(),
    )
    .map(
      ([v, key, inHeader]): Case => ({
        label: `odd idempotency key in ${inHeader ? "header" : "body"}`,
        req: inHeader
          ? // A header value is a JS string here, even one no real proxy would pass on.
            { ...reqOf(v), headers: { ...headersOf(v), "idempotency-key": key } }
          : reqOf(v, { set: { idempotency_key: JSON.stringify(key) } }),
        expect: refused(400, VALIDATION, inHeader ? "Idempotency-Key" : "idempotency_key"),
      }),
    ),
  // Odd unicode in a callback URL: maybe valid (IDNA, percent-encoding), never a 5xx.
  fc
    .tuple(plainValidReq, oddString(10), fc.constantFrom("host", "path", "query", "fragment"))
    .map(([v, odd, part]): Case => {
      const url =
        part === "host"
          ? `https://${odd}.example.com/`
          : part === "path"
            ? `https://hooks.example.com/${odd}`
            : part === "query"
              ? `https://hooks.example.com/n?q=${odd}`
              : `https://hooks.example.com/n#${odd}`;
      return {
        label: `odd callback ${part}`,
        req: reqOf(v, { set: { callback: JSON.stringify({ url }) } }),
        expect: { kind: "either" },
      };
    }),
  // Invalid UTF-8 (overlong encodings, CESU surrogates, stray bytes) is refused wherever it is: inside a content
  // string it would decode to U+FFFD, silently changing the content that must be delivered as sent.
  fc
    .tuple(
      plainValidReq,
      fc.constantFrom(
        [0xc0, 0xaf],
        [0xe0, 0x80, 0xaf],
        [0xf0, 0x80, 0x80, 0xaf],
        [0xed, 0xa0, 0x80],
        [0xff],
        [0xc0, 0x80],
      ),
      fc.boolean(),
    )
    .map(([v, bad, inString]): Case => {
      const marker = "MARKER";
      const contentText = `${v.contentText.slice(0, -1)}${v.contentText === "{}" ? "" : ","}"bytes":"${marker}"}`;
      // U+FFFD is 3 bytes of UTF-8 where the bad sequence may have been 1: keep clear of "small"'s 100 bytes.
      const m: ValidReq = {
        ...v,
        contentText,
        contentAsString: false,
        topic: v.topic === "small" ? "demo" : v.topic,
      };
      const text = bodyTextOf(m);
      const [head = "", tail = ""] = text.split(marker);
      const bytes = inString
        ? Buffer.concat([Buffer.from(head), Buffer.from(bad), Buffer.from(tail)])
        : Buffer.concat([Buffer.from(bad), Buffer.from(text)]);
      const req: Req = { ...reqOf(m), body: bytes.toString("base64"), base64: true };
      return {
        label: inString ? "invalid UTF-8 in a content string" : "invalid UTF-8 before the body",
        req,
        expect: refused(400, INVALID_JSON),
      };
    }),
  // Unpaired surrogates and control characters raw in the body text (no proxy would send these; the handler copes).
  fc
    .tuple(plainValidReq, fc.constantFrom("\uD800", "\uDFFF", "\u0000", "\u001b", "\u0085"))
    .map(([v, ch]): Case => {
      const text = bodyTextOf(v);
      const at = text.indexOf('"content"');
      const body = `${text.slice(0, at)}"content":{"raw":"${ch}"},${text.slice(at).replace(/^"content"/, '"x_dropped"')}`;
      // The original content member is renamed to an unknown field, so the request is invalid either way.
      return { label: `raw ${JSON.stringify(ch)} in body`, req: { ...reqOf(v), body }, expect: refused(400) };
    }),
);

/** Odd but well-typed due times: accepted or refused, but an accepted one is never early or beyond maxDelay. */
const oddTimingCase: fc.Arbitrary<Case> = fc
  .tuple(
    plainValidReq,
    fc.oneof(
      fc
        .constantFrom(
          "2026-12-31T23:59:60Z",
          "2026-11-23T12:00:00+24:00",
          "2026-11-23T12:00:00-00:00",
          "2026-11-23t12:00:00z",
          "2026-11-23T12:00:00.123456789Z",
          "0000-01-01T00:00:00Z",
          "-000001-01-01T00:00:00Z",
          "+275760-09-13T00:00:00Z",
          "2026-02-29T00:00:00Z",
          "2026-11-23T12:00:00,5Z",
          "2026-11-23T12:00Z",
          "2026-11-23T12:00:00.Z",
          "２０２６-11-23T12:00:00Z",
          "2026-11-23T12:00:00Z\u0000",
        )
        .map((t) => ["due_at", JSON.stringify(t)] as const),
      fc
        .constantFrom(
          "0",
          "-0",
          "1e-320",
          "5e-324",
          "0.0000001",
          "1e400",
          "1.7976931348623157e308",
          "9007199254740993",
          "1795435200.0000001",
          "1795438799.9995",
          "1795438800.0005",
          "1E3",
          "0.0e10",
        )
        .chain((n) => fc.constantFrom(["timing_moment", n] as const, ["delay_seconds", n] as const)),
    ),
  )
  .map(([v, [field, json]]): Case => {
    const set: Record<string, string | null> = { [field]: json };
    if (field !== v.timing.field) set[v.timing.field] = null;
    return { label: `odd ${field} ${json}`, req: reqOf(v, { set }), expect: { kind: "either" } };
  });

/**
 * Seed-style routing (`content.sn` + `content.url`) with hostile names and paths: accepted or refused, but an
 * accepted task's callback always stays under the service's base URL.
 */
const seedStyleCase: fc.Arbitrary<Case> = fc
  .tuple(
    plainValidReq.filter((v) => v.topic !== "strict"),
    fc.oneof(
      fc.constant("billing"),
      fc.constantFrom("__proto__", "constructor", "toString", "Billing", "billing ", ""),
      oddString(6),
    ),
    fc.oneof(
      fc.constantFrom(
        "../admin",
        "%2e%2e/admin",
        "%2E%2E%2Fadmin",
        "..%2fadmin",
        "//evil.example/x",
        "\\\\evil.example\\x",
        "/\\evil.example",
        "https://evil.example/api/v1/x",
        "http://billing.example.com/api/v1/x",
        "https://billing.example.com/api/v2/x",
        "https://billing.example.com/api/v1/x",
        "https://billing.example.com:443/api/v1/x",
        "https://billing.example.com.evil.example/api/v1/",
        "https://billing.example.com@evil.example/api/v1/",
        "https://user@billing.example.com/api/v1/x",
        "/api/v1/../../x",
        "\u0000/x",
        "orders/\u202Etxt.exe",
        "ｅｖｉｌ.example",
        "http:evil.example",
        "javascript:alert(1)",
        "",
        "?x=1",
        "#frag",
      ),
      oddString(16),
    ),
  )
  .map(([v, sn, url]): Case => {
    const contentText = jsonObjectText([
      ["sn", JSON.stringify(sn)],
      ["url", JSON.stringify(url)],
    ]);
    const s: ValidReq = { ...withContent(v, contentText), callbackUrl: undefined, deliverBy: undefined };
    return {
      label: `seed style sn=${JSON.stringify(sn)} url=${JSON.stringify(url)}`,
      req: reqOf(s),
      expect: { kind: "either", callbackPrefix: "https://billing.example.com/api/v1/" },
    };
  });

/** Duplicate keys: JSON.parse semantics, the last one wins, consistently (storage and idempotency alike). */
/**
 * Duplicate keys, anywhere: refused with a 400 naming where, never resolved by guessing (JSON.parse keeps the last,
 * other parsers the first, so the receiver and we could read different requests).
 */
const duplicateCase: fc.Arbitrary<Case> = fc.oneof(
  // An earlier duplicate of any field, with any value (valid or not, present in the body or not).
  fc.tuple(plainValidReq, fc.constantFrom(...BODY_FIELDS), jsonLeaf).map(([v, field, value]): Case => {
    const fields = fieldsOf(v);
    const present = fields.some(([n]) => n === field);
    const text = present
      ? jsonObjectText([[field, JSON.stringify(value)], ...fields])
      : jsonObjectText([[field, JSON.stringify(value)], ...fields, [field, JSON.stringify(value)]]);
    return {
      label: `duplicate ${present ? "" : "absent "}${field}`,
      req: { ...reqOf(v), body: text },
      expect: refused(400, VALIDATION, field, "is given more than once in one object"),
    };
  }),
  // A later member with a wrong value: a duplicate if the field was there, else an ordinary bad field.
  fc
    .tuple(
      plainValidReq,
      wrongValue.filter((w) => w.json !== null),
    )
    .map(([v, w]): Case => {
      const fields = fieldsOf(v);
      const text = jsonObjectText([...fields, [w.field, w.json as string]]);
      const present = fields.some(([n]) => n === w.field);
      const otherTiming = ["timing_moment", "delay_seconds", "due_at"].includes(w.field) && !present;
      return {
        label: `later bad ${present ? "duplicate " : ""}${w.field}`,
        req: { ...reqOf(v), body: text },
        expect: present
          ? refused(400, VALIDATION, w.field, "is given more than once in one object")
          : refused(400, w.codes, otherTiming ? undefined : w.path),
      };
    }),
  // Duplicate keys inside content, as an object or a string holding one, even with equal values.
  fc
    .tuple(
      plainValidReq,
      jsonLeaf,
      fc.option(jsonLeaf),
      fc.constantFrom("k", "__proto__", "order_id_x"),
      fc.boolean(),
    )
    .map(([v, first, second, key, asString]): Case => {
      const again = second === null ? first : second;
      const inner = `{${JSON.stringify(key)}:${JSON.stringify(first)},${JSON.stringify(key)}:${JSON.stringify(again)}}`;
      const contentText = `${v.contentText.slice(0, -1)}${v.contentText === "{}" ? "" : ","}"dup":[0,${inner}]}`;
      return {
        label: `duplicate keys inside content${asString ? " (string)" : ""}`,
        req: reqOf(withContent(v, contentText, asString)),
        expect: refused(400, VALIDATION, `content.dup.1.${key}`, "is given more than once in one object"),
      };
    }),
);

/** A JSON number token as a caller may write it: any length, leading `-`, fraction, exponent in either case. */
const numberToken = fc.oneof(
  fc.stringMatching(/^-?(?:0|[1-9][0-9]{0,40})(?:\.[0-9]{1,20})?(?:[eE][+-]?[0-9]{1,4})?$/),
  fc.constantFrom(
    "-0",
    "1.0",
    "1E5",
    "1e400",
    "-1e400",
    "1e-400",
    "12345678901234567890",
    "9007199254740993",
  ),
);

/**
 * Number tokens inside content, as objects, arrays or a string content: stored (and so delivered) as written,
 * whatever JS would make of them; as a due time outside content they are refused when no JS number holds them.
 */
const exactNumberCase: fc.Arbitrary<Case> = fc
  .tuple(plainValidReq, fc.array(numberToken, { minLength: 1, maxLength: 6 }), fc.boolean())
  .map(([v0, tokens, asString]): Case => {
    const v = v0.topic === "small" ? { ...v0, topic: "demo" } : v0;
    const members = tokens.map((t, i): Field => [`n${i}`, t]);
    const added = jsonObjectText([...members, ["list", `[${tokens.join(",")}]`]]).slice(1, -1);
    const contentText = `${v.contentText.slice(0, -1)}${v.contentText === "{}" ? "" : ","}${added}}`;
    const withNumbers: ValidReq = { ...v, contentText, contentAsString: asString };
    return {
      label: `number tokens ${tokens.join(" ")}${asString ? " (string content)" : ""}`,
      req: reqOf(withNumbers),
      // The generated content text is compact with canonical string escapes: stored as is, token for token.
      expect: {
        kind: "valid",
        topic: v.topic,
        contentJson: storedContentOf(v.contentText)
          .slice(0, -1)
          .concat(v.contentText === "{}" ? "" : ",", added, "}"),
        dueMs: v.timing.dueMs,
      },
    };
  });

const INVALID_CONTENT_TYPES = [
  "text/plain",
  "text/json",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/json; charset=latin1",
  "application/json; charset=utf-16",
  "application/json; charset=utf-8; charset=latin1",
  "application/jsonp",
  "application/vnd.api+json",
  "application/json-patch+json",
  "application/*",
  "*/*",
  "",
  "json",
  "application/ json",
  "application/json\u0000",
  "application/json, text/plain",
  "text/plain, application/json",
  "application/json,application/json",
  "\u0430pplication/json",
];

const headerCase: fc.Arbitrary<Case> = fc.oneof(
  // Content types: the valid spellings of application/json work, everything else is 415.
  fc
    .tuple(plainValidReq, fc.constantFrom(...INVALID_CONTENT_TYPES), fc.constantFrom(...CONTENT_TYPE_NAMES))
    .map(
      ([v, ct, name]): Case => ({
        label: `content-type ${JSON.stringify(ct)}`,
        req: { ...reqOf(v), headers: { ...v.extraHeaders, [name]: ct } },
        expect: refused(415, ["unsupported_media_type"]),
      }),
    ),
  plainValidReq.map(
    (v): Case => ({
      label: "no content-type",
      req: { ...reqOf(v), headers: { ...v.extraHeaders } },
      expect: refused(415, ["unsupported_media_type"]),
    }),
  ),
  plainValidReq.map(
    (v): Case => ({
      label: "no headers at all",
      req: { ...reqOf(v), headers: undefined },
      expect: refused(415),
    }),
  ),
  // Two spellings of content-type that disagree: ambiguous, refused.
  fc
    .tuple(plainValidReq, fc.constantFrom(...INVALID_CONTENT_TYPES), fc.boolean())
    .map(([v, bad, validFirst]): Case => {
      const good: [string, string] = ["Content-Type", "application/json"];
      const conflicting: [string, string] = ["content-type", bad];
      const ordered = validFirst ? [good, conflicting] : [conflicting, good];
      return {
        label: `conflicting content-type headers (${JSON.stringify(bad)})`,
        req: { ...reqOf(v), headers: Object.fromEntries(ordered) },
        expect: refusedAny4xx,
      };
    }),
  // Two spellings with the same value are one header.
  plainValidReq.map(
    (v): Case =>
      validCase("same content-type twice", v, {
        ...reqOf(v),
        headers: { "Content-Type": "application/json", "content-type": "application/json" },
      }),
  ),
  // Idempotency keys: header and body disagree; two header spellings disagree; two keys combined by a proxy.
  fc
    .tuple(
      plainValidReq,
      idempotencyKey,
      idempotencyKey,
      fc.constantFrom("header-vs-body", "two-headers", "combined"),
    )
    .filter(([, a, b]) => a !== b)
    .map(([v, a, b, how]): Case => {
      const base = reqOf(v);
      const headers = { ...(base.headers ?? {}) };
      if (how === "header-vs-body") {
        return {
          label: "idempotency key: header ≠ body",
          req: {
            ...reqOf(v, { set: { idempotency_key: JSON.stringify(b) } }),
            headers: { ...headers, "Idempotency-Key": a },
          },
          expect: refused(400, VALIDATION, "idempotency_key"),
        };
      }
      if (how === "two-headers") {
        return {
          label: "two Idempotency-Key headers",
          req: { ...base, headers: { ...headers, "Idempotency-Key": a, "idempotency-key": b } },
          expect: refusedAny4xx,
        };
      }
      return {
        label: "two Idempotency-Key headers combined with a comma",
        req: { ...base, headers: { ...headers, "idempotency-key": `${a}, ${b}` } },
        expect: refusedAny4xx,
      };
    }),
  // Base64 flag mismatches, and base64 variants: decided by what the bytes actually decode to.
  fc
    .tuple(
      plainValidReq,
      fc.constantFrom(
        "json-flagged-base64",
        "base64-unflagged",
        "base64-truncated",
        "base64-mime",
        "base64url",
        "base64-junk",
        "utf16le",
      ),
    )
    .map(([v, how]): Case => {
      const text = bodyTextOf(v);
      const b64 = Buffer.from(text, "utf8").toString("base64");
      let body: string;
      let flag: boolean;
      switch (how) {
        case "json-flagged-base64":
          body = text;
          flag = true;
          break;
        case "base64-unflagged":
          body = b64;
          flag = false;
          break;
        case "base64-truncated":
          body = b64.slice(0, Math.max(0, b64.length - 5));
          flag = true;
          break;
        case "base64-mime":
          body = b64.replace(/(.{76})/g, "$1\r\n");
          flag = true;
          break;
        case "base64url":
          body = Buffer.from(text, "utf8").toString("base64url");
          flag = true;
          break;
        case "utf16le":
          body = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]).toString("base64");
          flag = true;
          break;
        default:
          body = `!!${b64}@@`;
          flag = true;
      }
      const decoded = flag ? Buffer.from(body, "base64").toString("utf8") : body;
      const req: Req = { ...reqOf(v), body, base64: flag };
      if (!parsesAsJson(decoded)) return { label: how, req, expect: refused(400, INVALID_JSON) };
      if (decoded.replace(/^\uFEFF/, "") === text) return validCase(how, v, req);
      return { label: how, req, expect: { kind: "either" } };
    }),
);

/** Methods: only POST (ASCII case-insensitively) reaches the route; the rest is 405 with Allow. */
const ODD_METHODS = [
  "GET",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "HEAD",
  "TRACE",
  "CONNECT",
  "",
  " POST",
  "POST ",
  "PO ST",
  "POST\u0000",
  "ＰＯＳＴ",
  "poſt",
  "poﬆ",
  "POSTS",
  "P",
  "x".repeat(10_000),
];
const ODD_PATHS = [
  "/v1/tasks",
  "/v1/tasks/",
  "/v1/tasks/..%2F..%2Fadmin",
  "/v1/TASKS",
  "/v1/tasks?x=1",
  "//v1//tasks",
  "/v1/tasks/\u202E",
];
const methodCase: fc.Arbitrary<Case> = fc
  .tuple(plainValidReq, fc.constantFrom(...ODD_METHODS, undefined), fc.constantFrom(...ODD_PATHS))
  .map(
    ([v, method, rawPath]): Case => ({
      label: `method ${JSON.stringify(method)}`,
      req: { ...reqOf(v), method, rawPath },
      expect: refused(405, ["method_not_allowed"]),
    }),
  );

// ---------------------------------------------------------------------------------------------------------
// GET and DELETE.
// ---------------------------------------------------------------------------------------------------------

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const wellFormedId = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(
        "demo",
        "small",
        "constructor",
        "prototype",
        "hasownproperty",
        "tostring",
        "valueof",
        "zzz",
      ),
      fc.stringMatching(/^[a-z][a-z0-9-]{0,23}$/),
    ),
    fc.oneof(fc.constant("_"), fc.stringMatching(/^[A-Za-z0-9_-]{16}$/)),
    fc.oneof(fc.stringMatching(/^[0-9a-z]{1,11}$/), fc.constantFrom("zzzzzzzzzzz", "0", "mhx0z8ka")),
    fc.array(fc.constantFrom(...CROCKFORD), { minLength: 26, maxLength: 26 }).map((c) => c.join("")),
  )
  .map(([topic, group, due, ulid]) => `${topic}.${group}.${due}.${ulid}`);

type IdMutation = (id: string, p: number, odd: string) => string;
const ID_MUTATIONS: Record<string, IdMutation> = {
  identity: (id) => id,
  flipCase: (id, p) => {
    const i = Math.floor(p * id.length);
    const c = id.charAt(i);
    const flipped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
    return id.slice(0, i) + flipped + id.slice(i + 1);
  },
  insertOdd: (id, p, odd) => {
    const i = Math.floor(p * (id.length + 1));
    return id.slice(0, i) + odd + id.slice(i);
  },
  replaceChar: (id, p, odd) => {
    const i = Math.floor(p * id.length);
    return id.slice(0, i) + (odd || "0") + id.slice(i + 1);
  },
  truncate: (id, p) => id.slice(0, Math.floor(p * id.length)),
  appendSlash: (id) => `${id}/`,
  dotDot: (id) => `../${id}`,
  dotDotEncoded: (id) => `..%2F${id}`,
  encodedSlash: (id) => id.replace(".", "%2F"),
  encodedDots: (id) => id.replaceAll(".", "%2E"),
  percentAll: (id) => [...id].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""),
  encodeURIComponent: (id) => encodeURIComponent(`${id}/x`),
  fullWidth: (id) =>
    [...id].map((c) => (c >= "!" && c <= "~" ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c)).join(""),
  lowerUlid: (id) => id.slice(0, -26) + id.slice(-26).toLowerCase(),
  twice: (id) => `${id}${id}`,
  query: (id) => `${id}?x=1`,
  trailingSpace: (id) => `${id} `,
  trailingNewline: (id) => `${id}\n`,
  nul: (id) => `${id}\u0000`,
  long: (id) => id + "A".repeat(20_000),
  rtl: (id) => `\u202E${id}`,
  zeroWidth: (id) => id.replace(".", ".\u200B"),
  otherUlid: (id) => id.slice(0, -1) + (id.endsWith("0") ? "1" : "0"),
};

/** Three tasks to aim at: scheduled on the queue, scheduled with a schedule, and queued. */
async function seededTasks(h: Api): Promise<{ queue: string; schedule: string; queued: string }> {
  const add = async (delay: number, order: string) => {
    const res = await call(h.add, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        topic: "demo",
        delay_seconds: delay,
        content: { order_id: order },
        callback: { url: "https://hooks.example.com/n" },
      }),
    });
    expect(res.statusCode).toBe(201);
    return String((JSON.parse(res.body ?? "{}") as { task_id: string }).task_id);
  };
  const ids = { queue: await add(10, "a"), schedule: await add(3000, "b"), queued: await add(20, "c") };
  await h.f.store.markQueued(ids.queued, NOW);
  return ids;
}

const idCase = fc.record({
  route: fc.constantFrom("get" as const, "cancel" as const),
  target: fc.constantFrom("queue" as const, "schedule" as const, "queued" as const),
  id: fc.oneof(
    {
      weight: 5,
      arbitrary: fc.tuple(
        fc.constantFrom(...Object.keys(ID_MUTATIONS)),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        oddString(3, 1),
      ),
    },
    { weight: 2, arbitrary: wellFormedId },
    { weight: 2, arbitrary: oddString(40) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "",
        ".",
        "..",
        "/",
        "%2F",
        "%00",
        "\u0000",
        "null",
        "undefined",
        "__proto__",
        "constructor",
        "x".repeat(100_000),
      ),
    },
  ),
  params: fc.constantFrom("id", "id", "id", "id", "none", "empty-object", "other-name", "extra"),
  method: fc.oneof(
    { weight: 4, arbitrary: fc.constant("route") },
    { weight: 1, arbitrary: fc.constantFrom("route-lower", "route-mixed") },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        ...ODD_METHODS,
        "POST",
        "GET",
        "DELETE",
        "get",
        "delete",
        "dElEtE",
        "ｇｅｔ",
        undefined,
      ),
    },
  ),
  rawPath: fc.constantFrom(
    "/v1/tasks/x",
    "/v1/tasks/..%2F..",
    "/v1/tasks/%2e%2e/%2e%2e/etc/passwd",
    "/v1/tasks//",
  ),
  headers: HARMLESS_HEADERS,
  body: fc.option(fc.constantFrom("{", '{"status":"delivered"}', "x".repeat(5000)), { nil: undefined }),
});

/** Whether a method string names `route` the way the API must treat it: ASCII letters, any case. */
function isMethod(method: string | undefined, route: string): boolean {
  return method !== undefined && /^[A-Za-z]+$/.test(method) && method.toUpperCase() === route;
}

// ---------------------------------------------------------------------------------------------------------
// The properties.
// ---------------------------------------------------------------------------------------------------------

/** Generous: the properties take a few seconds together, but the machine may be shared and busy. */
const TIMEOUT_MS = 60_000 * SCALE;

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
  it("odd ids, paths and methods: 404/405/409 and nothing touched, or the real task", async () => {
    await fc.assert(
      fc.asyncProperty(idCase, async (c) => {
        const h = api();
        const ids = await seededTasks(h);
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
            task_status: "queued",
          });
        } else {
          expect(status).toBe(200);
          expect(body).toMatchObject({ task_id: known, status: "cancelled" });
          // Only that task changed, to cancelled; its schedule (if any) was deleted; nothing else.
          expect(after.tasks.filter(([tid]) => tid !== known)).toEqual(
            before.tasks.filter(([tid]) => tid !== known),
          );
          expect(h.f.store.tasks.get(known)?.status).toBe("cancelled");
          expect(after.idempotency).toEqual(before.idempotency);
          expect(after.armed).toEqual(before.armed);
          expect(after.schedulesCreated).toEqual(before.schedulesCreated);
          expect(after.schedulesDeleted.length - before.schedulesDeleted.length).toBe(
            known === ids.schedule ? 1 : 0,
          );
          return;
        }
        expect(after, "a GET or refused DELETE changed the store or a timer").toEqual(before);
      }),
      runs(400),
    );
  });
});
