/**
 * `punctual console`'s path to a deployed API: the page calls `/v1/*` on its own origin, and this forwards the
 * call to the API, signed here with the user's credentials (the client's authorizer: SigV4, JWT or none). The
 * browser never holds a credential.
 */
import type http from "node:http";
import { targetParts } from "#shared/api/request-target.js";
import { NO_BODY_ISSUE, NO_BODY_MESSAGE, saysNothing } from "#shared/api/says-nothing.js";
import { echoed } from "#shared/domain/echoed.js";
import { apiRouteUrl, withPercentEncodedQuery } from "../client/api-url.js";
import type { Authorizer } from "../client/auth.js";
import { readAnswerBytes } from "../client/read-body.js";
import { CONSOLE_HEADER, refusalOf, SECURITY_HEADERS, sendJson } from "./server.js";

/** Request headers that reach the API; everything else the browser sends (cookies included) stays here. */
const FORWARDED_REQUEST_HEADERS = ["content-type", "accept", "idempotency-key"];
const FORWARDED_RESPONSE_HEADERS = ["content-type", "retry-after", "allow"];
const MAX_BODY_BYTES = 10 * 1024 * 1024;
/**
 * The methods the page sends (api.ts `call`): nothing else is signed. Any other a caller sends (PUT, PATCH, OPTIONS,
 * PROPFIND…) would go out signed with the user's credentials, to whatever the API or a gateway in front of it
 * makes of it; fetch itself refuses TRACE and CONNECT.
 */
const FORWARDED_METHODS = ["GET", "POST", "DELETE"];

export function apiProxy(options: {
  readonly apiUrl: URL;
  readonly authorize: Authorizer;
  readonly fetch?: typeof fetch;
  /** How long a call may take, its signing and its answer read; default 30 s, API Gateway's longest integration time. */
  readonly timeoutMs?: number;
}): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean> {
  const send = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;
  return async (req, res) => {
    // The path as sent (targetParts), as the console's handler matches it: `/x/../v1/tasks` is no API call, and
    // `/v1/a/../tasks` is refused below (pathProblem), where URL's reading signed and sent both as `/v1/tasks`.
    const { path: pathname, search } = targetParts(req.url ?? "/");
    if (!pathname.startsWith("/v1/")) return false;
    const refusal = refusalOf(req, true);
    if (refusal) return sendJson(res, 403, { error: { code: "forbidden", message: refusal } });
    const method = req.method ?? "GET";
    if (!FORWARDED_METHODS.includes(method)) return refuseMethod(res, method);
    const odd = pathProblem(pathname);
    if (odd) return sendJson(res, 400, { error: { code: "invalid_path", message: odd } });
    let body = await readBody(req);
    if (body === undefined)
      return sendJson(res, 413, { error: { code: "too_large", message: "body too large" } });
    // fetch refuses to send a GET's body (a TypeError, else a 502), and no GET route takes one: a body that says
    // something is the API's own 400 for it (no-body guard), one that says nothing (`{}`) is dropped, as the API
    // would take it.
    if (method === "GET" && body.length > 0) {
      if (!saysNothing(body)) return refuseGetBody(res);
      body = "";
    }
    // The page's query as the URL standard reads it (`+` a space), sent with `%20`, as the authorizer signs it.
    const target = withPercentEncodedQuery(apiRouteUrl(options.apiUrl, `${pathname}${search}`));
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = req.headers[name];
      if (typeof value === "string" && name !== CONSOLE_HEADER) headers[name] = value;
    }
    const deadline = Date.now() + timeoutMs;
    const signed = await signOrRefuse(res, timeoutMs, () =>
      options.authorize({ method, url: target, headers, ...(body.length > 0 ? { body } : {}) }),
    );
    if (!signed) return true;
    // A redirect is never followed: fetch would re-send the call (its body, SigV4's session token and date; only
    // `authorization` is dropped) to whatever host the answer names. The page gets the 3xx as it came.
    const response = await send(target, {
      method,
      headers: { ...headers, ...signed },
      ...(body.length > 0 ? { body } : {}),
      redirect: "manual",
      signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
    });
    // Read whole before answering, at most what the API can send (10 MiB): an endless or huge body, or one that
    // never ends, would otherwise hold this process's memory or the page's call forever. Its error is a 502.
    const answer = withoutSessionToken(await readAnswerBytes(response), signed);
    // no-store whatever the API said: its own answers say so, but API Gateway's (a 403 from IAM) do not, and a
    // task's content, callback URL or error must not stay in the browser's disk cache after the page is closed.
    const out: Record<string, string> = { ...SECURITY_HEADERS, "cache-control": "no-store" };
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) out[name] = value;
    }
    res.writeHead(response.status, out);
    res.end(answer);
    return true;
  };
}

