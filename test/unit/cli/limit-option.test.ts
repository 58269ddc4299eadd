import { mkdtemp, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";

/** `--limit` takes what the API's `limit` takes: plain decimal digits, checked before any request is sent. */
async function run(argv: string[]) {
  const sent: string[] = [];
  const fetch: typeof globalThis.fetch = async (input) => {
    sent.push(String(input));
    return new Response(JSON.stringify({ tasks: [], next_cursor: null }), {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  };
  const err: string[] = [];
  const io = { out: () => undefined, err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", ...argv], io);
  return { code, err: err.join(""), sent };
}

const LIST = ["tasks", "list", "--topic", "demo", "--group", "g"];
const CANCEL = ["groups", "cancel", "--topic", "demo", "--group", "g"];

describe("--limit", () => {
  it.each(["0x10", "1e2", " 5", "+5", "05", "5.0", "1_0"])(
    "refuses %j as a usage error (exit 1) naming the option, and sends nothing",
    async (limit) => {
      for (const argv of [LIST, CANCEL]) {
        // Act
        const result = await run([...argv, "--limit", limit]);

        // Assess
        expect(result.code, argv.join(" ")).toBe(1);
        expect(result.err).toMatch(/--limit.*plain decimal digits/s);
        expect(result.sent).toEqual([]);
      }
    },
  );

  it("sends a plain number as given", async () => {
    // Act
    const result = await run([...LIST, "--limit", "16"]);

    // Assess
    expect(result.code).toBe(0);
    expect(result.sent).toEqual([expect.stringContaining("limit=16")]);
  });
});

describe("console --port", () => {
  it.each(["0x50", "8e3", "+80", "080", "65536"])(
    "refuses %j as a usage error (exit 1) before starting anything",
    async (port) => {
      // Act
      const result = await run(["console", "--port", port]);

      // Assess
      expect(result.code).toBe(1);
      expect(result.err).toMatch(/--port/);
      expect(result.sent).toEqual([]);
    },
  );
});

describe("console on a port already in use", () => {
  it("is a usage error (exit 1) naming the port and --port, not a raw EADDRINUSE (exit 3)", async () => {
    // Prepare
    const taken = http.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as AddressInfo;

    try {
      // Act
      const result = await run(["console", "--auth", "none", "--port", String(port)]);

      // Assess
      expect(result.code).toBe(1);
      expect(result.err).toContain(`port ${port} on 127.0.0.1 is in use`);
      expect(result.err).toMatch(/--port/);
      expect(result.sent).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});

describe("schedules create --content with --content-file", () => {
  it("is a usage error (exit 1) that sends nothing, as for tasks add: one of the two would be dropped unseen", async () => {
    // Prepare
    const file = path.join(await mkdtemp(path.join(tmpdir(), "punctual-cli-")), "content.json");
    await writeFile(file, '{"report":"from-file"}');
    const create = ["schedules", "create", "--topic", "demo", "--cron", "0 3 * * *", "--timezone", "UTC"];

    // Act
    const result = await run([...create, "--content", '{"report":"inline"}', "--content-file", file]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/--content.*--content-file/s);
    expect(result.sent).toEqual([]);
  });
});
