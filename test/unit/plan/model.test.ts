import { describe, expect, it } from "vitest";
import { bySortKey } from "#shared/domain/keys.js";
import { DEFAULT_CONFIG, withOverrides } from "../../../plan/config.js";
import {
  BARE_LOCAL_PROFILE,
  IN_SITU,
  inSituProfile,
  LOCAL_PROFILES,
  localProfile,
} from "../../../plan/local-profile.js";
import { batchLimit } from "../../../plan/model/event-source.js";
import { simulate } from "../../../plan/model/pipeline.js";
import { AWS_PROFILE, type Call, type CallCost, type Profile } from "../../../plan/model/profile.js";
import { createWorld } from "../../../plan/model/world.js";
import { deliverOnce, handProfile, LATENCY as L } from "./fakes.js";

const receivedInOrder = (run: ReturnType<typeof simulate>) =>
  run.table.all
    .slice()
    .sort((a, b) => bySortKey(a.key, b.key))
    .map((t) => t.receivedAtMs as number);

describe("the planner's model on workloads known by hand", () => {
  it("one task arrives one path after its due time: the relay waits out the early second, then Query, send, receive, start, half a callback", () => {
    // Prepare
    const workload = { burst: 1, groups: 1, delaySeconds: 5 };

    // Act
    const run = simulate(workload, DEFAULT_CONFIG, handProfile());

    // Assess
    const [task] = run.table.all;
    expect(task?.receivedAtMs).toBeDefined();
    const lateness = (task?.receivedAtMs as number) - (task?.key.dueAtMs as number);
    expect(lateness).toBe(L.ddbQuery + L.sqsSendBatch + L.sqsReceive + L.ddbUpdate + L.callback / 2);
  });

  it("a group of N in one batch is started up front and delivered one after another, in sort-key order, one callback apart", () => {
    // Prepare
    const workload = { burst: 5, groups: 1, delaySeconds: 5 };

    // Act
    const run = simulate(workload, DEFAULT_CONFIG, handProfile());

    // Assess
    const times = receivedInOrder(run);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(gaps).toEqual([1, 2, 3, 4].map(() => L.callback));
  });

  it("a burst bound by deliver concurrency grows linearly: each extra batch-pair of tasks adds one batch cycle", () => {
    // Prepare: two concurrent deliver batches of ten groups each; the relay is never the bottleneck.
    const config = withOverrides(DEFAULT_CONFIG, { eventSources: { deliver: { maxConcurrency: 2 } } });
    const last = (n: number) => {
      const run = simulate({ burst: n, groups: n, delaySeconds: 5 }, config, handProfile());
      return Math.max(...run.table.all.map((t) => (t.receivedAtMs as number) - t.key.dueAtMs));
    };

    // Act
    const [a, b, c] = [200, 400, 600].map(last) as [number, number, number];

    // Assess: 200 more tasks = 10 more cycles of two batches, each cycle batch read + batch start + callback +
    // finishing call + delete + receive.
    const cycle =
      L.ddbBatchGet +
      L.ddbBatchStatement +
      L.callback +
      L.ddbBatchStatement +
      L.sqsDeleteBatch +
      L.sqsReceive;
    expect(b - a).toBe(10 * cycle);
    expect(c - b).toBe(10 * cycle);
  });

  it("with an early wake the relay holds a batch and forwards each task in its own wave: one path after its own due time", () => {
    // Prepare: timers armed 2 s early, gathered for up to 1 s into batches of up to 50; ten tasks 100 ms apart.
    const config = withOverrides(DEFAULT_CONFIG, {
      eventSources: { earlyWakeSeconds: 2, relay: { batchSize: 50, maxBatchingWindowSeconds: 1 } },
    });
    const workload = { rate: 10, durationSeconds: 1, delaySeconds: 5, groups: 10 };

    // Act
    const run = simulate(workload, config, handProfile());

    // Assess: fewer relay invocations than tasks (batches span due times), yet no task waits for a later one.
    const path = L.ddbQuery + L.sqsSendBatch + L.sqsReceive + L.ddbUpdate + L.callback / 2;
    expect(run.functions.relay.invocations).toBeLessThan(10);
    expect(run.table.all.map((t) => (t.receivedAtMs as number) - t.key.dueAtMs)).toEqual(
      Array.from({ length: 10 }, () => path),
    );
  });

  it("an early-woken timer arrives the early wake before due and holds its relay invocation until then", () => {
    // Prepare
    const config = withOverrides(DEFAULT_CONFIG, { eventSources: { earlyWakeSeconds: 3 } });

    // Act
    const run = simulate({ burst: 1, groups: 1, delaySeconds: 10 }, config, handProfile());

    // Assess: the invocation spans the hold (about 3 s) and the task is still one path late, never early.
    const [task] = run.table.all;
    expect(run.functions.relay.billedMs).toBeGreaterThan(2_000);
    expect((task?.receivedAtMs as number) - (task?.key.dueAtMs as number)).toBe(
      L.ddbQuery + L.sqsSendBatch + L.sqsReceive + L.ddbUpdate + L.callback / 2,
    );
  });

  it("never delivers a task before its due time", () => {
    // Prepare
    const workload = { rate: 200, durationSeconds: 2, delaySeconds: 3, groups: 7 };

    // Act
    const run = simulate(workload, DEFAULT_CONFIG, handProfile());

    // Assess
    expect(run.table.all.every((t) => (t.receivedAtMs as number) >= t.key.dueAtMs)).toBe(true);
    expect(run.table.all).toHaveLength(400);
  });
});

