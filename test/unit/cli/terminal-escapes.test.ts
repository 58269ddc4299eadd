import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../../cli/main.js";

// The client's backoff between tries passes at once: what is printed is the point here, not the waiting.
vi.mock("node:timers/promises", async (importOriginal) => ({
  ...(await importOriginal<typeof import("node:timers/promises")>()),
  setTimeout: async <T>(_ms?: number, value?: T) => value,
}));

/**
 * Every human output path of the CLI, against a real loopback API whose every free-text field (a receiver's error
 * in an attempt log, a destination's host and error, a topic's settings, a schedule's cron, a replay's reasons, a
 * batch item's error, an error answer) carries what a terminal acts on: an OSC 8 hyperlink, an OSC 52 clipboard
 * write, a window-title OSC ended by BEL, a backspace, a carriage return that would overwrite the line, a C1 CSI,
 * NEL, and a right-to-left override. Each is shown as its escape, so the value is still there to read.
 */
const HOSTILE =
  "e\u001b]8;;https://evil.example/\u0007link\u001b]8;;\u0007 \u001b]52;c;cm0gLXJmIH4=\u0007 \u001b]0;pwned\u0007 \b\r\u009b2J\u0085\u202ez";
/** What a terminal would act on, or that reorders a line, raw: controls (C0, DEL, C1) and format characters (bidi). */
const RAW_CONTROL = /[\p{Cc}\p{Cf}]/u;
/** HOSTILE as shown: each control as its escape. */
const SHOWN = "\\u001b]52;c;cm0gLXJmIH4=\\u0007";

const TASK_ID = "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY";
const AT = "2026-11-23T12:00:00.000Z";

const task = {
  task_id: TASK_ID,
  topic: "demo",
  status: "failed",
  due_at: AT,
  accepted_at: AT,
  attempts: 1,
  last_error: HOSTILE,
  callback_url: `https://hooks.example.com/${HOSTILE}`,
  group: HOSTILE,
  attempt_log: [{ attempt: 1, started_at: AT, duration_ms: 3, error: HOSTILE }],
};
const destination = {
  topic: "demo",
  host: `hooks${HOSTILE}`,
  state: "open",
  failures: 1,
  opened_at: AT,
  next_probe_at: AT,
  last_error: HOSTILE,
  last_failure_at: AT,
  in_flight: 0,
};
const topic = {
  topic: "demo",
  paused: false,
  settings: { [`note${HOSTILE}`]: HOSTILE, routing: { [HOSTILE]: [HOSTILE] } },
  backlog: { waiting: 1, in_flight: 0 },
  oldest_age_seconds: null,
  dead_letter_count: 1,
};
const schedule = {
  schedule_id: "sched-1",
  topic: "demo",
  cron: HOSTILE,
  timezone: HOSTILE,
  status: "active",
  content: JSON.stringify({ note: HOSTILE }),
  callback_url: HOSTILE,
  created_at: AT,
  updated_at: AT,
  materialized_until: AT,
  next_occurrences: [],
};
const refused = { code: HOSTILE, message: HOSTILE, issues: [{ path: HOSTILE, message: HOSTILE }] };

/** The answer to each request the commands below send; anything else is refused with the hostile error. */
function answerTo(method: string, pathname: string): { status: number; body: unknown } {
  const routes: Record<string, unknown> = {
    [`GET /v1/tasks/${TASK_ID}`]: task,
    "GET /v1/tasks": { tasks: [task], next_cursor: null },
    "GET /v1/destinations": { destinations: [destination], next_cursor: null },
    "GET /v1/topics/demo": topic,
    "GET /v1/schedules": { schedules: [schedule], next_cursor: null },
    "GET /v1/schedules/sched-1": schedule,
    "POST /v1/topics/demo/replay": {
      matched: 1,
      replayed: 0,
      failed: [{ task_id: TASK_ID, reason: HOSTILE }],
      next_cursor: null,
    },
    "POST /v1/tasks/batch": {
      results: [{ status: 400, error: refused }],
      added: 0,
      failed: 1,
    },
  };
  const body = routes[`${method} ${pathname}`];
  return body === undefined ? { status: 400, body: { error: refused } } : { status: 200, body };
}

let server: Server;
let apiUrl: string;
let batchFile: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const { pathname } = new URL(req.url ?? "/", "http://127.0.0.1");
      const { status, body } = answerTo(req.method ?? "GET", pathname);
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = await mkdtemp(path.join(tmpdir(), "punctual-escapes-"));
  batchFile = path.join(dir, "tasks.json");
  await writeFile(batchFile, JSON.stringify([{ topic: "demo", delay_seconds: 90, content: {} }]));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function punctual(argv: readonly string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {} };
  const code = await main(["--api", apiUrl, ...argv], io);
  return { code, printed: out.join("") + err.join("") };
}

describe("what a hostile API says reaches the terminal escaped, on every human output path", () => {
  it.each([
    ["tasks get (its fields and attempt log)", ["tasks", "get", TASK_ID]],
    ["tasks list (a dead-letter page)", ["tasks", "list", "--topic", "demo", "--failed"]],
    ["destinations list", ["destinations", "list"]],
    ["topics show (its settings' keys and values)", ["topics", "show", "demo"]],
    ["schedules list", ["schedules", "list", "--topic", "demo"]],
    ["schedules show", ["schedules", "show", "sched-1"]],
    ["topics replay (the reasons it failed)", ["topics", "replay", "demo", "--failed-after", AT]],
    ["tasks add-batch (an item's refusal)", ["tasks", "add-batch", "--file", "<batch>"]],
    ["an error answer (its code, message and issues)", ["tasks", "cancel", TASK_ID]],
    ["groups cancel refused", ["groups", "cancel", "--topic", "demo", "--group", "A-1"]],
  ])("%s", async (_, argv) => {
    // Act
    const { printed } = await punctual(argv.map((arg) => (arg === "<batch>" ? batchFile : arg)));

    // Assess: nothing raw a terminal acts on but the output's own line ends; the value still shown, as escapes.
    expect(printed.replaceAll("\n", "")).not.toMatch(RAW_CONTROL);
    expect(printed).toContain(SHOWN);
  });
});
