import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NOT_PLAIN_DIGITS } from "#shared/api/schemas/query.js";
import type { LocalQuery, MetricsQuery } from "../../../console/schemas.js";
import { consoleHandler } from "../../../console/server.js";
import { quietMetrics, serveOnLoopback } from "../../support/console-server.js";

/**
 * The console's own endpoints read their numeric query parameters as the API reads its own
 * (shared/domain/query-integer.ts): plain decimal digits, else a 400 naming the parameter. No page is served here,
 * so nothing is built: only /console/api/*.
 */
let origin: string;
let closeServer: () => Promise<void>;
const asked: { metrics: MetricsQuery[]; local: LocalQuery[] } = { metrics: [], local: [] };

beforeAll(async () => {
  const handle = consoleHandler({
    distDir: "/nonexistent",
    sources: {
      metrics: async (q) => {
        asked.metrics.push(q);
        return quietMetrics(q.topic);
      },
      local: async (q) => {
        asked.local.push(q);
        return { schedules: [], next_cursor: null, timer_queue: { waiting: 0, delayed: 0, in_flight: 0 } };
      },
    },
  });
  ({ origin, close: closeServer } = await serveOnLoopback(handle));
});

afterAll(async () => {
  await closeServer();
});

const marked = { "x-punctual-console": "1" };

/** Each numeric parameter of the console's endpoints, with the query around it. */
const NUMERIC = [
  { name: "minutes", path: "/console/api/metrics", rest: { topic: "orders" }, range: "from 1 to 60" },
  { name: "limit", path: "/console/api/local", rest: {}, range: "from 1 to 50" },
] as const;

const NOT_PLAIN = ["0x10", "1e2", " 5", "+5", "05", "5.0", "-5", "00", "0b11", ""];

async function get(path: string, params: Record<string, string>) {
  const response = await fetch(`${origin}${path}?${new URLSearchParams(params)}`, { headers: marked });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe.each(NUMERIC)("?$name= on $path", ({ name, path, rest, range }) => {
  it.each(NOT_PLAIN)(
    "refuses %j with a 400 naming the parameter, and asks the source nothing",
    async (value) => {
      // Prepare
      const before = asked.metrics.length + asked.local.length;

      // Act
      const answer = await get(path, { ...rest, [name]: value });

      // Assess
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({
        error: {
          code: "validation_failed",
          message: `${name}: ${NOT_PLAIN_DIGITS}`,
          issues: [{ path: name, message: NOT_PLAIN_DIGITS }],
        },
      });
      expect(asked.metrics.length + asked.local.length).toBe(before);
    },
  );

  it("refuses a plain number out of range with the range, naming the parameter", async () => {
    for (const value of ["0", "1000", "9".repeat(400)]) {
      const answer = await get(path, { ...rest, [name]: value });
      expect(answer.status, value).toBe(400);
      expect(answer.body, value).toMatchObject({
        error: { code: "validation_failed", message: `${name}: must be ${range}` },
      });
    }
  });

  it("takes plain digits within range as that number, and its default when absent", async () => {
    // Act
    const seven = await get(path, { ...rest, [name]: "7" });
    const absent = await get(path, rest);

    // Assess
    expect([seven.status, absent.status]).toEqual([200, 200]);
    const queries = name === "minutes" ? asked.metrics : asked.local;
    const [withSeven, withDefault] = queries.slice(-2) as Record<string, unknown>[];
    expect(withSeven?.[name]).toBe(7);
    expect(withDefault?.[name]).toBe(name === "minutes" ? 15 : 20);
  });
});
