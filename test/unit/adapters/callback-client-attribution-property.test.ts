import net from "node:net";
import tls from "node:tls";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type CallbackClient, createCallbackClient } from "#shared/adapters/callback-client.js";
import { propertyRuns } from "../../support/fast-check-runs.js";
import { readRequests } from "../../support/raw-receiver.js";
import { TLS_RECEIVER_CERT, TLS_RECEIVER_KEY } from "../../support/tls-receiver-certificate.js";

/**
 * A receiver mixing the misbehaviours the callback client handles on kept-alive connections, each request telling
 * the receiver which one to play and which status to answer: whatever the mix and order, one callback at a time or
 * several at once, over plain HTTP or TLS, each callback's result is the status the receiver gave *that* callback
 * (never another's answer read as its own: leftovers, a pipelined answer, junk after a body), and the receiver gets
 * each callback once — twice only where docs/CALLBACKS.md says a request is sent once more (a kept-alive connection
 * closed or reset under it before any answer, or answering 408), and then byte for byte the same.
 */

const MISBEHAVIOURS = [
  "plain",
  "junk-after",
  "pipelined",
  "close-header",
  "http10-keep-alive",
  "chunked",
  "trailers",
  "informational",
  "upgrade-advertised",
  "past-length",
  "close-on-reuse",
  "reset-on-reuse",
  "408-on-reuse",
  "refuse-on-head",
] as const;
type Misbehaviour = (typeof MISBEHAVIOURS)[number];

/** The misbehaviours that make a request go out once more (on a connection that had served one before). */
const SENT_AGAIN = new Set<Misbehaviour>(["close-on-reuse", "reset-on-reuse", "408-on-reuse"]);

interface Step {
  readonly play: Misbehaviour;
  readonly status: 200 | 204 | 404 | 500;
}

/**
 * The status a step's callback is answered with: its own, but for a refusal given on the request's head, which is
 * never a 2xx (a 2xx on the head of a request the receiver then leaves unread is the case no client can tell from a
 * complete exchange: docs/RELIABILITY.md, "What is left").
 */
function answered(s: Step): number {
  return s.play === "refuse-on-head" && s.status < 300 ? 413 : s.status;
}

