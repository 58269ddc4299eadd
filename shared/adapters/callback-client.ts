import { constants as cryptoConstants } from "node:crypto";
import { lookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { performance } from "node:perf_hooks";
import type { Duplex } from "node:stream";
import { REFUSED_BY_POLICY, REFUSED_ON_RESOLUTION } from "#shared/domain/attempt-log.js";
import { keepRecent } from "#shared/runtime/recent.js";
import { describeFailureCode } from "./callback-failure-text.js";

/**
 * Decides whether a connection to `ip` (resolved from `host`) may be opened. The deliver function wires this to
 * the SSRF rules: public addresses pass, private / loopback / link-local / metadata addresses only when the
 * topic's allow-list names that address as an IP literal.
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
  /**
   * For failures: `HTTP 503`, `timeout after 5000 ms`, `receiver switched protocols (101)`,
   * `network: connection closed without a response`, `network: connection reset (ECONNRESET)`, `malformed answer:
   * invalid Content-Length (HPE_INVALID_CONTENT_LENGTH)`, `destination refused by policy: …` (callback-failure-text.ts).
   * Never a body, never an address the host resolved to (callers read it back through GET: no DNS oracle).
   */
  readonly error?: string;
  /**
   * The destination was refused by the address / URL policy before anything was sent. Retrying cannot help, but
   * for a name that resolved to refused addresses only (`REFUSED_ON_RESOLUTION`): its next answer may differ.
   */
  readonly refused?: boolean;
  /** For the operator's logs only, never stored or returned: e.g. the addresses a refused host resolved to. */
  readonly detail?: string;
  /** From sending the request to the response's status line (or to the failure). */
  readonly durationMs: number;
  /** A `429` or `503` answer's `Retry-After` header, as sent (seconds or an HTTP-date): the deliver step parses it. */
  readonly retryAfter?: string;
}

export interface CallbackClient {
  post(request: CallbackRequest): Promise<CallbackResult>;
  close(): Promise<void>;
}

/** A host's addresses, as `dns.lookup(host, { all: true })` gives them. */
export type ResolveHost = (host: string) => Promise<readonly { address: string; family: number }[]>;

export interface CallbackClientOptions {
  readonly policy: AddressPolicy;
  /** Refuse `http:` URLs unless the topic allows plain-http callbacks (the local environment only). */
  readonly allowPlainHttp: boolean;
  /**
   * How much of a response body is read (and thrown away) so the connection can be reused. What is read off the
   * connection in all, framing, blank lines and informational heads included, is capped too (`maxReadBytes`).
   */
  readonly maxResponseBytes?: number;
  /** How many informational (1xx) answers a receiver may send before its final one. Default 10. */
  readonly maxInformational?: number;
  readonly userAgent?: string;
  /** How long a kept-alive connection may sit idle before the client closes it. Default 4 s. */
  readonly idleSocketMs?: number;
  /**
   * How many idle kept-alive connections the client keeps, across all hosts, unless more were in use at once
   * within the idle timeout (then as many as were). Default 32; 0: none is ever pooled.
   */
  readonly maxIdleSockets?: number;
  /**
   * Resolves host names (default: the system resolver, as `dns.lookup`). A seam for tests that need a name to
   * resolve to an address they must never dial: the policy refuses it before any connection is opened.
   */
  readonly lookup?: ResolveHost;
  /**
   * The root certificates `https` callbacks are verified against, in place of Node's bundled ones. A seam for tests
   * that must reach a loopback TLS receiver with its own certificate: verification stays on (a certificate for
   * another name is still refused). Never set by the deliver function.
   */
  readonly ca?: string;
}

const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;
const DEFAULT_MAX_INFORMATIONAL = 10;
/** Under the 5 s idle timeout of Node's and Apache's servers: we close first, not race their close. */
const DEFAULT_IDLE_SOCKET_MS = 4_000;
/** Far below Lambda's 1,024 file descriptors, far above the 10 callbacks an invocation makes at once. */
const DEFAULT_MAX_IDLE_SOCKETS = 32;
/**
 * How many receivers (origins) seen leaving a request's body unread a client remembers: an origin is at most ~270
 * characters (a host name of at most 253, checked at accept), so up to ~0.4 MB per client (one per topic) with the
 * Set's own overhead, a few KB for the few such receivers there are. One pushed out by a thousand later ones is
 * pooled again, and found again the same way (its pooled connections' next requests each sent twice, once).
 */
const MAX_BODY_IGNORING_ORIGINS = 1_000;

/**
 * TLS renegotiation refused (OpenSSL's `SSL_OP_NO_RENEGOTIATION`), as Go's client refuses it by default: a receiver
 * asking for one (a TLS 1.2 HelloRequest; TLS 1.3 has none) fails the attempt on the handshake. Node's client took
 * part in every one a receiver asked for, and one asking again as each completed (a Node server did ~2,500 a second
 * on loopback) kept the client doing full handshakes, CPU the instance's other callbacks share, until the deadline.
 * Nothing needs it of us: renegotiation is how a server asks for a client certificate, which callbacks never carry.
 */
const NO_RENEGOTIATION = { secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION };

/** A connection refused by the address policy (reported as `destination refused by policy: …`, never attempted). */
class BlockedAddressError extends Error {
  override readonly name = "BlockedAddressError";
  constructor(
    message: string,
    /** What the host resolved to: for the logs, never for the stored error. */
    readonly detail: string,
  ) {
    super(message);
  }
}

