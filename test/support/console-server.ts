import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { expect } from "vitest";
import type { ConsoleMetrics } from "../../console/schemas.js";
import type { ConsoleHandler } from "../../console/server.js";

/**
 * The security headers the console promises on every answer (docs/OPERATIONS.md "The console and the dashboard"): no framing, no sniffing, no
 * referrer. Asserts them on `answer`, after reading its body (so the connection is released).
 */
export async function expectConsoleSecurityHeaders(answer: Response): Promise<void> {
  await answer.arrayBuffer();
  expect(answer.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
  expect(answer.headers.get("x-frame-options")).toBe("DENY");
  expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
  expect(answer.headers.get("referrer-policy")).toBe("no-referrer");
}

/**
 * Requests Node's HTTP parser refuses before any handler runs (a header line without a colon; 20 KB of headers,
 * past its 16 KB limit), each sent on its own socket; what the server wrote back, status line and headers.
 */
export async function parserRefusals(origin: string): Promise<{ malformed: string; oversized: string }> {
  const { hostname, port } = new URL(origin);
  const send = (request: string) =>
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = net.connect(Number(port), hostname, () => socket.end(request));
      socket.on("data", (chunk) => chunks.push(chunk));
      socket.on("error", reject);
      socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
    });
  const [malformed, oversized] = await Promise.all([
    send(`GET /console HTTP/1.1\r\nHost: ${hostname}\r\nno colon here\r\n\r\n`),
    send(`GET /console HTTP/1.1\r\nHost: ${hostname}\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`),
  ]);
  return { malformed, oversized };
}

/** Asserts a raw answer (status line and headers) carries the console's security headers, `no-store` and `close`. */
export function expectRawSecurityHeaders(raw: string, status: number): void {
  const [statusLine = "", ...lines] = raw.split("\r\n\r\n")[0]?.split("\r\n") ?? [];
  const headers = new Map(
    lines.map((line) => [
      line.slice(0, line.indexOf(":")).toLowerCase(),
      line.slice(line.indexOf(":") + 1).trim(),
    ]),
  );
  expect(statusLine).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  expect(headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
  expect(headers.get("x-frame-options")).toBe("DENY");
  expect(headers.get("x-content-type-options")).toBe("nosniff");
  expect(headers.get("referrer-policy")).toBe("no-referrer");
  expect(headers.get("cache-control")).toBe("no-store");
  expect(headers.get("connection")).toBe("close");
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
