import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";
import { taskViewAnswer } from "../client/fakes.js";
import { handlerFetch, loadAddHandlers } from "../client/handler-fetch.js";

beforeAll(loadAddHandlers);

/** `punctual` in-process; every request body recorded (as sent, and parsed) and answered as an add or a reschedule would be. */
async function run(argv: string[]) {
  const bodies: unknown[] = [];
  const texts: string[] = [];
  const headers: Record<string, string>[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    texts.push(String(init?.body));
    bodies.push(JSON.parse(String(init?.body)));
    headers.push(init?.headers as Record<string, string>);
    const task = { task_id: "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY", topic: "demo" };
    const added = { ...task, status: "scheduled", due_at: "2026-11-23T12:01:30.000Z" };
    // A move answers the task it became, `rescheduled_from` the id asked (the path's last segment).
    const movedFrom = decodeURIComponent(String(input).split("/").at(-1) ?? "");
    const moved = taskViewAnswer(task.task_id, { rescheduled_from: movedFrom });
    const answer = init?.method === "PATCH" ? moved : added;
    return new Response(JSON.stringify(answer), {
      status: 201,
      headers: { "content-type": "application/json" },
    });
  };
  const err: string[] = [];
  const io = { out: () => {}, err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", ...argv], io);
  return { code, err: err.join(""), bodies, texts, headers };
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

describe("--delay and --timing-moment are sent as typed, every digit (the API rounds a due time's part below the ms up from them)", () => {
  it.each([
    [
      "tasks add --timing-moment",
      add("--timing-moment", "1767225600.0000001"),
      '"timing_moment":1767225600.0000001',
    ],
    ["tasks add --delay", add("--delay", "5.00000000000000001"), '"delay_seconds":5.00000000000000001'],
    [
      "tasks reschedule --timing-moment",
      reschedule("--timing-moment", "1767225600.0000001"),
      '{"timing_moment":1767225600.0000001}',
    ],
    [
      "tasks reschedule --delay",
      reschedule("--delay", "90.0000000000000001"),
      '{"delay_seconds":90.0000000000000001}',
    ],
    ["a leading zero (no JSON number has one) dropped", add("--delay", "090.50"), '"delay_seconds":90.50'],
    [
      "an exponent kept",
      add("--timing-moment", "1.7672256000000001E9"),
      '"timing_moment":1.7672256000000001E9',
    ],
  ])("%s", async (_what, argv, sent) => {
    // Act
    const result = await run(argv);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.texts).toHaveLength(1);
    expect(result.texts[0]).toContain(sent);
  });

  it.each(["1e400", "1e-400", "9007199254740993"])(
    "%j, which no JS number holds (the API refuses it), is a usage error (exit 1), nothing sent",
    async (value) => {
      for (const argv of [add("--timing-moment", value), reschedule("--delay", value)]) {
        // Act
        const result = await run(argv);

        // Assess
        expect(result.code, argv.join(" ")).toBe(1);
        expect(result.bodies).toEqual([]);
      }
    },
  );
});

describe("through the API's real add handlers: a timing_moment 100 ns after a whole second is due at the next whole ms, never early", () => {
  /** A whole second a day from now (within every topic's maxDelay), as unix seconds. */
  const second = () => Math.floor(Date.now() / 1000) + 86_400;

  it("tasks add --timing-moment", async () => {
    // Prepare
    const at = second();
    const api = handlerFetch();
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: () => {}, env: {}, fetch: api.fetch };

    // Act
    const argv = ["--api", "http://127.0.0.1:3000", "--json", ...add("--timing-moment", `${at}.0000001`)];
    const code = await main([...argv, "--callback", "https://hooks.example.com/n"], io);

    // Assess
    expect(code).toBe(0);
    expect(JSON.parse(out.join(""))).toMatchObject({ due_at: new Date(at * 1000 + 1).toISOString() });
  });

  it("tasks add-batch --file: each item's timing_moment as the file writes it", async () => {
    // Prepare
    const at = second();
    const dir = await mkdtemp(path.join(tmpdir(), "punctual-timing-"));
    const file = path.join(dir, "tasks.json");
    const item = (moment: string, n: number) =>
      `{"topic":"demo","timing_moment":${moment},"content":{"n":${n}},"callback":{"url":"https://hooks.example.com/n"}}`;
    await writeFile(file, `[${item(`${at}.0000001`, 1)},${item(`${at}`, 2)}]`);
    const api = handlerFetch();
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: () => {}, env: {}, fetch: api.fetch };

    // Act
    const code = await main(
      ["--api", "http://127.0.0.1:3000", "--json", "tasks", "add-batch", "--file", file],
      io,
    );

    // Assess
    expect(code).toBe(0);
    const answer = JSON.parse(out.join("")) as { results: { due_at: string }[] };
    expect(answer.results.map((result) => result.due_at)).toEqual([
      new Date(at * 1000 + 1).toISOString(),
      new Date(at * 1000).toISOString(),
    ]);
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