/**
 * A kept-alive connection whose address the policy no longer admits (an allow-list changed under it). Nothing was
 * written on it, and its address is an old answer of the name's: the request goes once more on a new connection,
 * whose lookup the policy judges as any other's, so the verdict is the one a new connection gets — delivered if the
 * name now resolves to an admitted address, else the retried refusal of a name resolving to refused addresses only.
 */
class ReusedAddressRefusedError extends BlockedAddressError {}

/**
 * The HTTP client for callbacks: Node's own `http`/`https` with one keep-alive agent each per client (create
 * one per topic and keep it for the container's life), so consecutive callbacks to a receiver reuse the TLS
 * connection. Node's client is used rather than a fetch library because it is already in the runtime (no
 * bytes in the bundle, no module init) and gives us the one hook we need: the connection's `lookup`.
 *
 * SSRF: checking a URL's host name at accept time is not enough (DNS can change, or point at 169.254.169.254
 * by the time we deliver). So every new connection resolves the host in our `lookup`, checks each address with
 * the policy, and connects only to addresses that passed (in the resolver's order, the next tried if one does not
 * answer) — there is no second lookup an attacker could rebind. Node skips `lookup` for IP-literal hosts, so those are checked before the request is made.
 *
 * Redirects are not followed (`http.request` never does): a 3xx is a failed attempt, so a receiver cannot
 * bounce us to an internal address. The one request sent twice: on a kept-alive connection the receiver closed or
 * reset before answering, or on which what came back began with bytes that are no status line in any spelling (see
 * `post`), or answered 408 Request Timeout, or answered as servers answer a request line they cannot parse, with
 * `Connection: close` (`unparsedAhead`); a kept-alive connection the policy no longer admits sends nothing and
 * leaves the request to a new one.
 *
 * Deadline: every attempt settles by `timeoutMs` whatever the receiver does. Node's request settles only on
 * `response` or `error`, and some answers produce neither (a `101 Switching Protocols` nobody listens for is
 * destroyed silently; endless `1xx`; half-written headers; a trickled body), so one timer races the whole
 * exchange — DNS, connect, headers and body — and destroys the socket when it fires, and `upgrade`, `close`
 * and a flood of `information` events settle the attempt as soon as they happen. What is read is capped in bytes,
 * whatever they are (`maxReadBytes`), so no receiver makes an attempt read until its deadline.
 */
export function createCallbackClient(options: CallbackClientOptions): CallbackClient {
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const maxInformational = options.maxInformational ?? DEFAULT_MAX_INFORMATIONAL;
  const limits: ExchangeLimits = {
    maxResponseBytes,
    maxInformational,
    maxReadBytes: maxReadBytes(maxResponseBytes, maxInformational),
  };
  const lookupAllowed = pinnedLookup(options.policy, sharedWhileInFlight(options.lookup ?? systemLookup));
  const idle: IdleLimits = {
    timeout: options.idleSocketMs ?? DEFAULT_IDLE_SOCKET_MS,
    max: options.maxIdleSockets ?? DEFAULT_MAX_IDLE_SOCKETS,
  };
  const trusted = { ...NO_RENEGOTIATION, ...(options.ca === undefined ? {} : { ca: options.ca }) };
  const agents = {
    "http:": boundedIdle(new http.Agent({ keepAlive: true, timeout: idle.timeout }), idle),
    "https:": boundedIdle(new https.Agent({ keepAlive: true, timeout: idle.timeout, ...trusted }), idle),
  };
  // The second sending's: always a new connection (none is ever pooled), sending the very same request head.
  const fresh = {
    "http:": neverPooled(new http.Agent({ keepAlive: true })),
    "https:": neverPooled(new https.Agent({ keepAlive: true, ...trusted })),
  };
  // Receivers seen answering a request without reading its body (`bodyLeftUnread`): their callbacks go on new
  // connections, each closed once answered, for the client's life (the last MAX_BODY_IGNORING_ORIGINS of them).
  // Pooled, each of their connections would carry the body of the callback before ahead of the next one's request
  // line, and the next callback would be refused.
  const bodyIgnoring = new Map<string, true>();

  return {
    async post(req: CallbackRequest): Promise<CallbackResult> {
      const checked = checkDestination(req.url, options);
      if ("refusal" in checked) return checked.refusal;
      const { url } = checked;
      const send = (deadlineMs: number, on: AgentPair): Promise<Exchanged> => {
        const outgoing = openRequest(url, req, on, lookupAllowed, options.userAgent);
        if (!(outgoing instanceof http.ClientRequest)) return Promise.resolve({ result: outgoing });
        recheckReusedSocket(outgoing, url, options.policy);
        return exchange(outgoing, req, limits, deadlineMs);
      };
      const started = performance.now();
      const first = await send(req.timeoutMs, bodyIgnoring.has(url.origin) ? fresh : agents);
      if (first.bodyLeftUnread) keepRecent(bodyIgnoring, url.origin, true, MAX_BODY_IGNORING_ORIGINS);
      // A kept-alive connection the receiver closed (its idle timeout) just as we reused it: the request never
      // got an answer through no fault of the receiver's. Sent once more, on what is left of the deadline, as a
      // browser would — the same signed request, so a receiver that did see it deduplicates on its webhook-id —
      // and on a new connection: the pool's other connections to the receiver went idle with this one and may
      // be closing just as well (its idle timeout firing for all of them). Likewise a kept-alive connection on
      // which what came back began with bytes that are no status line (`leftoversAhead`): another answer's
      // leftovers ahead of this one's; and one whose receiver could not parse what came ahead of this request
      // (`unparsedAhead`): the body of the callback before, which it answered without reading.
      const spent = performance.now() - started;
      if (!first.staleConnection || spent >= req.timeoutMs - 1) return first.result;
      const second = await send(req.timeoutMs - spent, fresh);
      return { ...second.result, durationMs: Math.round(spent + second.result.durationMs) };
    },
    close: async () => {
      for (const agent of [...Object.values(agents), ...Object.values(fresh)]) agent.destroy();
    },
  };
}

