/**
 * `punctual console`'s session: its server signs API calls with the user's credentials, and loopback is shared with
 * every other user and process on the machine, so the loopback and header checks (server.ts `refusalOf`) keep out
 * web pages but not a local process. The server serves only a caller that holds the token it printed in its URL
 * (as Jupyter does): opening that URL trades the token for an HttpOnly, SameSite=Strict cookie and redirects to the
 * page without it; every request after that must carry the cookie.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type http from "node:http";
import { serialize as serializeCookie } from "cookie";
import { SECURITY_HEADERS, sendJson } from "./server.js";

const TOKEN_PARAMETER = "token";
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
  const cookieName = `punctual_console_${port}`;
  const isToken = (candidate: string | undefined) => candidate !== undefined && sameSecret(candidate, token);
  return {
    urlFor: (path) => `${path}?${TOKEN_PARAMETER}=${token}`,
    gate(req, res) {
      const url = new URL(req.url ?? "/", "http://localhost");
      const offered = url.searchParams.get(TOKEN_PARAMETER);
      if (offered !== null && isToken(offered)) return startSession(res, cookieName, token);
      if (offered === null && cookieValues(req.headers.cookie, cookieName).some(isToken)) return false;
      return sendJson(res, 403, { error: { code: "forbidden", message: REFUSAL } });
    },
  };
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

/** Always to the page: a path the URL named (`//elsewhere.example`) would make this an open redirect. */
function startSession(res: http.ServerResponse, cookieName: string, token: string): true {
  const cookie = serializeCookie(cookieName, token, { path: "/", httpOnly: true, sameSite: "strict" });
  res
    .writeHead(303, {
      ...SECURITY_HEADERS,
      "cache-control": "no-store",
      "set-cookie": cookie,
      location: "/console",
    })
    .end();
  return true;
}

/** Compared in constant time; the digests make the lengths equal, as timingSafeEqual needs. */
function sameSecret(candidate: string, token: string): boolean {
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(candidate), digest(token));
}
