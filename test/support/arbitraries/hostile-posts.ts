import fc from "fast-check";
import { IDEMPOTENCY_KEY_PATTERN } from "#shared/domain/add-task-request.js";
import { MAX_ECHOED_CHARS } from "#shared/domain/echoed.js";
import {
  BODY_FIELDS,
  bodyTextOf,
  type Case,
  CONTENT_TYPE_NAMES,
  type Expectation,
  type Field,
  fieldsOf,
  headersOf,
  INVALID_JSON,
  idempotencyKey,
  illFormedString,
  jsonLeaf,
  jsonObjectText,
  NOW,
  oddString,
  parsesAsJson,
  plainValidReq,
  type Req,
  refused,
  refusedAny4xx,
  reqOf,
  storedContentOf,
  timing,
  VALIDATION,
  type ValidReq,
  validCase,
  withContent,
} from "./add-task-request.js";

/** Hostile POST /v1/tasks cases: each generator yields a request and what the API must answer. */
// ---------------------------------------------------------------------------------------------------------
// Hostile POST generators.
// ---------------------------------------------------------------------------------------------------------

/** Truncated valid bodies (text or bytes): never valid JSON, always 400 invalid_json. */
export const truncatedCase: fc.Arbitrary<Case> = fc
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

export const CORRUPTION_CHARS = [
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
export const mutation = fc.tuple(
  fc.constantFrom("insert", "replace", "delete", "duplicate", "swap"),
  fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  fc.constantFrom(...CORRUPTION_CHARS),
);

export function mutate(text: string, [op, p, q, chars]: [string, number, number, string]): string {
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
export const corruptedCase: fc.Arbitrary<Case> = fc
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

export const notString = jsonLeaf.filter((x) => typeof x !== "string");
export const notNumber = jsonLeaf.filter((x) => typeof x !== "number");
export const notObject = jsonLeaf.filter((x) => x === null || typeof x !== "object" || Array.isArray(x));
export function holdsObject(text: string): boolean {
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
  } catch {
    return false;
  }
}

/** Per field: values of the wrong type (or of the right type but never acceptable) and where the issue lands. */
export const wrongValue: fc.Arbitrary<{
  field: string;
  json: string | null;
  path: string | RegExp;
  codes: string[];
}> = fc.oneof(
  notString.map((x) => ({ field: "topic", json: JSON.stringify(x), path: "topic", codes: VALIDATION })),
  fc
    .oneof(fc.constant(""), fc.string({ minLength: 65, maxLength: 80 }), illFormedString())
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
      // Half a surrogate pair: no DynamoDB (UTF-8) string holds it.
      illFormedString().map((x) => JSON.stringify(x)),
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
      // The URL parser would turn half a surrogate pair into U+FFFD (`%EF%BF%BD`): a changed callback.
      fc
        .tuple(
          illFormedString(),
          fc.constantFrom(
            "https://*.example.com/",
            "https://hooks.example.com/*",
            "https://hooks.example.com/n?q=*#*",
          ),
        )
        .map(([odd, shape]) => JSON.stringify({ url: shape.split("*").join(odd) })),
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

export const wrongTypeCase: fc.Arbitrary<Case> = fc.oneof(
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
export const unknownFieldCase: fc.Arbitrary<Case> = fc
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
        expect: unknownFieldRefusal(key, "callback."),
      };
    }
    return {
      label: `unknown field ${JSON.stringify(key)}`,
      req: reqOf(v, { insert: [[key, JSON.stringify(value)]], at }),
      expect: unknownFieldRefusal(key),
    };
  });

/**
 * A 400 whose issue names the unknown key (under `prefix`), with the message "unknown field". The key is the
 * caller's, so the path echoes it as every answer does (shared/domain/echoed.ts): a key longer than
 * MAX_ECHOED_CHARS UTF-16 units is cut to one unit less, and one more if that leaves half a surrogate pair, then `…`.
 */
export function unknownFieldRefusal(key: string, prefix = ""): Expectation {
  let shown = key;
  if (key.length > MAX_ECHOED_CHARS) {
    const cut = key.slice(0, MAX_ECHOED_CHARS - 1);
    shown = `${/[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut}…`;
  }
  return refused(400, VALIDATION, `${prefix}${shown}`, "unknown field");
}

export const DEMO_LIMIT = 256 * 1024;
export const BODY_CAP = 1024 * 1024;

/** Big content strings: the topic limit (413 on content) and the body cap (413 before parsing). */
export const hugeCase: fc.Arbitrary<Case> = fc
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
export const manyIssuesCase: fc.Arbitrary<Case> = fc
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

export function nest(depth: number, kind: "array" | "object"): string {
  return kind === "array"
    ? `${"[".repeat(depth)}0${"]".repeat(depth)}`
    : `${'{"a":'.repeat(depth)}0${"}".repeat(depth)}`;
}

