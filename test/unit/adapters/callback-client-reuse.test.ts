import diagnostics from "node:diagnostics_channel";
import type http from "node:http";
import net, { type AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type CallbackClient, createCallbackClient } from "#shared/adapters/callback-client.js";

/**
 * The callback client watches the first bytes of each answer on a reused connection (`keepAnswerStart`) with a
 * listener of its own on the pooled socket: it must come off every time (one connection carries thousands of
 * callbacks), and seeing the answer a byte at a time must decide as seeing it whole.
 */
const ANSWER = "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30\r\n\r\n";

let server: net.Server | undefined;
let client: CallbackClient | undefined;
afterEach(async () => {
  await client?.close();
  server?.close();
  vi.restoreAllMocks();
});

/** A receiver answering each request on a connection (no body) with `answer`, written `chunk` bytes at a time. */
async function receiver(answer: (n: number) => string, chunk: number) {
  let requests = 0;
  let connections = 0;
  const listening = net.createServer((socket) => {
    connections++;
    socket.setNoDelay(true);
    let buffered = "";
    socket.on("data", async (data) => {
      buffered += data.toString("latin1");
      while (buffered.includes("\r\n\r\n")) {
        const end = buffered.indexOf("\r\n\r\n") + 4;
        const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + length) return;
        buffered = buffered.slice(end + length);
        const text = answer(++requests);
        for (let i = 0; i < text.length; i += chunk) {
          socket.write(text.slice(i, i + chunk));
          if (chunk < text.length) await new Promise((resolve) => setImmediate(resolve));
        }
      }
    });
  });
  server = listening;
  await new Promise<void>((resolve) => listening.listen(0, "127.0.0.1", resolve));
  const port = (listening.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hook`, requests: () => requests, connections: () => connections };
}

/**
 * A `receiver` answering with `answer`, `chunk` bytes at a time, and a client posting to it twice, 5 ms apart (its
 * first connection idle in the pool by then, where the receiver left it open).
 */
async function postTwice(answer: (n: number) => string, chunk = 10_000) {
  const at = await receiver(answer, chunk);
  client = createCallbackClient({ policy: { isAllowed: () => true }, allowPlainHttp: true });
  const post = () => client?.post({ url: at.url, body: '{"x":1}', headers: {}, timeoutMs: 5_000 });
  const first = await post();
  await new Promise((resolve) => setTimeout(resolve, 5));
  const second = await post();
  return { at, first, second };
}

function sockets(): Set<net.Socket> {
  const seen = new Set<net.Socket>();
  const original = net.Socket.prototype.prependListener;
  vi.spyOn(net.Socket.prototype, "prependListener").mockImplementation(function (
    this: net.Socket,
    ...args: Parameters<net.Socket["prependListener"]>
  ) {
    seen.add(this);
    return original.apply(this, args);
  });
  return seen;
}

describe("callback client: a kept-alive connection reused many times", () => {
  it.each([
    ["whole", 10_000],
    ["one byte at a time", 1],
  ])("leaves no listener behind on its socket after sequential callbacks (answer %s)", async (_, chunk) => {
    const at = await receiver(() => ANSWER, chunk);
    const seen = sockets();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    client = createCallbackClient({ policy: { isAllowed: () => true }, allowPlainHttp: true });
    const post = () => client?.post({ url: at.url, body: '{"x":1}', headers: {}, timeoutMs: 5_000 });
    const first = await post();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const counts = () =>
      [...seen].map((s) => ({
        data: s.listenerCount("data"),
        close: s.listenerCount("close"),
        error: s.listenerCount("error"),
        end: s.listenerCount("end"),
      }));
    const n = chunk === 1 ? 200 : 1000;
    let before: ReturnType<typeof counts> | undefined;
    for (let i = 0; i < n; i++) {
      const r = await post();
      expect(r?.ok, JSON.stringify(r)).toBe(true);
      if (i === 0) before = counts();
    }
    process.off("warning", onWarning);
    expect(first?.ok).toBe(true);
    expect(at.connections()).toBe(1);
    expect(at.requests()).toBe(n + 1);
    // The one client socket, seen by the spy (the watch was put on it), carries what it carried after one reuse
    expect(seen.size).toBe(1);
    expect(counts()).toEqual(before);
    expect(warnings).toEqual([]);
  });

  it.each([
    ["a lowercase status line", "http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false],
    ["ICY", "ICY 200 OK\r\n\r\n", false],
    ["leftovers ahead of the answer", `xyz${ANSWER}`, true],
    ["leftovers after CR/LF", `\r\n\r\n{"ok":1}${ANSWER}`, true],
    ["leftovers starting like a status line", `Hello${ANSWER}`, true],
  ])(
    "%s on a reused connection, one byte at a time: sent again only for leftovers",
    async (_, second, again) => {
      const { at, second: result } = await postTwice((n) => (n === 2 ? second : ANSWER), 1);
      expect(at.requests()).toBe(again ? 3 : 2);
      expect(result?.ok).toBe(again);
    },
  );
});

/**
 * A raw receiver whose first request is answered `200` on its head, before a byte of its body is read; the body is
 * read only when `drainFirst` is called (the client has the answer by then), and after it nothing more on that
 * connection: a request sent on it again is never read. Requests on later connections are read whole and answered
 * `200`. `requests` lists the connection each request head came on.
 */
async function earlyAnswerReceiver() {
  const requests: number[] = [];
  let drain: (() => void) | undefined;
  const listening = net.createServer((socket) => {
    const connection = requests.length === 0 ? 1 : 2;
    socket.on("error", () => undefined);
    let buffered = Buffer.alloc(0);
    socket.on("data", (data: Buffer) => {
      buffered = Buffer.concat([buffered, data]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = Number(
        /content-length: (\d+)/i.exec(buffered.subarray(0, end).toString("latin1"))?.[1] ?? 0,
      );
      if (connection === 2 && buffered.length < end + 4 + length) return;
      requests.push(connection);
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
      if (connection === 1) drainLater(socket, end + 4 + length - buffered.length);
      buffered = buffered.subarray(end + 4 + length);
    });
  });
  /** Stops reading until `drainFirst`, then reads exactly what is left of the body, then stops for good. */
  const drainLater = (socket: net.Socket, left: number) => {
    socket.removeAllListeners("data");
    socket.pause();
    let remaining = left;
    drain = () => {
      socket.on("data", (chunk: Buffer) => {
        remaining -= chunk.length;
        if (remaining <= 0) socket.pause();
      });
      socket.resume();
    };
  };
  server = listening;
  await new Promise<void>((resolve) => listening.listen(0, "127.0.0.1", resolve));
  const port = (listening.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hook`, requests, drainFirst: () => drain?.() };
}

