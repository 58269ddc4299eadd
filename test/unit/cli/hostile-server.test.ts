import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../../cli/main.js";
import { MAX_LISTED_TOPICS } from "../../../shared/domain/view-bounds.js";
import { scheduleViewAnswer, topicViewAnswer } from "../client/fakes.js";

// The client's backoff between tries (random, up to 1.4 s a command; up to 1.1 s a test measured on a loaded
// 2-core host) passes at once: what is sent and printed is the point here, not the waiting.
vi.mock("node:timers/promises", async (importOriginal) => ({
  ...(await importOriginal<typeof import("node:timers/promises")>()),
  setTimeout: async <T>(_ms?: number, value?: T) => value,
}));

/** `punctual` in-process against a server that answers what it should not. */
async function run(
  argv: string[],
  answer: { status: number; body: unknown; headers?: Record<string, string> },
) {
  let requests = 0;
  const fetch: typeof globalThis.fetch = async () => {
    requests++;
    return new Response(typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body), {
      status: answer.status,
      headers: answer.headers ?? { "content-type": "application/json" },
    });
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", ...argv], io);
  return { code, out: out.join(""), err: err.join(""), requests };
}

const taskIdOf = (n: number) => `demo.n${n}.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY`;
const added = (n: number) => ({
  status: 201,
  task_id: taskIdOf(n),
  topic: "demo",
  task_status: "scheduled",
  due_at: "2026-11-23T12:01:30.000Z",
});

/** A dead-lettered task's view whose `last_error` (the receiver's words) is this. */
const failedTask = (lastError: string) => ({
  task_id: taskIdOf(1),
  topic: "demo",
  status: "failed",
  due_at: "2026-11-23T12:01:30.000Z",
  accepted_at: "2026-11-23T12:00:00.000Z",
  attempts: 1,
  last_error: lastError,
  callback_url: "https://hooks.example.com/punctual",
  attempt_log: [],
});

describe("tasks add-batch: a batch answer whose summary contradicts its results", () => {
  async function addBatchAnswered(body: unknown) {
    const dir = await mkdtemp(path.join(tmpdir(), "punctual-hostile-"));
    const file = path.join(dir, "tasks.json");
    const task = { topic: "demo", delay_seconds: 90, content: {} };
    await writeFile(file, JSON.stringify([task, task]));
    return run(["--json", "tasks", "add-batch", "--file", file], { status: 200, body });
  }

  it("an item refused (400) exits 2 even when the answer's `failed` says 0", async () => {
    // Act
    const refused = { status: 400, error: { code: "validation_failed", message: "bad" } };
    const result = await addBatchAnswered({ results: [added(0), refused], added: 2, failed: 0 });

    // Assess
    expect(result.code).toBe(2);
  });

  it("an item answered 503 exits 3 even when the answer's `failed` says 0", async () => {
    // Act
    const busy = { status: 503, error: { code: "service_unavailable", message: "retry it" } };
    const result = await addBatchAnswered({ results: [busy, added(1)], added: 2, failed: 0 });

    // Assess
    expect(result.code).toBe(3);
  });

  it("every item added exits 0 even when the answer's `failed` says 1", async () => {
    // Act
    const result = await addBatchAnswered({ results: [added(0), added(1)], added: 0, failed: 1 });

    // Assess
    expect(result.code, result.err).toBe(0);
  });
});

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** A real loopback API answering every request `status` with `body`, counting them. */
async function apiAnswering(body: unknown, status = 200): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on("end", () =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body)),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

/** `punctual --api <url> …argv` in-process, talking to that API over the network stack. */
async function runAgainst(url: string, argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {} };
  const code = await main(["--api", url, ...argv], io);
  return { code, out: out.join(""), err: err.join("") };
}

describe("schedules create answered with another topic's schedule (a real loopback server)", () => {
  it("exits 3 saying where to look first, and prints no schedule as created", async () => {
    // Prepare: a 201 whose schedule is of topic `other`, for a create on `demo`.
    const api = await apiAnswering(scheduleViewAnswer("other"), 201);
    const create = ["schedules", "create", "--topic", "demo", "--cron", "@daily", "--timezone", "UTC"];

    // Act
    const result = await runAgainst(api.url, [...create, "--content", "{}"]);

    // Assess
    expect(result.code).toBe(3);
    expect(result.out).toBe("");
    expect(result.err).toMatch(/look with schedules list --topic demo/);
    expect(result.err).toMatch(
      /invalid_response \(HTTP 201\): .* is for topic "other", not the one asked for/,
    );
    expect(api.requests()).toBe(1);
  });
});

