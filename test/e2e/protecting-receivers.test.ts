import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as z from "zod";
import { destinationListSchema, destinationViewSchema } from "#shared/api/schemas/destinations.js";
import { type MeteringReceiver, startMeteringReceiver } from "../support/metering-receiver.js";
import { e2eTarget, type Harness, startHarness } from "./support/harness.js";
import { runPunctual } from "./support/punctual-cli.js";

/**
 * Protecting receivers (issue 14) through the local cloud: the real deliver functions, the destination items in
 * dynalite, fauxqs's visibility, and receivers on 127.0.0.1 that meter what they see.
 *
 * - `limited`: at most 2 callbacks in flight and 4 started per second to one host (every task its own group, so
 *   nothing but the limits holds them back).
 * - `breaker`: the circuit opens after 2 consecutive failures and probes after a 1 s cool-down. "A receiver down
 *   for a minute" is scaled down: down until it has refused several probes (a few seconds), then back.
 * - `demo` (Retry-After cap 3,600 s by default) for a receiver answering 429 with Retry-After.
 *
 * Local cloud only: a stack in LocalStack runs its functions in containers that cannot reach these receivers.
 */
const local = e2eTarget() === "local";
let h: Harness;
let limited: MeteringReceiver;
let flaky: MeteringReceiver;
let polite: MeteringReceiver;

const RATE = 4;
const CONCURRENCY = 2;

beforeAll(async () => {
  if (!local) return;
  h = await startHarness({
    configOverrides: {
      topics: {
        limited: { rateLimit: RATE, maxConcurrencyPerHost: CONCURRENCY },
        breaker: {
          deliverBy: "order_id",
          maxAttempts: 3,
          backoff: { initialSeconds: 1, maxSeconds: 1, multiplier: 1, jitter: "none" },
          circuitFailureThreshold: 2,
          circuitCooldownSeconds: 1,
        },
      },
    },
  });
  [limited, flaky, polite] = await Promise.all([
    startMeteringReceiver(),
    startMeteringReceiver(),
    startMeteringReceiver(),
  ]);
});

afterAll(async () => {
  await Promise.all([limited?.stop(), flaky?.stop(), polite?.stop()]);
  await h?.stop();
});

const cliApi = () => ["--api", h.cloud.apiUrl];

async function addTask(topic: string, url: string, content: Record<string, unknown> = {}) {
  const response = await h.api("POST", "/v1/tasks", { topic, delay_seconds: 0, content, callback: { url } });
  expect(response.status, response.text).toBe(201);
  return (response.json as { task_id: string }).task_id;
}

async function taskView(taskId: string) {
  const { json } = await h.api("GET", `/v1/tasks/${encodeURIComponent(taskId)}`);
  return json as { status: string; attempts: number };
}

type Listed = { topic: string; host: string; state: string; opened_at: unknown };

/** Every page of GET /v1/destinations?<query>, following next_cursor; each page's size too. */
async function listAll(query: string): Promise<{ destinations: Listed[]; pageSizes: number[] }> {
  const destinations: Listed[] = [];
  const pageSizes: number[] = [];
  let cursor: string | null = null;
  do {
    const q = [query, cursor === null ? "" : `cursor=${cursor}`].filter(Boolean).join("&");
    const response = await h.api("GET", `/v1/destinations?${q}`);
    expect(response.status, response.text).toBe(200);
    const page = destinationListSchema.parse(response.json);
    destinations.push(...(page.destinations as Listed[]));
    pageSizes.push(page.destinations.length);
    cursor = page.next_cursor;
  } while (cursor !== null && pageSizes.length < 1_000);
  return { destinations, pageSizes };
}

