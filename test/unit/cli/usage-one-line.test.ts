import { describe, expect, it } from "vitest";
import { runOffline } from "./offline.js";

const API = ["--api", "http://127.0.0.1:3000"];

describe("a usage mistake is one line on stderr, exit 1, whoever finds it (commander or our own checks)", () => {
  it.each([
    [
      "--group with --failed (commander's conflict)",
      [...API, "tasks", "list", "--topic", "t", "--group", "X", "--failed"],
      "error: option '--group <value>' cannot be used with option '--failed'",
    ],
    [
      "neither --group nor --failed (our own check)",
      [...API, "tasks", "list", "--topic", "t"],
      "error: give --group <value> or --failed",
    ],
    ["an unknown option", [...API, "tasks", "get", "demo.x", "--bogus"], "error: unknown option '--bogus'"],
    ["an unknown command", [...API, "nope"], "error: unknown command 'nope'"],
    ["a missing argument", [...API, "tasks", "get"], "error: missing required argument 'task-id'"],
    [
      "a missing required option",
      [...API, "tasks", "list", "--group", "X"],
      "error: required option '--topic <name>' not specified",
    ],
    [
      "an invalid choice",
      [...API, "--auth", "foo", "tasks", "get", "x"],
      "error: option '--auth <kind>' argument 'foo' is invalid. Allowed choices are iam, jwt, none.",
    ],
  ])("%s: the line naming it, no help page", async (_what, argv, line) => {
    // Act
    const result = await runOffline(argv);

    // Assess
    expect(result.code).toBe(1);
    expect(result.out).toBe("");
    expect(result.sent).toEqual([]);
    expect(result.err).toBe(`${line}\n`);
  });
});