describe("tasks add-batch: an item answered added that names no task (a real loopback server)", () => {
  it("exits 3 with invalid_response and a rerun file of every item with its key, not 0 with an empty task id", async () => {
    // Prepare: two items; the answer says both added, the second with no task_id.
    const dir = await mkdtemp(path.join(tmpdir(), "punctual-hostile-"));
    const file = path.join(dir, "tasks.json");
    const task = { topic: "demo", delay_seconds: 90, content: {} };
    await writeFile(file, JSON.stringify([task, task]));
    const { task_id: _, ...noTask } = added(1);
    const api = await apiAnswering({ results: [added(0), noTask], added: 2, failed: 0 });
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {} };

    // Act
    const code = await main(["--api", api.url, "--json", "tasks", "add-batch", "--file", file], io);

    // Assess: nothing printed as a result; the error names the item, and the rerun file holds both items keyed.
    expect(code).toBe(3);
    expect(out.join("")).toBe("");
    const printed = JSON.parse(err.join("")) as {
      error: { code: string; message: string };
      retry: { file: string };
    };
    expect(printed.error.code).toBe("invalid_response");
    expect(printed.error.message).toMatch(/item 1 at task_id/);
    const rerun = JSON.parse(await readFile(printed.retry.file, "utf8")) as {
      tasks: { idempotency_key: string }[];
    };
    expect(rerun.tasks).toHaveLength(2);
    expect(rerun.tasks.every((item) => typeof item.idempotency_key === "string")).toBe(true);
    expect(api.requests()).toBe(1);
  });
});

describe("terminal control characters in what the server says (human output)", () => {
  // OSC (set the window title), clear screen, a carriage return that would overwrite the line, a BEL, a C1 CSI.
  const hostile = "fine\u001b]0;owned\u0007\u001b[2J\rall good\u009b31m";
  // Any control character but the line ends the CLI writes itself.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters it must not find.
  const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

  it("an error message is printed with its control characters escaped, not sent to the terminal", async () => {
    // Act
    const result = await run(["tasks", "get", taskIdOf(1)], {
      status: 404,
      body: { error: { code: "not_found", message: hostile, issues: [{ path: hostile, message: hostile }] } },
    });

    // Assess
    expect(result.code).toBe(2);
    expect(result.err).not.toMatch(raw);
    expect(result.err).toContain("\\u001b]0;owned\\u0007");
  });

  it("a non-JSON error page is printed escaped too", async () => {
    // Act
    const result = await run(["tasks", "get", taskIdOf(1)], {
      status: 500,
      body: `<html>${hostile}</html>`,
      headers: { "content-type": "text/html" },
    });

    // Assess
    expect(result.code).toBe(4);
    expect(result.err).not.toMatch(raw);
  });

  it("a task's fields (last_error comes from the receiver) are shown escaped in the table", async () => {
    // Act
    const result = await run(["tasks", "get", taskIdOf(1)], {
      status: 200,
      body: failedTask(hostile),
    });

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.out).not.toMatch(raw);
    expect(result.out).toContain("\\u001b[2J");
  });

  it("--json output stays JSON (ESC is already escaped by JSON), C1 controls included", async () => {
    // Act
    const result = await run(["--json", "tasks", "get", taskIdOf(1)], {
      status: 404,
      body: { error: { code: "not_found", message: hostile } },
    });

    // Assess
    expect(JSON.parse(result.err).error.message).toBe(hostile);
    expect(result.err.trimEnd()).not.toMatch(raw);
  });

  // Right-to-left override (Trojan Source): "error: exe.txt" reads as "error: txt.exe"; isolates, marks, separators.
  const bidi =
    "ok \u202etxt.exe\u202c \u2066\u2067\u2068\u2069 \u200e\u200f\u061c \u202a\u202b\u202d line\u2028para\u2029";
  const rawBidi = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

  it("bidi overrides, isolates and marks, and line separators are shown escaped, in tables and errors", async () => {
    // Act
    const table = await run(["tasks", "get", taskIdOf(1)], {
      status: 200,
      body: failedTask(bidi),
    });
    const error = await run(["tasks", "get", taskIdOf(1)], {
      status: 404,
      body: { error: { code: "not_found", message: bidi } },
    });

    // Assess
    expect(table.code, table.err).toBe(0);
    expect(table.out).not.toMatch(rawBidi);
    expect(table.out).toContain("\\u202etxt.exe\\u202c");
    expect(error.err).not.toMatch(rawBidi);
  });

  it("--json escapes them too: the same JSON value, nothing that reorders a terminal's line", async () => {
    // Act
    const result = await run(["--json", "tasks", "get", taskIdOf(1)], {
      status: 404,
      body: { error: { code: "not_found", message: bidi } },
    });

    // Assess
    expect(JSON.parse(result.err).error.message).toBe(bidi);
    expect(result.err).not.toMatch(rawBidi);
  });
});

