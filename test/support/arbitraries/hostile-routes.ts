import fc from "fast-check";
import { oddString } from "./add-task-request.js";
import { ODD_METHODS } from "./hostile-posts.js";
import { ID_MUTATIONS } from "./task-ids.js";

/**
 * Hostile requests for any route of the route table (test/unit/api/hostile-routes.test.ts). A case is a plan:
 * what to do to the route's method, path parameters, query, headers and body. The runner applies it to the
 * seeded world (the ids exist only once the store is seeded) and knows, from the plan, when the request must be
 * refused.
 */

// ---------------------------------------------------------------------------------------------------------
// Path parameters.
// ---------------------------------------------------------------------------------------------------------

/** Values no route should take for a path parameter (besides mutations of a real one). */
export const HOSTILE_SEGMENTS = [
  "",
  " ",
  ".",
  "..",
  "../..",
  "%2e%2e",
  "..%2F..%2Fetc%2Fpasswd",
  "%00",
  "\u0000",
  "a\u0000b",
  "%",
  "%ZZ",
  "%C0%AE",
  "\uFEFF",
  "\u202Edemo",
  "\uD800",
  "😀",
  "constructor",
  "__proto__",
  "prototype",
  "hasOwnProperty",
  "toString",
  "null",
  "undefined",
  "NaN",
  "*",
  "-",
  "?x=1",
  "#frag",
  "a/b",
  "demo/../demo",
  "DEMO",
  "d\u0435mo", // Cyrillic e
  "x".repeat(2_000),
  "é".repeat(1_000),
  "%41".repeat(700),
];

export type ParamPlan =
  | { readonly kind: "real"; readonly pick: number }
  | {
      readonly kind: "mutated";
      readonly pick: number;
      readonly mutation: string;
      readonly p: number;
      readonly odd: string;
    }
  | { readonly kind: "hostile"; readonly value: string };

const MUTATIONS = Object.keys(ID_MUTATIONS).filter((m) => m !== "identity");

export const paramPlan: fc.Arbitrary<ParamPlan> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("real" as const), pick: fc.nat(7) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("mutated" as const),
      pick: fc.nat(7),
      mutation: fc.constantFrom(...MUTATIONS),
      p: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
      odd: fc.oneof(oddString(4, 1), fc.constantFrom("/", "%2F", "..", "\u0000", "é", "%")),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("hostile" as const),
      value: fc.oneof(fc.constantFrom(...HOSTILE_SEGMENTS), oddString(24, 1)),
    }),
  },
);

/** How the event carries the path parameters: as the route names them, not at all, or under other names. */
export const PARAM_SHAPES = [
  "route",
  "route",
  "route",
  "route",
  "none",
  "empty",
  "other-names",
  "extra",
] as const;
export type ParamShape = (typeof PARAM_SHAPES)[number];

// ---------------------------------------------------------------------------------------------------------
// Query strings.
// ---------------------------------------------------------------------------------------------------------

/** Numbers a `limit` (or any number) should not take, as text. */
export const ODD_NUMBERS = [
  "0",
  "-1",
  "-0",
  "1.5",
  "1e309",
  "-1e309",
  "1e2",
  "0x10",
  "0X10",
  "0b11",
  "0o7",
  "1E2",
  "+5",
  "05",
  "00",
  "010",
  "\t5",
  ".5",
  "5.",
  "5.0",
  "1_000",
  " 5",
  "5 ",
  "NaN",
  "Infinity",
  "-Infinity",
  "99999999999999999999999",
  "9007199254740993",
  "1001",
  "101",
  "",
  "true",
  "[]",
  "5,5",
  "٥",
];

