import { randomUUID } from "node:crypto";
import net, { type AddressInfo } from "node:net";
import tls from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AddressPolicy,
  type CallbackClient,
  createCallbackClient,
  type ResolveHost,
} from "#shared/adapters/callback-client.js";
import { hostFailed } from "#shared/domain/destination.js";
import { type RawReceiver, type RawRequest, startRawReceiver } from "../../support/raw-receiver.js";
import { TLS_RECEIVER_CERT, TLS_RECEIVER_KEY } from "../../support/tls-receiver-certificate.js";

/**
 * Callbacks go out over `https` only in every deployed environment, so the protections the plain-http tests show
 * (callback-client.test.ts, callback-client-reuse.test.ts) are shown here once more on a real TLS connection: a
 * loopback TLS receiver whose certificate the client trusts through its `ca` seam (verification on), reached as
 * `https://hooks.example.com:<port>` through the lookup seam. The receiver answers raw bytes, request by request.
 */

/** How the receiver answers one request: `n` counts the requests on this connection, from 1. */
type Answer = (socket: net.Socket, n: number, request: RawRequest) => void;

const receivers: RawReceiver[] = [];
const clients: CallbackClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
});

const OK = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

/** A TLS raw receiver (test/support/raw-receiver.ts) on 127.0.0.1, answering each request as `answer` says. */
async function startTlsReceiver(answer: Answer): Promise<RawReceiver> {
  const receiver = await startRawReceiver((socket, request) => answer(socket, request.n, request), {
    tls: true,
  });
  receivers.push(receiver);
  return receiver;
}

const toLoopback: ResolveHost = async () => [{ address: "127.0.0.1", family: 4 }];
const loopbackOnly: AddressPolicy = { isAllowed: (_host, ip) => ip === "127.0.0.1" };

function tlsClient(policy: AddressPolicy = loopbackOnly): CallbackClient {
  const c = createCallbackClient({
    policy,
    allowPlainHttp: false,
    lookup: toLoopback,
    ca: TLS_RECEIVER_CERT,
  });
  clients.push(c);
  return c;
}

const post = (c: CallbackClient, url: string, timeoutMs = 2_000) =>
  c.post({ url, body: `{"id":"${randomUUID()}"}`, headers: { "webhook-id": randomUUID() }, timeoutMs });

