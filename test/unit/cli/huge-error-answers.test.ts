import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_SHOWN_ERROR_CHARS, MAX_SHOWN_ISSUES } from "../../../cli/output.js";
import { cliAgainstServer } from "../../support/cli-against-server.js";

/**
 * An error answer far larger than any the API gives (its messages are a sentence, its issues at most 20 of at most
 * 200 characters, shared/api/errors.ts), from a broken or hostile API or a proxy in front of it, against a real
 * loopback server: a person's error line shows the start of each text and how much was left out, not megabytes on
 * one line or a line per issue for 200,000 issues; --json still prints the error whole, for a script.
 */
const HUGE = 5_000_000;

/** The answer to `GET /v1/tasks/<name>`: each name an error answer of its own. */
const answers: Record<string, { status: number; body: unknown }> = {
  message: { status: 404, body: { error: { code: "not_found", message: `start${"x".repeat(HUGE)}` } } },
  gateway: { status: 403, body: { message: `Forbidden${"y".repeat(HUGE)}` } },
  issues: {
    status: 400,
    body: {
      error: {
        code: "validation_failed",
        message: "the request is invalid",
        issues: Array.from({ length: 200_000 }, (_, i) => ({ path: `f${i}`, message: "bad" })),
      },
    },
  },
  "long-issue": {
    status: 400,
    body: {
      error: {
        code: "validation_failed",
        message: "the request is invalid",
        issues: [{ path: "p".repeat(HUGE), message: "m".repeat(HUGE) }],
      },
    },
  },
  omitted: {
    status: 400,
    body: {
      error: {
        code: "validation_failed",
        message: "the request is invalid",
        issues: Array.from({ length: 20 }, (_, i) => ({ path: `f${i}`, message: "bad" })),
        issues_omitted: 80,
      },
    },
  },
  // An emoji (a surrogate pair) across the cut: cut before it, never half of it.
  emoji: {
    status: 404,
    body: {
      error: { code: "not_found", message: `${"a".repeat(MAX_SHOWN_ERROR_CHARS - 1)}😀${"b".repeat(10)}` },
    },
  },
};

let api: Awaited<ReturnType<typeof cliAgainstServer>>;

beforeAll(async () => {
  api = await cliAgainstServer((url) => {
    const name = decodeURIComponent(url.pathname.split("/").at(-1) ?? "");
    return answers[name] ?? { status: 500, body: {} };
  });
});

afterAll(async () => {
  await api.close();
});

const punctual = (argv: readonly string[]) => api.punctual(argv);

const get = (name: string) => ["tasks", "get", name];

describe("an error answer far larger than the API's, shown to a person", () => {
  it("a message of millions of characters: its start and how many more, on one short line", async () => {
    // Act
    const result = await punctual(get("message"));

    // Assess
    expect(result.code).toBe(2);
    expect(result.err.length).toBeLessThan(3 * MAX_SHOWN_ERROR_CHARS);
    expect(result.err).toMatch(
      /^error: not_found \(HTTP 404\): startx+… \(4998005 more characters; --json prints it whole\)\n$/,
    );
  });

  it("API Gateway's {message} shape too (a proxy's 403)", async () => {
    // Act
    const result = await punctual(get("gateway"));

    // Assess
    expect(result.code).toBe(2);
    expect(result.err.length).toBeLessThan(3 * MAX_SHOWN_ERROR_CHARS);
    expect(result.err).toContain("error: forbidden (HTTP 403): Forbiddenyyy");
    expect(result.err).toContain(
      `… (${HUGE + 9 - MAX_SHOWN_ERROR_CHARS} more characters; --json prints it whole)`,
    );
  });

  it("200,000 issues: the first 20 listed, then how many more", async () => {
    // Act
    const result = await punctual(get("issues"));

    // Assess
    expect(result.code).toBe(2);
    const lines = result.err.trimEnd().split("\n");
    expect(lines).toHaveLength(1 + MAX_SHOWN_ISSUES + 1);
    expect(lines[1]).toBe("  f0: bad");
    expect(lines[MAX_SHOWN_ISSUES]).toBe(`  f${MAX_SHOWN_ISSUES - 1}: bad`);
    expect(lines.at(-1)).toBe(
      `  … ${200_000 - MAX_SHOWN_ISSUES} more issues (--json lists every one the API gave)`,
    );
  });

  it("an issue's path and message of millions of characters are cut the same way", async () => {
    // Act
    const result = await punctual(get("long-issue"));

    // Assess
    expect(result.code).toBe(2);
    expect(result.err.length).toBeLessThan(6 * MAX_SHOWN_ERROR_CHARS);
    expect(result.err).toContain(
      `… (${HUGE - MAX_SHOWN_ERROR_CHARS} more characters; --json prints it whole): mmm`,
    );
  });

  it("the issues the API itself left out (issues_omitted) are counted too", async () => {
    // Act
    const result = await punctual(get("omitted"));

    // Assess
    expect(result.code).toBe(2);
    const lines = result.err.trimEnd().split("\n");
    expect(lines).toHaveLength(1 + 20 + 1);
    expect(lines.at(-1)).toBe("  … 80 more issues (--json lists every one the API gave)");
  });

  it("a surrogate pair across the cut is left out whole, never halved", async () => {
    // Act
    const result = await punctual(get("emoji"));

    // Assess
    expect(result.err).toContain(`${"a".repeat(MAX_SHOWN_ERROR_CHARS - 1)}… (12 more characters;`);
    expect(result.err).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });

  it("--json prints the error whole, as the API gave it", async () => {
    // Act
    const message = await punctual(["--json", ...get("message")]);
    const issues = await punctual(["--json", ...get("issues")]);

    // Assess
    expect(message.code).toBe(2);
    expect(JSON.parse(message.err).error.message).toHaveLength(HUGE + 5);
    expect(JSON.parse(issues.err).error.issues).toHaveLength(200_000);
  });
});
