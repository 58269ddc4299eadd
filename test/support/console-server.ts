import http from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "vitest";
import type { ConsoleMetrics } from "../../console/schemas.js";
import type { ConsoleHandler } from "../../console/server.js";

/**
 * The security headers the console promises on every answer (README "See it"): no framing, no sniffing, no
 * referrer. Asserts them on `answer`, after reading its body (so the connection is released).
 */
export async function expectConsoleSecurityHeaders(answer: Response): Promise<void> {
  await answer.arrayBuffer();
  expect(answer.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
  expect(answer.headers.get("x-frame-options")).toBe("DENY");
  expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
  expect(answer.headers.get("referrer-policy")).toBe("no-referrer");
}

/** Serves `handle` on a free loopback port (anything it does not take: 418); `close` stops it. */
export async function serveOnLoopback(
  handle: ConsoleHandler,
): Promise<{ readonly origin: string; readonly close: () => Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    if (!(await handle(req, res))) res.writeHead(418).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A metrics answer of a quiet topic (nothing measured), with `overrides` laid over it. */
export function quietMetrics(topic: string, overrides: Partial<ConsoleMetrics> = {}): ConsoleMetrics {
  return {
    topic,
    source: "local",
    from: new Date(0).toISOString(),
    to: new Date(0).toISOString(),
    lateness: { count: 0, p50: null, p90: null, p99: null },
    series: [],
    added: 0,
    delivered: 0,
    failed: 0,
    attempts_failed: 0,
    rates: { added_per_minute: 0, delivered_per_minute: 0, failed_per_minute: 0 },
    ...overrides,
  };
}