/** The bytes that answer `status` as `play` says, on a connection's `n`th request; undefined: close it unanswered. */
function answerFor(play: Misbehaviour, status: number, n: number): string | "reset" | undefined {
  const body = `HTTP/1.1 ${status} X\r\nContent-Length: 2\r\n\r\nok`;
  switch (play) {
    case "plain":
      return body;
    case "junk-after":
      return `${body}garbage, not an answer`;
    case "pipelined":
      return `${body}HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`;
    case "close-header":
      return `HTTP/1.1 ${status} X\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
    case "http10-keep-alive":
      return `HTTP/1.0 ${status} X\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n`;
    case "chunked":
      return `HTTP/1.1 ${status} X\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n`;
    case "trailers":
      return `HTTP/1.1 ${status} X\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: 1\r\n\r\n`;
    case "informational":
      return `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n${body}`;
    case "upgrade-advertised":
      return `HTTP/1.1 ${status} X\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n`;
    case "past-length":
      return `${body}LEFTOVER`;
    case "close-on-reuse":
      return n > 1 ? undefined : body;
    case "reset-on-reuse":
      return n > 1 ? "reset" : body;
    case "408-on-reuse":
      return n > 1 ? "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n" : body;
    case "refuse-on-head":
      return body;
  }
}

interface Received {
  readonly id: number;
  readonly raw: string;
}

/** A request header's value (the step rides in `x-step`: `<id> <play> <status>`). */
function stepOf(head: string): { id: number; play: Misbehaviour; status: number } | undefined {
  const match = /\r\nx-step: *(\d+) ([\w-]+) (\d+)/i.exec(head);
  if (!match) return undefined;
  return { id: Number(match[1]), play: match[2] as Misbehaviour, status: Number(match[3]) };
}

/**
 * Parses each request (head, Content-Length body) and answers it as its `x-step` header says. A refusal on the head
 * is given as soon as the head is in, and its body is left unread, as a server refusing early leaves it: those bytes
 * then lead the next request on the connection, which — not starting with a request line — is answered 400 and the
 * connection closed, as Node's and Go's servers answer such bytes.
 */
function answerRequests(socket: net.Socket, received: Received[]): void {
  socket.on("error", () => undefined);
  let n = 0;
  const answeredOnHead = (head: string) => {
    const step = stepOf(head);
    return !head.startsWith("POST ") || !step || step.play === "refuse-on-head";
  };
  readRequests(socket, answeredOnHead, (head, body) => {
    const step = stepOf(head);
    if (!head.startsWith("POST ") || !step) {
      socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return false;
    }
    if (step.play === "refuse-on-head") {
      received.push({ id: step.id, raw: head });
      socket.write(answerFor(step.play, step.status, ++n) ?? "");
      return;
    }
    received.push({ id: step.id, raw: `${head}\r\n\r\n${body}` });
    const answer = answerFor(step.play, step.status, ++n);
    if (answer === "reset") {
      if (socket instanceof tls.TLSSocket) socket.destroy();
      else socket.resetAndDestroy();
      return false;
    }
    if (answer === undefined) {
      socket.destroy();
      return false;
    }
    socket.write(answer);
    if (step.play === "408-on-reuse" && n > 1) socket.end();
  });
}

interface Receiver {
  readonly url: string;
  readonly received: Received[];
  stop(): Promise<void>;
}

async function startReceiver(overTls: boolean): Promise<Receiver> {
  const received: Received[] = [];
  const sockets = new Set<net.Socket>();
  const onConnection = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    answerRequests(socket, received);
  };
  const server = overTls
    ? tls.createServer({ key: TLS_RECEIVER_KEY, cert: TLS_RECEIVER_CERT }, onConnection)
    : net.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `${overTls ? "https" : "http"}://hooks.example.com:${port}/hook`,
    received,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function clientFor(overTls: boolean): CallbackClient {
  return createCallbackClient({
    policy: { isAllowed: (_host, ip) => ip === "127.0.0.1" },
    allowPlainHttp: !overTls,
    lookup: async () => [{ address: "127.0.0.1", family: 4 }],
    ...(overTls && { ca: TLS_RECEIVER_CERT }),
  });
}

const step = fc.record({
  play: fc.constantFrom(...MISBEHAVIOURS),
  status: fc.constantFrom(200 as const, 204 as const, 404 as const, 500 as const),
});

describe("callback client: answers are never attributed to another callback, whatever a kept-alive receiver mixes", () => {
  it("each callback gets its own status; the receiver gets it once, or twice (the same bytes) where a resend is documented", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.integer({ min: 1, max: 4 }),
        fc.array(step, { minLength: 1, maxLength: 16 }),
        async (overTls, atOnce, steps) => {
          // Prepare
          const receiver = await startReceiver(overTls);
          const c = clientFor(overTls);
          try {
            // Act: `atOnce` callbacks at a time, in order
            const results: { status?: number; error?: string }[] = [];
            for (let from = 0; from < steps.length; from += atOnce) {
              const round = steps.slice(from, from + atOnce).map((s, k) =>
                c.post({
                  url: receiver.url,
                  body: JSON.stringify({ id: from + k, note: "x".repeat(k * 7) }),
                  headers: {
                    "webhook-id": `msg_${from + k}`,
                    "x-step": `${from + k} ${s.play} ${answered(s)}`,
                  },
                  timeoutMs: 5_000,
                }),
              );
              results.push(...(await Promise.all(round)));
            }

            // Assess
            expect(results.map((r) => r.status)).toEqual(steps.map(answered));
            steps.forEach((s, id) => {
              const copies = receiver.received.filter((r) => r.id === id);
              expect(copies.length).toBeGreaterThanOrEqual(1);
              expect(copies.length).toBeLessThanOrEqual(SENT_AGAIN.has(s.play) ? 2 : 1);
              expect(new Set(copies.map((r) => r.raw)).size).toBe(1);
            });
          } finally {
            await c.close();
            await receiver.stop();
          }
        },
      ),
      propertyRuns(40),
    );
  }, 120_000);
});
