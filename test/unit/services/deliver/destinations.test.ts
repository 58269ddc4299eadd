import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import type { CallbackResult } from "#shared/adapters/callback-client.js";
import type { TopicConfig } from "#shared/config/index.js";
import { DESTINATION_IDLE_SECONDS } from "#shared/domain/destination-item.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { DESTINATION_CACHE_MAX_HOSTS } from "#shared/services/deliver/destination-gate.js";
import { DestinationCache, deliverBatch } from "#shared/services/deliver/index.js";
import { deliverDeps, testTopic } from "../../../support/deliver-binding.js";
import { eventOf, fifoRecord, makeTask, T0 } from "../../../support/factories.js";
import { FakeCallbacks, HTTP } from "../../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../../support/logger.js";
import { MemoryTaskStore } from "../../../support/memory-task-store.js";

/**
 * Protecting receivers through the deliver use case, on the memory store's destination fake: rate tokens,
 * concurrency leases, the circuit breaker and Retry-After. A delivery its destination cannot take waits with
 * its group's visibility set, and its attempt is not counted.
 */
const SIGNER = new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]);
const HOST_A = "a.example.com";
const HOST_B = "b.example.com";

function setup(
  topicOverrides: Partial<TopicConfig>,
  startMs = T0 + 100,
  destinationCache = new DestinationCache(),
) {
  let now = startMs;
  const store = new MemoryTaskStore();
  const callbacks = new FakeCallbacks();
  const queue = new FakeTopicQueue();
  const metrics = new MemoryMetrics();
  const topic = testTopic({ name: "demo", ...topicOverrides });
  const deps = deliverDeps(
    {
      store,
      topicQueue: queue,
      metrics,
      logger: memoryLogger(),
      clock: () => now,
      topic,
      callbacks,
      signer: SIGNER,
    },
    { groupConcurrency: 10, destinationCache },
  );
  const context = { getRemainingTimeInMillis: () => 60_000 };
  /** A due task in a group of its own, to `host`. */
  const task = async (host = HOST_A) => {
    const t = makeTask({
      group: randomUUID(),
      dueAtMs: T0 - 1_000,
      acceptedAtMs: T0 - 10_000,
      status: "queued",
      callbackUrl: `https://${host}/hook`,
    });
    await store.putNew(t);
    return t;
  };
  const deliver = async (...tasks: Awaited<ReturnType<typeof task>>[]) => {
    queue.visibility.length = 0;
    return deliverBatch(deps, eventOf(...tasks.map((t) => fifoRecord(t))), context);
  };
  const attempts = async (taskId: string) => (await store.get(taskId))?.attempts;
  const waits = () => queue.visibility.flatMap((v) => v.changes.map((c) => c.seconds));
  const advance = (ms: number) => {
    now += ms;
  };
  return { store, callbacks, queue, metrics, deps, task, deliver, attempts, waits, advance, now: () => now };
}

describe("per-destination rate limit", () => {
  it("starts at most rateLimit callbacks per second to a host; the others wait without using an attempt", async () => {
    // Prepare
    const s = setup({ rateLimit: 2 });
    const tasks = await Promise.all([s.task(), s.task(), s.task(), s.task(), s.task()]);

    // Act
    const response = await s.deliver(...tasks);

    // Assess
    expect(s.callbacks.requests).toHaveLength(2);
    expect(response.batchItemFailures).toHaveLength(3);
    const counted = await Promise.all(tasks.map((t) => s.attempts(t.taskId)));
    expect(counted.filter((n) => n === 1)).toHaveLength(2);
    expect(counted.filter((n) => n === 0)).toHaveLength(3);
    expect(s.waits()).toEqual([1, 1, 1]);
  });

  it("counts each host on its own, and the next second has fresh tokens", async () => {
    // Prepare
    const s = setup({ rateLimit: 1 });
    const [a1, a2, b1] = [await s.task(HOST_A), await s.task(HOST_A), await s.task(HOST_B)];

    // Act
    await s.deliver(a1, a2, b1);
    s.advance(1_000);
    await s.deliver(a2);

    // Assess
    expect(s.callbacks.calledFor().sort()).toEqual([a1.taskId, b1.taskId, a2.taskId].sort());
    expect(await s.attempts(a2.taskId)).toBe(1);
  });

  it("signs the callback with the instant its token was counted at, so webhook-timestamp names the token's second", async () => {
    // Prepare: the token call takes 400 ms, from 700 ms into a second to 100 ms into the next
    const s = setup({ rateLimit: 5 }, T0 + 700);
    const takeRateToken = s.store.takeRateToken;
    Object.assign(s.store, {
      takeRateToken: async (...args: Parameters<typeof takeRateToken>) => {
        s.advance(400);
        return takeRateToken(...args);
      },
    });
    const t = await s.task();

    // Act
    await s.deliver(t);

    // Assess
    expect(s.callbacks.requests[0]?.headers["webhook-timestamp"]).toBe(String(T0 / 1000));
    expect(s.store.destinations.rateCounts.get(`demo#${HOST_A}#${T0 / 1000}`)).toBe(1);
  });

  it("hands out no token in the last part of a second (the callback would land in the next one)", async () => {
    // Prepare: 900 ms into the second
    const s = setup({ rateLimit: 5 }, T0 + 900);
    const t = await s.task();

    // Act
    await s.deliver(t);

    // Assess
    expect(s.callbacks.requests).toHaveLength(0);
    expect(await s.attempts(t.taskId)).toBe(0);
    expect(s.waits()).toEqual([1]);
  });
});

