import fc from "fast-check";
import { isoWithOffset, NOW, oddString } from "./add-task-request.js";
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
  // Near-misses of a host (the destination routes) and of a topic: spelt otherwise, the same or not.
  "hooks.example.com.",
  "HOOKS.EXAMPLE.COM",
  "hooks.example.com:443",
  "hooks.example.com%2F",
  "hooks%2Eexample%2Ecom",
  "xn--hooks-example-com",
  "[::1]",
  "127.0.0.1",
  "0x7f000001",
  "demo ",
  " demo",
  "Demo",
  "demo%20",
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
      text: fc.oneof(
        oddString(16),
        fc.constantFrom("x".repeat(3_000), "%00", "a,b", "%2C", ".."),
        // Near a word a route knows (a status, `include`'s `content`, a topic): case, padding, lists, JS names.
        fc.constantFrom(
          "scheduled",
          "FAILED",
          "failed ",
          " failed",
          "failed,failed",
          "failed,queued",
          "missing",
          "content,content",
          "Content",
          "content ",
          "demo,demo",
          "DEMO",
          "__proto__",
          "constructor",
          "toString",
          "hasOwnProperty",
        ),
      ),
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
    // Any value of the longest table (HOSTILE_CRONS): `value` is taken modulo the field's table length.
    arbitrary: fc.record({ kind: fc.constant("odd-value" as const), field: fc.nat(9), value: fc.nat(999) }),
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

// ---------------------------------------------------------------------------------------------------------
// Schedule fields (POST /v1/schedules): cron, time zone, start and end, each hostile on purpose. The route
// property above reaches them only through one odd value now and then; an ISO date as a cron (a 500) hid there.
// ---------------------------------------------------------------------------------------------------------

/** Cron patterns at and past croner's edges: each is refused (400) or taken whole, never a 5xx. */
export const HOSTILE_CRONS = [
  // Field counts: AWS's 6 with a year, croner's 7, too few, none.
  "* * * * * * *",
  "0 0 1 1 * 2030",
  "0 12 * * ? *",
  "cron(0 12 * * ? *)",
  "rate(5 minutes)",
  "* * * *",
  "0 0 0 0 0 0",
  "",
  " ",
  // Nicknames: unsupported, spelt oddly, doubled, mixed with fields.
  "@reboot",
  "@yearly",
  "@every 5m",
  "@YEARLY",
  "@annually",
  "@midnight",
  "@ daily",
  "@daily @daily",
  "0 0 1 1 @daily",
  "@",
  // Never (or almost never) fires.
  "0 0 31 2 *",
  "0 0 30 2 *",
  "0 0 31 2,4,6,9,11 *",
  "0 0 31 4 *",
  "0 0 31 4,6,9,11 *",
  "0 0 30 2 1#5",
  "0 0 29 2 *",
  "0 0 29 2 1",
  "0 0 0 29 2 1",
  "59 23 31 12 *",
  "59 59 23 31 12 *",
  // L, W and # alone and combined.
  "0 0 L * *",
  "0 0 LW * *",
  "0 0 L,LW * *",
  "0 0 L,1 * *",
  "0 0 L-1 * *",
  "0 0 L/2 * *",
  "0 0 lw * *",
  "0 0 W * *",
  "0 0 1W * *",
  "0 0 31W * *",
  "0 0 32W * *",
  "0 0 1W-5W * *",
  "0 0 1W,15W * *",
  "0 0 15W 2 *",
  "0 0 L 2 5L",
  "0 0 * * L",
  "0 0 * * 5L",
  "0 0 * * 0L,1L",
  "0 0 * * 7L",
  "0 0 * * 5#5",
  "0 0 ? * 5#5",
  "0 0 * * 5#6",
  "0 0 * * 5#0",
  "0 0 * * 5#",
  "0 0 * * #1",
  "0 0 * * 1#L",
  "0 0 * * L#1",
  "0 0 * * 7#1",
  "0 0 * * 1#1,1#3",
  "0 0 * * 1-5#1",
  "0 0 * * +1",
  "0 0 1 * +1",
  "0 0 * * +",
  "0 0 * * ++1",
  // Steps and ranges out of their field.
  "*/99999 * * * *",
  "*/9007199254740993 * * * *",
  "*/60 * * * *",
  "*/59 * * * *",
  "*/0 * * * *",
  "*/-1 * * * *",
  "0-59/99999 * * * *",
  "0/5 * * * *",
  "/5 * * * *",
  "*/5/5 * * * *",
  "5-1 * * * *",
  "1-0 * * * *",
  "1-2-3 * * * *",
  "0-60 * * * *",
  "0 0 * dec-jan *",
  "0 0 * jan-dec *",
  "0 0 * * 7-1",
  "0 0 * * 0-7",
  "0 0 * * sun-sat",
  "0 0 * * -7",
  "0 0 * * -sun",
  "0 0 * * MON,mon,Mon",
  "0 0 * * monday",
  "0 0 * JANUARY *",
  // Numbers spelt oddly: leading zeros, signs, exponents, other digits.
  "00 00 * * *",
  "000 0 * * *",
  "0 0 * * 01",
  "1e1 * * * *",
  "0x1 * * * *",
  "+1 * * * *",
  "-0 * * * *",
  "1.0 * * * *",
  "9007199254740993 * * * *",
  "٥ * * * *",
  "０ * * * *",
  // Separators: leading, trailing and doubled spaces, tabs, Unicode spaces.
  " 0 0 * * *",
  "0 0 * * * ",
  "0  0 * * *",
  "0\t0 * * *",
  "0\n0 * * *",
  "0\u00a00 * * *",
  "3\uFEFF0 2 * * *",
  // Out of range in each field.
  "60 * * * *",
  "0 24 * * *",
  "0 0 0 * *",
  "0 0 32 * *",
  "0 0 * 0 *",
  "0 0 * 13 *",
  "0 0 * * 8",
  "60 0 0 * * *",
  // Dates croner takes as a run-once job (any text with a colon past its first character).
  "0000-01-01T00:00:00Z",
  "2026-11-23T12:00:00",
  "2026-11-23T12:00:00Z",
  "0:0 * * * *",
  "12:00 * * * *",
  "x:1",
  "T1:1",
  // Long lists and everything-at-once.
  `${"1,".repeat(100)}1 * * * *`,
  `${Array.from({ length: 60 }, (_, i) => i).join(",")} * * * *`,
  `0 0 ${Array.from({ length: 31 }, (_, i) => `${i + 1}W`).join(",")} * *`,
  "0-59/1 0-23 1-31 1-12 0-7",
  "* * * * * *",
  "*/1 * * * * *",
  "*/1 */1 */1 */1 */1",
  // A seconds pattern whose times all fall in Europe/Berlin's spring-forward gap.
  "* * 2 * 3 0L",
  // Names of JavaScript's own.
  "__proto__",
  "constructor",
  "toString",
  "\u0000 * * * *",
];

