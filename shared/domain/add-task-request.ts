import type { ErrorIssue } from "#shared/api/errors.js";
import * as z from "#shared/zod.js";
import { MAX_CALLBACK_URL_LENGTH } from "./callback-resolution.js";
import { canParseUrl } from "./can-parse-url.js";
import { isLosslessNumber, parseExactJson, stringifyExact, withJsNumbers } from "./exact-json.js";
import { isPlainObject, toIssues, tooManyUnknownFields } from "./request-issues.js";
import { RESERVED_KEY_PREFIX } from "./reserved-keys.js";
import { rfc3339DateTime } from "./rfc3339.js";
import { type DueSpec, tooFarAheadMessage } from "./timing.js";
import { notWellFormedIssues } from "./well-formed.js";
import { msAtOrAfterSeconds } from "./whole-ms.js";

/**
 * Idempotency keys are stored in the table key (`idem#<key>`), so they are bounded and kept to visible ASCII;
 * inner spaces are allowed, leading or trailing ones are not (proxies trim them from headers, which would make
 * the header and body forms of one key differ). No commas: API Gateway joins a repeated header's values with
 * commas, so `Idempotency-Key: a` sent twice with `b` arrives as `a,b`, which must not pass as one key.
 */
export const IDEMPOTENCY_KEY_PATTERN =
  /^[\x21-\x2b\x2d-\x7e](?:[\x20-\x2b\x2d-\x7e]{0,253}[\x21-\x2b\x2d-\x7e])?$/;
export const IDEMPOTENCY_KEY_MESSAGE =
  "must be 1–255 printable ASCII characters, without commas or leading/trailing spaces";

/**
 * The schedule materializer adds each occurrence under `schedule:<id>:<epoch>:<ms>` (shared/domain/schedule.ts), in
 * the topic's key space that callers' keys share: a caller's add under such a key with another body would make
 * the occurrence a 409, which the materializer skips. So a caller's key may not start with it. Keys are compared
 * byte for byte (they are the table key), so only this exact spelling can collide: `Schedule:` is a caller's key.
 */
export const RESERVED_KEY_MESSAGE = `must not start with \`${RESERVED_KEY_PREFIX}\`: that prefix is reserved for the keys of schedule occurrences`;

/** Whose key an add carries: a caller's (API, client, CLI), or the schedule materializer's (the reserved prefix). */
export type KeyOwner = "caller" | "schedule";

// Kept with the callback rules (a module without zod schemas), so config validation can read it without
// bundling this module's schemas into every function.
export { MAX_CALLBACK_URL_LENGTH } from "./callback-resolution.js";
export { isPlainObject, MAX_UNKNOWN_FIELDS, toIssues } from "./request-issues.js";

/**
 * JSON.parse copes with any nesting, but JSON.stringify, hashing and every receiver's parser recurse: a 1 MiB
 * body of nested brackets would overflow the stack and turn bad input into a 500. No real payload is this deep.
 */
export const MAX_CONTENT_DEPTH = 64;

const TIMING_FIELDS = ["timing_moment", "due_at", "delay_seconds"] as const;

/** A topic's maxDelay in seconds, by the topic's name; undefined for a topic that is not configured. */
export type MaxDelayOf = (topic: string) => number | undefined;

/** The key, from the body's `idempotency_key` or the `Idempotency-Key` header (the OpenAPI document shows both). */
export const idempotencyKeySchema = /* @__PURE__ */ z.withMeta(
  /* @__PURE__ */ z.string().check(/* @__PURE__ */ z.regex(IDEMPOTENCY_KEY_PATTERN, IDEMPOTENCY_KEY_MESSAGE)),
  {
    description: `same key + same body → the same task (200), else 409; 1–255 printable ASCII, no commas or leading/trailing spaces, not starting with \`${RESERVED_KEY_PREFIX}\` (reserved for schedule occurrences; case-sensitive)`,
  },
);

/**
 * The content as it will be stored and delivered: `value` for our own reads (ordering field, seed-style routing;
 * its numbers are `LosslessNumber`s when it came from a request body) and `text`, its JSON text with every number
 * token as the caller wrote it.
 */
