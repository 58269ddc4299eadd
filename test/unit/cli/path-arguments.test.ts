import { describe, expect, it } from "vitest";
import { runOffline } from "./offline.js";

const API = ["--api", "http://127.0.0.1:3000"];

describe("a task id where the client puts it in the path: never empty, a dot segment, nor with a /", () => {
  it.each([
    [["tasks", "get", ""]],
    [["tasks", "cancel", "."]],
    [["tasks", "run", ".."]],
    [["tasks", "reschedule", "/v1/tasks/demo._.mx9u5o3o.01M9222ZX4RGGKMTM880RRES4Q", "--delay", "60"]],
    [["tasks", "replay", ""]],
  ])("%j is a usage error, sent nowhere (it met another route or none)", async (argv) => {
    // Act
    const result = await runOffline([...API, ...argv]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.sent).toEqual([]);
    expect(result.err).toMatch(/<task-id> is (empty|the task_id that add answered, not a path or URL)/);
  });
});

describe("a topic where the client puts it in the path: never empty, a dot segment, nor with a /", () => {
  it.each([
    [["topics", "show", ""], /<topic> is empty/],
    [["topics", "pause", "."], /<topic> is a topic's name.*not a path or URL/],
    [["topics", "resume", ".."], /<topic> is a topic's name.*not a path or URL/],
    [["topics", "show", "orders/"], /<topic> is a topic's name.*not a path or URL/],
    [["topics", "replay", "", "--dry-run"], /<topic> is empty/],
    [["groups", "cancel", "--topic", "..", "--group", "A-1"], /--topic is a topic's name.*not a path or URL/],
  ])(
    "%j is a usage error, sent nowhere (it met another route: `topics pause .` a 405 'use GET', others a 404 'no such route')",
    async (argv, message) => {
      // Act
      const result = await runOffline([...API, ...argv]);

      // Assess
      expect(result.code).toBe(1);
      expect(result.sent).toEqual([]);
      expect(result.err).toMatch(message);
    },
  );

  it("a topic's name goes to the API as one path segment", async () => {
    // Act
    const result = await runOffline([...API, "topics", "pause", "orders"]);

    // Assess
    expect(result.sent[0]).toBe("http://127.0.0.1:3000/v1/topics/orders/pause");
  });
});