describe("deliver's DynamoDB calls per batch (shared/services/deliver/up-front.ts)", () => {
  it("a batch of ten makes three DynamoDB calls: one BatchGetItem, two BatchExecuteStatement; 20 WRU, 10 RRU", () => {
    // Act
    const { usage, doneAt, table } = deliverOnce(10, 10);

    // Assess
    expect(usage.calls).toMatchObject({
      ddbBatchGet: 1,
      ddbBatchStatement: 2,
      ddbUpdate: 0,
      ddbGet: 0,
      callback: 10,
    });
    expect({ wru: usage.wru, rru: usage.rru }).toEqual({ wru: 20, rru: 10 });
    expect(table.all.every((t) => t.status === "delivered")).toBe(true);
    // Groups side by side (deliverGroupConcurrency ≥ 10): read, start, one callback, finish.
    expect(DEFAULT_CONFIG.deliverGroupConcurrency).toBeGreaterThanOrEqual(10);
    expect(doneAt).toBe(L.ddbBatchGet + L.ddbBatchStatement + L.callback + L.ddbBatchStatement);
  });

  it("a batch of one takes the per-record start (one UpdateItem) and the finishing call: two DynamoDB calls, 2 WRU, no read", () => {
    // Act
    const { usage, received, doneAt } = deliverOnce(1, 1);

    // Assess
    expect(usage.calls).toMatchObject({ ddbBatchGet: 0, ddbBatchStatement: 1, ddbUpdate: 1, callback: 1 });
    expect({ wru: usage.wru, rru: usage.rru }).toEqual({ wru: 2, rru: 0 });
    expect(received).toEqual([L.ddbUpdate + L.callback / 2]);
    expect(doneAt).toBe(L.ddbUpdate + L.callback + L.ddbBatchStatement);
  });

  it("a group's records started up front call back one after another, one callback apart", () => {
    // Act
    const { received } = deliverOnce(4, 1);

    // Assess
    const first = L.ddbBatchGet + L.ddbBatchStatement + L.callback / 2;
    expect(received).toEqual([0, 1, 2, 3].map((k) => first + k * L.callback));
  });

  it("a follower that waited a second or more since the batch's start reads its task again before its callback: one GetItem, 1 RRU, its latency", () => {
    // Prepare: one group of ten behind receivers answering in 250 ms. The batch starts once its read has answered
    // (up-front.ts reads the clock between the read and the start write); follower k's turn comes the start write
    // and k callbacks later, plus the reads before it: the fourth (k = 4) has waited 29 + 1,000 ms, the third 779.
    const callbackMs = 250;
    const profile = handProfile();
    const slow = {
      ...profile,
      calls: { ...profile.calls, callback: { ...profile.calls.callback, latencyMs: callbackMs } },
    };

    // Act
    const { usage, received } = deliverOnce(10, 1, slow);

    // Assess
    expect(usage.calls).toMatchObject({ ddbBatchGet: 1, ddbGet: 6, callback: 10 });
    expect(usage.rru).toBe(10 + 6);
    const first = L.ddbBatchGet + L.ddbBatchStatement + callbackMs / 2;
    const readsBy = (k: number) => Math.max(0, k - 3);
    expect(received).toEqual(
      Array.from({ length: 10 }, (_, k) => first + k * callbackMs + readsBy(k) * L.ddbGet),
    );
  });

  it("a group of ten whose receivers answer in the assumed round trip reads nothing again: its last follower waits under a second", () => {
    // Act
    const hand = deliverOnce(10, 1);
    const aws = deliverOnce(10, 1, AWS_PROFILE);

    // Assess
    expect([hand.usage.calls.ddbGet, aws.usage.calls.ddbGet]).toEqual([0, 0]);
    expect([hand.usage.rru, aws.usage.rru]).toEqual([10, 10]);
  });
});

