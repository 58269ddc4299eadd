import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsoleServer } from "../../../console/cli-server.js";
import { expectConsoleSecurityHeaders } from "../../support/console-server.js";

/**
 * `punctual console`'s own server (a real loopback server in front of a real loopback "API"): every answer it
 * gives — not only the console's files and calls and the proxied API answers — carries the security headers.
 */
let api: http.Server;
let consoleOrigin: string;
let stopConsole: () => Promise<void>;

beforeAll(async () => {
  api = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "application/json" }).end('{"topics":[]}');
  });
  await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  const server = await startConsoleServer({
    apiUrl: new URL(`http://127.0.0.1:${(api.address() as AddressInfo).port}/`),
    authorize: async () => ({}),
    port: 0,
  });
  consoleOrigin = new URL(server.url).origin;
  stopConsole = server.stop;
});

afterAll(async () => {
  await stopConsole?.();
  api?.closeAllConnections();
  await new Promise((resolve) => api?.close(resolve));
});

describe("punctual console's server", () => {
  it("sends the security headers on every answer: the redirect from /, a 404, a refusal, a proxied answer", async () => {
    // Act
    const answers = await Promise.all([
      fetch(`${consoleOrigin}/`, { redirect: "manual" }),
      fetch(`${consoleOrigin}/nothing-here`),
      fetch(`${consoleOrigin}/v1/topics`),
      fetch(`${consoleOrigin}/v1/topics`, { headers: { "x-punctual-console": "1" } }),
    ]);

    // Assess
    expect(answers.map((a) => a.status)).toEqual([302, 404, 403, 200]);
    expect(answers[0]?.headers.get("location")).toBe("/console");
    for (const answer of answers) {
      await expectConsoleSecurityHeaders(answer);
      expect(answer.headers.get("cache-control")).toBe("no-store");
    }
  });
});