describe("callback client over TLS: the same protections on the protocol every deployed callback uses", () => {
  it("verifies the receiver's certificate: one for another name is refused, nothing sent", async () => {
    // Prepare: the receiver's certificate names hooks.example.com; the URL names another host on the same address
    const receiver = await startTlsReceiver((socket) => socket.write(OK));
    const c = tlsClient();

    // Act
    const result = await post(c, receiver.url.replace("hooks.example.com", "other.example.com"));

    // Assess
    expect(result).toMatchObject({
      ok: false,
      error: "tls: certificate does not name the host (ERR_TLS_CERT_ALTNAME_INVALID)",
    });
    expect(receiver.requests).toHaveLength(0);
  });

  it("without the seam, the receiver's self-signed certificate is refused by Node's own roots, nothing sent", async () => {
    // Prepare
    const receiver = await startTlsReceiver((socket) => socket.write(OK));
    const c = createCallbackClient({ policy: loopbackOnly, allowPlainHttp: false, lookup: toLoopback });
    clients.push(c);

    // Act
    const result = await post(c, receiver.url);

    // Assess
    expect(result).toMatchObject({
      ok: false,
      error: "tls: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)",
    });
    expect(receiver.requests).toHaveLength(0);
  });

  it("a 2xx keeps the TLS connection for the next callback; any other answer closes it", async () => {
    // Prepare: 200, 200, then 503, then 200
    const statuses = [200, 200, 503, 200];
    const receiver = await startTlsReceiver((socket, _n, request) => {
      const status = statuses[receiver.requests.indexOf(request)];
      socket.write(`HTTP/1.1 ${status} X\r\nContent-Length: 0\r\n\r\n`);
    });
    const c = tlsClient();

    // Act
    const results = [];
    for (const _ of statuses) results.push(await post(c, receiver.url));

    // Assess: the first three on one connection (pooled after each 200), the fourth on a new one after the 503
    expect(results.map((r) => r.status)).toEqual(statuses);
    expect(receiver.requests.map((r) => r.connection)).toEqual([1, 1, 1, 2]);
  });

  it("a byte written on an idle kept-alive TLS connection closes it: the next callback goes on a new one, its answer its own", async () => {
    // Prepare: the first answer is followed, a moment later, by bytes of another (on the pooled connection; had they
    // come before it was pooled, they would be junk after the answer, which drops the connection just as well)
    const receiver = await startTlsReceiver((socket, n) => {
      socket.write(OK);
      if (n === 1) setTimeout(() => socket.write("HTTP/1.1 500 Late\r\nContent-Length: 0\r\n\r\n"), 20);
    });
    const c = tlsClient();
    await post(c, receiver.url);
    await receiver.closed(1);

    // Act
    const second = await post(c, receiver.url);

    // Assess
    expect(second).toMatchObject({ ok: true, status: 200 });
    expect(receiver.requests.map((r) => r.connection)).toEqual([1, 2]);
  });

  it("a kept-alive TLS connection the receiver closes as it is reused: the request is sent once more, byte for byte, on a new connection", async () => {
    // Prepare: every connection answers its first request and closes on its second, unanswered
    const receiver = await startTlsReceiver((socket, n) => {
      if (n === 1) socket.write(OK);
      else socket.destroy();
    });
    const c = tlsClient();
    await post(c, receiver.url);

    // Act
    const second = await post(c, receiver.url);

    // Assess: delivered in the one attempt; the receiver saw the same request on connection 1 and then on 2
    expect(second).toMatchObject({ ok: true, status: 200 });
    const [, cut, again] = receiver.requests;
    expect(receiver.requests.map((r) => r.connection)).toEqual([1, 1, 2]);
    expect(again?.head).toBe(cut?.head);
    expect(again?.body).toBe(cut?.body);
  });

  it("a 2xx given on the head of a request whose body the receiver never reads: the next callback, refused behind that body, goes once more on a new TLS connection, and none is pooled after", async () => {
    // Prepare: the receiver answers each request 200 on its head and leaves its body to be read as the next
    // request's start; a line that is then no request line is refused 400 with Connection: close (as Node's, Go's
    // servers and nginx refuse one)
    const receiver = await startRawReceiver(
      (socket, request) => {
        if (/^POST \S+ HTTP\/1\.1$/.test(request.head.split("\r\n")[0] ?? "")) return void socket.write(OK);
        socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      },
      { tls: true, leaveBodiesUnread: true },
    );
    receivers.push(receiver);
    const c = tlsClient();

    // Act
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await post(c, receiver.url));

    // Assess: three deliveries; the second was read behind the first's body on the reused connection (the head
    // the receiver refused begins with it) and went once more on a new connection; the third on one of its own
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(receiver.requests.map((r) => r.connection)).toEqual([1, 1, 2, 3]);
    expect(receiver.requests[1]?.head).toMatch(/^\{"id":"[^"]+"\}POST \/hook HTTP\/1\.1\r\n/);
  });

  it("a kept-alive TLS connection whose address the policy no longer admits sends nothing", async () => {
    // Prepare
    const receiver = await startTlsReceiver((socket) => socket.write(OK));
    let admitted = true;
    const c = tlsClient({ isAllowed: (_host, ip) => admitted && ip === "127.0.0.1" });
    await post(c, receiver.url);

    // Act
    admitted = false;
    const second = await post(c, receiver.url);

    // Assess: the retried refusal of a name resolving to refused addresses; nothing more reached the receiver
    expect(second).toMatchObject({ ok: false, refused: true });
    expect(second.error).toMatch(/^destination refused by policy: /);
    expect(receiver.requests).toHaveLength(1);
  });

  it("a 101 Switching Protocols over TLS is a failed attempt, and its connection is not kept", async () => {
    // Prepare
    const receiver = await startTlsReceiver((socket, _n, request) =>
      socket.write(request.connection === 1 ? "HTTP/1.1 101 Switching Protocols\r\n\r\n" : OK),
    );
    const c = tlsClient();

    // Act
    const first = await post(c, receiver.url);
    const second = await post(c, receiver.url);

    // Assess
    expect(first).toMatchObject({ ok: false, status: 101 });
    expect(second).toMatchObject({ ok: true, status: 200 });
    expect(receiver.requests.map((r) => r.connection)).toEqual([1, 2]);
  });

  it("a TLS receiver that completes the handshake and never answers: the attempt settles at its deadline", async () => {
    // Prepare
    const receiver = await startTlsReceiver(() => undefined);
    const c = tlsClient();

    // Act
    const result = await post(c, receiver.url, 300);
    await receiver.closed(1);

    // Assess: and the client closed the connection (awaited above)
    expect(result).toEqual({ ok: false, error: "timeout after 300 ms", durationMs: expect.any(Number) });
    expect(receiver.requests).toHaveLength(1);
  });

  it("a listener that accepts and never answers the TLS handshake: the attempt settles at its deadline and the connection is closed", async () => {
    // Prepare: a TCP listener that reads the ClientHello and says nothing
    const sockets: net.Socket[] = [];
    const closed: Promise<void>[] = [];
    const mute = net.createServer((socket) => {
      sockets.push(socket);
      closed.push(new Promise((resolve) => socket.once("close", () => resolve())));
      socket.on("error", () => undefined);
      socket.resume(); // reads (and drops) the ClientHello, so the client's close is seen
    });
    await new Promise<void>((resolve) => mute.listen(0, "127.0.0.1", resolve));
    const c = tlsClient();
    try {
      // Act
      const result = await post(
        c,
        `https://hooks.example.com:${(mute.address() as AddressInfo).port}/hook`,
        300,
      );
      await Promise.all(closed);

      // Assess
      expect(result).toEqual({ ok: false, error: "timeout after 300 ms", durationMs: expect.any(Number) });
      expect(sockets).toHaveLength(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => mute.close(() => resolve()));
    }
  });
});

