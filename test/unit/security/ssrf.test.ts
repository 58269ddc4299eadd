import { describe, expect, it } from "vitest";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import {
  type CallbackPolicy,
  checkCallbackUrl,
  isPublicAddress,
  resolvedAddressAllowed,
} from "#shared/security/ssrf.js";

const PUBLIC_ONLY: CallbackPolicy = { allowedCallbackHosts: ["*"], allowHttpCallbacks: false };
const PUBLIC_HTTP: CallbackPolicy = { allowedCallbackHosts: ["*"], allowHttpCallbacks: true };

const LOCAL = loadEnvironmentConfig("local").resolvedTopics.demo as CallbackPolicy;

/** [url, allowed] under `*` with http allowed: the encoding corpus. */
const WILDCARD_CORPUS: readonly [string, boolean][] = [
  // public hosts and addresses
  ["https://hooks.example.com/notify", true],
  ["http://hooks.example.com:8080/notify?x=1", true],
  ["https://8.8.8.8/", true],
  ["https://[2606:4700:4700::1111]/", true],
  ["https://[::ffff:8.8.8.8]/", true],
  ["https://[64:ff9b::8.8.8.8]/", true],
  ["https://EXAMPLE.com./x", true],
  ["https://127.0.0.1.nip.io/", true], // a name: its resolved address is checked at delivery
  // loopback in every spelling
  ["http://127.0.0.1/", false],
  ["http://127.0.0.2:4000/", false],
  ["http://2130706433/", false],
  ["http://017700000001/", false],
  ["http://0x7f000001/", false],
  ["http://0x7f.1/", false],
  ["http://0177.0.0.1/", false],
  ["http://127.1/", false],
  ["http://%31%32%37.0.0.1/", false],
  ["https://①②⑦.0.0.1/", false],
  ["http://[::1]/", false],
  ["http://[0:0:0:0:0:0:0:1]/", false],
  ["http://[::ffff:127.0.0.1]/", false],
  ["http://[::ffff:7f00:1]/", false],
  ["http://[::127.0.0.1]/", false],
  ["http://[64:ff9b::127.0.0.1]/", false],
  ["http://[2002:7f00:1::]/", false],
  ["http://localhost/", false],
  ["http://LOCALHOST./", false],
  ["http://ⓛocalhost/", false],
  ["http://api.localhost/", false],
  // private, CGNAT, link-local, metadata
  ["http://10.0.0.1/", false],
  ["http://172.16.5.4/", false],
  ["http://192.168.1.1/", false],
  ["http://100.64.0.1/", false],
  ["http://169.254.169.254/latest/meta-data/", false],
  ["http://[fd00:ec2::254]/", false],
  ["http://[fe80::1]/", false],
  ["http://[fc00::1]/", false],
  ["http://[::ffff:10.0.0.1]/", false],
  ["http://[::ffff:169.254.169.254]/", false],
  ["http://metadata.google.internal/computeMetadata/v1/", false],
  ["http://metadata/", false],
  ["http://printer.local/", false],
  ["http://db.internal/", false],
  ["http://intranet/", false],
  // unspecified, broadcast, multicast, reserved, documentation
  ["http://0/", false],
  ["http://0.0.0.0/", false],
  ["http://[::]/", false],
  ["http://255.255.255.255/", false],
  ["http://224.0.0.1/", false],
  ["http://[ff02::1]/", false],
  ["http://240.0.0.1/", false],
  ["http://192.0.2.10/", false],
  ["http://198.18.0.1/", false],
  ["http://[2001:db8::1]/", false],
  ["http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", false], // Teredo
  // tricks that are not addresses at all
  ["http://127.0.0.1:80@169.254.169.254/", false], // credentials
  ["https://user:pw@hooks.example.com/", false],
  ["ftp://hooks.example.com/", false],
  ["file:///etc/passwd", false],
  ["javascript:alert(1)", false],
  ["//hooks.example.com/", false],
  ["http://0x100000000/", false], // overflow: not a URL
];

describe("checkCallbackUrl: '*' admits public hosts only, in every encoding", () => {
  it("has a corpus of at least 40 URLs", () => expect(WILDCARD_CORPUS.length).toBeGreaterThanOrEqual(40));

  it.each(WILDCARD_CORPUS)("%s → allowed=%s", (url, allowed) => {
    const result = checkCallbackUrl(url, PUBLIC_HTTP);
    expect(result.ok, result.ok ? "" : result.reason).toBe(allowed);
  });
});

