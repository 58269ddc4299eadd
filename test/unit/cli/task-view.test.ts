import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";
import { taskViewAnswer } from "../client/fakes.js";

/** `punctual tasks get` (then `options`) in-process against a server answering this task view. */
async function get(task: Record<string, unknown>, ...options: string[]) {
  const sent: string[] = [];
  const fetch: typeof globalThis.fetch = async (input) => {
    sent.push(String(input));
    return new Response(JSON.stringify(task), {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  };
  const out: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: () => {}, env: {}, fetch };
  const argv = ["--api", "http://127.0.0.1:3000", "tasks", "get", String(task.task_id), ...options];
  const code = await main(argv, io);
  return { code, out: out.join(""), sent };
}

const attempt = (n: number) => ({
  started_at: `2026-11-23T12:01:${String(30 + n).padStart(2, "0")}.000Z`,
  duration_ms: 9,
  ...(n % 2 === 0 ? { status: 503 } : { error: "network: connection refused (ECONNREFUSED)" }),
});

describe("tasks get: a task's attempt log", () => {
  it("shows each attempt on its own row, so a task with a full log stays a readable table", async () => {
    // Arrange: a dead-lettered task with the 10 attempts a view keeps
    const task = {
      task_id: "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY",
      topic: "demo",
      status: "failed",
      due_at: "2026-11-23T12:01:30.000Z",
      accepted_at: "2026-11-23T12:00:00.000Z",
      attempts: 10,
      last_error: "HTTP 503",
      callback_url: "https://hooks.example.com/punctual",
      attempt_log: Array.from({ length: 10 }, (_, n) => attempt(n)),
    };

    // Act
    const { code, out } = await get(task);

    // Assess: no line as wide as the whole log written as one JSON cell; every attempt is listed
    expect(code).toBe(0);
    const widest = Math.max(...out.split("\n").map((line) => line.length));
    expect(widest).toBeLessThan(120);
    for (let n = 0; n < 10; n++) expect(out).toContain(attempt(n).started_at);
    expect(out).toContain("network: connection refused (ECONNREFUSED)");
    expect(out).toContain("503");
  });
});

describe("tasks get: attempt numbers", () => {
  it("labels each row with its attempt number, so an attempt never recorded shows as a gap", async () => {
    // Arrange: attempts 1 and 3 logged; attempt 2's outcome was never recorded
    const task = {
      ...taskViewAnswer("demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY"),
      attempts: 3,
      attempt_log: [
        { attempt: 1, ...attempt(1) },
        { attempt: 3, ...attempt(3) },
      ],
    };

    // Act
    const { code, out } = await get(task);

    // Assess
    expect(code).toBe(0);
    const rows = out.split("\n").filter((line) => /│ \d+ +│ 2026-/.test(line));
    expect(rows.map((line) => line.split("│")[1]?.trim())).toEqual(["1", "3"]);
  });
});

describe("tasks get --content: the task's content", () => {
  const task = taskViewAnswer("demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY");
  const content = '{"order_id":"A-1","n":1.0,"big":12345678901234567890}';

  it("asks for it (?include=content) and prints it exactly as delivered", async () => {
    // Act
    const { code, out, sent } = await get({ ...task, content }, "--content", "--json");

    // Assess
    expect(code).toBe(0);
    expect(sent.map((url) => new URL(url).search)).toEqual(["?include=content"]);
    expect(JSON.parse(out).content).toBe(content);
  });

  it("without the flag asks for no content", async () => {
    const { code, sent } = await get(task);
    expect(code).toBe(0);
    expect(sent.map((url) => new URL(url).search)).toEqual([""]);
  });
});

describe("tasks reschedule and run: the moved task, as tasks get shows a task", () => {
  /** `punctual tasks <argv>` in-process against a server answering this task view to any request. */
  async function print(task: Record<string, unknown>, argv: string[]) {
    const fetch: typeof globalThis.fetch = async () =>
      new Response(JSON.stringify(task), { status: 200, headers: { "content-type": "application/json" } });
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: () => {}, env: {}, fetch };
    const code = await main(["--api", "http://127.0.0.1:3000", "tasks", ...argv], io);
    return { code, out: out.join("") };
  }

  it.each([["reschedule", "--delay", "60"], ["run"]])(
    "%s: an empty attempt log is no `attempt_log []` row, and a log is its own table",
    async (...command) => {
      // Prepare
      const id = "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY";
      const fresh = { ...taskViewAnswer(id), attempt_log: [] };
      const tried = { ...taskViewAnswer(id), attempts: 1, attempt_log: [{ attempt: 1, ...attempt(0) }] };
      const [name, ...options] = command;

      // Act
      const empty = await print(fresh, [name as string, id, ...options]);
      const logged = await print(tried, [name as string, id, ...options]);

      // Assess
      expect([empty.code, logged.code]).toEqual([0, 0]);
      expect(empty.out).not.toContain("attempt_log");
      expect(logged.out).not.toContain("attempt_log");
      expect(logged.out).toMatch(/│ 1 +│ 2026-11-23T12:01:30\.000Z/);
    },
  );
});
