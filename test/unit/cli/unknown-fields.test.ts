import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KNOWN_FIELDS } from "../../../cli/known-fields.js";
import { MAX_UNKNOWN_FIELDS_SHOWN } from "../../../cli/output.js";
import { cliAgainstServer } from "../../support/cli-against-server.js";

/**
 * An answer with far more fields than the API's view has, against a real loopback API: a broken or hostile API (or
 * a newer one) adding 300,000 fields (≈3.6 MB) made `tasks get` print every one as a table row, 37.8 million
 * characters over ~19 s. A person's table shows every field the CLI knows, the first few it does not, and how many
 * more; --json prints the answer whole. 30,000 here: the bound is a count, and the same at any size.
 */
const TASK_ID = "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY";
const SCHEDULE_ID = "demo.schedule.01JD3ABCDEFGHJKMNPQRSTVWXY";
const AT = "2026-11-23T12:00:00.000Z";
const EXTRA = 30_000;
const extra = Object.fromEntries(Array.from({ length: EXTRA }, (_, i) => [`extra_${i}`, `value_${i}`]));

const task = {
  task_id: TASK_ID,
  topic: "demo",
  status: "delivered",
  due_at: AT,
  accepted_at: AT,
  attempts: 1,
  callback_url: "https://hooks.example.com/punctual",
  attempt_log: [],
  ...extra,
  // A field the CLI knows, after the unknown ones: shown wherever it comes.
  delivered_at: AT,
};
const schedule = {
  schedule_id: SCHEDULE_ID,
  topic: "demo",
  cron: "*/10 * * * *",
  timezone: "UTC",
  status: "active",
  content: "{}",
  callback_url: "https://hooks.example.com/punctual",
  created_at: AT,
  updated_at: AT,
  materialized_until: AT,
  next_occurrences: [],
  ...extra,
};

/** A topic whose `settings` (a field the CLI knows, open in the API's schema) hold 30,000 keys besides its own. */
const topic = {
  topic: "demo",
  paused: false,
  settings: {
    deliverBy: "order_id",
    maxAttempts: 8,
    backoff: { initialSeconds: 1, maxSeconds: 60, multiplier: 2, jitter: "full" },
    ...extra,
    nested: { deeper: extra },
    name: "demo",
  },
  backlog: { waiting: 3, in_flight: 0, ...extra },
  oldest_age_seconds: 42.5,
  dead_letter_count: 1,
};

let api: Awaited<ReturnType<typeof cliAgainstServer>>;

beforeAll(async () => {
  api = await cliAgainstServer((url) => ({
    status: 200,
    body: url.pathname.startsWith("/v1/schedules/")
      ? schedule
      : url.pathname.startsWith("/v1/topics/")
        ? topic
        : task,
  }));
});

afterAll(async () => {
  await api.close();
});

const punctual = (argv: readonly string[]) => api.punctual(argv);

describe("an answer with fields the CLI does not know", () => {
  it("tasks get: every known field, the first unknown ones, then how many more (--json for the rest)", async () => {
    // Act
    const result = await punctual(["tasks", "get", TASK_ID]);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.out.length).toBeLessThan(10_000);
    expect(result.out).toMatch(/│ delivered_at\s+│ 2026-11-23T12:00:00\.000Z/);
    expect(result.out).toMatch(/│ extra_0\s+│ value_0/);
    expect(result.out).toMatch(new RegExp(`│ extra_${MAX_UNKNOWN_FIELDS_SHOWN - 1}\\s`));
    expect(result.out).not.toContain(`extra_${MAX_UNKNOWN_FIELDS_SHOWN} `);
    expect(result.out).toContain(
      `… and ${EXTRA - MAX_UNKNOWN_FIELDS_SHOWN} more fields this CLI does not know (--json prints the answer whole)\n`,
    );
  });

  it("schedules show: the same bound", async () => {
    // Act
    const result = await punctual(["schedules", "show", SCHEDULE_ID]);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.out.length).toBeLessThan(10_000);
    expect(result.out).toContain(`… and ${EXTRA - MAX_UNKNOWN_FIELDS_SHOWN} more fields`);
  });

  it("topics show: keys nested under a known field (settings, backlog) are bounded too, counted with the others", async () => {
    // Act
    const result = await punctual(["topics", "show", "demo"]);

    // Assess: every row the CLI knows, nested ones included, then the first unknown ones in the answer's order
    expect(result.code, result.err).toBe(0);
    expect(result.out.length).toBeLessThan(10_000);
    for (const known of [
      /│ settings\.deliverBy\s+│ order_id/,
      /│ settings\.backoff\.maxSeconds\s+│ 60/,
      /│ settings\.name\s+│ demo/,
      /│ backlog\.waiting\s+│ 3/,
      /│ backlog\.in_flight\s+│ 0/,
      /│ dead_letter_count\s+│ 1/,
    ]) {
      expect(result.out).toMatch(known);
    }
    expect(result.out).toMatch(/│ settings\.extra_0\s+│ value_0/);
    expect(result.out).toMatch(new RegExp(`│ settings\\.extra_${MAX_UNKNOWN_FIELDS_SHOWN - 1}\\s`));
    expect(result.out).not.toContain(`settings.extra_${MAX_UNKNOWN_FIELDS_SHOWN} `);
    expect(result.out).not.toContain("settings.nested.deeper.");
    expect(result.out).not.toContain("backlog.extra_");
    expect(result.out).toContain(
      `… and ${3 * EXTRA - MAX_UNKNOWN_FIELDS_SHOWN} more fields this CLI does not know (--json prints the answer whole)\n`,
    );
  });

  it("--json prints the answer whole", async () => {
    // Act
    const result = await punctual(["--json", "tasks", "get", TASK_ID]);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(JSON.parse(result.out)).toEqual(task);
  });

  it("the CLI knows every field the API's views have (docs/openapi.json), so none of them is ever left out", () => {
    const document = JSON.parse(readFileSync("docs/openapi.json", "utf8")) as {
      paths: Record<string, Record<string, { responses: Record<string, OpenApiResponse> }>>;
    };
    const fieldsOf = (path: string, method: string, status: string) =>
      Object.keys(
        document.paths[path]?.[method]?.responses[status]?.content["application/json"].schema.properties ??
          {},
      );
    const views = [
      ["task", "/v1/tasks/{id}", "get", "200"],
      ["task", "/v1/tasks/{id}", "patch", "200"],
      ["task", "/v1/tasks/{id}", "delete", "200"],
      ["task", "/v1/tasks/{id}/run", "post", "200"],
      ["task", "/v1/tasks/{id}/replay", "post", "202"],
      ["task", "/v1/tasks", "post", "201"],
      ["schedule", "/v1/schedules", "post", "201"],
      ["schedule", "/v1/schedules/{id}", "get", "200"],
      ["schedule", "/v1/schedules/{id}", "delete", "200"],
      ["schedule", "/v1/schedules/{id}/pause", "post", "200"],
      ["topic", "/v1/topics/{topic}", "get", "200"],
      ["topic", "/v1/topics/{topic}/pause", "post", "200"],
      ["destinationReset", "/v1/destinations/{host}/reset", "post", "200"],
    ] as const;
    for (const [view, path, method, status] of views) {
      const fields = fieldsOf(path, method, status);
      expect(fields.length, `${method} ${path}`).toBeGreaterThan(0);
      expect(KNOWN_FIELDS[view], `${method} ${path}`).toEqual(expect.arrayContaining(fields));
    }
  });
});

interface OpenApiResponse {
  readonly content: { readonly "application/json": { readonly schema: { readonly properties?: object } } };
}
