import { describe, expect, it } from "vitest";
import { parseAddTaskRequest, parseRescheduleRequest } from "#shared/domain/add-task-request.js";
import { LosslessNumber } from "#shared/domain/exact-json.js";
import { requestedDueMs } from "#shared/domain/timing.js";

const base = { topic: "demo", delay_seconds: 10, content: { order_id: "o-1" } };

function issuesOf(body: unknown, header?: string) {
  const result = parseAddTaskRequest(body, header);
  if (result.ok) throw new Error("expected a refusal");
  return result.issues;
}

describe("parseAddTaskRequest", () => {
  it("accepts the three timing forms and normalises them", () => {
    const a = parseAddTaskRequest({ ...base });
    expect(a).toMatchObject({ ok: true, value: { due: { delaySeconds: 10 }, dueField: "delay_seconds" } });
    const b = parseAddTaskRequest({ topic: "demo", timing_moment: 1_790_000_000.5, content: {} });
    expect(b).toMatchObject({ ok: true, value: { due: { timingMoment: 1_790_000_000.5 } } });
    const c = parseAddTaskRequest({ topic: "demo", due_at: "2026-12-01T10:00:00+05:30", content: {} });
    expect(c).toMatchObject({ ok: true, value: { due: { dueAt: "2026-12-01T10:00:00+05:30" } } });
  });

  it("takes every RFC 3339 date-time: a leap second as the instant after it (never early), a lowercase t and z", () => {
    const dueOf = (dueAt: string) => {
      const added = parseAddTaskRequest({ topic: "demo", due_at: dueAt, content: {} });
      const moved = parseRescheduleRequest({ due_at: dueAt });
      expect(moved.ok, JSON.stringify(moved)).toBe(true);
      if (!added.ok) throw new Error(JSON.stringify(added.issues));
      return requestedDueMs(added.value.due, 0);
    };
    expect(dueOf("2016-12-31T23:59:60Z")).toBe(Date.UTC(2017, 0, 1));
    expect(dueOf("2016-12-31T18:59:60.5-05:00")).toBe(Date.UTC(2017, 0, 1, 0, 0, 0, 500));
    expect(dueOf("2015-07-01T08:59:60+09:00")).toBe(Date.UTC(2015, 6, 1));
    expect(dueOf("2026-12-01t10:00:00z")).toBe(Date.UTC(2026, 11, 1, 10));
    expect(dueOf("2026-12-01T10:00:00+05:30")).toBe(Date.UTC(2026, 11, 1, 4, 30));
    // A 60th second anywhere but 23:59 UTC is no leap second, nor one on a day that does not exist.
    for (const dueAt of ["2026-12-01T10:00:60Z", "2016-12-31T23:59:60+01:00", "2026-02-30T23:59:60Z"]) {
      expect(issuesOf({ topic: "demo", due_at: dueAt, content: {} })).toMatchObject([{ path: "due_at" }]);
    }
  });

  it.each([
    ["timing_moment", "1796000000.99999999", 1_796_000_001, 1_796_000_001_000],
    ["timing_moment", "1796000000.123456789", 1_796_000_000.1234567, 1_796_000_000_124],
    ["delay_seconds", "10.70000000000000001", 10.7, 10_701],
    ["delay_seconds", "0.1000000000000000055511151231257827", 0.1, 101],
  ])(
    "takes %s %s, more digits than a double holds, as the nearest number %s, due at the first whole ms at or after the digits as written (%s)",
    (field, token, number, dueMs) => {
      const body = { topic: "demo", [field]: new LosslessNumber(token), content: {} };
      const added = parseAddTaskRequest(body);
      const moved = parseRescheduleRequest({ [field]: new LosslessNumber(token) });
      if (!added.ok || !moved.ok) throw new Error(JSON.stringify([added, moved]));
      expect(added.value.due).toMatchObject(
        field === "timing_moment" ? { timingMoment: number } : { delaySeconds: number },
      );
      expect(requestedDueMs(added.value.due, 0)).toBe(dueMs);
      expect(requestedDueMs(moved.value.due, 0)).toBe(dueMs);
    },
  );

  it.each([
    ["timing_moment", "1796346000.0000001", 1_796_346_000_001],
    ["timing_moment", "1796346000.0009", 1_796_346_000_001],
    ["timing_moment", "1796346000.00099999999999", 1_796_346_000_001],
    ["timing_moment", "1796346000.001000000000000001", 1_796_346_000_002],
    ["timing_moment", "1796346000.0010000000", 1_796_346_000_001],
    ["timing_moment", "17963460000009e-4", 1_796_346_000_001],
    ["timing_moment", "1.7963460000000001E9", 1_796_346_000_001],
    ["timing_moment", "1796346000", 1_796_346_000_000],
    ["timing_moment", "0.0", 0],
    ["delay_seconds", "0.0000001", 1],
    ["delay_seconds", "0e999999999", 0],
    ["delay_seconds", "10.0009", 10_001],
  ])("never reads %s %s as earlier than it says: due at %s ms", (field, token, dueMs) => {
    const added = parseAddTaskRequest({ topic: "demo", [field]: new LosslessNumber(token), content: {} });
    const moved = parseRescheduleRequest({ [field]: new LosslessNumber(token) });
    if (!added.ok || !moved.ok) throw new Error(JSON.stringify([added, moved]));
    expect(requestedDueMs(added.value.due, 0)).toBe(dueMs);
    expect(requestedDueMs(moved.value.due, 0)).toBe(dueMs);
  });

  it.each([
    ["2016-12-31T23:59:60.5Z", "2017-01-01T00:00:00.500Z", "2017-01-01T00:00:00.500Z"],
    ["2016-12-31T23:59:60.9999Z", "2017-01-01T00:00:00.9999Z", "2017-01-01T00:00:01.000Z"],
    ["2016-12-31T23:59:60.0000001Z", "2017-01-01T00:00:00.0000001Z", "2017-01-01T00:00:00.001Z"],
    ["2017-01-01T05:29:60.0009+05:30", "2017-01-01T00:00:00.0009Z", "2017-01-01T00:00:00.001Z"],
    ["2016-12-31t23:59:60.25z", "2017-01-01T00:00:00.250Z", "2017-01-01T00:00:00.250Z"],
    // Zeros past the millisecond are no sub-ms part: the text stays what it was before digits past the ms were kept,
    // so a repeat sent before a rolling deploy and again after it hashes alike (a 200, not a 409).
    ["2016-12-31T23:59:60.5000Z", "2017-01-01T00:00:00.500Z", "2017-01-01T00:00:00.500Z"],
    ["2016-12-31T23:59:60.999000000Z", "2017-01-01T00:00:00.999Z", "2017-01-01T00:00:00.999Z"],
    ["2016-12-31T23:59:60.0000Z", "2017-01-01T00:00:00.000Z", "2017-01-01T00:00:00.000Z"],
    ["2016-12-31T23:59:60.99900010Z", "2017-01-01T00:00:00.99900010Z", "2017-01-01T00:00:01.000Z"],
  ])(
    "a leap second with a fraction, %s, is that fraction of the second after it (%s), due at the next whole ms: %s",
    (dueAt, asRead, expected) => {
      const added = parseAddTaskRequest({ topic: "demo", due_at: dueAt, content: {} });
      const moved = parseRescheduleRequest({ due_at: dueAt });
      if (!added.ok || !moved.ok) throw new Error(JSON.stringify([added, moved]));
      // The text idempotent repeats compare: as before for up to three digits, every digit kept past them.
      expect(added.value.due).toEqual({ dueAt: asRead });
      expect(moved.value.due).toEqual({ dueAt: asRead });
      expect(requestedDueMs(added.value.due, 0)).toBe(Date.parse(expected));
    },
  );

  it.each([
    ["delay_seconds", "1e400", ""],
    ["timing_moment", "123456789012345678901", " (timing_moment is in seconds, not milliseconds)"],
    ["timing_moment", "9007199254740993", " (timing_moment is in seconds, not milliseconds)"],
  ])(
    "still refuses %s %s, which no number holds, as too far ahead: the topic's maxDelay named, or the most any topic allows",
    (field, token, hint) => {
      const body = { topic: "demo", [field]: new LosslessNumber(token), content: {} };
      const refused = (result: { ok: boolean; issues?: unknown }) => (result.ok ? [] : result.issues);

      expect(issuesOf(body)).toEqual([
        {
          path: field,
          message: `is more than 158112000 s ahead, the most any topic's maxDelay allows${hint}`,
        },
      ]);
      const demoOnly = (topic: string) => (topic === "demo" ? 3600 : undefined);
      expect(refused(parseAddTaskRequest(body, undefined, "caller", demoOnly))).toEqual([
        { path: field, message: `is more than 3600 s ahead, the topic's maxDelay${hint}` },
      ]);
      expect(refused(parseRescheduleRequest({ [field]: new LosslessNumber(token) }, 7200))).toEqual([
        { path: field, message: `is more than 7200 s ahead, the topic's maxDelay${hint}` },
      ]);
    },
  );

  it.each([
    ["-1e400", "a negative one"],
    ["1e-400", "one that underflows to 0"],
    ["[1e400]", "one inside another value"],
  ])("keeps refusing %s, %s, as not a representable number", (token, _) => {
    const raw = token.startsWith("[") ? [new LosslessNumber(token.slice(1, -1))] : new LosslessNumber(token);
    const issues = issuesOf({ topic: "demo", delay_seconds: raw, content: {} });
    expect(issues[0]?.message).toBe("is not a representable number");
  });

  it("parses a string content holding a JSON object (seed style)", () => {
    const r = parseAddTaskRequest({ ...base, content: '{"order_id":"o-1","n":2}' });
    expect(r).toMatchObject({ ok: true, value: { content: { text: '{"order_id":"o-1","n":2}' } } });
    expect(r.ok && r.value.content.value.order_id).toBe("o-1");
  });

  it.each([
    ["a non-object body", [1, 2], ""],
    ["a null body", null, ""],
    ["a missing topic", { delay_seconds: 1, content: {} }, "topic"],
    ["a numeric topic", { ...base, topic: 7 }, "topic"],
    ["a missing content", { topic: "demo", delay_seconds: 1 }, "content"],
    ["an array content", { ...base, content: [1] }, "content"],
    ["a numeric content", { ...base, content: 5 }, "content"],
    ["a string content that is not JSON", { ...base, content: "{nope" }, "content"],
    ["a string content holding an array", { ...base, content: "[1]" }, "content"],
    ["a string content holding null", { ...base, content: "null" }, "content"],
    ["no timing at all", { topic: "demo", content: {} }, ""],
    ["a negative delay", { ...base, delay_seconds: -1 }, "delay_seconds"],
    ["a string delay", { ...base, delay_seconds: "10" }, "delay_seconds"],
    ["a negative timing_moment", { topic: "demo", timing_moment: -5, content: {} }, "timing_moment"],
    ["a due_at without zone", { topic: "demo", due_at: "2026-12-01T10:00:00", content: {} }, "due_at"],
    ["a due_at on 30 February", { topic: "demo", due_at: "2026-02-30T10:00:00Z", content: {} }, "due_at"],
    ["a due_at as a number", { topic: "demo", due_at: 1_790_000_000, content: {} }, "due_at"],
    ["an unknown top-level field", { ...base, priority: 1 }, "priority"],
    [
      "an unknown callback field",
      { ...base, callback: { url: "https://a.example", secret: "x" } },
      "callback.secret",
    ],
    ["a callback without url", { ...base, callback: {} }, "callback.url"],
    ["a relative callback url", { ...base, callback: { url: "/hook" } }, "callback.url"],
    ["an empty deliver_by", { ...base, deliver_by: "" }, "deliver_by"],
    ["an empty idempotency key", { ...base, idempotency_key: "" }, "idempotency_key"],
    ["a 256-char idempotency key", { ...base, idempotency_key: "k".repeat(256) }, "idempotency_key"],
    ["an idempotency key with a newline", { ...base, idempotency_key: "a\nb" }, "idempotency_key"],
    ["an idempotency key with a leading space", { ...base, idempotency_key: " a" }, "idempotency_key"],
  ])("refuses %s with an issue at '%s'", (_name, body, path) => {
    expect(issuesOf(body).map((i) => i.path)).toContain(path);
  });

  it("refuses content nested deeper than 64 levels (stringify would overflow the stack)", () => {
    const deep = (n: number) => JSON.parse(`${'{"a":'.repeat(n)}1${"}".repeat(n)}`);
    expect(parseAddTaskRequest({ ...base, content: deep(64) }).ok).toBe(true);
    expect(issuesOf({ ...base, content: deep(65) })).toEqual([expect.objectContaining({ path: "content" })]);
    const brackets = JSON.parse(`{"a":${"[".repeat(300_000)}${"]".repeat(300_000)}}`);
    expect(issuesOf({ ...base, content: brackets })).toEqual([expect.objectContaining({ path: "content" })]);
  });

  it("says 'is required' for a missing field instead of zod's type message", () => {
    expect(issuesOf({ delay_seconds: 1, content: {} })).toContainEqual({
      path: "topic",
      message: "is required",
    });
    expect(issuesOf({ topic: "demo", delay_seconds: 1 })).toContainEqual({
      path: "content",
      message: "is required",
    });
  });

  it("lists every problem at once: a missing due time with a missing content and other field issues (it named only the content)", () => {
    expect(issuesOf({ topic: "demo" })).toEqual([
      { path: "content", message: "is required" },
      { path: "", message: "exactly one of timing_moment, due_at or delay_seconds is required" },
    ]);
    // Field by field in the schema's order, unknown fields, then the rule across fields.
    expect(issuesOf({ topic: "", extra: 1 }).map((i) => i.path)).toEqual(["topic", "content", "extra", ""]);
    expect(issuesOf({ topic: 3, content: 4, delay_seconds: 1, due_at: "2026-12-01T10:00:00Z" })).toEqual([
      { path: "topic", message: "Invalid input: expected string, received number" },
      { path: "content", message: "must be a JSON object, or a string holding one" },
      {
        path: "delay_seconds",
        message: "give only one of timing_moment, due_at or delay_seconds (also got due_at)",
      },
    ]);
    // A timing field of the wrong type is a given one: only its own type is its problem.
    expect(issuesOf({ ...base, delay_seconds: "10" })).toEqual([
      { path: "delay_seconds", message: "Invalid input: expected number, received string" },
    ]);
    const moved = parseRescheduleRequest({ extra: 1 });
    expect(moved.ok ? [] : moved.issues.map((i) => i.path)).toEqual(["extra", ""]);
  });

  it("refuses two timing fields, naming the extra one", () => {
    const issues = issuesOf({ ...base, timing_moment: 1_790_000_000 });
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe("delay_seconds");
  });

  it("reports every unknown field", () => {
    const paths = issuesOf({ ...base, a: 1, b: 2 }).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["a", "b"]));
  });

  it("accepts a 255-char key and inner spaces", () => {
    expect(parseAddTaskRequest({ ...base, idempotency_key: "k".repeat(255) }).ok).toBe(true);
    expect(parseAddTaskRequest({ ...base, idempotency_key: "order 42" }).ok).toBe(true);
  });

  it("reserves the `schedule:` prefix for schedule occurrences: a caller's key with it is refused, by the field it came in; keys compare byte for byte, so only that exact spelling is reserved", () => {
    const occurrenceKey = "schedule:sch_demo_01J:0:1798761600000";

    expect(issuesOf({ ...base, idempotency_key: occurrenceKey })).toEqual([
      { path: "idempotency_key", message: expect.stringContaining("`schedule:`") },
    ]);
    expect(issuesOf(base, "schedule:x")).toEqual([
      { path: "Idempotency-Key", message: expect.stringContaining("`schedule:`") },
    ]);
    for (const own of ["Schedule:x", "SCHEDULE:x", "schedule-x", "my-schedule:x", "schedule"]) {
      expect(parseAddTaskRequest({ ...base, idempotency_key: own }).ok).toBe(true);
    }
    // The materializer's own adds pass through the one seam that names them.
    expect(
      parseAddTaskRequest({ ...base, idempotency_key: occurrenceKey }, undefined, "schedule"),
    ).toMatchObject({
      ok: true,
      value: { idempotencyKey: occurrenceKey },
    });
  });

  it("takes the key from the header, or from both when they agree", () => {
    expect(parseAddTaskRequest(base, "hdr-1")).toMatchObject({
      ok: true,
      value: { idempotencyKey: "hdr-1" },
    });
    expect(parseAddTaskRequest({ ...base, idempotency_key: "k" }, "k")).toMatchObject({
      ok: true,
      value: { idempotencyKey: "k" },
    });
  });

  it("refuses a header and a body key that differ", () => {
    expect(issuesOf({ ...base, idempotency_key: "a" }, "b")).toEqual([
      expect.objectContaining({ path: "idempotency_key" }),
    ]);
  });

  it("refuses a malformed header key under the header's name", () => {
    expect(issuesOf(base, "x".repeat(300))).toEqual([expect.objectContaining({ path: "Idempotency-Key" })]);
  });

  it("keeps deliver_by and callback", () => {
    const r = parseAddTaskRequest({
      ...base,
      deliver_by: "user",
      callback: { url: "https://h.example.com/x" },
    });
    expect(r).toMatchObject({
      ok: true,
      value: { deliverBy: "user", callbackUrl: "https://h.example.com/x" },
    });
  });
});

