import ipaddr from "ipaddr.js";
import { exceedsDnsLimits } from "#shared/domain/callback-resolution.js";
import { echoed } from "#shared/domain/echoed.js";

/**
 * Callback URL policy. Punctual POSTs to URLs its callers choose, from inside the user's VPC/account, so a
 * careless allow-list would let any caller reach the instance metadata service, internal load balancers or
 * the local cloud's own emulators. The rule: only public addresses, unless an operator names a non-public
 * address in the topic's allow-list *as an IP literal* (`10.1.2.3`, `127.0.0.1`, `[::1]`). Name entries —
 * `*`, `*.example.com`, `hooks.example.com` — admit public addresses only: whoever controls a name's DNS (or
 * a subdomain's) could otherwise point it at 10.0.0.1 or 169.254.169.254 and have us call it. A non-public
 * *name* (`localhost`, `*.internal`, a single label) is accepted at add time only when an entry names it
 * exactly, and is then dialled only if it resolves to a listed literal (the local environment lists
 * `localhost` next to `127.0.0.1` and `[::1]`, so `http://localhost:…` works there and nowhere by accident).
 *
 * Host parsing is WHATWG URL's, the same parser the deliver function's HTTP client uses, so what we check is
 * what will be dialled: it already turns `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1` and `%31%32%37.0.0.1`
 * into `127.0.0.1`, maps full-width and circled digits/letters through IDNA, and compresses IPv6. Checking a
 * hand-parsed host instead is the classic way such filters get bypassed.
 *
 * A host *name* can still resolve to a private address (or be re-pointed after this check: DNS rebinding), so
 * this check is necessary but not sufficient: the deliver function must check the resolved address again with
 * `resolvedAddressAllowed` at connect time.
 */

export interface CallbackPolicy {
  readonly allowedCallbackHosts: readonly string[];
  readonly allowHttpCallbacks: boolean;
}

export type CallbackCheck =
  | { readonly ok: true; readonly url: URL }
  | { readonly ok: false; readonly reason: string };

/**
 * Names that are not on the public internet whatever DNS says: loopback by definition (RFC 6761), cloud
 * metadata endpoints, and the special-use / private-use suffixes that only resolve inside a network.
 */
const NON_PUBLIC_NAMES = new Set([
  "localhost",
  "metadata",
  "metadata.google.internal",
  "instance-data",
  "instance-data.ec2.internal",
]);
const NON_PUBLIC_SUFFIXES = [
  ".localhost",
  ".internal",
  ".local",
  ".localdomain",
  ".home.arpa",
  ".intranet",
  ".corp",
  ".lan",
];

/**
 * The Fetch standard's bad ports (https://fetch.spec.whatwg.org/#block-bad-port): well-known ports of protocols
 * that read lines (SMTP, FTP, IRC, SIP, LDAP…), into which a callback's POST — its body the caller's — could be
 * smuggled, turning Punctual into a relay for them. Browsers refuse them for that reason; our callback client uses
 * node:http, which has no such list, and undici keeps its copy internal, so the standard's list is kept here.
 */
const BAD_PORTS = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104,
  109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515,
  526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049,
  3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

export function checkCallbackUrl(raw: string | URL, policy: CallbackPolicy): CallbackCheck {
  let url: URL;
  try {
    url = new URL(String(raw));
  } catch {
    return refuse("not a valid absolute URL");
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && policy.allowHttpCallbacks)) {
    return refuse(policy.allowHttpCallbacks ? "scheme must be https or http" : "scheme must be https");
  }
  // Credentials in a callback URL would be stored in the task and shown by GET; and `user@host` is the oldest
  // trick for making a URL look like it points somewhere it does not.
  if (url.username !== "" || url.password !== "") return refuse("credentials in the URL are not allowed");
  // A valid URL, but no connection can reach it: every attempt would fail until the task is dead-lettered.
  if (url.port === "0") return refuse("port 0 is not a port a callback can reach");
  if (BAD_PORTS.has(Number(url.port))) {
    return refuse(
      `port ${url.port} is one the Fetch standard blocks (mail, FTP, IRC, SIP…): not a callback's`,
    );
  }

  const host = hostOf(url);
  if (host.kind === "invalid") return refuse(`host "${echoed(url.hostname)}" is not a valid host`);
  if (host.kind === "name" && exceedsDnsLimits(host.name)) {
    return refuse(
      `host "${echoed(host.name)}" is not a valid host name: at most 253 characters, each dot-separated label at most 63`,
    );
  }

  const exact = policy.allowedCallbackHosts.some((pattern) => matchesExactly(pattern, host));
  if (exact) return { ok: true, url };

  const wildcard = policy.allowedCallbackHosts.some((pattern) => matchesWildcard(pattern, host));
  if (!wildcard) return refuse(`host "${echoed(host.display)}" is not in the topic's allowed callback hosts`);
  if (!host.public) {
    return refuse(
      host.kind === "ip"
        ? `host "${echoed(host.display)}" is a private, loopback, link-local or metadata address; ` +
            "it must be named as an IP literal in the topic's allowed callback hosts"
        : `host "${echoed(host.display)}" is not a public name; ` +
            "it must be named exactly in the topic's allowed callback hosts",
    );
  }
  return { ok: true, url };
}

