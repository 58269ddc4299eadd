import fc from "fast-check";
import { IDEMPOTENCY_KEY_PATTERN } from "#shared/domain/add-task-request.js";
import { T0 as NOW } from "../factories.js";

/**
 * Valid POST /v1/tasks requests (every accepted shape: timing forms, content types, header spellings, BOMs,
 * base64, whitespace) and what a property case expects of the API. Hostile variations are built on these.
 *
 * Times are generated around NOW, the instant the API specs' fixture clock stands at (test/unit/api/fakes.ts).
 */
export { NOW };
/** What a client (through API Gateway) controls. `method: undefined` leaves requestContext.http out. */
export interface Req {
  readonly method?: string | undefined;
  readonly rawPath?: string;
  readonly headers?: Record<string, string> | undefined;
  readonly body?: string | undefined;
  readonly base64?: boolean;
  readonly pathParameters?: Record<string, string> | undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Arbitraries: valid requests, and hostile variations of them.
// ---------------------------------------------------------------------------------------------------------

export const ODD_STRINGS = [
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
export const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
export const oddUnit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...ODD_STRINGS) },
  { weight: 1, arbitrary: loneSurrogate },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) },
);
export const oddString = (maxLength = 12, minLength = 0) =>
  fc.string({ unit: oddUnit, minLength, maxLength });

/**
 * Whether UTF-8 can hold `s`: no lone surrogate (half of a pair). DynamoDB strings are UTF-8, so only such strings
 * are valid where the API stores a field as a string or keys by it (topic, group value, deliver_by, callback URL);
 * content is stored as JSON text, where a lone surrogate stays its `\ud83d` escape, so content may hold one.
 */
export const isWellFormed = (s: string): boolean => Buffer.from(s, "utf8").toString("utf8") === s;
/** Odd strings without a lone surrogate (each unit is well-formed, so is their concatenation). */
export const wellFormedString = (maxLength = 12, minLength = 0) =>
  fc.string({ unit: oddUnit.filter(isWellFormed), minLength, maxLength });
/**
 * An odd string holding at least one lone surrogate: well-formed text around a half that cannot pair (the text
 * before it ends in no high half, the text after it starts with no low one).
 */
export const illFormedString = (maxSide = 6) =>
  fc
    .tuple(wellFormedString(maxSide), loneSurrogate, wellFormedString(maxSide))
    .map(([before, half, after]) => `${before}${half}${after}`);

export const BODY_FIELDS = [
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
export const oddKey = fc
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
export const jsonLeaf = fc.jsonValue({ maxDepth: 2, depthSize: "small", stringUnit: oddUnit });

/**
 * A key that passes IDEMPOTENCY_KEY_PATTERN and contains no comma (a comma means two combined headers): mostly
 * short, now and then at the pattern's 255-character limit.
 */
export const idempotencyKey = fc
  .oneof(
    { weight: 9, arbitrary: fc.stringMatching(/^[!-+\--~](?:[ -+\--~]{0,30}[!-+\--~])?$/) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "k".repeat(255),
        `!${" ".repeat(253)}~`,
        `${"~".repeat(254)}`,
        "%00".repeat(85),
      ),
    },
  )
  .filter((k) => IDEMPOTENCY_KEY_PATTERN.test(k) && k !== "seed-key");

export type TimingField = "timing_moment" | "due_at" | "delay_seconds";
export interface Timing {
  readonly field: TimingField;
  readonly json: string;
  readonly dueMs: number;
}

export function isoWithOffset(ms: number, offsetMinutes: number, withMs: boolean): string {
  if (offsetMinutes === 0 && !withMs) return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, withMs ? 23 : 19);
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  return `${local}${sign}${hh}:${mm}`;
}

/**
 * ⌈seconds × 1000⌉ of a non-negative JSON number token, in BigInt arithmetic: the API's due time for it (a
 * sub-millisecond part rounds up, never down), computed another way than shared/domain/whole-ms.ts does.
 */
export function msAtOrAfterToken(token: string): number {
  const [mantissa = "", exponent = "0"] = token.toLowerCase().split("e");
  const [whole = "", fraction = ""] = mantissa.split(".");
  const scale = Number(exponent) + 3 - fraction.length;
  const digits = BigInt(`${whole}${fraction}`);
  if (scale >= 0) return Number(digits * 10n ** BigInt(scale));
  const divisor = 10n ** BigInt(-scale);
  return Number((digits + divisor - 1n) / divisor);
}

