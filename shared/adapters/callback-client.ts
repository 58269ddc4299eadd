import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { performance } from "node:perf_hooks";
import { Agent, buildConnector, request } from "undici";

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
 * The HTTP client for callbacks. One keep-alive undici Agent per client (create one per topic and keep it for
 * the container's life), so consecutive callbacks to a receiver reuse the TLS connection.
 *
 * SSRF: checking a URL's host name at accept time is not enough (DNS can change, or point at 169.254.169.254
 * by the time we deliver). So every new connection resolves the host here, checks each address with the
 * policy, and connects to exactly the address that was checked — there is no second lookup an attacker could
 * rebind. IP-literal hosts go through the same path (lookup returns the literal itself).
 *
 * Redirects are not followed (undici's `request` has no redirect handling unless an interceptor is added): a
 * 3xx is a failed attempt, so a receiver cannot bounce us to an internal address.
 */
export function createCallbackClient(options: CallbackClientOptions): CallbackClient {
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const baseConnect = buildConnector({});
  const agent = new Agent({
    connect: (connectOptions, callback) => {
      // undici keeps IPv6 literals bracketed in `hostname`.
      const host = connectOptions.hostname.replace(/^\[(.*)\]$/, "$1");
      resolveAllowed(host, options.policy).then(
        (ip) =>
          // `host` (name:port) is kept, so TLS SNI and certificate checks still use the host name.
          baseConnect({ ...connectOptions, hostname: ip }, callback),
        (error: Error) => callback(error, null),
      );
    },
  });

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
      // One deadline for connect, headers and body; aborting also frees the Lambda for the next record.
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), req.timeoutMs);
      try {
        const response = await request(url, {
          dispatcher: agent,
          method: "POST",
          headers: {
            "content-type": "application/json",
            "user-agent": options.userAgent ?? "Punctual",
            ...req.headers,
          },
          body: req.body,
          signal: controller.signal,
        });
        const durationMs = elapsed();
        // Drain (at most maxResponseBytes) and discard: the answer's content is never used or logged; a bigger
        // body just closes the connection instead of being read to the end.
        await response.body
          .dump({ limit: maxResponseBytes, signal: controller.signal })
          .catch(() => undefined);
        const status = response.statusCode;
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
    close: () => agent.close(),
  };
}

async function resolveAllowed(host: string, policy: AddressPolicy): Promise<string> {
  const addresses = isIP(host) ? [{ address: host }] : await lookup(host, { all: true, verbatim: true });
  // Only addresses the policy admits are candidates, so a name resolving to both a public and an internal
  // address can never be steered to the internal one.
  const allowed = addresses.find((a) => policy.isAllowed(host, a.address));
  if (!allowed) {
    const shown = addresses.map((a) => a.address).join(", ") || "no address";
    throw new BlockedAddressError(`${host} resolves to ${shown}, which is not allowed for this topic`);
  }
  return allowed.address;
}

/** A short, content-free description of a failed request: `network: ECONNREFUSED`, `blocked: …`. */
function describeError(error: unknown): string {
  if (error instanceof BlockedAddressError) return `blocked: ${error.message}`;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const causeCode = (error.cause as { code?: unknown } | undefined)?.code;
    // undici wraps socket errors (UND_ERR_SOCKET) around the system error that caused them.
    const best = typeof causeCode === "string" ? causeCode : typeof code === "string" ? code : error.name;
    return `network: ${best}`;
  }
  return "network: unknown error";
}
