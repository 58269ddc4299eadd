import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type AddressPolicy,
  type CallbackClient,
  createCallbackClient,
} from "#shared/adapters/callback-client.js";
import { retentionExpiry } from "#shared/domain/task.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { resolvedAddressAllowed } from "#shared/security/ssrf.js";
import { deliverBatch } from "#shared/services/deliver.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { makeTask, memoryLogger } from "../relay/fakes.js";
import {
  binding,
  eventOf,
  FakeDeliverQueue,
  fifoRecord,
  MemoryMetrics,
  QUEUE_ARN,
  testTopic,
} from "./fakes.js";

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

  it("non-2xx is a failure `HTTP <status>`", async () => {
    route = (_req, _body, res) => res.writeHead(503).end("overloaded");
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
    expect(result).toMatchObject({ ok: false, error: "network: ECONNREFUSED" });

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
    expect(result.error).toMatch(/^blocked: 127\.0\.0\.1 resolves to 127\.0\.0\.1/);
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
    expect(refused.error).toMatch(/^blocked: localhost resolves to /);

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
    expect(refused.error).toBe("blocked: ::1 resolves to ::1, which is not allowed for this topic");
    expect(allowed).toMatchObject({ ok: true, status: 204 });
    expect(seen).toEqual([
      ["::1", "::1"],
      ["::1", "::1"],
    ]);
  });

  it("refuses plain http unless allowed, and invalid URLs", async () => {
    const c = client(permissive, false);
    expect((await post(c, "/hook")).error).toBe("blocked: http: callbacks are not allowed");
    expect((await c.post({ url: "not a url", body: "{}", headers: {}, timeoutMs: 100 })).error).toBe(
      "blocked: invalid callback URL",
    );
    expect(hits).toEqual([]);
  });
});

describe("deliver with the real callback client", () => {
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
        topicQueue: new FakeDeliverQueue(),
        bindingFor: (arn) => (arn === QUEUE_ARN ? binding(topic) : undefined),
        callbackClientFor: () => real,
        signer: async () => signer,
        metrics: new MemoryMetrics(),
        logger: memoryLogger(),
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
});