describe("invisible characters in what the server says (the console's set: every default-ignorable code point)", () => {
  // Zero-width space and joiner, word joiner, byte-order mark, soft hyphen, a variation selector, a Hangul filler,
  // a tag character (outside the BMP): each shows nothing, so `order-1` and `order-1\u200b` look alike.
  const invisible = "order-1\u200b\u200d\u2060\ufeff\u00ad\ufe0f\u3164\u{e0041}";
  const rawInvisible = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/u;

  it("are shown as escapes in tables and errors, so values that differ are told apart", async () => {
    // Act
    const table = await run(["tasks", "get", taskIdOf(1)], { status: 200, body: failedTask(invisible) });
    const error = await run(["tasks", "get", taskIdOf(1)], {
      status: 404,
      body: { error: { code: "not_found", message: invisible } },
    });

    // Assess
    expect(table.code, table.err).toBe(0);
    expect(table.out).not.toMatch(rawInvisible);
    expect(table.out).toContain("order-1\\u200b\\u200d\\u2060\\ufeff\\u00ad\\ufe0f\\u3164\\udb40\\udc41");
    expect(error.err).not.toMatch(rawInvisible);
  });

  it("--json escapes them too: the same JSON value", async () => {
    // Act
    const result = await run(["--json", "tasks", "get", taskIdOf(1)], {
      status: 404,
      body: { error: { code: "not_found", message: invisible } },
    });

    // Assess
    expect(JSON.parse(result.err).error.message).toBe(invisible);
    expect(result.err).not.toMatch(rawInvisible);
  });
});

describe("a `__proto__` key in an answer (JSON.parse makes it an own property)", () => {
  // Copied by assignment, `__proto__` would set the copy's prototype: a field the answer lacks (a group, a
  // `rescheduled_to`) would then read from it and be shown as the task's. The schema's copy leaves it out.
  const view = JSON.stringify(failedTask("x"));
  const body = `${view.slice(0, -1)},"__proto__":{"group":"G-9","rescheduled_to":"demo.other"}}`;

  it("tasks get shows nothing of it, in a table or --json, and pollutes no prototype", async () => {
    // Act
    const table = await run(["tasks", "get", taskIdOf(1)], { status: 200, body });
    const json = await run(["--json", "tasks", "get", taskIdOf(1)], { status: 200, body });

    // Assess
    expect(table.code, table.err).toBe(0);
    expect(table.out).not.toMatch(/G-9|demo\.other|group|rescheduled_to/);
    expect(json.code, json.err).toBe(0);
    expect(json.out).not.toMatch(/G-9|demo\.other|__proto__/);
    expect(JSON.parse(json.out).task_id).toBe(taskIdOf(1));
    expect(({} as Record<string, unknown>).group).toBeUndefined();
  });
});