describe("the local profile's thread layout", () => {
  it("charges the functions and the pollers to the main thread and the calls' service side to the emulators' thread, as the default local cloud runs them", () => {
    // Prepare
    const workload = { burst: 50, groups: 5, delaySeconds: 2 };

    // Act
    const run = simulate(workload, DEFAULT_CONFIG, localProfile(workload));

    // Assess
    const busy = Object.fromEntries(
      Object.entries(run.world.threads ?? {}).map(([name, thread]) => [name, thread.busyMs > 0]),
    );
    expect(busy).toEqual({ main: true, emulators: true, functionHost: false, deliverHost: false });
    expect(process.env.PUNCTUAL_LOCAL_FUNCTION_HOSTS).not.toBe("1");
    for (const profile of Object.values(LOCAL_PROFILES))
      expect(profile.cpu?.functionThreads).toEqual({ add: "main", relay: "main", deliver: "main" });
  });
});

describe("what a local call costs", () => {
  /** Two cores at full speed: a thread's busy time is the CPU it was charged. */
  const cpuProfile = (cost: Partial<CallCost>, sites: Profile["callSites"] = {}): Profile => {
    const base = handProfile();
    const calls = Object.fromEntries(
      Object.keys(base.calls).map((name) => [
        name,
        { latencyMs: 0, clientCpuMs: 0, serverCpuMs: 0, ...cost },
      ]),
    ) as Record<Call, CallCost>;
    return {
      ...base,
      calls,
      callSites: sites,
      cpu: { machineCores: 2, functionThreads: { add: "main", relay: "main", deliver: "main" } },
    };
  };
  const world = (profile: Profile) => createWorld(profile, DEFAULT_CONFIG, { startMs: 0 });

  it("charges a batch call its fixed part plus its per-entry part for each entry", () => {
    // Prepare
    const w = world(
      cpuProfile({
        clientCpuMs: 1,
        serverCpuMs: 2,
        perEntry: { clientCpuMs: 0.5, serverCpuMs: 0.25, helperCpuMs: 0 },
      }),
    );

    // Act
    w.call("sqsSendBatch", () => undefined, "main", { entries: 10 });
    w.sim.run();

    // Assess
    expect(w.threads?.main.busyMs).toBe(1 + 10 * 0.5);
    expect(w.threads?.emulators.busyMs).toBe(2 + 10 * 0.25);
  });

  it("charges a receive's messages once the answer says how many came", () => {
    // Prepare
    const w = world(
      cpuProfile({
        clientCpuMs: 1,
        serverCpuMs: 2,
        perEntry: { clientCpuMs: 0.5, serverCpuMs: 0.25, helperCpuMs: 0 },
      }),
    );

    // Act
    w.call("sqsReceive", () => w.entries("sqsReceive", 4, () => undefined), "main", { entries: 0 });
    w.sim.run();

    // Assess
    expect(w.threads?.main.busyMs).toBe(1 + 4 * 0.5);
    expect(w.threads?.emulators.busyMs).toBe(2 + 4 * 0.25);
  });

  it("prices a call site on its own when the profile does, and the operation otherwise", () => {
    // Prepare
    const site = { latencyMs: 0, clientCpuMs: 3, serverCpuMs: 7 };
    const w = world(cpuProfile({ clientCpuMs: 1, serverCpuMs: 1 }, { startAttempt: site }));

    // Act
    w.call("ddbUpdate", () => undefined, "main", { site: "startAttempt" });
    w.call("ddbUpdate", () => undefined, "main", { site: "markQueued" });
    w.sim.run();

    // Assess
    expect(w.threads?.main.busyMs).toBe(3 + 1);
    expect(w.threads?.emulators.busyMs).toBe(7 + 1);
    expect(w.usage.calls.ddbUpdate).toBe(2);
  });

  it("prices deliver's batch statements per statement at their call site", () => {
    // Prepare
    const perEntry = { clientCpuMs: 0.5, serverCpuMs: 0.25, helperCpuMs: 0 };
    const start = { latencyMs: 0, clientCpuMs: 2, serverCpuMs: 4, perEntry };
    const w = world(cpuProfile({ clientCpuMs: 1, serverCpuMs: 1 }, { batchStart: start }));

    // Act
    w.call("ddbBatchStatement", () => undefined, "main", { site: "batchStart", entries: 10 });
    w.sim.run();

    // Assess
    expect(w.threads?.main.busyMs).toBe(2 + 10 * 0.5);
    expect(w.threads?.emulators.busyMs).toBe(4 + 10 * 0.25);
    expect(w.usage.calls.ddbBatchStatement).toBe(1);
  });

  it("spreads a kind's warm-up over its first calls only", () => {
    // Prepare
    const warmUp = { calls: 4, clientCpuMs: 8, serverCpuMs: 0, helperCpuMs: 0 };
    const w = world(cpuProfile({ clientCpuMs: 1, warmUp }));

    // Act
    for (let i = 0; i < 6; i++) w.call("ddbPut", () => undefined);
    w.sim.run();

    // Assess
    expect(w.threads?.main.busyMs).toBe(6 * 1 + 8);
  });

  it("charges the helpers' CPU to a core without holding up the caller", () => {
    // Prepare
    const w = world(cpuProfile({ clientCpuMs: 1, helperCpuMs: 5 }));
    let answeredAt = Number.NaN;

    // Act
    w.call("ddbPut", () => {
      answeredAt = w.sim.now;
    });
    w.sim.run();

    // Assess: the helpers' 5 ms took one core, the caller's 1 ms the other; the answer did not wait for them.
    expect(answeredAt).toBe(1);
    expect(w.threads?.main.busyMs).toBe(1);
  });
});