/** A cursor nobody gave out: garbage, another list's key shape, the right shape with hostile values. */
export function forgedCursors(topic: string, pk: string): string[] {
  const b64 = (v: unknown) =>
    Buffer.from(typeof v === "string" ? v : JSON.stringify(v), "utf8").toString("base64url");
  const sk = "0000000.01ARZ3NDEKTSV4RRFFQ69G5FAV";
  return [
    "x",
    "!!!",
    "%00",
    "====",
    b64("not json"),
    b64("null"),
    b64("[]"),
    b64("1e309"),
    b64({}),
    b64({ pk }),
    b64({ pk, sk: 1 }),
    b64({ pk, sk, extra: 1 }),
    b64({ pk: `${pk}x`, sk }),
    b64({ pk, sk: "x".repeat(1_500) }),
    b64({ pk, sk, failedTopic: topic, failedAtMs: -1 }),
    b64(
      `{"pk":${JSON.stringify(pk)},"sk":"${sk}","failedTopic":${JSON.stringify(topic)},"failedAtMs":1e309}`,
    ),
    b64({ pk, sk, failedTopic: topic, failedAtMs: "1" }),
    b64({ pk, sk, failedTopic: `${topic}x`, failedAtMs: 1 }),
    b64({ __proto__: { polluted: 1 }, pk, sk }),
    `{"pk":"${pk}"}`,
    b64({ pk, sk }).repeat(40).slice(0, 3_000),
    Buffer.from(JSON.stringify({ pk, sk })).toString("base64"),
  ];
}

export type QueryValue =
  | { readonly kind: "valid" }
  | { readonly kind: "number"; readonly text: string }
  | { readonly kind: "cursor"; readonly pick: number }
  | { readonly kind: "odd"; readonly text: string };

export interface QueryPlan {
  /** Keys by index into the route's known keys (or an unknown key), each with a value plan. */
  readonly pairs: readonly { readonly key: number | string; readonly value: QueryValue }[];
  /** Extra raw text appended to the query string (odd separators and encodings). */
  readonly raw: string;
}

const queryValue: fc.Arbitrary<QueryValue> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: "valid" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("number" as const), text: fc.constantFrom(...ODD_NUMBERS) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("cursor" as const), pick: fc.nat(30) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("odd" as const),
      text: fc.oneof(oddString(16), fc.constantFrom("x".repeat(3_000), "%00", "a,b", "%2C", "..")),
    }),
  },
);

export const UNKNOWN_QUERY_KEYS = [
  "foo",
  "dry_run",
  "subscriber",
  "group",
  "__proto__",
  "constructor",
  "Topic",
  "limit ",
  "",
  "x".repeat(300),
];

export const queryPlan: fc.Arbitrary<QueryPlan> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ pairs: [], raw: "" }) },
  {
    weight: 5,
    arbitrary: fc.record({
      pairs: fc.array(
        fc.record({
          key: fc.oneof(
            { weight: 3, arbitrary: fc.nat(5) },
            { weight: 2, arbitrary: fc.constantFrom(...UNKNOWN_QUERY_KEYS) },
          ),
          value: queryValue,
        }),
        { minLength: 1, maxLength: 4 },
      ),
      raw: fc.oneof(
        { weight: 4, arbitrary: fc.constant("") },
        {
          weight: 1,
          arbitrary: fc.constantFrom("&", "&&", "=", "=x", "&=", "%", "%ZZ=1", "a=%", "&limit", ";x=1"),
        },
      ),
    }),
  },
);

// ---------------------------------------------------------------------------------------------------------
// Headers and bodies.
// ---------------------------------------------------------------------------------------------------------

export const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "text/plain",
  "application/x-www-form-urlencoded",
  "application/json, text/plain",
  "application/jsonx",
  "",
  "multipart/form-data; boundary=x",
] as const;

export interface HeaderPlan {
  /** Index into CONTENT_TYPES, or undefined for none. */
  readonly contentType?: number;
  /** A second spelling of content-type with another value (ambiguous: refused). */
  readonly conflictingSpelling: boolean;
  readonly contentEncoding?: string;
  readonly extra: Readonly<Record<string, string>>;
  readonly noHeaders: boolean;
}