describe("a number in an answer that no double holds (a field the CLI does not know)", () => {
  // JSON.parse reads 1e400 as Infinity, which --json then wrote as `null`, and an integer past 2^53 rounded
  // (`1.2345678901234568e+29`): a value the server never sent, shown as its. The API (JavaScript's JSON.stringify)
  // never writes either; refused as invalid_response, exit 3.
  const view = JSON.stringify(failedTask("x"));

  it.each([
    ["1e400", "1e400"],
    ["-1e400", "-1e400"],
    ["123456789012345678901234567890", "123456789012345678901234567890"],
    ["9007199254740993", "9007199254740993"],
  ])(
    "%s: exit 3 with invalid_response naming it, in a table and --json, printing nothing",
    async (number, named) => {
      // Prepare
      const body = `${view.slice(0, -1)},"extra":{"n":[${number}]}}`;

      // Act
      const table = await run(["tasks", "get", taskIdOf(1)], { status: 200, body });
      const json = await run(["--json", "tasks", "get", taskIdOf(1)], { status: 200, body });

      // Assess
      expect(table.code, table.out).toBe(3);
      expect(table.out).toBe("");
      expect(table.err).toContain(`holds the number ${named}, which no JavaScript number holds exactly`);
      expect(json.code, json.out).toBe(3);
      expect(JSON.parse(json.err).error).toMatchObject({ code: "invalid_response" });
    },
  );

  it("numbers a double holds as written (9007199254740991, 1e300, 0.1, such digits in a string) are the answer", async () => {
    // Prepare
    const body = `${view.slice(0, -1)},"extra":[9007199254740991,-9007199254740991,1e300,0.1,"123456789012345678901234567890 1e400"]}`;

    // Act
    const json = await run(["--json", "tasks", "get", taskIdOf(1)], { status: 200, body });

    // Assess
    expect(json.code, json.err).toBe(0);
    expect(JSON.parse(json.out).extra).toEqual([
      9007199254740991,
      -9007199254740991,
      1e300,
      0.1,
      "123456789012345678901234567890 1e400",
    ]);
  });
});