type AgentPair = Readonly<Record<"http:" | "https:", http.Agent>>;

/** A POST on one of the client's agents and its pinned lookup, or the failure Node's synchronous header checks answered. */
function openRequest(
  url: URL,
  req: CallbackRequest,
  agents: AgentPair,
  lookup: LookupFunction,
  userAgent: string | undefined,
): http.ClientRequest | CallbackResult {
  const protocol = url.protocol as "http:" | "https:";
  try {
    return (protocol === "https:" ? https : http).request(url, {
      method: "POST",
      agent: agents[protocol],
      lookup,
      ...bareServername(url),
      headers: {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(req.body),
        "user-agent": userAgent ?? "Punctual",
        ...req.headers,
      },
    });
  } catch (error) {
    // Node validates headers synchronously (e.g. ERR_INVALID_CHAR): a failed attempt, not a crash.
    return failure(error, 0);
  }
}

/**
 * The TLS server name (SNI) of a fully qualified host, `hooks.example.com.`: without its trailing dot, as RFC 6066
 * §3 requires and Go, curl and browsers send it. Node sends the name as written, and some TLS servers abort the
 * handshake on the dot (JDK-based ones refuse such a name), so every attempt would fail for a URL the API accepts
 * as the same host. Certificate checks use this name too; they ignore the dot either way.
 */
function bareServername(url: URL): { servername: string } | undefined {
  if (url.protocol !== "https:" || !url.hostname.endsWith(".")) return undefined;
  return { servername: url.hostname.slice(0, -1) };
}

interface IdleLimits {
  readonly timeout: number;
  readonly max: number;
}

/**
 * Keep-alive without a hostage: Node's agent keeps an idle connection per host name until the receiver closes it
 * (a `Keep-Alive: timeout` hint only shortens the agent's own timeout, and by default there is none), so a
 * receiver that never closes — behind as many names as a wildcard allow-list admits — would pin one descriptor
 * per name for the container's life, until every callback fails with EMFILE. The agent's `timeout` closes idle
 * connections (a free socket that times out is destroyed); this caps how many are kept, over all hosts: past
 * `max`, a finished connection is closed instead of pooled (`keepSocketAlive` false) — unless as many were in use
 * at once within the idle timeout. A client delivering 100 callbacks at a time (the local cloud's one deliver
 * instance; on AWS an instance has at most a batch in flight) would otherwise close and reopen all but `max` of
 * its connections on every round (~150 µs of CPU per local callback in the sustained benchmark). Idle connections
 * stay bounded by the larger of `max` and the most in use at once (so open ones by up to twice that, while a new
 * round to other host names opens its own), and time out. `max` 0 means never pooled.
 */
function boundedIdle<A extends http.Agent>(agent: A, limits: IdleLimits): A {
  if (limits.max === 0) return neverPooled(agent);
  const keep = agent.keepSocketAlive.bind(agent) as unknown as (socket: Duplex) => boolean;
  const counted = (pool: NodeJS.ReadOnlyDict<unknown[]>) =>
    Object.values(pool).reduce((n, list) => n + (list?.length ?? 0), 0);
  let busiest = { inUse: 0, atMs: 0 };
  (agent as unknown as { keepSocketAlive: (socket: Duplex) => boolean }).keepSocketAlive = (socket) => {
    // Asked as a request finishes: its socket is still counted in use.
    const inUse = counted(agent.sockets);
    const nowMs = performance.now();
    if (inUse >= busiest.inUse || nowMs - busiest.atMs > limits.timeout) busiest = { inUse, atMs: nowMs };
    const pooled = counted(agent.freeSockets) < Math.max(limits.max, busiest.inUse) && keep(socket);
    if (pooled) closeOnUnaskedBytes(socket);
    return pooled;
  };
  return agent;
}

/** The listener that closes a pooled connection on its first unasked byte, until a request takes the connection. */
const idleGuards = new WeakMap<Duplex, () => void>();

/**
 * Nothing may arrive on an idle HTTP/1.1 connection: no request is waiting for an answer. Node reads such bytes and
 * drops them, and every read resets the inactivity timer that closes idle connections, so a receiver writing a byte
 * now and then kept its connections open for good (up to the idle cap per client, each a file descriptor, and
 * each crowding another receiver's connection out of the pool), and what it wrote said the connection was no longer
 * in step with its requests. So the first such byte closes the connection, as Go's client does.
 */
function closeOnUnaskedBytes(socket: Duplex): void {
  if (idleGuards.has(socket)) return;
  const guard = () => socket.destroy();
  idleGuards.set(socket, guard);
  socket.on("data", guard);
}

/** A request took a pooled connection: what arrives now is its answer (the guard is armed again when pooled). */
function takeFromPool(socket: Duplex): void {
  const guard = idleGuards.get(socket);
  if (!guard) return;
  socket.off("data", guard);
  idleGuards.delete(socket);
}