export interface ExactContent {
  readonly value: Record<string, unknown>;
  readonly text: string;
}

/** Why a content is refused, at its path inside the content. */
export interface ContentIssue {
  readonly message: string;
  readonly path: string[];
}

/**
 * `content` is a JSON object, or (seed style) a string that holds one. The string is parsed by the same lossless
 * parser as the body (duplicate keys refused, numbers kept as written), so both spellings of one content are one
 * value: stored alike, delivered alike, one request for idempotency. Apart from its schema so that a schedule's
 * stop, which reads a stored content as an add would (shared/services/schedules/materialize.ts,
 * occurrenceRequest), does not bundle the add body's schema.
 */
export function exactContentOf(
  value: unknown,
): { ok: true; content: ExactContent } | { ok: false; issue: ContentIssue } {
  if (value === undefined) return { ok: false, issue: { message: "is required", path: [] } };
  let parsed: unknown = value;
  if (typeof value === "string") {
    const inner = parseExactJson(value, MAX_CONTENT_DEPTH);
    if (!inner.ok) {
      // A duplicate is named where it is inside the string; too deep is reported at `content`, as for an object.
      const issue =
        inner.kind === "duplicate"
          ? { message: inner.issue.message, path: inner.issue.path.split(".") }
          : inner.kind === "depth"
            ? { message: inner.issue.message, path: [] }
            : { message: "a string content must hold a JSON object", path: [] };
      return { ok: false, issue };
    }
    parsed = inner.value;
  }
  if (!isPlainObject(parsed)) {
    return { ok: false, issue: { message: "must be a JSON object, or a string holding one", path: [] } };
  }
  if (exceedsDepth(parsed, MAX_CONTENT_DEPTH)) {
    return {
      ok: false,
      issue: { message: `must not nest deeper than ${MAX_CONTENT_DEPTH} levels`, path: [] },
    };
  }
  return { ok: true, content: { value: parsed, text: stringifyExact(parsed) } };
}

// The schemas below are marked pure: a bundle that only reads contents (a schedule's stop) leaves them out.
export const contentSchema = /* @__PURE__ */ z.withMeta(
  /* @__PURE__ */ z.pipe(
    /* @__PURE__ */ z.unknown(),
    /* @__PURE__ */ z.transformWithIssues((value: unknown, ctx): ExactContent => {
      const checked = exactContentOf(value);
      if (checked.ok) return checked.content;
      ctx.addIssue({ code: "custom", ...checked.issue });
      return z.NEVER;
    }),
  ),
  {
    description:
      "a JSON object, or a string holding one (seed style); delivered exactly as sent, numbers as written; duplicate keys refused",
    anyOf: [{ type: "object" }, { type: "string", contentMediaType: "application/json" }],
  },
);

/** What the service keeps of a due time (shared/domain/whole-ms.ts), said in the OpenAPI document. */
const WHOLE_MS_NOTE =
  "a part below the millisecond rounds up to the next whole ms (never early); past means now";

/** The three ways to say when a task is due (add, and reschedule: one rule for both). */
const timingFields = {
  timing_moment: /* @__PURE__ */ z.optional(
    /* @__PURE__ */ z.withMeta(
      /* @__PURE__ */ z.number().check(/* @__PURE__ */ z.gte(0, "must be unix seconds, not negative")),
      { description: `unix seconds, may be fractional; ${WHOLE_MS_NOTE}` },
    ),
  ),
  due_at: /* @__PURE__ */ z.optional(
    /* @__PURE__ */ z.withMeta(rfc3339DateTime, { description: `a date-time with a zone; ${WHOLE_MS_NOTE}` }),
  ),
  delay_seconds: /* @__PURE__ */ z.optional(
    /* @__PURE__ */ z.withMeta(
      /* @__PURE__ */ z.number().check(/* @__PURE__ */ z.gte(0, "must not be negative")),
      { description: `seconds from now, may be fractional; ${WHOLE_MS_NOTE}` },
    ),
  ),
};