/** Deep nesting: inside content up to the documented 64 levels is fine; beyond, and anywhere else, it is a 400. */
export const deepCase: fc.Arbitrary<Case> = fc
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

/**
 * Half a surrogate pair in what is stored as a DynamoDB (UTF-8) string: the ordering group's value (the topic's
 * field or the one deliver_by names) and the seed-style `content.url` the callback is made of are refused at their
 * path; anywhere else in content it is accepted and stored as its JSON escape.
 */
export const loneSurrogateCase: fc.Arbitrary<Case> = fc
  .tuple(
    plainValidReq.filter((v) => v.topic !== "strict"),
    illFormedString(),
    fc.constantFrom("topic field", "deliver_by", "content.url", "elsewhere"),
  )
  .map(([v, odd, where]): Case => {
    const json = JSON.stringify(odd);
    if (where === "elsewhere") {
      const contentText = `${v.contentText.slice(0, -1)}${v.contentText === "{}" ? "" : ","}"half":${json}}`;
      return validCase("lone surrogate in content", withContent(v, contentText));
    }
    if (where === "content.url") {
      const contentText = jsonObjectText([
        ["sn", '"billing"'],
        ["url", JSON.stringify(`/orders/${odd}`)],
      ]);
      const s: ValidReq = { ...withContent(v, contentText), callbackUrl: undefined, deliverBy: undefined };
      return {
        label: "lone surrogate in content.url",
        req: reqOf(s),
        expect: refused(400, VALIDATION, "content.url"),
      };
    }
    const field = where === "deliver_by" ? "group_key" : "order_id";
    const contentText = jsonObjectText([[field, json]]);
    const s: ValidReq = {
      ...withContent(v, contentText),
      topic: where === "deliver_by" ? v.topic : "demo",
      deliverBy: where === "deliver_by" ? field : undefined,
    };
    return {
      label: `lone surrogate in the group value (${where})`,
      req: reqOf(s),
      expect: refused(400, VALIDATION, `content.${field}`),
    };
  });

/** Odd unicode where only ASCII (or a known name) is acceptable, and raw invalid UTF-8 bytes. */
export const unicodeCase: fc.Arbitrary<Case> = fc.oneof(
  loneSurrogateCase,
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
export const oddTimingCase: fc.Arbitrary<Case> = fc
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
          // At the limits, a millisecond either side: now, the timer's horizon (300 s), a year (demo's maxDelay).
          "2026-11-23T11:59:59.999Z",
          "2026-11-23T12:00:00.000Z",
          "2026-11-23T12:04:59.999Z",
          "2026-11-23T12:05:00.001Z",
          "2026-11-23T13:00:00.001Z",
          "2027-11-23T11:59:59.999Z",
          "2027-11-23T12:00:00Z",
          "2027-11-23T12:00:00.001Z",
          "2027-11-23T13:00:00.001+01:00",
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
          // At the limits, as delays and as instants (NOW is 1795435200 s): the timer's lead (120 s) and horizon
          // (300 s), SQS's longest delay (900 s), small's maxDelay (3600 s), demo's (a year), a hair either side.
          "119.9995",
          "120",
          "299.9995",
          "300",
          "300.0005",
          "900",
          "900.0005",
          "3599.9995",
          "3600",
          "3600.0005",
          "31535999.9995",
          "31536000",
          "31536000.0005",
          "31536001",
          "1795435199.9995",
          "1795435200",
          "1795435500.0005",
          "1826971199.9995",
          "1826971200",
          "1826971200.0005",
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
export const seedStyleCase: fc.Arbitrary<Case> = fc
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
export const duplicateCase: fc.Arbitrary<Case> = fc.oneof(
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
export const numberToken = fc.oneof(
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
export const exactNumberCase: fc.Arbitrary<Case> = fc
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

export const INVALID_CONTENT_TYPES = [
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

export const headerCase: fc.Arbitrary<Case> = fc.oneof(
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
export const ODD_METHODS = [
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
export const ODD_PATHS = [
  "/v1/tasks",
  "/v1/tasks/",
  "/v1/tasks/..%2F..%2Fadmin",
  "/v1/TASKS",
  "/v1/tasks?x=1",
  "//v1//tasks",
  "/v1/tasks/\u202E",
];
export const methodCase: fc.Arbitrary<Case> = fc
  .tuple(plainValidReq, fc.constantFrom(...ODD_METHODS, undefined), fc.constantFrom(...ODD_PATHS))
  .map(
    ([v, method, rawPath]): Case => ({
      label: `method ${JSON.stringify(method)}`,
      req: { ...reqOf(v), method, rawPath },
      expect: refused(405, ["method_not_allowed"]),
    }),
  );
