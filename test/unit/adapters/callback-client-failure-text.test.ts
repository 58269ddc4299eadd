import net, { type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  type CallbackClient,
  type CallbackClientOptions,
  createCallbackClient,
} from "#shared/adapters/callback-client.js";
import { describeFailureCode } from "#shared/adapters/callback-failure-text.js";
import { hostFailed } from "#shared/domain/destination.js";

/**
 * What a failed attempt's stored error (`last_error`, the attempt log) says when no answer could be read: what
 * happened in words, then Node's code (docs/CALLBACKS.md, "What a failed attempt's error says"). Each class is met on
 * real sockets on 127.0.0.1 where loopback can produce it; the rest (a route that is down, a certificate) through the
 * wording itself.
 */
const servers: net.Server[] = [];
const clients: CallbackClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const server of servers.splice(0)) server.close();
});

function client(options: Partial<CallbackClientOptions> = {}): CallbackClient {
  const c = createCallbackClient({ policy: { isAllowed: () => true }, allowPlainHttp: true, ...options });
  clients.push(c);
  return c;
}

/** A raw TCP receiver that does `onRequest` with each connection's first bytes. */
async function rawReceiver(onRequest: (socket: net.Socket) => void): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on("error", () => undefined);
    socket.once("data", () => onRequest(socket));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

const post = (c: CallbackClient, url: string) =>
  c.post({ url, body: '{"x":1}', headers: {}, timeoutMs: 2_000 });

