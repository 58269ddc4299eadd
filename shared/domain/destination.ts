/**
 * Protecting receivers (docs/CALLBACKS.md "Protecting receivers"): pure rules for per-destination limits, the circuit
 * breaker and `Retry-After`. The state they read lives in the task table (shared/adapters/dynamo-task-store.ts),
 * one item per topic and callback host.
 */

import ipaddr from "ipaddr.js";
import { exceedsDnsLimits } from "./callback-resolution.js";
import { parseHttpDate } from "./http-date.js";

/**
 * A callback URL's destination: its `host[:port]`, lower-cased, without a fully qualified name's trailing dot
 * (`hooks.example.com.` is `hooks.example.com`, as the allow-list reads it too: else a caller could double a
 * host's rate and concurrency limits, and split its circuit, by spelling it both ways; an IPv4-mapped or NAT64
 * IPv6 address, `[::ffff:1.2.3.4]` or `[64:ff9b::1.2.3.4]`, is its IPv4 address for the same reason: packets to it
 * go there, see ipv4Of); undefined for a URL that does not parse or whose host DNS cannot hold. A name is keyed as
 * written, never by what it resolves to: receivers behind one address (a CDN's, a shared host's) are distinct, and
 * keyed together one's failures would open the others' circuit.
 */
export function destinationHost(callbackUrl: string): string | undefined {
  let url: URL;
  try {
    url = new URL(callbackUrl);
  } catch {
    return undefined;
  }
  return destinationKey(url.hostname, url.port);
}

/**
 * The destination a `host[:port]` names (`POST /v1/destinations/{host}/reset`): written as GET /v1/destinations
 * shows it, or as a callback URL spells it (`Hooks.Example.com.:8443`, `[::ffff:1.2.3.4]`, `[2001:DB8:0::1]`), it
 * is the key destinationHost makes (`[64:ff9b::102:304]` is `1.2.3.4`), so every host the list shows names itself. The host is read by the same URL
 * parser; the port is kept as written (`a.example.com:443` is an http callback's, not https' default port).
 * Undefined for anything else: credentials, a path, a query, percent-encoding, a second port.
 */
export function destinationHostOf(spelling: string): string | undefined {
  const host = hostOfSpelling(spelling);
  return host && destinationKey(host.hostname, host.port);
}

/**
 * The key a NAT64 spelling of a host (`[64:ff9b::102:304]`) had before 2026-12-05, when such a host was keyed apart
 * from its IPv4 address; undefined for any other host. A reset reads it too: an item written under it is still in
 * the list under that name, and one a circuit left open never expires, so naming it must still close it.
 */
export function formerDestinationHostOf(spelling: string): string | undefined {
  const host = hostOfSpelling(spelling);
  if (!host || !isNat64(host.hostname)) return undefined;
  return destinationKey(host.hostname, host.port, { foldNat64: false });
}

