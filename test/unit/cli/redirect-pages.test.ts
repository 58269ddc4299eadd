import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";

/**
 * A 3xx at any page of a command that follows cursors (docs/API.md, exit codes: a redirect is never followed and
 * exits 4, "nothing was done" by that call): on the first page and on a later one alike, with what the pages
 * before it did reported. A fake API answers the pages from a script.
 */
type Page = { status: number; body: unknown; location?: string };

async function run(pages: Page[], argv: string[]) {
  const sent: string[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    sent.push(`${init?.method ?? "GET"} ${String(input)}`);
    const next = pages.shift();
    if (!next) throw new Error(`no more pages scripted (request ${sent.length})`);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (next.location) headers.location = next.location;
    return new Response(next.status >= 300 && next.status < 400 ? null : JSON.stringify(next.body), {
      status: next.status,
      headers,
    });
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", ...argv], io);
  return { code, out: out.join(""), err: err.join(""), sent };
}

const redirect: Page = { status: 301, body: null, location: "https://elsewhere.example/v1/x?secret=1" };
const commands: { name: string; argv: string[]; page: (next: string | null) => Page }[] = [
  {
    name: "groups cancel",
    argv: ["groups", "cancel", "--topic", "orders", "--group", "A-1"],
    page: (next) => ({
      status: 200,
      body: { cancelled: 2, not_cancelled: [], more: next !== null, next_cursor: next },
    }),
  },
  {
    name: "topics replay",
    argv: ["topics", "replay", "orders", "--failed-after", "2026-11-23T00:00:00Z"],
    page: (next) => ({
      status: 200,
      body: { matched: 2, replayed: 2, failed: [], dry_run: false, next_cursor: next },
    }),
  },
  {
    name: "destinations list",
    argv: ["destinations", "list"],
    page: (next) => ({ status: 200, body: { destinations: [], next_cursor: next } }),
  },
];

describe("a redirect during a command that follows pages", () => {
  for (const command of commands) {
    for (const at of [1, 2, 3]) {
      it(`${command.name}: a 301 answering page ${at} exits 4 and names no query`, async () => {
        // Prepare
        const pages = [...Array.from({ length: at - 1 }, (_, i) => command.page(`c${i + 1}`)), redirect];

        // Act
        const result = await run(pages, ["--json", ...command.argv]);

        // Assess
        expect(result.code, result.err).toBe(4);
        expect(result.out).toBe("");
        expect(result.sent).toHaveLength(at);
        const report = JSON.parse(result.err);
        expect(report.error).toMatchObject({ status: 301 });
        expect(report.error.message).toContain("https://elsewhere.example/v1/x");
        expect(result.err).not.toContain("secret=1");
        if (at > 1) expect(report.before_error).toMatchObject({ pages: at - 1 });
        else expect(report.before_error).toBeUndefined();
      });
    }
  }
});
