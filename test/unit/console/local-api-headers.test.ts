import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleHandler, localApiPrelude, SECURITY_HEADERS } from "../../../console/server.js";
import { startApiServer } from "../../../local/runtime/api-server.js";
import {
  expectConsoleSecurityHeaders,
  expectRawSecurityHeaders,
  parserRefusals,
  quietMetrics,
} from "../../support/console-server.js";

/**
 * Locally the console and the API share one origin (the local API server, `npm start`): the API's answers are
 * answers of the console's origin too, so they carry the console's security headers — a function's answer, the
 * server's own 404 and 500 — as the console's files and calls do (server.test.ts).
 */
let api: Awaited<ReturnType<typeof startApiServer>>;

beforeAll(async () => {
  api = await startApiServer({
    host: "127.0.0.1",
    port: 0,
    routes: [
      {
        routeKey: "GET /v1/topics",
        functionName: "list-topics",
        timeoutSeconds: 5,
        handler: async () => ({ statusCode: 200, body: '{"topics":[]}' }),
      },
      {
        routeKey: "GET /v1/broken",
        functionName: "broken",
        timeoutSeconds: 5,
        handler: async () => {
          throw new Error("crashed");
        },
      },
    ],
    prelude: localApiPrelude(
      consoleHandler({
        sources: {
          metrics: async (q) => quietMetrics(q.topic),
          local: async () => ({
            schedules: [],
            next_cursor: null,
            timer_queue: { waiting: 0, delayed: 0, in_flight: 0 },
          }),
        },
      }),
    ),
    // As the local cloud starts it (local/cloud/local-cloud.ts).
    parserRefusalHeaders: SECURITY_HEADERS,
  });
});

afterAll(async () => {
  await api.stop();
});

describe("the local API server beside the console", () => {
  it("sends the console's security headers on the API's answers: a function's, its own 404 and 500", async () => {
    // Act
    const answers = await Promise.all(
      ["/v1/topics", "/v1/no-such-route", "/v1/broken"].map((path) => fetch(`${api.url}${path}`)),
    );

    // Assess
    expect(answers.map((a) => a.status)).toEqual([200, 404, 500]);
    for (const answer of answers) {
      await expectConsoleSecurityHeaders(answer);
      expect(answer.headers.get("cross-origin-resource-policy")).toBe("same-origin");
    }
  });

  it("answers what Node's parser refuses (a malformed header, 20 KB of headers) with the security headers too", async () => {
    // Act
    const { malformed, oversized } = await parserRefusals(api.url);

    // Assess
    expectRawSecurityHeaders(malformed, 400);
    expectRawSecurityHeaders(oversized, 431);
  });

  it("answers a request target that is no URL with a structured 400, not a 500", async () => {
    // Act
    const answer = await rawGet(api.url, "//[");

    // Assess
    expectRawSecurityHeaders(answer, 400);
    expect(answer).toContain('"code":"invalid_request"');
  });
});

describe("the console's paths beside the API's", () => {
  it.each([
    "/v1/../console/api/local",
    "/x/../console/api/metrics?topic=demo&minutes=5",
    "//x/console/api/local",
    "/v1/./../console",
  ])(
    "%s is not the console's (its path as sent, as the API routes it): the API's 404, not the console's answer",
    async (target) => {
      // Act: a console call's header, so only the path keeps it from the console
      const answer = await rawGet(api.url, target, "x-punctual-console: 1\r\n");

      // Assess
      expect(answer).toMatch(/^HTTP\/1\.1 404 /);
      expect(answer).toContain('{"message":"Not Found"}');
    },
  );

  it("/console/api/local as sent is the console's local view", async () => {
    const answer = await rawGet(api.url, "/console/api/local", "x-punctual-console: 1\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('"timer_queue"');
  });
});

/** What the server writes back to one raw GET of `target` (fetch and http.request parse it first). */
function rawGet(origin: string, target: string, headers = ""): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(Number(port), hostname, () =>
      socket.write(
        `GET ${target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n${headers}Connection: close\r\n\r\n`,
      ),
    );
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
  });
}
