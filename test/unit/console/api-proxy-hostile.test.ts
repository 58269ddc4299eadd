import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { authorizer } from "../../../client/auth.js";
import { apiProxy } from "../../../console/api-proxy.js";

/** `punctual console`'s signing proxy against an API that answers what it should not (real loopback servers). */
const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

interface Seen {
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

async function serve(host: string, handler: http.RequestListener): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? "", headers: req.headers });
    handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { url: `http://${host}:${(server.address() as AddressInfo).port}`, seen };
}

/** The proxy in front of `apiUrl`, signing with SigV4 and temporary credentials (a session token). */
async function consoleProxy(apiUrl: string, options: { timeoutMs?: number } = {}) {
  const url = new URL(apiUrl);
  const authorize = authorizer(
    {
      kind: "iam",
      region: "eu-west-1",
      credentials: { accessKeyId: "ASIAEXAMPLE", secretAccessKey: "secret", sessionToken: "SESSION-TOKEN" },
    },
    url,
    {},
  );
  const proxy = apiProxy({ apiUrl: url, authorize, ...options });
  return serve("127.0.0.1", async (req, res) => {
    try {
      if (!(await proxy(req, res))) res.writeHead(418).end();
    } catch (error) {
      // As cli-server.ts: an error escaping the proxy is a 502.
      if (!res.headersSent) res.writeHead(502).end((error as Error).message);
    }
  });
}

const call = (origin: string, init: RequestInit = {}) =>
  fetch(`${origin}/v1/tasks`, {
    method: "POST",
    headers: { "x-punctual-console": "1", "content-type": "application/json" },
    body: '{"topic":"demo","delay_seconds":5,"content":{"secret":"pii"}}',
    ...init,
  });

describe("the console proxy against a hostile API", () => {
  it.each([301, 302, 303, 307, 308])(
    "does not follow a %i to another host: the signed request, session token and body stay with the API",
    async (status) => {
      // Prepare
      const elsewhere = await serve("127.0.0.2", (_req, res) => res.end('{"topics":[]}'));
      const api = await serve("127.0.0.1", (req, res) => {
        req.resume();
        res.writeHead(status, { location: `${elsewhere.url}/steal` }).end();
      });
      const proxy = await consoleProxy(api.url);

      // Act
      const answer = await call(proxy.url);
      await answer.arrayBuffer();

      // Assess
      expect(elsewhere.seen).toEqual([]);
      expect(api.seen).toHaveLength(1);
      expect(api.seen[0]?.headers["x-amz-security-token"]).toBe("SESSION-TOKEN");
      expect(answer.status).toBe(status);
    },
  );

  it("refuses an answer over 10 MiB (more than the API can send) with a 502 instead of holding it all", async () => {
    // Prepare: an endless body, written until the proxy hangs up.
    let hungUp: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      hungUp = resolve;
    });
    const api = await serve("127.0.0.1", (req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = " ".repeat(64 * 1024);
      const more = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once("drain", more);
      };
      res.on("close", () => hungUp());
      more();
    });
    const proxy = await consoleProxy(api.url);

    // Act
    const answer = await call(proxy.url);
    const text = await answer.text();
    await closed;

    // Assess
    expect(answer.status).toBe(502);
    expect(text).toMatch(/over 10 MiB/);
  });

  it("gives up on an API that does not answer, with a 502, after its timeout", async () => {
    // Prepare: an API that reads the call and never answers.
    const api = await serve("127.0.0.1", (req) => void req.resume());
    const proxy = await consoleProxy(api.url, { timeoutMs: 200 });

    // Act
    const answer = await call(proxy.url);

    // Assess
    expect(answer.status).toBe(502);
    expect(api.seen).toHaveLength(1);
  });
});