/** An agent whose connections are never pooled: each request gets a new one, closed once answered. */
function neverPooled<A extends http.Agent>(agent: A): A {
  (agent as unknown as { keepSocketAlive: () => boolean }).keepSocketAlive = () => false;
  return agent;
}

/** The URL and IP-literal checks made before any request: a refusal here sends nothing. */
function checkDestination(
  raw: string,
  options: CallbackClientOptions,
): { url: URL } | { refusal: CallbackResult } {
  const refuse = (reason: string, detail?: string) => ({
    refusal: {
      ok: false,
      refused: true,
      error: `${REFUSED_BY_POLICY}: ${reason}`,
      durationMs: 0,
      ...(detail && { detail }),
    },
  });
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse("invalid callback URL");
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && options.allowPlainHttp)) {
    return refuse(`${url.protocol} callbacks are not allowed`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (isIP(host) && !options.policy.isAllowed(host, host)) {
    return refuse("a non-public address not named in the topic's allowed callback hosts", `address ${host}`);
  }
  return { url };
}

/**
 * A kept-alive connection was checked when it was opened; the policy may have changed since (the deliver function
 * reads the topic's allow-list at runtime), so a reused connection's address is checked again before anything is
 * written on it. A refusal destroys the request (and its socket), and the request goes on a new connection, whose
 * lookup is judged afresh (`ReusedAddressRefusedError`): the address was an old answer of the name's. The reused
 * connection's idle guard comes off first: what arrives on it now is this request's answer.
 */
function recheckReusedSocket(outgoing: http.ClientRequest, url: URL, policy: AddressPolicy): void {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  outgoing.once("socket", (socket) => {
    if (outgoing.reusedSocket) takeFromPool(socket);
    const address = socket.remoteAddress;
    if (!outgoing.reusedSocket || address === undefined || policy.isAllowed(host, address)) return;
    outgoing.destroy(
      new ReusedAddressRefusedError(
        REFUSED_ON_RESOLUTION.slice(REFUSED_BY_POLICY.length + 2),
        `${host} is connected to ${address}, which is no longer allowed`,
      ),
    );
  });
}

interface ExchangeLimits {
  readonly maxResponseBytes: number;
  readonly maxInformational: number;
  /** What may be read off the connection for one request in all (`maxReadBytes`). */
  readonly maxReadBytes: number;
}

/**
 * The cap on what one request may read off its connection, whatever the bytes are: the body cap counts body bytes
 * only, and Node's limits leave three streams unbounded but for the deadline — the blank lines llhttp skips before a
 * status line (any number of them), a chunk extension per chunk (Node's 16 KiB limit is per chunk) and a chunk
 * size's leading zeros. A receiver answering 200 and then chunks of one byte each behind 8 KiB of extension had the
 * client read ~512 MiB to reach 64 KiB of body, at loopback speed, and one sending CR LF without end was read until
 * the deadline (~250 MB a second on loopback): CPU and bandwidth of the deliver instance, whose other callbacks share
 * them. The cap leaves room for everything Node's own limits let through: the heads of `maxInformational`
 * informational answers and of the final one, a trailer section (each at most Node's `maxHeaderSize`, 16 KiB) and
 * the body cap — 256 KiB by default. Past it, an answer that came stands and its connection is closed (as past the
 * body cap); without one the attempt fails (`receiver sent more than 256 KiB without an answer`).
 */
function maxReadBytes(maxResponseBytes: number, maxInformational: number): number {
  return maxResponseBytes + (maxInformational + 2) * http.maxHeaderSize;
}

/** `256 KiB`, or a number of bytes that is no whole number of KiB. */
function sizeInWords(bytes: number): string {
  return bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
}

/**
 * Counts what the request reads off its connection (the socket's bytes, TLS already undone) and calls `over` once
 * past `limit`. The listener comes off when the request closes, before a kept-alive connection goes back to the pool.
 */
function capBytesRead(outgoing: http.ClientRequest, limit: number, over: () => void): void {
  outgoing.once("socket", (socket: Duplex) => {
    let read = 0;
    const count = (chunk: Buffer) => {
      read += chunk.length;
      if (read <= limit) return;
      socket.off("data", count);
      over();
    };
    socket.on("data", count);
    outgoing.once("close", () => socket.off("data", count));
  });
}

interface Exchanged {
  readonly result: CallbackResult;
  /**
   * No answer, on a kept-alive connection the receiver closed (or reset) under the request, on which what came
   * back began with bytes that are no status line in any spelling (what a previous answer left behind), or whose
   * address the policy no longer admits (nothing written on it), or that answered 408 (the receiver did not take the
   * request), or that answered as to a request it could not parse (`unparsedAhead`).
   */
  readonly staleConnection?: boolean;
  /** The last: the receiver left the previous request's body unread, and its origin is not to be pooled. */
  readonly bodyLeftUnread?: boolean;
}

type ExchangeFlags = Pick<Exchanged, "staleConnection" | "bodyLeftUnread">;

/**
 * Sends the request and settles exactly once, by `deadlineMs`: on a complete answer (or its status line, if its body
 * is still arriving at the deadline), or on the first sign that none is coming — the deadline, an upgrade, a
 * connection closed without a response, too many informational answers, too many bytes read, an error.
 */
function exchange(
  outgoing: http.ClientRequest,
  req: CallbackRequest,
  limits: ExchangeLimits,
  deadlineMs: number,
): Promise<Exchanged> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const answerStart = keepAnswerStart(outgoing);
  absorbLateSocketErrors(outgoing);
  return new Promise<Exchanged>((resolve) => {
    let settled = false;
    const settle = (result: CallbackResult, flags: ExchangeFlags = {}) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve({ result, ...(flags.staleConnection && flags) });
      finishBodyByDeadline(outgoing, deadlineMs - (performance.now() - started));
    };
    const fail = (error: string) => {
      settle({ ok: false, error, durationMs: elapsed() });
      outgoing.destroy();
    };
    let answer: { response: http.IncomingMessage; durationMs: number } | undefined;
    // A body still arriving at the deadline, or past the cap on bytes read, does not undo its status line (below):
    // the answer stands, and the connection is closed. Retrying a receiver that said 2xx, however slowly it says the
    // rest, would call it again for a task it took, and dead-letter it after maxAttempts such answers.
    const cutOff = (withoutAnswer: string) => {
      if (!answer) return fail(withoutAnswer);
      settle(answerOf(answer.response, answer.durationMs));
      outgoing.destroy();
    };
    const deadline = setTimeout(() => cutOff(`timeout after ${req.timeoutMs} ms`), deadlineMs);
    capBytesRead(outgoing, limits.maxReadBytes, () =>
      cutOff(`receiver sent more than ${sizeInWords(limits.maxReadBytes)} without an answer`),
    );
    failOnSwitchOrFlood(outgoing, limits.maxInformational, fail);
    outgoing.once("response", (response) => {
      const durationMs = elapsed();
      poolOnlyIfBodyRead(outgoing, response);
      const notTaken = notTakenOnReuse(outgoing, response);
      if (notTaken) {
        settle(answerOf(response, durationMs), notTaken);
        outgoing.destroy();
        return;
      }
      // A 101 without the Upgrade header that negotiates one reaches us as a final answer, and Node would pool its
      // connection: but the receiver said it stops speaking HTTP there, right after the 101's head (RFC 9110
      // §15.2.2, https://www.rfc-editor.org/rfc/rfc9110#section-15.2.2), so the next callback on it would wait out
      // its deadline, or read the other protocol's bytes as its answer. The answer stands; the connection goes.
      if (response.statusCode === 101) {
        settle(answerOf(response, durationMs));
        outgoing.destroy();
        return;
      }
      answer = { response, durationMs };
      // The body is read (at most maxResponseBytes) and dropped; the answer counts once the body has ended (whole,
      // capped or cut short), or when the deadline fires with the body still trickling in.
      discard(response, limits.maxResponseBytes).then(() => settle(answerOf(response, durationMs)));
    });
    // `on`, not `once`: an error after settling (e.g. from the destroy above) must not go unhandled. Once the head
    // is in, the status line is the answer: an error after it — junk after a complete answer (a 204 with a body,
    // bytes past Content-Length), a malformed chunk — spoils the connection (Node drops it), not the answer, as a
    // body cut short does not either. So a receiver that said yes is not called again.
    outgoing.on("error", (error) => {
      if (answer) settle(answerOf(answer.response, answer.durationMs));
      else
        settle(failure(error, elapsed()), {
          staleConnection:
            outgoing.reusedSocket &&
            ((closedUnderUs(error) && answerStart() === "") ||
              error instanceof ReusedAddressRefusedError ||
              leftoversAhead(error, answerStart())),
        });
    });
    outgoing.once("close", () => {
      if (answer) return;
      const result = {
        ok: false,
        error: "network: connection closed without a response",
        durationMs: elapsed(),
      };
      // Closed once the answer began (a status line's first bytes): the receiver read the request; not sent again.
      settle(result, { staleConnection: outgoing.reusedSocket && answerStart() === "" });
    });
    outgoing.end(req.body);
  });
}