/**
 * The call's signature, or undefined after answering a 502 `not_sent`: credentials that expired while the page stayed
 * open (an SSO session, a role's) fail here, before anything is sent, and the page's action line must not say the
 * call may have acted (console/src/action.ts `mayHaveActed`), as it says of a 502 from the API's side. A credential
 * source that never answers (an unreachable SSO or metadata endpoint) is given up on after the call's timeout, and
 * its late signature is dropped: the page would otherwise show its action running until reloaded.
 */
async function signOrRefuse(
  res: http.ServerResponse,
  timeoutMs: number,
  sign: () => Promise<Record<string, string>>,
): Promise<Record<string, string> | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const tooLong = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SigningTimeout(timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([sign(), tooLong]);
  } catch (error) {
    const reason =
      error instanceof SigningTimeout
        ? error.message
        : `signing the call failed: ${(error as Error).message}`;
    sendJson(res, 502, { error: { code: "not_sent", message: `not sent to the API: ${reason}` } });
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

class SigningTimeout extends Error {
  constructor(timeoutMs: number) {
    super(`signing the call took longer than ${timeoutMs} ms`);
  }
}

/**
 * The answer without the session token the call was signed with: API Gateway's 403 to a signature it computes
 * otherwise quotes the canonical request it expected, that token's value among its headers (client/errors.ts
 * `withoutSessionToken` keeps it out of the client's errors). The page shows that message, and the browser never
 * holds a credential. The exact value, wherever the answer holds it; the rest kept, to debug with.
 */
function withoutSessionToken(answer: Buffer, signed: Readonly<Record<string, string>>): Buffer {
  const name = Object.keys(signed).find((key) => key.toLowerCase() === "x-amz-security-token");
  const token = name ? Buffer.from(signed[name] as string) : undefined;
  if (!token || token.length === 0 || answer.indexOf(token) === -1) return answer;
  const parts: Buffer[] = [];
  let from = 0;
  for (let at = answer.indexOf(token); at !== -1; at = answer.indexOf(token, from)) {
    parts.push(answer.subarray(from, at), Buffer.from("…"));
    from = at + token.length;
  }
  parts.push(answer.subarray(from));
  return Buffer.concat(parts);
}

/** The API's answer to a GET whose body says something (middleware/no-body.ts), its code, message and issue. */
function refuseGetBody(res: http.ServerResponse): true {
  return sendJson(res, 400, {
    error: { code: "validation_failed", message: NO_BODY_MESSAGE, issues: [NO_BODY_ISSUE] },
  });
}

/** 405 with the methods forwarded; the name is echoed cut (Node takes any token as a method). */
function refuseMethod(res: http.ServerResponse, method: string): true {
  res.setHeader("allow", FORWARDED_METHODS.join(", "));
  const message = `the console forwards ${FORWARDED_METHODS.join(", ")}, not ${echoed(method)}`;
  return sendJson(res, 405, { error: { code: "method_not_allowed", message } });
}

/**
 * Why a `/v1/…` path must not be signed and sent, or undefined. The check above reads the path as sent, as the
 * console's handler and the local API server do (targetParts): a dot segment in it (`/v1/a/../tasks`) is refused, not
 * resolved and sent as another path. API Gateway decodes the path before it matches routes (an encoded slash is a
 * separator there, local/runtime/api-server.ts), so `/v1/tasks%2F..%2F..%2Fadmin` would be signed here as a /v1 call
 * and read there as another path. A segment the page writes (encodeURIComponent of an id, a topic, a host) never is
 * or decodes to a separator or a dot segment.
 */
function pathProblem(pathname: string): string | undefined {
  for (const segment of pathname.split("/")) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return "the path's percent-encoding does not decode";
    }
    if (/[/\\]/.test(decoded) || decoded === "." || decoded === "..")
      return "the path holds an encoded slash, backslash or dot segment";
  }
  return undefined;
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