describe("the console proxy against a hostile path", () => {
  it.each([
    ["an encoded slash", "/v1/tasks%2F..%2F..%2Fadmin"],
    ["an encoded slash, lower case", "/v1/tasks%2f..%2f..%2fadmin"],
    ["an encoded backslash", "/v1/tasks%5C..%5C..%5Cadmin"],
    ["encoded dot segments", "/v1/tasks/%2e%2e%2F%2e%2e%2Fadmin"],
    ["a percent-encoding that does not decode", "/v1/tasks/%E0%A4%A"],
  ])(
    "refuses %s, which the API reads as another path than /v1/…: nothing is signed or sent",
    async (_, path) => {
      // Prepare
      const api = await serve("127.0.0.1", (req, res) => {
        req.resume();
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
      const proxy = await consoleProxy(api.url);

      // Act
      const answer = await fetch(`${proxy.url}${path}`, { headers: { "x-punctual-console": "1" } });
      const body = (await answer.json()) as { error?: { code?: string } };

      // Assess
      expect(answer.status).toBe(400);
      expect(body.error?.code).toBe("invalid_path");
      expect(api.seen).toEqual([]);
    },
  );

  it.each([
    ["a dot segment as sent, refused", "/v1/a/../tasks", 400],
    ["a single-dot segment as sent, refused", "/v1/./tasks", 400],
    ["a path outside /v1/ as sent, not taken", "/x/../v1/tasks", 418],
    ["a path that reads as a host, not taken", "//x/v1/tasks", 418],
  ])(
    "reads the path as sent, as the console's handler and the local API server do: %s, nothing signed or sent",
    async (_, path, status) => {
      // Prepare: fetch and http.request given a URL resolve dot segments; a request with its path given does not
      const api = await serve("127.0.0.1", (req, res) => {
        req.resume();
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
      const proxy = await consoleProxy(api.url);

      // Act
      const answered = await new Promise<number>((resolve, reject) => {
        const { hostname, port } = new URL(proxy.url);
        const req = http.request(
          { host: hostname, port, path, headers: { "x-punctual-console": "1" } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", reject);
        req.end();
      });

      // Assess
      expect(answered).toBe(status);
      expect(api.seen).toEqual([]);
    },
  );

  it("forwards the percent-encoding the page writes for a path parameter (an IPv6 host with its port)", async () => {
    // Prepare
    const api = await serve("127.0.0.1", (req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    const proxy = await consoleProxy(api.url);
    const path = `/v1/destinations/${encodeURIComponent("[::1]:8443")}/reset?topic=orders`;

    // Act
    const answer = await fetch(`${proxy.url}${path}`, {
      method: "POST",
      headers: { "x-punctual-console": "1" },
    });
    await answer.arrayBuffer();

    // Assess
    expect(answer.status).toBe(200);
    expect(api.seen.map((s) => s.url)).toEqual([path]);
  });
});

/** A raw request (fetch will not send TRACE or CONNECT, nor a GET with a body): its status and parsed body. */
function rawCall(
  origin: string,
  method: string,
  body?: string,
): Promise<{ status: number; allow?: string; json: { error?: { code?: string } } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${origin}/v1/tasks`,
      {
        method,
        headers: {
          "x-punctual-console": "1",
          "content-type": "application/json",
          // Node's client frames no body of a GET by itself.
          ...(body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          resolve({
            status: res.statusCode ?? 0,
            ...(res.headers.allow ? { allow: res.headers.allow } : {}),
            json: jsonOr(text),
          });
        });
      },
    );
    req.once("error", reject);
    req.end(body);
  });
}

/** The body as JSON, or {} (the test server's own 502 is plain text). */
function jsonOr(text: string): { error?: { code?: string } } {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

describe("the console proxy against a method the page never sends", () => {
  it.each(["PUT", "PATCH", "HEAD", "OPTIONS", "PROPFIND", "TRACE"])(
    "refuses %s with a 405 naming the methods it forwards: nothing is signed or sent",
    async (method) => {
      // Prepare
      const api = await serve("127.0.0.1", (req, res) => {
        req.resume();
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
      const proxy = await consoleProxy(api.url);

      // Act
      const answer = await rawCall(proxy.url, method);

      // Assess
      expect(answer.status).toBe(405);
      expect(answer.allow).toBe("GET, POST, DELETE");
      if (method !== "HEAD") expect(answer.json.error?.code).toBe("method_not_allowed");
      expect(api.seen).toEqual([]);
    },
  );

  it("refuses a GET with a body with the API's own 400 (validation_failed), not a 502: nothing is signed or sent", async () => {
    // Prepare
    const api = await serve("127.0.0.1", (req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    const proxy = await consoleProxy(api.url);

    // Act
    const answer = await rawCall(proxy.url, "GET", '{"topic":"demo"}');

    // Assess: what the API's no-body guard answers the same call (test/unit/api/handlers.test.ts).
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({
      error: {
        code: "validation_failed",
        message: "this route takes no request body",
        issues: [{ path: "", message: "this route takes no request body; send none" }],
      },
    });
    expect(api.seen).toEqual([]);
  });

  it("forwards a GET whose body says nothing (empty JSON object, white space) without it, as the API takes it", async () => {
    // Prepare
    const bodies: string[] = [];
    const api = await serve("127.0.0.1", (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        bodies.push(Buffer.concat(chunks).toString());
        res.writeHead(200, { "content-type": "application/json" }).end('{"tasks":[]}');
      });
    });
    const proxy = await consoleProxy(api.url);

    // Act
    const answers = [await rawCall(proxy.url, "GET", " {} "), await rawCall(proxy.url, "GET", "\r\n")];

    // Assess
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    expect(bodies).toEqual(["", ""]);
  });

  it("refuses a body over 10 MiB with a 413 before signing anything", async () => {
    // Prepare
    const api = await serve("127.0.0.1", (req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    const proxy = await consoleProxy(api.url);

    // Act
    const answer = await rawCall(proxy.url, "POST", "x".repeat(10 * 1024 * 1024 + 1)).catch((error) => ({
      status: -1,
      json: { error: { code: String(error) } },
    }));

    // Assess
    expect(answer.status).toBe(413);
    expect(api.seen).toEqual([]);
  });
});

describe("the console proxy when signing fails (the page left open past its credentials' expiry)", () => {
  it("answers a 502 not_sent saying the call never went, so the page need not say it may have acted", async () => {
    // Prepare: an authorizer that throws as an expired SSO session's provider does
    const api = await serve("127.0.0.1", (req, res) => {
      req.resume();
      res.end("{}");
    });
    const proxy = apiProxy({
      apiUrl: new URL(api.url),
      authorize: async () => {
        throw new Error("The SSO session associated with this profile has expired");
      },
    });
    const server = await serve("127.0.0.1", async (req, res) => {
      try {
        if (!(await proxy(req, res))) res.writeHead(418).end();
      } catch (error) {
        // As cli-server.ts answers an error escaping the proxy.
        const message = (error as Error).message;
        res.writeHead(502).end(JSON.stringify({ error: { code: "upstream_failed", message } }));
      }
    });

    // Act
    const answer = await call(server.url, { method: "DELETE", body: null });
    const body = (await answer.json()) as { error: { code: string; message: string } };

    // Assess
    expect(api.seen).toEqual([]);
    expect(answer.status).toBe(502);
    expect(body.error.code).toBe("not_sent");
    expect(body.error.message).toMatch(/not sent.*SSO session .* has expired/);
  });

  it("answers a 502 not_sent after its timeout when the credential source never answers, and sends nothing after", async () => {
    // Prepare: an authorizer hung as a credential provider waiting on an unreachable SSO or metadata endpoint
    const api = await serve("127.0.0.1", (req, res) => {
      req.resume();
      res.end("{}");
    });
    let finishSigning: (headers: Record<string, string>) => void = () => undefined;
    const proxy = apiProxy({
      apiUrl: new URL(api.url),
      authorize: () => new Promise((resolve) => (finishSigning = resolve)),
      timeoutMs: 200,
    });
    const server = await serve("127.0.0.1", async (req, res) => {
      if (!(await proxy(req, res))) res.writeHead(418).end();
    });

    // Act
    const answer = await call(server.url, { method: "DELETE", body: null });
    const body = (await answer.json()) as { error: { code: string; message: string } };
    finishSigning({ authorization: "late" });
    await new Promise((resolve) => setImmediate(resolve));

    // Assess: the page is told nothing went (not "Creating…" until reload), and the late signature sends nothing
    expect(answer.status).toBe(502);
    expect(body.error.code).toBe("not_sent");
    expect(body.error.message).toMatch(/not sent.*signing the call took longer than 200 ms/);
    expect(api.seen).toEqual([]);
  });
});

/**
 * API Gateway's 403 to a signature it computes otherwise quotes the canonical request it expected, the session
 * token's value among its headers (client/errors.ts `withoutSessionToken`, which keeps it out of the client's
 * errors). The proxy hands the page the API's answer: the page shows that message on its panel, and the browser,
 * which never holds a credential, would hold the proxy's session token.
 */
describe("the console proxy when the API's answer quotes the session token", () => {
  it("passes the 403 on without the token's value", async () => {
    // Prepare: API Gateway's answer, its message quoting the signed headers
    const message =
      "The request signature we calculated does not match the signature you provided.\n\nThe Canonical String for this request should have been\n'POST\n/v1/tasks\n\ncontent-type:application/json\nhost:127.0.0.1\nx-amz-date:20261205T000000Z\nx-amz-security-token:SESSION-TOKEN\n\ncontent-type;host;x-amz-date;x-amz-security-token\nabc'\n";
    const api = await serve("127.0.0.1", (req, res) => {
      req.resume();
      res.writeHead(403, { "content-type": "application/json" }).end(JSON.stringify({ message }));
    });
    const proxy = await consoleProxy(api.url);

    // Act
    const answer = await call(proxy.url);
    const text = await answer.text();

    // Assess: the status and the rest of the message kept, to debug with
    expect(answer.status).toBe(403);
    expect(text).not.toContain("SESSION-TOKEN");
    expect(JSON.parse(text).message).toContain("x-amz-security-token:");
    expect(JSON.parse(text).message).toContain("The Canonical String for this request should have been");
  });
});