describe("callback client over TLS: a receiver that misuses the TLS layer", () => {
  it("asking to renegotiate (TLS 1.2) is refused, as Go's client refuses it: the attempt fails on the handshake, none is done", async () => {
    // Prepare: a receiver held to TLS 1.2 that, once it has read the request, asks to renegotiate, and again each
    // time one completes (a hundred times) before it answers: without end, each one a full handshake the client
    // takes part in until the deadline, CPU the other callbacks of its instance share
    let renegotiated = 0;
    const receiver = await startRawReceiver(
      (socket) => {
        const again = () =>
          (socket as tls.TLSSocket).renegotiate({ rejectUnauthorized: false }, (error) => {
            if (error) return;
            if (++renegotiated < 100) again();
            else socket.write(OK);
          });
        again();
      },
      { tls: { maxVersion: "TLSv1.2" } },
    );
    receivers.push(receiver);
    const c = tlsClient();

    // Act
    const result = await post(c, receiver.url);

    // Assess: a failed attempt without a status (retried, a host failure), never sent again at once; no
    // renegotiation completed
    expect(result).toEqual({
      ok: false,
      error: expect.stringMatching(/^tls: handshake failed \((ERR_SSL_[A-Z0-9_]+|EPROTO)\)$/),
      durationMs: expect.any(Number),
    });
    expect(hostFailed(result)).toBe(true);
    expect(renegotiated).toBe(0);
    expect(receiver.requests).toHaveLength(1);
  });

  it("offering only h2 by ALPN and answering in HTTP/2 frames: a malformed answer, a failed attempt, not sent again", async () => {
    // Prepare: the client offers no ALPN, so the handshake completes without a protocol; the receiver then answers
    // the HTTP/1.1 request as an HTTP/2 server answers a connection without its preface: a SETTINGS frame and a
    // GOAWAY (PROTOCOL_ERROR)
    const receiver = await startRawReceiver(
      (socket) => socket.end(Buffer.from("000000040000000000" + "0000080700000000000000000000000001", "hex")),
      { tls: { ALPNProtocols: ["h2"] } },
    );
    receivers.push(receiver);
    const c = tlsClient();

    // Act
    const result = await post(c, receiver.url);
    await receiver.closed(1);

    // Assess
    expect(result).toEqual({
      ok: false,
      error: "malformed answer: not an HTTP status line (HPE_INVALID_CONSTANT)",
      durationMs: expect.any(Number),
    });
    expect(hostFailed(result)).toBe(true);
    expect(receiver.requests).toHaveLength(1);
  });

  it.each([
    ["ends its side (close_notify, FIN)", (socket: tls.TLSSocket) => socket.end()],
    ["drops the connection", (socket: tls.TLSSocket) => socket.destroy()],
  ])(
    "a receiver that completes the handshake and %s before reading the request: a failed attempt, sent once",
    async (_, hangUp) => {
      // Prepare
      let connections = 0;
      const server = tls.createServer({ key: TLS_RECEIVER_KEY, cert: TLS_RECEIVER_CERT }, (socket) => {
        connections++;
        socket.on("error", () => undefined);
        hangUp(socket);
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const c = tlsClient();

      try {
        // Act
        const result = await post(
          c,
          `https://hooks.example.com:${(server.address() as AddressInfo).port}/hook`,
        );

        // Assess: on a new connection, a close before any answer is the attempt's failure (only a kept-alive
        // connection closed under its request sends it again)
        expect(result).toEqual({
          ok: false,
          error: "network: connection closed without a response",
          durationMs: expect.any(Number),
        });
        expect(connections).toBe(1);
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  );
});
