import net from "node:net";
import tls from "node:tls";
import { TLS_RECEIVER_CERT, TLS_RECEIVER_KEY } from "./tls-receiver-certificate.js";

/** One request as the raw receiver read it. */
export interface RawRequest {
  /** The connection it came on, from 1 (the same for requests on a kept-alive one). */
  readonly connection: number;
  /** Its place among its connection's requests, from 1. */
  readonly n: number;
  /** Its place among all the receiver's requests, from 0. */
  readonly index: number;
  /** The head as it came (latin1), without the blank line that ends it. */
  readonly head: string;
  /** The Content-Length body (utf8). */
  readonly body: string;
}

/** How the receiver answers one request: with bytes written to `socket` (or by closing it, or not at all). */
export type RawAnswer = (socket: net.Socket, request: RawRequest) => void;

export interface RawReceiver {
  /** `http://127.0.0.1:<port>/hook`, or over TLS `https://hooks.example.com:<port>/hook` (a name to resolve to loopback). */
  readonly url: string;
  /** Every request read so far, in order (the very objects `answer` was given). */
  readonly requests: RawRequest[];
  /** Resolves once the receiver's `connection`th connection has closed (by either side). */
  closed(connection: number): Promise<void>;
  stop(): Promise<void>;
}

export interface RawReceiverOptions {
  /**
   * Serve TLS with test/support/tls-receiver-certificate.ts (for `hooks.example.com`, `127.0.0.1` and `::1`): the
   * client trusts it through its `ca` seam and reaches `hooks.example.com` through its lookup seam. Given as options,
   * with those of the server's settings (a receiver held to TLS 1.2, or offering only `h2` by ALPN).
   */
  readonly tls?: boolean | Pick<tls.TlsOptions, "maxVersion" | "ALPNProtocols">;
  /**
   * Hand each request over on its head and never read a body (`body` is ""), as a handler that ignores the body
   * leaves it: the body's bytes are then read as the start of the next request's head on the connection.
   */
  readonly leaveBodiesUnread?: boolean;
}

/**
 * A receiver on 127.0.0.1 that answers raw bytes, request by request: it reads each request (head and Content-Length
 * body; the callback client sends nothing else) and hands it to `answer` once it is whole, for as long as the
 * connection lasts. A `net.Server` (or `tls.Server`) rather than Node's HTTP server, which will not write most of
 * the answers the callback-client tests need.
 */
export async function startRawReceiver(
  answer: RawAnswer,
  options: RawReceiverOptions = {},
): Promise<RawReceiver> {
  const requests: RawRequest[] = [];
  const sockets = new Set<net.Socket>();
  const closes: Promise<void>[] = [];
  const onConnection = (socket: net.Socket) => {
    const connection = closes.length + 1;
    sockets.add(socket);
    closes.push(new Promise((resolve) => socket.once("close", () => resolve())));
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let n = 0;
    readRequests(
      socket,
      () => options.leaveBodiesUnread === true,
      (head, body) => {
        const request = { connection, n: ++n, index: requests.length, head, body };
        requests.push(request);
        answer(socket, request);
      },
    );
  };
  const server = options.tls
    ? tls.createServer(
        { key: TLS_RECEIVER_KEY, cert: TLS_RECEIVER_CERT, ...(options.tls === true ? {} : options.tls) },
        onConnection,
      )
    : net.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: options.tls ? `https://hooks.example.com:${port}/hook` : `http://127.0.0.1:${port}/hook`,
    requests,
    closed: (connection) =>
      closes[connection - 1] ?? Promise.reject(new Error(`no connection ${connection}`)),
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Hands over each request on `socket` once its head and Content-Length body are in, or its head alone (body "") where
 * `headOnly(head)` says so, its body's bytes then leading the next head. `onRequest` returning false stops reading
 * what is buffered (it has closed the connection). Shared with callback-client-attribution-property.test.ts.
 */
export function readRequests(
  socket: net.Socket,
  headOnly: (head: string) => boolean,
  onRequest: (head: string, body: string) => boolean | undefined,
): void {
  let pending = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      const end = pending.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = pending.toString("latin1", 0, end);
      const length = headOnly(head) ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (pending.length < end + 4 + length) return;
      const body = pending.toString("utf8", end + 4, end + 4 + length);
      pending = pending.subarray(end + 4 + length);
      if (onRequest(head, body) === false) return;
    }
  });
}