describe("checkCallbackUrl: scheme", () => {
  it("refuses http unless the topic allows it", () => {
    expect(checkCallbackUrl("http://hooks.example.com/", PUBLIC_ONLY)).toEqual({
      ok: false,
      reason: "scheme must be https",
    });
    expect(checkCallbackUrl("https://hooks.example.com/", PUBLIC_ONLY).ok).toBe(true);
  });

  it("returns the normalised URL to store", () => {
    const result = checkCallbackUrl("https://HOOKS.Example.com:443/a/../b", PUBLIC_ONLY);
    expect(result.ok && result.url.href).toBe("https://hooks.example.com/b");
  });
});

describe("checkCallbackUrl: port", () => {
  it.each([
    ["https://hooks.example.com:0/x", PUBLIC_ONLY],
    ["https://hooks.example.com:00/x", PUBLIC_ONLY],
    ["http://127.0.0.1:0/x", LOCAL],
    ["http://localhost:0/x", LOCAL],
  ])("refuses port 0, which no connection can reach (it would be retried to the DLQ): %s", (url, policy) => {
    expect(checkCallbackUrl(url, policy)).toEqual({
      ok: false,
      reason: "port 0 is not a port a callback can reach",
    });
  });

  it.each([
    ["https://mail.example.com:25/x", PUBLIC_ONLY, "25"],
    ["https://mail.example.com:0025/x", PUBLIC_ONLY, "25"],
    ["https://irc.example.com:6667/x", PUBLIC_ONLY, "6667"],
    ["https://sip.example.com:5060/x", PUBLIC_ONLY, "5060"],
    ["https://93.184.216.34:587/x", PUBLIC_ONLY, "587"],
    ["http://127.0.0.1:10080/x", LOCAL, "10080"],
    ["http://localhost:21/x", LOCAL, "21"],
  ])(
    "refuses the Fetch standard's bad ports, where a POST could be smuggled into another protocol: %s",
    (url, policy, port) => {
      expect(checkCallbackUrl(url, policy)).toEqual({
        ok: false,
        reason: `port ${port} is one the Fetch standard blocks (mail, FTP, IRC, SIP…): not a callback's`,
      });
    },
  );

  it.each([
    ["https://hooks.example.com:8443/x", PUBLIC_ONLY],
    ["https://hooks.example.com:443/x", PUBLIC_ONLY],
    ["https://hooks.example.com:1024/x", PUBLIC_ONLY],
    ["http://127.0.0.1:45678/x", LOCAL],
  ])("accepts any other port: %s", (url, policy) => {
    expect(checkCallbackUrl(url, policy)).toMatchObject({ ok: true });
  });
});

describe("checkCallbackUrl: host names DNS can hold", () => {
  // RFC 1035 §2.3.4: a label is at most 63 octets, a name at most 255 on the wire (253 characters written out).
  // WHATWG URL parses longer names; no resolver can look one up, and the deliver function keys a protected
  // topic's destination items by the host (DynamoDB: a sort key of at most 1,024 bytes).
  const label = (n: number, c = "a") => c.repeat(n);
  const longest = `${label(63)}.${label(63, "b")}.${label(63, "c")}.${label(49, "d")}.example.com`;

  it("accepts a 253-character name with 63-character labels, with or without the root dot", () => {
    expect(longest.length).toBe(253);
    expect(checkCallbackUrl(`https://${longest}/x`, PUBLIC_ONLY).ok).toBe(true);
    expect(checkCallbackUrl(`https://${longest}./x`, PUBLIC_ONLY).ok).toBe(true);
  });

  it.each([
    ["a name over 253 characters", `${label(63)}.${label(63)}.${label(63)}.${label(50)}.example.com`],
    [
      "a name far past DynamoDB's sort key",
      `${Array.from({ length: 24 }, () => label(63)).join(".")}.example.com`,
    ],
    ["a label over 63 characters", `${label(64)}.example.com`],
  ])("refuses %s: no resolver can look it up (it would be retried to the DLQ)", (_name, host) => {
    const result = checkCallbackUrl(`https://${host}/x`, PUBLIC_ONLY);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(
      /is not a valid host name: at most 253 characters, each dot-separated label at most 63$/,
    );
  });

  it.each(["https://hooks.example.com../x", "https://hooks.example.com..:8443/x", "https://1.2.3.4../x"])(
    "refuses %s: two root dots leave an empty label no resolver can look up",
    (url) => {
      // WHATWG URL keeps `hooks.example.com..` as written; only one trailing dot is the root's. Accepted, the task
      // could never be delivered, and a protected topic keyed it apart from hooks.example.com (its own circuit and
      // limits for the same receiver).
      const result = checkCallbackUrl(url, PUBLIC_ONLY);
      expect(result.ok).toBe(false);
      expect(!result.ok && result.reason).toMatch(/is not a valid host$/);
    },
  );

  it("also when the allow-list names the host exactly", () => {
    const host = `${label(64)}.example.com`;
    const policy: CallbackPolicy = { allowedCallbackHosts: [host], allowHttpCallbacks: false };
    expect(checkCallbackUrl(`https://${host}/x`, policy).ok).toBe(false);
  });
});

