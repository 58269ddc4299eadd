/**
 * The console's server side, one module for both places that serve it: the local API server (`npm start`,
 * beside the API routes) and `punctual console` (beside a signing proxy to a deployed API). It serves the built
 * page under /console and the console's own endpoints under /console/api; the page talks only to its origin.
 */
import { readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import type { Duplex } from "node:stream";
import type * as z from "zod";
import { targetParts } from "#shared/api/request-target.js";
import { echoed } from "#shared/domain/echoed.js";
import { toIssues } from "#shared/domain/request-issues.js";
import { CONSOLE_DIST, CONSOLE_FILES, ensureConsoleBuilt } from "./build.js";
import {
  type ConsoleMetrics,
  type LocalQuery,
  type LocalView,
  localQuerySchema,
  type MetricsQuery,
  metricsQuerySchema,
} from "./schemas.js";

export interface ConsoleSources {
  readonly metrics: (query: MetricsQuery) => Promise<ConsoleMetrics>;
  /** Only the local cloud has one; elsewhere `/console/api/local` answers 404. */
  readonly local?: (query: LocalQuery) => Promise<LocalView>;
}

/** The header the page sends on every call: a cross-site form or image cannot, so they cannot act through us. */
export const CONSOLE_HEADER = "x-punctual-console";

/**
 * On every answer the console's servers give (page, files, calls, refusals, proxied API answers). The page is
 * one script and one stylesheet of its own origin and calls only that origin: anything else, injected markup
 * included, is refused by the browser. No site may frame it (its Replay and Cancel buttons cannot be
 * clickjacked), nothing is content-sniffed, and no URL leaks in a Referer.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

export type ConsoleHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;

/** Handles the request when it is the console's (path under /console) and says whether it did. */
export function consoleHandler(options: {
  readonly sources: ConsoleSources;
  readonly distDir?: string;
  readonly log?: (line: string) => void;
}): ConsoleHandler {
  const distDir = options.distDir ?? CONSOLE_DIST;
  let built: Promise<void> | undefined;
  return async (req, res) => {
    // The path as sent, as the local API server routes it (targetParts): `/v1/../console/api/local` is no console
    // path there, so not here either (URL's reading resolved it to the console's local view).
    const { path: pathname, searchParams } = targetParts(req.url ?? "/");
    if (pathname !== "/console" && !pathname.startsWith("/console/")) return false;
    try {
      const refusal = refusalOf(req, pathname.startsWith("/console/api/"));
      if (refusal) return sendJson(res, 403, { error: { code: "forbidden", message: refusal } });
      const query = Object.fromEntries(searchParams);
      if (pathname.startsWith("/console/api/")) return await serveApi(pathname, query, options.sources, res);
      built ??= ensureConsoleBuilt(distDir).catch((error) => {
        built = undefined;
        throw error;
      });
      await built;
      return await serveFile(pathname, distDir, res);
    } catch (error) {
      options.log?.(`[console] ${(error as Error).message}`);
      return sendJson(res, 502, { error: { code: "upstream_failed", message: (error as Error).message } });
    }
  };
}

async function serveApi(
  pathname: string,
  query: Record<string, string>,
  sources: ConsoleSources,
  res: http.ServerResponse,
): Promise<true> {
  switch (pathname) {
    case "/console/api/metrics":
      return answer(res, metricsQuerySchema, query, sources.metrics);
    case "/console/api/local":
      if (sources.local) return answer(res, localQuerySchema, query, sources.local);
      return sendJson(res, 404, { error: { code: "not_found", message: "only the local cloud has this" } });
    default:
      return sendJson(res, 404, {
        error: { code: "not_found", message: `no console endpoint ${echoed(pathname)}` },
      });
  }
}

/** A source's refusal of a query parameter the schema cannot judge (a cursor the upstream never gave): a 400. */
export class InvalidQueryError extends Error {
  constructor(
    readonly parameter: string,
    readonly detail: string,
  ) {
    super(`${parameter}: ${detail}`);
  }
}

async function answer<S extends z.ZodType, R>(
  res: http.ServerResponse,
  schema: S,
  query: Record<string, string>,
  source: (input: z.output<S>) => Promise<R>,
): Promise<true> {
  const parsed = schema.safeParse(query);
  if (!parsed.success) {
    // The API's 400 shape (`validation_failed`, issues as {path, message}), the message naming each parameter.
    const issues = toIssues(parsed.error.issues, query);
    const message = issues.map((i) => `${i.path || "query"}: ${i.message}`).join("; ");
    return sendJson(res, 400, { error: { code: "validation_failed", message, issues } });
  }
  try {
    return sendJson(res, 200, await source(parsed.data));
  } catch (error) {
    if (!(error instanceof InvalidQueryError)) throw error;
    const issues = [{ path: error.parameter, message: error.detail }];
    return sendJson(res, 400, { error: { code: "validation_failed", message: error.message, issues } });
  }
}

async function serveFile(pathname: string, distDir: string, res: http.ServerResponse): Promise<true> {
  const name = pathname === "/console" || pathname === "/console/" ? "index.html" : pathname.slice(9);
  const type = Object.hasOwn(CONSOLE_FILES, name) ? CONSOLE_FILES[name] : undefined;
  if (!type)
    return sendJson(res, 404, { error: { code: "not_found", message: `no console file ${echoed(name)}` } });
  const body = await readFile(path.join(distDir, name));
  res.writeHead(200, { ...SECURITY_HEADERS, "content-type": type, "cache-control": "no-cache" });
  res.end(body);
  return true;
}

/**
 * Why a request must not be served, or undefined. The servers listen on loopback; a page from another site
 * could still aim the browser at them, so: the Host must name a loopback address (no DNS rebinding), an
 * Origin, when sent, must be this origin, and calls (not the page's files) must carry the console's header.
 */
export function refusalOf(req: http.IncomingMessage, isCall: boolean): string | undefined {
  const host = req.headers.host ?? "";
  if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(host))
    return `only loopback host names are served here, not "${echoed(host)}"`;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}`)
    return `cross-origin request from ${echoed(origin)}`;
  if (isCall && req.headers[CONSOLE_HEADER] !== "1")
    return `console calls carry the ${CONSOLE_HEADER} header`;
  return undefined;
}

/**
 * The local API server's prelude: the console, and before it and the API routes, the refusal of foreign pages.
 * The local cloud's API has no auth, so without this any site open in the browser could pause a topic or cancel
 * a task with a form-like POST (no preflight), or read every task through a rebound host name. Clients that are
 * not browsers send no Origin and a loopback Host, and pass. The API shares the console's origin here, so its
 * answers (a function's, the server's own 404 or 500) carry the console's security headers too.
 */
export function localApiPrelude(serveConsole: ConsoleHandler): ConsoleHandler {
  return async (req, res) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    if (!targetParses(req, res)) return true;
    const refusal = refusalOf(req, false);
    if (refusal) return sendJson(res, 403, { error: { code: "forbidden", message: refusal } });
    return serveConsole(req, res);
  };
}

/**
 * Whether the request target reads as a URL; if not (`//[`, which Node's parser lets through), answers a 400 and
 * says no. Every handler parses it, and its throw would be a 502 `upstream_failed` blaming an API never called
 * (`punctual console`) or the local API server's 500.
 */
export function targetParses(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (URL.canParse(req.url ?? "/", "http://localhost")) return true;
  sendJson(res, 400, { error: { code: "invalid_request", message: "the request target is not a URL path" } });
  return false;
}

/**
 * What the server answers a request Node's HTTP parser refuses before any handler runs (a malformed line, headers
 * past the 16 KB limit): Node's own 400 and 431 carry no headers but `Connection`, so they too get the security
 * headers every other answer of this origin has. No body: nothing of the request is echoed.
 */
export function answerParserRefusals(server: http.Server, headers: Readonly<Record<string, string>>): void {
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    // A reset socket, or one whose answer is already under way, can take no answer (Node's documented check).
    if (error.code === "ECONNRESET" || !socket.writable) return void socket.destroy();
    const status = PARSER_STATUS[error.code ?? ""] ?? 400;
    const lines = Object.entries({
      ...headers,
      "cache-control": "no-store",
      "content-length": "0",
      connection: "close",
    })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join("");
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${lines}\r\n`);
  });
}

/** The refusals Node answers with another status than 400 (node:_http_server's own choice). */
const PARSER_STATUS: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

export function sendJson(res: http.ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": "application/json",
    "cache-control": "no-store",
  });
  res.end(JSON.stringify(body));
  return true;
}
