import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_CELL_CHARS } from "../../../cli/output.js";
import { cliAgainstServer } from "../../support/cli-against-server.js";

/**
 * A value far longer than a table cell, against a real loopback API: a broken API's `last_error` of millions of
 * characters (the API keeps a receiver's error short), or a legitimate 1 MiB content (`tasks get --content`). A
 * table draws every line of a column as wide as its widest cell, so the value was repeated as padding and border on
 * every line of the table (a 10 MB one: over 330 million characters, some 3 GB of memory). It is printed once,
 * below its table, named by its row.
 */
const TASK_ID = "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY";
const AT = "2026-11-23T12:00:00.000Z";
/** Right-to-left overrides, each shown as its six-character escape: 1,200,000 characters shown. */
const LONG_ERROR = "\u202e".repeat(200_000);
const SHOWN_ERROR = "\\u202e".repeat(200_000);
/** A content as long as a request may hold one (1 MiB of JSON text). */
const CONTENT = JSON.stringify({ note: "c".repeat(1024 * 1024 - 11) });

/** A first cell itself over the limit (a broken API's id), and a field name over it (a broken API's extra field). */
const LONG_ID = `long-id.${"i".repeat(5 * MAX_CELL_CHARS)}`;
const LONG_KEY = "k".repeat(5 * MAX_CELL_CHARS);
const LONG_KEY_TASK = "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXZ";

const task = {
  task_id: TASK_ID,
  topic: "demo",
  status: "failed",
  due_at: AT,
  accepted_at: AT,
  attempts: 1,
  last_error: LONG_ERROR,
  callback_url: "https://hooks.example.com/punctual",
  attempt_log: [{ attempt: 1, started_at: AT, duration_ms: 3, status: 500, error: LONG_ERROR }],
};

let api: Awaited<ReturnType<typeof cliAgainstServer>>;

beforeAll(async () => {
  api = await cliAgainstServer((url) => ({
    status: 200,
    body:
      url.pathname === "/v1/tasks" && url.searchParams.get("topic") === "long-id"
        ? { tasks: [{ ...task, topic: "long-id", task_id: LONG_ID }], next_cursor: null }
        : url.pathname === `/v1/tasks/${LONG_KEY_TASK}`
          ? {
              ...task,
              task_id: LONG_KEY_TASK,
              last_error: "HTTP 500",
              attempt_log: [],
              [LONG_KEY]: "v".repeat(2 * MAX_CELL_CHARS),
            }
          : url.pathname === "/v1/tasks"
            ? { tasks: [task], next_cursor: null }
            : url.searchParams.get("include") === "content"
              ? { ...task, last_error: "HTTP 500", attempt_log: [], content: CONTENT }
              : task,
  }));
});

afterAll(async () => {
  await api.close();
});

const punctual = (argv: readonly string[]) => api.punctual(argv);

/** The lines of the tables printed (those of their borders and cells). */
const tableLines = (out: string) => out.split("\n").filter((line) => /^[┌│├└]/.test(line));

describe("a value longer than a table cell", () => {
  it("tasks get: last_error and an attempt's error printed once each, below their tables, not on every line", async () => {
    // Act
    const result = await punctual(["tasks", "get", TASK_ID]);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.out.length).toBeLessThan(2 * SHOWN_ERROR.length + 10_000);
    expect(result.out).toContain(`\nlast_error: ${SHOWN_ERROR}\n`);
    expect(result.out).toContain(`\nerror of attempt 1: ${SHOWN_ERROR}\n`);
    expect(result.out).toContain(`│ (${SHOWN_ERROR.length} characters: below the table)`);
    for (const line of tableLines(result.out)) expect(line.length).toBeLessThan(2 * MAX_CELL_CHARS);
  });

  it("tasks list: the cell named by its task's id", async () => {
    // Act
    const result = await punctual(["tasks", "list", "--topic", "demo", "--failed"]);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.out.length).toBeLessThan(SHOWN_ERROR.length + 10_000);
    expect(result.out).toContain(`\nlast_error of task_id ${TASK_ID}: ${SHOWN_ERROR}\n`);
  });

  it("tasks list: a row's label cuts a first cell that is itself over the limit, and says so", async () => {
    // Act
    const result = await punctual(["tasks", "list", "--topic", "long-id", "--failed"]);

    // Assess
    expect(result.code, result.err).toBe(0);
    const line = result.out.split("\n").find((l) => l.startsWith("last_error of task_id ")) ?? "";
    expect(line.endsWith(`: ${SHOWN_ERROR}`)).toBe(true);
    const label = line.slice(0, line.length - SHOWN_ERROR.length);
    expect(label.length).toBeLessThan(MAX_CELL_CHARS);
    expect(label).toContain(`(task_id cut: ${LONG_ID.length} characters, row 1)`);
    // The id itself is printed whole once, below the table, under its own name.
    expect(result.out).toContain(`\ntask_id of row 1: ${LONG_ID}\n`);
    expect(result.out.split(LONG_ID).length - 1).toBe(1);
  });

  it("tasks get: a field name over the limit is cut in its value's label, and says so", async () => {
    // Act
    const result = await punctual(["tasks", "get", LONG_KEY_TASK]);

    // Assess
    expect(result.code, result.err).toBe(0);
    const value = "v".repeat(2 * MAX_CELL_CHARS);
    const line = result.out.split("\n").find((l) => l.endsWith(`: ${value}`)) ?? "";
    expect(line.length).toBeLessThan(value.length + MAX_CELL_CHARS);
    expect(line).toContain(`(field name cut: ${LONG_KEY.length} characters)`);
  });

  it("tasks get --content: a 1 MiB content printed whole, once, exactly as delivered", async () => {
    // Act
    const result = await punctual(["tasks", "get", TASK_ID, "--content"]);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.out.length).toBeLessThan(CONTENT.length + 10_000);
    expect(result.out.endsWith(`\ncontent: ${CONTENT}\n`)).toBe(true);
    for (const line of tableLines(result.out)) expect(line.length).toBeLessThan(2 * MAX_CELL_CHARS);
  });

  it("--json is the answer as before", async () => {
    // Act
    const result = await punctual(["--json", "tasks", "get", TASK_ID]);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(JSON.parse(result.out).last_error).toBe(LONG_ERROR);
  });
});