describe("checkCallbackUrl: explicit allow-list entries", () => {
  const policy: CallbackPolicy = {
    allowedCallbackHosts: [
      "hooks.example.com",
      "*.partner.example",
      "10.1.2.3",
      "[fd00::5]",
      "*.svc.internal",
    ],
    allowHttpCallbacks: false,
  };

  it.each([
    ["https://hooks.example.com/x", true],
    ["https://HOOKS.EXAMPLE.COM./x", true],
    ["https://other.example.com/x", false], // no '*'
    ["https://a.partner.example/x", true],
    ["https://a.b.partner.example/x", true],
    ["https://partner.example/x", false], // apex is not a subdomain
    ["https://evilpartner.example/x", false],
    ["https://10.1.2.3/x", true], // private, but named exactly
    ["https://10.1.2.4/x", false],
    ["https://167838211/x", true], // = 10.1.2.3
    ["https://[::ffff:10.1.2.3]/x", false], // another spelling the operator did not name
    ["https://[fd00::5]/x", true],
    ["https://[fd00:0::5]/x", true],
    // A wildcard admits public hosts only: a non-public name must be listed exactly (and resolve to a literal).
    ["https://billing.svc.internal/x", false],
    ["https://8.8.8.8/x", false],
  ])("%s → allowed=%s", (url, allowed) => {
    expect(checkCallbackUrl(url, policy).ok).toBe(allowed);
  });

  it("admits a non-public name only when an entry names it exactly", () => {
    const exact: CallbackPolicy = {
      allowedCallbackHosts: ["db.internal", "*.example.com"],
      allowHttpCallbacks: false,
    };
    expect(checkCallbackUrl("https://db.internal/x", exact).ok).toBe(true);
    expect(checkCallbackUrl("https://other.internal/x", exact).ok).toBe(false);
    const refused = checkCallbackUrl("https://api.localhost/x", {
      allowedCallbackHosts: ["*.localhost"],
      allowHttpCallbacks: false,
    });
    expect(refused).toEqual({
      ok: false,
      reason:
        'host "api.localhost" is not a public name; it must be named exactly in the topic\'s allowed callback hosts',
    });
  });

  it("does not let '*' admit a private address even next to explicit entries", () => {
    const policy2: CallbackPolicy = { allowedCallbackHosts: ["*", "10.0.0.1"], allowHttpCallbacks: false };
    expect(checkCallbackUrl("https://10.0.0.1/", policy2).ok).toBe(true);
    expect(checkCallbackUrl("https://10.0.0.2/", policy2).ok).toBe(false);
  });
});

describe("checkCallbackUrl: the local environment's allow-list", () => {
  it.each([
    ["http://127.0.0.1:4000/hook", true],
    ["http://localhost:4000/hook", true],
    ["http://[::1]:4000/hook", true],
    ["http://2130706433:4000/hook", true], // the same address as 127.0.0.1
    ["http://127.0.0.2:4000/hook", false], // loopback, but not named
    ["http://api.localhost:4000/hook", false],
    ["http://[::ffff:127.0.0.1]:4000/hook", false],
    ["http://10.0.0.1/", false],
    ["http://169.254.169.254/", false],
    ["https://hooks.example.com/", true],
  ])("%s → allowed=%s", (url, allowed) => {
    expect(checkCallbackUrl(url, LOCAL).ok).toBe(allowed);
  });
});

