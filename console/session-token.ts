/**
 * `punctual console`'s session: its server signs API calls with the user's credentials, and loopback is shared with
 * every other user and process on the machine, so the loopback and header checks (server.ts `refusalOf`) keep out
 * web pages but not a local process. The server serves only a caller that holds the token it printed in its URL
 * (as Jupyter does): opening that URL trades the token for an HttpOnly, SameSite=Strict cookie and redirects to the
 * page without it; every request after that must carry the cookie.
 *
 * The cookie alone does not get a call signed. Cookies do not tell ports apart (RFC 6265, section 8.5,
 * https://www.rfc-editor.org/rfc/rfc6265#section-8.5): the browser sends it to every server on this host the user
 * opens, another user's too, which could replay it. So the redirect also hands the page a second secret, in the URL's
 * fragment (never sent to a server, nor in a Referer); the page keeps it in its origin's storage, which no other
 * port's page can read, and sends it in SESSION_HEADER on every call (`/v1/…`, `/console/api/…`).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type http from "node:http";
import { serialize as serializeCookie } from "cookie";
import { SECURITY_HEADERS, sendJson } from "./server.js";

const TOKEN_PARAMETER = "token";
/** The header the page's calls carry the second secret in (console/src/session.ts keeps it, api.ts sends it). */
export const SESSION_HEADER = "x-punctual-session";
/** The fragment parameter the redirect puts it in. */
export const SESSION_FRAGMENT = "session";
const REFUSAL = "open the URL `punctual console` printed: it holds this session's token";

export interface ConsoleSession {
  /** Where the token goes: the printed URL is `path?token=…`. */
  urlFor(path: string): string;
  /**
   * Answers a request that has no session (403) or brings the token (303 with the cookie), and says so (true);
   * false lets the request through.
   */
  gate(req: http.IncomingMessage, res: http.ServerResponse): boolean;
}

/** A new session for the server on this port (cookies do not tell ports apart: the name does). */
export function consoleSession(port: number): ConsoleSession {
  const token = randomBytes(32).toString("base64url");
  const callToken = randomBytes(32).toString("base64url");
  const cookieName = `punctual_console_${port}`;
  const isToken = (candidate: string | undefined) => candidate !== undefined && sameSecret(candidate, token);
  return {
    urlFor: (path) => `${path}?${TOKEN_PARAMETER}=${token}`,
    gate(req, res) {
      const url = new URL(req.url ?? "/", "http://localhost");
      const offered = url.searchParams.get(TOKEN_PARAMETER);
      if (offered !== null && isToken(offered)) return startSession(res, cookieName, token, callToken);
      const cookie = offered === null && cookieValues(req.headers.cookie, cookieName).some(isToken);
      if (cookie && (!isCall(url.pathname) || carries(req, callToken))) return false;
      return sendJson(res, 403, { error: { code: "forbidden", message: REFUSAL } });
    },
  };
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
 * Every value the Cookie header holds for `name`, in its order. Not the first alone (the `cookie` package's
 * parse): cookies do not tell ports apart, so a page on another port of this host can set one of this name, and
 * one it sets for a longer path (`/console`) comes first. Planted, it would lock the token's holder out.
 */
function cookieValues(header: string | undefined, name: string): string[] {
  return (header ?? "").split(";").flatMap((pair) => {
    const at = pair.indexOf("=");
    return at >= 0 && pair.slice(0, at).trim() === name ? [pair.slice(at + 1).trim()] : [];
  });
}

/**
 * Always to the page: a path the URL named (`//elsewhere.example`) would make this an open redirect. The call token
 * rides in the fragment, which the browser keeps across the redirect and the page strips from the address.
 */
function startSession(res: http.ServerResponse, cookieName: string, token: string, callToken: string): true {
  const cookie = serializeCookie(cookieName, token, { path: "/", httpOnly: true, sameSite: "strict" });
  res
    .writeHead(303, {
      ...SECURITY_HEADERS,
      "cache-control": "no-store",
      "set-cookie": cookie,
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
