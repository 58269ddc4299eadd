import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";
import { runOffline } from "./offline.js";

describe("destinations reset <host>", () => {
  it.each([
    ["https://hooks.example.com/punctual", "hooks.example.com"],
    ["http://127.0.0.1:4000/hook", "127.0.0.1:4000"],
    ["hooks.example.com/punctual", undefined],
  ])(
    "%s (a callback URL pasted whole) is a usage error naming the host, sent nowhere: API Gateway decodes its encoded slashes and answered 404 'no such route'",
    async (argument, host) => {
      // Act
      const result = await runOffline(["--api", "http://127.0.0.1:3000", "destinations", "reset", argument]);

      // Assess
      expect(result.code).toBe(1);
      expect(result.sent).toEqual([]);
      expect(result.err).toMatch(/host\[:port\].*not a path or URL/);
      if (host) expect(result.err).toContain(`give ${host}`);
    },
  );

  it("\"\" (an unset shell variable) is a usage error, sent nowhere: its empty path segment met 404 'no such route'", async () => {
    // Act
    const result = await runOffline(["--api", "http://127.0.0.1:3000", "destinations", "reset", ""]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.sent).toEqual([]);
    expect(result.err).toMatch(/<host> is empty/);
  });

  it("a host[:port] goes to the API as one path segment", async () => {
    // Act
    const result = await runOffline([
      "--api",
      "http://127.0.0.1:3000",
      "destinations",
      "reset",
      "[::1]:4000",
    ]);

    // Assess
    expect(result.sent[0]).toContain("/v1/destinations/%5B%3A%3A1%5D%3A4000/reset");
  });
});

describe("destinations reset: what it prints", () => {
  const closed = {
    topic: "notifications",
    host: "127.0.0.1:4172",
    state: "closed",
    failures: 0,
    opened_at: null,
    next_probe_at: null,
    last_error: "network: connection refused (ECONNREFUSED)",
    last_failure_at: "2026-12-06T07:31:13.727Z",
    in_flight: 0,
  };
  async function reset(...global: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const fetch: typeof globalThis.fetch = async () =>
      new Response(JSON.stringify({ host: "127.0.0.1:4172", destinations: [closed] }), {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
    const code = await main(
      [
        "--api",
        "http://127.0.0.1:3000",
        ...global,
        "destinations",
        "reset",
        "127.0.0.1:4172",
        "--topic",
        "notifications",
      ],
      io,
    );
    return { code, out: out.join(""), err: err.join("") };
  }

  it("the circuits it closed, one row each under `destinations list`'s columns (found walking the runbook: one JSON cell hundreds of characters wide)", async () => {
    // Act
    const result = await reset();

    // Assess
    expect(result.code).toBe(0);
    expect(result.out).toMatch(
      /│ topic\s+│ host\s+│ state\s+│ failures\s+│ opened_at\s+│ next_probe_at\s+│ in_flight\s+│/,
    );
    expect(result.out).toMatch(
      /│ notifications\s+│ 127\.0\.0\.1:4172\s+│ closed\s+│ 0\s+│ -\s+│ -\s+│ 0\s+│/,
    );
    expect(result.out).not.toContain('[{"topic"');
  });

  it("--json: the answer as it came", async () => {
    // Act
    const result = await reset("--json");

    // Assess
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toEqual({ host: "127.0.0.1:4172", destinations: [closed] });
  });
});
