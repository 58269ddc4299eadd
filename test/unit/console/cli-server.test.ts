import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConsoleServer } from "../../../console/cli-server.js";
import {
  expectConsoleSecurityHeaders,
  expectRawSecurityHeaders,
  parserRefusals,
} from "../../support/console-server.js";

/**
 * `punctual console`'s own server (a real loopback server in front of a real loopback "API"): every answer it
 * gives — not only the console's files and calls and the proxied API answers — carries the security headers.
 */
let api: http.Server;
let apiCalls = 0;
let consoleUrl: string;
let consoleOrigin: string;
let stopConsole: () => Promise<void>;
/** The printed URL's token. */
let token: string;
/** What the page sends on every call: its header and the call secret the redirect's fragment gave it. */
let call: Record<string, string>;

beforeAll(async () => {
  api = http.createServer((req, res) => {
    req.resume();
    apiCalls++;
    res.writeHead(200, { "content-type": "application/json" }).end('{"topics":[]}');
  });
  await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  const server = await startConsoleServer({
    apiUrl: new URL(`http://127.0.0.1:${(api.address() as AddressInfo).port}/`),
    authorize: async () => ({}),
    port: 0,
  });
  consoleUrl = server.url;
  consoleOrigin = new URL(server.url).origin;
  stopConsole = server.stop;
  token = new URL(consoleUrl).searchParams.get("token") ?? "";
  const opened = await fetch(consoleUrl, { redirect: "manual" });
  const secret = new URLSearchParams(
    new URL(opened.headers.get("location") ?? "", consoleOrigin).hash.slice(1),
  );
  call = { "x-punctual-console": "1", "x-punctual-session": secret.get("session") ?? "" };
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
      fetch(`${consoleOrigin}/v1/topics`, { headers: call }),
      fetch(`${consoleOrigin}/v1/topics`, { headers: { "x-punctual-console": "1" } }),
      fetch(consoleUrl, { redirect: "manual" }),
    ]);

    // Assess
    expect(answers.map((a) => a.status)).toEqual([302, 404, 403, 200, 403, 303]);
    expect(answers[0]?.headers.get("location")).toBe("/console");
    for (const answer of answers) {
      await expectConsoleSecurityHeaders(answer);
      expect(answer.headers.get("cache-control")).toBe("no-store");
    }
  });

  it("serves no call to a caller without this session's call secret: another user's process on this machine", async () => {
    // Prepare: what a process that can reach loopback but did not see the printed URL sends, the page's header too.
    const before = apiCalls;
    const headers = { "x-punctual-console": "1" };

    // Act
    const answers = await Promise.all([
      fetch(`${consoleOrigin}/v1/topics`, { headers }),
      fetch(`${consoleOrigin}/v1/tasks/x/replay`, { method: "POST", headers }),
      fetch(`${consoleOrigin}/console/api/metrics?minutes=5`, { headers }),
      fetch(`${consoleOrigin}/console/api/session`, { headers }),
      fetch(`${consoleOrigin}/v1/topics`, { headers: { ...headers, "x-punctual-session": "guess" } }),
      fetch(`${consoleOrigin}/console?token=guess`, { redirect: "manual" }),
    ]);

    // Assess
    expect(answers.map((a) => a.status)).toEqual([403, 403, 403, 403, 403, 403]);
    for (const answer of answers) {
      expect(await answer.clone().text()).toContain("open the URL `punctual console` printed");
      expect(answer.headers.get("set-cookie")).toBeNull();
      await expectConsoleSecurityHeaders(answer);
    }
    expect(apiCalls).toBe(before);
  });

  it("the printed URL holds a one-session token: opening it sets no cookie, leaves the token out of the address and gives the page its call secret in the fragment", async () => {
    // Act
    const opened = await fetch(consoleUrl, { redirect: "manual" });
    const elsewhere = await fetch(`${consoleOrigin}//elsewhere.example/?token=${token}`, {
      redirect: "manual",
    });

    // Assess
    expect(token).toMatch(/^[\w-]{43}$/);
    expect(opened.status).toBe(303);
    expect(opened.headers.get("location")).toMatch(/^\/console#session=[\w-]{43}$/);
    expect(opened.headers.get("location")).not.toContain(token);
    expect(opened.headers.get("set-cookie")).toBeNull();
    await expectConsoleSecurityHeaders(opened);
    expect(elsewhere.headers.get("location")).toMatch(/^\/console#/);
  });

  /**
   * The page and its files are the same for everyone (they ship in the package) and hold no data: served without a
   * session, as a cookie gate on them is what a server of another port could spoil (console/session-token.ts).
   */
  it("serves the page to any loopback caller, with nothing of the session in it", async () => {
    // Act
    const page = await fetch(`${consoleOrigin}/console`);
    const text = await page.clone().text();

    // Assess
    expect(page.status).toBe(200);
    expect(text).not.toContain(token);
    expect(text).not.toContain(call["x-punctual-session"]);
    expect(page.headers.get("set-cookie")).toBeNull();
    await expectConsoleSecurityHeaders(page);
  });

  it("answers the page's session check 204 with the call secret, 403 with another", async () => {
    // Act
    const answers = await Promise.all([
      fetch(`${consoleOrigin}/console/api/session`, { headers: call }),
      fetch(`${consoleOrigin}/console/api/session`, {
        headers: { ...call, "x-punctual-session": "A".repeat(43) },
      }),
    ]);

    // Assess
    expect(answers.map((a) => a.status)).toEqual([204, 403]);
    for (const answer of answers) await expectConsoleSecurityHeaders(answer);
  });

  it("a cookie another page of this host has set changes nothing: the calls go by the call secret", async () => {
    // Prepare: cookies do not tell ports apart, so a page on another port of 127.0.0.1 can set any of this host's.
    const planted = `punctual_console_${new URL(consoleOrigin).port}=planted`;

    // Act
    const answers = await Promise.all([
      fetch(`${consoleOrigin}/console`, { headers: { cookie: planted } }),
      fetch(`${consoleOrigin}/v1/topics`, { headers: { ...call, cookie: planted } }),
    ]);

    // Assess
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    for (const answer of answers) await answer.arrayBuffer();
  });

  /**
   * The calls the server signs need what only the page of this origin holds, never sent by the browser on its own:
   * not the printed token, which a process that read the terminal's scrollback could hold, as a cookie or a header.
   */
  it("signs nothing for a caller with the printed token in place of the call secret", async () => {
    // Prepare
    const before = apiCalls;
    const replayed = {
      "x-punctual-console": "1",
      cookie: `punctual_console_${new URL(consoleOrigin).port}=${token}`,
    };

    // Act
    const answers = await Promise.all([
      fetch(`${consoleOrigin}/v1/topics`, { headers: replayed }),
      fetch(`${consoleOrigin}/v1/tasks/x/replay`, { method: "POST", headers: replayed }),
      fetch(`${consoleOrigin}/console/api/metrics?topic=t`, { headers: replayed }),
      fetch(`${consoleOrigin}/v1/topics`, {
        headers: { ...replayed, "x-punctual-session": token },
      }),
    ]);

    // Assess
    expect(answers.map((a) => a.status)).toEqual([403, 403, 403, 403]);
    for (const answer of answers)
      expect(await answer.text()).toContain("open the URL `punctual console` printed");
    expect(apiCalls).toBe(before);
  });

  it("answers a request target that is no URL with a structured 400, not a 502 blaming the API", async () => {
    // Act
    const answers = await Promise.all(
      ["//[", "http://[/console"].map((target) => rawRequest(consoleOrigin, target, {})),
    );

    // Assess
    for (const answer of answers) {
      expectRawSecurityHeaders(answer, 400);
      expect(answer).toContain('"code":"invalid_request"');
    }
  });

  it.each([
    ["/v1/../console/api/metrics?topic=t&minutes=5", 400, '"code":"invalid_path"'],
    ["//x/console/api/metrics?topic=t&minutes=5", 404, "the console is at /console"],
  ])(
    "%s is no console path as sent (as the local API server reads it): neither the console's answer nor an API call",
    async (target, status, said) => {
      // Prepare
      const before = apiCalls;

      // Act: all the page's credentials, so only the path keeps it from the console
      const answer = await rawRequest(consoleOrigin, target, call);

      // Assess: a /v1/ path holding a dot segment is the proxy's invalid_path; the other, no path of this server
      expectRawSecurityHeaders(answer, status);
      expect(answer).toContain(said);
      expect(apiCalls).toBe(before);
    },
  );

  it.each([
    "http://x\\@127.0.0.1/v1/topics",
    "http://x\\/v1/topics",
    "HTTP://x\\y/v1/topics",
    "http://x\\@127.0.0.1/console/api/metrics?minutes=5",
  ])(
    "%s, whose path URL reads otherwise than as sent, is gated as the path the proxy and the console read: no call without the secret",
    async (target) => {
      // Prepare: a local process without the call secret (the page's header only). The gate reads URL's path (which
      // ends the authority at `\`: `/@127.0.0.1/v1/topics`, no call), the proxy and the console the path as sent
      // (`/v1/topics`); what keeps them from disagreeing is Node's parser, which refuses a `\` in the target (400,
      // its lenient mode too). A guard: it passed when written (2026-12-06, h-review47).
      const before = apiCalls;

      // Act
      const answer = await rawRequest(consoleOrigin, target, { "x-punctual-console": "1" });

      // Assess: refused, nothing signed nor sent to the API, no data
      expect(answer).not.toMatch(/^HTTP\/1\.1 2/);
      expect(answer).not.toContain('"topics"');
      expect(apiCalls).toBe(before);
    },
  );

  it("answers what Node's parser refuses (a malformed header, 20 KB of headers) with the security headers too", async () => {
    // Act
    const { malformed, oversized } = await parserRefusals(consoleOrigin);

    // Assess
    expectRawSecurityHeaders(malformed, 400);
    expectRawSecurityHeaders(oversized, 431);
  });
});

/** What the server writes back to one raw request for `target` (fetch and http.request parse it first). */
function rawRequest(origin: string, target: string, headers: Record<string, string>): Promise<string> {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(Number(port), hostname, () =>
      socket.write(
        `GET ${target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n${lines.join("")}Connection: close\r\n\r\n`,
      ),
    );
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
  });
}
