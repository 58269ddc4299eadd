import net from "node:net";

/**
 * How the hostile receiver treats a request, chosen by the request path's first segment (`/<mode>/…`):
 * - `ok`: a well-formed `200 OK`;
 * - `upgrade`: `101 Switching Protocols`, then silence on the switched connection;
 * - `bare-101`: `101 Switching Protocols` without the `Upgrade` / `Connection` headers that negotiate one, then
 *   silence (Node reports it as an ordinary response with status 101);
 * - `close`: reads the request, then closes the connection without a byte of response;
 * - `half-headers`: writes part of a status line and header block, then silence;
 * - `trickle-headers`: a `200`'s status line and headers one byte every `trickleEveryMs` (each byte resets an idle timer);
 * - `endless-1xx`: `100 Continue` / `102 Processing` / `103 Early Hints` over and over until the client hangs up;
 * - `slow-1xx`: one `102 Processing` every `trickleEveryMs`, forever (too few at a time to look like a flood);
 * - `huge-1xx`: `103 Early Hints` with a 15 KiB `Link` header (under Node's 16 KiB head limit) over and over;
 * - `continue-upgrade`: `100 Continue`, then a `101 Switching Protocols` nobody asked for, then silence;
 * - `blank-lines`: CR LF without end and no status line (llhttp skips any number of them ahead of one), written
 *   as fast as the client reads it;
 * - `trickle`: a `200` with a 1 KiB Content-Length whose body comes one byte every `trickleEveryMs`;
 * - `close-delimited`: an HTTP/1.0 `200` with neither Content-Length nor chunks: its body ends where the receiver
 *   closes the connection (RFC 9112 §6.3, rule 8), which it does after a few bytes;
 * - `endless-close-delimited`: as `close-delimited`, but the body comes one byte every `trickleEveryMs` and the
 *   receiver never closes (the body never ends);
 * - `silent`: accepts the connection and never writes;
 * - `huge`: a `200` with a chunked body that never ends, written as fast as the client reads it;
 * - `linger`: a well-formed keep-alive `200` without a `Keep-Alive: timeout` hint, then the connection held open
 *   for as long as the client keeps it (the receiver never closes an idle connection);
 * - `idle-trickle`: as `linger`, and then a `\r\n` every `trickleEveryMs` on the idle connection (each byte would
 *   reset an inactivity timer);
 * - `cut-short`: a `200` with a 1 KiB Content-Length, 10 bytes of body, then the connection closed (a lie);
 * - `cut-chunked`: a chunked `200`, one chunk, then the connection closed without the last (empty) chunk;
 * - `bad-chunk`: a chunked `200` whose first chunk size is not hexadecimal (a framing error after the head);
 * - `chunk-overflow`: a chunked `200` whose first chunk size, `ffffffffffffffffff`, overflows 64 bits;
 * - `no-content-body`: a `204` that carries a body anyway (llhttp ends a 204 at its headers, so the body is junk);
 * - `past-length`: a complete `200` followed by bytes past its Content-Length;
 * - `status-999` / `status-000`: a final status outside HTTP's 100–599 (llhttp takes any three digits);
 * - `http09`: a bare body with no status line at all (an HTTP/0.9 answer);
 * - `both-lengths`: a `200` with both Content-Length and Transfer-Encoding (the framing of a smuggling attempt);
 * - `two-lengths`: a `200` with two Content-Length headers that disagree (2 and 3: which one frames the body?);
 * - `same-length-twice`: a `200` with the same Content-Length twice (RFC 9110 §8.6 lets a recipient take it; Node
 *   refuses it as `HPE_UNEXPECTED_CONTENT_LENGTH`);
 * - `negative-length`: a `200` with `Content-Length: -5`;
 * - `pipelined`: a complete `200` and, in the same write, a `500` nobody asked for (an answer smuggled ahead for
 *   the next request on the connection), the connection left open;
 * - `huge-head`: a `200` whose header block is far past Node's 16 KiB header limit;
 * - `lowercase-status`: a complete `200` whose status line is spelled `http/1.1 200 OK` (Node reads none of it:
 *   llhttp's `HPE_INVALID_CONSTANT`, as for bytes that are no answer at all), the connection left open.
 * `/<mode>/<n>/…` misbehaves for the first n requests to that path, then answers like `ok`. A connection left open
 * is read on: a client reusing it (after `linger`, say) gets the answer its next request's path asks for.
 */