/** The client requests whose answer's head came in from now on, each with whether its body had all gone out then. */
function answeredRequests() {
  const seen: { request: http.ClientRequest; bodyOut: boolean }[] = [];
  const onAnswer = (message: unknown) => {
    const { request } = message as { request: http.ClientRequest };
    seen.push({ request, bodyOut: request.writableFinished });
  };
  diagnostics.subscribe("http.client.response.finish", onAnswer);
  return { seen, stop: () => diagnostics.unsubscribe("http.client.response.finish", onAnswer) };
}

describe("callback client: an answer that came while the request body was still going out", () => {
  it("does not pool its connection: the next callback to the receiver gets its own answer, each request received once", async () => {
    // Prepare: a body far larger than the socket buffers, so the receiver's answer on the head comes while most
    // of it is still in the client; the receiver reads the rest only once the client has the answer (the write
    // then finishes, and Node would hand the connection to its agent), and never reads that connection again
    const at = await earlyAnswerReceiver();
    const answered = answeredRequests();
    client = createCallbackClient({ policy: { isAllowed: () => true }, allowPlainHttp: true });
    const body = JSON.stringify({ x: "a".repeat(16 * 1024 * 1024) });

    try {
      // Act: the first callback, the rest of its body read, its request finished; then a second callback
      const first = await client.post({ url: at.url, body, headers: {}, timeoutMs: 10_000 });
      const [firstRequest] = answered.seen;
      const finished = new Promise((resolve) => firstRequest?.request.once("finish", resolve));
      at.drainFirst();
      await finished;
      await new Promise((resolve) => setImmediate(resolve));
      const second = await client.post({ url: at.url, body: '{"x":1}', headers: {}, timeoutMs: 10_000 });

      // Assess: the precondition (the answer came with the body still going out), the first answer stands, and
      // the second callback went on a new connection and got its 200 — on the first connection, which nobody
      // reads any more, it would wait out its 10 s deadline
      expect(firstRequest?.bodyOut).toBe(false);
      expect(first).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
      expect(second).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
      expect(at.requests).toEqual([1, 2]);
    } finally {
      answered.stop();
    }
  }, 20_000);
});

