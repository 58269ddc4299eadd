/**
 * `punctual console`'s session: its server signs API calls with the user's credentials, and loopback is shared with
 * every other user and process on the machine, so the loopback and header checks (server.ts `refusalOf`) keep out
 * web pages but not a local process. The server signs only for a caller that holds the session's call secret, which
 * only the holder of the token printed in its URL gets (as Jupyter's token does): opening that URL redirects to the
 * page with the call secret in the URL's fragment (never sent to a server, nor in a Referer); the page keeps it in
 * its origin's storage, which no page of another port can read or write, and sends it in SESSION_HEADER on every
 * call (`/v1/…`, `/console/api/…`).
 *
 * No cookie. Cookies do not tell ports apart (RFC 6265, section 8.5,
 * https://www.rfc-editor.org/rfc/rfc6265#section-8.5): the browser sent the session cookie this used to set to every
 * server of this host the user opened, and any of them could overwrite it (a `Set-Cookie` of the same name and path:
 * no prefix, `__Host-` included, and no name, which such a server is sent, stops it), locking the holder out of the
 * page until they opened the printed URL again. What the cookie gated holds nothing: the page and its files are the
 * same for everyone (they ship in the package); every answer with data is a call, gated by the call secret.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type http from "node:http";
import { SECURITY_HEADERS, sendJson } from "./server.js";

const TOKEN_PARAMETER = "token";
/** The header the page's calls carry the call secret in (console/src/session.ts keeps it, api.ts sends it). */
export const SESSION_HEADER = "x-punctual-session";
/** The fragment parameter the redirect puts it in. */
export const SESSION_FRAGMENT = "session";
/**
 * Answers 204 to a call that carries the session's call secret: how the page checks a secret a fragment brought
 * before it keeps it in place of its own (a page of another port may send the tab here with one of its making).
 */
export const SESSION_CHECK_PATH = "/console/api/session";
const REFUSAL = "open the URL `punctual console` printed: it holds this session's token";

export interface ConsoleSession {
  /** Where the token goes: the printed URL is `path?token=…`. */
  urlFor(path: string): string;
  /**
   * Answers a call without the session's call secret (403), the printed URL (303 to the page, the secret in the
   * fragment; 403 with another token) and the session check (204), and says so (true); false lets the request through.
   */
  gate(req: http.IncomingMessage, res: http.ServerResponse): boolean;
}

/** A new session for this server: its printed token and its call secret. */
export function consoleSession(): ConsoleSession {
  const token = randomBytes(32).toString("base64url");
  const callToken = randomBytes(32).toString("base64url");
  return {
    urlFor: (path) => `${path}?${TOKEN_PARAMETER}=${token}`,
    gate(req, res) {
      const url = new URL(req.url ?? "/", "http://localhost");
      const offered = url.searchParams.get(TOKEN_PARAMETER);
      if (offered !== null) return sameSecret(offered, token) ? startSession(res, callToken) : refuse(res);
      if (!isCall(url.pathname)) return false;
      if (!carries(req, callToken)) return refuse(res);
      if (url.pathname !== SESSION_CHECK_PATH) return false;
      res.writeHead(204, { ...SECURITY_HEADERS, "cache-control": "no-store" }).end();
      return true;
    },
  };
}

function refuse(res: http.ServerResponse): true {
  return sendJson(res, 403, { error: { code: "forbidden", message: REFUSAL } });
}

/** What the server signs or reads for the page: the API calls and the console's own endpoints. */
function isCall(pathname: string): boolean {
  return pathname.startsWith("/v1/") || pathname.startsWith("/console/api/");
}

function carries(req: http.IncomingMessage, callToken: string): boolean {
  const value = req.headers[SESSION_HEADER];
  return typeof value === "string" && sameSecret(value, callToken);
}

/**
 * Always to the page: a path the URL named (`//elsewhere.example`) would make this an open redirect. The call token
 * rides in the fragment, which the browser keeps across the redirect and the page strips from the address.
 */
function startSession(res: http.ServerResponse, callToken: string): true {
  res
    .writeHead(303, {
      ...SECURITY_HEADERS,
      "cache-control": "no-store",
      location: `/console#${SESSION_FRAGMENT}=${callToken}`,
    })
    .end();
  return true;
}

/** Compared in constant time; the digests make the lengths equal, as timingSafeEqual needs. */
function sameSecret(candidate: string, token: string): boolean {
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(candidate), digest(token));
}
