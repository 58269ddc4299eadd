import { createHmac, randomBytes, randomUUID } from "node:crypto";
import diagnostics from "node:diagnostics_channel";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type AddressPolicy,
  type CallbackClient,
  createCallbackClient,
  type ResolveHost,
} from "#shared/adapters/callback-client.js";
import { deadLettersAtOnce, REFUSED_ON_RESOLUTION } from "#shared/domain/attempt-log.js";
import { hostFailed } from "#shared/domain/destination.js";
import { retentionExpiry } from "#shared/domain/task.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { resolvedAddressAllowed } from "#shared/security/ssrf.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { binding, QUEUE_ARN, testTopic } from "../../support/deliver-binding.js";
import { eventOf, fifoRecord, makeTask } from "../../support/factories.js";
import { MemoryMetrics } from "../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { type HostileReceiver, startHostileReceiver } from "../../support/hostile-receiver.js";
import { memoryLogger } from "../../support/logger.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";

/** A real HTTP receiver on 127.0.0.1; each test sets `route`. */
let server: Server;
let base: string;
let route: (req: IncomingMessage, body: string, res: ServerResponse) => void;
const hits: { path: string; headers: IncomingMessage["headers"]; body: string }[] = [];
let connections = 0;

const permissive: AddressPolicy = { isAllowed: () => true };
const clients: CallbackClient[] = [];
function client(policy: AddressPolicy = permissive, allowPlainHttp = true) {
  const c = createCallbackClient({ policy, allowPlainHttp });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      hits.push({ path: req.url ?? "", headers: req.headers, body });
      route(req, body, res);
    });
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  hits.length = 0;
  connections = 0;
  await Promise.all(clients.splice(0).map((c) => c.close()));
  server.closeAllConnections();
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const post = (c: CallbackClient, path: string, timeoutMs = 2_000) =>
  c.post({ url: `${base}${path}`, body: '{"x":1}', headers: { "punctual-topic": "demo" }, timeoutMs });

