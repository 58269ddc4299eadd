import { describe, expect, it } from "vitest";
import { parseAddTaskRequest } from "#shared/domain/add-task-request.js";
import { parseTaskMessage, taskMessageSchema } from "#shared/domain/messages.js";
import * as z from "#shared/zod.js";

/*
 * The runtime's schemas are zod/mini's, which loads no locale: without shared/zod.ts configuring English, every
 * message would be "Invalid input" (the API's 400 bodies quote them). Nothing in this file's module graph imports
 * classic zod, which configures English by itself when it builds its first schema and would hide the difference.
 */
describe("the runtime's zod messages", () => {
  it("are zod's English ones", () => {
    // (An empty taskId is no longer the example: shared/zod.ts words an empty string "must not be empty" itself.)
    const parsed = taskMessageSchema.safeParse({ v: 1, taskId: "t".repeat(201) });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.message)).toEqual([
      "Too big: expected string to have <=200 characters",
    ]);
    expect(parseTaskMessage(JSON.stringify({ v: 2, taskId: "t" }))).toBeUndefined();
  });

  it("say an empty string or list 'must not be empty', as the API's own messages say what must be", () => {
    const parsed = parseAddTaskRequest({ topic: "", delay_seconds: 1, content: {}, callback: { url: "" } });
    expect(parsed).toEqual({
      ok: false,
      issues: [
        { path: "topic", message: "must not be empty" },
        { path: "callback.url", message: "must not be empty" },
        { path: "callback.url", message: "must be an absolute URL" },
      ],
    });
    expect(z.safeParse(z.array(z.string()).check(z.minLength(1)), []).error?.issues[0]?.message).toBe(
      "must not be empty",
    );
    // A schema's own message still wins, and other bounds keep zod's wording.
    expect(z.safeParse(z.string().check(z.minLength(1, "own")), "").error?.issues[0]?.message).toBe("own");
    expect(z.safeParse(z.string().check(z.minLength(2)), "a").error?.issues[0]?.message).toBe(
      "Too small: expected string to have >=2 characters",
    );
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