describe("per-destination concurrency", () => {
  it("waits without an attempt while every lease of the host is held elsewhere, and frees its own lease", async () => {
    // Prepare: another invocation holds the host's only lease
    const s = setup({ maxConcurrencyPerHost: 1 });
    await s.store.acquireLease("demo", HOST_A, 1, s.now(), s.now() + 60_000);
    const blocked = await s.task(HOST_A);
    const other = await s.task(HOST_B);

    // Act
    await s.deliver(blocked, other);

    // Assess
    expect(s.callbacks.calledFor()).toEqual([other.taskId]);
    expect(await s.attempts(blocked.taskId)).toBe(0);
    expect((await s.store.getDestination("demo", HOST_B))?.leases).toEqual({});
  });

  it("one receiver spelled as its IPv4 address and as NAT64 or IPv4-mapped IPv6 has one budget, not one per spelling", async () => {
    // Prepare: the IPv4 spelling holds the host's only lease; packets to the other two go to the same address
    const s = setup({ maxConcurrencyPerHost: 1 });
    await s.store.acquireLease("demo", "1.2.3.4", 1, s.now(), s.now() + 60_000);
    const nat64 = await s.task("[64:ff9b::102:304]");
    const mapped = await s.task("[::ffff:1.2.3.4]");
    const sixToFour = await s.task("[2002:102:304::1]");

    // Act
    await s.deliver(nat64, mapped, sixToFour);

    // Assess: a 6to4 address is a host of its own behind that router, not the IPv4 host
    expect(s.callbacks.calledFor()).toEqual([sixToFour.taskId]);
    expect(await s.attempts(nat64.taskId)).toBe(0);
    expect(await s.attempts(mapped.taskId)).toBe(0);
  });

  it("never sends a callback that could outlive its lease: a start slower than the lease's margins is given back", async () => {
    // Prepare: the host's only lease lasts the callback timeout (5 s) plus the watchdog (2 s) and safety (1 s)
    // margins from when it was taken; the attempt's start then takes longer than those margins (a slow DynamoDB)
    const s = setup({ maxConcurrencyPerHost: 1 });
    const slow = await s.task(HOST_A);
    const start = s.store.startAttempt.bind(s.store);
    s.store.startAttempt = async (...args) => {
      s.advance(3_500);
      return start(...args);
    };

    // Act
    await s.deliver(slow);
    const calledThen = s.callbacks.calledFor();
    const attemptsThen = await s.attempts(slow.taskId);
    const leaseThen = (await s.store.getDestination("demo", HOST_A))?.leases;
    s.store.startAttempt = start;
    s.advance(1_000);
    await s.deliver(slow);

    // Assess: a callback sent then could still run when its lease expired and another delivery took the slot (two
    // in flight to a host limited to one); instead its start was given back and the lease freed, and the next
    // receive delivers it on its first attempt
    expect(calledThen).toEqual([]);
    expect(attemptsThen).toBe(0);
    expect(leaseThen).toEqual({});
    expect(s.waits()).toEqual([]);
    expect(s.callbacks.calledFor()).toEqual([slow.taskId]);
    expect(await s.store.get(slow.taskId)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("sends no callback whose time ran out while its lease and start were taken: both are given back, the record returns at once", async () => {
    // Prepare: 6.5 s left passes the 5 s timeout + 1 s margin; the lease write is slow (throttled) and leaves 5.6 s
    const s = setup({ maxConcurrencyPerHost: 1 });
    let remaining = 6_500;
    const t = await s.task(HOST_A);
    const acquireLease = s.store.acquireLease;
    Object.assign(s.store, {
      acquireLease: async (...args: Parameters<typeof acquireLease>) => {
        const lease = await acquireLease(...args);
        remaining = 5_600;
        return lease;
      },
    });

    // Act
    const response = await deliverBatch(s.deps, eventOf(fifoRecord(t)), {
      getRemainingTimeInMillis: () => remaining,
    });

    // Assess
    expect(s.callbacks.requests).toEqual([]);
    expect(response.batchItemFailures).toHaveLength(1);
    expect(await s.attempts(t.taskId)).toBe(0);
    expect((await s.store.getDestination("demo", HOST_A))?.leases).toEqual({});
    expect(s.waits()).toEqual([0]);
  });

  it("gives the lease back at once when no rate token comes, or the token call fails", async () => {
    // Prepare
    const s = setup({ maxConcurrencyPerHost: 3, rateLimit: 1 });
    const [first, second, third] = [await s.task(), await s.task(), await s.task()];
    await s.deliver(first); // uses this second's only token

    // Act
    await s.deliver(second);
    s.advance(1_000);
    Object.assign(s.store, {
      takeRateToken: async () => {
        throw new Error("ProvisionedThroughputExceededException");
      },
    });
    const response = await s.deliver(third);

    // Assess
    expect(response.batchItemFailures).toHaveLength(1);
    expect([await s.attempts(second.taskId), await s.attempts(third.taskId)]).toEqual([0, 0]);
    expect((await s.store.getDestination("demo", HOST_A))?.leases).toEqual({});
  });

  it("takes an expired lease over (its holder crashed)", async () => {
    // Prepare
    const s = setup({ maxConcurrencyPerHost: 1 });
    await s.store.acquireLease("demo", HOST_A, 1, s.now() - 60_000, s.now() - 1);
    const t = await s.task(HOST_A);

    // Act
    await s.deliver(t);

    // Assess
    expect(s.callbacks.calledFor()).toEqual([t.taskId]);
  });

  it("never has more callbacks in flight to a host than its limit, across batches running side by side", async () => {
    // Prepare: callbacks that stay open until released
    const s = setup({ maxConcurrencyPerHost: 2 });
    let inFlight = 0;
    let maxInFlight = 0;
    const release: (() => void)[] = [];
    s.callbacks.post = async (request) => {
      s.callbacks.requests.push(request);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((resolve) => release.push(resolve));
      inFlight--;
      return HTTP(200);
    };
    const tasks = await Promise.all(Array.from({ length: 6 }, () => s.task(HOST_A)));

    // Act: two batches at once, then let the callbacks finish
    const batches = [s.deliver(...tasks.slice(0, 3)), s.deliver(...tasks.slice(3))];
    while (release.length < 2) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 10));
    for (const done of release) done();
    await Promise.all(batches);

    // Assess
    expect(maxInFlight).toBe(2);
    const counted = await Promise.all(tasks.map((t) => s.attempts(t.taskId)));
    expect(counted.filter((n) => n === 0)).toHaveLength(4);
  });
});

describe("circuit breaker", () => {
  const BREAKER = { circuitFailureThreshold: 2, circuitCooldownSeconds: 30 } as const;

  async function openCircuit(s: ReturnType<typeof setup>) {
    for (const _ of [1, 2]) {
      const failing = await s.task(HOST_A);
      s.callbacks.answer(failing.taskId, HTTP(503));
      await s.deliver(failing);
    }
  }

  it("opens after N consecutive failed attempts: one metric, deliveries to the host wait without attempts", async () => {
    // Prepare
    const s = setup(BREAKER);
    await openCircuit(s);
    const waiting = await s.task(HOST_A);
    const elsewhere = await s.task(HOST_B);
    const requestsBefore = s.callbacks.requests.length;

    // Act
    s.advance(1_000);
    await s.deliver(waiting, elsewhere);

    // Assess
    expect(s.metrics.count("circuitOpened")).toBe(1);
    expect(s.callbacks.requests.slice(requestsBefore).map((r) => r.headers["webhook-id"])).toEqual([
      elsewhere.taskId,
    ]);
    expect(await s.attempts(waiting.taskId)).toBe(0);
    expect(s.waits()).toEqual([29]);
    expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({ circuit: "open", failures: 2 });
  });

  it("a success resets the count, so only consecutive failures open it", async () => {
    // Prepare
    const s = setup(BREAKER);
    const [f1, ok, f2] = [await s.task(), await s.task(), await s.task()];
    s.callbacks.answer(f1.taskId, HTTP(500));
    s.callbacks.answer(f2.taskId, HTTP(500));

    // Act
    await s.deliver(f1);
    await s.deliver(ok);
    await s.deliver(f2);

    // Assess
    expect(s.metrics.count("circuitOpened")).toBe(0);
    expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({ circuit: "closed", failures: 1 });
  });

  it.each([
    ["", {}],
    [" (a lease taken first)", { maxConcurrencyPerHost: 1 }],
  ] as const)(
    "a failure after the host's entry expired (a month idle) counts afresh: it does not open the circuit%s",
    async (_case, limits) => {
      // Prepare: one failure below the threshold, then the host idle past its entry's expiry (not yet deleted by TTL)
      const s = setup({ ...BREAKER, ...limits });
      s.store.nowSeconds = () => Math.floor(s.now() / 1000);
      const first = await s.task();
      s.callbacks.answer(first.taskId, HTTP(503));
      await s.deliver(first);
      s.advance((DESTINATION_IDLE_SECONDS + 86_400) * 1000);
      const later = await s.task();
      s.callbacks.answer(later.taskId, HTTP(502));

      // Act
      await s.deliver(later);

      // Assess
      expect(s.metrics.count("circuitOpened")).toBe(0);
      expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({
        circuit: "closed",
        failures: 1,
        lastError: "HTTP 502",
      });
    },
  );

  it("a 4xx other than 429 shows a host that is up: it does not count towards opening", async () => {
    // Prepare
    const s = setup(BREAKER);
    const [t1, t2] = [await s.task(), await s.task()];
    s.callbacks.answer(t1.taskId, HTTP(400));
    s.callbacks.answer(t2.taskId, HTTP(404));

    // Act
    await s.deliver(t1);
    await s.deliver(t2);

    // Assess
    expect(await s.store.getDestination("demo", HOST_A)).toBeUndefined();
  });

  it("an informational status (101 Switching Protocols) is a host failure: it counts towards opening, and retries with backoff", async () => {
    // Prepare
    const s = setup(BREAKER);
    const [t1, t2] = [await s.task(), await s.task()];
    s.callbacks.answer(t1.taskId, HTTP(101));
    s.callbacks.answer(t2.taskId, HTTP(100));

    // Act
    await s.deliver(t1);
    await s.deliver(t2);

    // Assess
    expect(s.metrics.count("circuitOpened")).toBe(1);
    expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({ circuit: "open", failures: 2 });
    expect(s.waits()).toEqual([10]);
    expect(await s.store.get(t2.taskId)).toMatchObject({ status: "delivering", attempts: 1 });
  });

  it("a receiver cannot dodge its open circuit by its URL's spelling: its NAT64 address waits on its IPv4 circuit", async () => {
    // Prepare: failures to 1.2.3.4 open its circuit
    const s = setup(BREAKER);
    for (const _ of [1, 2]) {
      const failing = await s.task("1.2.3.4");
      s.callbacks.answer(failing.taskId, HTTP(503));
      await s.deliver(failing);
    }
    const respelled = await s.task("[64:ff9b::1.2.3.4]");
    const requestsBefore = s.callbacks.requests.length;

    // Act
    s.advance(1_000);
    await s.deliver(respelled);

    // Assess
    expect(s.callbacks.requests.length).toBe(requestsBefore);
    expect(await s.attempts(respelled.taskId)).toBe(0);
    expect(s.waits()).toEqual([29]);
    expect(await s.store.getDestination("demo", "[64:ff9b::102:304]")).toBeUndefined();
  });

  it("a probe answered 101 does not close the circuit: it reopens and gives its attempt back", async () => {
    // Prepare
    const s = setup(BREAKER);
    await openCircuit(s);
    const probe = await s.task(HOST_A);
    s.callbacks.answer(probe.taskId, HTTP(101));

    // Act
    s.advance(30_000);
    await s.deliver(probe);

    // Assess
    expect(s.metrics.count("circuitClosed")).toBe(0);
    expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({ circuit: "open" });
    expect(await s.store.get(probe.taskId)).toMatchObject({ attempts: 0, lastError: "HTTP 101" });
    expect(s.waits()).toEqual([30]);
  });

  it("after the cool-down exactly one delivery probes; its success closes the circuit (one metric)", async () => {
    // Prepare
    const s = setup(BREAKER);
    await openCircuit(s);
    const [p1, p2] = [await s.task(HOST_A), await s.task(HOST_A)];
    const requestsBefore = s.callbacks.requests.length;

    // Act
    s.advance(30_000);
    await s.deliver(p1, p2);

    // Assess
    expect(s.callbacks.requests.length - requestsBefore).toBe(1);
    expect(s.metrics.count("circuitClosed")).toBe(1);
    expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({ circuit: "closed", failures: 0 });
    const counted = [await s.attempts(p1.taskId), await s.attempts(p2.taskId)].sort();
    expect(counted).toEqual([0, 1]);
  });

  it("a failed probe reopens it for another cool-down (no second opening metric) and gives its attempt back", async () => {
    // Prepare
    const s = setup(BREAKER);
    await openCircuit(s);
    const probe = await s.task(HOST_A);
    s.callbacks.answer(probe.taskId, HTTP(503));

    // Act
    s.advance(30_000);
    await s.deliver(probe);

    // Assess
    expect(s.metrics.count("circuitOpened")).toBe(1);
    expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({
      circuit: "open",
      nextProbeAtMs: s.now() + 30_000,
    });
    expect(s.callbacks.calledFor()).toContain(probe.taskId);
    expect(await s.store.get(probe.taskId)).toMatchObject({ attempts: 0, lastError: "HTTP 503" });
    expect(s.waits()).toEqual([30]);
    expect(s.queue.deadLetters).toEqual([]);
  });

  it.each([
    ["asks for longer than the cool-down: the circuit waits that long", "600", 600],
    ["asks for longer than the cap: the circuit waits the cap", "86400", 3_600],
    ["asks for more than any number (400 digits): the circuit waits the cap", "9".repeat(400), 3_600],
    ["asks for less than the cool-down: the circuit waits the cool-down", "5", 30],
  ])("a failed probe whose 503 Retry-After %s", async (_name, retryAfter, seconds) => {
    // Prepare: a receiver that says when to come back (retryAfterCapSeconds 3,600 by default)
    const s = setup(BREAKER);
    await openCircuit(s);
    const probe = await s.task(HOST_A);
    s.callbacks.answer(probe.taskId, { ...HTTP(503), retryAfter });

    // Act
    s.advance(30_000);
    await s.deliver(probe);

    // Assess: the next probe, and the group's own wait, at what it asked (capped), never sooner than the cool-down
    expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({
      circuit: "open",
      nextProbeAtMs: s.now() + seconds * 1_000,
    });
    expect(s.waits()).toEqual([seconds]);
    expect(await s.store.get(probe.taskId)).toMatchObject({ attempts: 0 });
  });

  it("the failure that opens the circuit sets its first probe by its Retry-After too", async () => {
    // Prepare
    const s = setup(BREAKER);
    const first = await s.task(HOST_A);
    s.callbacks.answer(first.taskId, HTTP(503));
    await s.deliver(first);
    const second = await s.task(HOST_A);
    s.callbacks.answer(second.taskId, { ...HTTP(503), retryAfter: "300" });

    // Act
    await s.deliver(second);

    // Assess
    expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({
      circuit: "open",
      nextProbeAtMs: s.now() + 300_000,
    });
  });

  it("after a failed probe the next probe comes one cool-down later, not at the end of the failed probe's claim", async () => {
    // Prepare: a long callback timeout, so a probe's claim (timeout + margin) outlasts the cool-down
    const s = setup({ ...BREAKER, circuitCooldownSeconds: 1, callbackTimeoutSeconds: 20 });
    await openCircuit(s);
    const probe = await s.task(HOST_A);
    s.callbacks.answer(probe.taskId, HTTP(503), HTTP(200));
    s.advance(1_000);
    await s.deliver(probe);

    // Act
    s.advance(1_000);
    await s.deliver(probe);

    // Assess
    expect(s.callbacks.calledFor().filter((id) => id === probe.taskId)).toHaveLength(2);
    expect(await s.store.get(probe.taskId)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  describe("a probe that ends without a verdict releases its claim, so the next probe need not wait for its expiry", () => {
    it("when its delivery must wait for a concurrency lease", async () => {
      // Prepare: the circuit half-open, and the host's only lease held by another invocation
      const s = setup({ ...BREAKER, maxConcurrencyPerHost: 1 });
      await openCircuit(s);
      const probe = await s.task(HOST_A);
      s.advance(30_000);
      await s.store.acquireLease("demo", HOST_A, 1, s.now(), s.now() + 500);

      // Act
      await s.deliver(probe);
      s.advance(1_000);
      await s.deliver(probe);

      // Assess
      expect(s.callbacks.calledFor()).toContain(probe.taskId);
      expect(await s.store.get(probe.taskId)).toMatchObject({ status: "delivered", attempts: 1 });
      expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({ circuit: "closed" });
    });

    it("when its attempt cannot start (the task moved on)", async () => {
      // Prepare
      const s = setup(BREAKER);
      await openCircuit(s);
      const probe = await s.task(HOST_A);
      s.advance(30_000);
      Object.assign(s.store, { startAttempt: async () => undefined });

      // Act
      await s.deliver(probe);

      // Assess
      expect(s.callbacks.calledFor()).not.toContain(probe.taskId);
      expect((await s.store.getDestination("demo", HOST_A))?.probeUntilMs).toBeUndefined();
    });

    it("when its time ran out while its start was written (no callback sent, its lease and start given back)", async () => {
      // Prepare: half-open; 6.5 s left passes the 5 s timeout + 1 s margin, the slow start write leaves 5.6 s
      const s = setup({ ...BREAKER, maxConcurrencyPerHost: 1 });
      await openCircuit(s);
      const probe = await s.task(HOST_A);
      s.advance(30_000);
      let remaining = 6_500;
      const startAttempt = s.store.startAttempt.bind(s.store);
      Object.assign(s.store, {
        startAttempt: async (...args: Parameters<typeof startAttempt>) => {
          const started = await startAttempt(...args);
          remaining = 5_600;
          return started;
        },
      });

      s.queue.visibility.length = 0;

      // Act
      const response = await deliverBatch(s.deps, eventOf(fifoRecord(probe)), {
        getRemainingTimeInMillis: () => remaining,
      });

      // Assess
      expect(s.callbacks.calledFor()).not.toContain(probe.taskId);
      expect(response.batchItemFailures).toHaveLength(1);
      expect(await s.attempts(probe.taskId)).toBe(0);
      const destination = await s.store.getDestination("demo", HOST_A);
      expect(destination?.probeUntilMs).toBeUndefined();
      expect(destination?.leases).toEqual({});
      expect(s.waits()).toEqual([0]);
    });

    it("when the destination is refused by policy (says nothing about the host)", async () => {
      // Prepare
      const s = setup(BREAKER);
      await openCircuit(s);
      const probe = await s.task(HOST_A);
      s.callbacks.answer(probe.taskId, {
        ok: false,
        refused: true,
        error: "destination refused by policy: private address",
        durationMs: 1,
      });
      s.advance(30_000);

      // Act
      await s.deliver(probe);

      // Assess
      expect(s.callbacks.calledFor()).toContain(probe.taskId);
      expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({ circuit: "open", failures: 2 });
      expect((await s.store.getDestination("demo", HOST_A))?.probeUntilMs).toBeUndefined();
    });

    it("but never releases a claim another prober holds now", async () => {
      // Prepare: this delivery's claim expires while it waits, and another delivery claims the probe
      const s = setup({ ...BREAKER, maxConcurrencyPerHost: 1 });
      await openCircuit(s);
      const probe = await s.task(HOST_A);
      s.advance(30_000);
      let othersClaim: number | undefined;
      Object.assign(s.store, {
        acquireLease: async () => {
          s.advance(60_000);
          othersClaim = s.now() + 10_000;
          await s.store.claimProbe("demo", HOST_A, s.now(), othersClaim);
          return undefined;
        },
      });

      // Act
      await s.deliver(probe);

      // Assess
      expect(othersClaim).toBeDefined();
      expect((await s.store.getDestination("demo", HOST_A))?.probeUntilMs).toBe(othersClaim);
    });
  });

  it("a failure of an attempt admitted before the circuit opened leaves the probe in flight its claim: never two probers", async () => {
    // Prepare: this container last read the host as closed; another opens the circuit (cool-down shorter than a
    // callback) and, once it is half-open, a third elects itself the prober, whose callback is still running.
    const s = setup({ ...BREAKER, circuitCooldownSeconds: 1, callbackTimeoutSeconds: 20 });
    await s.deliver(await s.task(HOST_A)); // caches the host as closed
    await s.store.recordDestinationFailure("demo", HOST_A, s.now(), "HTTP 503");
    await s.store.openCircuit("demo", HOST_A, s.now(), s.now() + 1_000);
    s.advance(1_000);
    const othersClaim = s.now() + 22_000;
    expect(await s.store.claimProbe("demo", HOST_A, s.now(), othersClaim)).toBe(true);
    const stale = await s.task(HOST_A);
    s.callbacks.answer(stale.taskId, HTTP(503));
    await s.deliver(stale); // admitted on the cached "closed" read, and fails while the circuit is open
    const later = await s.task(HOST_A);

    // Act: past the cool-down the stale failure restarted, while the other probe still runs
    s.advance(1_000);
    await s.deliver(later);

    // Assess: the other prober keeps its claim, and no second probe goes out beside it
    expect(s.callbacks.calledFor()).toContain(stale.taskId);
    expect(s.callbacks.calledFor()).not.toContain(later.taskId);
    expect(await s.attempts(later.taskId)).toBe(0);
    expect((await s.store.getDestination("demo", HOST_A))?.probeUntilMs).toBe(othersClaim);
  });

  it("a probe that fails after the circuit was reset by hand counts as one failure: it does not reopen the circuit", async () => {
    // Prepare: half-open, and while the probe's callback runs the operator resets the host
    const s = setup(BREAKER);
    await openCircuit(s);
    const probe = await s.task(HOST_A);
    s.advance(30_000);
    const answer = s.callbacks.post.bind(s.callbacks);
    s.callbacks.post = async (request) => {
      await s.store.closeCircuit("demo", HOST_A, s.now());
      return { ...(await answer(request)), ...HTTP(503) };
    };

    // Act
    await s.deliver(probe);

    // Assess: one failure since the reset, below the threshold of 2: closed, and no second opening
    expect(s.callbacks.calledFor()).toContain(probe.taskId);
    expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({ circuit: "closed", failures: 1 });
    expect(s.metrics.count("circuitOpened")).toBe(1);
  });

  it("a reset landing between the failure that reaches the threshold and its opening: the circuit stays closed", async () => {
    // Prepare: one failure; the second reaches the threshold of 2, and a reset lands once it is counted
    const s = setup(BREAKER);
    const first = await s.task(HOST_A);
    s.callbacks.answer(first.taskId, HTTP(503));
    await s.deliver(first);
    const second = await s.task(HOST_A);
    s.callbacks.answer(second.taskId, HTTP(503));
    const count = s.store.recordDestinationFailure.bind(s.store);
    vi.spyOn(s.store, "recordDestinationFailure").mockImplementationOnce(async (...args) => {
      const record = await count(...args);
      await s.store.closeCircuit("demo", HOST_A, s.now());
      return record;
    });

    // Act
    await s.deliver(second);

    // Assess: as the reset left it, no opening reported; the group waits its backoff step
    expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({ circuit: "closed", failures: 0 });
    expect(s.metrics.count("circuitOpened")).toBe(0);
    expect(s.waits()).toEqual([10]);
  });

  it("a probe that fails after the circuit was reset by hand holds its group no cool-down: it waits its backoff step", async () => {
    // Prepare: a ten-minute cool-down; half-open, and while the probe's callback runs the operator resets the host
    const s = setup({ ...BREAKER, circuitCooldownSeconds: 600 });
    await openCircuit(s);
    const probe = await s.task(HOST_A);
    s.advance(600_000);
    const answer = s.callbacks.post.bind(s.callbacks);
    s.callbacks.post = async (request) => {
      await s.store.closeCircuit("demo", HOST_A, s.now());
      return { ...(await answer(request)), ...HTTP(503) };
    };

    // Act
    await s.deliver(probe);

    // Assess: the circuit stays closed, so the group waits as a failed attempt on a closed circuit does (the
    // topic's first backoff step, 10 s), not the ten minutes of a circuit the reset closed; its attempt given back
    expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({ circuit: "closed", failures: 1 });
    expect(await s.store.get(probe.taskId)).toMatchObject({ attempts: 0, lastError: "HTTP 503" });
    expect(s.waits()).toEqual([10]);
  });

  it("a reopening that finds the circuit closed under it is not remembered open: the next delivery goes at once", async () => {
    // Prepare: open; its probe fails, and between the store's refused open and its reopening write another
    // container closes the circuit (a success, or a reset): the store writes nothing and answers "closed"
    const s = setup(BREAKER);
    await openCircuit(s);
    s.advance(30_000);
    const probe = await s.task(HOST_A);
    s.callbacks.answer(probe.taskId, HTTP(503));
    vi.spyOn(s.store, "openCircuit").mockImplementation(async (topic, host, nowMs) => {
      await s.store.closeCircuit(topic, host, nowMs);
      return "closed";
    });
    await s.deliver(probe);
    const next = await s.task(HOST_A);

    // Act: within this container's 2-second cache window
    s.advance(500);
    await s.deliver(next);

    // Assess: delivered, not held for a cool-down the circuit no longer has
    expect(s.callbacks.calledFor()).toContain(next.taskId);
    expect(await s.store.getDestination("demo", HOST_A)).toMatchObject({ circuit: "closed" });
  });

  it("a reset by hand frees this container's next delivery: no cool-down's wait is decided on a view older than 250 ms", async () => {
    // Prepare: this container opened the circuit (it remembers it open), then the operator resets the host
    const s = setup({ ...BREAKER, circuitCooldownSeconds: 600 });
    await openCircuit(s);
    await s.store.closeCircuit("demo", HOST_A, s.now());
    const next = await s.task(HOST_A);

    // Act: within this container's 2-second cache window
    s.advance(500);
    await s.deliver(next);

    // Assess: delivered, not held for the ten minutes the circuit no longer has
    expect(s.callbacks.calledFor()).toContain(next.taskId);
    expect(s.waits()).toEqual([]);
  });

  it("…and deliveries that must wait still wait on a circuit open in the store, one read per 250 ms, not one each", async () => {
    // Prepare: open in the store and in this container's cache
    const s = setup({ ...BREAKER, circuitCooldownSeconds: 600 });
    await openCircuit(s);
    const [first, second, third] = [await s.task(HOST_A), await s.task(HOST_A), await s.task(HOST_A)];
    const reads = vi.spyOn(s.store, "getDestination");

    // Act: the first reads afresh; the others come within 250 ms of that read
    s.advance(500);
    await s.deliver(first);
    await s.deliver(second);
    s.advance(249);
    await s.deliver(third);

    // Assess: all wait the cool-down's rest, without attempts; one read for the three
    for (const waiting of [first, second, third]) {
      expect(s.callbacks.calledFor()).not.toContain(waiting.taskId);
      expect(await s.attempts(waiting.taskId)).toBe(0);
    }
    expect(s.waits()).toEqual([600]);
    expect(reads).toHaveBeenCalledTimes(1);
  });

  it("another container's open circuit is seen once its cached read is older than the cache window", async () => {
    // Prepare
    const s = setup(BREAKER);
    const first = await s.task(HOST_A);
    await s.deliver(first); // caches the host as closed
    await s.store.recordDestinationFailure("demo", HOST_A, s.now(), "HTTP 503");
    await s.store.openCircuit("demo", HOST_A, s.now(), s.now() + 30_000);
    const later = await s.task(HOST_A);

    // Act
    s.advance(2_000);
    await s.deliver(later);

    // Assess
    expect(await s.attempts(later.taskId)).toBe(0);
  });
});

describe("Retry-After", () => {
  const answer = (status: number, retryAfter: string): CallbackResult => ({
    ...HTTP(status),
    retryAfter,
  });

  it.each([
    ["503 with seconds", 503, "7", 7],
    ["429 with an HTTP-date", 429, new Date(T0 + 100 + 12_000).toUTCString(), 12],
    ["a delay beyond the cap", 503, "86400", 60],
    // Absurd values a hostile receiver may send: more digits than a double holds (read as Infinity), the last date
    ["400 digits (past any number)", 503, "9".repeat(400), 60],
    ["the year 9999", 429, "Fri, 31 Dec 9999 23:59:59 GMT", 60],
  ])(
    "%s postpones the group by the given time (capped); the attempt counts",
    async (_n, status, value, wait) => {
      // Prepare
      const s = setup({ retryAfterCapSeconds: 60 });
      const t = await s.task();
      s.callbacks.answer(t.taskId, answer(status, value));

      // Act
      await s.deliver(t);

      // Assess
      expect(s.waits()).toEqual([wait]);
      expect(await s.attempts(t.taskId)).toBe(1);
    },
  );

  it.each([
    // What the receiver asked, as a number, beside the wait it got (backoffSeconds)
    ["a delay beyond the cap", "86400", { retryAfterSeconds: 86_400 }],
    // More digits than a double holds: no number to log (it was logged as null, as if none had been asked), so the
    // header's first digits and its length
    ["400 digits", "9".repeat(400), { retryAfter: `${"9".repeat(16)}… (400 characters)` }],
  ])(
    "the retry's log line shows the Retry-After asked (%s) and the capped wait",
    async (_n, value, asked) => {
      // Prepare
      const s = setup({ retryAfterCapSeconds: 60 });
      const t = await s.task();
      s.callbacks.answer(t.taskId, answer(503, value));

      // Act
      await s.deliver(t);

      // Assess: as the JSON log line has it
      const logged = (s.deps.logger as ReturnType<typeof memoryLogger>).entries.find(
        (e) => e.message === "callback failed; retrying after backoff",
      );
      const line = JSON.parse(JSON.stringify(logged?.extra)) as Record<string, unknown>;
      expect(line).toMatchObject({ backoffSeconds: 60, ...asked });
      expect(Object.keys(line).filter((key) => key.startsWith("retryAfter"))).toEqual(Object.keys(asked));
    },
  );

  it.each([
    // The backoff step here is 10 s (the test topic's first step, no jitter).
    ["a cap of 0, a delay of 120 s", 0, "120", 10],
    ["a cap of 5 s, a delay of a day", 5, "86400", 10],
    ["a cap of 5 s, a date an hour ahead", 5, new Date(T0 + 100 + 3_600_000).toUTCString(), 10],
  ])(
    "a delay the cap cuts is never shorter than the backoff step it replaces (%s → %i s)",
    async (_n, cap, value, wait) => {
      // Prepare: a receiver asking for more time than the cap allows
      const s = setup({ retryAfterCapSeconds: cap });
      const t = await s.task();
      s.callbacks.answer(t.taskId, answer(429, value));

      // Act
      await s.deliver(t);

      // Assess: called no sooner than had it sent no Retry-After at all
      expect(s.waits()).toEqual([wait]);
      expect(await s.attempts(t.taskId)).toBe(1);
    },
  );

  it.each([
    ["a delay under the backoff step", "3", 3],
    ["0 (retry at once)", "0", 0],
  ])("%s within the cap is the receiver's to ask for", async (_n, value, wait) => {
    // Prepare
    const s = setup({ retryAfterCapSeconds: 60 });
    const t = await s.task();
    s.callbacks.answer(t.taskId, answer(503, value));

    // Act
    await s.deliver(t);

    // Assess
    expect(s.waits()).toEqual([wait]);
  });

  it.each([
    "soon",
    // Date.parse would read these as dates in the past (2001, the year 120): "retry now" instead of the backoff
    "Mon 1",
    "Retry in 120",
  ])("an unreadable Retry-After (%s) falls back to the backoff step", async (value) => {
    // Prepare
    const s = setup({ retryAfterCapSeconds: 60 });
    const t = await s.task();
    s.callbacks.answer(t.taskId, answer(503, value));

    // Act
    await s.deliver(t);

    // Assess
    expect(s.waits()).toEqual([10]);
  });
});

describe("unprotected topics", () => {
  it("make no destination call at all", async () => {
    // Prepare
    const s = setup({});
    const calls: string[] = [];
    for (const method of [
      "getDestination",
      "takeRateToken",
      "acquireLease",
      "recordDestinationFailure",
    ] as const) {
      const original = s.store[method] as (...args: unknown[]) => unknown;
      (s.store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        calls.push(method);
        return original(...args);
      };
    }
    const [ok, failing] = [await s.task(), await s.task()];
    s.callbacks.answer(failing.taskId, HTTP(503));

    // Act
    await s.deliver(ok, failing);

    // Assess
    expect(calls).toEqual([]);
    expect(s.callbacks.requests).toHaveLength(2);
  });
});

describe("a callback host DNS cannot hold (a task accepted before the add refused such hosts)", () => {
  it("is keyed into no destination item: its attempt goes on, for the deliver's URL policy to refuse", async () => {
    // Prepare: DynamoDB refuses a key past its limits (a sort key over 1,024 bytes) with a ValidationException,
    // which here would fail every admission call, leave the attempt uncounted and retry the group without end.
    const s = setup({ rateLimit: 5, maxConcurrencyPerHost: 2, circuitFailureThreshold: 3 });
    const longHost = `${Array.from({ length: 20 }, () => "a".repeat(63)).join(".")}.example.com`;
    for (const method of ["getDestination", "takeRateToken", "acquireLease", "claimProbe"] as const) {
      const original = s.store[method] as (...args: unknown[]) => unknown;
      (s.store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        if (Buffer.byteLength(`demo#${String(args[1])}`) > 1024)
          throw Object.assign(new Error("key too large"), { name: "ValidationException" });
        return original(...args);
      };
    }
    const t = await s.task(longHost);

    // Act
    await s.deliver(t);

    // Assess
    expect(s.callbacks.calledFor()).toEqual([t.taskId]);
    expect(await s.attempts(t.taskId)).toBe(1);
  });
});

describe("a container's destination cache is bounded (ever new hosts cannot grow a deliver container's memory)", () => {
  it("keeps at most its cap of hosts: past it, the least recently used is read again, not kept for the container's life", async () => {
    // Prepare: a protected topic whose container remembers 3 hosts; a caller adds tasks to ever new hosts (a
    // wildcard allow-list admits any number of names, and the entry is made before the callback, DNS or not)
    const s = setup({ circuitFailureThreshold: 3 }, T0 + 100, new DestinationCache(3));
    const reads = vi.spyOn(s.store, "getDestination");
    const hosts = ["h0", "h1", "h2", "h3"].map((h) => `${h}.example.com`);
    await s.deliver(await s.task(hosts[0]));
    await s.deliver(await s.task(hosts[1]));
    await s.deliver(await s.task(hosts[0])); // a fresh hit: h0 is the most recently used again
    await s.deliver(await s.task(hosts[2]));
    await s.deliver(await s.task(hosts[3])); // past the cap: h1, the least recently used, is forgotten
    reads.mockClear();

    // Act: within the cache's 2 s, each host once more, the forgotten one last
    for (const host of [hosts[0], hosts[2], hosts[3], hosts[1]]) await s.deliver(await s.task(host));

    // Assess: only the forgotten host was read again; every task delivered in one attempt
    expect(reads.mock.calls.map(([, host]) => host)).toEqual([hosts[1]]);
    expect(s.callbacks.calledFor()).toHaveLength(9);
  });

  it(`forgets the least recently used host past ${DESTINATION_CACHE_MAX_HOSTS} by default (~600 B each were kept for good)`, () => {
    // Prepare
    const cache = new DestinationCache();
    const record = (host: string) => ({ topic: "demo", host, failures: 0, circuit: "closed" as const });

    // Act
    for (let i = 0; i <= DESTINATION_CACHE_MAX_HOSTS; i++)
      cache.remember("demo", `h${i}.example.com`, record(`h${i}`), T0);

    // Assess: the first is gone, the cap's worth after it stay
    expect(cache.peek("demo", "h0.example.com")).toBeUndefined();
    expect(cache.peek("demo", "h1.example.com")).toEqual(record("h1"));
    expect(cache.peek("demo", `h${DESTINATION_CACHE_MAX_HOSTS}.example.com`)).toBeDefined();
  });
});
