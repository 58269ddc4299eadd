import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";

/**
 * Node reads a POSIX command line as UTF-8 and turns each byte that is not (a Latin-1 terminal's `é`, byte E9) into
 * U+FFFD. `punctual` in-process, every request recorded and answered as the route would.
 */
async function run(argv: string[]) {
  const requests: { url: string; body: string }[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    requests.push({ url: String(input), body: String(init?.body) });
    const task = {
      task_id: "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY",
      topic: "demo",
      status: "scheduled",
    };
    const cancel = { cancelled: 0, not_cancelled: [], cancel_requested: [], more: false, next_cursor: null };
    const answer = String(input).includes("/groups/")
      ? cancel
      : { ...task, due_at: "2026-11-23T12:01:30.000Z" };
    return new Response(JSON.stringify(answer), {
      status: String(input).includes("/groups/") ? 200 : 201,
      headers: { "content-type": "application/json" },
    });
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", "--json", ...argv], io);
  return { code, out: out.join(""), err: err.join(""), requests };
}

/** `{"name":"caf` + byte E9 + `"}` typed in a Latin-1 terminal, as Node hands it over. */
const MISREAD_CONTENT = '{"name":"caf\uFFFD"}';

describe("a command line that is not UTF-8", () => {
  it.each([
    [
      "tasks add --content",
      ["tasks", "add", "--topic", "demo", "--delay", "5", "--content", MISREAD_CONTENT],
      "--content",
    ],
    [
      "tasks add --content=",
      ["tasks", "add", "--topic", "demo", "--delay", "5", `--content=${MISREAD_CONTENT}`],
      "--content",
    ],
    ["groups cancel --group", ["groups", "cancel", "--topic", "demo", "--group", "caf\uFFFD"], "--group"],
  ])(
    "%s holding U+FFFD (a byte that was not UTF-8) is refused, exit 1, nothing sent: not other text than typed",
    async (_what, argv, option) => {
      // Act
      const result = await run(argv);

      // Assess
      expect(result.requests).toEqual([]);
      expect(result.code).toBe(1);
      const error = JSON.parse(result.err).error;
      expect(error.code).toBe("usage");
      expect(error.message).toContain(option);
      expect(error.message).toMatch(/UTF-8/);
      // The argument itself is not echoed (it may be a secret or hold what a terminal reads as controls).
      expect(error.message).not.toContain("caf");
    },
  );

  it("the same content written with JSON's escape, \\ufffd, is sent as written", async () => {
    // Act
    const result = await run([
      "tasks",
      "add",
      "--topic",
      "demo",
      "--delay",
      "5",
      "--content",
      '{"name":"caf\\ufffd"}',
    ]);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(JSON.parse(result.requests[0]?.body ?? "").content).toBe('{"name":"caf\\ufffd"}');
  });
});

/**
 * A name that really holds U+FFFD: the API takes any text as a group, so content that wrote `\ufffd` in its ordering
 * field made the group `caf\uFFFD`, which the CLI could add but not name again. It cannot be told from a byte that
 * was not UTF-8, so `--allow-fffd` says the caller typed it.
 */
describe("a name that really holds U+FFFD, with --allow-fffd", () => {
  it("the refusal says how to name it", async () => {
    const result = await run(["groups", "cancel", "--topic", "demo", "--group", "caf\uFFFD"]);

    expect(result.code).toBe(1);
    expect(JSON.parse(result.err).error.message).toContain("--allow-fffd");
  });

  it.each([
    ["before the command", ["--allow-fffd", "groups", "cancel", "--topic", "demo", "--group", "caf\uFFFD"]],
    ["after it", ["groups", "cancel", "--topic", "demo", "--group", "caf\uFFFD", "--allow-fffd"]],
  ])("groups cancel --group holding U+FFFD is sent as typed (%s)", async (_where, argv) => {
    // Act
    const result = await run(argv);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.requests).toHaveLength(1);
    const url = new URL(result.requests[0]?.url ?? "");
    const group = url.searchParams.get("group") ?? decodeURIComponent(url.pathname.split("/")[5] ?? "");
    expect(group).toBe("caf\uFFFD");
  });

  it("tasks add --content holding U+FFFD is sent as typed", async () => {
    const result = await run([
      "--allow-fffd",
      "tasks",
      "add",
      "--topic",
      "demo",
      "--delay",
      "5",
      "--content",
      MISREAD_CONTENT,
    ]);

    expect(result.code, result.err).toBe(0);
    expect(JSON.parse(result.requests[0]?.body ?? "").content).toBe(MISREAD_CONTENT);
  });

  it("after --, it is an argument, not the option: the U+FFFD is still refused", async () => {
    const result = await run([
      "groups",
      "cancel",
      "--topic",
      "demo",
      "--group",
      "caf\uFFFD",
      "--",
      "--allow-fffd",
    ]);

    expect(result.code).toBe(1);
    expect(result.requests).toEqual([]);
  });
});
