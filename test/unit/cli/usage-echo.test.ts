import { describe, expect, it } from "vitest";
import { runOffline } from "./offline.js";

const API = ["--api", "http://127.0.0.1:3000"];
/** A value a script passed on (a task id read from a file, a shell variable) holding terminal commands. */
const HOSTILE = "\u001b]0;pwned\u0007\u001b[2J\r\u202eevil";

describe("commander's usage errors quote the argument: its control characters are escaped, not sent to the terminal", () => {
  it.each([
    ["an unknown option", [...API, "tasks", "get", `-${HOSTILE}`]],
    ["an unknown command", [...API, "tasks", HOSTILE]],
    [
      "an invalid option value",
      [...API, "tasks", "list", "--topic", "t", "--group", "g", "--limit", HOSTILE],
    ],
    ["an invalid choice", [...API, "--auth", HOSTILE, "tasks", "get", "x"]],
  ])("%s: exit 1, the message shows the value escaped, no help page", async (_what, argv) => {
    // Act
    const result = await runOffline(argv);

    // Assess
    expect(result.code).toBe(1);
    expect(result.sent).toEqual([]);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters it must not find.
    expect(result.err).not.toMatch(/[\u001b\u0007\r\u202e]/);
    expect(result.err).toContain("\\u001b]0;pwned\\u0007\\u001b[2J\\r\\u202eevil");
    expect(result.err).not.toContain("Usage: punctual");
  });
});