/**
 * The answers Node's request settles on neither `response` nor `error` for: a `101` that switches protocols (with an
 * `upgrade` listener Node hands us the switched socket; without one it destroys it and emits nothing at all), and
 * informational answers without end (each one an `information` event).
 */
function failOnSwitchOrFlood(
  outgoing: http.ClientRequest,
  maxInformational: number,
  fail: (error: string) => void,
): void {
  outgoing.once("upgrade", (_response, socket: Duplex) => {
    socket.destroy();
    fail("receiver switched protocols (101)");
  });
  let informational = 0;
  outgoing.on("information", () => {
    informational++;
    if (informational > maxInformational) {
      fail(`receiver sent more than ${maxInformational} informational (1xx) responses`);
    }
  });
}

/**
 * An answer on a kept-alive connection saying the request was not taken, so it goes once more on a new connection:
 * a 408 (the receiver's idle timeout fired as the request came: "the client MAY repeat that request", RFC 9110
 * §15.5.9, https://www.rfc-editor.org/rfc/rfc9110#section-15.5.9, as browsers do), or a refusal of a request line
 * the receiver could not parse, the body it left unread run into it (`unparsedAhead`).
 */
function notTakenOnReuse(
  outgoing: http.ClientRequest,
  response: http.IncomingMessage,
): ExchangeFlags | undefined {
  if (!outgoing.reusedSocket) return undefined;
  if (response.statusCode === 408) return { staleConnection: true };
  if (unparsedAhead(response)) return { staleConnection: true, bodyLeftUnread: true };
  return undefined;
}

