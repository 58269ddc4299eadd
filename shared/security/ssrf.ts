import ipaddr from "ipaddr.js";

/**
 * Callback URL policy. Punctual POSTs to URLs its callers choose, from inside the user's VPC/account, so a
 * careless allow-list would let any caller reach the instance metadata service, internal load balancers or
 * the local cloud's own emulators. The rule: only public addresses, unless an operator names a non-public
 * host in the topic's allow-list *explicitly* — `*` never admits them.
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

  const host = hostOf(url);
  if (host.kind === "invalid") return refuse(`host "${url.hostname}" is not a valid host`);

  const explicit = policy.allowedCallbackHosts.some((pattern) => matchesExplicitly(pattern, host));
  if (explicit) return { ok: true, url };

  const wildcard = policy.allowedCallbackHosts.includes("*");
  if (!wildcard) return refuse(`host "${host.display}" is not in the topic's allowed callback hosts`);
  if (!host.public) {
    return refuse(
      `host "${host.display}" is a private, loopback, link-local or metadata address; ` +
        "it must be named explicitly in the topic's allowed callback hosts",
    );
  }
  return { ok: true, url };
}

/**
 * Whether an address a callback host resolved to may be dialled. Public addresses always; a non-public one only
 * when the allow-list names that very address, or names the host explicitly (an operator who lists
 * `hooks.corp.example` has chosen to call it wherever it lives). `*` alone never admits a private address.
 */
export function resolvedAddressAllowed(hostname: string, address: string, policy: CallbackPolicy): boolean {
  if (isPublicAddress(address)) return true;
  const ip = parseIp(address);
  if (!ip) return false;
  const literal: Host = { kind: "ip", ip, display: address, public: false };
  const name = hostOf(safeUrl(`http://${hostname.includes(":") ? `[${hostname}]` : hostname}/`));
  return policy.allowedCallbackHosts.some(
    (pattern) =>
      matchesExplicitly(pattern, literal) || (name.kind === "name" && matchesExplicitly(pattern, name)),
  );
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
  // `example.com.` is the same host as `example.com` (fully qualified); compare without the root dot.
  const name = hostname.endsWith(".") ? hostname.slice(0, -1) : hostname;
  if (name === "" || name.includes("..") || name.startsWith(".")) return { kind: "invalid" };
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
  if (ipaddr.IPv6.isValid(bare)) return ipaddr.IPv6.parse(bare);
  return undefined;
}

/**
 * Whether an allow-list pattern admits a host, counting only explicit names: `*` is handled by the caller.
 * IP patterns match the very same address (`127.0.0.1` does not admit `[::ffff:127.0.0.1]`: an operator who
 * allowed one spelling did not think about the other). `*.example.com` admits subdomains, not the apex.
 */
function matchesExplicitly(pattern: string, host: Host): boolean {
  if (host.kind === "invalid" || pattern === "*") return false;
  const p = pattern.toLowerCase();
  const patternIp = parseIp(p);
  if (patternIp) {
    if (host.kind !== "ip" || patternIp.kind() !== host.ip.kind()) return false;
    return patternIp.toNormalizedString() === host.ip.toNormalizedString();
  }
  if (host.kind !== "name") return false;
  const bare = p.endsWith(".") ? p.slice(0, -1) : p;
  if (bare.startsWith("*.")) return host.name.endsWith(bare.slice(1)) && host.name.length > bare.length - 1;
  return host.name === bare;
}

function safeUrl(raw: string): URL | undefined {
  try {
    return new URL(raw);
  } catch {
    return undefined;
  }
}

function refuse(reason: string): CallbackCheck {
  return { ok: false, reason };
}
