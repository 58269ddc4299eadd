import type net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type CallbackClient, createCallbackClient } from "#shared/adapters/callback-client.js";
import { hostFailed } from "#shared/domain/destination.js";
import { startRawReceiver as startLoopbackRawReceiver } from "../../support/raw-receiver.js";

/**
 * Receivers whose answers say more than they mean, on raw sockets on 127.0.0.1 (each answer written as bytes): a 2xx
 * that advertises another protocol, and a 2xx whose body or trailer section never ends. The callback contract
 * (docs/CALLBACKS.md) says the status line decides and the read is bounded; these show it for the cases the
 * hostile receiver (test/support/hostile-receiver.ts) has no mode for.
 */

/** How the receiver answers its `index`th request (from 0) on connection `connection` (from 1). */
type Answer = (socket: net.Socket, index: number, connection: number) => void;

interface LyingReceiver {
  readonly url: string;
  /** The connection (from 1) each request came on, in order. */
  readonly requests: number[];
  closed(connection: number): Promise<void>;
  stop(): Promise<void>;
}

const receivers: LyingReceiver[] = [];
const clients: CallbackClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
});

const OK = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

/** A raw receiver (test/support/raw-receiver.ts) answering each request as `answer` says. */
async function startRawReceiver(answer: Answer): Promise<LyingReceiver> {
  const raw = await startLoopbackRawReceiver((socket, request) =>
    answer(socket, request.index, request.connection),
  );
  const receiver: LyingReceiver = {
    url: raw.url,
    get requests() {
      return raw.requests.map((request) => request.connection);
    },
    closed: raw.closed,
    stop: raw.stop,
  };
  receivers.push(receiver);
  return receiver;
}

function client(): CallbackClient {
  const c = createCallbackClient({ policy: { isAllowed: () => true }, allowPlainHttp: true });
  clients.push(c);
  return c;
}

const post = (c: CallbackClient, url: string, timeoutMs = 2_000) =>
  c.post({ url, body: '{"x":1}', headers: {}, timeoutMs });

/**
 * Writes `line` to `socket` until the socket is destroyed or `cap` bytes went out; returns a reader of the count.
 * A client that reads without bound would take all of `cap` before its deadline (loopback writes hundreds of MB a
 * second); one that stops leaves the writer blocked on full socket buffers (a few MB) until it closes.
 */
function pumpUntilClosed(socket: net.Socket, line: Buffer, cap: number): () => number {
  let written = 0;
  const pump = () => {
    while (!socket.destroyed && written < cap) {
      written += line.length;
      if (!socket.write(line)) return void socket.once("drain", pump);
    }
  };
  pump();
  return () => written;
}

describe("callback client: a 2xx that advertises another protocol (Upgrade, Connection: Upgrade)", () => {
  it.each([
    [
      "200 advertising h2/h2c (as Apache's mod_http2 can send)",
      "HTTP/1.1 200 OK\r\nUpgrade: h2,h2c\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nok",
      200,
    ],
    [
      "204 advertising websocket",
      "HTTP/1.1 204 No Content\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
      204,
    ],
    [
      "chunked 200 advertising h2c",
      "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nConnection: Upgrade, Keep-Alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
      200,
    ],
  ])(
    "%s: a delivery, and its connection is kept for the next callback (only a 101 switches)",
    async (_, answer, status) => {
      // Prepare
      const receiver = await startRawReceiver((socket, index) => socket.write(index === 0 ? answer : OK));
      const c = client();

      // Act
      const first = await post(c, receiver.url);
      const second = await post(c, receiver.url);

      // Assess: the status line decided; nothing was switched, so the connection served the next callback too
      expect(first).toEqual({ ok: true, status, durationMs: expect.any(Number) });
      expect(second).toMatchObject({ ok: true, status: 200 });
      expect(receiver.requests).toEqual([1, 1]);
    },
  );

  it("a 503 advertising h2c is the 503 it says (with its Retry-After), and its connection is not kept", async () => {
    // Prepare
    const receiver = await startRawReceiver((socket, index) =>
      socket.write(
        index === 0
          ? "HTTP/1.1 503 Busy\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n"
          : OK,
      ),
    );
    const c = client();

    // Act
    const first = await post(c, receiver.url);
    const second = await post(c, receiver.url);

    // Assess
    expect(first).toEqual({
      ok: false,
      status: 503,
      error: "HTTP 503",
      retryAfter: "7",
      durationMs: expect.any(Number),
    });
    expect(second).toMatchObject({ ok: true, status: 200 });
    expect(receiver.requests).toEqual([1, 2]);
  });
});