describe("an answer nested deeper than any of the API's", () => {
  it("tasks get: exit 3 with invalid_response, not a stack overflow printing it, in tables and --json", async () => {
    // Prepare: a task view with an extra field 100,000 arrays deep.
    const view = JSON.stringify(failedTask("HTTP 500"));
    const body = `${view.slice(0, -1)},"extra":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;

    for (const json of [[], ["--json"]]) {
      // Act
      const result = await run([...json, "tasks", "get", taskIdOf(1)], { status: 200, body });

      // Assess
      expect(result.code).toBe(3);
      expect(result.out).toBe("");
      expect(result.err).toMatch(/invalid_response/);
      expect(result.err).not.toMatch(/call stack/);
    }
  });
});

describe("a next_cursor that is not one of the API's cursors", () => {
  // The CLI prints `more: --cursor <next_cursor>` for the operator to paste into a shell: a lying server (or a
  // proxy) must not be able to hand them a command substitution to run. The API's cursors are base64url.
  const pasted = "$(touch /tmp/pwned)`id`;rm -rf ~";

  it("tasks list refuses it as invalid_response (exit 3) and prints no line to paste", async () => {
    // Act
    const result = await run(["tasks", "list", "--topic", "demo", "--failed"], {
      status: 200,
      body: { tasks: [failedTask("HTTP 500")], next_cursor: pasted },
    });

    // Assess
    expect(result.code).toBe(3);
    expect(result.out).not.toContain("--cursor");
    expect(result.err).toContain("invalid_response");
  });

  it("a base64url cursor is printed to paste as before", async () => {
    // Act
    const result = await run(["tasks", "list", "--topic", "demo", "--failed"], {
      status: 200,
      body: { tasks: [failedTask("HTTP 500")], next_cursor: "eyJwayI6ImRlbW8jXyJ9_-" },
    });

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.out).toContain("more: --cursor eyJwayI6ImRlbW8jXyJ9_-\n");
  });
});

describe("groups cancel answered with another topic's tasks (a proxy's answer to another request)", () => {
  it("exits 3 with invalid_response, not 0 with that topic's tasks shown as this group's", async () => {
    // Act
    const result = await run(["--json", "groups", "cancel", "--topic", "demo", "--group", "A-1"], {
      status: 200,
      body: {
        cancelled: 3,
        not_cancelled: [{ task_id: "other.t1", status: "delivered" }],
        cancel_requested: [],
        more: false,
        next_cursor: null,
      },
    });

    // Assess
    expect(result.code, result.out).toBe(3);
    expect(result.err).toContain("invalid_response");
    expect(result.err).toContain("another topic's task");
  });
});

describe("topics list answered with more topics than any environment holds", () => {
  it("exits 3 with invalid_response, printing none of them", async () => {
    // Prepare
    const topics = Array.from({ length: MAX_LISTED_TOPICS + 1 }, (_, i) => topicViewAnswer(`t${i}`));

    // Act
    const result = await run(["topics", "list"], { status: 200, body: { topics } });

    // Assess
    expect(result.code, result.out).toBe(3);
    expect(result.err).toContain("invalid_response");
    expect(result.err).toContain(`lists ${MAX_LISTED_TOPICS + 1} topics`);
    expect(result.out).toBe("");
  });
});

describe("a page holding far more items than the API ever puts on one", () => {
  // The API lists at most 1,000 a page (a group cancel's page of tasks, a replay's 1,000 read); 130,000 (≈ 3.7 MB,
  // under the client's answer cap) first overflowed the call stack where the command added a page's items to its
  // totals (`push(...items)`), then was printed whole: a broken or hostile API's, refused as invalid_response.
  // Tasks of the topic asked for, as the API lists them (another topic's is no answer to this call).
  const many = Array.from({ length: 130_000 }, (_, i) => ({ task_id: `demo.t${i}`, status: "delivered" }));

  // Sent once: a whole 2xx that is not the API's answer is what the server answers, and a repeat gets the same.
  // It was sent four times (a group cancel is retried as any safe call is), seconds on a loaded 2-core host.
  it("groups cancel exits 3 with invalid_response after one request, not a stack overflow, listing none of them", async () => {
    // Act
    const result = await run(["--json", "groups", "cancel", "--topic", "demo", "--group", "A-1"], {
      status: 200,
      body: { cancelled: 0, not_cancelled: many, more: false, next_cursor: null },
    });

    // Assess
    expect(result.code, result.out).toBe(3);
    expect(JSON.parse(result.err).error).toMatchObject({ code: "invalid_response" });
    expect(result.err).toContain(
      "lists 130000 tasks (not_cancelled, cancel_requested) where the API lists at most 1000",
    );
    expect(result.out).toBe("");
    expect(result.requests).toBe(1);
  });

  it("topics replay exits 3 with invalid_response, not a stack overflow, listing none of them", async () => {
    // Act
    const failed = many.map(({ task_id }) => ({ task_id, reason: "not failed" }));
    const result = await run(["--json", "topics", "replay", "demo"], {
      status: 200,
      body: { matched: 130_000, replayed: 0, failed, next_cursor: null },
    });

    // Assess
    expect(result.code, result.out).toBe(3);
    expect(JSON.parse(result.err).error).toMatchObject({ code: "invalid_response" });
    expect(result.err).toContain("lists 130000 tasks (failed) where the API lists at most 1000");
    expect(result.out).toBe("");
  });

  it("a full page of 1,000 is listed whole", async () => {
    // Act
    const page = many.slice(0, 1_000);
    const result = await run(["--json", "groups", "cancel", "--topic", "demo", "--group", "A-1"], {
      status: 200,
      body: { cancelled: 0, not_cancelled: page, more: false, next_cursor: null },
    });

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(JSON.parse(result.out).not_cancelled).toHaveLength(1_000);
  });
});

describe("groups cancel answered a count of tasks cancelled larger than the page it read", () => {
  it("exits 3 with invalid_response, not 0 printing that count as the group's total", async () => {
    // Act
    const result = await run(["groups", "cancel", "--topic", "demo", "--group", "A-1", "--limit", "10"], {
      status: 200,
      body: {
        cancelled: 9_007_199_254_740_991,
        not_cancelled: [],
        cancel_requested: [],
        more: false,
        next_cursor: null,
      },
    });

    // Assess
    expect(result.code, result.out).toBe(3);
    expect(result.out).toBe("");
    expect(result.err).toContain(
      "counts 9007199254740991 cancelled where the API handles at most 10 tasks in this call",
    );
  });
});
