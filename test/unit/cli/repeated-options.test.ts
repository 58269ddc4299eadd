import { describe, expect, it, vi } from "vitest";
import { runOffline } from "./offline.js";

// The client's backoff between tries (random, up to 1.4 s a command; 0.8 s a test measured on a loaded
// 2-core host) passes at once: what is sent and the exit code are the point here, not the waiting.
vi.mock("node:timers/promises", async (importOriginal) => ({
  ...(await importOriginal<typeof import("node:timers/promises")>()),
  setTimeout: async <T>(_ms?: number, value?: T) => value,
}));

/**
 * An option that takes one value, given twice (`--topic a --topic b`, often a line pasted over another): commander
 * keeps the last without a word, so the command would act on a topic the operator may not have meant. Refused as a
 * usage mistake, nothing sent.
 */
const API = ["--api", "http://127.0.0.1:3000"];
const ADD = ["tasks", "add", "--delay", "5", "--content", "{}"];

describe("an option that takes one value, given twice", () => {
  it.each([
    ["a command's option", [...API, ...ADD, "--topic", "a", "--topic", "b"], "--topic <name>"],
    ["with =", [...API, ...ADD, "--topic=a", "--topic=a"], "--topic <name>"],
    [
      "a global option",
      ["--api", "http://127.0.0.1:3000", "--api", "http://127.0.0.1:4000", ...ADD, "--topic", "a"],
      "--api <url>",
    ],
  ])("%s: exit 1, nothing sent, the option named", async (_what, argv, flags) => {
    // Act
    const result = await runOffline(argv);

    // Assess
    expect(result.code).toBe(1);
    expect(result.sent).toEqual([]);
    expect(result.err).toContain(`error: option '${flags}' given more than once: give it once`);
  });

  it("--json: the usage error is one JSON document", async () => {
    // Act
    const result = await runOffline([...API, "--json", ...ADD, "--topic", "a", "--topic", "b"]);

    // Assess
    expect(result.code).toBe(1);
    expect(JSON.parse(result.err).error).toMatchObject({ code: "usage" });
  });

  it("a repeatable option (--task-id <id...>) and a flag given twice are still taken", async () => {
    // Act: sent (and fails offline: exit 3), not refused as usage
    const replay = await runOffline([
      ...API,
      "topics",
      "replay",
      "orders",
      "--task-id",
      "orders.a",
      "--task-id",
      "orders.b",
    ]);
    const flag = await runOffline([...API, "--json", "--json", ...ADD, "--topic", "a"]);

    // Assess
    expect(replay.code).toBe(3);
    expect(replay.sent).not.toEqual([]);
    expect(flag.code).toBe(3);
  });
});
