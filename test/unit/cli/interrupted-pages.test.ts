import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";

/**
 * Ctrl-C during a command that acts page after page (a group cancel, a bulk replay): what the pages answered did
 * is reported, not lost with the process. The fake API answers pages from a script; the io's onInterrupt is the
 * seam the process's SIGINT handler stands behind (cli/output.ts processIo).
 */
type Page = { status: number; body: unknown };

async function runInterruptedAt(interruptAtRequest: number, pages: Page[], argv: string[]) {
  let stop: (() => void) | undefined;
  const sent: string[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    sent.push(`${init?.method ?? "GET"} ${String(input)}`);
    // Ctrl-C while this page is in flight: its answer still arrives.
    if (sent.length === interruptAtRequest) stop?.();
    const next = pages.shift();
    if (!next) throw new Error(`no more pages scripted (request ${sent.length})`);
    return new Response(JSON.stringify(next.body), {
      status: next.status,
      headers: { "content-type": "application/json" },
    });
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    out: (t: string) => void out.push(t),
    err: (t: string) => void err.push(t),
    env: {},
    fetch,
    onInterrupt: (onStop: () => void) => {
      stop = onStop;
      return () => {
        stop = undefined;
      };
    },
  };
  const code = await main(["--api", "http://127.0.0.1:3000", ...argv], io);
  return { code, out: out.join(""), err: err.join(""), sent };
}

const cancelPage = (cancelled: number, next: string | null): Page => ({
  status: 200,
  body: { cancelled, not_cancelled: [], more: next !== null, next_cursor: next },
});
const replayPage = (replayed: number, next: string | null): Page => ({
  status: 200,
  body: { matched: replayed, replayed, failed: [], dry_run: false, next_cursor: next },
});

describe("Ctrl-C during a command that acts page by page", () => {
  it("groups cancel: stops after the page in flight, reports what the pages done cancelled, exit 3", async () => {
    // Act
    const result = await runInterruptedAt(
      2,
      [cancelPage(1000, "c1"), cancelPage(1000, "c2"), cancelPage(1000, null)],
      ["--json", "groups", "cancel", "--topic", "orders", "--group", "A-1"],
    );

    // Assess
    expect(result.sent).toHaveLength(2);
    expect(result.code).toBe(3);
    expect(result.out).toBe("");
    const report = JSON.parse(result.err);
    expect(report.before_error).toMatchObject({ pages: 2, cancelled: 2000 });
    expect(report.error.message).toMatch(/interrupted/);
  });

  it("topics replay: stops after the page in flight, reports what the pages done replayed, exit 3", async () => {
    // Act
    const result = await runInterruptedAt(
      1,
      [replayPage(1000, "c1"), replayPage(1000, null)],
      ["--json", "topics", "replay", "orders", "--failed-after", "2026-11-23T00:00:00Z"],
    );

    // Assess
    expect(result.sent).toHaveLength(1);
    expect(result.code).toBe(3);
    const report = JSON.parse(result.err);
    expect(report.before_error).toMatchObject({ pages: 1, replayed: 1000 });
    expect(report.error.message).toMatch(/interrupted/);
  });

  it("a run not interrupted reads every page and lets go of Ctrl-C when done", async () => {
    // Act
    const result = await runInterruptedAt(
      99,
      [cancelPage(3, "c1"), cancelPage(4, null)],
      ["--json", "groups", "cancel", "--topic", "orders", "--group", "A-1"],
    );

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({ cancelled: 7 });
  });
});