/** The hostname (as the URL parser writes it) and port (as written) of a `host[:port]` spelling; see destinationHostOf. */
function hostOfSpelling(spelling: string): { readonly hostname: string; readonly port: string } | undefined {
  const parts = /^(\[[^\]]*\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(spelling);
  // ASCII only, as the list writes every host (an IDN in its `xn--` form): the parser's IDNA mapping would read a
  // near miss (a zero-width space, full-width letters) as the host. And none of the characters no URL host holds
  // but that would end the host, or be decoded, were it parsed in a URL.
  if (!parts || /[^!-~]|[@/\\?#%]/.test(spelling)) return undefined;
  const [, host = "", port] = parts;
  if (port !== undefined && Number(port) > 65_535) return undefined;
  try {
    return {
      hostname: new URL(`https://${host}/`).hostname,
      port: port === undefined ? "" : String(Number(port)),
    };
  } catch {
    return undefined;
  }
}

/** The key of a URL's (parsed) hostname and port. */
function destinationKey(hostname: string, port: string, { foldNat64 = true } = {}): string | undefined {
  // Unfolded only for formerDestinationHostOf: the key a NAT64 host had before it was its IPv4 address's.
  const ipv4 = foldNat64 || !isNat64(hostname) ? ipv4Of(hostname) : undefined;
  const name = ipv4 ?? hostname.replace(/\.$/, "");
  // A name DNS cannot hold is no destination (its item's key would pass DynamoDB's limits, failing every admission
  // call; `hooks.example.com..`, an empty label, would be keyed apart from the host's own): the deliver function's
  // URL policy refuses it instead, and the task is dead-lettered.
  if (exceedsDnsLimits(name) || name.endsWith(".")) return undefined;
  return (port ? `${name}:${port}` : name).toLowerCase() || undefined;
}

/**
 * The dotted IPv4 address an IPv6 host literal stands for, where packets to it reach that IPv4 host and no other:
 * IPv4-mapped (`[::ffff:102:304]`, as URL writes it; ipaddr.js's process() folds it so) and the well-known NAT64
 * prefix /96 (`[64:ff9b::102:304]`, RFC 6052: the translator sends it to 1.2.3.4, and the URL policy judges it by
 * that address). Else undefined, the literal its own destination: 6to4 (`2002:102:304::/48` is a whole site behind
 * 1.2.3.4's router, many receivers: folding would let one's failures open the others' circuit), a local-use NAT64
 * /48 (how it embeds an address is the network's choice), IPv4-compatible and IPv4-translated forms (neither is
 * public: only an allow-list entry naming that very literal admits them, so no caller can pick them to dodge).
 */
function ipv4Of(hostname: string): string | undefined {
  const literal = /^\[(.+)\]$/.exec(hostname)?.[1];
  if (!literal || !ipaddr.IPv6.isValid(literal)) return undefined;
  const address = ipaddr.IPv6.parse(literal);
  if (address.isIPv4MappedAddress()) return address.toIPv4Address().toString();
  const [high = 0, low = 0] = address.parts.slice(6);
  return isNat64(hostname) ? [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".") : undefined;
}

/** Whether a URL hostname is an address in the well-known NAT64 prefix, 64:ff9b::/96. */
function isNat64(hostname: string): boolean {
  const literal = /^\[(.+)\]$/.exec(hostname)?.[1];
  if (!literal || !ipaddr.IPv6.isValid(literal)) return false;
  const [a, b, c, d, e, f] = ipaddr.IPv6.parse(literal).parts;
  return a === 0x64 && b === 0xff9b && c === 0 && d === 0 && e === 0 && f === 0;
}

/** A circuit is `closed` (deliveries pass), `open` (they wait) or `half-open` (open, its cool-down over). */
export type CircuitState = "closed" | "open" | "half-open";

/** One topic's view of one callback host, as stored (the breaker's state; lease slots are not shown). */
export interface DestinationRecord {
  readonly topic: string;
  readonly host: string;
  /** Consecutive failed attempts to the host (reset by a success). */
  readonly failures: number;
  readonly circuit: "closed" | "open";
  readonly openedAtMs?: number;
  /** When an open circuit lets one probe through. */
  readonly nextProbeAtMs?: number;
  /** The elected prober's claim: no other probe until then. */
  readonly probeUntilMs?: number;
  readonly lastError?: string;
  readonly lastFailureAtMs?: number;
  /** Concurrency lease slots in use: slot number → lease expiry (ms). */
  readonly leases?: Readonly<Record<number, number>>;
}

/** What the breaker says about one delivery to a host, now. */
export type CircuitGate =
  | { readonly kind: "pass" }
  /** Half-open and no probe running: the caller may try to become the one prober. */
  | { readonly kind: "probe" }
  | { readonly kind: "wait"; readonly ms: number };

/** The circuit's state as shown: `half-open` once the cool-down of an open circuit is over. */
export function circuitState(record: DestinationRecord | undefined, nowMs: number): CircuitState {
  if (record?.circuit !== "open") return "closed";
  return (record.nextProbeAtMs ?? 0) <= nowMs ? "half-open" : "open";
}

/**
 * The breaker's decision. Open: wait for the next probe time. Half-open: one delivery may probe (elected by a
 * conditional write), the others wait for the probe's outcome (its claim's end at the latest).
 */
export function circuitGate(record: DestinationRecord | undefined, nowMs: number): CircuitGate {
  const state = circuitState(record, nowMs);
  if (state === "closed") return { kind: "pass" };
  if (state === "open") return { kind: "wait", ms: (record?.nextProbeAtMs ?? nowMs) - nowMs };
  const probeUntil = record?.probeUntilMs ?? 0;
  return probeUntil > nowMs ? { kind: "wait", ms: probeUntil - nowMs } : { kind: "probe" };
}

/**
 * Whether an attempt's outcome says the host is unhealthy: no answer (refused connection, reset, timeout), a
 * final status below 200 (an informational one such as a 101 Switching Protocols nobody negotiated is not an
 * answer to the callback, and below 100 is not HTTP), a 5xx or a 429. Any other answer (2xx, and 4xx such as 400
 * or 404, which one task's content can cause) shows a host that is up, and counts as a success for its circuit.
 * A destination refused by our own URL/address policy says nothing about the host and counts neither way.
 */
export function hostFailed(result: { ok: boolean; status?: number; refused?: boolean }): boolean | undefined {
  if (result.refused) return undefined;
  if (result.ok) return false;
  const status = result.status;
  return status === undefined || status < 200 || status >= 500 || status === 429;
}

/**
 * Rate limits count callbacks per whole second (a fixed window: one DynamoDB counter item per host and second).
 * No token is handed out in a second's last RATE_GUARD_MS, so a callback started with its token reaches the
 * receiver within the same second unless sending it takes longer than that.
 */
export const RATE_GUARD_MS = 250;

/** The second a token is taken from, or undefined when `nowMs` falls in the guard at that second's end. */
export function rateWindow(nowMs: number): number | undefined {
  return nowMs % 1000 >= 1000 - RATE_GUARD_MS ? undefined : Math.floor(nowMs / 1000);
}

/** How many seconds a record waits for the next whole second: SQS visibility counts whole seconds, at least 1. */
export function waitSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * The wait a `Retry-After` of `askedSeconds` sets in place of the backoff step: the receiver's own delay, up to
 * `capSeconds`. A delay the cap cuts is never cut below the backoff step it replaces: a receiver asking for more
 * time than the cap allows must not be called sooner than one that sent no `Retry-After` at all (with a cap of 0,
 * every delay but 0 leaves the backoff step as it is).
 */
export function retryAfterWait(askedSeconds: number, capSeconds: number, backoffStep: () => number): number {
  if (askedSeconds <= capSeconds) return askedSeconds;
  return Math.max(capSeconds, backoffStep());
}

/**
 * How long an open circuit waits before its next probe, from the answer that opened it or kept it open: the
 * topic's cool-down, longer when the receiver's `Retry-After` (in seconds, parsed) asks for longer — up to the
 * topic's cap, as for a task's retry. Never shorter: a receiver cannot make an open circuit probe sooner. Without
 * it, a receiver that answered 503 "come back in 10 minutes" was probed every cool-down regardless.
 */
export function probeCooldownSeconds(
  cooldownSeconds: number,
  capSeconds: number,
  askedSeconds: number | undefined,
): number {
  if (askedSeconds === undefined) return cooldownSeconds;
  return Math.max(cooldownSeconds, Math.min(askedSeconds, capSeconds));
}

/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns the delay in whole seconds from
 * `nowMs` (0 for a date in the past), or undefined when the value is neither.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = parseHttpDate(text, nowMs);
  if (at === undefined) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}