/**
 * A server on 127.0.0.1 (closed after each test) handing each connection, numbered from 1, to `onConnection`, its
 * socket errors swallowed (the client may reset a connection the receiver answered and left).
 */
async function listenRaw(onConnection: (socket: net.Socket, connection: number) => void) {
  let connections = 0;
  const listening = net.createServer((socket) => {
    const connection = ++connections;
    socket.on("error", () => undefined);
    onConnection(socket, connection);
  });
  server = listening;
  await new Promise<void>((resolve) => listening.listen(0, "127.0.0.1", resolve));
  const port = (listening.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hook`, connections: () => connections };
}

/**
 * A raw receiver whose first connection answers its first request with `status` on the head and never reads the
 * body: what follows the head on that connection is parsed as the next request, as a server that refused the body
 * without consuming it does (a 413, or a 401 / 404 / 429 / 503 decided on the head alone) — a request sent on it
 * after the refusal is read behind the body's bytes, answered `400` and the connection closed. Later connections
 * read each request whole and answer `200`. `answers` lists, per request head parsed, the connection it came on and
 * the status it was answered.
 */
async function headRefusingReceiver(status: number) {
  const answers: [connection: number, status: number][] = [];
  const at = await listenRaw((socket, connection) => {
    let buffered = "";
    socket.on("data", (data: Buffer) => {
      buffered += data.toString("latin1");
      for (let end = buffered.indexOf("\r\n\r\n"); end >= 0; end = buffered.indexOf("\r\n\r\n")) {
        const head = buffered.slice(0, end);
        if (!/^[A-Z]+ \S+ HTTP\/1\.1\r\n/.test(`${head}\r\n`)) {
          answers.push([connection, 400]);
          socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
          return;
        }
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (connection === 1 && answers.length === 0) {
          // The head alone is taken: the body stays in the buffer, read as whatever comes next.
          buffered = buffered.slice(end + 4);
          answers.push([connection, status]);
          socket.write(`HTTP/1.1 ${status} Refused\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n`);
          continue;
        }
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.slice(end + 4 + length);
        answers.push([connection, 200]);
        socket.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
      }
    });
  });
  return { ...at, answers };
}

/** The refusals a receiver may give on a request's head alone, before reading its body. */
const HEAD_REFUSALS = [
  301, 307, 400, 401, 403, 404, 405, 408, 411, 413, 414, 415, 417, 429, 431, 500, 502, 503,
];

describe("callback client: an answer other than 2xx", () => {
  it.each(HEAD_REFUSALS)(
    "%i does not pool its connection, even with the body sent whole: the next callback gets its own answer on a new connection",
    async (status) => {
      // Prepare: a small body (a few KB: the kernel takes it whole before the answer comes), refused on its head
      const at = await headRefusingReceiver(status);
      const answered = answeredRequests();
      client = createCallbackClient({ policy: { isAllowed: () => true }, allowPlainHttp: true });
      const body = JSON.stringify({ x: "a".repeat(4 * 1024) });

      try {
        // Act: the refused callback, its answer ended (its connection handed back or closed), then a second one
        const first = await client.post({ url: at.url, body, headers: {}, timeoutMs: 10_000 });
        await new Promise((resolve) => setImmediate(resolve));
        const second = await client.post({ url: at.url, body: '{"x":1}', headers: {}, timeoutMs: 10_000 });

        // Assess: the precondition (the body had all gone out: the check on a body still going out cannot see it),
        // the refusal stands, and the second callback went on a new connection and got its 200 — on the first, it
        // would have been read behind the unread body and answered 400
        expect(answered.seen[0]?.bodyOut).toBe(true);
        expect(first).toMatchObject({ ok: false, status });
        expect(second).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
        expect(at.answers).toEqual([
          [1, status],
          [2, 200],
        ]);
        expect(at.connections()).toBe(2);
      } finally {
        answered.stop();
      }
    },
  );
});

describe("callback client: an HTTP/1.0 answer with Transfer-Encoding", () => {
  it("is the answer it says, and its connection is not pooled though it asks to be kept alive (RFC 9112 §6.1: its framing may be faulty)", async () => {
    // Prepare: a receiver (or an HTTP/1.0 hop before it) answering the first request in HTTP/1.0 with a chunked
    // body and `Connection: keep-alive`; an HTTP/1.0 hop may have passed on chunks it does not know, so where that
    // answer ends is not to be trusted, and nothing after it on the connection either
    const chunked =
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n2\r\nok\r\n0\r\n\r\n";

    // Act
    const { at, first, second } = await postTwice((n) => (n === 1 ? chunked : ANSWER));

    // Assess: both answers taken, the second on a new connection ("close the connection after processing the
    // message", as RFC 9112 §6.1 asks of a recipient of such a message)
    expect(first).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
    expect(second).toEqual({ ok: true, status: 204, durationMs: expect.any(Number) });
    expect(at.requests()).toBe(2);
    expect(at.connections()).toBe(2);
  });
});

/**
 * A raw receiver that answers each request `200` on its head and never reads a body (as a handler that ignores the
 * body leaves it, in Python's BaseHTTPRequestHandler serving HTTP/1.1 or a raw server): the body stays in its
 * buffer and is parsed as the start of the next request on the connection, whose line — the body and the next
 * request line run together — is no request line: answered `refusal` with `Connection: close`, the connection
 * closed. `answers` lists, per request head parsed, the connection, the status and the head's `webhook-id` (a
 * head that a body ran into carries the headers of the request behind it).
 */
async function bodyIgnoringReceiver(refusal = "400 Bad Request", close = true) {
  const answers: [connection: number, status: number, webhookId: string | undefined][] = [];
  const at = await listenRaw((socket, connection) => {
    let buffered = "";
    socket.on("data", (data: Buffer) => {
      buffered += data.toString("latin1");
      for (let end = buffered.indexOf("\r\n\r\n"); end >= 0; end = buffered.indexOf("\r\n\r\n")) {
        const head = buffered.slice(0, end);
        const webhookId = /\r\nwebhook-id: *([^\r]*)/i.exec(head)?.[1];
        buffered = buffered.slice(end + 4);
        if (!/^[A-Z]+ \S+ HTTP\/1\.1\r\n/.test(`${head}\r\n`)) {
          answers.push([connection, Number(refusal.slice(0, 3)), webhookId]);
          const answer = `HTTP/1.1 ${refusal}\r\nContent-Length: 0\r\n${close ? "Connection: close\r\n" : ""}\r\n`;
          if (close) socket.end(answer);
          else socket.write(answer);
          continue;
        }
        answers.push([connection, 200, webhookId]);
        socket.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      }
    });
  });
  return { ...at, answers };
}

describe("callback client: a 2xx given on the head of a request whose body the receiver never reads", () => {
  it.each([
    ["400 Bad Request (Node's, Go's, nginx's answer to such a line)", "400 Bad Request"],
    ["501 Not Implemented (Python's: the line's first word is no method it knows)", "501 Unsupported method"],
  ])(
    "the next callback, refused %s behind that body on the reused connection, goes once more on a new connection, and the receiver is not pooled again",
    async (_, refusal) => {
      // Prepare: a small body (the kernel takes the whole request before the 200 comes: no client can see it left
      // unread then), each callback with its own webhook-id
      const at = await bodyIgnoringReceiver(refusal);
      const answered = answeredRequests();
      client = createCallbackClient({ policy: { isAllowed: () => true }, allowPlainHttp: true });
      const post = (id: string) =>
        client?.post({
          url: at.url,
          body: `{"id":"${id}"}`,
          headers: { "webhook-id": id },
          timeoutMs: 5_000,
        });

      try {
        // Act: four callbacks one after another, each once the one before has its answer
        const first = await post("w1");
        await new Promise((resolve) => setImmediate(resolve));
        const second = await post("w2");
        const third = await post("w3");
        const fourth = await post("w4");

        // Assess: the precondition (the first body had all gone out when its 200 came); the first 200 stands; the
        // second callback, refused behind the first's body on the reused connection (before: its failed attempt,
        // `HTTP 400`), went once more — the same webhook-id — on a new connection and got its 200; and the third and
        // fourth each went on a connection of their own, never reused: no callback refused for another's body
        expect(answered.seen[0]?.bodyOut).toBe(true);
        const delivered = { ok: true, status: 200, durationMs: expect.any(Number) };
        expect([first, second, third, fourth]).toEqual([delivered, delivered, delivered, delivered]);
        const status = Number(refusal.slice(0, 3));
        expect(at.answers).toEqual([
          [1, 200, "w1"],
          [1, status, "w2"],
          [2, 200, "w2"],
          [3, 200, "w3"],
          [4, 200, "w4"],
        ]);
      } finally {
        answered.stop();
      }
    },
  );

  it("a refusal on a reused connection without Connection: close is the callback's own answer: not sent again", async () => {
    // Prepare: the receiver refuses the line the unread body makes, but keeps the connection open (it said nothing
    // about having dropped what followed: the refusal may be this request's own)
    const at = await bodyIgnoringReceiver("400 Bad Request", false);
    client = createCallbackClient({ policy: { isAllowed: () => true }, allowPlainHttp: true });
    const post = (id: string) =>
      client?.post({ url: at.url, body: `{"id":"${id}"}`, headers: { "webhook-id": id }, timeoutMs: 5_000 });

    // Act
    const first = await post("w1");
    await new Promise((resolve) => setImmediate(resolve));
    const second = await post("w2");

    // Assess: the refusal stands, a failed attempt; nothing sent again
    expect(first).toMatchObject({ ok: true, status: 200 });
    expect(second).toMatchObject({ ok: false, status: 400, error: "HTTP 400" });
    expect(at.answers).toEqual([
      [1, 200, "w1"],
      [1, 400, "w2"],
    ]);
  });

  it("a 400 with Connection: close on a new connection is the callback's own answer: not sent again", async () => {
    // Prepare: a receiver refusing every request with `400` and `Connection: close`, on its head
    const at = await receiver(
      () => "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
      10_000,
    );
    client = createCallbackClient({ policy: { isAllowed: () => true }, allowPlainHttp: true });

    // Act
    const result = await client.post({ url: at.url, body: '{"x":1}', headers: {}, timeoutMs: 5_000 });

    // Assess
    expect(result).toMatchObject({ ok: false, status: 400 });
    expect(at.requests()).toBe(1);
  });
});

describe("callback client: a 2xx with Connection: close on a connection the receiver leaves open", () => {
  it("is a delivery, and its connection is not pooled: the next callback goes on a new connection", async () => {
    // Prepare: the receiver says `Connection: close` on its first answer but never closes
    const close = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

    // Act
    const { at, first, second } = await postTwice((n) => (n === 1 ? close : ANSWER));

    // Assess
    expect(first).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
    expect(second).toEqual({ ok: true, status: 204, durationMs: expect.any(Number) });
    expect(at.connections()).toBe(2);
  });
});

describe("callback client: a request sent again within its attempt", () => {
  it("for leftovers ahead of its answer is sent again, the same bytes: the receiver read it, and gets it twice under one webhook-id", async () => {
    // Prepare: a receiver that reads each request whole (and acts on it), answering its connection's second request
    // behind bytes a previous answer left (past its Content-Length); every request is kept as it came
    const raw: [connection: number, request: string][] = [];
    let connections = 0;
    const listening = net.createServer((socket) => {
      const connection = ++connections;
      let n = 0;
      let buffered = "";
      socket.on("data", (data: Buffer) => {
        buffered += data.toString("latin1");
        for (let end = buffered.indexOf("\r\n\r\n"); end >= 0; end = buffered.indexOf("\r\n\r\n")) {
          const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
          if (buffered.length < end + 4 + length) return;
          raw.push([connection, buffered.slice(0, end + 4 + length)]);
          buffered = buffered.slice(end + 4 + length);
          socket.write(++n === 2 ? `{"ok":1}${ANSWER}` : ANSWER);
        }
      });
    });
    server = listening;
    await new Promise<void>((resolve) => listening.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(listening.address() as AddressInfo).port}/hook`;
    client = createCallbackClient({ policy: { isAllowed: () => true }, allowPlainHttp: true });
    const post = (id: string) =>
      client?.post({
        url,
        body: `{"task_id":"${id}"}`,
        headers: { "webhook-id": id, "webhook-timestamp": "1795441637", "webhook-signature": `v1,${id}` },
        timeoutMs: 5_000,
      });

    // Act
    await post("w1");
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await post("w2");

    // Assess: the second callback reached the receiver twice — on the reused connection (read whole, answered behind
    // the leftovers) and on a new one — byte for byte the same, its webhook-id included: the receiver deduplicates
    // on it (docs/CALLBACKS.md, "Sent once more within the attempt")
    expect(second).toEqual({ ok: true, status: 204, durationMs: expect.any(Number) });
    expect(raw.map(([connection]) => connection)).toEqual([1, 1, 2]);
    const firstSending = raw[1]?.[1] ?? "";
    const sentAgain = raw[2]?.[1];
    expect(firstSending).toContain("\r\nwebhook-id: w2\r\n");
    expect(firstSending.endsWith('{"task_id":"w2"}')).toBe(true);
    expect(sentAgain).toBe(firstSending);
  });
});

