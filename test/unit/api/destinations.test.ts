import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { parseConfig } from "#shared/config/index.js";
import { API_FUNCTION_ENV, importWithEnv } from "../../support/function-env.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { NOW, silentLogger } from "./fakes.js";

/**
 * The destination handlers (list-destinations, reset-destination, issue 14) through their `createHandler` with
 * the memory store: the view of each topic's hosts, the manual close, and its 404 / 400.
 */
type Modules = {
  list: typeof import("#functions/list-destinations.js");
  reset: typeof import("#functions/reset-destination.js");
};
let fns: Modules;

beforeAll(async () => {
  fns = await importWithEnv(API_FUNCTION_ENV, async () => ({
    list: await import("#functions/list-destinations.js"),
    reset: await import("#functions/reset-destination.js"),
  }));
});

afterEach(() => vi.unstubAllEnvs());

const context = { getRemainingTimeInMillis: () => 10_000 } as unknown as Context;

function event(
  method: string,
  path: string,
  host?: string,
  query?: Record<string, string>,
): APIGatewayProxyEventV2 {
  return {
    version: "2.0",
    routeKey: host === undefined ? `${method} ${path}` : `${method} /v1/destinations/{host}/reset`,
    rawPath: path,
    rawQueryString: "",
    headers: {},
    ...(host !== undefined ? { pathParameters: { host } } : {}),
    ...(query ? { queryStringParameters: query } : {}),
    requestContext: {
      http: { method, path, protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "vitest" },
      requestId: "r-1",
      timeEpoch: NOW,
    },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

async function call(
  handler: (e: APIGatewayProxyEventV2, c: Context) => Promise<unknown>,
  e: APIGatewayProxyEventV2,
): Promise<{ statusCode: number; body: Record<string, unknown> }> {
  const out = (await handler(e, context)) as APIGatewayProxyStructuredResultV2;
  return { statusCode: out.statusCode ?? 0, body: JSON.parse(String(out.body)) };
}

/** The deployed topics the reset keys by: "demo" and "other" (records are seeded on both). */
const config = parseConfig({
  name: "test",
  system: { allowedCallbackHosts: ["*"] },
  topics: { demo: { deliverBy: "order_id" }, other: { maxConcurrencyPerHost: 3 } },
});

async function setup() {
  const store = new MemoryTaskStore();
  // a.example.com: open on demo; b.example.com:8443: one failure on demo and other, a lease in flight.
  await store.recordDestinationFailure("demo", "a.example.com", NOW - 5_000, "HTTP 503");
  await store.openCircuit("demo", "a.example.com", NOW - 5_000, NOW + 25_000);
  await store.recordDestinationFailure(
    "demo",
    "b.example.com:8443",
    NOW - 1_000,
    "network: connection refused (ECONNREFUSED)",
  );
  await store.recordDestinationFailure("other", "b.example.com:8443", NOW - 1_000, "HTTP 500");
  await store.acquireLease("other", "b.example.com:8443", 3, NOW, NOW + 10_000);
  const deps = { store, config, now: () => NOW, logger: silentLogger() };
  return { store, deps };
}

describe("GET /v1/destinations", () => {
  it("lists every topic's hosts, open circuits first, with state, failures, opened_at, next probe and leases", async () => {
    // Prepare
    const { deps } = await setup();

    // Act
    const { statusCode, body } = await call(fns.list.createHandler(deps), event("GET", "/v1/destinations"));

    // Assess
    expect(statusCode).toBe(200);
    expect(body.destinations).toEqual([
      {
        topic: "demo",
        host: "a.example.com",
        state: "open",
        failures: 1,
        opened_at: new Date(NOW - 5_000).toISOString(),
        next_probe_at: new Date(NOW + 25_000).toISOString(),
        last_error: "HTTP 503",
        last_failure_at: new Date(NOW - 5_000).toISOString(),
        in_flight: 0,
      },
      expect.objectContaining({
        topic: "demo",
        host: "b.example.com:8443",
        state: "closed",
        next_probe_at: null,
      }),
      expect.objectContaining({ topic: "other", host: "b.example.com:8443", failures: 1, in_flight: 1 }),
    ]);
  });
});

describe("GET /v1/destinations: one page", () => {
  it("says nothing of truncation, and gives no cursor, when every destination fits one page", async () => {
    const { deps } = await setup();
    const { body } = await call(fns.list.createHandler(deps), event("GET", "/v1/destinations"));
    expect(body.truncated).toBeUndefined();
    expect(body.next_cursor).toBeNull();
  });
});

/** A cursor made by hand: base64url of the JSON a page key is. */
const forged = (key: unknown) => Buffer.from(JSON.stringify(key), "utf8").toString("base64url");

/** GET /v1/destinations with the query as API Gateway hands it over (repeated keys comma-joined). */
function listEvent(rawQueryString: string): APIGatewayProxyEventV2 {
  const query: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  }
  return {
    ...event("GET", "/v1/destinations", undefined, rawQueryString === "" ? undefined : query),
    rawQueryString,
  };
}

type ListBody = {
  destinations: { topic: string; host: string; state: string }[];
  next_cursor: string | null;
  truncated?: true;
};

/** Every page from the first, following `next_cursor` (the query's other parameters on each page). */
async function allPages(deps: Parameters<typeof fns.list.createHandler>[0], query: string) {
  const pages: ListBody[] = [];
  let cursor: string | null = null;
  do {
    const q = [query, cursor === null ? "" : `cursor=${cursor}`].filter(Boolean).join("&");
    const { statusCode, body } = await call(fns.list.createHandler(deps), listEvent(q));
    expect(statusCode).toBe(200);
    pages.push(body as unknown as ListBody);
    cursor = (body as unknown as ListBody).next_cursor;
  } while (cursor !== null && pages.length < 1_000);
  return pages;
}

/** `hosts` closed destinations on "demo", every 10th of them open (and one half-open on "other"). */
async function manyHosts(hosts: number) {
  const { deps, store } = await setup();
  for (let i = 0; i < hosts; i++) {
    const host = `t-${String(i).padStart(5, "0")}.example.com`;
    store.destinations.items.set(`demo#${host}`, {
      topic: "demo",
      host,
      failures: i % 10 === 0 ? 5 : 0,
      circuit: i % 10 === 0 ? "open" : "closed",
      ...(i % 10 === 0 && { openedAtMs: NOW - 1_000, nextProbeAtMs: NOW + 30_000 }),
      leases: {},
    });
  }
  await store.recordDestinationFailure("other", "h.example.com", NOW - 60_000, "HTTP 503");
  await store.openCircuit("other", "h.example.com", NOW - 60_000, NOW - 30_000);
  store.destinations.reads.length = 0;
  return { deps, store };
}

describe("GET /v1/destinations: pages of a bounded cost, every destination reachable", () => {
  it("answers at most `limit` destinations a page (default 50), in topic and host order; following next_cursor reaches each exactly once", async () => {
    // Prepare: 253 hosts on demo (26 of them open), 3 of setup's, 1 half-open on other
    const { deps, store } = await manyHosts(253);

    // Act
    const pages = await allPages(deps, "");
    const small = await allPages(deps, "limit=7");

    // Assess: each page one bounded read; every item once, in key order, under both page sizes
    const every = [...store.destinations.items.values()].map((d) => `${d.topic}#${d.host}`).sort();
    for (const [seen, limit] of [
      [pages, 50],
      [small, 7],
    ] as const) {
      expect(seen.flatMap((p) => p.destinations.map((d) => `${d.topic}#${d.host}`))).toEqual(every);
      for (const page of seen) expect(page.destinations.length).toBeLessThanOrEqual(limit);
      expect(seen.at(-1)?.next_cursor).toBeNull();
    }
    expect(pages).toHaveLength(Math.ceil(every.length / 50));
    expect(store.destinations.reads.every((read) => read.startsWith("page:"))).toBe(true);
  });

  it("?state=open lists every open and half-open circuit (and only those) across its pages; ?state=closed the rest", async () => {
    // Prepare
    const { deps } = await manyHosts(253);

    // Act
    const open = (await allPages(deps, "state=open&limit=10")).flatMap((p) => p.destinations);
    const closed = (await allPages(deps, "state=closed&limit=100")).flatMap((p) => p.destinations);

    // Assess: 26 open on demo, demo's a.example.com from setup, other's half-open h.example.com
    expect(open).toHaveLength(28);
    expect(new Set(open.map((d) => d.state))).toEqual(new Set(["open", "half-open"]));
    expect(open).toContainEqual(expect.objectContaining({ topic: "other", state: "half-open" }));
    expect(closed).toHaveLength(253 - 26 + 2);
    expect(closed.every((d) => d.state === "closed")).toBe(true);
  });

  it("keeps `truncated: true` beside a next_cursor (what older clients read as 'more exist'); the last page has neither", async () => {
    // Prepare
    const { deps } = await setup();

    // Act
    const first = await call(fns.list.createHandler(deps), listEvent("limit=2"));
    const rest = await call(
      fns.list.createHandler(deps),
      listEvent(`limit=2&cursor=${(first.body as unknown as ListBody).next_cursor}`),
    );

    // Assess
    expect(first.body).toMatchObject({ truncated: true, next_cursor: expect.any(String) });
    expect(rest.body).toMatchObject({ next_cursor: null });
    expect(rest.body.truncated).toBeUndefined();
  });

  it("a page stays far within Lambda's 6 MB answer at its largest: 100 hosts of DNS's longest names, each with the longest error of escaped characters", async () => {
    // Prepare
    const { deps, store } = await setup();
    const name = (i: number) => `${"h".repeat(63)}.${"o".repeat(63)}.${"s".repeat(63)}.t-${i}.example.com`;
    for (let i = 0; i < 300; i++) {
      const host = `${name(i)}:65535`;
      store.destinations.items.set(`demo#${host}`, {
        topic: "demo",
        host,
        failures: 1,
        circuit: "closed",
        lastError: "\u0001😀".repeat(200).slice(0, 512),
        lastFailureAtMs: NOW,
        leases: {},
      });
    }

    // Act
    const out = (await fns.list.createHandler(deps)(
      listEvent("limit=100"),
      context,
    )) as APIGatewayProxyStructuredResultV2;

    // Assess
    expect(Buffer.byteLength(JSON.stringify(out))).toBeLessThan(1024 * 1024);
    expect((JSON.parse(String(out.body)) as ListBody).destinations).toHaveLength(100);
  });

  it.each([
    ["limit=0", "limit"],
    ["limit=-1", "limit"],
    ["limit=1e9", "limit"],
    ["limit=1000000000", "limit"],
    ["limit=1.0", "limit"],
    ["limit=", "limit"],
    ["limit=%201", "limit"],
    ["state=OPEN", "state"],
    ["state=half-open", "state"],
    ["state=", "state"],
    ["states=open", "states"],
    ["state=open&state=open", "state"],
    ["limit=5&limit=5", "limit"],
    ["cursor=", "cursor"],
    [`cursor=${"A".repeat(2049)}`, "cursor"],
    ["cursor=not%20base64", "cursor"],
    [`cursor=${forged({ pk: "destination", sk: "demo#a.example.com" }).slice(0, -3)}`, "cursor"],
    [`cursor=${forged({ pk: "destination", sk: "demo#a b.example.com", state: "all" })}`, "cursor"],
    [`cursor=${forged({ pk: "destination", sk: "Demo#a.example.com", state: "all" })}`, "cursor"],
    [`cursor=${forged({ pk: "destination", sk: `demo#${"a".repeat(2000)}`, state: "all" })}`, "cursor"],
    [`cursor=${forged({ pk: "destination", sk: "demo#a.example.com", state: "all", x: 1 })}`, "cursor"],
    [`cursor=${forged({ pk: "schedules#demo", sk: "demo.schedule.01JD3ZK4Q9V8X7W6T5S4R3P2N2" })}`, "cursor"],
    [`cursor=${forged({ pk: "demo#_", sk: "0001795435290100#01JD3ZK4Q9V8X7W6T5S4R3P2N2" })}`, "cursor"],
    [`cursor=${forged({ pk: "destination", sk: "demo#a.example.com", state: "open" })}`, "cursor"],
    [
      `state=closed&cursor=${forged({ pk: "destination", sk: "demo#a.example.com", state: "open" })}`,
      "cursor",
    ],
  ])("%s → a structured 400 naming %s; nothing is read", async (query, path) => {
    // Prepare
    const { deps, store } = await setup();
    store.destinations.reads.length = 0;

    // Act
    const { statusCode, body } = await call(fns.list.createHandler(deps), listEvent(query));

    // Assess
    expect(statusCode).toBe(400);
    expect(body).toMatchObject({ error: { code: "validation_failed" } });
    expect(JSON.stringify(body)).toContain(path);
    expect(body).not.toMatchObject({ error: { message: "this route takes no query parameters" } });
    expect(store.destinations.reads).toEqual([]);
  });

  it("a page ending at the longest key a destination can have (24-character topic, 253-character host, a port; an IPv6 literal) resumes from its cursor", async () => {
    // Prepare
    const { deps, store } = await setup();
    const topic = "t".repeat(24);
    const longest = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}:65535`;
    for (const host of [longest, "[2001:db8::1]:8443"]) {
      store.destinations.items.set(`${topic}#${host}`, {
        topic,
        host,
        failures: 0,
        circuit: "closed",
        leases: {},
      });
    }

    // Act
    const pages = await allPages(deps, "limit=1");

    // Assess
    const hosts = pages.flatMap((p) => p.destinations.map((d) => d.host));
    expect(hosts).toEqual(expect.arrayContaining([longest, "[2001:db8::1]:8443"]));
    expect(hosts).toHaveLength(store.destinations.items.size);
  });

  it("a cursor the list gave out resumes it; one given out for ?state=open resumes only ?state=open", async () => {
    // Prepare
    const { deps } = await manyHosts(40);
    const first = await call(fns.list.createHandler(deps), listEvent("state=open&limit=2"));
    const cursor = (first.body as unknown as ListBody).next_cursor;

    // Act
    const same = await call(fns.list.createHandler(deps), listEvent(`state=open&limit=2&cursor=${cursor}`));
    const other = await call(fns.list.createHandler(deps), listEvent(`limit=2&cursor=${cursor}`));

    // Assess
    expect(same.statusCode).toBe(200);
    expect((same.body as unknown as ListBody).destinations.every((d) => d.state !== "closed")).toBe(true);
    expect(other.statusCode).toBe(400);
  });
});

