import { LosslessNumber } from "lossless-json";
import { describe, expect, it } from "vitest";
import * as z from "zod";
import { toIssues } from "#shared/domain/request-issues.js";
import { replayTopic } from "#shared/services/replay-topic.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { refusal } from "../../support/refusal.js";
import { NOW, testConfig } from "./fakes.js";

/**
 * Issue messages of routes whose body keeps its numbers as the JSON body parser reads them (lossless-json's
 * `LosslessNumber`, exact-json.ts): a number where another type belongs is named a number, as the caller wrote
 * it, never by the parser's class name; and a wrong value inside an array is wrong, not "required".
 */
function replayDeps() {
  return {
    store: new MemoryTaskStore(),
    topicQueue: new FakeTopicQueue(() => NOW),
    topicQueues: { demo: "https://sqs.test/demo.fifo" },
    now: () => NOW,
    config: testConfig(),
  };
}

describe("issues for wrong-typed values in a losslessly parsed body", () => {
  it("a number in a replay filter is 'received number', naming no parser class", async () => {
    const error = await refusal(
      replayTopic(replayDeps(), "demo", { error_contains: new LosslessNumber("5"), dry_run: true }),
    );
    expect(error.issues).toEqual([
      { path: "error_contains", message: "Invalid input: expected string, received number" },
    ]);
  });

  it("a wrong value in a replay's task_ids is wrong at its index, not 'is required'", async () => {
    const error = await refusal(
      replayTopic(replayDeps(), "demo", { task_ids: ["ok", new LosslessNumber("1"), null] }),
    );
    expect(error.issues).toEqual([
      { path: "task_ids.1", message: "Invalid input: expected string, received number" },
      { path: "task_ids.2", message: "Invalid input: expected string, received null" },
    ]);
  });

  it("toIssues names a lossless number 'number' at any depth, and a missing member 'is required'", () => {
    const schema = z.strictObject({ tasks: z.array(z.object({ a: z.string() })), flag: z.boolean() });
    const input = { tasks: [{ a: new LosslessNumber("1e400") }, {}], flag: new LosslessNumber("1") };
    const parsed = schema.safeParse(input);
    expect(parsed.success).toBe(false);
    expect(toIssues(parsed.error?.issues ?? [], input)).toEqual([
      { path: "tasks.0.a", message: "Invalid input: expected string, received number" },
      { path: "tasks.1.a", message: "is required" },
      { path: "flag", message: "Invalid input: expected boolean, received number" },
    ]);
  });

  it("a caller's object that only looks like a lossless number is still an object", async () => {
    const error = await refusal(
      replayTopic(replayDeps(), "demo", { error_contains: { isLosslessNumber: true } }),
    );
    expect(error.issues).toEqual([
      { path: "error_contains", message: "Invalid input: expected string, received object" },
    ]);
  });
});
