import { lookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { performance } from "node:perf_hooks";

/**
 * Decides whether a connection to `ip` (resolved from `host`) may be opened. The deliver function wires this to
 * the SSRF rules: public addresses pass, private / loopback / link-local / metadata addresses only when the
 * topic's allow-list names that host or IP explicitly.
 */
export interface AddressPolicy {
  isAllowed(host: string, ip: string): boolean;
}

export interface CallbackRequest {
  readonly url: string;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

export interface CallbackResult {
  /** True only for a 2xx answer. */
  readonly ok: boolean;
  readonly status?: number;
  /** For failures: `HTTP 503`, `timeout after 5000 ms`, `network: ECONNRESET`, `blocked: …`. Never a body. */
  readonly error?: string;
  /** From sending the request to the response's status line (or to the failure). */
  readonly durationMs: number;
}

export interface CallbackClient {
  post(request: CallbackRequest): Promise<CallbackResult>;
  close(): Promise<void>;
}

export interface CallbackClientOptions {
  readonly policy: AddressPolicy;
  /** Refuse `http:` URLs unless the topic allows plain-http callbacks (the local environment only). */
  readonly allowPlainHttp: boolean;
  /** How much of a response body is read (and thrown away) so the connection can be reused. */
  readonly maxResponseBytes?: number;
  readonly userAgent?: string;
}

const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/** A connection refused by the address policy (reported as `blocked: …`, never attempted). */
class BlockedAddressError extends Error {
  override readonly name = "BlockedAddressError";
}

/**
 * The HTTP client for callbacks: Node's own `http`/`https` with one keep-alive agent each per client (create
 * one per topic and keep it for the container's life), so consecutive callbacks to a receiver reuse the TLS
 * connection. Node's client is used rather than a fetch library because it is already in the runtime (no
 * bytes in the bundle, no module init) and gives us the one hook we need: the connection's `lookup`.
 *
 * SSRF: checking a URL's host name at accept time is not enough (DNS can change, or point at 169.254.169.254
 * by the time we deliver). So every new connection resolves the host in our `lookup`, checks each address with
 * the policy, and connects to exactly the address that was checked — there is no second lookup an attacker
 * could rebind. Node skips `lookup` for IP-literal hosts, so those are checked before the request is made.
 *
 * Redirects are not followed (`http.request` never does): a 3xx is a failed attempt, so a receiver cannot
 * bounce us to an internal address.
 */
export function createCallbackClient(options: CallbackClientOptions): CallbackClient {
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const lookupAllowed = pinnedLookup(options.policy);
  const agents = {
    "http:": new http.Agent({ keepAlive: true }),
    "https:": new https.Agent({ keepAlive: true }),
  };

  return {
    async post(req: CallbackRequest): Promise<CallbackResult> {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      let url: URL;
      try {
        url = new URL(req.url);
      } catch {
        return { ok: false, error: "blocked: invalid callback URL", durationMs: 0 };
      }
      if (url.protocol !== "https:" && !(url.protocol === "http:" && options.allowPlainHttp)) {
        return { ok: false, error: `blocked: ${url.protocol} callbacks are not allowed`, durationMs: 0 };
      }
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
      if (isIP(host) && !options.policy.isAllowed(host, host)) {
        return { ok: false, error: `blocked: ${blockedMessage(host, [host])}`, durationMs: 0 };
      }
      // One deadline for connect, headers and body; aborting also frees the Lambda for the next record.
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), req.timeoutMs);
      const transport = url.protocol === "https:" ? https : http;
      try {
        const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
          const outgoing = transport.request(url, {
            method: "POST",
            agent: agents[url.protocol as "http:" | "https:"],
            lookup: lookupAllowed,
            signal: controller.signal,
            headers: {
              "content-type": "application/json",
              "content-length": Buffer.byteLength(req.body),
              "user-agent": options.userAgent ?? "Punctual",
              ...req.headers,
            },
          });
          outgoing.once("response", resolve);
          outgoing.once("error", reject);
          outgoing.end(req.body);
        });
        const durationMs = elapsed();
        // Drain (at most maxResponseBytes) and discard: the answer's content is never used or logged; a bigger
        // body just closes the connection instead of being read to the end.
        await discard(response, maxResponseBytes);
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) return { ok: true, status, durationMs };
        return { ok: false, status, error: `HTTP ${status}`, durationMs };
      } catch (error) {
        if (controller.signal.aborted) {
          return { ok: false, error: `timeout after ${req.timeoutMs} ms`, durationMs: elapsed() };
        }
        return { ok: false, error: describeError(error), durationMs: elapsed() };
      } finally {
        clearTimeout(timer);
      }
    },
    close: async () => {
      agents["http:"].destroy();
      agents["https:"].destroy();
    },
  };
}

/** The connection's DNS step: resolve, keep only what the policy admits, hand exactly that address to connect. */
function pinnedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, lookupOptions, callback) => {
    resolveAllowed(hostname, policy).then(
      ({ address, family }) => {
        // Node asks for every address (`all`) when it may race IPv4 and IPv6 (autoSelectFamily).
        if (lookupOptions.all) callback(null, [{ address, family }]);
        else callback(null, address, family);
      },
      (error: NodeJS.ErrnoException) => callback(error, "", 0),
    );
  };
}

async function resolveAllowed(
  host: string,
  policy: AddressPolicy,
): Promise<{ address: string; family: number }> {
  const addresses = await lookup(host, { all: true, verbatim: true });
  // Only addresses the policy admits are candidates, so a name resolving to both a public and an internal
  // address can never be steered to the internal one.
  const allowed = addresses.find((a) => policy.isAllowed(host, a.address));
  if (!allowed) {
    throw new BlockedAddressError(
      blockedMessage(
        host,
        addresses.map((a) => a.address),
      ),
    );
  }
  return allowed;
}

function blockedMessage(host: string, addresses: readonly string[]): string {
  return `${host} resolves to ${addresses.join(", ") || "no address"}, which is not allowed for this topic`;
}

/** Reads and drops a response body, stopping (and closing the connection) past `limit` bytes. */
function discard(response: http.IncomingMessage, limit: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    response.on("data", (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) response.destroy();
    });
    response.once("end", resolve);
    response.once("close", resolve);
    response.once("error", () => resolve());
  });
}

/** A short, content-free description of a failed request: `network: ECONNREFUSED`, `blocked: …`. */
function describeError(error: unknown): string {
  if (error instanceof BlockedAddressError) return `blocked: ${error.message}`;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `network: ${typeof code === "string" ? code : error.name}`;
  }
  return "network: unknown error";
}