const CRON_NUMBERS = [0, 1, 2, 5, 6, 7, 12, 13, 23, 24, 28, 29, 30, 31, 32, 59, 60, 99_999];

/** One field of a cron pattern, built from croner's tokens, any of them in any field. */
const cronField: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.constant("*") },
      { weight: 3, arbitrary: fc.constantFrom(...CRON_NUMBERS).map(String) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom(...CRON_NUMBERS), fc.constantFrom(...CRON_NUMBERS))
          .map(([a, b]) => `${a}-${b}`),
      },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom("*", "0-59", "1-31", "5-1", "0"), fc.constantFrom(...CRON_NUMBERS))
          .map(([a, s]) => `${a}/${s}`),
      },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          "L",
          "LW",
          "W",
          "?",
          "1W",
          "31W",
          "5L",
          "5#5",
          "1#L",
          "MON",
          "jan",
          "sun-sat",
        ),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.constantFrom(0, 1, 5, 7, 8), fc.constantFrom(0, 1, 5, 6, "L"))
          .map(([d, n]) => `${d}#${n}`),
      },
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map((parts) => parts.join(","));

/** Patterns of croner's tokens in 4 to 7 fields (mostly 5 or 6), a `+` day-of-week now and then. */
export const cronLike: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(5, 6) },
      { weight: 1, arbitrary: fc.constantFrom(4, 7) },
    ),
    fc.array(cronField, { minLength: 7, maxLength: 7 }),
    fc.boolean(),
  )
  .map(([count, fields, plus]) => {
    const used = fields.slice(0, count);
    if (plus) used[count - 1] = `+${used[count - 1]}`;
    return used.join(" ");
  });

/** Time zones: DST oddities, links and retired names, and names no runtime knows. */
export const HOSTILE_TIMEZONES = [
  "UTC",
  "Europe/Berlin",
  "Etc/GMT+12",
  "Etc/GMT-14",
  "Etc/GMT+13",
  "Etc/GMT-15",
  "Etc/GMT0",
  "Etc/GMT-0",
  "Etc/UTC",
  "Etc/Unknown",
  "Pacific/Kiritimati",
  "Pacific/Apia",
  "Pacific/Chatham",
  "America/St_Johns",
  "America/Santiago",
  "America/Havana",
  "America/Asuncion",
  "America/Scoresbysund",
  "America/Godthab",
  "America/Nuuk",
  "America/Argentina/ComodRivadavia",
  "America/Indiana/Indianapolis",
  "Asia/Kathmandu",
  "Asia/Calcutta",
  "Asia/Beirut",
  "Asia/Gaza",
  "Asia/Tehran",
  "Australia/Lord_Howe",
  "Antarctica/Troll",
  "Africa/Casablanca",
  "Europe/Dublin",
  "Europe/Kiev",
  "Europe/Kyiv",
  "US/Pacific",
  "US/Pacific-New",
  "EST5EDT",
  "Factory",
  "GMT",
  "Z",
  "utc",
  "etc/utc",
  "Europe/berlin",
  "EUROPE/BERLIN",
  "GMT+1",
  "+05:30",
  "-00:00",
  "Europe/Berlin/",
  "/Europe/Berlin",
  "Europe//Berlin",
  "Europe/Berlin ",
  " Europe/Berlin",
  "../../etc/passwd",
  "Mars/Olympus",
  "UTC\u0000",
  "Europe/Berlin\u0000",
  "Europe/Ber\u200Blin",
  "Europe/Zürich",
  `A/${"b".repeat(62)}`,
  "__proto__/constructor",
];

