import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  circuitGate,
  circuitState,
  type DestinationRecord,
  destinationHost,
  destinationHostOf,
  hostFailed,
  parseRetryAfter,
  rateWindow,
  waitSeconds,
} from "#shared/domain/destination.js";
import { T0 } from "../../support/factories.js";
import { propertyRuns } from "../../support/fast-check-runs.js";

const open = (over: Partial<DestinationRecord> = {}): DestinationRecord => ({
  topic: "demo",
  host: "a.example.com",
  failures: 3,
  circuit: "open",
  openedAtMs: T0,
  nextProbeAtMs: T0 + 30_000,
  ...over,
});

describe("destinationHost", () => {
  it.each([
    ["https://Hooks.Example.com/x?y=1", "hooks.example.com"],
    ["http://127.0.0.1:4000/ok", "127.0.0.1:4000"],
    ["https://[::1]:8443/", "[::1]:8443"],
    ["https://example.com:443/", "example.com"],
    // The fully qualified spelling is the same host: one destination, so a trailing dot cannot double its limits
    ["https://Hooks.Example.com./x", "hooks.example.com"],
    ["https://hooks.example.com.:8443/x", "hooks.example.com:8443"],
    ["not a url", undefined],
  ])("%s → %s", (url, host) => {
    expect(destinationHost(url)).toBe(host);
  });

  it.each([
    ["http://[::ffff:1.2.3.4]/x", "1.2.3.4"],
    ["http://[0:0:0:0:0:FFFF:0102:0304]:8080/x", "1.2.3.4:8080"],
    ["https://[::ffff:7f00:1]:4000/ok", "127.0.0.1:4000"],
  ])("an IPv4-mapped IPv6 address is its IPv4 address (packets go there): %s → %s", (url, host) => {
    // Else one receiver spelled both ways would get twice its rate and concurrency limits and two circuits.
    expect(destinationHost(url)).toBe(host);
  });

  it.each([
    ["http://[64:ff9b::102:304]/x", "1.2.3.4"],
    ["https://[64:FF9B:0:0:0:0:1.2.3.4]:8443/x", "1.2.3.4:8443"],
    ["https://[64:ff9b::7f00:1]:4000/ok", "127.0.0.1:4000"],
  ])(
    "a well-known NAT64 address (64:ff9b::/96) is its IPv4 address (the translator sends it there): %s → %s",
    (url, host) => {
      // It was keyed apart: a caller spelling one receiver both ways got two circuits and two concurrency budgets.
      expect(destinationHost(url)).toBe(host);
    },
  );

  it("other IPv6 addresses keep their (canonical) spelling: none is one IPv4 host a caller may pick", () => {
    // IPv4-compatible and IPv4-translated forms are not public (only an allow-list entry naming that literal
    // admits them); a local-use NAT64 /48 embeds as its network chooses; a 6to4 /48 is a site of many receivers
    // behind one IPv4 router, which keyed together would share one circuit.
    expect(destinationHost("http://[::1.2.3.4]/x")).toBe("[::102:304]");
    expect(destinationHost("http://[::ffff:0:102:304]/x")).toBe("[::ffff:0:102:304]");
    expect(destinationHost("http://[64:ff9b:1::102:304]/x")).toBe("[64:ff9b:1::102:304]");
    expect(destinationHost("http://[64:ff9b:0:0:1::102:304]/x")).toBe("[64:ff9b::1:0:102:304]");
    expect(destinationHost("http://[2002:102:304::1]/x")).toBe("[2002:102:304::1]");
    expect(destinationHost("http://[2002:102:304::2]/x")).toBe("[2002:102:304::2]");
  });

  it("is none for a host DNS cannot hold: the deliver's URL policy refuses it, no admission call is keyed by it", () => {
    // Its item's sort key would pass DynamoDB's 1,024 bytes, and every admission call would fail without end.
    const labels = (n: number) => Array.from({ length: n }, () => "a".repeat(63)).join(".");
    expect(destinationHost(`https://${"a".repeat(64)}.example.com/x`)).toBeUndefined();
    expect(destinationHost(`https://${labels(20)}.example.com/x`)).toBeUndefined();
    expect(destinationHost(`https://${labels(3)}.example.com:8443/x`)).toBe(`${labels(3)}.example.com:8443`);
  });

  it("is none for a host ending in two dots (an empty label): never a destination apart from the host's own", () => {
    // `hooks.example.com..` was keyed `hooks.example.com.`: a circuit and limits of its own for the same receiver.
    expect(destinationHost("https://hooks.example.com../x")).toBeUndefined();
    expect(destinationHost("https://hooks.example.com..:8443/x")).toBeUndefined();
  });
});