/**
 * A lone UTF-16 surrogate (half of an emoji's pair) has no UTF-8 form, and DynamoDB strings are UTF-8: a field
 * stored as a string, or used in a key, is refused with it rather than stored altered. Content is kept as JSON
 * text, where such a character stays its `\ud83d` escape, so content may hold one.
 */
describe("lone surrogates", () => {
  const WELL_FORMED = "must be well-formed Unicode";

  it.each([
    ["topic", { ...base, topic: "demo\ud83d" }, "topic"],
    ["deliver_by", { ...base, deliver_by: "order_\udc00id" }, "deliver_by"],
    ["callback.url", { ...base, callback: { url: "https://h.example.com/\ud83d" } }, "callback.url"],
    [
      "callback.url (low half first)",
      { ...base, callback: { url: "https://h.example.com/\ude00\ud83d" } },
      "callback.url",
    ],
  ])("refuses one in %s, naming it", (_name, body, path) => {
    expect(issuesOf(body)).toEqual([{ path, message: expect.stringContaining(WELL_FORMED) }]);
  });

  it("names the first one's code unit and position", () => {
    expect(issuesOf({ ...base, deliver_by: "ab\ud83dcd\udc00" })).toEqual([
      { path: "deliver_by", message: expect.stringContaining("U+D83D at 2") },
    ]);
  });

  it("refuses an idempotency key holding one once, by the key's own rule (body and header)", () => {
    expect(issuesOf({ ...base, idempotency_key: "k-\ud83d" })).toEqual([
      expect.objectContaining({ path: "idempotency_key" }),
    ]);
    expect(issuesOf(base, "k-\ud83d")).toEqual([expect.objectContaining({ path: "Idempotency-Key" })]);
  });

  it("accepts a whole pair (an emoji) in the same fields", () => {
    const r = parseAddTaskRequest({
      ...base,
      topic: "demo\ud83d\ude00",
      deliver_by: "order_\ud83d\ude00",
      callback: { url: "https://h.example.com/\ud83d\ude00" },
    });
    expect(r.ok, JSON.stringify(r)).toBe(true);
  });

  it("accepts content holding them, kept as their JSON escapes (object and string content alike)", () => {
    const content = { order_id: "o-1", half: "A-\ud83d", "\udc00key": ["\udfff"] };
    const expected = '{"order_id":"o-1","half":"A-\\ud83d","\\udc00key":["\\udfff"]}';
    for (const spelling of [content, JSON.stringify(content)]) {
      const r = parseAddTaskRequest({ ...base, content: spelling });
      expect(r).toMatchObject({ ok: true, value: { content: { text: expected } } });
    }
  });

  it("refuses one in a reschedule's due_at", () => {
    const r = parseRescheduleRequest({ due_at: "2026-12-01T10:00:00Z\ud83d" });
    expect(r).toMatchObject({ ok: false, issues: [{ path: "due_at" }] });
  });
});