describe("POST /v1/destinations/{host}/reset", () => {
  it("closes the host's circuit on every topic", async () => {
    // Prepare
    const { deps, store } = await setup();

    // Act
    const { statusCode, body } = await call(
      fns.reset.createHandler(deps),
      event("POST", "/v1/destinations/A.example.com/reset", "A.example.com"),
    );

    // Assess
    expect(statusCode).toBe(200);
    expect(body).toMatchObject({
      host: "a.example.com",
      destinations: [{ topic: "demo", state: "closed", failures: 0, opened_at: null }],
    });
    expect(await store.getDestination("demo", "a.example.com")).toMatchObject({
      circuit: "closed",
      failures: 0,
    });
  });

  it("?topic= closes only that topic's circuit", async () => {
    // Prepare
    const { deps, store } = await setup();

    // Act
    const { body } = await call(
      fns.reset.createHandler(deps),
      event("POST", "/v1/destinations/b.example.com:8443/reset", "b.example.com:8443", { topic: "other" }),
    );

    // Assess
    expect(body.destinations).toEqual([expect.objectContaining({ topic: "other" })]);
    expect((await store.getDestination("demo", "b.example.com:8443"))?.failures).toBe(1);
    expect((await store.getDestination("other", "b.example.com:8443"))?.failures).toBe(0);
  });

  it.each([
    ["A.example.com.", "a.example.com"],
    ["b.example.com.:8443", "b.example.com:8443"],
  ])(
    "a fully qualified name (%s) names the same host as the deliver function keys it (%s)",
    async (raw, host) => {
      // Prepare
      const { deps, store } = await setup();

      // Act
      const { statusCode, body } = await call(
        fns.reset.createHandler(deps),
        event("POST", `/v1/destinations/${encodeURIComponent(raw)}/reset`, raw),
      );

      // Assess: docs/CALLBACKS.md's hosts drop a trailing dot; so does the reset
      expect(statusCode).toBe(200);
      expect(body).toMatchObject({ host });
      expect((await store.getDestination("demo", host))?.failures).toBe(0);
    },
  );

  it("a host with an underscore (a valid URL host the deliver function keys as it is) can be reset", async () => {
    // Prepare
    const { deps, store } = await setup();
    await store.recordDestinationFailure("demo", "my_hooks.example.com", NOW - 5_000, "HTTP 503");
    await store.openCircuit("demo", "my_hooks.example.com", NOW - 5_000, NOW + 25_000);

    // Act
    const { statusCode } = await call(
      fns.reset.createHandler(deps),
      event("POST", "/v1/destinations/my_hooks.example.com/reset", "my_hooks.example.com"),
    );

    // Assess
    expect(statusCode).toBe(200);
    expect(await store.getDestination("demo", "my_hooks.example.com")).toMatchObject({ circuit: "closed" });
  });

  it.each([
    // Characters a URL's host may hold (the callback URL policy accepts them), so the list can show them
    ["a$b~c!.example.com", "a$b~c!.example.com"],
    ["x&y'z(1)*+,;=.example.com:8443", "x&y'z(1)*+,;=.example.com:8443"],
    // An IPv4-mapped IPv6 host is keyed as its IPv4 address, as the list shows it
    ["[::ffff:1.2.3.4]", "1.2.3.4"],
    ["[::FFFF:102:304]:8443", "1.2.3.4:8443"],
    // So is a well-known NAT64 one (64:ff9b::/96): the deliver function keys its callbacks there
    ["[64:FF9B::1.2.3.4]:8443", "1.2.3.4:8443"],
    ["XN--Bcher-kva.example", "xn--bcher-kva.example"],
    ["[2001:DB8:0:0::1]:8443", "[2001:db8::1]:8443"],
  ])("%s resets the destination the list shows as %s", async (raw, host) => {
    // Prepare
    const { deps, store } = await setup();
    await store.recordDestinationFailure("demo", host, NOW - 5_000, "HTTP 503");
    await store.openCircuit("demo", host, NOW - 5_000, NOW + 25_000);
    const listed = await call(fns.list.createHandler(deps), event("GET", "/v1/destinations"));
    expect(listed.body.destinations).toContainEqual(expect.objectContaining({ host }));

    // Act
    const { statusCode, body } = await call(
      fns.reset.createHandler(deps),
      event("POST", `/v1/destinations/${encodeURIComponent(raw)}/reset`, raw),
    );

    // Assess
    expect(statusCode).toBe(200);
    expect(body).toMatchObject({ host });
    expect(await store.getDestination("demo", host)).toMatchObject({ circuit: "closed", failures: 0 });
  });

  it("a NAT64 host closes the circuit left open under its former key too (before it was its IPv4 address's)", async () => {
    // Prepare: an item written before 2026-12-05 under the NAT64 spelling is still listed so, and being open never
    // expires: naming it as the list shows it must still close it
    const { deps, store } = await setup();
    await store.recordDestinationFailure("demo", "[64:ff9b::102:304]", NOW - 5_000, "HTTP 503");
    await store.openCircuit("demo", "[64:ff9b::102:304]", NOW - 5_000, NOW + 25_000);
    store.destinations.reads.length = 0;

    // Act
    const { statusCode, body } = await call(
      fns.reset.createHandler(deps),
      event("POST", "/v1/destinations/%5B64%3Aff9b%3A%3A102%3A304%5D/reset", "[64:ff9b::102:304]"),
    );

    // Assess: the current key is read first, then the former one (no other host pays the second read)
    expect(statusCode).toBe(200);
    expect(body).toEqual({
      host: "1.2.3.4",
      destinations: [expect.objectContaining({ topic: "demo", host: "[64:ff9b::102:304]", state: "closed" })],
    });
    expect(store.destinations.reads.sort()).toEqual([
      "demo#1.2.3.4",
      "demo#[64:ff9b::102:304]",
      "other#1.2.3.4",
      "other#[64:ff9b::102:304]",
    ]);
    expect(await store.getDestination("demo", "[64:ff9b::102:304]")).toMatchObject({ circuit: "closed" });
  });

  it("reads one key per deployed topic, never the whole destination partition", async () => {
    // Prepare: destination items stay once written, so the partition grows with every host ever called; a reset
    // that reads it all is slow, costly and at some size a timeout.
    const { deps, store } = await setup();
    store.destinations.reads.length = 0;

    // Act
    const { statusCode, body } = await call(
      fns.reset.createHandler(deps),
      event("POST", "/v1/destinations/b.example.com:8443/reset", "b.example.com:8443"),
    );

    // Assess: the same answer as ever (topics in key order), from two GetItems
    expect(statusCode).toBe(200);
    expect(body).toEqual({
      host: "b.example.com:8443",
      destinations: [
        expect.objectContaining({ topic: "demo", state: "closed", failures: 0, in_flight: 0 }),
        expect.objectContaining({ topic: "other", state: "closed", failures: 0, in_flight: 1 }),
      ],
    });
    expect(store.destinations.reads.sort()).toEqual(["demo#b.example.com:8443", "other#b.example.com:8443"]);
  });

  it("?topic= reads that topic's key only", async () => {
    // Prepare
    const { deps, store } = await setup();
    store.destinations.reads.length = 0;

    // Act
    const { statusCode } = await call(
      fns.reset.createHandler(deps),
      event("POST", "/v1/destinations/a.example.com/reset", "a.example.com", { topic: "demo" }),
    );

    // Assess
    expect(statusCode).toBe(200);
    expect(store.destinations.reads).toEqual(["demo#a.example.com"]);
  });

  it("?topic= naming a removed topic closes the circuit it left open (so its entry can expire), reading that one key", async () => {
    // Prepare: a circuit left open when "gone" was removed from the config: an open circuit never expires, so
    // without this its entry would stay listed forever
    const { deps, store } = await setup();
    await store.recordDestinationFailure("gone", "a.example.com", NOW - 5_000, "HTTP 503");
    await store.openCircuit("gone", "a.example.com", NOW - 5_000, NOW + 25_000);
    store.destinations.reads.length = 0;

    // Act
    const { statusCode, body } = await call(
      fns.reset.createHandler(deps),
      event("POST", "/v1/destinations/a.example.com/reset", "a.example.com", { topic: "gone" }),
    );

    // Assess
    expect(statusCode).toBe(200);
    expect(body.destinations).toEqual([
      expect.objectContaining({ topic: "gone", host: "a.example.com", state: "closed", failures: 0 }),
    ]);
    expect(store.destinations.reads).toEqual(["gone#a.example.com"]);
    expect(await store.getDestination("gone", "a.example.com")).toMatchObject({ circuit: "closed" });
    expect(await store.getDestination("demo", "a.example.com")).toMatchObject({ circuit: "open" });
  });

  it.each([
    ["a topic that is not deployed and has no entry for the host", "gone"],
    ["a name no topic can have", "Gone#x"],
  ])("?topic= naming %s → 404 saying it is not deployed; nothing changed", async (_name, topic) => {
    // Prepare
    const { deps, store } = await setup();

    // Act
    const { statusCode, body } = await call(
      fns.reset.createHandler(deps),
      event("POST", "/v1/destinations/a.example.com/reset", "a.example.com", { topic }),
    );

    // Assess
    expect(statusCode).toBe(404);
    expect(body).toMatchObject({
      error: { code: "not_found", message: expect.stringContaining(`"${topic}" is not deployed`) },
    });
    expect(await store.getDestination("demo", "a.example.com")).toMatchObject({ circuit: "open" });
  });

  it("a reset of every topic closes the deployed topics' circuits; a removed topic's record is not one of them", async () => {
    // Prepare: a removed topic has no deliveries left for its circuit to hold back
    const { deps, store } = await setup();
    await store.recordDestinationFailure("gone", "a.example.com", NOW - 5_000, "HTTP 503");
    await store.recordDestinationFailure("gone", "d.example.com", NOW - 5_000, "HTTP 503");

    // Act
    const both = await call(
      fns.reset.createHandler(deps),
      event("POST", "/v1/destinations/a.example.com/reset", "a.example.com"),
    );
    const goneOnly = await call(
      fns.reset.createHandler(deps),
      event("POST", "/v1/destinations/d.example.com/reset", "d.example.com"),
    );

    // Assess
    expect(both.statusCode).toBe(200);
    expect(both.body.destinations).toEqual([expect.objectContaining({ topic: "demo", state: "closed" })]);
    expect((await store.getDestination("gone", "a.example.com"))?.failures).toBe(1);
    expect(goneOnly).toMatchObject({ statusCode: 404, body: { error: { code: "not_found" } } });
    expect((await store.getDestination("gone", "d.example.com"))?.failures).toBe(1);
  });

  it("an entry that expires between its read and its close is not listed as closed: it is none (404 when it was the only one)", async () => {
    // Prepare: b.example.com:8443's closed entries, read before they expire (the reads' clock is not set) and
    // closed at the instant demo's expires (idle since NOW - 1 s); other's, used at NOW, lives a second longer.
    const { deps, store } = await setup();
    const demoExpiry = store.destinations.expiries.get("demo#b.example.com:8443") ?? 0;
    const atExpiry = { ...deps, now: () => demoExpiry * 1000 };

    // Act
    const both = await call(
      fns.reset.createHandler(atExpiry),
      event("POST", "/v1/destinations/b.example.com:8443/reset", "b.example.com:8443"),
    );
    const demoOnly = await call(
      fns.reset.createHandler(atExpiry),
      event("POST", "/v1/destinations/b.example.com:8443/reset", "b.example.com:8443", { topic: "demo" }),
    );

    // Assess: an expired entry is a host never met (docs/CALLBACKS.md "Protecting receivers")
    expect(both.statusCode).toBe(200);
    expect(both.body.destinations).toEqual([expect.objectContaining({ topic: "other", state: "closed" })]);
    expect(demoOnly).toMatchObject({ statusCode: 404, body: { error: { code: "not_found" } } });
  });

  it.each([
    ["a host no topic has met", "c.example.com", undefined, 404],
    ["a deployed topic with no record of the host", "a.example.com", { topic: "other" }, 404],
    ["credentials before the host", "user@a.example.com", undefined, 404],
    ["a path after the host", "a.example.com/x", undefined, 404],
    ["two ports", "a.example.com:8443:1", undefined, 404],
    ["a port past 65535", "a.example.com:99999", undefined, 404],
    ["a percent-encoded host", "a%2Eexample.com", undefined, 404],
    ["a malformed host", "a b/c", undefined, 404],
    ["an unknown query parameter", "a.example.com", { topics: "demo" }, 400],
    // As every route checks its query before its path (the other routes' query guard runs before the handler)
    ["an unknown query parameter beside a malformed host", "a b/c", { unknown: "1" }, 400],
    ["an unknown query parameter beside a host no topic has met", "c.example.com", { unknown: "1" }, 400],
  ])("%s (%s, query %o) → %i, nothing changed", async (_name, host, query, status) => {
    // Prepare
    const { deps, store } = await setup();

    // Act
    const { statusCode, body } = await call(
      fns.reset.createHandler(deps),
      event("POST", `/v1/destinations/${encodeURIComponent(host)}/reset`, host, query),
    );

    // Assess
    expect(statusCode).toBe(status);
    expect(body).toHaveProperty("error");
    expect(await store.getDestination("demo", "a.example.com")).toMatchObject({ circuit: "open" });
  });
});
