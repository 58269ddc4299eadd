import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";

/** `punctual` in-process; every request body recorded and answered as an add or a reschedule would be. */
async function run(argv: string[]) {
  const bodies: unknown[] = [];
  const headers: Record<string, string>[] = [];
  const fetch: typeof globalThis.fetch = async (_input, init) => {
    bodies.push(JSON.parse(String(init?.body)));
    headers.push(init?.headers as Record<string, string>);
    const task = { task_id: "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY", topic: "demo" };
    const answer = { ...task, status: "scheduled", due_at: "2026-11-23T12:01:30.000Z" };
    return new Response(JSON.stringify(answer), {
      status: 201,
      headers: { "content-type": "application/json" },
    });
  };
  const err: string[] = [];
  const io = { out: () => {}, err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", ...argv], io);
  return { code, err: err.join(""), bodies, headers };
}

const add = (...timing: string[]) => ["tasks", "add", "--topic", "demo", "--content", "{}", ...timing];
const reschedule = (...timing: string[]) => ["tasks", "reschedule", "demo.n1.mhx0z8ka.01JD3ABC", ...timing];

describe("--delay and --timing-moment take decimal numbers only", () => {
  it.each(["0x10", "0b11", "0o17", "Infinity", "1_000", "5s"])(
    "%j is a usage error (exit 1), not sent as some other number",
    async (value) => {
      for (const argv of [
        add("--delay", value),
        add("--timing-moment", value),
        reschedule("--delay", value),
      ]) {
        // Act
        const result = await run(argv);

        // Assess
        expect(result.code, argv.join(" ")).toBe(1);
        expect(result.bodies).toEqual([]);
      }
    },
  );

  it.each([
    ["90", 90],
    ["1.5", 1.5],
    ["0", 0],
    ["1e3", 1000],
  ])("%j is sent as %d", async (value, expected) => {
    // Act
    const result = await run(add("--delay", value));

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.bodies).toMatchObject([{ delay_seconds: expected }]);
  });
});

describe("tasks add: an option given empty is sent as given, for the API to judge", () => {
  it.each([
    ["--callback", (body: Record<string, unknown>) => body.callback, { url: "" }],
    ["--deliver-by", (body: Record<string, unknown>) => body.deliver_by, ""],
  ] as const)(
    '%s "" (an unset shell variable) is not dropped, leaving the topic\'s default in force',
    async (option, read, expected) => {
      // Act
      const result = await run(add("--delay", "5", option, ""));

      // Assess
      expect(read(result.bodies[0] as Record<string, unknown>)).toEqual(expected);
    },
  );

  it('--idempotency-key "" is sent as given (the API refuses it), not replaced by a new key each run', async () => {
    // Act
    const result = await run(add("--delay", "5", "--idempotency-key", ""));

    // Assess
    expect(result.headers[0]?.["idempotency-key"]).toBe("");
  });
});
