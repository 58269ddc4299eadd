import http from "node:http";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApiServer } from "#local/runtime/api-server.js";
import { OpenApiValidator } from "../../support/openapi-validator.js";

/** The local HTTP API's request body handling (local/runtime/api-server.ts), over a real loopback socket. */
let api: Awaited<ReturnType<typeof startApiServer>>;
const seen: APIGatewayProxyEventV2[] = [];

beforeAll(async () => {
  api = await startApiServer({
    host: "127.0.0.1",
    port: 0,
    routes: [
      {
        routeKey: "POST /echo",
        functionName: "echo",
        timeoutSeconds: 5,
        handler: async (event: APIGatewayProxyEventV2) => {
          seen.push(event);
          return { statusCode: 200, body: event.body ?? "" };
        },
      },
    ],
  });
});

afterAll(async () => {
  await api.stop();
});

/** Posts `chunks` as one chunked request body; the status and the response body. */
function post(chunks: readonly Buffer[], search = ""): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${api.url}/echo${search}`,
      { method: "POST", headers: { "content-type": "application/json" } },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (part: Buffer) => parts.push(part));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
      },
    );
    req.on("error", reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe("the local API server", () => {
  it("hands the function the whole body, however it was chunked, byte for byte", async () => {
    // Prepare: a multi-byte character split across two chunks.
    const text = JSON.stringify({ content: "exactly as sent ✓ — ünïcode" });
    const bytes = Buffer.from(text);
    const cut = bytes.indexOf(Buffer.from("✓")) + 1;
    // Act
    const answer = await post([bytes.subarray(0, cut), bytes.subarray(cut)]);
    // Assess
    expect(answer).toEqual({ status: 200, body: text });
    expect(seen.at(-1)?.body).toBe(text);
  });

  it("answers 413 past API Gateway's 10 MB without invoking the function", async () => {
    // Prepare
    const before = seen.length;
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    // Act
    const answer = await post(Array.from({ length: 11 }, () => chunk));
    // Assess
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({ message: "Request Entity Too Large" });
    expect(seen.length).toBe(before);
  });

  it("builds queryStringParameters as API Gateway does: a repeated key's values joined with a comma", async () => {
    // Prepare: repeats (one of them empty), and names Object.prototype has.
    const query = "group=a&group=b&x=&x=y&constructor=c&__proto__=p&lone=1";
    // Act
    const answer = await post([Buffer.from("{}")], `?${query}`);
    // Assess
    expect(answer.status).toBe(200);
    const event = seen.at(-1);
    expect(event?.rawQueryString).toBe(query);
    expect(event?.queryStringParameters).toEqual({
      group: "a,b",
      x: ",y",
      constructor: "c",
      ["__proto__"]: "p",
      lone: "1",
    });
    expect(Object.hasOwn(event?.queryStringParameters ?? {}, "__proto__")).toBe(true);
  });
});

/**
 * A POST whose request line and header values are exactly these: `POST <path> HTTP/1.1`, and the values `localhost`,
 * `close`, `0` and the padding header's (Node adds no header of its own to a request that names these).
 */
function paddedPost(url: string, path: string, padBytes: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}${path}`,
      {
        method: "POST",
        headers: {
          Host: "localhost",
          Connection: "close",
          "Content-Length": "0",
          "X-Pad": "p".repeat(padBytes),
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (part: Buffer) => parts.push(part));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("the local API server and API Gateway's 10,240 bytes of request line and header values", () => {
  /** `POST /echo HTTP/1.1` (19 bytes) and the values `localhost`, `close` and `0`: 34 bytes besides the padding. */
  const FIXED_BYTES = 34;

  it("runs the function for a request of exactly 10,240 bytes", async () => {
    // Prepare
    const before = seen.length;
    // Act
    const answer = await paddedPost(api.url, "/echo", 10_240 - FIXED_BYTES);
    // Assess
    expect(answer.status).toBe(200);
    expect(seen.length).toBe(before + 1);
  });

  it("refuses one byte more itself, as API Gateway does, without invoking the function", async () => {
    // Prepare: well under Node's own 16 KiB, which the local server used to be the only bound on.
    const before = seen.length;
    // Act
    const answer = await paddedPost(api.url, "/echo", 10_240 - FIXED_BYTES + 1);
    // Assess
    expect(answer.status).toBe(431);
    expect(JSON.parse(answer.body)).toEqual({ message: "Request Header Fields Too Large" });
    expect(seen.length).toBe(before);
  });

  it("counts the request line's bytes too: a long query string is refused the same way", async () => {
    // Prepare: `?q=` and 10,206 bytes of percent-encoded characters (1,134 × 9), with the small headers.
    const before = seen.length;
    const query = `?q=${encodeURIComponent("€".repeat(1_134))}`;
    // Act
    const answer = await paddedPost(api.url, `/echo${query}`, 0);
    // Assess
    expect(answer.status).toBe(431);
    expect(seen.length).toBe(before);
  });
});

describe("the local API server's headers", () => {
  it("joins a repeated header's values with commas, as payload 2.0 does, content-type included", async () => {
    // Prepare: Node keeps only the first of some repeated headers (content-type, user-agent) and joins others
    // with ", "; API Gateway's payload 2.0 combines every duplicate with ",".
    const raw = { "content-type": ["application/json", "text/plain"], "x-a": ["1", "2"] };
    // Act
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${api.url}/echo`, { method: "POST", headers: raw }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end("{}");
    });
    // Assess
    expect(status).toBe(200);
    expect(seen.at(-1)?.headers).toMatchObject({
      "content-type": "application/json,text/plain",
      "x-a": "1,2",
    });
  });

  it("moves Cookie headers into `cookies`, one entry a cookie, as payload 2.0 does", async () => {
    // Prepare: two Cookie headers, as an HTTP/2 client sends one a cookie, the first with two cookies.
    const raw = { "content-type": "application/json", cookie: ["a=1; b=2", "c=3"] };
    // Act
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${api.url}/echo`, { method: "POST", headers: raw }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end("{}");
    });
    // Assess
    expect(status).toBe(200);
    const event = seen.at(-1);
    expect(event?.cookies).toEqual(["a=1", "b=2", "c=3"]);
    expect(event?.headers).not.toHaveProperty("cookie");
  });
});