type TimingFields = { [F in (typeof TIMING_FIELDS)[number]]?: unknown };

/**
 * The timing rule is checked even when other fields failed (zod skips a check after any issue unless it says
 * `when`), so `{"topic":"demo"}` is told of its missing due time with its missing content in one 400, not one
 * after the other. Only an object is checked: anything else already failed as a whole.
 */
const EVEN_WITH_OTHER_ISSUES = {
  when: (payload: z.core.ParsePayload) => isPlainObject(payload.value),
} as const;

/** Exactly one of the timing fields. */
function exactlyOneTiming(body: TimingFields, ctx: z.core.$RefinementCtx): void {
  const given = TIMING_FIELDS.filter((field) => body[field] !== undefined);
  if (given.length === 0) {
    ctx.addIssue({
      code: "custom",
      path: [],
      message: "exactly one of timing_moment, due_at or delay_seconds is required",
    });
  } else if (given.length > 1) {
    for (const field of given.slice(1)) {
      ctx.addIssue({
        code: "custom",
        path: [field],
        message: `give only one of timing_moment, due_at or delay_seconds (also got ${given[0]})`,
      });
    }
  }
}

export const addTaskBodySchema = /* @__PURE__ */ z
  .strictObject({
    topic: /* @__PURE__ */ z.string().check(/* @__PURE__ */ z.minLength(1), /* @__PURE__ */ z.maxLength(64)),
    ...timingFields,
    content: contentSchema,
    deliver_by: /* @__PURE__ */ z.optional(
      /* @__PURE__ */ z.string().check(/* @__PURE__ */ z.minLength(1), /* @__PURE__ */ z.maxLength(128)),
    ),
    callback: /* @__PURE__ */ z.optional(
      /* @__PURE__ */ z.strictObject({
        url: /* @__PURE__ */ z
          .string()
          .check(
            /* @__PURE__ */ z.minLength(1),
            /* @__PURE__ */ z.maxLength(MAX_CALLBACK_URL_LENGTH),
            /* @__PURE__ */ z.refine(canParseUrl, "must be an absolute URL"),
          ),
      }),
    ),
    idempotency_key: /* @__PURE__ */ z.optional(idempotencyKeySchema),
  })
  .check(/* @__PURE__ */ z.superRefine(exactlyOneTiming, EVEN_WITH_OTHER_ISSUES));

export type AddTaskBody = z.infer<typeof addTaskBodySchema>;

/** `PATCH /v1/tasks/{id}`: exactly one of the add request's timing fields, validated by the same rules. */
// Pure: a bundle that adds tasks but never reschedules (the add routes, the schedule stops) leaves it out.
export const rescheduleBodySchema = /* @__PURE__ */ z
  .strictObject(timingFields)
  .check(/* @__PURE__ */ z.superRefine(exactlyOneTiming, EVEN_WITH_OTHER_ISSUES));

export interface RescheduleRequest {
  readonly due: DueSpec;
  readonly dueField: (typeof TIMING_FIELDS)[number];
}

/** `maxDelaySeconds`: the task's topic's, named when a due time is too far ahead for any JS number. */
export function parseRescheduleRequest(
  body: unknown,
  maxDelaySeconds?: number,
): ParseResult<RescheduleRequest> {
  if (!isPlainObject(body)) {
    return { ok: false, issues: [{ path: "", message: "the request body must be a JSON object" }] };
  }
  const tooMany = tooManyUnknownFields(body, timingFields);
  if (tooMany) return { ok: false, issues: tooMany };
  let issues: ErrorIssue[] = [];
  const fields = withJsNumbers(body, [], issues) as Record<string, unknown>;
  issues = tooFarAheadIssues(issues, body, maxDelaySeconds);
  const parsed = rescheduleBodySchema.safeParse(fields);
  // concat, not push(...): spread, hundreds of thousands of issues (unknown fields) overflow the stack.
  if (!parsed.success) issues = issues.concat(toIssues(parsed.error.issues, fields));
  issues = issues.concat(notWellFormedIssues(fields, issues));
  if (!parsed.success || issues.length > 0) return { ok: false, issues };
  const due = dueSpecOf(parsed.data, body);
  return { ok: true, value: { due: due.spec, dueField: due.field } };
}