/** Instants near the fixed clock, at the seconds of a DST change, and at the ends of what a date can say. */
const SCHEDULE_INSTANTS = [
  NOW,
  NOW - 1,
  NOW + 1,
  NOW + 999,
  Date.parse("2027-03-28T01:00:00Z"), // Europe/Berlin springs forward
  Date.parse("2027-03-28T01:59:59.999Z"),
  Date.parse("2027-10-31T00:59:59Z"), // Europe/Berlin falls back
  Date.parse("2027-10-31T01:00:00Z"),
  Date.parse("2028-02-29T00:00:00Z"),
  Date.parse("2999-12-31T23:59:59Z"),
  Date.parse("3000-01-01T00:00:00Z"),
  Date.parse("9999-12-31T23:59:59.999Z"),
  Date.parse("1970-01-01T00:00:00Z"),
  Date.parse("0001-01-01T00:00:00Z"),
];

/** An RFC 3339 instant (with an odd offset, milliseconds or not), or one of the odd texts. */
export const scheduleTime: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...ODD_TIMESTAMPS) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.oneof(
          fc.constantFrom(...SCHEDULE_INSTANTS),
          fc.integer({ min: -86_400, max: 400 * 86_400 }).map((s) => NOW + s * 1000),
        ),
        fc.constantFrom(0, 0, 60, -60, 330, -210, 765, -720, 840, 1439, -1439),
        fc.boolean(),
      )
      .map(([ms, offset, withMs]) => isoWithOffset(ms, offset, withMs)),
  },
);

export interface SchedulePlan {
  readonly topic?: string;
  readonly deliver_by?: string;
  readonly cron?: string;
  readonly timezone?: string;
  readonly start_at?: string;
  readonly end_at?: string;
}

/** Patterns croner takes, each field in its own range: most reach a 201, and what a schedule taken must survive. */
const wellFormedCron: fc.Arbitrary<string> = fc
  .tuple(
    fc.option(fc.constantFrom("*", "0", "*/15", "59", "0-59/7"), { nil: undefined }),
    fc.constantFrom("*", "0", "30", "*/5", "0-59/13", "59"),
    fc.constantFrom("*", "0", "2", "3", "23", "*/6", "1-3"),
    fc.constantFrom("*", "1", "15", "28", "29", "30", "31", "L", "LW", "15W", "1-7"),
    fc.constantFrom("*", "1", "2", "3", "10", "12", "*/3", "jan-mar"),
    fc.constantFrom("*", "0", "1-5", "7", "5L", "0#2", "+1", "sun", "?"),
  )
  .map((fields) => fields.filter((f) => f !== undefined).join(" "));

/** A time near the clock: start_at from a day before to a year after it, end_at later still (mostly). */
const nearTime = (minS: number, maxS: number) =>
  fc
    .tuple(
      fc.integer({ min: minS, max: maxS }).map((s) => NOW + s * 1000),
      fc.constantFrom(0, 0, 60, -210, 330, 765, -720, 840),
      fc.boolean(),
    )
    .map(([ms, offset, withMs]) => isoWithOffset(ms, offset, withMs));

/**
 * One to four schedule fields set to hostile values, the others to ordinary ones or left out: enough requests are
 * taken (201) for what follows a create to be checked too.
 */
export const schedulePlan: fc.Arbitrary<SchedulePlan> = fc.record(
  {
    // The test config's topics (small: 100-byte payloads, an hour's maxDelay; strict: one callback host), and not.
    topic: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom("demo", "small", "fallback", "strict") },
      { weight: 1, arbitrary: fc.constantFrom("Demo", "nope") },
    ),
    deliver_by: fc.oneof(
      { weight: 3, arbitrary: fc.constant("order_id") },
      { weight: 1, arbitrary: fc.constantFrom("missing", "", "__proto__", "order_id.x") },
    ),
    cron: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_CRONS) },
      { weight: 2, arbitrary: cronLike },
      { weight: 4, arbitrary: wellFormedCron },
      { weight: 1, arbitrary: oddString(12) },
    ),
    timezone: fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(...HOSTILE_TIMEZONES) },
      { weight: 1, arbitrary: oddString(12) },
    ),
    start_at: fc.oneof(
      { weight: 1, arbitrary: scheduleTime },
      { weight: 2, arbitrary: nearTime(-86_400, 30 * 86_400) },
    ),
    end_at: fc.oneof(
      { weight: 1, arbitrary: scheduleTime },
      { weight: 2, arbitrary: nearTime(60 * 86_400, 5 * 365 * 86_400) },
    ),
  },
  { requiredKeys: [] },
);