describe("batchLimit (event source concurrency)", () => {
  const behaviour = AWS_PROFILE.eventSources;

  it("starts a default-mode mapping at five batches and adds 300 a minute up to 1,250", () => {
    expect(batchLimit(behaviour, { batchSize: 10, queueKind: "standard" }, 0)).toBe(5);
    expect(batchLimit(behaviour, { batchSize: 10, queueKind: "standard" }, 60_000)).toBe(305);
    expect(batchLimit(behaviour, { batchSize: 10, queueKind: "standard" }, 600_000)).toBe(1_250);
  });

  it("starts provisioned mode at its minimum pollers' batches and caps by MaximumConcurrency", () => {
    const provisioned = {
      batchSize: 10,
      queueKind: "standard" as const,
      provisionedPollers: { min: 20, max: 100 },
    };
    expect(batchLimit(behaviour, provisioned, 0)).toBe(200);
    expect(batchLimit(behaviour, provisioned, 3_600_000)).toBe(1_000);
    expect(batchLimit(behaviour, { batchSize: 10, queueKind: "fifo", maxConcurrency: 50 }, 3_600_000)).toBe(
      50,
    );
  });
});

describe("the local profile's in-situ factors", () => {
  it("multiply each call's CPU by its thread's factor — caller, emulators, helpers, per entry and warm-up — and leave latencies and the rest alone", () => {
    // Prepare
    const factor = { main: 1.5, emulators: 2, helpers: 3 };
    const bare = BARE_LOCAL_PROFILE;

    // Act
    const scaled = inSituProfile(bare, factor);

    // Assess
    const query = bare.calls.ddbQuery;
    expect(scaled.calls.ddbQuery).toEqual({
      latencyMs: query.latencyMs,
      clientCpuMs: query.clientCpuMs * 1.5,
      serverCpuMs: query.serverCpuMs * 2,
      helperCpuMs: (query.helperCpuMs ?? 0) * 3,
      perEntry: {
        clientCpuMs: (query.perEntry?.clientCpuMs ?? 0) * 1.5,
        serverCpuMs: (query.perEntry?.serverCpuMs ?? 0) * 2,
        helperCpuMs: (query.perEntry?.helperCpuMs ?? 0) * 3,
      },
      warmUp: {
        calls: query.warmUp?.calls,
        clientCpuMs: (query.warmUp?.clientCpuMs ?? 0) * 1.5,
        serverCpuMs: (query.warmUp?.serverCpuMs ?? 0) * 2,
        helperCpuMs: (query.warmUp?.helperCpuMs ?? 0) * 3,
      },
    });
    expect(scaled.callSites?.batchStart?.serverCpuMs).toBe(
      (bare.callSites?.batchStart?.serverCpuMs ?? 0) * 2,
    );
    expect(scaled.perTaskCpuMs.deliver).toBe(bare.perTaskCpuMs.deliver * 1.5);
    expect(scaled.invocationCpuMs.relay).toBe(bare.invocationCpuMs.relay * 1.5);
    expect({
      ...scaled,
      calls: undefined,
      callSites: undefined,
      perTaskCpuMs: undefined,
      invocationCpuMs: undefined,
    }).toEqual({
      ...bare,
      calls: undefined,
      callSites: undefined,
      perTaskCpuMs: undefined,
      invocationCpuMs: undefined,
    });
  });

  it("are what the planner predicts with, those of the workload's shape: a burst's for a burst, a steady rate's for a rate", () => {
    // Prepare
    const burst = { burst: 3_000, groups: 300, delaySeconds: 13 };
    const rate = { rate: 1_000, durationSeconds: 6, delaySeconds: 5, groups: 1_000 };

    // Act
    const profiles = { burst: localProfile(burst), rate: localProfile(rate) };

    // Assess
    expect(profiles.burst).toEqual(inSituProfile(BARE_LOCAL_PROFILE, IN_SITU.factorByShape.burst));
    expect(profiles.rate).toEqual(inSituProfile(BARE_LOCAL_PROFILE, IN_SITU.factorByShape.rate));
  });

  it("times the host's speed when a run measured one: every call's CPU on a thread times that thread's speed", () => {
    const rate = { rate: 1_000, durationSeconds: 6, delaySeconds: 5, groups: 1_000 };
    const speed = { main: 0.9, emulators: 1.1, helpers: 0.8 };
    const f = IN_SITU.factorByShape.rate;

    const profile = localProfile(rate, speed);

    expect(profile).toEqual(
      inSituProfile(BARE_LOCAL_PROFILE, {
        main: f.main * 0.9,
        emulators: f.emulators * 1.1,
        helpers: f.helpers * 0.8,
      }),
    );
  });

  it("of each shape are its calibration workload's measured ÷ modelled CPU per task, per thread", () => {
    for (const workload of IN_SITU.workloads) {
      const factor = IN_SITU.factorByShape[workload.shape];
      for (const thread of ["main", "emulators", "helpers"] as const)
        expect(factor[thread]).toBeCloseTo(workload.measured[thread] / workload.modelled[thread], 2);
    }
    expect(IN_SITU.workloads.map((w) => w.shape).sort()).toEqual(["burst", "rate"]);
  });
});