/** A validated add request, normalised: one due spec, the content exactly as sent, the key from body or header. */
export interface AddTaskRequest {
  readonly topic: string;
  readonly due: DueSpec;
  /** Which request field carried the due time, for error paths. */
  readonly dueField: (typeof TIMING_FIELDS)[number];
  readonly content: ExactContent;
  readonly deliverBy?: string;
  readonly callbackUrl?: string;
  readonly idempotencyKey?: string;
}

export type ParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly issues: ErrorIssue[] };

export const IDEMPOTENCY_HEADER = "idempotency-key";

/**
 * Validates a POST /v1/tasks body (already JSON-parsed) together with the optional `Idempotency-Key` header.
 * The key may come from either place; both present and different is refused rather than guessed. A caller's key
 * may not hold the reserved prefix; only the materializer's adds (`keyOwner` "schedule") may. `maxDelayOf` names
 * the limit a due time too far ahead for any JS number is told (the topic's maxDelay; without it, any topic's most).
 */
export function parseAddTaskRequest(
  body: unknown,
  idempotencyHeader?: string | undefined,
  keyOwner: KeyOwner = "caller",
  maxDelayOf: MaxDelayOf = () => undefined,
): ParseResult<AddTaskRequest> {
  if (!isPlainObject(body)) {
    return { ok: false, issues: [{ path: "", message: "the request body must be a JSON object" }] };
  }
  const tooMany = tooManyUnknownFields(body, addTaskBodySchema.shape);
  if (tooMany) return { ok: false, issues: tooMany };
  let issues: ErrorIssue[] = [];
  const fields = jsNumbersOutsideContent(body, issues);
  if (issues.length > 0) {
    const maxDelaySeconds = typeof body.topic === "string" ? maxDelayOf(body.topic) : undefined;
    issues = tooFarAheadIssues(issues, body, maxDelaySeconds);
  }
  const parsed = addTaskBodySchema.safeParse(fields);
  // concat, not push(...): spread, hundreds of thousands of issues (unknown fields) overflow the stack.
  if (!parsed.success) issues = issues.concat(toIssues(parsed.error.issues, fields));
  // Every string field is stored or keyed as a DynamoDB string (well-formed.ts); content is JSON text.
  issues = issues.concat(notWellFormedIssues(fields, issues));

  if (idempotencyHeader !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(idempotencyHeader)) {
    issues.push({ path: "Idempotency-Key", message: IDEMPOTENCY_KEY_MESSAGE });
  }
  if (keyOwner === "caller") {
    issues.push(...reservedKeyIssues(parsed.data?.idempotency_key, idempotencyHeader));
  }
  if (!parsed.success || issues.length > 0) return { ok: false, issues };

  const value = parsed.data;
  if (
    idempotencyHeader !== undefined &&
    value.idempotency_key !== undefined &&
    idempotencyHeader !== value.idempotency_key
  ) {
    return {
      ok: false,
      issues: [
        {
          path: "idempotency_key",
          message: "differs from the Idempotency-Key header; send one, or the same value in both",
        },
      ],
    };
  }
  const due = dueSpecOf(value, body);
  const idempotencyKey = value.idempotency_key ?? idempotencyHeader;
  return {
    ok: true,
    value: {
      topic: value.topic,
      due: due.spec,
      dueField: due.field,
      content: value.content,
      ...(value.deliver_by !== undefined ? { deliverBy: value.deliver_by } : {}),
      ...(value.callback !== undefined ? { callbackUrl: value.callback.url } : {}),
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
    },
  };
}