/**
 * An answer can come before the receiver has read the whole request: it may answer on the head and read the body
 * after (it gets the rest, as before), or never read again, and then the rest would wait on a closed TCP window
 * forever, holding the connection — and a file descriptor — for the container's life, since the agent's idle
 * timer closes only connections back in its pool. So a body still being sent gets what is left of the attempt's
 * deadline to go out, and its connection is closed then. The answer stands either way.
 */
function finishBodyByDeadline(outgoing: http.ClientRequest, leftMs: number): void {
  if (outgoing.writableFinished || outgoing.destroyed) return;
  const cut = setTimeout(() => outgoing.destroy(), Math.max(0, leftMs));
  cut.unref();
  outgoing.once("finish", () => clearTimeout(cut));
  outgoing.once("close", () => clearTimeout(cut));
}

/**
 * A connection is pooled only after a 2xx given once the whole request had gone out: any other answer may have been
 * given on the request's head alone, and a receiver that answered before it read the body may never read it, nor
 * anything after it. On such a connection the next callback would wait out its deadline, or be parsed behind the
 * unread body and answered for it (a 400), or get an answer meant for those bytes: a failed attempt caused by us.
 *
 * Not pooled after any answer but a 2xx: a 2xx says the receiver took the callback, which it cannot do without reading
 * the body (its signature covers the body); a refusal — 401/403 on an auth header or a stale timestamp, 404, 405, 411,
 * 413, 414, 415, 417, 429 or 503 from a rate limiter or load shedder, a 3xx — is commonly decided on the head, and
 * whether the server then drained the body (Node's and Go's servers do, up to a limit), closed the connection, or
 * neither, nothing on the wire tells us (the `Connection: close` a well-behaved one sends is the exception we cannot
 * rely on). The cost: one new connection (a TCP and TLS handshake, one or two round trips) for the next callback to the
 * host after each failed attempt — at 1 % of attempts failing, one more connection per 100 callbacks; hardly any for a
 * task's own retries, whose backoff (by default 3–5 s, then doubling) mostly outlasts the 4 s idle timeout, so they
 * reconnect anyway. A receiver failing every callback (a burst of 429s included) gets one connection per attempt, each
 * followed by its group's backoff or Retry-After, as a down receiver already does (and the circuit breaker, where a
 * topic has one, spaces them out). What it removes is a whole class of poisoned connections, each costing a failed
 * attempt and a backoff step of a task that did nothing wrong.
 *
 * And not after an answer that came while part of the request was still in this process, 2xx or not, as Go's client
 * does not reuse one whose answer came before the request was written: the receiver answered on a request it could
 * not have read whole. Node would pool it once the rest goes out (`requestOnFinish` in lib/_http_client.js), say when
 * the receiver reads a little more and then stops, and the next callback on it would wait out its deadline.
 *
 * Nor after an HTTP/1.0 answer carrying Transfer-Encoding (`framingInDoubt`). In each case the request is marked not
 * to be kept alive: Node ends the connection once the answer has ended
 * (`responseOnEnd`: `destroySoon`, after what is being written) and the agent drops it. The answer stands; nothing
 * is sent again.
 *
 * No race, however large the body: `writableFinished` is true once every byte was accepted by the kernel (the
 * socket's buffer empty, its last write's callback run; Node writes to the kernel directly, and libuv runs a write's
 * callback as soon as the write completes, before this socket's next read). A receiver that read the whole request
 * before answering was sent every byte before it answered, so the answer finds the request finished. What this
 * cannot see: a 2xx given on the head of a request the kernel took whole (one that fits the socket buffers), after
 * which the receiver stops reading — as for Go's or any client, that exchange looks exactly like a complete one, and
 * the next callback on the connection waits out its deadline like any callback to a receiver that stops answering.
 * A receiver that reads on parses the body it left ahead of the next request, and how it refuses that is where the
 * body left unread shows (`unparsedAhead`).
 */
function poolOnlyIfBodyRead(outgoing: http.ClientRequest, response: http.IncomingMessage): void {
  const status = response.statusCode ?? 0;
  const accepted = status >= 200 && status < 300;
  if (!outgoing.writableFinished || !accepted || framingInDoubt(response)) outgoing.shouldKeepAlive = false;
}

/**
 * An HTTP/1.0 answer carrying Transfer-Encoding: HTTP/1.0 has no transfer codings, so a hop that speaks it may have
 * passed chunks on as they came, and where the answer ends is in doubt. RFC 9112 §6.1 has a recipient "treat the
 * message as if the framing is faulty" and "close the connection after processing the message"
 * (https://www.rfc-editor.org/rfc/rfc9112#section-6.1); Node pools it when it says `Connection: keep-alive`. The
 * answer is taken as read; the connection is not kept.
 */
function framingInDoubt(response: http.IncomingMessage): boolean {
  return response.httpVersion === "1.0" && response.headers["transfer-encoding"] !== undefined;
}

/**
 * The statuses a server gives a request whose head it cannot parse: a request line that is no request line (400; 501
 * for a "method" it does not know, 505 for a "version"), too long (414) or a head too large (431).
 */
const UNPARSED_REQUEST_STATUSES = new Set([400, 414, 431, 501, 505]);