describe("callback client: a 2xx whose framing never ends is read only so far", () => {
  const CAP = 512 * 1024 * 1024;

  it.each([
    [
      "an endless trailer section after the last chunk",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n",
      `X-Trailer: ${"t".repeat(200)}\r\n`,
    ],
    [
      "an endless chunk extension",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=",
      "e".repeat(256),
    ],
  ])(
    "%s: the 2xx stands, the read stops (Node's 16 KiB limits) and the connection is closed",
    async (_, head, line) => {
      // Prepare: a receiver that would write half a gigabyte of it
      let written = () => 0;
      const receiver = await startRawReceiver((socket) => {
        socket.write(head);
        written = pumpUntilClosed(socket, Buffer.from(line), CAP);
      });
      const c = client();

      // Act: a deadline long enough for an unbounded read to take all of it
      const result = await post(c, receiver.url, 10_000);
      await receiver.closed(1);

      // Assess: a delivery; the client stopped reading long before the receiver ran out (what was written is what
      // the socket buffers took before the close)
      expect(result).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
      expect(written()).toBeLessThan(CAP / 8);
    },
  );
});

describe("callback client: what a receiver sends around its answer is read only so far, framing and blank lines included", () => {
  const CAP = 512 * 1024 * 1024;

  it.each([
    [
      "chunks of one byte each behind an 8 KiB extension (Node's extension limit is per chunk)",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      `1;e=${"e".repeat(8 * 1024)}\r\nx\r\n`,
    ],
    [
      "chunk sizes of one byte each behind 4 KiB of leading zeros",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      `${"0".repeat(4 * 1024)}1\r\nx\r\n`,
    ],
  ])(
    "%s: the 2xx stands, and the read stops near the cap on bytes, not on body bytes alone",
    async (_, head, line) => {
      // Prepare: a receiver whose body is almost all framing: 64 KiB of body would take ~512 MiB of it (8 KiB of
      // framing per body byte), which a read counting body bytes alone takes whole before the deadline
      let written = () => 0;
      const receiver = await startRawReceiver((socket) => {
        socket.write(head);
        written = pumpUntilClosed(socket, Buffer.from(line), CAP);
      });
      const c = client();

      // Act: a deadline long enough for an unbounded read to take all of it
      const result = await post(c, receiver.url, 10_000);
      await receiver.closed(1);

      // Assess: a delivery; the client stopped reading long before the receiver ran out (what was written is what
      // the socket buffers took before the close)
      expect(result).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
      expect(written()).toBeLessThan(CAP / 8);
    },
  );

  it("blank lines without end before any status line (llhttp skips them without limit): a failed attempt once 256 KiB came, not a read until the deadline", async () => {
    // Prepare
    let written = () => 0;
    const receiver = await startRawReceiver((socket) => {
      written = pumpUntilClosed(socket, Buffer.from("\r\n".repeat(1024)), CAP);
    });
    const c = client();

    // Act: a deadline within vitest's own, long enough for an unbounded read to take all of it
    const result = await post(c, receiver.url, 4_000);
    await receiver.closed(1);

    // Assess: no answer, so a failed attempt (retried, a host failure), settled on the bytes rather than the deadline,
    // and its connection closed
    expect(result).toEqual({
      ok: false,
      error: "receiver sent more than 256 KiB without an answer",
      durationMs: expect.any(Number),
    });
    expect(hostFailed(result)).toBe(true);
    expect(written()).toBeLessThan(CAP / 8);
    expect(receiver.requests).toEqual([1]);
  });

  it("ten informational answers with heads near Node's 16 KiB limit, then a 200 with a 64 KiB body, are all within the cap: a delivery, its connection kept", async () => {
    // Prepare: the most a receiver may send before and with its answer without tripping a limit of Node's or ours
    const early = `HTTP/1.1 103 Early Hints\r\nLink: ${"l".repeat(15 * 1024)}\r\n\r\n`;
    const answer = `HTTP/1.1 200 OK\r\nX-Big: ${"h".repeat(15 * 1024)}\r\nContent-Length: ${64 * 1024}\r\n\r\n${"b".repeat(64 * 1024)}`;
    const receiver = await startRawReceiver((socket, index) =>
      socket.write(index === 0 ? early.repeat(10) + answer : OK),
    );
    const c = client();

    // Act
    const first = await post(c, receiver.url);
    const second = await post(c, receiver.url);

    // Assess
    expect(first).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
    expect(second).toMatchObject({ ok: true, status: 200 });
    expect(receiver.requests).toEqual([1, 1]);
  });

  it("each request on a kept-alive connection has the whole cap to itself: three answers near it in turn, all on one connection", async () => {
    // Prepare: every answer is the most the previous test sends (~229 KiB); three of them come to ~690 KiB, so a
    // count carried over from the answer before would cut the second and close its connection
    const early = `HTTP/1.1 103 Early Hints\r\nLink: ${"l".repeat(15 * 1024)}\r\n\r\n`;
    const answer = `HTTP/1.1 200 OK\r\nX-Big: ${"h".repeat(15 * 1024)}\r\nContent-Length: ${64 * 1024}\r\n\r\n${"b".repeat(64 * 1024)}`;
    const receiver = await startRawReceiver((socket) => socket.write(early.repeat(10) + answer));
    const c = client();

    // Act
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await post(c, receiver.url));

    // Assess: three deliveries, the connection kept after each (all three came on connection 1)
    expect(results).toEqual(
      Array.from({ length: 3 }, () => ({ ok: true, status: 200, durationMs: expect.any(Number) })),
    );
    expect(receiver.requests).toEqual([1, 1, 1]);
  });

  it("an answer whose last bytes both end it and pass the cap: the 2xx stands, and its connection is closed, not pooled", async () => {
    // Prepare: a chunked 200 whose framing brings it to 5 bytes short of the cap (256 KiB); its last chunk and
    // terminator go in a write of their own, so the read that passes the cap is the one that completes the answer
    const CAP = 256 * 1024;
    const head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const chunk = (extension: number) => `1;e=${"e".repeat(extension)}\r\nx\r\n`;
    const frame = chunk(0).length;
    let body = "";
    while (head.length + body.length + chunk(8 * 1024).length + frame < CAP - 5) body += chunk(8 * 1024);
    body += chunk(CAP - 5 - head.length - body.length - frame);
    const last = "1\r\nx\r\n0\r\n\r\n";
    const receiver = await startRawReceiver((socket, index) => {
      if (index > 0) return socket.write(OK);
      socket.write(head + body, () => setImmediate(() => socket.write(last)));
    });
    const c = client();

    // Act
    const first = await post(c, receiver.url);
    const second = await post(c, receiver.url);

    // Assess: both delivered; the second on a new connection
    expect(head.length + body.length).toBe(CAP - 5);
    expect(first).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
    expect(second).toMatchObject({ ok: true, status: 200 });
    expect(receiver.requests).toEqual([1, 2]);
  });
});