/** A caller's keys (body, header) that hold the reserved prefix, each named by the field it came in. */
function reservedKeyIssues(bodyKey: string | undefined, headerKey: string | undefined): ErrorIssue[] {
  const issues: ErrorIssue[] = [];
  if (bodyKey?.startsWith(RESERVED_KEY_PREFIX)) {
    issues.push({ path: "idempotency_key", message: RESERVED_KEY_MESSAGE });
  }
  if (headerKey?.startsWith(RESERVED_KEY_PREFIX) && IDEMPOTENCY_KEY_PATTERN.test(headerKey)) {
    issues.push({ path: "Idempotency-Key", message: RESERVED_KEY_MESSAGE });
  }
  return issues;
}

/**
 * The body with lossless numbers turned into JS numbers everywhere but `content` (which keeps them, to be stored
 * as written): the schema and the timing code compute with them. One that no JS number can hold (`1e400`, an
 * integer beyond 2^53) is an issue at its path, not a silently different value.
 */
export function jsNumbersOutsideContent(
  body: Record<string, unknown>,
  issues: ErrorIssue[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const field = key === "content" ? value : withJsNumbers(value, [key], issues);
    // An assignment to `__proto__` would set the prototype, not a field: only that key needs defineProperty
    // (several times slower per field, so not for every one).
    if (key === "__proto__") {
      Object.defineProperty(out, key, { value: field, enumerable: true, writable: true, configurable: true });
    } else out[key] = field;
  }
  return out;
}

/** The due-time fields that take a number. */
const NUMBER_TIMING_FIELDS: ReadonlySet<string> = new Set(["timing_moment", "delay_seconds"]);

/**
 * `issues` with each about a due-time number too large for any JS number (`delay_seconds: 1e20`, `1e400`, an
 * integer past 2^53) told what a time merely past the topic's maxDelay is told (add-task.ts, dueTime): such a time
 * is beyond every maxDelay, and "not a representable number" left the caller to guess the limit. Still a 400 of
 * the body's rules, with the others, before anything else is looked at: only the wording differs.
 */
function tooFarAheadIssues(
  issues: ErrorIssue[],
  raw: Record<string, unknown>,
  maxDelaySeconds: number | undefined,
): ErrorIssue[] {
  return issues.map((issue) => {
    const value = NUMBER_TIMING_FIELDS.has(issue.path) ? raw[issue.path] : undefined;
    if (!isLosslessNumber(value)) return issue;
    const number = Number(value.toString());
    if (!(number > Number.MAX_SAFE_INTEGER)) return issue;
    const timingMoment = issue.path === "timing_moment" ? number : undefined;
    return { path: issue.path, message: tooFarAheadMessage(maxDelaySeconds, timingMoment) };
  });
}

/** `body` as validated (JS numbers); `raw` as parsed, whose number tokens keep every digit written. */
function dueSpecOf(
  body: Pick<AddTaskBody, (typeof TIMING_FIELDS)[number]>,
  raw: Record<string, unknown>,
): { spec: DueSpec; field: AddTaskRequest["dueField"] } {
  if (body.timing_moment !== undefined) {
    const written = decidingToken(raw.timing_moment, body.timing_moment);
    return { spec: { timingMoment: body.timing_moment, ...written }, field: "timing_moment" };
  }
  if (body.due_at !== undefined) return { spec: { dueAt: body.due_at }, field: "due_at" };
  const delaySeconds = body.delay_seconds ?? 0;
  const written = decidingToken(raw.delay_seconds, delaySeconds);
  return { spec: { delaySeconds, ...written }, field: "delay_seconds" };
}

/**
 * A number's token as written, when its digits past the double's put the due time in a later millisecond
 * (DueSpec); otherwise nothing, so the spec and its hash stay what they were.
 */
function decidingToken(raw: unknown, number: number): { written?: string } {
  if (!isLosslessNumber(raw)) return {};
  const written = raw.toString();
  return msAtOrAfterSeconds(written) === msAtOrAfterSeconds(String(number)) ? {} : { written };
}

/** Iterative, so the check itself cannot overflow the stack it protects. A lossless number is a leaf. */
function exceedsDepth(root: unknown, maxDepth: number): boolean {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (typeof value !== "object" || value === null || isLosslessNumber(value)) continue;
    if (depth > maxDepth) return true;
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return false;
}
