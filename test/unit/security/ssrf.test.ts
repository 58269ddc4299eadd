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
    ["https://billing.svc.internal/x", true], // non-public name under an explicit wildcard
    ["https://8.8.8.8/x", false],
  ])("%s → allowed=%s", (url, allowed) => {
    expect(checkCallbackUrl(url, policy).ok).toBe(allowed);
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
});

describe("resolvedAddressAllowed (delivery-time DNS check)", () => {
  it("admits public addresses under '*' and refuses rebinding to private ones", () => {
    expect(resolvedAddressAllowed("hooks.example.com", "93.184.216.34", PUBLIC_ONLY)).toBe(true);
    expect(resolvedAddressAllowed("hooks.example.com", "127.0.0.1", PUBLIC_ONLY)).toBe(false);
    expect(resolvedAddressAllowed("127.0.0.1.nip.io", "127.0.0.1", PUBLIC_ONLY)).toBe(false);
  });

  it("admits a private address when the host or the address is named explicitly", () => {
    expect(resolvedAddressAllowed("localhost", "127.0.0.1", LOCAL)).toBe(true);
    expect(resolvedAddressAllowed("localhost", "::1", LOCAL)).toBe(true);
    const policy: CallbackPolicy = {
      allowedCallbackHosts: ["*", "hooks.corp.example"],
      allowHttpCallbacks: false,
    };
    expect(resolvedAddressAllowed("hooks.corp.example", "10.0.0.7", policy)).toBe(true);
    expect(resolvedAddressAllowed("other.corp.example", "10.0.0.7", policy)).toBe(false);
  });
});
