import { describe, expect, it } from "vitest";
import { parseAddTaskRequest } from "#shared/domain/add-task-request.js";
import { parseTaskMessage, taskMessageSchema } from "#shared/domain/messages.js";

/*
 * The runtime's schemas are zod/mini's, which loads no locale: without shared/zod.ts configuring English, every
 * message would be "Invalid input" (the API's 400 bodies quote them). Nothing in this file's module graph imports
 * classic zod, which configures English by itself when it builds its first schema and would hide the difference.
 */
describe("the runtime's zod messages", () => {
  it("are zod's English ones", () => {
    const parsed = taskMessageSchema.safeParse({ v: 1, taskId: "" });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.message)).toEqual([
      "Too small: expected string to have >=1 characters",
    ]);
    expect(parseTaskMessage(JSON.stringify({ v: 2, taskId: "t" }))).toBeUndefined();
  });

  it("reach the API's issues as classic zod worded them", () => {
    const parsed = parseAddTaskRequest({ topic: 7, delay_seconds: -1, content: {}, extra: 1 });
    expect(parsed).toEqual({
      ok: false,
      issues: [
        { path: "topic", message: "Invalid input: expected string, received number" },
        { path: "delay_seconds", message: "must not be negative" },
        { path: "extra", message: "unknown field" },
      ],
    });
  });
});