export const HOSTILE_MODES = [
  "ok",
  "upgrade",
  "bare-101",
  "close",
  "half-headers",
  "trickle-headers",
  "endless-1xx",
  "slow-1xx",
  "huge-1xx",
  "continue-upgrade",
  "blank-lines",
  "trickle",
  "close-delimited",
  "endless-close-delimited",
  "silent",
  "huge",
  "linger",
  "idle-trickle",
  "cut-short",
  "cut-chunked",
  "bad-chunk",
  "chunk-overflow",
  "no-content-body",
  "past-length",
  "status-999",
  "status-000",
  "http09",
  "both-lengths",
  "two-lengths",
  "same-length-twice",
  "negative-length",
  "pipelined",
  "huge-head",
  "lowercase-status",
] as const;
export type HostileMode = (typeof HOSTILE_MODES)[number];

export interface HostileRequest {
  readonly receivedAtMs: number;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** What the receiver did with it (`ok` once a counted mode has run out). */
  readonly mode: HostileMode;
  /** Which connection it came on (1 for the receiver's first): the same for requests on a kept-alive one. */
  readonly connection: number;
}

export interface HostileReceiver {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly requests: readonly HostileRequest[];
  /** Resolves once the connection of every request in `mode` has been closed (by either side). */
  connectionsClosed(): Promise<void>;
  /** Resolves once at most `count` connections are open (closed by either side). */
  connectionsOpenAtMost(count: number): Promise<void>;
  /** Bytes of `huge` body written so far (to show the client stopped reading). */
  readonly hugeBytesWritten: number;
  stop(): Promise<void>;
}

export interface HostileReceiverOptions {
  /** Gap between two body bytes in `trickle` mode. Default 100 ms. */
  readonly trickleEveryMs?: number;
}

/**
 * A receiver that misbehaves at the byte level, for testing that every callback attempt ends by its deadline
 * whatever the other side does. A `net.Server` writing raw bytes rather than `http.createServer`, because Node's
 * HTTP server will not produce most of these answers (half-written headers, endless 1xx, a 101 it did not
 * negotiate). Listens on 127.0.0.1 only.
 */