describe("callback client (real HTTP)", () => {
  it("2xx is success, with status and duration; keep-alive reuses one connection", async () => {
    route = (_req, _body, res) => res.writeHead(204).end();
    const c = client();
    const first = await post(c, "/hook");
    // (undici hands the connection back to its pool a tick after the body ends)
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await post(c, "/hook");
    expect(first).toMatchObject({ ok: true, status: 204 });
    expect(first.durationMs).toBeGreaterThanOrEqual(0);
    expect(second.ok).toBe(true);
    expect(connections).toBe(1);
    expect(hits[0]?.headers["content-type"]).toBe("application/json");
    expect(hits[0]?.headers["punctual-topic"]).toBe("demo");
  });

  it("keeps as many connections as it had in use at once, past its idle cap: a busy client does not reconnect every round", async () => {
    // Prepare: a cap of 2 idle connections, and a receiver that answers a round only once all of it arrived,
    // so each round has six callbacks in flight together.
    const round = 6;
    let held: ServerResponse[] = [];
    route = (_req, _body, res) => {
      held.push(res);
      if (held.length < round) return;
      for (const answer of held) answer.writeHead(204).end();
      held = [];
    };
    const c = createCallbackClient({ policy: permissive, allowPlainHttp: true, maxIdleSockets: 2 });
    clients.push(c);
    const oneRound = () => Promise.all(Array.from({ length: round }, () => post(c, "/busy")));
    await oneRound();
    await new Promise((resolve) => setTimeout(resolve, 5));

    // Act
    const second = await oneRound();

    // Assess: the second round reused the first round's six connections
    expect(second.map((r) => r.status)).toEqual(Array(round).fill(204));
    expect(connections).toBe(round);
  });

  it("with an idle cap of 0 never pools a connection", async () => {
    route = (_req, _body, res) => res.writeHead(204).end();
    const c = createCallbackClient({ policy: permissive, allowPlainHttp: true, maxIdleSockets: 0 });
    clients.push(c);
    await post(c, "/once");
    await new Promise((resolve) => setTimeout(resolve, 5));
    await post(c, "/twice");
    expect(connections).toBe(2);
  });

  it("non-2xx is a failure `HTTP <status>`", async () => {
    route = (_req, _body, res) => res.writeHead(503).end("overloaded");
    expect(await post(client(), "/hook")).toMatchObject({ ok: false, status: 503, error: "HTTP 503" });
  });

  it("a 429 or 503 carries its Retry-After as sent; other answers do not", async () => {
    const answers: Record<string, [number, string]> = {
      "/429": [429, "Wed, 21 Oct 2026 07:28:00 GMT"],
      "/503": [503, "120"],
      "/500": [500, "120"],
    };
    route = (req, _body, res) => {
      const [status, retryAfter] = answers[req.url ?? ""] ?? [200, ""];
      res.writeHead(status, { "retry-after": retryAfter }).end();
    };
    const c = client();
    expect(await post(c, "/429")).toMatchObject({ status: 429, retryAfter: "Wed, 21 Oct 2026 07:28:00 GMT" });
    expect(await post(c, "/503")).toMatchObject({ status: 503, retryAfter: "120" });
    expect((await post(c, "/500")).retryAfter).toBeUndefined();
  });

  it("informational answers before the final one (100 Continue, 103 Early Hints) do not decide: the final status does", async () => {
    route = (_req, _body, res) => {
      res.writeContinue();
      res.writeEarlyHints({ link: "</style.css>; rel=preload; as=style" });
      res.writeHead(204).end();
    };
    expect(await post(client(), "/hook")).toMatchObject({ ok: true, status: 204 });
    route = (_req, _body, res) => {
      res.writeEarlyHints({ link: "</style.css>; rel=preload; as=style" });
      res.writeHead(503).end();
    };
    expect(await post(client(), "/hook")).toMatchObject({ ok: false, status: 503, error: "HTTP 503" });
  });

  it("does not follow redirects (3xx is a failure and the target is never called)", async () => {
    route = (req, _body, res) => {
      if (req.url === "/hook") res.writeHead(302, { location: `${base}/internal` }).end();
      else res.writeHead(200).end();
    };
    expect(await post(client(), "/hook")).toMatchObject({ ok: false, status: 302, error: "HTTP 302" });
    expect(hits.map((h) => h.path)).toEqual(["/hook"]);
  });

  it("honours the timeout (a receiver that never answers)", async () => {
    route = () => undefined; // never responds
    const started = Date.now();
    const result = await post(client(), "/slow", 200);
    expect(result).toMatchObject({ ok: false, error: "timeout after 200 ms" });
    expect(result.status).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("a 2xx with a huge body is still a success; the body is discarded, and the client keeps working", async () => {
    route = (_req, _body, res) => res.writeHead(200).end(Buffer.alloc(2 * 1024 * 1024, 97));
    const c = client();
    expect(await post(c, "/big")).toMatchObject({ ok: true, status: 200 });
    route = (_req, _body, res) => res.writeHead(200).end("ok");
    expect(await post(c, "/after")).toMatchObject({ ok: true, status: 200 });
  });

  it("network failures are reported by code", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await client().post({
      url: `http://127.0.0.1:${port}/`,
      body: "{}",
      headers: {},
      timeoutMs: 2_000,
    });
    expect(result).toMatchObject({ ok: false, error: "network: connection refused (ECONNREFUSED)" });

    route = (req) => req.socket.destroy();
    expect((await post(client(), "/reset")).error).toMatch(/^network: /);
  });

  it("refuses addresses the policy does not allow, before connecting", async () => {
    route = (_req, _body, res) => res.writeHead(200).end();
    const seen: [string, string][] = [];
    const denyAll: AddressPolicy = {
      isAllowed: (host, ip) => {
        seen.push([host, ip]);
        return false;
      },
    };
    const result = await post(client(denyAll), "/hook");
    expect(result.ok).toBe(false);
    expect(result).toMatchObject({
      ok: false,
      refused: true,
      error:
        "destination refused by policy: a non-public address not named in the topic's allowed callback hosts",
      detail: "address 127.0.0.1",
    });
    expect(seen).toEqual([["127.0.0.1", "127.0.0.1"]]);
    expect(connections).toBe(0);
  });

  it("checks the resolved address of a host name with the SSRF rules (loopback only when named explicitly)", async () => {
    route = (_req, _body, res) => res.writeHead(200).end();
    const port = (server.address() as AddressInfo).port;
    const url = `http://localhost:${port}/hook`;
    const request = { url, body: "{}", headers: {}, timeoutMs: 2_000 };

    const wildcardOnly = { allowedCallbackHosts: ["*"], allowHttpCallbacks: true };
    const refused = await client({ isAllowed: (h, ip) => resolvedAddressAllowed(h, ip, wildcardOnly) }).post(
      request,
    );
    // The stored error names no address (a caller could read it back: a DNS oracle); the log detail does.
    expect(refused).toMatchObject({
      ok: false,
      refused: true,
      error: "destination refused by policy: host resolves to a non-public address",
    });
    expect(refused.detail).toMatch(/^localhost resolves to /);

    // Only 127.0.0.1 is named: a `localhost` that also resolves to ::1 must be dialled on 127.0.0.1.
    const named = { allowedCallbackHosts: ["127.0.0.1"], allowHttpCallbacks: true };
    const allowed = await client({ isAllowed: (h, ip) => resolvedAddressAllowed(h, ip, named) }).post(
      request,
    );
    expect(allowed).toMatchObject({ ok: true, status: 200 });
  });

  it("IPv6 literal hosts are checked by the policy without brackets and dialled as given", async (ctx) => {
    // Prepare: a receiver on ::1 (skipped where the machine has no IPv6 loopback).
    const v6 = createServer((_req, res) => res.writeHead(204).end());
    const listening = await new Promise<boolean>((resolve) => {
      v6.once("error", () => resolve(false));
      v6.listen(0, "::1", () => resolve(true));
    });
    if (!listening) ctx.skip();
    const url = `http://[::1]:${(v6.address() as AddressInfo).port}/hook`;
    const seen: [string, string][] = [];
    const recording = (allow: boolean): AddressPolicy => ({
      isAllowed: (host, ip) => {
        seen.push([host, ip]);
        return allow;
      },
    });

    // Act
    const refused = await client(recording(false)).post({ url, body: "{}", headers: {}, timeoutMs: 2_000 });
    const allowed = await client(recording(true)).post({ url, body: "{}", headers: {}, timeoutMs: 2_000 });
    v6.closeAllConnections();
    await new Promise<void>((resolve) => v6.close(() => resolve()));

    // Assess
    expect(refused.error).toBe(
      "destination refused by policy: a non-public address not named in the topic's allowed callback hosts",
    );
    expect(refused.refused).toBe(true);
    expect(allowed).toMatchObject({ ok: true, status: 204 });
    expect(seen).toEqual([
      ["::1", "::1"],
      ["::1", "::1"],
    ]);
  });

  /**
   * The receiver answers the first request on each connection; `later` decides what happens to the ones after
   * it on a kept-alive connection: closed without a response, as when its idle timeout (shorter than the client's
   * 4 s and not announced in a Keep-Alive header) fires just as the client reuses the connection; or (`junk`)
   * answered behind `written`, bytes that are no answer, as when a previous answer's bytes past its Content-Length,
   * written after it, arrive once the next request is on the connection; or (`bad-head`) answered with `written`, an
   * answer Node cannot read whose receiver has the request (a status line Node reads and a head it does not, or a
   * status line spelled otherwise); or (`cut-head`) answered with `written`, the start of an answer, and closed; or
   * (`408`) answered 408 Request Timeout and closed, as servers do whose idle timeout fires as the request comes.
   * `-all`: every request after the first.
   */
  function closingKeptAlive(
    later: "close" | "close-all" | "junk" | "junk-all" | "bad-head" | "cut-head" | "408" | "408-all",
    written = later === "bad-head"
      ? "HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n"
      : "left over\r\n",
  ) {
    const served = new WeakSet<object>();
    route = (req, _body, res) => {
      if (later.endsWith("-all") ? hits.length === 1 : !served.has(req.socket)) {
        served.add(req.socket);
        res.writeHead(204).end();
      } else if (later.startsWith("close")) req.socket.end();
      else if (later.startsWith("408")) res.writeHead(408, { connection: "close" }).end();
      else if (later === "cut-head") req.socket.end(written);
      else if (later === "bad-head") req.socket.write(written);
      else {
        req.socket.write(written);
        res.writeHead(204).end();
      }
    };
  }

  it("a kept-alive connection the receiver closed as it was reused is retried once on a new connection", async () => {
    // Prepare
    closingKeptAlive("close");
    const c = client();
    await post(c, "/hook");

    // Act
    const result = await post(c, "/hook");

    // Assess: one attempt, delivered; the request went out again (same signed bytes) on a new connection
    expect(result).toMatchObject({ ok: true, status: 204 });
    expect(connections).toBe(2);
    expect(hits).toHaveLength(3);
    expect(hits[2]?.headers).toEqual(hits[1]?.headers);
  });

  it("…on a new connection, not on another kept-alive one the receiver has closed as well", async () => {
    // Prepare: two kept-alive connections (two callbacks at once), both of which the receiver closes on reuse, as
    // when its idle timeout fires for all of them (they went idle together)
    closingKeptAlive("close");
    const c = client();
    await Promise.all([post(c, "/hook"), post(c, "/hook")]);
    const pooled = connections;

    // Act
    const result = await post(c, "/hook");

    // Assess: delivered in one attempt, the second sending on a connection of its own
    expect(pooled).toBe(2);
    expect(result).toMatchObject({ ok: true, status: 204 });
    expect(connections).toBe(3);
    expect(hits).toHaveLength(4);
    expect(hits[3]?.headers).toEqual(hits[2]?.headers);
  });

  it("…once only, and never for a new connection closed without a response", async () => {
    // Prepare
    closingKeptAlive("close-all");
    const c = client();
    await post(c, "/hook");

    // Act
    const result = await post(c, "/hook");
    const fresh = await post(client(), "/hook");

    // Assess
    expect(result).toEqual({
      ok: false,
      error: "network: connection closed without a response",
      durationMs: expect.any(Number),
    });
    expect(fresh.error).toBe("network: connection closed without a response");
    expect(hits).toHaveLength(4);
  });

  it("a 408 Request Timeout on a kept-alive connection is sent once more on a new connection (RFC 9110 §15.5.9)", async () => {
    // Prepare: the receiver's idle timeout fires as the connection is reused, and it says so with a 408
    closingKeptAlive("408");
    const c = client();
    await post(c, "/hook");

    // Act
    const result = await post(c, "/hook");

    // Assess: one attempt, delivered; the same signed request on a new connection
    expect(result).toMatchObject({ ok: true, status: 204 });
    expect(connections).toBe(2);
    expect(hits).toHaveLength(3);
    expect(hits[2]?.headers).toEqual(hits[1]?.headers);
  });

  it("…once only, and a 408 on a new connection is the receiver's answer", async () => {
    // Prepare
    closingKeptAlive("408-all");
    const c = client();
    await post(c, "/hook");

    // Act
    const result = await post(c, "/hook");
    const fresh = await post(client(), "/hook");

    // Assess
    expect(result).toMatchObject({ ok: false, status: 408, error: "HTTP 408" });
    expect(fresh).toMatchObject({ ok: false, status: 408, error: "HTTP 408" });
    expect(hits).toHaveLength(4);
  });

  // What a receiver's leftovers may begin with (RELIABILITY.md names each; llhttp gives HPE_INVALID_CONSTANT for all).
  it.each([["left over\r\n"], ["x"], ['{"ok":true}'], ["0\r\n\r\n"], [" "], ["\0"], ["\r\nHello"]])(
    "a kept-alive connection on which the answer comes behind bytes that are no answer (%j) is retried once on a new connection",
    async (junk) => {
      // Prepare: the receiver's bytes ahead of its answer on a reused connection make it unreadable (llhttp's HPE_*)
      closingKeptAlive("junk", junk);
      const c = client();
      await post(c, "/hook");

      // Act
      const result = await post(c, "/hook");

      // Assess: one attempt, delivered, as for a connection closed under the request: the request went out again
      // (same signed bytes) on a new connection, where the receiver's answer is its own
      expect(result).toMatchObject({ ok: true, status: 204 });
      expect(connections).toBe(2);
      expect(hits).toHaveLength(3);
      expect(hits[2]?.headers).toEqual(hits[1]?.headers);
    },
  );

  it("…once only, and an unreadable answer on a new connection is a failed attempt", async () => {
    // Prepare
    closingKeptAlive("junk-all");
    const c = client();
    await post(c, "/hook");

    // Act
    const result = await post(c, "/hook");
    const fresh = await post(client(), "/hook");

    // Assess
    expect(result).toEqual({
      ok: false,
      error: "malformed answer: not an HTTP status line (HPE_INVALID_CONSTANT)",
      durationMs: expect.any(Number),
    });
    expect(fresh.error).toBe("malformed answer: not an HTTP status line (HPE_INVALID_CONSTANT)");
    expect(hits).toHaveLength(4);
  });

  // The three heads RELIABILITY.md names; each code checked the same on Node 20.20.2 and 22.23.5 (the resend keys on
  // llhttp's code, and the functions run on nodejs22.x while the tests run on 20 or 22).
  it.each([
    ["a header Node refuses", undefined, "invalid character in a header (HPE_INVALID_HEADER_TOKEN)"],
    [
      "two Content-Lengths",
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
      "Content-Length given more than once (HPE_UNEXPECTED_CONTENT_LENGTH)",
    ],
    [
      "a head past 16 KiB",
      `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(17 * 1024)}\r\nContent-Length: 0\r\n\r\n`,
      "headers too large (HPE_HEADER_OVERFLOW)",
    ],
  ])(
    "…but not an answer whose status line came and whose head Node cannot read (%s): the receiver has the request",
    async (_case, head, text) => {
      // Prepare: on a reused connection the receiver answers 200 with a head Node refuses; nothing came ahead of
      // it, so it is this request's own answer, and the receiver may have acted on the request
      closingKeptAlive("bad-head", head);
      const c = client();
      await post(c, "/hook");

      // Act
      const result = await post(c, "/hook");

      // Assess: a failed attempt without a status, as on a new connection; the receiver got the request once (it was
      // sent again at once, a second delivery within the one attempt)
      expect(result).toEqual({
        ok: false,
        error: `malformed answer: ${text}`,
        durationMs: expect.any(Number),
      });
      expect(hits).toHaveLength(2);
    },
  );

  // Each gives HPE_INVALID_CONSTANT on Node 20.20.2 and 22.23.3, as leftovers ahead of an answer do.
  it.each([
    ["lowercase", "http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
    ["capitalised", "Http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
    ["partly lowercase, after CR/LF", "\r\nHTTp/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
    ["SHOUTcast's ICY", "ICY 200 OK\r\nContent-Length: 0\r\n\r\n"],
    ["lowercase RTSP", "rtsp/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"],
    // All the client reads is a lone `h`: the start of `http/` as much as of leftovers, so the safe side (once)
    ["its first byte alone, `h`", "h"],
  ])(
    "…nor an answer whose status line is spelled otherwise (%s): the receiver has the request",
    async (_case, head) => {
      // Prepare: on a reused connection the receiver answers 200 in a spelling Node refuses where it reads the
      // protocol name, as it refuses leftovers there; but nothing came ahead of it: the receiver read the request
      closingKeptAlive("bad-head", head);
      const c = client();
      await post(c, "/hook");

      // Act
      const result = await post(c, "/hook");

      // Assess: a failed attempt, and the receiver got the request once
      expect(result).toEqual({
        ok: false,
        error: "malformed answer: not an HTTP status line (HPE_INVALID_CONSTANT)",
        durationMs: expect.any(Number),
      });
      expect(hits).toHaveLength(2);
      expect(connections).toBe(1);
    },
  );

  it.each([
    ["a status line", "HTTP/1.1 200 OK\r\n"],
    ["a status line and part of the head", "HTTP/1.1 200 OK\r\nContent-Len"],
    ["the start of a status line", "HTTP/1.1 2"],
  ])(
    "…nor a kept-alive connection closed once the answer began (%s): the receiver has the request",
    async (_case, head) => {
      // Prepare: on a reused connection the receiver starts its answer and closes (it crashed answering)
      closingKeptAlive("cut-head", head);
      const c = client();
      await post(c, "/hook");

      // Act
      const result = await post(c, "/hook");

      // Assess: a failed attempt, and the receiver got the request once (not again at once on a new connection)
      expect(result).toMatchObject({ ok: false });
      expect(hits).toHaveLength(2);
      expect(connections).toBe(1);
    },
  );

  it("refuses plain http unless allowed, and invalid URLs", async () => {
    const c = client(permissive, false);
    expect(await post(c, "/hook")).toMatchObject({
      refused: true,
      error: "destination refused by policy: http: callbacks are not allowed",
    });
    expect((await c.post({ url: "not a url", body: "{}", headers: {}, timeoutMs: 100 })).error).toBe(
      "destination refused by policy: invalid callback URL",
    );
    expect(hits).toEqual([]);
  });
});

describe.each([1, 10])("deliver with the real callback client at groupConcurrency %i", (groupConcurrency) => {
  it("the receiver verifies the signature with standardwebhooks (both secrets during a rotation)", async () => {
    const current = `whsec_${randomBytes(32).toString("base64")}`;
    const previous = `whsec_${randomBytes(32).toString("base64")}`;
    const verified: unknown[] = [];
    route = (req, body, res) => {
      const headers = req.headers as Record<string, string>;
      try {
        verified.push(new Webhook(current).verify(body, headers));
        verified.push(new Webhook(previous).verify(body, headers));
        res.writeHead(200).end();
      } catch {
        res.writeHead(401).end();
      }
    };
    const store = new MemoryTaskStore();
    const now = Date.now();
    const task = makeTask({
      group: "o-1",
      dueAtMs: now - 100,
      acceptedAtMs: now - 5_000,
      status: "queued",
      content: '{"order_id":"o-1","total":42}',
      callbackUrl: `${base}/callbacks/orders?x=1`,
    });
    await store.putNew(task);
    const topic = testTopic({ allowedCallbackHosts: ["127.0.0.1"], allowHttpCallbacks: true });
    const real = client({ isAllowed: (h, ip) => resolvedAddressAllowed(h, ip, topic) });
    const signer = new CallbackSigner([current, previous]);

    const response = await deliverBatch(
      {
        store,
        topicQueue: new FakeTopicQueue(),
        bindingFor: (arn) => (arn === QUEUE_ARN ? binding(topic) : undefined),
        callbackClientFor: () => real,
        signer: async () => signer,
        metrics: new MemoryMetrics(),
        logger: memoryLogger(),
        groupConcurrency,
      },
      eventOf(fifoRecord(task)),
      { getRemainingTimeInMillis: () => 30_000 },
    );

    expect(response).toEqual({ batchItemFailures: [] });
    expect(hits).toHaveLength(1);
    const hit = hits[0];
    expect(hit?.path).toBe("/callbacks/orders?x=1");
    expect(hit?.headers).toMatchObject({
      "content-type": "application/json",
      "webhook-id": task.taskId,
      "punctual-attempt": "1",
      "punctual-topic": "demo",
    });
    expect(String(hit?.headers["webhook-signature"]).split(" ")).toHaveLength(2);
    expect(verified).toHaveLength(2);
    expect(verified[0]).toEqual({
      task_id: task.taskId,
      topic: "demo",
      due_at: new Date(task.dueAtMs).toISOString(),
      attempt: 1,
      content: { order_id: "o-1", total: 42 },
    });
    const stored = store.tasks.get(task.taskId);
    expect(stored?.status).toBe("delivered");
    expect(stored?.expiresAt).toBeGreaterThanOrEqual(retentionExpiry(now, 3));
  });

  it("the signature covers exactly the bytes sent, and the body carries the stored content text verbatim", async () => {
    // Prepare: content a JSON.parse round trip would change (numbers, order, escapes), and multi-byte text
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    const content =
      '{"b":12345678901234567890,"2":-0,"1":1e400,"é":"😀\u2028","lone":"\\ud83d","x":[1.0,{"10":0,"9":1}]}';
    route = (_req, _body, res) => res.writeHead(204).end();
    const store = new MemoryTaskStore();
    const now = Date.now();
    const task = makeTask({
      dueAtMs: now - 100,
      acceptedAtMs: now - 5_000,
      status: "queued",
      content,
      callbackUrl: `${base}/hook`,
    });
    await store.putNew(task);
    const topic = testTopic({ allowedCallbackHosts: ["127.0.0.1"], allowHttpCallbacks: true });
    const real = client({ isAllowed: (h, ip) => resolvedAddressAllowed(h, ip, topic) });

    // Act
    await deliverBatch(
      {
        store,
        topicQueue: new FakeTopicQueue(),
        bindingFor: (arn) => (arn === QUEUE_ARN ? binding(topic) : undefined),
        callbackClientFor: () => real,
        signer: async () => new CallbackSigner([secret]),
        metrics: new MemoryMetrics(),
        logger: memoryLogger(),
        groupConcurrency,
      },
      eventOf(fifoRecord(task)),
      { getRemainingTimeInMillis: () => 30_000 },
    );

    // Assess: an HMAC of the bytes as received (Content-Length of them) is the signature sent
    const hit = hits[0];
    const headers = (hit?.headers ?? {}) as Record<string, string>;
    const bytes = Buffer.from(hit?.body ?? "", "utf8");
    expect(Number(headers["content-length"])).toBe(bytes.length);
    const key = Buffer.from(secret.slice("whsec_".length), "base64");
    const signed = Buffer.concat([
      Buffer.from(`${headers["webhook-id"]}.${headers["webhook-timestamp"]}.`),
      bytes,
    ]);
    expect(headers["webhook-signature"]).toBe(
      `v1,${createHmac("sha256", key).update(signed).digest("base64")}`,
    );
    expect(hit?.body.endsWith(`"content":${content}}`)).toBe(true);
    expect(store.tasks.get(task.taskId)?.status).toBe("delivered");
  });
});

describe("callback client against a hostile receiver: every attempt settles by its deadline", () => {
  // A short callback timeout keeps the test fast; the assertions are that the attempt settled and how.
  const TIMEOUT_MS = 300;
  let hostile: HostileReceiver;

  beforeAll(async () => {
    hostile = await startHostileReceiver({ trickleEveryMs: 100 });
  });

  afterAll(async () => {
    await hostile?.stop();
  });

  const attempt = (c: CallbackClient, path: string) =>
    c.post({ url: `${hostile.url}${path}`, body: '{"x":1}', headers: {}, timeoutMs: TIMEOUT_MS });

  it.each([
    ["upgrade", "receiver switched protocols (101)"],
    ["close", "network: connection closed without a response"],
    ["half-headers", `timeout after ${TIMEOUT_MS} ms`],
    ["trickle-headers", `timeout after ${TIMEOUT_MS} ms`],
    ["endless-1xx", "receiver sent more than 10 informational (1xx) responses"],
    ["slow-1xx", `timeout after ${TIMEOUT_MS} ms`],
    ["huge-1xx", "receiver sent more than 10 informational (1xx) responses"],
    ["continue-upgrade", "receiver switched protocols (101)"],
    ["blank-lines", "receiver sent more than 256 KiB without an answer"],
    ["silent", `timeout after ${TIMEOUT_MS} ms`],
  ] as const)("%s → settles as a failed attempt: %s", async (mode, error) => {
    // Prepare
    const c = client();

    // Act
    const result = await attempt(c, `/${mode}/${randomUUID()}`);
    await hostile.connectionsClosed();

    // Assess: settled, with the reason and no status; the connection was not left open.
    expect(result).toEqual({ ok: false, error, durationMs: expect.any(Number) });
    expect(hostile.requests.at(-1)?.mode).toBe(mode);
  });

  it.each(["trickle", "endless-close-delimited"] as const)(
    "%s: a 200 whose body is still arriving at the deadline is a delivery: the status line is the answer, and the connection is closed",
    async (mode) => {
      // Prepare: a body framed by its length, or by the connection's close (HTTP/1.0, no length), either never ending
      const c = client();

      // Act
      const result = await attempt(c, `/${mode}/${randomUUID()}`);
      await hostile.connectionsClosed();

      // Assess: settled by the deadline as the 200 it was (a retry would call a receiver that said yes again)
      expect(result).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
      expect(hostile.requests.at(-1)?.mode).toBe(mode);
    },
  );

  it("an HTTP/1.0 answer without a length is a delivery once the receiver closes its body; the next callback goes on a new connection", async () => {
    // Prepare
    const c = client();
    const path = `/close-delimited/1/${randomUUID()}`;

    // Act
    const result = await attempt(c, path);
    const next = await attempt(c, path);

    // Assess: the close that ends the body ends the connection too (nothing to reuse)
    expect(result).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
    expect(next).toMatchObject({ ok: true, status: 200 });
    const received = hostile.requests.filter((r) => r.path === path);
    expect(received.map((r) => r.mode)).toEqual(["close-delimited", "ok"]);
    expect(received[0]?.connection).not.toBe(received[1]?.connection);
  });

  it("a bare 101 (no upgrade negotiated) settles as a failed attempt with its status, and counts as a host failure", async () => {
    // Prepare
    const c = client();

    // Act
    const result = await attempt(c, `/bare-101/${randomUUID()}`);

    // Assess: never a success, and never "a host that is up" (as a 4xx would be) for the circuit breaker
    expect(result).toMatchObject({ ok: false, status: 101 });
    expect(hostFailed(result)).toBe(true);
  });

  it("a bare 101 leaves no connection behind for the next callback: the receiver said it stopped speaking HTTP on it", async () => {
    // Prepare: a receiver that answers its first connection's request with a bare 101 and then reads that
    // connection as the protocol it switched to (it never answers HTTP there again), every other connection's with
    // a 204
    const receiver = await startSwitchingReceiver();
    const c = client();
    const send = () => c.post({ url: receiver.url, body: "{}", headers: {}, timeoutMs: TIMEOUT_MS });

    try {
      // Act
      const switched = await send();
      const next = await send();

      // Assess: the next callback went on a new connection and got the receiver's answer, not a timeout on the
      // connection that was no longer HTTP (RFC 9110 §15.2.2: the protocol changes right after the 101's head)
      expect(switched).toMatchObject({ ok: false, status: 101 });
      expect(next).toEqual({ ok: true, status: 204, durationMs: expect.any(Number) });
      expect(receiver.requestsPerConnection()).toEqual([1, 1]);
    } finally {
      await receiver.stop();
    }
  });

  it.each([
    ["status-999", 999],
    ["status-000", 0],
  ] as const)(
    "%s: a final status outside 100–599 is a failed attempt and a host failure",
    async (mode, status) => {
      // Prepare
      const c = client();

      // Act
      const result = await attempt(c, `/${mode}/${randomUUID()}`);

      // Assess: never a success, never "a host that is up"
      expect(result).toEqual({ ok: false, status, error: `HTTP ${status}`, durationMs: expect.any(Number) });
      expect(hostFailed(result)).toBe(true);
    },
  );

  it.each([
    "http09",
    "both-lengths",
    "two-lengths",
    "same-length-twice",
    "negative-length",
    "huge-head",
  ] as const)(
    "%s: an answer Node cannot read as HTTP/1.1 is a failed attempt without a status (retried, a host failure)",
    async (mode) => {
      // Prepare
      const c = client();

      // Act
      const result = await attempt(c, `/${mode}/${randomUUID()}`);
      await hostile.connectionsClosed();

      // Assess: the parser's refusal, not an answer: no status, so no 2xx can be read into it
      expect(result).toEqual({
        ok: false,
        error: expect.stringMatching(/^malformed answer: [^()]+ \(HPE_[A-Z_]+\)$/),
        durationMs: expect.any(Number),
      });
      expect(hostFailed(result)).toBe(true);
    },
  );

  it("an answer pipelined after a complete one is never read as the next callback's: the connection is dropped", async () => {
    // Prepare: the receiver answers 200 and, in the same write, a 500 for a request not yet sent, and keeps the
    // connection open
    const c = client();
    const path = `/pipelined/1/${randomUUID()}`;

    // Act
    const first = await attempt(c, path);
    await hostile.connectionsClosed();
    const next = await attempt(c, path);

    // Assess: the first answer stands; the client closed the poisoned connection itself, and the next callback got
    // its own answer on a new one, not the smuggled 500
    expect(first).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
    expect(next).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
    expect(hostile.requests.filter((r) => r.path === path).map((r) => r.mode)).toEqual(["pipelined", "ok"]);
  });

  it("a status line spelled otherwise (`http/1.1 200 OK`) on a reused connection is a failed attempt: the receiver gets the callback once", async () => {
    // Prepare: a kept-alive connection (a well-formed 200, left open), on which the receiver answers the next
    // request with a lowercase status line: Node reads none of it (HPE_INVALID_CONSTANT), as for a previous answer's
    // leftovers, but the receiver has read this request and may have acted on it
    const c = client();
    const lingering = `/linger/${randomUUID()}`;
    const primed = await attempt(c, lingering);
    const path = `/lowercase-status/${randomUUID()}`;

    // Act
    const result = await attempt(c, path);

    // Assess: a failed attempt, as on a new connection; not sent again at once (the receiver would get it twice
    // within one attempt)
    expect(primed).toMatchObject({ ok: true, status: 200 });
    expect(result).toEqual({
      ok: false,
      error: "malformed answer: not an HTTP status line (HPE_INVALID_CONSTANT)",
      durationMs: expect.any(Number),
    });
    const received = hostile.requests.filter((r) => r.path === path);
    expect(received.map((r) => r.mode)).toEqual(["lowercase-status"]);
    expect(received[0]?.connection).toBe(hostile.requests.find((r) => r.path === lingering)?.connection);
  });

  it("a huge body is read only up to the cap: the 2xx stands and the connection is closed", async () => {
    const c = createCallbackClient({ policy: permissive, allowPlainHttp: true, maxResponseBytes: 1024 });
    clients.push(c);

    const result = await attempt(c, `/huge/${randomUUID()}`);
    await hostile.connectionsClosed();

    expect(result).toMatchObject({ ok: true, status: 200 });
  });

  it.each([
    ["no-content-body", 204],
    ["past-length", 200],
    ["cut-short", 200],
    ["cut-chunked", 200],
    ["bad-chunk", 200],
    ["chunk-overflow", 200],
  ] as const)(
    "%s: once the head is in, what befalls the body spoils the connection, not the answer (%i stands)",
    async (mode, status) => {
      // Prepare
      const c = client();
      const path = `/${mode}/1/${randomUUID()}`;

      // Act
      const result = await attempt(c, path);
      const next = await attempt(c, path);

      // Assess: the status line decides, as the chaos receiver's `truncated` answer says (any 2xx, however it
      // arrives, is a delivery: a retry would call a receiver that already said yes); the next call is fine.
      expect(result).toEqual({ ok: true, status, durationMs: expect.any(Number) });
      expect(next).toMatchObject({ ok: true, status: 200 });
    },
  );

  /** A client whose every host name resolves to the hostile receiver (a receiver behind many names). */
  function lingeringClient(limits: { idleSocketMs?: number; maxIdleSockets?: number }) {
    const c = createCallbackClient({
      policy: permissive,
      allowPlainHttp: true,
      lookup: async () => [{ address: "127.0.0.1", family: 4 }],
      ...limits,
    });
    clients.push(c);
    const port = new URL(hostile.url).port;
    const post = (name: string) =>
      c.post({
        url: `http://${name}:${port}/linger/${randomUUID()}`,
        body: "{}",
        headers: {},
        timeoutMs: 2_000,
      });
    return { post };
  }

  it("a kept-alive connection the receiver never closes is closed by the client once idle", async () => {
    // Prepare
    const { post } = lingeringClient({ idleSocketMs: 50 });

    // Act
    const result = await post("hooks.example.com");

    // Assess: without an idle limit the connection would stay open for the container's life
    expect(result).toMatchObject({ ok: true, status: 200 });
    await hostile.connectionsClosed();
  });

  it("a kept-alive connection the receiver writes to while it is idle is closed at once, not kept past the idle timeout", async () => {
    // Prepare: an idle timeout far longer than the test; the receiver writes a byte to the idle connection every
    // 100 ms, and each read used to reset the inactivity timer that closes idle connections, so it stayed open for
    // good (up to the idle cap of them, per client)
    const c = createCallbackClient({ policy: permissive, allowPlainHttp: true, idleSocketMs: 60_000 });
    clients.push(c);
    const path = `/idle-trickle/1/${randomUUID()}`;

    // Act
    const first = await attempt(c, path);
    await hostile.connectionsClosed();
    const next = await attempt(c, path);

    // Assess: bytes nobody asked for answer nothing: the client closed the connection on the first of them, and
    // the next callback went on a new connection
    expect(first).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
    expect(next).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
    expect(hostile.requests.filter((r) => r.path === path).map((r) => r.mode)).toEqual([
      "idle-trickle",
      "ok",
    ]);
  });

  it("idle connections are capped across hosts, so many lingering receivers cannot use up file descriptors", async () => {
    // Prepare: each name is its own keep-alive pool; the receiver never closes a connection
    const { post } = lingeringClient({ maxIdleSockets: 2 });

    // Act
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await post(`h${i}.example.com`));

    // Assess: every callback delivered, and only two connections kept
    expect(results.map((r) => r.status)).toEqual(Array(6).fill(200));
    await hostile.connectionsOpenAtMost(2);
  });

  it("the client keeps working after a hostile exchange (the receiver fixed on the second request)", async () => {
    const c = client();
    const path = `/upgrade/1/${randomUUID()}`;

    const first = await attempt(c, path);
    const second = await attempt(c, path);

    expect(first.error).toBe("receiver switched protocols (101)");
    expect(second).toMatchObject({ ok: true, status: 200 });
    expect(hostile.requests.filter((r) => r.path === path).map((r) => r.mode)).toEqual(["upgrade", "ok"]);
  });

  it("a header Node refuses to send is a failed attempt, not a thrown error", async () => {
    const result = await client().post({
      url: `${hostile.url}/ok/x`,
      body: "{}",
      headers: { "punctual-topic": "a\r\nb" },
      timeoutMs: TIMEOUT_MS,
    });

    expect(result).toEqual({
      ok: false,
      error: "invalid request: a header value has a character HTTP forbids (ERR_INVALID_CHAR)",
      durationMs: 0,
    });
  });

  // Real time on real sockets is the point (the client's 2 s deadline cuts the connection): the wait past it
  // and the read after (capped at 3 s) can outlast vitest's 5 s default; 2.6–3.4 s measured on a loaded host.
  it.each([200, 503])(
    "an answer (%i) given before the request body was read: a receiver that stops reading holds the connection only until the deadline",
    async (status) => {
      // Prepare: a receiver that answers on the request's first bytes and then stops reading, with a body larger
      // than the kernel's socket buffers (a receiver shrinking its TCP window gets there with a much smaller one);
      // idle connections would be closed after 10 s, so only the deadline can end this one sooner
      const stalled = await startEarlyAnswerReceiver(status);
      const body = JSON.stringify({ x: "a".repeat(16 * 1024 * 1024) });
      const c = createCallbackClient({ policy: permissive, allowPlainHttp: true, idleSocketMs: 10_000 });
      clients.push(c);

      // Act: the receiver reads again well after the attempt's 2 s deadline
      const result = await c.post({ url: stalled.url, body, headers: {}, timeoutMs: 2_000 });
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const { ended, bytesRead } = await stalled.readToEnd(3_000);
      await stalled.stop();

      // Assess: the answer stands, and the client let go of the connection at the deadline — the rest of the
      // body, which nobody was reading, was dropped instead of pinning a socket (and a file descriptor) for good
      expect(result).toMatchObject({ status, ok: status === 200 });
      expect(ended).toBe(true);
      expect(bytesRead).toBeLessThan(Buffer.byteLength(body));
    },
    15_000,
  );

  // Its read of 16 MiB is capped at 8 s, past vitest's 5 s default: a slow read must fail on what it read,
  // not time out.
  it("an answer given before the request body was read: a receiver that reads the body afterwards gets all of it", async () => {
    // Prepare: the receiver answers on the first bytes, pauses, then reads on (as a server acknowledging early may);
    // the client closes a connection 300 ms after it is idle, which ends the reading
    const early = await startEarlyAnswerReceiver(200);
    const body = JSON.stringify({ x: "a".repeat(16 * 1024 * 1024) });
    const c = createCallbackClient({ policy: permissive, allowPlainHttp: true, idleSocketMs: 300 });
    clients.push(c);

    // Act
    const result = await c.post({ url: early.url, body, headers: {}, timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { ended, bytesRead } = await early.readToEnd(8_000);
    await early.stop();

    // Assess: the answer stands and the whole body arrived (head and body: more bytes than the body alone)
    expect(result).toMatchObject({ ok: true, status: 200 });
    expect(ended).toBe(true);
    expect(bytesRead).toBeGreaterThan(Buffer.byteLength(body));
  }, 20_000);

  it.each([
    [200, { ok: true, status: 200 }],
    [503, { ok: false, status: 503, error: "HTTP 503" }],
  ] as const)(
    "an answer (%i) given before the request body was read, then a reset while the body is still going out: the answer stands, sent once",
    async (status, expected) => {
      // Prepare: a receiver that answers on the request's first bytes and resets the connection when more arrive
      // (a server that decided on the head and drops the rest), with a body far larger than the socket buffers, so
      // the reset comes while the client is still writing it (EPIPE / ECONNRESET after the answer)
      const resetting = await startAnswerThenResetReceiver(status);

      try {
        // Act
        const { result, connections, uncaught } = await postLargeBodyWatched(resetting.url, 5_000);

        // Assess: the status line decides, not the write cut short after it, and the request was not sent again at
        // once (a receiver that said yes would get it twice within one attempt). The reset fails a write of the body
        // after the answer has ended: that write's error used to have no listener (Node hands the connection back to
        // its agent first, nodejs/node#27916), an uncaught exception — on Lambda the runtime exits, failing every
        // callback of the batch. It comes before the connection's `close`, which `all` waits for.
        expect(result).toEqual({ ...expected, durationMs: expect.any(Number) });
        expect(resetting.connections()).toBe(1);
        expect(connections).toBe(1);
        expect(uncaught).toEqual([]);
      } finally {
        await resetting.stop();
      }
    },
    // 8 MiB written on a loaded host can take a while; the attempt's own deadline is 5 s, vitest's default too
    15_000,
  );

  it.each([
    ["closes its side at once (FIN)", true],
    ["reads on and never closes", false],
  ] as const)(
    "a 2xx with `Connection: close` given while the request body is still going out, from a receiver that %s: the answer stands, sent once, the connection closed",
    async (_, closes) => {
      // Prepare: a receiver that answers 200 `Connection: close` on the request's first bytes, with a body far larger
      // than the socket buffers; it then ends its side of the connection, or keeps reading and leaves the closing to
      // the client
      const closing = await startAnswerAndCloseReceiver(closes);

      try {
        // Act
        const { result, connections, uncaught } = await postLargeBodyWatched(closing.url, 2_000);

        // Assess: the 200 decides, the request was not sent again, and the one connection was closed (by the
        // receiver's FIN, or by the client once the rest of the body was out or its deadline came) without an error
        // escaping
        expect(result).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
        expect(closing.connections()).toBe(1);
        expect(connections).toBe(1);
        expect(uncaught).toEqual([]);
      } finally {
        await closing.stop();
      }
    },
    15_000,
  );

  it.each([
    [200, { ok: true, status: 200 }],
    [503, { ok: false, status: 503, error: "HTTP 503" }],
  ] as const)(
    "an answer (%i) without `Connection: close` given while the request body is still going out, then the receiver half-closes (FIN): the answer stands, sent once, the connection closed",
    async (status, expected) => {
      // Prepare: a receiver that answers on the request's first bytes, as if to keep the connection, ends its side at
      // once and reads on; the client is still writing an 8 MiB body
      const closing = await startAnswerAndCloseReceiver(
        true,
        `HTTP/1.1 ${status} X\r\nContent-Length: 0\r\n\r\n`,
      );

      try {
        // Act
        const { result, connections, uncaught } = await postLargeBodyWatched(closing.url, 2_000);

        // Assess: the answer decides and the request was not sent again; its one connection was closed, not pooled
        // (the receiver said nothing more on it could come)
        expect(result).toEqual({ ...expected, durationMs: expect.any(Number) });
        expect(closing.connections()).toBe(1);
        expect(connections).toBe(1);
        expect(uncaught).toEqual([]);
      } finally {
        await closing.stop();
      }
    },
    15_000,
  );

  it.each([
    ["hooks.example.com.", "hooks.example.com"],
    ["hooks.example.com", "hooks.example.com"],
  ])(
    "https to %s sends the TLS server name %s: SNI never carries a fully qualified name's trailing dot (RFC 6066)",
    async (host, serverName) => {
      // Prepare: a TCP listener that reads the TLS ClientHello's server_name and hangs up (no certificate needed)
      const hello = await startClientHelloReader();
      const c = createCallbackClient({
        policy: permissive,
        allowPlainHttp: false,
        lookup: async () => [{ address: "127.0.0.1", family: 4 }],
      });
      clients.push(c);

      // Act
      const result = await c.post({
        url: `https://${host}:${hello.port}/hook`,
        body: "{}",
        headers: {},
        timeoutMs: TIMEOUT_MS,
      });
      await hello.stop();

      // Assess: the handshake went no further (the listener hung up), but the name it offered is the bare one
      expect(result.ok).toBe(false);
      expect(hello.serverNames).toEqual([serverName]);
    },
  );

  it("redirects are not followed", async () => {
    route = (_req, _body, res) => res.writeHead(307, { location: `${hostile.url}/ok/redirected` }).end();
    const before = hostile.requests.length;

    const result = await post(client(), "/hook");

    expect(result).toMatchObject({ ok: false, status: 307, error: "HTTP 307" });
    expect(hostile.requests).toHaveLength(before);
  });
});

describe("callback client: host names checked after resolution (lookup seam; nothing private is dialled)", () => {
  /**
   * The SSRF policy for `topic`, recording each verdict, with a guard: whatever the verdict, only loopback is
   * ever dialled, so a regression fails the assertions on `verdicts` instead of connecting to a private address.
   */
  function guardedPolicy(topic: { allowedCallbackHosts: string[]; allowHttpCallbacks: boolean }) {
    const verdicts: [string, boolean][] = [];
    const policy: AddressPolicy = {
      isAllowed: (host, ip) => {
        const verdict = resolvedAddressAllowed(host, ip, topic);
        verdicts.push([ip, verdict]);
        return verdict && (ip.startsWith("127.") || ip === "::1");
      },
    };
    return { policy, verdicts };
  }

  /** A request to `http://hooks.example.com:<port of server>/hook` (the name resolved by the test's lookup). */
  const hookOn = (receiver: Server) => ({
    url: `http://hooks.example.com:${(receiver.address() as AddressInfo).port}/hook`,
    body: "{}",
    headers: {},
  });

  /** Resolves every name to `addresses` and records what it was asked. */
  function resolvingTo(...addresses: string[]) {
    const asked: string[] = [];
    const lookup: ResolveHost = async (host) => {
      asked.push(host);
      return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
    };
    return { asked, lookup };
  }

  it.each([
    ["a private address", ["10.0.0.1"]],
    ["the metadata address", ["169.254.169.254"]],
    ["an IPv6 unique-local address", ["fd00:ec2::254"]],
    ["the unspecified addresses (0.0.0.0 and ::, which reach this machine)", ["0.0.0.0", "::"]],
    [
      "IPv4-mapped and NAT64 spellings of loopback and metadata (AAAA only)",
      ["::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe"],
    ],
    ["multicast (IPv4 and IPv6)", ["224.0.0.251", "ff02::fb"]],
    [
      "6to4, IPv4-translated and local-use NAT64 spellings of a private address",
      ["2002:a00:1::", "::ffff:0:a00:1", "64:ff9b:1::a00:1"],
    ],
    [
      "link-local, CGNAT and the broadcast address",
      ["169.254.1.1", "fe80::1", "100.64.0.1", "255.255.255.255"],
    ],
  ])(
    "a wildcard-admitted name resolving to %s is refused, no address in the error, no connection",
    async (_, addresses) => {
      // Prepare
      const topic = { allowedCallbackHosts: ["*.example.com"], allowHttpCallbacks: true };
      const { asked, lookup } = resolvingTo(...addresses);
      const { policy, verdicts } = guardedPolicy(topic);
      const c = createCallbackClient({ policy, allowPlainHttp: true, lookup });
      clients.push(c);

      // Act
      const result = await c.post({
        url: "http://hooks.example.com/hook",
        body: "{}",
        headers: {},
        timeoutMs: 2_000,
      });

      // Assess
      expect(asked).toEqual(["hooks.example.com"]);
      expect(verdicts).toEqual(addresses.map((address) => [address, false]));
      expect(result).toEqual({
        ok: false,
        refused: true,
        error: "destination refused by policy: host resolves to a non-public address",
        detail: `hooks.example.com resolves to ${addresses.join(", ")}`,
        durationMs: expect.any(Number),
      });
      for (const address of addresses) expect(result.error).not.toContain(address);
    },
  );

  it("a resolver that never answers still settles by the deadline (the timer covers DNS)", async () => {
    const c = createCallbackClient({
      policy: permissive,
      allowPlainHttp: true,
      lookup: () => new Promise<never>(() => undefined),
    });
    clients.push(c);

    const result = await c.post({
      url: "http://hooks.example.com/hook",
      body: "{}",
      headers: {},
      timeoutMs: 200,
    });

    expect(result).toEqual({ ok: false, error: "timeout after 200 ms", durationMs: expect.any(Number) });
  });

  it("a name whose lookup still hangs is not looked up again: attempts to it share the one lookup (one resolver thread)", async () => {
    // Prepare: the system resolver holds a libuv thread per lookup until its own timeout, past the attempt's
    // deadline, so every new attempt to a name whose DNS never answers would take one more thread
    route = (_req, _body, res) => res.writeHead(204).end();
    const asked: string[] = [];
    const loopback = [{ address: "127.0.0.1", family: 4 }];
    let answerHanging: (addresses: typeof loopback) => void = () => undefined;
    const c = createCallbackClient({
      policy: permissive,
      allowPlainHttp: true,
      lookup: (host) => {
        asked.push(host);
        if (asked.length > 1) return Promise.resolve(loopback);
        return new Promise((resolve) => {
          answerHanging = resolve;
        });
      },
    });
    clients.push(c);
    const { url } = hookOn(server);
    const attempt = (timeoutMs: number) => c.post({ url, body: "{}", headers: {}, timeoutMs });

    // Act: attempts side by side, then one after they timed out, the lookup still hanging
    const together = await Promise.all([attempt(100), attempt(100), attempt(100)]);
    const later = await attempt(100);
    const lookupsWhileHanging = asked.length;
    answerHanging(loopback);
    await new Promise((resolve) => setImmediate(resolve));
    const afterAnswer = await attempt(2_000);

    // Assess: one lookup while it hung; once answered, the next attempt looks the name up afresh (no caching)
    expect(lookupsWhileHanging).toBe(1);
    for (const result of [...together, later]) expect(result.error).toBe("timeout after 100 ms");
    expect(afterAnswer).toMatchObject({ ok: true, status: 204 });
    expect(asked).toEqual(["hooks.example.com", "hooks.example.com"]);
  });

  it("a resolver answering no address is a resolution failure (retried), not a policy refusal", async () => {
    const c = createCallbackClient({ policy: permissive, allowPlainHttp: true, lookup: async () => [] });
    clients.push(c);

    const result = await c.post({
      url: "http://hooks.example.com/hook",
      body: "{}",
      headers: {},
      timeoutMs: 2_000,
    });

    // Like ENOTFOUND from the system resolver: nothing says the destination is forbidden, so no dead-lettering.
    expect(result).toEqual({
      ok: false,
      error: "dns: host name not found (ENOTFOUND)",
      durationMs: expect.any(Number),
    });
  });

  it("a name resolving to a private and a listed loopback literal is dialled on the loopback address only", async () => {
    route = (_req, _body, res) => res.writeHead(204).end();
    const topic = { allowedCallbackHosts: ["*.example.com", "127.0.0.1"], allowHttpCallbacks: true };
    const { lookup } = resolvingTo("10.0.0.1", "127.0.0.1");
    const { policy, verdicts } = guardedPolicy(topic);
    const c = createCallbackClient({ policy, allowPlainHttp: true, lookup });
    clients.push(c);
    const port = (server.address() as AddressInfo).port;

    const result = await c.post({
      url: `http://hooks.example.com:${port}/hook`,
      body: "{}",
      headers: {},
      timeoutMs: 2_000,
    });

    expect(verdicts).toEqual([
      ["10.0.0.1", false],
      ["127.0.0.1", true],
    ]);
    expect(result).toMatchObject({ ok: true, status: 204 });
    expect(hits.map((h) => h.headers.host)).toEqual([`hooks.example.com:${port}`]);
  });

  it("a name with several allowed addresses falls over to the next when the first does not answer (no private one tried)", async () => {
    // Prepare: 127.0.0.2 has nothing listening on the port (refused), 127.0.0.1 is the receiver; 10.0.0.1 between
    // them is refused by the policy and never dialled.
    route = (_req, _body, res) => res.writeHead(204).end();
    const topic = {
      allowedCallbackHosts: ["*.example.com", "127.0.0.1", "127.0.0.2"],
      allowHttpCallbacks: true,
    };
    const { lookup } = resolvingTo("127.0.0.2", "10.0.0.1", "127.0.0.1");
    const { policy, verdicts } = guardedPolicy(topic);
    const c = createCallbackClient({ policy, allowPlainHttp: true, lookup });
    clients.push(c);

    // Act
    const result = await c.post({ ...hookOn(server), timeoutMs: 2_000 });

    // Assess: delivered on the address that answers, as Node's own lookup would (it tries each address in turn)
    expect(result).toMatchObject({ ok: true, status: 204 });
    expect(verdicts).toEqual([
      ["127.0.0.2", true],
      ["10.0.0.1", false],
      ["127.0.0.1", true],
    ]);
    expect(hits).toHaveLength(1);
  });

  it("a kept-alive connection is not reused once the policy no longer admits its address (allow-list changed)", async () => {
    // Prepare: the policy admits loopback, then the operator takes it off the allow-list (a runtime change).
    route = (_req, _body, res) => res.writeHead(204).end();
    let admitted = true;
    const policy: AddressPolicy = { isAllowed: (_host, ip) => admitted && ip === "127.0.0.1" };
    const { lookup } = resolvingTo("127.0.0.1");
    const c = createCallbackClient({ policy, allowPlainHttp: true, lookup });
    clients.push(c);
    const url = `http://hooks.example.com:${(server.address() as AddressInfo).port}/hook`;
    const first = await c.post({ url, body: "{}", headers: {}, timeoutMs: 2_000 });

    // Act
    admitted = false;
    const second = await c.post({ url, body: "{}", headers: {}, timeoutMs: 2_000 });

    // Assess: refused like a new connection would be, and nothing more reached the receiver
    expect(first).toMatchObject({ ok: true, status: 204 });
    expect(second).toMatchObject({ ok: false, refused: true });
    expect(second.error).toMatch(/^destination refused by policy: /);
    expect(hits).toHaveLength(1);
  });
  it("a kept-alive connection whose address the policy no longer admits is dropped and the name resolved again: the receiver's new address gets the callback", async () => {
    // Prepare: hooks.example.com is 127.0.0.1, allowed by its literal; the receiver moves to 127.0.0.2 (DNS and
    // allow-list both changed) while a kept-alive connection to the old address is still in the pool.
    const moved = createServer((_req, res) => res.writeHead(204).end());
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => moved.listen(port, "127.0.0.2", resolve));
    route = (_req, _body, res) => res.writeHead(204).end();
    let admitted = "127.0.0.1";
    const asked: string[] = [];
    const lookup: ResolveHost = async (host) => {
      asked.push(host);
      return [{ address: admitted, family: 4 }];
    };
    const policy: AddressPolicy = { isAllowed: (_host, ip) => ip === admitted };
    const c = createCallbackClient({ policy, allowPlainHttp: true, lookup });
    clients.push(c);
    const url = `http://hooks.example.com:${port}/hook`;
    try {
      const first = await c.post({ url, body: "{}", headers: {}, timeoutMs: 2_000 });

      // Act
      admitted = "127.0.0.2";
      const second = await c.post({ url, body: "{}", headers: {}, timeoutMs: 2_000 });

      // Assess: delivered on a new connection to the address the name has now; nothing more to the old one
      expect(first).toMatchObject({ ok: true, status: 204 });
      expect(second).toMatchObject({ ok: true, status: 204 });
      expect(asked).toEqual(["hooks.example.com", "hooks.example.com"]);
      expect(hits).toHaveLength(1);
    } finally {
      moved.closeAllConnections();
      await new Promise<void>((resolve) => moved.close(() => resolve()));
    }
  });

  it("…and when the name still resolves only to refused addresses, it is the retried refusal a new connection gets, not one that dead-letters at once", async () => {
    // Prepare
    route = (_req, _body, res) => res.writeHead(204).end();
    let admitted = true;
    const policy: AddressPolicy = { isAllowed: (_host, ip) => admitted && ip === "127.0.0.1" };
    const c = createCallbackClient({
      policy,
      allowPlainHttp: true,
      lookup: async () => [{ address: "127.0.0.1", family: 4 }],
    });
    clients.push(c);
    const url = `http://hooks.example.com:${(server.address() as AddressInfo).port}/hook`;
    await c.post({ url, body: "{}", headers: {}, timeoutMs: 2_000 });

    // Act
    admitted = false;
    const refused = await c.post({ url, body: "{}", headers: {}, timeoutMs: 2_000 });

    // Assess
    expect(refused).toMatchObject({ ok: false, refused: true, error: REFUSED_ON_RESOLUTION });
    expect(deadLettersAtOnce(refused.error)).toBe(false);
    expect(hits).toHaveLength(1);
  });
});

/**
 * A raw receiver that answers `status` as soon as a request's first bytes arrive and then stops reading (its side
 * of the connection fills up). `readToEnd` reads again and reports whether the client closed the connection within
 * `ms` (its FIN arriving after whatever of the body was already in flight) and how many bytes came in all.
 */
async function startEarlyAnswerReceiver(status: number) {
  let socket: Socket | undefined;
  let bytesRead = 0;
  const server = createNetServer((s) => {
    socket = s;
    s.on("error", () => undefined);
    s.on("data", (chunk: Buffer) => {
      bytesRead += chunk.length;
      if (bytesRead !== chunk.length) return;
      s.write(`HTTP/1.1 ${status} Early\r\nContent-Length: 0\r\n\r\n`);
      s.pause();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  /** Reads again until the client closes the connection, or `ms` pass without it. */
  const readToEnd = (ms: number) =>
    new Promise<{ ended: boolean; bytesRead: number }>((resolve) => {
      const timer = setTimeout(() => resolve({ ended: false, bytesRead }), ms);
      socket?.once("end", () => {
        clearTimeout(timer);
        resolve({ ended: true, bytesRead });
      });
      socket?.resume();
    });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/early`,
    readToEnd,
    stop: () => {
      socket?.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The client connections opened from now on (Node's `net.client.socket` diagnostics channel): `all` waits until each
 * has closed, and tells how many there were. A connection's errors are emitted before its `close`.
 */
/**
 * Posts an 8 MiB body (far past the socket buffers, so an early answer comes while it is still going out) to `url`,
 * and gives the result, how many connections closed (waiting for all of them), and any exception that escaped.
 */
async function postLargeBodyWatched(url: string, timeoutMs: number) {
  const body = JSON.stringify({ x: "a".repeat(8 * 1024 * 1024) });
  const closed = clientConnectionsClosed();
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.on("uncaughtException", onUncaught);
  try {
    const result = await client().post({ url, body, headers: {}, timeoutMs });
    return { result, connections: await closed.all(), uncaught };
  } finally {
    process.off("uncaughtException", onUncaught);
    closed.stop();
  }
}

function clientConnectionsClosed() {
  const closes: Promise<void>[] = [];
  const onSocket = (message: unknown) => {
    const { socket } = message as { socket: Socket };
    closes.push(new Promise((resolve) => socket.once("close", () => resolve())));
  };
  diagnostics.subscribe("net.client.socket", onSocket);
  return {
    all: async () => {
      await Promise.all(closes);
      return closes.length;
    },
    stop: () => diagnostics.unsubscribe("net.client.socket", onSocket),
  };
}

/**
 * A raw receiver that answers `status` as soon as a request's first bytes arrive and resets the connection (RST,
 * not FIN) on the next bytes that come: the answer is on the wire ahead of the reset. Counts its connections.
 */
async function startAnswerThenResetReceiver(status: number) {
  const sockets: Socket[] = [];
  const server = createNetServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
    let answered = false;
    socket.on("data", () => {
      if (answered) return void socket.resetAndDestroy();
      answered = true;
      socket.write(`HTTP/1.1 ${status} Early\r\nContent-Length: 0\r\n\r\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/reset`,
    connections: () => sockets.length,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A raw receiver that answers `200` with `Connection: close` as soon as a request's first bytes arrive, then ends its
 * side of the connection (`closes`) or reads on without ever closing. Counts its connections.
 */
async function startAnswerAndCloseReceiver(
  closes: boolean,
  answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
) {
  const sockets: Socket[] = [];
  const server = createNetServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
    socket.once("data", () => {
      socket.write(answer);
      if (closes) socket.end();
    });
    socket.on("data", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/close`,
    connections: () => sockets.length,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A raw receiver whose first connection answers its request with a bare `101 Switching Protocols` (no `Upgrade`
 * header) and then treats the connection as switched: whatever arrives on it later is read and never answered.
 * Every other connection answers each request with a `204`. Counts the requests each connection carried.
 */
async function startSwitchingReceiver() {
  const counts: number[] = [];
  const sockets: Socket[] = [];
  const server = createNetServer((socket) => {
    const index = counts.push(0) - 1;
    sockets.push(socket);
    socket.on("error", () => undefined);
    let received = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      // Each request is a head and its 2-byte body (`{}`), as the test sends them
      for (let end = received.indexOf("\r\n\r\n"); end >= 0; end = received.indexOf("\r\n\r\n")) {
        received = received.slice(end + 4 + 2);
        counts[index] = (counts[index] ?? 0) + 1;
        if (index > 0) socket.write("HTTP/1.1 204 No Content\r\n\r\n");
        else if (counts[index] === 1) socket.write("HTTP/1.1 101 Switching Protocols\r\n\r\n");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/switch`,
    requestsPerConnection: () => [...counts],
    stop: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A listener that records the `server_name` (SNI) of each TLS ClientHello it receives, then closes the connection. */
async function startClientHelloReader() {
  const serverNames: (string | undefined)[] = [];
  const server = createNetServer((socket) => {
    let received = Buffer.alloc(0);
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // One TLS record: type, version (2), length (2), then the handshake message.
      if (received.length < 5 || received.length < 5 + received.readUInt16BE(3)) return;
      serverNames.push(clientHelloServerName(received.subarray(5, 5 + received.readUInt16BE(3))));
      socket.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    serverNames,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The host_name of a ClientHello's server_name extension (RFC 6066 §3), undefined when it has none. */
function clientHelloServerName(hello: Buffer): string | undefined {
  // Handshake type (1) and length (3), client_version (2), random (32), then three length-prefixed fields.
  let at = 4 + 2 + 32;
  at += 1 + hello.readUInt8(at); // session_id
  at += 2 + hello.readUInt16BE(at); // cipher_suites
  at += 1 + hello.readUInt8(at); // compression_methods
  const end = at + 2 + hello.readUInt16BE(at);
  for (at += 2; at + 4 <= end; at += 4 + hello.readUInt16BE(at + 2)) {
    if (hello.readUInt16BE(at) !== 0) continue;
    // server_name_list length (2), name_type (1), host_name length (2), host_name
    const length = hello.readUInt16BE(at + 7);
    return hello.subarray(at + 9, at + 9 + length).toString("ascii");
  }
  return undefined;
}