/** Due times the test config accepts for every topic ("small" allows at most 3600 s ahead). */
export const timing: fc.Arbitrary<Timing> = fc.oneof(
  fc.oneof(fc.integer({ min: 0, max: 3590 }), fc.double({ min: 0, max: 3590, noNaN: true })).map(
    (d): Timing => ({
      field: "delay_seconds",
      json: JSON.stringify(d),
      dueMs: NOW + msAtOrAfterToken(JSON.stringify(d)),
    }),
  ),
  fc
    .tuple(fc.integer({ min: -1_000_000, max: 3590 }), fc.constantFrom(0, 0.25, 0.5, 0.999))
    .map(([s, frac]) => {
      const t = NOW / 1000 + s + frac;
      return {
        field: "timing_moment" as const,
        json: JSON.stringify(t),
        dueMs: msAtOrAfterToken(JSON.stringify(t)),
      };
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

export const VALID_CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json;charset=UTF-8",
  'application/json; charset="utf-8"',
  "application/json; charset=utf8",
  "Application/JSON",
  " application/json ",
  "application/json; foo=bar",
];
export const CONTENT_TYPE_NAMES = ["content-type", "Content-Type", "CONTENT-TYPE", "cOnTeNt-TyPe"];
export const IDEMPOTENCY_HEADER_NAMES = ["idempotency-key", "Idempotency-Key", "IDEMPOTENCY-KEY"];
export const CALLBACK_HOSTS = [
  "hooks.example.com",
  "api.example.org",
  "hooks.example.com:8443",
  "xn--bcher-kva.example",
  "bücher.example",
  "1.1.1.1",
  "[2606:4700:4700::1111]",
];
export const WHITESPACE = ["", " ", "\n", "\t", "\r\n  "];

export interface ValidReq {
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

export type Field = readonly [name: string, json: string];

export function jsonObjectText(fields: readonly Field[], ws = ""): string {
  const members = fields.map(([name, json]) => `${JSON.stringify(name)}${ws}:${ws}${json}`);
  return `{${ws}${members.join(`${ws},${ws}`)}${ws}}`;
}

/** The body's fields in the generated order. */
export function fieldsOf(v: ValidReq): Field[] {
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

export interface BodyEdit {
  /** Replace a field's JSON (null removes it); a name not in the body is appended. */
  readonly set?: Readonly<Record<string, string | null>>;
  /** Extra members inserted at `at` (an index into the member list, clamped). */
  readonly insert?: readonly Field[];
  readonly at?: number;
}

export function bodyTextOf(v: ValidReq, edit: BodyEdit = {}): string {
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

export function headersOf(v: ValidReq): Record<string, string> {
  return {
    ...v.extraHeaders,
    [v.contentTypeName]: v.contentType,
    ...(v.key !== undefined && v.keyIn !== "body" ? { [v.keyHeaderName]: v.key } : {}),
  };
}

export function reqOf(v: ValidReq, edit: BodyEdit = {}, overrides: Partial<Req> = {}): Req {
  const text = bodyTextOf(v, edit);
  return {
    method: v.method,
    headers: headersOf(v),
    body: v.base64 ? Buffer.from(text, "utf8").toString("base64") : text,
    base64: v.base64,
    ...overrides,
  };
}

/**
 * What the service stores as `content`: the text as written, white space between tokens dropped and each string in
 * JSON's shortest escaping; keys in written order (integer-like ones too, which a JS object would list first).
 */
export function storedContentOf(contentText: string): string {
  JSON.parse(contentText); // valid JSON only, as before
  return contentText.replace(/"(?:[^"\\]|\\.)*"|\s+/g, (token) =>
    token.startsWith('"') ? JSON.stringify(JSON.parse(token)) : "",
  );
}

/** The request with other content; content too big for topic "small" moves the request to "demo". */
export function withContent(v: ValidReq, contentText: string, contentAsString = v.contentAsString): ValidReq {
  const tooBigForSmall = v.topic === "small" && Buffer.byteLength(storedContentOf(contentText)) > 100;
  return { ...v, contentText, contentAsString, ...(tooBigForSmall ? { topic: "demo" } : {}) };
}

export const HARMLESS_HEADERS = fc.dictionary(
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

export const validReq: fc.Arbitrary<ValidReq> = fc
  .record({
    topic: fc.constantFrom("demo", "fallback", "strict", "small"),
    timing,
    entries: fc.uniqueArray(fc.tuple(oddKey, jsonLeaf), { selector: ([k]) => k, maxLength: 5 }),
    orderId: fc.option(
      fc.oneof(
        wellFormedString(30),
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
    deliverBy: fc.option(fc.oneof(fc.constant("order_id"), wellFormedString(20, 1)), {
      nil: undefined,
      freq: 3,
    }),
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
    // deliver_by must name a field whose value can order tasks (or be absent, making the task its own group): not
    // an object or array, nor a string with a lone surrogate (the group value is stored as a DynamoDB string).
    const content = JSON.parse(contentText) as Record<string, unknown>;
    const groupValue =
      g.deliverBy !== undefined && Object.hasOwn(content, g.deliverBy) ? content[g.deliverBy] : null;
    const ordersTasks =
      (typeof groupValue !== "object" || groupValue === null) &&
      (typeof groupValue !== "string" || isWellFormed(groupValue));
    const deliverBy = ordersTasks ? g.deliverBy : undefined;
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
export const plainValidReq = validReq.map(
  (v): ValidReq => ({ ...v, base64: false, bom: false, key: undefined, method: "POST" }),
);

export type Expectation =
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

export interface Case {
  readonly label: string;
  readonly req: Req;
  readonly expect: Expectation;
}

export function validCase(label: string, v: ValidReq, req: Req = reqOf(v)): Case {
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

export function refused(
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
export const refusedAny4xx: Expectation = { kind: "refused", status: 0 };

export const VALIDATION = ["validation_failed"];
export const INVALID_JSON = ["invalid_json"];

/** The guard's view of a body: BOM stripped; parse failure (or blank) → invalid_json. */
export function parsesAsJson(text: string): boolean {
  const stripped = text.replace(/^\uFEFF/, "");
  if (stripped.trim() === "") return false;
  try {
    JSON.parse(stripped);
    return true;
  } catch {
    return false;
  }
}