/**
 * What a reused connection answered is a server's refusal of a request it could not parse, and it closes the
 * connection: what came ahead of this request's line was, in practice, the body of the request before, which the
 * receiver answered with a 2xx without reading (a handler that never reads the body, as Python's
 * BaseHTTPRequestHandler serving HTTP/1.1 leaves it in its buffer; a raw server). Its parser then reads that body
 * and this request's line as one line, `{"task_id":…}POST /hook HTTP/1.1`, refuses it — 400 from Node's, Go's
 * servers or nginx, 501 from Python's for the unknown "method" — with `Connection: close`, and drops the rest: this
 * request was never taken. No client can see the body left unread when its 2xx comes (the kernel took the whole
 * request before it was answered: `poolOnlyIfBodyRead`); this is where it shows. The request goes once more, on a
 * new connection, and the receiver's origin is never pooled again (`bodyLeftUnread`). A receiver that did read this
 * request and refused it so (a 400 with `Connection: close` of its own) gets it twice in the attempt, its second
 * answer the attempt's, as a failed attempt's retry would give it again — only on connections the client pooled
 * before its first such answer (at most one request each: none is pooled or reused for it after). Without
 * `Connection: close` the answer is the request's.
 */
function unparsedAhead(response: http.IncomingMessage): boolean {
  const connection = response.headers.connection ?? "";
  return (
    UNPARSED_REQUEST_STATUSES.has(response.statusCode ?? 0) &&
    connection.split(",").some((token) => token.trim().toLowerCase() === "close")
  );
}

/** Connections given the listener below: once each, however often a kept-alive one is reused. */
const lateErrorGuards = new WeakSet<Duplex>();

/**
 * An error on a connection no request listens to any more ends the connection, never the process. A receiver may
 * answer on the head and reset the connection while the body is still going out (a server refusing a large request
 * early): the write the reset fails still "finishes" the request, and once its answer has ended Node hands the
 * connection back to the agent and drops its error listener — before the write's error is emitted, which then had no
 * listener: an uncaught exception (nodejs/node#27916, https://github.com/nodejs/node/issues/27916), on which Lambda's
 * runtime exits and every callback of the batch fails, for as long as the receiver answers so. The answer was already
 * taken (`exchange`), and the error destroys the connection, so it is not pooled; errors while the request listens
 * reach it as before.
 */
function absorbLateSocketErrors(outgoing: http.ClientRequest): void {
  outgoing.once("socket", (socket: Duplex) => {
    if (lateErrorGuards.has(socket)) return;
    lateErrorGuards.add(socket);
    socket.on("error", () => undefined);
  });
}

/**
 * The receiver's side closed or reset the connection (not our policy, not a name that does not resolve). Only
 * before any byte of an answer came (`answerStart`) is that a connection closed under the request: one closed once
 * its answer began (`HTTP/1.1 200 OK` and no more; the receiver crashing as it answered) was read and maybe acted
 * on, and sent again at once it would reach the receiver twice in one attempt.
 */
function closedUnderUs(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "ECONNRESET" || code === "EPIPE";
}

/**
 * What a status line begins with, lowercased: llhttp's three protocol names, and `ICY ` (SHOUTcast's and old
 * Icecast's `ICY 200 OK`, which libcurl reads as `HTTP/1.0 200` when told to: CURLOPT_HTTP200ALIASES).
 */
const STATUS_LINE_STARTS = ["http/", "rtsp/", "ice/", "icy "];
const STATUS_LINE_START_LENGTH = Math.max(...STATUS_LINE_STARTS.map((start) => start.length));

/**
 * What came back on a kept-alive connection began with bytes that are no status line in any spelling: llhttp's
 * `HPE_INVALID_CONSTANT` (in an answer it gives that only where the protocol name is read, before its `/`) for an
 * answer whose first bytes, past the CR/LF llhttp skips, are neither one of `STATUS_LINE_STARTS` in any letter case
 * nor the start of one. That is, in practice, bytes the previous answer left behind: a receiver writing past its
 * Content-Length after the answer ended is read ahead of the next request's answer once that request is on the
 * connection (20–42 % of the following callbacks when they come right after, as a group's do, with such bytes 0–5 ms
 * after each answer). Sent again on a new connection, the request gets the receiver's own answer; a receiver whose
 * every answer is unreadable fails there as before. Only that. A status line llhttp refuses for its spelling alone
 * (`http/1.1 200 OK`, `Http/1.1`, `ICY 200 OK`, `rtsp/1.0`) gets the same code, but it is the receiver's own answer
 * to this request, which it has read and may have acted on: sent again, it would get it twice in one attempt. So is
 * a status line that parsed and a head that did not (a header Node refuses, two lengths, a head past 16 KiB). Bytes
 * that may yet be a status line's start (all that came is a lone `h`) and an answer whose first bytes went unseen
 * are not sent again either: when unsure, no second delivery.
 */
function leftoversAhead(error: Error, answerStart: string): boolean {
  if ((error as { code?: unknown }).code !== "HPE_INVALID_CONSTANT") return false;
  const seen = answerStart.toLowerCase();
  return !STATUS_LINE_STARTS.some((start) => start.startsWith(seen) || seen.startsWith(start));
}

/**
 * The first bytes of the answer on a reused connection, past leading CR/LF, as many as `leftoversAhead` needs. Node
 * reports a parse error from within its own `data` listener, with only the chunk that failed (`rawPacket`), which
 * need not be where the answer began; so this listener goes first on the socket and sees every chunk before the
 * parser does, and comes off once it has enough or the request is over.
 */