export const headerPlan: fc.Arbitrary<HeaderPlan> = fc.record(
  {
    contentType: fc.oneof(
      { weight: 5, arbitrary: fc.constant(0) },
      { weight: 3, arbitrary: fc.nat(CONTENT_TYPES.length - 1) },
    ),
    conflictingSpelling: fc.oneof(
      { weight: 6, arbitrary: fc.constant(false) },
      { weight: 1, arbitrary: fc.constant(true) },
    ),
    contentEncoding: fc.constantFrom(
      "gzip",
      "br",
      "identity",
      "deflate, gzip",
      "x",
      "IDENTITY",
      "",
      "identity, identity",
      "identity, gzip",
      "zstd",
    ),
    extra: fc.dictionary(
      fc.constantFrom(
        "x-http-method-override",
        "accept",
        "x-forwarded-for",
        "idempotency-key",
        "__proto__",
        "content-length",
      ),
      fc.oneof(oddString(12), fc.constantFrom("DELETE", "0", "-1", "x".repeat(2_000))),
      { maxKeys: 2 },
    ),
    noHeaders: fc.oneof(
      { weight: 9, arbitrary: fc.constant(false) },
      { weight: 1, arbitrary: fc.constant(true) },
    ),
  },
  { requiredKeys: ["conflictingSpelling", "extra", "noHeaders"] },
);

/** Values that are the wrong type almost anywhere, and numbers / times out of range where a number or time goes. */
export const WRONG_VALUES: readonly unknown[] = [
  null,
  true,
  0,
  -1,
  "",
  "x",
  [],
  {},
  [1, 2],
  { a: 1 },
  "1e309",
  "NaN",
];

/** Raw JSON number tokens out of any sane range (written into the text, as JSON.stringify cannot). */
export const ODD_NUMBER_TOKENS = [
  "1e309",
  "-1e309",
  "123456789012345678901234567890",
  "-0",
  "1.0",
  "1e-400",
  "-1",
  "0",
  "9007199254740993",
  "4.5",
];

export const ODD_TIMESTAMPS = [
  "0000-01-01T00:00:00Z",
  "1970-01-01T00:00:00Z",
  "1969-12-31T23:59:59.999Z",
  "9999-12-31T23:59:59Z",
  "+275760-09-13T00:00:00.000Z",
  "-000001-01-01T00:00:00Z",
  "2026-02-30T00:00:00Z",
  "2026-13-01T00:00:00Z",
  "2026-11-23T24:00:00Z",
  "2026-11-23T12:00:00+24:00",
  "2026-11-23T12:00:00",
  "2026-11-23",
  "1764000000",
  "2026-11-23T12:00:60Z",
  "2026-11-23T12:00:00.123456789Z",
];

export type BodyPlan =
  | { readonly kind: "valid" }
  | { readonly kind: "none" }
  | { readonly kind: "truncated"; readonly p: number }
  | { readonly kind: "garbage"; readonly text: string }
  | { readonly kind: "wrong-type"; readonly field: number; readonly value: number }
  | { readonly kind: "unknown-field"; readonly name: string }
  | { readonly kind: "duplicate-field"; readonly field: number }
  | { readonly kind: "odd-number"; readonly field: number; readonly token: number }
  | { readonly kind: "odd-time"; readonly field: number; readonly time: number }
  | { readonly kind: "huge"; readonly bytes: number }
  | { readonly kind: "not-object"; readonly text: string }
  /** The valid body gzipped (base64, `content-encoding: gzip`): the API takes no compressed bodies. */
  | { readonly kind: "gzip" }
  /** One field set to one of the route's own odd-but-well-typed values (its spec's `oddValues`). */
  | { readonly kind: "odd-value"; readonly field: number; readonly value: number };