describe("destinationHostOf (a host as GET /v1/destinations shows it, or as its callback URL spells it)", () => {
  // Hosts as a callback URL may write them: any character WHATWG URL keeps in a host, IP literals, IDNs, ports.
  const label = fc.stringMatching(/^[a-zA-Z0-9!$&'()*+,;=_~`{}"-]{1,20}$/);
  const callbackHost = fc.oneof(
    fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join(".")),
    fc.constantFrom(
      "[::1]",
      "[::ffff:1.2.3.4]",
      "[64:ff9b::1.2.3.4]",
      "[2002:102:304::1]",
      "[2001:DB8:0:0::1]",
      "0x7f.1",
      "Bücher.example",
      "a.example.",
    ),
  );
  const callbackUrl = fc
    .tuple(fc.constantFrom("http", "https"), callbackHost, fc.option(fc.integer({ min: 1, max: 65_535 })))
    .map(([scheme, host, port]) => `${scheme}://${host}${port === null ? "" : `:${port}`}/hook`);

  it("names, for every host the list can show, that very destination", () => {
    fc.assert(
      fc.property(callbackUrl, (url) => {
        const host = destinationHost(url);
        fc.pre(host !== undefined);
        expect(destinationHostOf(host as string)).toBe(host);
      }),
      propertyRuns(2_000),
    );
  });

  it.each([
    ["Hooks.Example.com.:8443", "hooks.example.com:8443"],
    ["[::ffff:1.2.3.4]", "1.2.3.4"],
    ["[::FFFF:102:304]:08443", "1.2.3.4:8443"],
    ["[64:ff9b::1.2.3.4]:8443", "1.2.3.4:8443"],
    ["xn--bcher-kva.example", "xn--bcher-kva.example"],
    ["a.example.com:443", "a.example.com:443"],
  ])("normalises %s as the destination key does: %s", (spelling, host) => {
    expect(destinationHostOf(spelling)).toBe(host);
  });

  it.each([
    "",
    ":8443",
    "user@a.example.com",
    "@a.example.com",
    "a.example.com/x",
    "a.example.com?x",
    "a.example.com#x",
    "a\\b.example.com",
    "a%2Eexample.com",
    " a.example.com",
    // Not ASCII: no host the list shows is written so (an IDN is listed in its xn-- form), and the URL parser's
    // mapping would read a near miss (a zero-width space, full-width letters) as the host
    "bücher.example",
    "hooks.\u200bexample.com",
    "ｈｏｏｋｓ.example.com",
    "a.example.com\t",
    "a.example.com:",
    "a.example.com:8443:1",
    "a.example.com:65536",
    "[::1",
    "[zz::1]",
    `${"a".repeat(64)}.example.com`,
  ])("is none for %j, which no callback URL's destination is written as", (spelling) => {
    expect(destinationHostOf(spelling)).toBeUndefined();
  });
});

describe("circuit", () => {
  it("closed (no item, or closed) passes; open waits until its probe time; then one may probe", () => {
    expect(circuitGate(undefined, T0)).toEqual({ kind: "pass" });
    expect(circuitGate(open({ circuit: "closed" }), T0)).toEqual({ kind: "pass" });
    expect(circuitGate(open(), T0 + 10_000)).toEqual({ kind: "wait", ms: 20_000 });
    expect(circuitGate(open(), T0 + 30_000)).toEqual({ kind: "probe" });
    expect(circuitGate(open({ probeUntilMs: T0 + 37_000 }), T0 + 31_000)).toEqual({
      kind: "wait",
      ms: 6_000,
    });
    expect(circuitGate(open({ probeUntilMs: T0 + 37_000 }), T0 + 37_000)).toEqual({ kind: "probe" });
  });

  it("shows half-open once the cool-down is over", () => {
    expect(circuitState(open(), T0 + 29_999)).toBe("open");
    expect(circuitState(open(), T0 + 30_000)).toBe("half-open");
    expect(circuitState(undefined, T0)).toBe("closed");
  });

  it.each([
    [{ ok: true, status: 200 }, false],
    [{ ok: false, status: 400 }, false],
    [{ ok: false, status: 404 }, false],
    [{ ok: false, status: 429 }, true],
    [{ ok: false, status: 500 }, true],
    [{ ok: false, status: 503 }, true],
    [{ ok: false }, true],
    // An informational status as the final answer (a 101 nobody negotiated, a 1xx, junk below 100): no answer.
    [{ ok: false, status: 100 }, true],
    [{ ok: false, status: 101 }, true],
    [{ ok: false, status: 199 }, true],
    [{ ok: false, status: 0 }, true],
    [{ ok: false, refused: true }, undefined],
  ])("%j: host failed = %s", (result, failed) => {
    expect(hostFailed(result)).toBe(failed);
  });
});

describe("rate windows", () => {
  it("a token belongs to its whole second, none is handed out in the second's last 250 ms", () => {
    expect(rateWindow(T0)).toBe(T0 / 1000);
    expect(rateWindow(T0 + 749)).toBe(T0 / 1000);
    expect(rateWindow(T0 + 750)).toBeUndefined();
    expect(rateWindow(T0 + 999)).toBeUndefined();
  });

  it("waits are whole seconds, at least one", () => {
    expect([waitSeconds(0), waitSeconds(1), waitSeconds(1_000), waitSeconds(1_001)]).toEqual([1, 1, 1, 2]);
  });
});

describe("parseRetryAfter", () => {
  it.each([
    ["120", 120],
    [" 5 ", 5],
    ["0", 0],
    [new Date(T0 + 90_000).toUTCString(), 90],
    [new Date(T0 - 90_000).toUTCString(), 0],
    ["Sunday, 06-Nov-94 08:49:37 GMT", 0],
    ["-5", undefined],
    ["1.5", undefined],
    ["2026-11-23T12:00:00Z", undefined],
    ["soon", undefined],
    [undefined, undefined],
  ])("%s → %s s", (value, seconds) => {
    expect(parseRetryAfter(value, T0)).toBe(seconds);
  });

  it.each([
    // The three HTTP-date forms RFC 9110 §5.6.7 has recipients accept, all GMT
    ["IMF-fixdate", new Date(T0 + 90_000).toUTCString(), 90],
    ["RFC 850 (two-digit year)", rfc850(T0 + 90_000), 90],
    ["asctime", asctime(T0 + 90_000), 90],
  ])("an HTTP-date in the %s form is read: %s → %s s", (_, value, seconds) => {
    expect(parseRetryAfter(value, T0)).toBe(seconds);
  });

  it.each([
    // V8's Date.parse reads each of these as a date in the past (2001-01-01, 2001-10-01, the year 120…): read as
    // "retry now", a receiver's unreadable answer would have its task retried at once instead of after the backoff.
    "Mon 1",
    "Tomorrow 10",
    "Retry in 120",
    "abc 2026",
    "Dec 25",
    "Wed, 21 Oct 2026",
    // not GMT, or not a date at all
    new Date(T0 + 90_000).toUTCString().replace("GMT", "PST"),
    `${new Date(T0 + 90_000).toUTCString()}+0100`,
    "Mon, 31 Feb 2026 07:28:00 GMT",
    "Mon, 01 Jan 2026 24:00:00 GMT",
    "Mon, 01 Foo 2026 07:28:00 GMT",
  ])("an unreadable value falls back to the backoff: %s", (value) => {
    expect(parseRetryAfter(value, T0)).toBeUndefined();
  });
});

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/** `Sunday, 06-Nov-94 08:49:37 GMT` */
function rfc850(ms: number): string {
  const [, day = "", month = "", year = "", time = ""] = new Date(ms).toUTCString().split(" ");
  return `${DAYS[new Date(ms).getUTCDay()]}, ${day}-${month}-${year.slice(2)} ${time} GMT`;
}

/** `Sun Nov  6 08:49:37 1994` */
function asctime(ms: number): string {
  const [weekday = "", day = "", month = "", year = "", time = ""] = new Date(ms).toUTCString().split(" ");
  return `${weekday.slice(0, 3)} ${month} ${String(Number(day)).padStart(2, " ")} ${time} ${year}`;
}