describe("isPublicAddress (for resolved addresses)", () => {
  it.each([
    ["8.8.8.8", true],
    ["1.1.1.1", true],
    ["2606:4700:4700::1111", true],
    ["::ffff:8.8.8.8", true],
    ["127.0.0.1", false],
    ["10.0.0.1", false],
    ["172.31.255.255", false],
    ["192.168.0.1", false],
    ["100.100.100.100", false],
    ["169.254.169.254", false],
    ["0.0.0.0", false],
    ["255.255.255.255", false],
    ["::1", false],
    ["::", false],
    ["fe80::1", false],
    ["fd00:ec2::254", false],
    ["::ffff:127.0.0.1", false],
    ["64:ff9b::a00:1", false],
    ["64:ff9b:1::1", false],
    ["2002:a00:1::", false],
    ["not-an-ip", false],
    ["0x7f.1", false], // resolvers never return this; refuse rather than interpret
  ])("%s → %s", (ip, expected) => {
    expect(isPublicAddress(ip)).toBe(expected);
  });

  // ipaddr.js reads `::a.b.c.d` as the IPv4-mapped `::ffff:a.b.c.d` (its "deprecated transitional" form), which
  // would judge it by the embedded, public 8.8.8.8; it is the IPv4-compatible 0::a.b.c.d (RFC 4291 §2.5.5.1,
  // deprecated, not routable), as every other spelling of it says
  it.each(["::8.8.8.8", "::808:808", "0:0:0:0:0:0:8.8.8.8", "::0:8.8.8.8", "0::8.8.8.8", "::1.2.3.4"])(
    "refuses an IPv4-compatible address (::/96) however it is spelled: %s",
    (ip) => {
      expect(isPublicAddress(ip)).toBe(false);
    },
  );
});

describe("resolvedAddressAllowed (delivery-time DNS check)", () => {
  it("admits public addresses under '*' and refuses rebinding to private ones", () => {
    expect(resolvedAddressAllowed("hooks.example.com", "93.184.216.34", PUBLIC_ONLY)).toBe(true);
    expect(resolvedAddressAllowed("hooks.example.com", "127.0.0.1", PUBLIC_ONLY)).toBe(false);
    expect(resolvedAddressAllowed("127.0.0.1.nip.io", "127.0.0.1", PUBLIC_ONLY)).toBe(false);
  });

  it("admits a non-public address only when the allow-list names it as an IP literal", () => {
    // The local environment lists 127.0.0.1 and [::1] beside `localhost`: loopback through the literals.
    expect(resolvedAddressAllowed("localhost", "127.0.0.1", LOCAL)).toBe(true);
    expect(resolvedAddressAllowed("localhost", "::1", LOCAL)).toBe(true);
    expect(resolvedAddressAllowed("localhost", "127.0.0.2", LOCAL)).toBe(false);
    const literal: CallbackPolicy = { allowedCallbackHosts: ["*", "10.0.0.7"], allowHttpCallbacks: false };
    expect(resolvedAddressAllowed("hooks.corp.example", "10.0.0.7", literal)).toBe(true);
    expect(resolvedAddressAllowed("hooks.corp.example", "10.0.0.8", literal)).toBe(false);
  });

  it.each([
    ["a name entry", "hooks.corp.example", "hooks.corp.example", "10.0.0.7"],
    ["a wildcard entry", "*.example.com", "hooks.example.com", "10.0.0.1"],
    ["a wildcard entry (metadata)", "*.example.com", "hooks.example.com", "169.254.169.254"],
    ["a wildcard entry (IPv6 metadata)", "*.example.com", "hooks.example.com", "fd00:ec2::254"],
    ["a wildcard entry (IPv4-mapped loopback)", "*.example.com", "hooks.example.com", "::ffff:127.0.0.1"],
    ["'*'", "*", "hooks.example.com", "192.168.1.1"],
    ["a non-public name entry", "localhost", "localhost", "127.0.0.1"],
  ])("%s never admits a non-public address (%s: %s → %s)", (_, entry, host, address) => {
    const policy: CallbackPolicy = { allowedCallbackHosts: [entry], allowHttpCallbacks: false };
    expect(resolvedAddressAllowed(host, address, policy)).toBe(false);
    expect(resolvedAddressAllowed(host, "93.184.216.34", policy)).toBe(true);
  });
});