export const bodyPlan: fc.Arbitrary<BodyPlan> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: "valid" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "none" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("truncated" as const),
      p: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("garbage" as const),
      text: fc.oneof(
        oddString(20, 1),
        fc.constantFrom("{", "}", '{"a":}', "NaN", "{'a':1}", "\u0000", "{}}", "[{]"),
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("wrong-type" as const),
      field: fc.nat(9),
      value: fc.nat(WRONG_VALUES.length - 1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("unknown-field" as const),
      name: fc.constantFrom("extra", "__proto__", "constructor", "Topic", "topic ", "x".repeat(500)),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("duplicate-field" as const), field: fc.nat(9) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("odd-number" as const),
      field: fc.nat(9),
      token: fc.nat(ODD_NUMBER_TOKENS.length - 1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("odd-time" as const),
      field: fc.nat(9),
      time: fc.nat(ODD_TIMESTAMPS.length - 1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("huge" as const),
      bytes: fc.constantFrom(300_000, 1_100_000, 4_300_000),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "gzip" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("odd-value" as const), field: fc.nat(9), value: fc.nat(40) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("not-object" as const),
      text: fc.constantFrom("[]", "null", "1", '"x"', "true", "[{}]"),
    }),
  },
);

export type MethodPlan = "route" | "lower" | "none" | string;

export const methodPlan: fc.Arbitrary<MethodPlan> = fc.oneof(
  { weight: 12, arbitrary: fc.constant("route") },
  { weight: 1, arbitrary: fc.constant("lower") },
  { weight: 1, arbitrary: fc.constant("none") },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_METHODS) },
);

export interface RoutePlan {
  readonly method: MethodPlan;
  readonly paramShape: ParamShape;
  readonly params: readonly ParamPlan[];
  readonly query: QueryPlan;
  readonly headers: HeaderPlan;
  readonly body: BodyPlan;
  /** Which of the route's valid bodies the body plan starts from. */
  readonly variant: number;
  /** The body base64-encoded with the flag set (true), the flag set on a plain body ("lie"), or neither. */
  readonly base64: boolean | "lie";
}

const anyPlan: fc.Arbitrary<RoutePlan> = fc.record({
  method: methodPlan,
  paramShape: fc.constantFrom(...PARAM_SHAPES),
  params: fc.array(paramPlan, { minLength: 2, maxLength: 2 }),
  query: queryPlan,
  headers: headerPlan,
  body: bodyPlan,
  variant: fc.nat(7),
  base64: fc.oneof(
    { weight: 8, arbitrary: fc.constant(false) },
    { weight: 2, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant("lie" as const) },
  ),
});

/** The route's plain valid request: every other plan changes some of it. */
export const PLAIN_PLAN: RoutePlan = {
  method: "route",
  paramShape: "route",
  params: [
    { kind: "real", pick: 0 },
    { kind: "real", pick: 0 },
  ],
  query: { pairs: [], raw: "" },
  headers: { contentType: 0, conflictingSpelling: false, extra: {}, noHeaders: false },
  body: { kind: "valid" },
  variant: 0,
  base64: false,
};

/** The plain request with one thing changed, so a defect is not hidden behind another refusal. */
const oneChange: fc.Arbitrary<RoutePlan> = fc.oneof(
  methodPlan.map((method) => ({ ...PLAIN_PLAN, method })),
  fc.array(paramPlan, { minLength: 2, maxLength: 2 }).map((params) => ({ ...PLAIN_PLAN, params })),
  queryPlan.map((query) => ({ ...PLAIN_PLAN, query })),
  headerPlan.map((headers) => ({ ...PLAIN_PLAN, headers })),
  fc.tuple(bodyPlan, fc.nat(7)).map(([body, variant]) => ({ ...PLAIN_PLAN, body, variant })),
  fc.constantFrom(true, "lie" as const).map((base64) => ({ ...PLAIN_PLAN, base64 })),
);

export const routePlan: fc.Arbitrary<RoutePlan> = fc.oneof(anyPlan, oneChange);