function keepAnswerStart(outgoing: http.ClientRequest): () => string {
  let start = "";
  outgoing.once("socket", (socket: Duplex) => {
    if (!outgoing.reusedSocket) return;
    const keep = (chunk: Buffer) => {
      let from = 0;
      while (start === "" && from < chunk.length && (chunk[from] === 0x0d || chunk[from] === 0x0a)) from++;
      start += chunk.toString("latin1", from, from + STATUS_LINE_START_LENGTH - start.length);
      if (start.length >= STATUS_LINE_START_LENGTH) socket.off("data", keep);
    };
    socket.prependListener("data", keep);
    outgoing.once("close", () => socket.off("data", keep));
  });
  return () => start;
}

function systemLookup(host: string): Promise<readonly { address: string; family: number }[]> {
  return lookup(host, { all: true, verbatim: true });
}

/**
 * One lookup per name at a time: a connection to a name whose lookup is still running waits for that lookup's
 * answer instead of starting another. The system resolver holds a libuv thread per lookup until its own timeout,
 * which no attempt's deadline can cut short (`dns.lookup` cannot be cancelled): a receiver whose DNS never answers
 * would otherwise take one more thread with every attempt, its own retries and the next invocations' included,
 * until the pool (UV_THREADPOOL_SIZE) is full and other receivers' lookups queue behind it. Answers are not kept
 * past their lookup: the next connection asks the resolver again, as it always did.
 */
function sharedWhileInFlight(resolve: ResolveHost): ResolveHost {
  const inFlight = new Map<string, ReturnType<ResolveHost>>();
  return (host) => {
    const running = inFlight.get(host);
    if (running) return running;
    const lookup = resolve(host).finally(() => inFlight.delete(host));
    inFlight.set(host, lookup);
    return lookup;
  };
}

/** The connection's DNS step: resolve, keep only what the policy admits, hand exactly those addresses to connect. */
function pinnedLookup(policy: AddressPolicy, resolve: ResolveHost): LookupFunction {
  return (hostname, lookupOptions, callback) => {
    resolveAllowed(hostname, policy, resolve).then(
      (allowed) => {
        // Node asks for every address (`all`) when it tries them in turn (autoSelectFamily, the default): every
        // admitted one is handed over, so a receiver whose first address does not answer is reached on the next,
        // as with Node's own lookup. Each was checked; none other can be dialled.
        const [first] = allowed;
        if (lookupOptions.all)
          callback(
            null,
            allowed.map(({ address, family }) => ({ address, family })),
          );
        else if (first) callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, "", 0),
    );
  };
}

async function resolveAllowed(
  host: string,
  policy: AddressPolicy,
  resolve: ResolveHost,
): Promise<readonly { address: string; family: number }[]> {
  const addresses = await resolve(host);
  // No address at all is a failed resolution (retryable, as the system resolver's ENOTFOUND), not a refusal:
  // nothing was judged, so the task must not be dead-lettered for it.
  if (addresses.length === 0) {
    throw Object.assign(new Error(`no address for ${host}`), { code: "ENOTFOUND", hostname: host });
  }
  // Only addresses the policy admits are candidates, so a name resolving to both a public and an internal
  // address can never be steered to the internal one.
  const allowed = addresses.filter((a) => policy.isAllowed(host, a.address));
  if (allowed.length === 0) {
    // The stored error says only that the policy refused; which addresses the name has is for the logs.
    throw new BlockedAddressError(
      REFUSED_ON_RESOLUTION.slice(REFUSED_BY_POLICY.length + 2),
      `${host} resolves to ${addresses.map((a) => a.address).join(", ")}`,
    );
  }
  return allowed;
}

/** The result of a final answer: its status decides (a 429's or 503's Retry-After kept for the deliver step). */
function answerOf(response: http.IncomingMessage, durationMs: number): CallbackResult {
  const status = response.statusCode ?? 0;
  if (status >= 200 && status < 300) return { ok: true, status, durationMs };
  const retryAfter = status === 429 || status === 503 ? response.headers["retry-after"] : undefined;
  return { ok: false, status, error: `HTTP ${status}`, durationMs, ...(retryAfter && { retryAfter }) };
}

/**
 * Reads and drops a response body, stopping (and closing the connection) past `limit` bytes. It settles however
 * the body ends — whole, capped, or cut short by the receiver: the answer was its status line.
 */
function discard(response: http.IncomingMessage, limit: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    response.on("data", (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) {
        response.destroy();
        resolve();
      }
    });
    response.once("end", resolve);
    response.once("close", resolve);
    response.once("error", () => resolve());
  });
}

/**
 * A short, content-free description of a failed request: `network: connection refused (ECONNREFUSED)`,
 * `malformed answer: invalid Content-Length (HPE_INVALID_CONTENT_LENGTH)`, `destination refused by policy: …`.
 */
function failure(error: unknown, durationMs: number): CallbackResult {
  if (error instanceof BlockedAddressError) {
    return {
      ok: false,
      refused: true,
      error: `${REFUSED_BY_POLICY}: ${error.message}`,
      detail: error.detail,
      durationMs,
    };
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    // Node's name for a connection the receiver closed before any response (FIN, not RST).
    if (code === "ECONNRESET" && error.message === "socket hang up") {
      return { ok: false, error: "network: connection closed without a response", durationMs };
    }
    return {
      ok: false,
      error: describeFailureCode(typeof code === "string" ? code : error.name),
      durationMs,
    };
  }
  return { ok: false, error: "network: unknown error", durationMs };
}