describe("callback client: redirects of every kind", () => {
  it.each([300, 301, 302, 303, 304, 305, 307, 308])(
    "%i to the metadata address or another name is a failed attempt with its status: nothing followed, nothing resolved, a host that answered",
    async (status) => {
      // Prepare: every answer points at the instance metadata service
      const receiver = await startRawReceiver((socket) =>
        socket.write(
          `HTTP/1.1 ${status} Elsewhere\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n\r\n`,
        ),
      );
      const asked: string[] = [];
      const judged: string[] = [];
      const c = createCallbackClient({
        policy: {
          isAllowed: (_host, ip) => {
            judged.push(ip);
            return ip === "127.0.0.1";
          },
        },
        allowPlainHttp: true,
        lookup: async (host) => {
          asked.push(host);
          return [{ address: "127.0.0.1", family: 4 }];
        },
      });
      clients.push(c);

      // Act
      const result = await post(c, receiver.url);

      // Assess: the answer is the 3xx; no second request anywhere (no address but the URL's own was judged, no name
      // looked up); for the circuit it is a host that answered (docs/CALLBACKS.md, "Circuit breaker")
      expect(result).toEqual({ ok: false, status, error: `HTTP ${status}`, durationMs: expect.any(Number) });
      expect(receiver.requests).toEqual([1]);
      expect(judged).toEqual(["127.0.0.1"]);
      expect(asked).toEqual([]);
      expect(hostFailed(result)).toBe(false);
    },
  );
});