/**
 * Whether an address a callback host resolved to may be dialled (at connect time, after DNS). Public addresses
 * always (the host name itself was checked against the allow-list when the task was accepted, and again before
 * the request); a non-public one only when the allow-list names that very address as an IP literal. No name
 * entry — `*`, `*.example.com`, `hooks.corp.example` — admits a non-public address: names are only as
 * trustworthy as whoever controls their DNS. `hostname` is unused on purpose; it is part of the signature so the
 * rule can be read where it is wired (`isAllowed(host, ip)`).
 */
export function resolvedAddressAllowed(_hostname: string, address: string, policy: CallbackPolicy): boolean {
  if (isPublicAddress(address)) return true;
  const ip = parseIp(address);
  if (!ip) return false;
  const literal: Host = { kind: "ip", ip, display: address, public: false };
  return policy.allowedCallbackHosts.some((pattern) => matchesExactly(pattern, literal));
}

/**
 * True for addresses reachable on the public internet. Anything special-purpose is false: private, loopback,
 * link-local (incl. 169.254.169.254), CGNAT, multicast, broadcast, unspecified, documentation/benchmark/reserved
 * ranges, IPv6 unique-local (incl. fd00:ec2::254) and everything outside 2000::/3. Addresses that embed an IPv4
 * address (IPv4-mapped, NAT64, 6to4) are judged by the embedded address, because that is where packets go.
 */
export function isPublicAddress(address: string): boolean {
  const ip = parseIp(address);
  return ip !== undefined && isPublicIp(ip);
}

type Ip = ipaddr.IPv4 | ipaddr.IPv6;

type Host =
  | { readonly kind: "ip"; readonly ip: Ip; readonly display: string; readonly public: boolean }
  | { readonly kind: "name"; readonly name: string; readonly display: string; readonly public: boolean }
  | { readonly kind: "invalid" };

function hostOf(url: URL | undefined): Host {
  if (!url) return { kind: "invalid" };
  const hostname = url.hostname;
  if (hostname.startsWith("[")) {
    const ip = parseIp(hostname.slice(1, -1));
    return ip ? { kind: "ip", ip, display: hostname, public: isPublicIp(ip) } : { kind: "invalid" };
  }
  // WHATWG has already turned every IPv4 spelling into dotted decimal, so a strict 4-part parse suffices here.
  if (ipaddr.IPv4.isValidFourPartDecimal(hostname)) {
    const ip = ipaddr.IPv4.parse(hostname);
    return { kind: "ip", ip, display: hostname, public: isPublicIp(ip) };
  }
  // `example.com.` is the same host as `example.com` (fully qualified); compare without the root dot. Only one dot
  // is the root's: `example.com..` has an empty label, as `a..example.com` has, and no resolver can look it up.
  const name = hostname.endsWith(".") ? hostname.slice(0, -1) : hostname;
  if (name === "" || name.includes("..") || name.startsWith(".") || name.endsWith("."))
    return { kind: "invalid" };
  return { kind: "name", name, display: name, public: isPublicName(name) };
}

function isPublicName(name: string): boolean {
  if (NON_PUBLIC_NAMES.has(name)) return false;
  if (NON_PUBLIC_SUFFIXES.some((suffix) => name.endsWith(suffix))) return false;
  // A single label (`http://intranet/`) is resolved through the machine's search domains, i.e. internally.
  return name.includes(".");
}

function isPublicIp(ip: Ip): boolean {
  if (ip.kind() === "ipv4") return ip.range() === "unicast";
  const v6 = ip as ipaddr.IPv6;
  const range = v6.range();
  if (range === "ipv4Mapped") return isPublicIp(v6.toIPv4Address());
  if (range === "rfc6052") {
    // Only the well-known NAT64 prefix /96 carries a routable IPv4 address in its last 32 bits; the /48
    // local-use prefix is, as its name says, local.
    const [a, b, c, d, e, f] = v6.parts;
    if (a !== 0x64 || b !== 0xff9b || c !== 0 || d !== 0 || e !== 0 || f !== 0) return false;
    return isPublicIp(embeddedIpv4(v6.parts[6] ?? 0, v6.parts[7] ?? 0));
  }
  if (range === "6to4") return isPublicIp(embeddedIpv4(v6.parts[1] ?? 0, v6.parts[2] ?? 0));
  if (range !== "unicast") return false;
  // Only 2000::/3 is allocated as global unicast; the rest of the "unicast" space (e.g. the deprecated
  // IPv4-compatible ::a.b.c.d) is not routable on the internet.
  return ((v6.parts[0] ?? 0) & 0xe000) === 0x2000;
}