describe("a failed attempt's stored error", () => {
  // Each head gave its code on Node 20.20.2; X-Secret's value is the receiver's and must never be quoted.
  it.each([
    [
      "a Content-Length that is no number",
      "HTTP/1.1 200 OK\r\nContent-Length: x-secret\r\n\r\n",
      "invalid Content-Length (HPE_INVALID_CONTENT_LENGTH)",
    ],
    [
      "two Content-Lengths",
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
      "Content-Length given more than once (HPE_UNEXPECTED_CONTENT_LENGTH)",
    ],
    [
      "Transfer-Encoding after a Content-Length",
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
      "invalid Transfer-Encoding (HPE_INVALID_TRANSFER_ENCODING)",
    ],
    ["no status line", "X-SECRET 200\r\n\r\n", "not an HTTP status line (HPE_INVALID_CONSTANT)"],
    ["a version", "HTTP/9.x 200 OK\r\n\r\n", "invalid HTTP version (HPE_INVALID_VERSION)"],
    ["a status", "HTTP/1.1 2x0 OK\r\n\r\n", "invalid status code (HPE_INVALID_STATUS)"],
    [
      "a header name",
      "HTTP/1.1 200 OK\r\nX Secret: x-secret\r\nContent-Length: 0\r\n\r\n",
      "invalid character in a header (HPE_INVALID_HEADER_TOKEN)",
    ],
    [
      "a head past 16 KiB",
      `HTTP/1.1 200 OK\r\nX-Secret: ${"x-secret".repeat(2_200)}\r\n\r\n`,
      "headers too large (HPE_HEADER_OVERFLOW)",
    ],
    ["bare LFs", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", "line not ended by CR LF (HPE_CR_EXPECTED)"],
    [
      "a CR without its LF in a header",
      "HTTP/1.1 200 OK\r\nContent-Length: 0\rX-Secret\r\n\r\n",
      "CR not followed by LF (HPE_LF_EXPECTED)",
    ],
    [
      "a CR without its LF after the status line",
      "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n",
      "violates HTTP/1.1 syntax (HPE_STRICT)",
    ],
  ])(
    "an answer Node's parser refuses (%s) is a malformed answer, in words, with llhttp's code",
    async (_case, head, text) => {
      // Prepare
      const port = await rawReceiver((socket) => socket.end(head));

      // Act
      const result = await post(client(), `http://127.0.0.1:${port}/hook`);

      // Assess: the words and the code, nothing the receiver wrote; a host failure without a status as before
      expect(result).toEqual({
        ok: false,
        error: `malformed answer: ${text}`,
        durationMs: expect.any(Number),
      });
      expect(result.error?.toLowerCase()).not.toContain("x-secret");
      expect(hostFailed(result)).toBe(true);
    },
  );

  it("a refused connection says so, with its errno", async () => {
    // Prepare: a port nothing listens on
    const port = await rawReceiver(() => undefined);
    await new Promise<void>((resolve) => servers.pop()?.close(() => resolve()));

    // Act
    const result = await post(client(), `http://127.0.0.1:${port}/hook`);

    // Assess
    expect(result.error).toBe("network: connection refused (ECONNREFUSED)");
  });

  it("a connection reset before any answer says so, with its errno", async () => {
    // Prepare: the receiver resets (RST) as the request arrives
    const port = await rawReceiver((socket) => socket.resetAndDestroy());

    // Act
    const result = await post(client(), `http://127.0.0.1:${port}/hook`);

    // Assess
    expect(result.error).toBe("network: connection reset (ECONNRESET)");
  });

  it("a connection closed before any answer keeps its words", async () => {
    const port = await rawReceiver((socket) => socket.end());

    expect((await post(client(), `http://127.0.0.1:${port}/hook`)).error).toBe(
      "network: connection closed without a response",
    );
  });

  it("an https callback answered in plain HTTP is a failed TLS handshake", async () => {
    // Prepare: a receiver that answers the ClientHello with an HTTP answer (a plain-http port behind an https URL)
    const port = await rawReceiver((socket) =>
      socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
    );

    // Act
    const result = await post(client(), `https://127.0.0.1:${port}/hook`);

    // Assess: OpenSSL's reason ("wrong version number") stays in Node's message, out of the stored text
    expect(result.error).toBe("tls: handshake failed (EPROTO)");
  });

  it.each([
    ["no address", async () => [], "dns: host name not found (ENOTFOUND)"],
    [
      "a resolver that did not answer",
      async () => {
        throw Object.assign(new Error("getaddrinfo EAI_AGAIN hooks.example.com"), { code: "EAI_AGAIN" });
      },
      "dns: temporary lookup failure (EAI_AGAIN)",
    ],
  ])(
    "a host name that does not resolve (%s) is a DNS failure, never the name",
    async (_case, lookup, text) => {
      // Act
      const result = await post(client({ lookup }), "http://hooks.example.com/hook");

      // Assess
      expect(result).toEqual({ ok: false, error: text, durationMs: expect.any(Number) });
    },
  );

  it("a header Node will not send is an invalid request", async () => {
    const result = await client().post({
      url: "http://127.0.0.1:9/hook",
      body: "{}",
      headers: { "punctual-topic": "a\r\nb" },
      timeoutMs: 2_000,
    });

    expect(result).toEqual({
      ok: false,
      error: "invalid request: a header value has a character HTTP forbids (ERR_INVALID_CHAR)",
      durationMs: 0,
    });
  });
});

describe("the words for codes loopback cannot produce", () => {
  it.each([
    ["ETIMEDOUT", "network: connection timed out (ETIMEDOUT)"],
    ["EHOSTUNREACH", "network: host unreachable (EHOSTUNREACH)"],
    ["ENETUNREACH", "network: network unreachable (ENETUNREACH)"],
    ["EPIPE", "network: connection closed while sending (EPIPE)"],
    ["CERT_HAS_EXPIRED", "tls: certificate expired (CERT_HAS_EXPIRED)"],
    ["DEPTH_ZERO_SELF_SIGNED_CERT", "tls: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)"],
    ["SELF_SIGNED_CERT_IN_CHAIN", "tls: self-signed certificate in the chain (SELF_SIGNED_CERT_IN_CHAIN)"],
    [
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "tls: certificate chain incomplete or untrusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
    ],
    [
      "ERR_TLS_CERT_ALTNAME_INVALID",
      "tls: certificate does not name the host (ERR_TLS_CERT_ALTNAME_INVALID)",
    ],
    ["HPE_INVALID_CHUNK_SIZE", "malformed answer: invalid chunk size (HPE_INVALID_CHUNK_SIZE)"],
    // Fallbacks: a code of a known family without words of its own, and any other code
    ["HPE_SOMETHING_NEW", "malformed answer: unreadable HTTP (HPE_SOMETHING_NEW)"],
    ["EAI_NODATA", "dns: lookup failed (EAI_NODATA)"],
    ["INVALID_CA", "tls: certificate not accepted (INVALID_CA)"],
    ["ERR_SSL_SOMETHING_NEW", "tls: handshake failed (ERR_SSL_SOMETHING_NEW)"],
    ["ENOBUFS", "network: connection failed (ENOBUFS)"],
    ["toString", "network: connection failed (toString)"],
  ])("%s reads %s", (code, text) => {
    expect(describeFailureCode(code)).toBe(text);
  });
});