/** Polls GET /v1/destinations until the host's entry on `topic` matches (a correctness bound, not a speed target). */
async function waitForDestination(topic: string, host: string, states: readonly string[]) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const json = await listAll("limit=100");
    const entry = json.destinations.find((d) => d.topic === topic && d.host === host);
    if (entry && states.includes(entry.state)) return entry;
    if (Date.now() > deadline)
      throw new Error(`${host} on ${topic} never ${states}: ${JSON.stringify(json)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.runIf(local)("per-destination limits", () => {
  it("never more than maxConcurrencyPerHost in flight nor rateLimit started per second; waits use no attempt", async () => {
    // Prepare
    const url = `${limited.url}/hold/300/${randomUUID()}`;

    // Act
    const ids = await Promise.all(Array.from({ length: 16 }, () => addTask("limited", url)));
    const delivered = await Promise.all(ids.map((id) => h.waitForStatus(id, ["delivered"], 60_000)));

    // Assess
    expect(limited.peakInFlight()).toBeLessThanOrEqual(CONCURRENCY);
    expect(Math.max(...limited.perSignedSecond().values())).toBeLessThanOrEqual(RATE);
    expect(delivered.map((t) => t.attempts)).toEqual(ids.map(() => 1));
    expect(limited.requests.map((r) => r.taskId).sort()).toEqual([...ids].sort());
  });
});

describe.runIf(local)("Retry-After", () => {
  it("a 429 with Retry-After: 2 postpones the group: the next attempt comes no earlier than 2 s later", async () => {
    // Prepare
    const url = `${polite.url}/retry-after/2/${randomUUID()}`;

    // Act
    const id = await addTask("demo", url, { order_id: `o-${randomUUID()}` });
    const delivered = await h.waitForStatus(id, ["delivered"], 30_000);

    // Assess
    const [first, second] = polite.requests.filter((r) => r.taskId === id);
    expect(first?.status).toBe(429);
    expect(second?.status).toBe(200);
    expect((second?.arrivedAtMs ?? 0) - (first?.arrivedAtMs ?? 0)).toBeGreaterThanOrEqual(2_000);
    expect(delivered).toMatchObject({ status: "delivered", attempts: 2 });
  });
});

describe.runIf(local)("circuit breaker", () => {
  it("a host that is down opens its circuit: its tasks wait without attempts, other hosts go on, all delivered in order after", async () => {
    // Prepare: the flaky host is down; one group of three and one of one to it, one task to another host
    flaky.setDown(true);
    const group = `g-${randomUUID()}`;
    const url = `${flaky.url}/${randomUUID()}`;
    const a1 = await addTask("breaker", url, { order_id: group, seq: 1 });
    const a2 = await addTask("breaker", url, { order_id: group, seq: 2 });
    const a3 = await addTask("breaker", url, { order_id: group, seq: 3 });
    const b1 = await addTask("breaker", url, { order_id: `g-${randomUUID()}` });
    const elsewhere = await addTask("breaker", `${h.receiver.url}/ok/${randomUUID()}`, {
      order_id: `g-${randomUUID()}`,
    });
    const mine = [a1, a2, a3, b1];

    // A counted attempt has a new attempt number; a refused probe gives its number back, so the next request
    // repeats it: a task's free requests are its requests less the distinct numbers they carried.
    const freeRequests = (requests: readonly (typeof flaky.requests)[number][]) =>
      mine.reduce((sum, id) => {
        const its = requests.filter((r) => r.taskId === id);
        return sum + its.length - new Set(its.map((r) => r.punctualAttempt)).size;
      }, 0);

    // Act 1: the circuit opens; "down for a minute", scaled: four probes refused (1 s cool-down each). Counted by
    // what they cost, not by arrival after the opening: an attempt sent just before the circuit opened can arrive
    // after it on a loaded machine, and it is a counted attempt, not a probe.
    await waitForDestination("breaker", flaky.host, ["open", "half-open"]);
    await flaky.waitFor((all) => freeRequests(all) >= 4);
    const statusesDown = await Promise.all(mine.map(async (id) => (await taskView(id)).status));
    const otherHost = await h.waitForStatus(elsewhere, ["delivered"], 30_000);

    // Act 2: the host recovers
    flaky.setDown(false);
    const delivered = await Promise.all(mine.map((id) => h.waitForStatus(id, ["delivered"], 60_000)));
    const closed = await waitForDestination("breaker", flaky.host, ["closed"]);
    const { json: failed } = await h.api("GET", "/v1/tasks?topic=breaker&status=failed");

    // Assess: a counted attempt has a new attempt number; a refused probe gave its number back, so the next
    // request repeats it. Each task's attempts = the distinct numbers its requests carried; the refused probes
    // (at least four, over two tasks, with maxAttempts 3) cost nothing and nothing was dead-lettered.
    const requestsOf = (id: string) => flaky.requests.filter((r) => r.taskId === id);
    const distinctAttempts = (id: string) => new Set(requestsOf(id).map((r) => r.punctualAttempt)).size;
    expect(delivered.map((t) => t.attempts)).toEqual(mine.map(distinctAttempts));
    expect(freeRequests(flaky.requests)).toBeGreaterThanOrEqual(4);
    expect(statusesDown.every((s) => s !== "failed")).toBe(true);
    expect(failed.tasks).toEqual([]);
    expect(otherHost).toMatchObject({ status: "delivered", attempts: 1 });
    expect(closed).toMatchObject({ state: "closed", failures: 0 });
    const okOrder = flaky.requests.filter((r) => r.status === 200).map((r) => r.taskId);
    expect(okOrder.filter((id) => id !== b1)).toEqual([a1, a2, a3]);
    expect(okOrder.filter((id) => id === b1)).toHaveLength(1);
  });

  it("POST /v1/destinations/{host}/reset and `punctual destinations list|reset` close an open circuit by hand", async () => {
    // Prepare: a host that fails twice opens its circuit
    const down = await startMeteringReceiver();
    down.setDown(true);
    try {
      const url = `${down.url}/${randomUUID()}`;
      await addTask("breaker", url, { order_id: `g-${randomUUID()}` });
      await addTask("breaker", url, { order_id: `g-${randomUUID()}` });
      await waitForDestination("breaker", down.host, ["open", "half-open"]);

      // Act
      const table = await runPunctual([...cliApi(), "destinations", "list"]);
      const listed = await runPunctual([...cliApi(), "--json", "destinations", "list"]);
      const cliReset = await runPunctual([
        ...cliApi(),
        "--json",
        "destinations",
        "reset",
        down.host,
        "--topic",
        "breaker",
      ]);
      const reset = await h.api("POST", `/v1/destinations/${encodeURIComponent(down.host)}/reset`);
      const unknown = await h.api("POST", "/v1/destinations/nowhere.invalid/reset");
      const cliUnknown = await runPunctual([...cliApi(), "destinations", "reset", "nowhere.invalid"]);

      // Assess
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/topic\s*│\s*host\s*│\s*state/);
      expect(listed.code, listed.stderr).toBe(0);
      const entry = z
        .object({ destinations: z.array(destinationViewSchema) })
        .parse(JSON.parse(listed.stdout))
        .destinations.find((d) => d.host === down.host);
      // at least the two that opened it (each probe refused since adds one)
      expect(entry?.topic).toBe("breaker");
      expect(entry?.failures).toBeGreaterThanOrEqual(2);
      expect(["open", "half-open"]).toContain(entry?.state);
      expect(cliReset.code, cliReset.stderr).toBe(0);
      expect(JSON.parse(cliReset.stdout)).toMatchObject({
        host: down.host,
        destinations: [{ topic: "breaker", state: "closed", failures: 0 }],
      });
      expect(reset.status, reset.text).toBe(200);
      expect(unknown.status).toBe(404);
      expect(cliUnknown.code).toBe(2);
    } finally {
      await down.stop();
    }
  });
});

describe.runIf(local)("the destination list, a page at a time", () => {
  it("pages of `limit` reach every host once; ?state=open every open circuit; its cursors resume only their own list; the CLI follows them", async () => {
    // Prepare: three hosts the limited topic leased for (closed), and one the breaker opened
    const hosts = await Promise.all([
      startMeteringReceiver(),
      startMeteringReceiver(),
      startMeteringReceiver(),
    ]);
    const down = await startMeteringReceiver();
    down.setDown(true);
    try {
      const ids = await Promise.all(hosts.map((r) => addTask("limited", `${r.url}/${randomUUID()}`)));
      await Promise.all(ids.map((id) => h.waitForStatus(id, ["delivered"], 30_000)));
      const url = `${down.url}/${randomUUID()}`;
      await addTask("breaker", url, { order_id: `g-${randomUUID()}` });
      await addTask("breaker", url, { order_id: `g-${randomUUID()}` });
      await waitForDestination("breaker", down.host, ["open", "half-open"]);

      // Act
      const byOne = await listAll("limit=1");
      const open = await listAll("state=open&limit=1");
      const first = destinationListSchema.parse(
        (await h.api("GET", "/v1/destinations?state=open&limit=1")).json,
      );
      const otherState = await h.api("GET", `/v1/destinations?state=closed&cursor=${first.next_cursor}`);
      const scheduleCursor = Buffer.from(
        JSON.stringify({ pk: "schedules#demo", sk: "demo.schedule.01JD3ZK4Q9V8X7W6T5S4R3P2N2" }),
      ).toString("base64url");
      const foreign = await h.api("GET", `/v1/destinations?cursor=${scheduleCursor}`);
      const badLimit = await h.api("GET", "/v1/destinations?limit=1e9");
      const cliOpen = await runPunctual([...cliApi(), "--json", "destinations", "list", "--state", "open"]);
      const cliAll = await runPunctual([...cliApi(), "--json", "destinations", "list"]);

      // Assess
      const keys = byOne.destinations.map((d) => `${d.topic}#${d.host}`);
      expect(new Set(keys).size).toBe(keys.length);
      for (const r of hosts) expect(keys).toContain(`limited#${r.host}`);
      expect(keys).toContain(`breaker#${down.host}`);
      expect(byOne.pageSizes.every((n) => n <= 1)).toBe(true);
      expect(open.destinations.every((d) => d.state === "open" || d.state === "half-open")).toBe(true);
      expect(open.destinations.map((d) => `${d.topic}#${d.host}`)).toContain(`breaker#${down.host}`);
      for (const refused of [otherState, foreign, badLimit]) {
        expect(refused.status, refused.text).toBe(400);
        expect(refused.json).toMatchObject({ error: { code: "validation_failed" } });
      }
      expect(cliOpen.code, cliOpen.stderr).toBe(0);
      const cliOpenHosts = (JSON.parse(cliOpen.stdout) as { destinations: Listed[] }).destinations;
      expect(cliOpenHosts.map((d) => d.host)).toContain(down.host);
      expect(cliOpenHosts.every((d) => d.state !== "closed")).toBe(true);
      expect(cliAll.code, cliAll.stderr).toBe(0);
      const cliAllKeys = (JSON.parse(cliAll.stdout) as { destinations: Listed[] }).destinations.map(
        (d) => `${d.topic}#${d.host}`,
      );
      expect(cliAllKeys).toEqual(keys);
    } finally {
      await Promise.all([...hosts, down].map((r) => r.stop()));
    }
  });
});
