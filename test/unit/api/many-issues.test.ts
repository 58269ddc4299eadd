import { describe, expect, it } from "vitest";
import { isHttpError } from "#shared/api/errors.js";
import { MAX_BATCH_BODY_BYTES } from "#shared/api/schemas/batch-request.js";
import { parseAddTaskRequest, parseRescheduleRequest } from "#shared/domain/add-task-request.js";
import { MAX_JSON_DEPTH, parseExactJson } from "#shared/domain/exact-json.js";
import { addTasksBatch } from "#shared/services/add-tasks-batch.js";
import { parseCreateSchedule } from "#shared/services/schedules/request.js";
import { fixture, NOW, testConfig } from "./fakes.js";

/**
 * A body can name hundreds of thousands of fields no route takes (a 4 MiB batch item; a 1 MiB single add of short
 * keys, some 130,000): an issue each. Spread into one `push` call, that many issues are that many arguments, which
 * overflows the stack: a RangeError, answered as a 500, for a request that is simply refused (400).
 */
const UNKNOWN_FIELDS = 200_000;

function withUnknownFields(body: Record<string, unknown>, count = UNKNOWN_FIELDS): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  for (let i = 0; i < count; i++) out[`u${i.toString(36)}`] = 0;
  return out;
}

const addBody = { topic: "demo", delay_seconds: 10, content: { order_id: "o-1" } };

// That many fields is the point (node 20's default stack refuses a push(...) of ~130,000 arguments), and each parse
// lists them all: up to 1.7 s a test on a loaded 2-core host, too near vitest's 5 s default; hence each its own.
describe("a body with hundreds of thousands of unknown fields is refused (400), never a stack overflow", () => {
  it("POST /v1/tasks: parseAddTaskRequest lists an issue per unknown field", () => {
    // Act
    const parsed = parseAddTaskRequest(withUnknownFields(addBody));

    // Assess
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues).toHaveLength(UNKNOWN_FIELDS);
  }, 20_000);

  it("PATCH /v1/tasks/{id}: parseRescheduleRequest lists an issue per unknown field", () => {
    const parsed = parseRescheduleRequest(withUnknownFields({ delay_seconds: 10 }));

    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues).toHaveLength(UNKNOWN_FIELDS);
  }, 20_000);

  it("POST /v1/schedules: parseCreateSchedule refuses with 400 validation_failed", () => {
    // Prepare
    const schedule = withUnknownFields({ ...addBody, delay_seconds: undefined, cron: "0 * * * *" });

    // Act
    let thrown: unknown;
    try {
      parseCreateSchedule(testConfig(), schedule, NOW);
    } catch (error) {
      thrown = error;
    }

    // Assess
    expect(isHttpError(thrown) && { status: thrown.status, code: thrown.code }).toEqual({
      status: 400,
      code: "validation_failed",
    });
  }, 20_000);

  it("POST /v1/tasks/batch: a body whose one item has 200,000 unknown fields answers that item 400", async () => {
    // Prepare: the body as sent, within the batch cap
    const keys = Array.from({ length: UNKNOWN_FIELDS }, (_, i) => `"${i.toString(36)}":0`).join(",");
    const text = `{"tasks":[{"topic":"demo","delay_seconds":5,"content":{"order_id":"o"},${keys}}]}`;
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_BATCH_BODY_BYTES);
    const parsed = parseExactJson(text, MAX_JSON_DEPTH);
    if (!parsed.ok) throw new Error("the body must parse");
    const f = fixture();

    // Act
    const answer = await addTasksBatch(f.deps, parsed.value);

    // Assess
    expect(answer.results[0]).toMatchObject({ status: 400, error: { code: "validation_failed" } });
    expect(answer.results[0]?.error?.issues).toHaveLength(20);
    expect(f.store.tasks.size).toBe(0);
  }, 60_000);

  it("POST /v1/tasks: past 1,000 unknown fields, refuses a body for those alone, reading none of its values", () => {
    // Prepare: reading every value (numbers, lone surrogates, the schema) of a 4 MiB batch item of 450,000 unknown
    // fields took seconds, near the function's time, to list 20 issues. A getter counts the readings.
    let reads = 0;
    const body = Object.defineProperty(withUnknownFields({ topic: "demo" }, 1_001), "odd", {
      enumerable: true,
      get: () => {
        reads++;
        return 0;
      },
    });

    // Act
    const parsed = parseAddTaskRequest(body);

    // Assess: only the unknown fields, not the missing timing and content
    expect(reads).toBe(0);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.issues).toHaveLength(1_002);
      expect(new Set(parsed.issues.map((issue) => issue.message))).toEqual(new Set(["unknown field"]));
    }
  });

  // The same guard on the other two bodies that take fields by name (200,000 unknown ones: ~1 s of CPU read each).
  it.each([
    [
      "PATCH /v1/tasks/{id}",
      (body: Record<string, unknown>) => {
        const parsed = parseRescheduleRequest(body);
        return parsed.ok ? [] : parsed.issues;
      },
    ],
    [
      "POST /v1/schedules",
      (body: Record<string, unknown>) => {
        try {
          parseCreateSchedule(testConfig(), body, NOW);
        } catch (error) {
          if (isHttpError(error)) return error.issues ?? [];
        }
        return [];
      },
    ],
  ])(
    "%s: past 1,000 unknown fields, refuses a body for those alone, reading none of its values",
    (_, issuesOf) => {
      // Prepare: a getter counts the readings
      let reads = 0;
      const body = Object.defineProperty(withUnknownFields({}, 1_001), "odd", {
        enumerable: true,
        get: () => {
          reads++;
          return 0;
        },
      });

      // Act
      const issues = issuesOf(body);

      // Assess: only the unknown fields, not the missing timing (or cron, topic and content)
      expect(reads).toBe(0);
      expect(issues).toHaveLength(1_002);
      expect(new Set(issues.map((issue) => issue.message))).toEqual(new Set(["unknown field"]));
    },
  );
});
