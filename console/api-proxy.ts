/**
 * `punctual console`'s path to a deployed API: the page calls `/v1/*` on its own origin, and this forwards the
 * call to the API, signed here with the user's credentials (the client's authorizer: SigV4, JWT or none). The
 * browser never holds a credential.
 */
import type http from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import type { Authorizer } from "../client/auth.js";
import { CONSOLE_HEADER, refusalOf, SECURITY_HEADERS, sendJson } from "./server.js";

/** Request headers that reach the API; everything else the browser sends (cookies included) stays here. */
const FORWARDED_REQUEST_HEADERS = ["content-type", "accept", "idempotency-key"];
const FORWARDED_RESPONSE_HEADERS = ["content-type", "retry-after", "allow"];
const MAX_BODY_BYTES = 10 * 1024 * 1024;

export function apiProxy(options: {
  readonly apiUrl: URL;
  readonly authorize: Authorizer;
  readonly fetch?: typeof fetch;
}): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean> {
  const send = options.fetch ?? fetch;
  return async (req, res) => {
    const incoming = new URL(req.url ?? "/", "http://localhost");
    if (!incoming.pathname.startsWith("/v1/")) return false;
    const refusal = refusalOf(req, true);
    if (refusal) return sendJson(res, 403, { error: { code: "forbidden", message: refusal } });
    const body = await readBody(req);
    if (body === undefined)
      return sendJson(res, 413, { error: { code: "too_large", message: "body too large" } });
    const target = new URL(
      `${options.apiUrl.pathname.replace(/\/$/, "")}${incoming.pathname}${incoming.search}`,
      options.apiUrl,
    );
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = req.headers[name];
      if (typeof value === "string" && name !== CONSOLE_HEADER) headers[name] = value;
    }
    const method = req.method ?? "GET";
    const signed = await options.authorize({
      method,
      url: target,
      headers,
      ...(body.length > 0 ? { body } : {}),
    });
    // Never follow a redirect: fetch would re-send the signed headers (a session token among them) to the
    // redirect's host. The API itself never redirects; whatever does is answered back as it is.
    const response = await send(target, {
      method,
      redirect: "manual",
      headers: { ...headers, ...signed },
      ...(body.length > 0 ? { body } : {}),
    });
    const out: Record<string, string> = { ...SECURITY_HEADERS };
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) out[name] = value;
    }
    res.writeHead(response.status, out);
    // Streamed through, never held whole: however long the answer, this server keeps only what is in transit.
    if (response.body) await pipeline(Readable.fromWeb(response.body as NodeReadableStream), res);
    else res.end();
    return true;
  };
}

async function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}
