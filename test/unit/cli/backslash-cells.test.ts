import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliAgainstServer } from "../../support/cli-against-server.js";
import { tableRows } from "../../support/cli-table.js";
import { scheduleViewAnswer, taskViewAnswer } from "../client/fakes.js";

/**
 * A table shows a hidden character as its escape (a zero-width space as `\u200b`), so a value holding the six
 * characters `\u200b` (a backslash, then `u200b`) looked the same as one holding a zero-width space; `--json` told
 * them apart. In a table a literal backslash is written `\\`, as JSON writes it, so the two differ there too.
 */
const LITERAL = "order-1\\u200b"; // backslash, u, 2, 0, 0, b
const HIDDEN = "order-1\u200b"; // a zero-width space
const TASK_IDS = {
  literal: "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXA",
  hidden: "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXB",
} as const;

let api: Awaited<ReturnType<typeof cliAgainstServer>>;

beforeAll(async () => {
  api = await cliAgainstServer((url) => {
    if (url.pathname === "/v1/schedules") {
      const schedule = (n: string, cron: string) =>
        scheduleViewAnswer("demo", { schedule_id: `demo.schedule.01JD3BBBBBBBBBBBBBBBBBBBB${n}`, cron });
      return {
        status: 200,
        body: { schedules: [schedule("1", LITERAL), schedule("2", HIDDEN)], next_cursor: null },
      };
    }
    const id = url.pathname.split("/").at(-1) ?? "";
    const group = id === TASK_IDS.literal ? LITERAL : HIDDEN;
    return {
      status: 200,
      body: { ...taskViewAnswer(id), group, last_error: `C:\\hooks ${group}`, tags: [group] },
    };
  });
});

afterAll(async () => {
  await api.close();
});

const cellOf = (out: string, field: string) => tableRows(out).find((row) => row[0] === field)?.[1];

describe("a literal backslash in a table cell", () => {
  it("tasks get: `\\u200b` typed out and a zero-width space are shown differently", async () => {
    // Act
    const literal = await api.punctual(["tasks", "get", TASK_IDS.literal]);
    const hidden = await api.punctual(["tasks", "get", TASK_IDS.hidden]);

    // Assess
    expect(literal.code, literal.err).toBe(0);
    expect(hidden.code, hidden.err).toBe(0);
    expect(cellOf(literal.out, "group")).toBe("order-1\\\\u200b");
    expect(cellOf(hidden.out, "group")).toBe("order-1\\u200b");
    expect(cellOf(literal.out, "last_error")).toBe("C:\\\\hooks order-1\\\\u200b");
    // A value written as JSON keeps JSON's own escapes, which already told the two apart.
    expect(cellOf(literal.out, "tags")).toBe('["order-1\\\\u200b"]');
    expect(cellOf(hidden.out, "tags")).toBe('["order-1\\u200b"]');
  });

  it("a listing's rows (schedules list) too", async () => {
    // Act
    const result = await api.punctual(["schedules", "list", "--topic", "demo"]);

    // Assess
    expect(result.code, result.err).toBe(0);
    const crons = tableRows(result.out)
      .slice(1)
      .map((row) => row[2]);
    expect(crons).toEqual(["order-1\\\\u200b", "order-1\\u200b"]);
  });

  it("--json is unchanged: each value as JSON writes it", async () => {
    // Act
    const literal = await api.punctual(["--json", "tasks", "get", TASK_IDS.literal]);
    const hidden = await api.punctual(["--json", "tasks", "get", TASK_IDS.hidden]);

    // Assess
    expect(JSON.parse(literal.out).group).toBe(LITERAL);
    expect(JSON.parse(hidden.out).group).toBe(HIDDEN);
    expect(literal.out).toContain('"group":"order-1\\\\u200b"');
    expect(hidden.out).toContain('"group":"order-1\\u200b"');
  });
});
