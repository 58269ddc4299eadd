import { describe, expect, it } from "vitest";
import { runOffline } from "./offline.js";

const API = ["--api", "http://127.0.0.1:3000"];

describe("--json: a usage mistake commander finds is one JSON document on stderr too", () => {
  it.each([
    ["a missing argument", [...API, "--json", "tasks", "get"], /task-id/],
    ["an unknown option", [...API, "--json", "tasks", "get", "demo.x", "--bogus"], /--bogus/],
    ["an unknown command", [...API, "--json", "nope"], /nope/],
    ["an option's missing value", [...API, "--json", "tasks", "add", "--topic"], /--topic/],
    [
      "an invalid value",
      [...API, "tasks", "add", "--topic", "d", "--delay", "x", "--content", "{}", "--json"],
      /--delay/,
    ],
    ["a missing subcommand", [...API, "--json", "tasks"], /command/],
  ])("%s: exit 1, stdout empty, stderr {error:{code:'usage',message}}", async (_what, argv, names) => {
    // Act
    const result = await runOffline(argv);

    // Assess
    expect(result.code).toBe(1);
    expect(result.out).toBe("");
    expect(result.sent).toEqual([]);
    const error = JSON.parse(result.err).error;
    expect(error.code).toBe("usage");
    expect(error.message).toMatch(names);
  });

  it("without --json the message is printed as text, one line (no help page)", async () => {
    // Act
    const result = await runOffline([...API, "tasks", "get"]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.err).toBe("error: missing required argument 'task-id'\n");
  });

  it("--json --help still prints the help on stdout, exit 0", async () => {
    // Act
    const result = await runOffline(["--json", "tasks", "get", "--help"]);

    // Assess
    expect(result.code).toBe(0);
    expect(result.out).toContain("Usage: punctual tasks get");
  });
});
