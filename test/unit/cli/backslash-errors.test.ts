import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";

/**
 * An error line follows the table cells' rule (backslash-cells.test.ts): a literal backslash is written `\\`, so a
 * message holding the six characters `\u200b` and one holding a zero-width space (shown as its escape) differ.
 */
const LITERAL = "order-1\\u200b"; // backslash, u, 2, 0, 0, b
const HIDDEN = "order-1\u200b"; // a zero-width space
const TASK_ID = "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY";

/** `punctual` in-process, every request answered with this error answer; its stderr. */
async function errorLines(argv: string[], answer?: { status: number; body: unknown }): Promise<string> {
  const fetch: typeof globalThis.fetch = async () =>
    new Response(JSON.stringify(answer?.body ?? {}), {
      status: answer?.status ?? 200,
      headers: { "content-type": "application/json" },
    });
  const err: string[] = [];
  const io = { out: () => {}, err: (t: string) => void err.push(t), env: {}, fetch };
  await main(["--api", "http://127.0.0.1:3000", ...argv], io);
  return err.join("");
}

const notFound = (text: string) => ({
  status: 404,
  body: { error: { code: "not_found", message: `no task ${text}`, issues: [{ path: text, message: text }] } },
});

describe("a literal backslash on an error line", () => {
  it("the server's message and issues: `\\u200b` typed out and a zero-width space are shown differently", async () => {
    // Act
    const literal = await errorLines(["tasks", "get", TASK_ID], notFound(LITERAL));
    const hidden = await errorLines(["tasks", "get", TASK_ID], notFound(HIDDEN));

    // Assess
    expect(literal).toBe(
      "error: not_found (HTTP 404): no task order-1\\\\u200b\n  order-1\\\\u200b: order-1\\\\u200b\n",
    );
    expect(hidden).toBe(
      "error: not_found (HTTP 404): no task order-1\\u200b\n  order-1\\u200b: order-1\\u200b\n",
    );
  });

  it("a usage line quoting an argument (commander's): the same rule", async () => {
    // Act
    const literal = await errorLines([`--${LITERAL}`]);
    const hidden = await errorLines([`--${HIDDEN}`]);

    // Assess
    expect(literal).toContain("unknown option '--order-1\\\\u200b'");
    expect(hidden).toContain("unknown option '--order-1\\u200b'");
  });

  it("--json is unchanged: each value as JSON writes it", async () => {
    // Act
    const literal = await errorLines(["--json", "tasks", "get", TASK_ID], notFound(LITERAL));

    // Assess
    expect(JSON.parse(literal).error.message).toBe(`no task ${LITERAL}`);
  });
});