function embeddedIpv4(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

function parseIp(address: string): Ip | undefined {
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  // Only canonical forms: a resolver hands us dotted quads, and a pattern must be written plainly.
  if (ipaddr.IPv4.isValidFourPartDecimal(bare)) return ipaddr.IPv4.parse(bare);
  if (ipaddr.IPv6.isValid(bare)) return ipaddr.IPv6.parse(compatibleSpelledOut(bare));
  return undefined;
}

/**
 * `::a.b.c.d` with the zero group written out (`::0:a.b.c.d`), the same address: ipaddr.js parses that one spelling
 * as the IPv4-mapped `::ffff:a.b.c.d` (its "deprecated transitional" form), so the IPv4-compatible `::8.8.8.8`
 * (::/96, RFC 4291 §2.5.5.1: deprecated, not routable) would be judged by its embedded public address, while
 * `::808:808` or `0:0:0:0:0:0:8.8.8.8`, the very same address, are refused. Node's resolver writes such an address
 * as `::808:808`, but the rule must not depend on a spelling.
 */
function compatibleSpelledOut(address: string): string {
  return address.replace(/^::(?=[^:]*\.)/, "::0:");
}

/**
 * Whether an allow-list entry names a host exactly: an IP literal the very same address (`127.0.0.1` does not
 * admit `[::ffff:127.0.0.1]`: an operator who allowed one spelling did not think about the other), a name the
 * very same name. The only entries that admit a non-public host.
 */
function matchesExactly(pattern: string, host: Host): boolean {
  if (host.kind === "invalid") return false;
  const p = pattern.toLowerCase();
  const patternIp = parseIp(p);
  if (patternIp) {
    if (host.kind !== "ip" || patternIp.kind() !== host.ip.kind()) return false;
    return patternIp.toNormalizedString() === host.ip.toNormalizedString();
  }
  return host.kind === "name" && !p.includes("*") && host.name === bareName(p);
}

/**
 * Whether a wildcard entry covers a host: `*` every host, `*.example.com` its subdomains (not the apex). Both
 * admit public hosts only; the caller refuses the rest.
 */
function matchesWildcard(pattern: string, host: Host): boolean {
  if (host.kind === "invalid") return false;
  if (pattern === "*") return true;
  const p = bareName(pattern.toLowerCase());
  if (host.kind !== "name" || !p.startsWith("*.")) return false;
  return host.name.endsWith(p.slice(1)) && host.name.length > p.length - 1;
}

/** `example.com.` is the same host as `example.com` (fully qualified). */
function bareName(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

function refuse(reason: string): CallbackCheck {
  return { ok: false, reason };
}

/**
 * An allow-list entry admitting a non-public host: a non-public IP literal, or a name the callback policy itself
 * counts as non-public (`localhost`, a metadata name, an internal suffix such as `.internal`, `.lan` or `.corp`, a
 * single label resolved through the machine's search domains) — fully qualified (`localhost.`) included, since
 * the policy compares names without the root dot. `*` and public names are fine: the callback client refuses
 * private addresses they resolve to.
 */
export function isPrivateHostPattern(pattern: string): boolean {
  if (pattern === "*") return false;
  const host = bareName(
    pattern
      .replace(/^\*\./, "")
      .replace(/^\[(.*)\]$/, "$1")
      .toLowerCase(),
  );
  if (/^[0-9.]+$/.test(host) || host.includes(":")) return !isPublicAddress(host);
  // `*.home.arpa` leaves `home.arpa`: a suffix itself is as internal as the names under it.
  return !isPublicName(host) || NON_PUBLIC_SUFFIXES.some((suffix) => `.${host}`.endsWith(suffix));
}

/**
 * Why an allow-list entry the schema's characters admit can still match no callback host, or undefined when it can.
 * The policy compares entries with hosts as WHATWG URL parses them (`hostOf`), and no parsed host has an empty
 * label, a label past DNS's 63, a name ending in a number (a URL reads `1.2.3` as the address 1.2.0.3 and refuses
 * `999.1.1.1`), a wildcard over an address, or brackets around anything but IPv6. Such an entry looked like an
 * allowed host and silently allowed none: a runtime document narrowing a list to `hooks..example.com` would then
 * dead-letter the topic's tasks in flight by policy.
 */
export function unmatchableHostPattern(pattern: string): string | undefined {
  if (pattern === "*") return undefined;
  if (pattern.startsWith("[")) {
    return ipaddr.IPv6.isValid(pattern.slice(1, -1)) ? undefined : "brackets hold an IPv6 address";
  }
  const wildcard = pattern.startsWith("*.");
  const written = wildcard ? pattern.slice(2) : pattern;
  const labels = bareName(written).split(".");
  if (labels.some((label) => label === ""))
    return "it has an empty label (a leading dot, or two dots in a row)";
  if (exceedsDnsLimits(bareName(written)))
    return "at most 253 characters, each dot-separated label at most 63";
  if (!/^(\d+|0x[0-9a-f]*)$/i.test(labels.at(-1) ?? "")) return undefined;
  if (wildcard) return "a wildcard covers host names, and a name ending in a number is read as an IP address";
  return ipaddr.IPv4.isValidFourPartDecimal(written)
    ? undefined
    : "it ends in a number, so it is read as an IPv4 address: write one as four decimal parts (10.1.2.3)";
}