export async function startHostileReceiver(options: HostileReceiverOptions = {}): Promise<HostileReceiver> {
  const trickleEveryMs = options.trickleEveryMs ?? 100;
  const requests: HostileRequest[] = [];
  const seenByPath = new Map<string, number>();
  const open = new Set<net.Socket>();
  const closedWaiters = new Set<{ atMost: number; wake: () => void }>();
  let hugeBytesWritten = 0;
  let connections = 0;

  const notifyIfAllClosed = () => {
    for (const waiter of closedWaiters) {
      if (open.size > waiter.atMost) continue;
      closedWaiters.delete(waiter);
      waiter.wake();
    }
  };
  const openAtMost = (atMost: number) =>
    new Promise<void>((wake) => {
      closedWaiters.add({ atMost, wake });
      notifyIfAllClosed();
    });

  const server = net.createServer((socket) => {
    const connection = ++connections;
    open.add(socket);
    const timers = new Set<NodeJS.Timeout>();
    socket.once("close", () => {
      for (const t of timers) clearInterval(t);
      open.delete(socket);
      notifyIfAllClosed();
    });
    socket.on("error", () => undefined);
    readRequests(socket, (head, body) => {
      const path = head.path;
      const count = (seenByPath.get(path) ?? 0) + 1;
      seenByPath.set(path, count);
      const mode = modeFor(path, count);
      requests.push({ receivedAtMs: Date.now(), path, headers: head.headers, body, mode, connection });
      const every = (ms: number, step: () => void) => {
        const t = setInterval(() => {
          if (socket.destroyed || socket.writableEnded) clearInterval(t);
          else step();
        }, ms);
        timers.add(t);
      };
      switch (mode) {
        case "ok":
          socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
          return;
        case "linger":
          socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
          return;
        case "idle-trickle":
          socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
          every(trickleEveryMs, () => socket.write("\r\n"));
          return;
        case "upgrade":
          socket.write(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
          );
          return;
        case "bare-101":
          socket.write("HTTP/1.1 101 Switching Protocols\r\n\r\n");
          return;
        case "close":
          socket.end();
          return;
        case "half-headers":
          socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/pl");
          return;
        case "trickle-headers": {
          const head = Buffer.from(
            `HTTP/1.1 200 OK\r\nX-Padding: ${"p".repeat(64)}\r\nContent-Length: 0\r\n\r\n`,
          );
          let sent = 0;
          every(trickleEveryMs, () => socket.write(head.subarray(sent, ++sent)));
          return;
        }
        case "endless-1xx": {
          const informational = ["100 Continue", "102 Processing", "103 Early Hints"];
          let i = 0;
          const next = () => `HTTP/1.1 ${informational[i++ % informational.length]}\r\n\r\n`;
          // A burst first (more than any sane client accepts), then more for as long as the connection lasts.
          socket.write(Array.from({ length: 32 }, next).join(""));
          every(5, () => socket.write(next()));
          return;
        }
        case "slow-1xx":
          every(trickleEveryMs, () => socket.write("HTTP/1.1 102 Processing\r\n\r\n"));
          return;
        case "huge-1xx": {
          const early = `HTTP/1.1 103 Early Hints\r\nLink: ${"l".repeat(15 * 1024)}\r\n\r\n`;
          every(5, () => socket.write(early));
          return;
        }
        case "continue-upgrade":
          socket.write(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
          );
          return;
        case "blank-lines":
          pumpUntilClosed(socket, Buffer.from("\r\n".repeat(1024)));
          return;
        case "trickle":
          socket.write("HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n");
          every(trickleEveryMs, () => socket.write("x"));
          return;
        case "close-delimited":
          socket.end("HTTP/1.0 200 OK\r\n\r\nok");
          return;
        case "endless-close-delimited":
          socket.write("HTTP/1.0 200 OK\r\n\r\n");
          every(trickleEveryMs, () => socket.write("x"));
          return;
        case "silent":
          return;
        case "cut-short":
          socket.end(`HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n${"x".repeat(10)}`);
          return;
        case "cut-chunked":
          socket.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
          return;
        case "bad-chunk":
          socket.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n");
          return;
        case "chunk-overflow":
          socket.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n");
          return;
        case "no-content-body":
          socket.end("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello");
          return;
        case "past-length":
          socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok and then some");
          return;
        case "status-999":
          socket.end("HTTP/1.1 999 Whatever\r\nContent-Length: 0\r\n\r\n");
          return;
        case "status-000":
          socket.end("HTTP/1.1 000 Nothing\r\nContent-Length: 0\r\n\r\n");
          return;
        case "http09":
          socket.end("ok");
          return;
        case "both-lengths":
          socket.end("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
          return;
        case "two-lengths":
          socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk");
          return;
        case "same-length-twice":
          socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
          return;
        case "negative-length":
          socket.end("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nok");
          return;
        case "pipelined":
          socket.write(
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 500 Smuggled\r\nContent-Length: 0\r\n\r\n",
          );
          return;
        case "huge-head":
          socket.end(`HTTP/1.1 200 OK\r\nX-Padding: ${"p".repeat(64 * 1024)}\r\nContent-Length: 0\r\n\r\n`);
          return;
        case "lowercase-status":
          socket.write("http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
          return;
        case "huge": {
          socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
          const chunk = Buffer.alloc(64 * 1024, 97);
          const frame = Buffer.concat([
            Buffer.from(`${chunk.length.toString(16)}\r\n`),
            chunk,
            Buffer.from("\r\n"),
          ]);
          const pump = () => {
            while (!socket.destroyed && !socket.writableEnded) {
              hugeBytesWritten += chunk.length;
              if (!socket.write(frame)) return void socket.once("drain", pump);
            }
          };
          pump();
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get hugeBytesWritten() {
      return hugeBytesWritten;
    },
    connectionsClosed: () => openAtMost(0),
    connectionsOpenAtMost: openAtMost,
    stop: async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes `bytes` over and over, as fast as the other side reads them, until the connection is closed. */
function pumpUntilClosed(socket: net.Socket, bytes: Buffer): void {
  const pump = () => {
    while (!socket.destroyed && !socket.writableEnded) {
      if (!socket.write(bytes)) return void socket.once("drain", pump);
    }
  };
  pump();
}

function modeFor(path: string, count: number): HostileMode {
  const [, first, second] = path.split("/");
  const mode = HOSTILE_MODES.find((m) => m === first) ?? "ok";
  const times = Number(second);
  if (Number.isInteger(times) && times >= 0 && count > times) return "ok";
  return mode;
}

interface RequestHead {
  readonly path: string;
  readonly headers: Record<string, string>;
}

/**
 * Reads requests (head + Content-Length body) off the socket, handing each over once it is whole, for as long as
 * the connection lasts: a client may send its next request on a connection a mode left open.
 */
function readRequests(socket: net.Socket, onRequest: (head: RequestHead, body: string) => void): void {
  let buffered = Buffer.alloc(0);
  socket.on("data", (data: Buffer) => {
    buffered = Buffer.concat([buffered, data]);
    for (;;) {
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0) return;
      const [requestLine = "", ...lines] = buffered.subarray(0, end).toString("latin1").split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const path = requestLine.split(" ")[1] ?? "/";
      const bodyEnd = end + 4 + Number(headers["content-length"] ?? 0);
      // Read the whole request before misbehaving: closing with unread bytes would send a RST instead of a FIN.
      if (buffered.length < bodyEnd) return;
      const body = buffered.subarray(end + 4, bodyEnd).toString("utf8");
      buffered = buffered.subarray(bodyEnd);
      onRequest({ path, headers }, body);
    }
  });
}