/** Posts `body` with these headers (a list sends the header once per value); the event the function got. */
function postWith(
  headers: http.OutgoingHttpHeaders,
  body: string,
): Promise<APIGatewayProxyEventV2 | undefined> {
  const before = seen.length;
  return new Promise((resolve, reject) => {
    const req = http.request(`${api.url}/echo`, { method: "POST", headers }, (res) => {
      res.resume();
      res.on("end", () => resolve(seen.length > before ? seen.at(-1) : undefined));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("the local API server's body: text or base64, as payload 2.0 hands it", () => {
  // AWS documents only that a binary body arrives base64-encoded, not which types are text. Observed on AWS (HTTP
  // API, payload 2.0: https://github.com/ministackorg/ministack/pull/766): text only for text/* and
  // application/json, application/xml, application/javascript, by the media type before any parameter; everything
  // else base64, no content type and application/x-www-form-urlencoded included. The server took any type that
  // merely mentioned json, text, xml or urlencoded for text (`application/octet-stream; name=json`, +json, +xml).
  it.each([
    ["application/json", false],
    ["application/json; charset=utf-8", false],
    ["Application/JSON", false],
    ["text/plain", false],
    ["text/csv; charset=utf-8", false],
    ["application/xml", false],
    ["application/javascript", false],
    ["application/octet-stream", true],
    ["application/x-www-form-urlencoded", true],
    ["application/problem+json", true],
    ["application/octet-stream; name=json", true],
    ["image/svg+xml", true],
    ["multipart/form-data; boundary=text", true],
    [undefined, true],
  ] as const)("content-type %s: isBase64Encoded %s", async (contentType, base64) => {
    // Act
    const event = await postWith(contentType === undefined ? {} : { "content-type": contentType }, "{}");
    // Assess
    expect(event?.isBase64Encoded).toBe(base64);
    expect(event?.body).toBe(base64 ? Buffer.from("{}").toString("base64") : "{}");
  });

  it("an empty body is no body, whatever its type: no `body`, isBase64Encoded false", async () => {
    const event = await postWith({ "content-type": "application/octet-stream" }, "");
    expect(event).toBeDefined();
    expect(event).not.toHaveProperty("body");
    expect(event?.isBase64Encoded).toBe(false);
  });
});

describe("the local API server's path parameters", () => {
  let server: Awaited<ReturnType<typeof startApiServer>>;
  const reached: { route: string; id?: string }[] = [];
  const rawPaths: string[] = [];
  const queries: (Record<string, string | undefined> | undefined)[] = [];

  beforeAll(async () => {
    const handler = (route: string) => async (event: APIGatewayProxyEventV2) => {
      rawPaths.push(event.rawPath);
      queries.push(event.queryStringParameters);
      reached.push({
        route,
        ...(event.pathParameters?.id !== undefined ? { id: event.pathParameters.id } : {}),
      });
      return { statusCode: route === "$default" ? 404 : 200, body: JSON.stringify({ route }) };
    };
    server = await startApiServer({
      host: "127.0.0.1",
      port: 0,
      routes: [
        { routeKey: "GET /items/{id}", functionName: "item", timeoutSeconds: 5, handler: handler("item") },
        { routeKey: "$default", functionName: "unmatched", timeoutSeconds: 5, handler: handler("$default") },
      ],
    });
  });

  afterAll(async () => {
    await server.stop();
  });

  it("hands a route its parameter decoded", async () => {
    const answer = await fetch(`${server.url}/items/caf%C3%A9%20au%20lait`);
    expect(answer.status).toBe(200);
    expect(reached.at(-1)).toEqual({ route: "item", id: "café au lait" });
  });

  it.each(["%ZZ", "%E0%A4%A", "a%", "%C0%AF"])(
    "sends a path whose encoding does not decode (%s) to $default, not a bare 500",
    async (segment) => {
      const answer = await fetch(`${server.url}/items/${segment}`);
      expect(answer.status).toBe(404);
      expect(await answer.json()).toEqual({ route: "$default" });
      expect(reached.at(-1)).toEqual({ route: "$default" });
    },
  );

  it.each(["a%2Fb", "a%2fb", "%2F"])(
    "sends a parameter holding an encoded slash (%s) to $default: API Gateway decodes the path before it matches, where the slash splits the segment",
    async (segment) => {
      const answer = await fetch(`${server.url}/items/${segment}`);
      expect(answer.status).toBe(404);
      expect(reached.at(-1)).toEqual({ route: "$default" });
    },
  );
  /** A GET of `target` exactly as written in the request line (fetch would resolve `..` and merge nothing). */
  function getRaw(target: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const { hostname, port } = new URL(server.url);
      const req = http.request({ host: hostname, port, path: target, method: "GET" }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end();
    });
  }

  it.each([
    "//x/items/1",
    "/a/../items/1",
    "/items/a/../1",
    "/items/./1",
    "/items//1",
    "/items/%2e%2e/items/1",
    "/items/%2E/1",
    "/items\\1",
    "/items/..",
    "/items/%2e%2E",
    "/items/.",
  ])(
    "routes %s on the path as sent, unresolved and unmerged: $default's 404, as API Gateway documents no normalization",
    async (target) => {
      const status = await getRaw(target);
      expect(status).toBe(404);
      expect(reached.at(-1)).toEqual({ route: "$default" });
      expect(rawPaths.at(-1)).toBe(target);
    },
  );

  it.each(["//x:99999/items/1?q=1", "//[/items/1", "//a:b:c/items/1"])(
    "routes %s, whose start no URL parser takes for a host, on the path as sent too: $default's 404, not a bare 500",
    async (target) => {
      const status = await getRaw(target);
      expect(status).toBe(404);
      expect(reached.at(-1)).toEqual({ route: "$default" });
      expect(rawPaths.at(-1)).toBe(target.split("?")[0]);
    },
  );

  it("hands a route the query of a target whose start no URL parser takes for a host, in absolute form", async () => {
    expect(await getRaw("http://x:99999/items/1?x=1")).toBe(200);
    expect(reached.at(-1)).toEqual({ route: "item", id: "1" });
    expect(queries.at(-1)).toEqual({ x: "1" });
  });

  it("hands a route the path as sent, query apart, in origin or absolute form", async () => {
    expect(await getRaw("/items/caf%C3%A9?x=1")).toBe(200);
    expect(reached.at(-1)).toEqual({ route: "item", id: "café" });
    expect(rawPaths.at(-1)).toBe("/items/caf%C3%A9");
    // In absolute form (as to a proxy), its path part, as sent.
    expect(await getRaw("http://127.0.0.1/items/1?x=1")).toBe(200);
    expect(reached.at(-1)).toEqual({ route: "item", id: "1" });
    expect(await getRaw("http://127.0.0.1/a/../items/1")).toBe(404);
    expect(rawPaths.at(-1)).toBe("/a/../items/1");
  });
});

describe("the local API server and Lambda's 6 MiB synchronous invocation limit", () => {
  let server: Awaited<ReturnType<typeof startApiServer>>;
  const invoked: number[] = [];

  beforeAll(async () => {
    server = await startApiServer({
      host: "127.0.0.1",
      port: 0,
      routes: [
        {
          routeKey: "POST /take",
          functionName: "take",
          timeoutSeconds: 5,
          handler: async (event: APIGatewayProxyEventV2) => {
            invoked.push((event.body ?? "").length);
            return { statusCode: 200, body: "{}" };
          },
        },
        {
          routeKey: "GET /answer/{bytes}",
          functionName: "answer",
          timeoutSeconds: 5,
          handler: async (event: APIGatewayProxyEventV2) => ({
            statusCode: 200,
            body: "x".repeat(Number(event.pathParameters?.bytes)),
          }),
        },
      ],
    });
  });

  afterAll(async () => {
    await server.stop();
  });

  const post = (body: string) =>
    fetch(`${server.url}/take`, { method: "POST", headers: { "content-type": "application/json" }, body });

  it("runs the function for a body well inside the limit", async () => {
    const answer = await post(" ".repeat(5 * 1024 * 1024));
    expect(answer.status).toBe(200);
    expect(invoked.at(-1)).toBe(5 * 1024 * 1024);
  });

  it.each([
    ["7 MiB of spaces", " ".repeat(7 * 1024 * 1024)],
    // 3.5 MiB as sent, but each quote is escaped to two bytes in the event.
    ["3.5 MiB of quotes", '"'.repeat(3.5 * 1024 * 1024)],
  ])(
    "fails an invocation whose event is over it (%s) as API Gateway's bare 500, the function never run",
    async (_, body) => {
      const before = invoked.length;
      const answer = await post(body);
      expect(answer.status).toBe(500);
      expect(await answer.json()).toEqual({ message: "Internal Server Error" });
      expect(invoked.length).toBe(before);
    },
  );

  it("answers a function's result over it with a 500, as Lambda fails the invocation", async () => {
    const small = await fetch(`${server.url}/answer/${5 * 1024 * 1024}`);
    expect(small.status).toBe(200);
    expect((await small.text()).length).toBe(5 * 1024 * 1024);
    const big = await fetch(`${server.url}/answer/${7 * 1024 * 1024}`);
    expect(big.status).toBe(500);
    expect(await big.json()).toEqual({ message: "Internal Server Error" });
  });
});

describe("the local API server reading a function's result as payload 2.0 does", () => {
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let result: unknown;

  beforeAll(async () => {
    server = await startApiServer({
      host: "127.0.0.1",
      port: 0,
      routes: [{ routeKey: "GET /r", functionName: "r", timeoutSeconds: 5, handler: async () => result }],
    });
  });

  afterAll(async () => {
    await server.stop();
  });

  it("sends a JSON result without a statusCode whole, as a 200 JSON body", async () => {
    result = { ok: true, body: "not a response body" };
    const answer = await fetch(`${server.url}/r`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("application/json");
    expect(await answer.json()).toEqual({ ok: true, body: "not a response body" });
  });

  it("sends a string result as the body, and a structured one as it says", async () => {
    result = "plain";
    const plain = await fetch(`${server.url}/r`);
    expect([plain.status, await plain.text()]).toEqual([200, "plain"]);
    result = { statusCode: 409, body: '{"x":1}', headers: { "x-y": "z" } };
    const structured = await fetch(`${server.url}/r`);
    expect([structured.status, await structured.text(), structured.headers.get("x-y")]).toEqual([
      409,
      '{"x":1}',
      "z",
    ]);
  });

  it("sends a result's `cookies` as one Set-Cookie header each", async () => {
    // Prepare
    result = { statusCode: 200, body: "{}", cookies: ["a=1; Path=/", "b=2; HttpOnly"] };
    // Act
    const answer = await fetch(`${server.url}/r`);
    // Assess
    expect(answer.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; HttpOnly"]);
  });
});

describe("the local API server's integration timeout (30 s on API Gateway, shortened here)", () => {
  let server: Awaited<ReturnType<typeof startApiServer>>;
  const finished: string[] = [];
  // The function runs until the test lets it end: a 503 that arrives first came from the integration timeout,
  // however slow the machine, with no race between the timeout and a real sleep.
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let ended: () => void = () => undefined;
  const functionEnded = new Promise<void>((resolve) => {
    ended = resolve;
  });

  beforeAll(async () => {
    server = await startApiServer({
      host: "127.0.0.1",
      port: 0,
      integrationTimeoutMs: 300,
      routes: [
        {
          routeKey: "POST /slow",
          functionName: "slow",
          timeoutSeconds: 5,
          handler: async () => {
            await gate;
            finished.push("slow");
            ended();
            return { statusCode: 201, body: "{}" };
          },
        },
      ],
    });
  });

  afterAll(async () => {
    await server.stop();
  });

  it("answers API Gateway's 503 when a function runs past it, while the function goes on", async () => {
    // Act
    const answer = await fetch(`${server.url}/slow`, { method: "POST" });

    // Assess: the 503 came while the function was still running, and the function then went on to its end
    expect(answer.status).toBe(503);
    expect(await answer.json()).toEqual({ message: "Service Unavailable" });
    expect(finished).toEqual([]);
    release();
    await functionEnded;
    expect(finished).toEqual(["slow"]);
  });
});

describe("the local API server's request id", () => {
  it("answers with apigw-requestid, the event's requestContext.requestId, as an HTTP API does", async () => {
    const answer = await fetch(`${api.url}/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(answer.status).toBe(200);
    const id = seen.at(-1)?.requestContext.requestId;
    expect(id).toBeTruthy();
    expect(answer.headers.get("apigw-requestid")).toBe(id);
  });
});

describe("API Gateway's own answers, as the local API server gives them, against docs/openapi.json", () => {
  let server: Awaited<ReturnType<typeof startApiServer>>;
  const openApi = new OpenApiValidator();

  beforeAll(async () => {
    server = await startApiServer({
      host: "127.0.0.1",
      port: 0,
      routes: [
        {
          routeKey: "POST /v1/tasks",
          functionName: "add-task",
          timeoutSeconds: 5,
          handler: async () => ({ statusCode: 201, body: "{}" }),
        },
      ],
    });
  });

  afterAll(async () => {
    await server.stop();
  });

  it("a body past API Gateway's 10 MB: its own 413, a status and body the document allows", async () => {
    // Prepare: API Gateway refuses it itself, with its {"message"} body rather than the API's error shape.
    const body = " ".repeat(11 * 1024 * 1024);
    // Act
    const answer = await fetch(`${server.url}/v1/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const text = await answer.text();
    // Assess
    expect(answer.status).toBe(413);
    expect(openApi.problems("POST", "/v1/tasks", answer.status, text)).toEqual([]);
  });

  it("a request line and header values past API Gateway's 10,240 bytes: its own 431, a status and body the document allows", async () => {
    // Prepare: a header value alone over the quota (a long token beside the request line); the function never runs.
    const headers = { "content-type": "application/json", "x-padding": "p".repeat(10_240) };
    // Act
    const answer = await fetch(`${server.url}/v1/tasks`, { method: "POST", headers, body: "{}" });
    const text = await answer.text();
    // Assess
    expect(answer.status).toBe(431);
    expect(openApi.problems("POST", "/v1/tasks", answer.status, text)).toEqual([]);
  });

  it("an event past Lambda's 6 MiB: API Gateway's bare 500, a status and body the document allows", async () => {
    // Act: 7 MiB is under API Gateway's 10 MB, over what Lambda takes.
    const answer = await fetch(`${server.url}/v1/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: " ".repeat(7 * 1024 * 1024),
    });
    const text = await answer.text();
    // Assess
    expect(answer.status).toBe(500);
    expect(openApi.problems("POST", "/v1/tasks", answer.status, text)).toEqual([]);
  });
});