describe("callback client: a receiver that reads each callback and refuses it as an unparsable line, with Connection: close", () => {
  it("gets a callback at most twice, and every later one on a new connection still passes the address policy and the lookup seam", async () => {
    // Prepare: a hostile receiver behind a name (the lookup seam resolves it to loopback): a 204 kept alive, then
    // `400` with `Connection: close` to every request it reads, as if it had not taken it; an allow-list that admits
    // the address until the test withdraws it
    const at = await receiver(
      (n) =>
        n === 1 ? ANSWER : "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
      10_000,
    );
    const port = new URL(at.url).port;
    let admitted = true;
    const looked: string[] = [];
    client = createCallbackClient({
      policy: { isAllowed: (_host, ip) => admitted && ip === "127.0.0.1" },
      allowPlainHttp: true,
      lookup: async (host) => {
        looked.push(host);
        return [{ address: "127.0.0.1", family: 4 }];
      },
    });
    const post = (id: string) =>
      client?.post({
        url: `http://hooks.example.com:${port}/hook`,
        body: `{"id":"${id}"}`,
        headers: { "webhook-id": id },
        timeoutMs: 5_000,
      });

    // Act: a delivery, a refusal on the reused connection (sent once more on a new one), a callback once the
    // allow-list no longer admits the address, then one more once it does again
    const first = await post("w1");
    const second = await post("w2");
    const afterSecond = { requests: at.requests(), connections: at.connections() };
    admitted = false;
    const refused = await post("w3");
    const afterRefused = { requests: at.requests(), connections: at.connections() };
    admitted = true;
    const fourth = await post("w4");

    // Assess: w2 went twice (the second on a new connection), never a third time; w3 was refused by the policy on
    // the lookup of its new connection (nothing sent, no connection opened); w4 went once, on a new connection of
    // its own (the receiver is not pooled again), and its refusal stands
    expect(first).toMatchObject({ ok: true, status: 204 });
    expect(second).toMatchObject({ ok: false, status: 400 });
    expect(afterSecond).toEqual({ requests: 3, connections: 2 });
    expect(refused).toMatchObject({ ok: false, refused: true });
    expect(afterRefused).toEqual(afterSecond);
    expect(fourth).toMatchObject({ ok: false, status: 400 });
    expect({ requests: at.requests(), connections: at.connections() }).toEqual({
      requests: 4,
      connections: 3,
    });
    expect(looked.every((host) => host === "hooks.example.com")).toBe(true);
    expect(looked.length).toBeGreaterThanOrEqual(4);
  });
});
