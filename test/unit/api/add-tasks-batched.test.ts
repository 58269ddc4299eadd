import { randomUUID } from "node:crypto";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from "vitest";
import type {
  IdempotencyClaim,
  IdempotencyOutcome,
  NewTaskEntry,
  PutManyFailure,
} from "#shared/adapters/task-store.js";
import { SqsTimerQueue } from "#shared/adapters/timer-queue.js";
import { parseConfig } from "#shared/config/index.js";
import { sweepShardOf } from "#shared/domain/sweep.js";
import {
  addTask,
  CLEAN_UP_CALL_RESERVE_MS,
  CLEAN_UP_RESERVE_MS,
  FOLLOW_UP_CALL_MS,
} from "#shared/services/add-task.js";
import { addTasksBatch } from "#shared/services/add-tasks-batch.js";
import { ARMING_RESERVE_MS } from "#shared/services/add-tasks-batched.js";
import { recordCleanUpCalls } from "../../support/clean-up-calls.js";
import { fakeSqs } from "../../support/fakes/sqs-client.js";
import { hungWrite } from "../../support/hung-write.js";
import { afterRoundTrip, hangs, invocation } from "../../support/invocation.js";
import { fixture, NOW } from "./fakes.js";

/**
 * The batched path of POST /v1/tasks/batch (issue 13, point 3): items without a key on topics without subscribers
 * are written in one batch write and armed in one batch arm; every other item keeps the single add's path.
 */
const item = (extra: Record<string, unknown> = {}) => ({
  topic: "demo",
  delay_seconds: 10,
  content: { order_id: `o-${randomUUID()}` },
  callback: { url: "https://hooks.example.com/notify" },
  ...extra,
});
const keyed = (extra: Record<string, unknown> = {}) =>
  item({ idempotency_key: `k-${randomUUID()}`, ...extra }) as ReturnType<typeof item> & {
    idempotency_key: string;
  };

/**
 * An invocation whose time left stands still 50 ms above the batch writes' deadline (the arms' own, the clean-up's
 * reserve, plus the arming reserve): a hung write is given up 50 ms into the add, and the arms after it in time.
 */
const WRITES_GIVEN_UP_IN_50_MS = { timeLeftMs: () => CLEAN_UP_RESERVE_MS + ARMING_RESERVE_MS + 50 };

/** The clock a second on with every single task write (both requests of a race share it): as in time. */
function clockMovingOnWrites(f: ReturnType<typeof batchFixture>): void {
  const putNew = f.store.putNew;
  f.store.putNew = async (task, options) => {
    f.clock.now += 1_000;
    return putNew(task, options);
  };
}

/** Three keyed items of one group, due the same second, the middle one's key holding an expired claim. */
function groupWithExpiredMiddleClaim(f: ReturnType<typeof batchFixture>) {
  f.store.nowSeconds = () => NOW / 1000;
  const group = `o-${randomUUID()}`;
  const tasks = [0, 1, 2].map((seq) => keyed({ content: { order_id: group, seq } }));
  f.store.idempotency.set(`demo#${tasks[1]?.idempotency_key}`, {
    topic: "demo",
    key: tasks[1]?.idempotency_key as string,
    taskId: "demo#_stale#0000000000000#01KAS0000000000000000000000",
    requestHash: "another request",
    expiresAt: NOW / 1000 - 1,
  });
  return tasks;
}

/** The usual fixture, plus a fan-out topic, counting the store's single and batch writes in order. */
function batchFixture() {
  const f = fixture();
  const config = parseConfig({
    name: "test",
    system: { allowedCallbackHosts: ["*"], allowHttpCallbacks: false },
    timer: { horizonSeconds: 300, leadSeconds: 120 },
    topics: {
      demo: { deliverBy: "order_id" },
      plain: {},
      orders: {
        deliverBy: "order_id",
        subscribers: [{ id: "billing", url: "https://billing.example.com/h" }],
      },
    },
  });
  const events: string[] = [];
  const batchWrites: NewTaskEntry[][] = [];
  const batchInserts: NewTaskEntry[][] = [];
  const claimCalls: IdempotencyClaim[][] = [];
  const putNew = f.store.putNew.bind(f.store);
  const putNewMany = f.store.putNewMany.bind(f.store);
  const insertNewMany = f.store.insertNewMany.bind(f.store);
  const claimIdempotencyKeys = f.store.claimIdempotencyKeys.bind(f.store);
  const claimIdempotencyKey = f.store.claimIdempotencyKey.bind(f.store);
  f.store.insertNewMany = async (entries) => {
    events.push("insertNewMany");
    batchInserts.push([...entries]);
    return insertNewMany(entries);
  };
  f.store.claimIdempotencyKeys = async (claims) => {
    events.push("claimIdempotencyKeys");
    claimCalls.push([...claims]);
    return claimIdempotencyKeys(claims);
  };
  f.store.claimIdempotencyKey = async (claim) => {
    events.push("claimIdempotencyKey");
    return claimIdempotencyKey(claim);
  };
  const removed: string[] = [];
  const removeScheduled = f.store.removeScheduled.bind(f.store);
  f.store.putNew = async (task, options) => {
    events.push("putNew");
    return putNew(task, options);
  };
  f.store.putNewMany = async (entries) => {
    events.push("putNewMany");
    batchWrites.push([...entries]);
    return putNewMany(entries);
  };
  f.store.removeScheduled = async (taskId) => {
    removed.push(taskId);
    return removeScheduled(taskId);
  };
  const armMany = f.timerQueue.armMany.bind(f.timerQueue);
  f.timerQueue.armMany = async (items) => {
    events.push("armMany");
    return armMany(items);
  };
  const errors: string[] = [];
  const deps = { ...f.deps, config, onError: (message: string) => errors.push(message) };
  return { ...f, config, deps, events, batchWrites, batchInserts, claimCalls, removed, errors };
}

describe("addTasksBatch: the batched path", () => {
  it("writes 100 plain items in one batch write, then arms them in one batch arm, all answered 201", async () => {
    // Prepare
    const f = batchFixture();
    const tasks = Array.from({ length: 100 }, () => item());

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(answer).toMatchObject({ added: 100, failed: 0 });
    expect(f.batchWrites.map((call) => call.length)).toEqual([100]);
    expect(f.events).toEqual(["putNewMany", "armMany"]);
    expect(f.timerQueue.armed.map((a) => a.taskId).sort()).toEqual(
      answer.results.map((r) => r.task_id).sort(),
    );
    for (const [i, result] of answer.results.entries()) {
      expect(result).toMatchObject({ status: 201, topic: "demo", task_status: "scheduled" });
      const stored = await f.store.get(result.task_id ?? "");
      expect(stored?.content).toBe(JSON.stringify(tasks[i]?.content));
      expect(stored?.sweepShard).toBeUndefined();
    }
  });

  it("sends fan-out items and refused items the single add's way; plain and keyed items in batches", async () => {
    // Prepare
    const f = batchFixture();
    const keyedItem = keyed();
    const tasks = [
      item(),
      keyedItem,
      { topic: "orders", delay_seconds: 10, content: { order_id: "o-1" } },
      item({ topic: "nope" }),
      item(),
    ];

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual([201, 201, 201, 400, 201]);
    expect(answer.results[2]?.subscribers).toHaveLength(1);
    expect(f.batchWrites.map((call) => call.map((e) => e.task.taskId))).toEqual([
      [answer.results[0]?.task_id, answer.results[4]?.task_id],
    ]);
    expect(f.batchInserts.map((call) => call.map((e) => e.task.taskId))).toEqual([
      [answer.results[1]?.task_id],
    ]);
    expect(f.claimCalls.map((call) => call.map((c) => c.key))).toEqual([[keyedItem.idempotency_key]]);
    expect(f.events.filter((e) => e === "putNew").length).toBeGreaterThanOrEqual(1);
  });

  it("keeps a whole group on the single add's path when one of its items shares its key with another item", async () => {
    // Prepare: the group's second item and a groupless item carry one key (different bodies)
    const f = batchFixture();
    const group = `o-${randomUUID()}`;
    const shared = `k-${randomUUID()}`;
    const tasks = [
      item({ content: { order_id: group, seq: 0 } }),
      item({ idempotency_key: shared, content: { order_id: group, seq: 1 } }),
      item({ idempotency_key: shared, content: { seq: 2 } }),
    ];

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess: both lanes item by item, as before; the key's second claim meets the first (409)
    expect(answer.results.map((r) => r.status).sort()).toEqual([201, 201, 409]);
    expect(answer.results[0]?.status).toBe(201);
    expect(f.batchWrites).toEqual([]);
    expect(f.claimCalls).toEqual([]);
    expect(f.events.filter((e) => e === "putNew")).toHaveLength(2);
    expect(f.events.filter((e) => e === "claimIdempotencyKey")).toHaveLength(2);
  });

  it("mints a group's ids in request order and arms no timer before every write has returned", async () => {
    // Prepare: two groups interleaved, all due the same second
    const f = batchFixture();
    const [a, b] = [`a-${randomUUID()}`, `b-${randomUUID()}`];
    const tasks = Array.from({ length: 60 }, (_, i) =>
      item({ content: { order_id: i % 2 ? a : b, seq: i } }),
    );

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess: ids (whose sort keys order the group) ascend in request order within each group
    const stored = await Promise.all(answer.results.map((r) => f.store.get(r.task_id ?? "")));
    for (const group of [a, b]) {
      const sks = stored.filter((t) => t?.groupValue === group).map((t) => t?.sk ?? "");
      expect(sks).toHaveLength(30);
      expect([...sks].sort()).toEqual(sks);
    }
    expect(f.events).toEqual(["putNewMany", "armMany"]);
  });

  it("answers 503 for unprocessed and failed writes, removes the perhaps-written ones, and arms only the rest", async () => {
    // Prepare: of four items, the 2nd stays unprocessed and the 3rd's call failed (perhaps written)
    const f = batchFixture();
    const putNewMany = f.store.putNewMany;
    f.store.putNewMany = async (entries) => {
      await putNewMany(entries);
      const ids = entries.map((e) => e.task.taskId);
      return [
        { taskId: ids[1], maybeWritten: false },
        { taskId: ids[2], maybeWritten: true },
      ] as PutManyFailure[];
    };
    const tasks = [item(), item(), item(), item()];

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual([201, 503, 503, 201]);
    expect(answer.results[1]?.error).toMatchObject({ code: "service_unavailable" });
    expect(f.removed).toHaveLength(1);
    expect(f.timerQueue.armed.map((a) => a.taskId)).toEqual([
      answer.results[0]?.task_id,
      answer.results[3]?.task_id,
    ]);
    expect(f.errors.filter((m) => m.startsWith("writing a batch item failed"))).toHaveLength(2);
  });

  it("answers 503 for an item whose batch arm entry failed and removes it; the others stay 201", async () => {
    // Prepare
    const f = batchFixture();
    f.timerQueue.failNext = 1;
    const tasks = [item(), item(), item()];

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual([503, 201, 201]);
    expect(answer.results[0]?.task_id).toBeUndefined();
    const written = f.batchWrites[0]?.map((e) => e.task.taskId) ?? [];
    expect(f.removed).toEqual([written[0]]);
    expect([...f.store.tasks.keys()].sort()).toEqual(written.slice(1).sort());
    expect(f.timerQueue.armed.map((a) => a.taskId)).toEqual(written.slice(1));
  });

  it("answers 201 for an item whose timer message went out though its batch call failed, and fired before the removal", async () => {
    // Prepare: SQS took the batch, its answer was lost; the relay and deliver started the first item meanwhile
    const f = batchFixture();
    f.timerQueue.armMany = async (items) => {
      const first = f.store.tasks.get(items[0]?.taskId ?? "");
      if (first) f.store.tasks.set(first.taskId, { ...first, status: "delivering", attempts: 1 });
      return items.map((i) => i.taskId);
    };
    const tasks = [item({ delay_seconds: 0 }), item({ delay_seconds: 0 })];

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess: the started one was accepted (201, kept); the other is removed (503, not accepted)
    expect(answer.results.map((r) => r.status)).toEqual([201, 503]);
    expect([...f.store.tasks.values()].map((t) => [t.taskId, t.status])).toEqual([
      [answer.results[0]?.task_id, "delivering"],
    ]);
    // ...and answered with the status it really has, not `scheduled`
    expect(answer.results[0]?.task_status).toBe("delivering");
  });

  it("aborts a task write it gave up near the deadline, so it is not sent again after the clean-up", async () => {
    // Prepare: the batch write hangs (a dead connection); the SDK would send it again later unless aborted
    const f = batchFixture();
    const write = hungWrite(f.store.putNewMany.bind(f.store));
    f.store.putNewMany = write.hung;
    const deps = { ...f.deps, ...WRITES_GIVEN_UP_IN_50_MS };

    // Act
    const answer = await addTasksBatch(deps, { tasks: [item({ delay_seconds: 3_600 }), item()] });
    await write.sentAgain();

    // Assess: both answered 503 "not accepted", and nothing of them is left for the sweeper to deliver
    expect(answer.results.map((r) => r.status)).toEqual([503, 503]);
    expect(f.store.tasks.size).toBe(0);
  });

  it("cleans nothing up when its writes were due past their deadline and never sent", async () => {
    // Prepare: the invocation is already at the writes' deadline (the steps before them ran late)
    const f = batchFixture();
    const calls = recordCleanUpCalls(f.store);
    const deps = { ...f.deps, timeLeftMs: () => CLEAN_UP_RESERVE_MS + ARMING_RESERVE_MS };

    // Act
    const answer = await addTasksBatch(deps, { tasks: [item(), item({ delay_seconds: 3_600 }), item()] });

    // Assess: each item refused, and no removal or index entry for writes that never left
    expect(answer.results.map((r) => r.status)).toEqual([503, 503, 503]);
    expect(f.store.tasks.size).toBe(0);
    expect(calls).toEqual([]);
  });

  it("keeps the items whose timers were sent when another timer batch hangs past the deadline", async () => {
    // Prepare: 13 items arm in two SendMessageBatch calls; the second never answers (a dropped connection)
    vi.useFakeTimers();
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const f = batchFixture();
    const { client, sent } = fakeSqs((_, i) => (i === 1 ? new Promise(() => undefined) : { Failed: [] }));
    const { timeLeftMs } = invocation(10_000);
    const deps = { ...f.deps, timerQueue: new SqsTimerQueue(client, "https://sqs.local/timer"), timeLeftMs };
    const tasks = Array.from({ length: 13 }, () => item());

    // Act
    const added = addTasksBatch(deps, { tasks });
    await vi.advanceTimersByTimeAsync(10_000);
    const answer = await added;

    // Assess: the first ten are accepted and kept; the hung batch's three are refused and removed
    expect(answer.results.map((r) => r.status)).toEqual([...Array(10).fill(201), 503, 503, 503]);
    expect(sent).toHaveLength(2);
    const written = f.batchWrites[0]?.map((e) => e.task.taskId) ?? [];
    expect(f.removed.sort()).toEqual(written.slice(10).sort());
    expect([...f.store.tasks.keys()].sort()).toEqual(written.slice(0, 10).sort());
  });

  it("keeps the items written when another write call hangs past the deadline", async () => {
    // Prepare: the store writes the first 25 (one call) and its second call hangs until given up
    const f = batchFixture();
    const putNewMany = f.store.putNewMany.bind(f.store);
    f.store.putNewMany = async (entries, options) => {
      await putNewMany(entries.slice(0, 25));
      await new Promise((resolve) => options?.signal?.addEventListener("abort", resolve));
      return entries.slice(25).map((e) => ({ taskId: e.task.taskId, maybeWritten: true }));
    };
    const deps = { ...f.deps, ...WRITES_GIVEN_UP_IN_50_MS };
    const tasks = Array.from({ length: 30 }, () => item());

    // Act
    const answer = await addTasksBatch(deps, { tasks });

    // Assess: 25 accepted and armed; the hung call's five refused, and nothing of them left behind
    expect(answer.results.map((r) => r.status)).toEqual([...Array(25).fill(201), ...Array(5).fill(503)]);
    expect(f.timerQueue.armed).toHaveLength(25);
    expect(f.store.tasks.size).toBe(25);
  });

  it("arms the items written when another write call hangs past the deadline, as the invocation's time runs out", async () => {
    // Prepare: the first 25 are written, the second call hangs until given up; the invocation's time runs down
    // with the clock, and each SendMessageBatch takes a network round trip to answer
    const f = batchFixture();
    const putNewMany = f.store.putNewMany.bind(f.store);
    f.store.putNewMany = async (entries, options) => {
      await putNewMany(entries.slice(0, 25));
      await new Promise((resolve) => options?.signal?.addEventListener("abort", resolve));
      return entries.slice(25).map((e) => ({ taskId: e.task.taskId, maybeWritten: true }));
    };
    const { client, sent } = fakeSqs(
      () => new Promise((resolve) => setTimeout(() => resolve({ Failed: [] }), 10)),
    );
    const deadline = Date.now() + CLEAN_UP_RESERVE_MS + 1_100;
    const deps = {
      ...f.deps,
      timerQueue: new SqsTimerQueue(client, "https://sqs.local/timer"),
      timeLeftMs: () => deadline - Date.now(),
    };
    const tasks = Array.from({ length: 30 }, () => item());

    // Act
    const answer = await addTasksBatch(deps, { tasks });

    // Assess: the 25 written are armed and accepted (not removed for want of time to arm them); the hung five
    // are refused and removed
    expect(answer.results.map((r) => r.status)).toEqual([...Array(25).fill(201), ...Array(5).fill(503)]);
    const armed = sent.flatMap((call) =>
      (call.input.Entries as { MessageBody: string }[]).map((e) => e.MessageBody),
    );
    expect(armed).toHaveLength(25);
    expect(f.store.tasks.size).toBe(25);
  });

  it("arms 100 items on one deadline signal without Node's listener-leak warning", async () => {
    // Prepare: ten SendMessageBatch calls side by side on the step's signal, each listened to by the adapter and,
    // as the SDK's request handler and the local transport do, by the transport until it answers
    const f = batchFixture();
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on("warning", onWarning);
    const sqs = {
      send: async (_command: unknown, options?: { abortSignal?: AbortSignal }) => {
        const onAbort = () => undefined;
        options?.abortSignal?.addEventListener("abort", onAbort, { once: true });
        await new Promise((resolve) => setTimeout(resolve, 1));
        options?.abortSignal?.removeEventListener("abort", onAbort);
        return { Failed: [] };
      },
    } as unknown as SQSClient;
    const deps = {
      ...f.deps,
      timerQueue: new SqsTimerQueue(sqs, "https://sqs.local/timer"),
      timeLeftMs: () => 10_000,
    };

    // Act
    const answer = await addTasksBatch(deps, { tasks: Array.from({ length: 100 }, () => item()) });
    await new Promise((resolve) => setImmediate(resolve));
    process.off("warning", onWarning);

    // Assess: all armed, and no "possible EventTarget memory leak" in the function's log
    expect(answer).toMatchObject({ added: 100 });
    expect(warnings).not.toContain("MaxListenersExceededWarning");
  });

  it("leaves an unarmed item to the sweeper when its removal fails too", async () => {
    // Prepare
    const f = batchFixture();
    f.timerQueue.failNext = 1;
    f.store.removeScheduled = async () => {
      throw new Error("DynamoDB unavailable");
    };
    const tasks = [item()];

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual([503]);
    const kept = await f.store.get(f.batchWrites[0]?.[0]?.task.taskId ?? "");
    expect(kept?.sweepShard).toBe(sweepShardOf(kept?.taskId ?? ""));
    expect(f.errors).toContain("removing an unaccepted batch item failed");
  });

  it("arms Scheduler-path items with one schedule each and answers 503 for the one that could not be created", async () => {
    // Prepare: beyond the 300 s horizon, so the timer is a one-time schedule
    const f = batchFixture();
    const tasks = [item({ delay_seconds: 3_000 }), item({ delay_seconds: 3_000 })];
    let calls = 0;
    const create = f.scheduler.createTaskSchedule.bind(f.scheduler);
    f.scheduler.createTaskSchedule = async (request) => {
      if (++calls === 2) throw new Error("throttled");
      return create(request);
    };

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(answer.results.map((r) => r.status).sort()).toEqual([201, 503]);
    expect(f.scheduler.created).toHaveLength(1);
    expect(f.timerQueue.armed).toEqual([]);
    expect(f.store.tasks.size).toBe(1);
    const kept = [...f.store.tasks.values()][0];
    expect(kept?.sweepShard).toBe(sweepShardOf(kept?.taskId ?? ""));
    expect(kept?.taskId).toBe(f.scheduler.created[0]?.taskId);
  });
});

/**
 * The batch's clean-up after a call it gave up on (a removal, its read, an index entry) under a degraded table: the
 * items are answered before the route's early answer (a 503 "retry" for the whole request, which would cover items
 * already answered 201 — written and armed, so delivered — and have a client without keys add them twice).
 */
describe("addTasksBatch: its clean-up hangs", () => {
  const TIME_LEFT_MS = 10_000;
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Three Scheduler-path items; the second one's CreateSchedule never answers (given up near the deadline). */
  function secondArmHangs(f: ReturnType<typeof batchFixture>) {
    const create = f.scheduler.createTaskSchedule.bind(f.scheduler);
    let calls = 0;
    f.scheduler.createTaskSchedule = (request) => (++calls === 2 ? hangs() : create(request));
  }

  it.each([
    // The given-up item's conditional delete never answers either
    { hung: "removeScheduled", kind: "plain", logged: "removing an unaccepted batch item failed" },
    // Keyed items: the given-up one is kept for its retry and put in the sweep index, which never answers
    { hung: "enterSweepIndex", kind: "keyed", logged: "indexing an unarmed task for the sweeper failed" },
  ] as const)(
    "answers the armed items 201 and the given-up $kind one 503 before the route's early answer when its $hung hangs",
    async ({ hung, kind, logged }) => {
      // Prepare
      const f = batchFixture();
      secondArmHangs(f);
      let cleanUp: AbortSignal | undefined;
      f.store[hung] = (_taskId: string, options?: { signal?: AbortSignal }) => {
        cleanUp = options?.signal;
        return hangs();
      };
      const { timeLeftMs, earlyAnswer } = invocation(TIME_LEFT_MS);
      const tasks = [0, 1, 2].map(() => (kind === "keyed" ? keyed : item)({ delay_seconds: 3_000 }));

      // Act
      const answer = Promise.race([addTasksBatch({ ...f.deps, timeLeftMs }, { tasks }), earlyAnswer]);
      await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

      // Assess: the items answered, not the route's 503; the clean-up given up as a failed one, and aborted
      const outcome = await answer;
      expect(outcome).not.toBe("early answer");
      expect(outcome === "early answer" ? [] : outcome.results.map((r) => r.status)).toEqual([201, 503, 201]);
      expect(f.errors).toContain(logged);
      expect(cleanUp?.aborted).toBe(true);
    },
  );

  it("leaves the items of a hung timer batch whose removal hangs too in the sweep index, in the time kept for it", async () => {
    // Prepare: 13 near-term items arm in two SendMessageBatch calls; the second never answers, nor do the
    // conditional deletes of its three items; each sweep index entry takes a round trip, as DynamoDB's does
    const f = batchFixture();
    const { client } = fakeSqs((_, i) => (i === 1 ? hangs() : { Failed: [] }));
    f.store.removeScheduled = () => hangs();
    f.store.enterSweepIndex = afterRoundTrip(
      f.store.enterSweepIndex.bind(f.store),
      (_taskId, options) => options?.signal,
    );
    const { timeLeftMs, earlyAnswer } = invocation(TIME_LEFT_MS);
    const deps = { ...f.deps, timerQueue: new SqsTimerQueue(client, "https://sqs.local/timer"), timeLeftMs };
    const tasks = Array.from({ length: 13 }, () => item());

    // Act
    const answer = Promise.race([addTasksBatch(deps, { tasks }), earlyAnswer]);
    await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

    // Assess: the three answer 503 and stay, as README says of a 503 whose clean-up failed, for the sweeper
    const outcome = await answer;
    expect(outcome === "early answer" ? [] : outcome.results.map((r) => r.status)).toEqual([
      ...Array(10).fill(201),
      ...Array(3).fill(503),
    ]);
    const given = (f.batchWrites[0] ?? []).slice(10).map((e) => f.store.tasks.get(e.task.taskId));
    expect(given.map((t) => t?.sweepShard)).toEqual(given.map((t) => sweepShardOf(t?.taskId ?? "")));
    expect(f.errors).not.toContain("indexing an unarmed task for the sweeper failed");
  });

  it("sends no removal due after its deadline when many given-up items' removals hang", async () => {
    // Prepare: 30 near-term items whose three SendMessageBatch calls all hang, and so do the removals, which go
    // out ten at a time: the second and third ten fall due past the removals' deadline
    const f = batchFixture();
    const { client } = fakeSqs(() => hangs());
    const { timeLeftMs, earlyAnswer } = invocation(TIME_LEFT_MS);
    const removals: number[] = [];
    f.store.removeScheduled = () => {
      removals.push(timeLeftMs());
      return hangs();
    };
    const deps = { ...f.deps, timerQueue: new SqsTimerQueue(client, "https://sqs.local/timer"), timeLeftMs };
    const tasks = Array.from({ length: 30 }, () => item());

    // Act
    const answer = Promise.race([addTasksBatch(deps, { tasks }), earlyAnswer]);
    await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

    // Assess: every item refused and left to the sweeper; only the first ten removals were sent, each with time
    // left (sent past it, each cost its request's CPU and was aborted a tick later)
    const outcome = await answer;
    expect(outcome === "early answer" ? [] : outcome.results.map((r) => r.status)).toEqual(
      Array(30).fill(503),
    );
    expect(removals).toHaveLength(10);
    expect(removals.every((left) => left > CLEAN_UP_CALL_RESERVE_MS + FOLLOW_UP_CALL_MS)).toBe(true);
    expect([...f.store.tasks.values()].every((t) => t.sweepShard === sweepShardOf(t.taskId))).toBe(true);
  });

  it("arms the items written when the removal of a hung write call's items hangs too", async () => {
    // Prepare: 30 items; the first 25 are written, the second call hangs until given up, and so does the removal
    // of its five; each SendMessageBatch takes a network round trip to answer
    const f = batchFixture();
    const putNewMany = f.store.putNewMany.bind(f.store);
    f.store.putNewMany = async (entries, options) => {
      await putNewMany(entries.slice(0, 25));
      await new Promise((resolve) => options?.signal?.addEventListener("abort", resolve));
      return entries.slice(25).map((e) => ({ taskId: e.task.taskId, maybeWritten: true }));
    };
    f.store.removeScheduled = () => hangs();
    const { client } = fakeSqs(() => new Promise((resolve) => setTimeout(() => resolve({ Failed: [] }), 10)));
    const { timeLeftMs, earlyAnswer } = invocation(TIME_LEFT_MS);
    const deps = { ...f.deps, timerQueue: new SqsTimerQueue(client, "https://sqs.local/timer"), timeLeftMs };
    const tasks = Array.from({ length: 30 }, () => item());

    // Act
    const answer = Promise.race([addTasksBatch(deps, { tasks }), earlyAnswer]);
    await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

    // Assess: the 25 written are armed and accepted, not refused for want of time left after the hung removal
    const outcome = await answer;
    expect(outcome === "early answer" ? [] : outcome.results.map((r) => r.status)).toEqual([
      ...Array(25).fill(201),
      ...Array(5).fill(503),
    ]);
    expect(f.errors.filter((m) => m === "removing an unaccepted batch item failed")).toHaveLength(5);
  });

  it("answers the batched items 201 before the route's early answer when a single-add item's key claim hangs", async () => {
    // Prepare: a keyed fan-out item takes the single add, whose claim of its key never answers; two plain items
    // take the batched path and are written and armed at once
    const f = batchFixture();
    f.store.claimIdempotencyKey = () => hangs();
    const { timeLeftMs, earlyAnswer } = invocation(TIME_LEFT_MS);
    const fanOut = {
      topic: "orders",
      delay_seconds: 10,
      content: { order_id: `o-${randomUUID()}` },
      idempotency_key: `k-${randomUUID()}`,
    };
    const tasks = [item(), item(), fanOut];

    // Act
    const answer = Promise.race([addTasksBatch({ ...f.deps, timeLeftMs }, { tasks }), earlyAnswer]);
    await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

    // Assess: the armed items keep their 201; the hung one answers 503 (retry it with its key)
    const outcome = await answer;
    expect(outcome).not.toBe("early answer");
    expect(outcome === "early answer" ? [] : outcome.results.map((r) => r.status)).toEqual([201, 201, 503]);
    expect(f.timerQueue.armed).toHaveLength(2);
  });

  it("answers a single-add item 201 before the route's early answer when the batched path's key claims hang", async () => {
    // Prepare: a keyless fan-out item takes the single add (written and armed at once); a keyed plain item takes
    // the batched path, whose batch claim never answers (given up, its key is claimed on the single add's way)
    const f = batchFixture();
    let claims: AbortSignal | undefined;
    f.store.claimIdempotencyKeys = (_claims, options) => {
      claims = options?.signal;
      return hangs();
    };
    const { timeLeftMs, earlyAnswer } = invocation(TIME_LEFT_MS);
    const fanOut = { topic: "orders", delay_seconds: 10, content: { order_id: `o-${randomUUID()}` } };
    const tasks = [keyed(), fanOut];

    // Act
    const answer = Promise.race([addTasksBatch({ ...f.deps, timeLeftMs }, { tasks }), earlyAnswer]);
    await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

    // Assess: both answered by the add, the batch claim given up as a failed one (not claimed), and aborted
    const outcome = await answer;
    expect(outcome).not.toBe("early answer");
    expect(outcome === "early answer" ? [] : outcome.results.map((r) => r.status)).toEqual([201, 201]);
    expect(claims?.aborted).toBe(true);
  });

  it("writes and arms the keyless items when the batched path's key claims hang until given up", async () => {
    // Prepare: a keyed item's batch claim never answers (given up, its key is claimed on the single add's way); a
    // keyless item's batch write, which waits for the claims, takes a round trip, as DynamoDB's does
    const f = batchFixture();
    f.store.claimIdempotencyKeys = () => hangs();
    f.store.putNewMany = afterRoundTrip(
      f.store.putNewMany.bind(f.store),
      (_entries, options) => options?.signal,
    );
    const { timeLeftMs, earlyAnswer } = invocation(TIME_LEFT_MS);
    const tasks = [keyed(), item()];

    // Act
    const answer = Promise.race([addTasksBatch({ ...f.deps, timeLeftMs }, { tasks }), earlyAnswer]);
    await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

    // Assess: the hung claim costs the keyed item its batched way only; the keyless item is written and armed
    const outcome = await answer;
    expect(outcome === "early answer" ? [] : outcome.results.map((r) => r.status)).toEqual([201, 201]);
    expect(f.batchWrites).toHaveLength(1);
    expect(f.timerQueue.armed).toHaveLength(2);
  });

  it("answers a single-add item 201 before the route's early answer when a keyed group's claim hangs", async () => {
    // Prepare: a keyed group of two claims its keys one at a time; the first claim never answers. A keyless fan-out
    // item takes the single add (written and armed at once)
    const f = batchFixture();
    const claimIdempotencyKey = f.store.claimIdempotencyKey;
    let claims = 0;
    f.store.claimIdempotencyKey = (claim) => (++claims === 1 ? hangs() : claimIdempotencyKey(claim));
    const { timeLeftMs, earlyAnswer } = invocation(TIME_LEFT_MS);
    const group = `o-${randomUUID()}`;
    const fanOut = { topic: "orders", delay_seconds: 10, content: { order_id: `o-${randomUUID()}` } };
    const tasks = [0, 1].map((seq) => keyed({ content: { order_id: group, seq } }));

    // Act
    const answer = Promise.race([
      addTasksBatch({ ...f.deps, timeLeftMs }, { tasks: [...tasks, fanOut] }),
      earlyAnswer,
    ]);
    await vi.advanceTimersByTimeAsync(TIME_LEFT_MS);

    // Assess: the group's hung claim given up as one whose outcome is unknown, the fan-out item keeps its 201
    const outcome = await answer;
    expect(outcome).not.toBe("early answer");
    expect(outcome === "early answer" ? undefined : outcome.results[2]?.status).toBe(201);
    expect(f.errors).toContain(
      "claiming a key of a keyed group failed; its group goes on one item at a time",
    );
  });
});

describe("addTasksBatch: Scheduler-path items planned when armed", () => {
  it("arms an item whose schedule would fire less than a second after the writes on the timer queue, as the single add would", async () => {
    // Prepare: lead = horizon = 2 s (the config allows it); due in 4 s, a schedule at due − 2 s when minted, but
    // the batch write takes 2 s, so by the time the timer is armed that second has begun and the task is due
    // within the horizon
    const f = batchFixture();
    f.deps = {
      ...f.deps,
      config: { ...f.config, timer: { ...f.config.timer, horizonSeconds: 2, leadSeconds: 2 } },
    };
    const putNewMany = f.store.putNewMany;
    f.store.putNewMany = async (entries) => {
      f.clock.now += 2_000;
      return putNewMany(entries);
    };
    const planned: { expression: string; atMs: number }[] = [];
    const create = f.scheduler.createTaskSchedule.bind(f.scheduler);
    f.scheduler.createTaskSchedule = async (request) => {
      planned.push({ expression: request.expression, atMs: f.clock.now });
      return create(request);
    };

    // Act
    const answer = await addTasksBatch(f.deps, { tasks: [item({ delay_seconds: 4 })] });

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual([201]);
    expect(planned).toEqual([]);
    expect(f.timerQueue.armed.map((a) => a.delaySeconds)).toEqual([2]);
  });

  it("plans each Scheduler-path item as its own CreateSchedule goes out: none names a second already begun", async () => {
    // Prepare: lead = horizon = 2 s (the config allows it). Ten far items, then one due in 4 s: a schedule at
    // due − 2 s when the batch is planned. CreateSchedule has no batch form and goes out ten at a time, each call
    // taking a second here, so the last item's call leaves ten seconds after the plan: its second has long begun
    const f = batchFixture();
    f.deps = {
      ...f.deps,
      config: { ...f.config, timer: { ...f.config.timer, horizonSeconds: 2, leadSeconds: 2 } },
    };
    const late: { expression: string; atMs: number }[] = [];
    const create = f.scheduler.createTaskSchedule.bind(f.scheduler);
    f.scheduler.createTaskSchedule = async (request) => {
      const at = Date.parse(`${request.expression.slice(3, -1)}Z`);
      if (at - f.clock.now < 1_000) late.push({ expression: request.expression, atMs: f.clock.now });
      f.clock.now += 1_000;
      return create(request);
    };
    const far = Array.from({ length: 10 }, () => item({ delay_seconds: 3_000 }));

    // Act
    const answer = await addTasksBatch(f.deps, { tasks: [...far, item({ delay_seconds: 4 })] });

    // Assess: the near one rides the timer queue, due now (as the single add plans it when armed)
    expect(answer.results.map((r) => r.status)).toEqual(Array(11).fill(201));
    expect(late).toEqual([]);
    expect(f.scheduler.created).toHaveLength(10);
    expect(f.timerQueue.armed.map((a) => a.delaySeconds)).toEqual([0]);
  });
});

describe("addTasksBatch: keyed items on the batched path", () => {
  it("answers 201 for a keyed group's item whose claim was written but its answer lost: its task is new, not a repeat", async () => {
    // Prepare: the first claim of a keyed group is written, its answer lost past the SDK's retries
    const f = batchFixture();
    const claim = f.store.claimIdempotencyKey.bind(f.store);
    let lose = 1;
    f.store.claimIdempotencyKey = async (request) => {
      const outcome = await claim(request);
      if (lose-- > 0) throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      return outcome;
    };
    const tasks = [keyed({ content: { order_id: "g" } }), keyed({ content: { order_id: "g", n: 2 } })];

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess: both new (201, as the single add answers its own lost claim), under the ids their claims hold, in order
    expect(answer.results.map((r) => r.status)).toEqual([201, 201]);
    const [first, second] = answer.results.map((r) => r.task_id as string);
    expect([first, second].sort()).toEqual([first, second]);
    expect(f.store.tasks.size).toBe(2);
  });

  /** The claim a key holds in the store (keys are per topic). */
  const claimOf = (f: ReturnType<typeof batchFixture>, key: unknown) =>
    f.store.idempotency.get(`demo#${key}`);

  it("claims 30 keys of 30 one-item groups in one batch, writes and arms them in batches, and answers a repeat 200 with the same ids", async () => {
    // Prepare
    const f = batchFixture();
    const tasks = Array.from({ length: 30 }, (_, i) =>
      keyed({ content: { order_id: `g${i}-${randomUUID()}`, seq: i } }),
    );

    // Act
    const first = await addTasksBatch(f.deps, { tasks });
    const eventsOfFirst = [...f.events];
    const again = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(first.results.map((r) => r.status)).toEqual(tasks.map(() => 201));
    expect(eventsOfFirst).toEqual(["claimIdempotencyKeys", "insertNewMany", "armMany"]);
    expect(f.claimCalls[0]).toHaveLength(30);
    for (const [i, result] of first.results.entries()) {
      expect(claimOf(f, tasks[i]?.idempotency_key)?.taskId).toBe(result.task_id);
      expect((await f.store.get(result.task_id ?? ""))?.idempotencyKey).toBe(tasks[i]?.idempotency_key);
    }
    expect(again.results.map((r) => r.status)).toEqual(tasks.map(() => 200));
    expect(again.results.map((r) => r.task_id)).toEqual(first.results.map((r) => r.task_id));
    expect(f.store.tasks.size).toBe(30);
    expect(f.batchInserts).toHaveLength(1);
  });

  it("answers each claim outcome as the single add would: claimed, held (same and other body), expired, statement error, unknown", async () => {
    // Prepare: six groupless items, each a lane of its own
    const f = batchFixture();
    f.store.nowSeconds = () => NOW / 1000;
    const tasks = Array.from({ length: 6 }, () => keyed());
    const keys = tasks.map((t) => t.idempotency_key);
    const earlier = await addTasksBatch(f.deps, { tasks: [tasks[1], { ...tasks[2], delay_seconds: 20 }] });
    const expiredTaskId = "demo#_stale#0000000000000#01KAS0000000000000000000000";
    f.store.idempotency.set(`demo#${keys[3]}`, {
      topic: "demo",
      key: keys[3] as string,
      taskId: expiredTaskId,
      requestHash: "another request",
      expiresAt: NOW / 1000 - 1,
    });
    // Item 4's statement failed (not written); item 5's call failed after its claim was written (unknown).
    const claimMany = f.store.claimIdempotencyKeys;
    f.store.claimIdempotencyKeys = async (claims) =>
      Promise.all(
        claims.map(async (claim) => {
          if (claim.key === keys[4]) return "not-claimed";
          const [outcome] = await claimMany([claim]);
          return claim.key === keys[5] ? "not-claimed" : (outcome ?? "not-claimed");
        }),
      );
    f.events.length = 0;

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess
    // Item 5 is new: the claim its key holds is its own (this request wrote it), so 201, not a repeat's 200.
    expect(answer.results.map((r) => r.status)).toEqual([201, 200, 409, 201, 201, 201]);
    expect(answer.results[1]?.task_id).toBe(earlier.results[0]?.task_id);
    expect(answer.results[2]?.error).toMatchObject({ code: "idempotency_conflict" });
    expect(answer.results[3]?.task_id).not.toBe(expiredTaskId);
    for (const i of [0, 1, 3, 4, 5]) {
      const id = answer.results[i]?.task_id ?? "";
      expect(claimOf(f, keys[i])?.taskId, `item ${i}`).toBe(id);
      expect((await f.store.get(id))?.content, `item ${i}`).toBe(JSON.stringify(tasks[i]?.content));
    }
    // One task per key: the two earlier ones and the four added now.
    expect(f.store.tasks.size).toBe(6);
    expect(f.events.filter((e) => e === "claimIdempotencyKey")).toHaveLength(5);
  });

  it("claims a keyed group's keys one at a time in request order, never in batch claims, then writes and arms it in batches — its middle key holding an expired claim", async () => {
    // Prepare: [new, expired claim, new] in one group, due the same second. A keyed group of several items never
    // takes the batch claims (racing copies of the request could each win some of its keys): its keys are claimed
    // one after another, each ULID minted after the claim before it returned; the single claim takes over the
    // expired one, as the single add does.
    const f = batchFixture();
    const tasks = groupWithExpiredMiddleClaim(f);
    clockMovingOnWrites(f);
    f.events.length = 0;

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess: one single claim per item, in order, then one batch insert and one batch arm
    expect(answer.results.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(f.events).toEqual([
      "claimIdempotencyKey",
      "claimIdempotencyKey",
      "claimIdempotencyKey",
      "insertNewMany",
      "armMany",
    ]);
    expect(f.batchInserts.map((call) => call.map((e) => e.task.taskId))).toEqual([
      answer.results.map((r) => r.task_id),
    ]);
    const stored = await Promise.all(answer.results.map((r) => f.store.get(r.task_id ?? "")));
    const sks = stored.map((t) => t?.sk ?? "");
    expect(new Set(sks).size).toBe(3);
    expect([...sks].sort()).toEqual(sks);
    expect(stored.map((t) => JSON.parse(t?.content ?? "{}").seq)).toEqual([0, 1, 2]);
    const groupOrder = await Promise.all(
      (await f.store.listScheduledInGroup(stored[0]?.pk ?? "", 0, Number.MAX_SAFE_INTEGER)).map(
        async (t) => JSON.parse((await f.store.get(t.taskId))?.content ?? "{}").seq,
      ),
    );
    expect(groupOrder).toEqual([0, 1, 2]);
    expect(f.timerQueue.armed.map((a) => a.taskId)).toEqual(answer.results.map((r) => r.task_id));
  });

  it("adds a hot group of 100 keyed items (as the typed client sends them) with 100 claims one after another, then one batch insert and one batch arm", async () => {
    // Prepare: every item keyed, all in one ordering group
    const f = batchFixture();
    const group = `o-${randomUUID()}`;
    const tasks = Array.from({ length: 100 }, (_, seq) => keyed({ content: { order_id: group, seq } }));

    // Act
    const first = await addTasksBatch(f.deps, { tasks });
    const eventsOfFirst = [...f.events];
    const again = await addTasksBatch(f.deps, { tasks });

    // Assess: no single write and no single arm; request order is sort-key order; a repeat answers 200 each
    expect(first.results.map((r) => r.status)).toEqual(tasks.map(() => 201));
    expect(eventsOfFirst).toEqual([...tasks.map(() => "claimIdempotencyKey"), "insertNewMany", "armMany"]);
    const sks = await Promise.all(
      first.results.map(async (r) => (await f.store.get(r.task_id ?? ""))?.sk ?? ""),
    );
    expect([...sks].sort()).toEqual(sks);
    expect(again.results.map((r) => r.status)).toEqual(tasks.map(() => 200));
    expect(again.results.map((r) => r.task_id)).toEqual(first.results.map((r) => r.task_id));
    expect(f.store.tasks.size).toBe(100);
  });

  it("keeps keyed items whose batch write or arm failed for the retry; the identical batch again gets the same ids, one task per key", async () => {
    // Prepare: of six keyed items, the 2nd's insert is unprocessed (not written), the 3rd's unknown (written), the
    // 5th's timer message fails
    const f = batchFixture();
    const tasks = Array.from({ length: 6 }, () => keyed());
    const insertNewMany = f.store.insertNewMany;
    let failWrites = true;
    f.store.insertNewMany = async (entries) => {
      if (!failWrites) return insertNewMany(entries);
      await insertNewMany(entries.filter((_, i) => i !== 1));
      const ids = entries.map((e) => e.task.taskId);
      return [
        { taskId: ids[1], maybeWritten: false },
        { taskId: ids[2], maybeWritten: true },
      ] as PutManyFailure[];
    };
    const armMany = f.timerQueue.armMany.bind(f.timerQueue);
    f.timerQueue.armMany = async (items) => {
      const failed = items.filter(
        (a) => failWrites && a.taskId === claimOf(f, tasks[4]?.idempotency_key)?.taskId,
      );
      await armMany(items.filter((a) => !failed.includes(a)));
      return failed.map((a) => a.taskId);
    };

    // Act
    const first = await addTasksBatch(f.deps, { tasks });
    failWrites = false;
    const again = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(first.results.map((r) => r.status)).toEqual([201, 503, 503, 201, 503, 201]);
    expect(first.results[1]?.error?.message).toMatch(/idempotency key/);
    expect(first.results[4]?.error?.message).toMatch(/same idempotency key/);
    expect(f.removed).toEqual([]);
    expect(f.errors).toContain("arming the task's timer failed; kept for a retry with its idempotency key");
    const claimed = tasks.map((t) => claimOf(f, t.idempotency_key)?.taskId);
    expect((await f.store.get(claimed[4] ?? ""))?.sweepShard).toBe(sweepShardOf(claimed[4] ?? ""));
    expect(again.results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(again.results.map((r) => r.task_id)).toEqual(claimed);
    for (const i of [0, 3, 5]) expect(first.results[i]?.task_id).toBe(claimed[i]);
    expect([...f.store.tasks.keys()].sort()).toEqual([...claimed].sort());
    expect(new Set(f.timerQueue.armed.map((a) => a.taskId))).toEqual(new Set(claimed));
  });

  it("never overwrites a keyed task that a concurrent repeat created first: it is armed as it is", async () => {
    // Prepare: between the batch's claim and its write, a repeat of the item creates the task and starts it
    const f = batchFixture();
    const task = keyed();
    const insertNewMany = f.store.insertNewMany;
    f.store.insertNewMany = async (entries) => {
      await addTasksBatch({ ...f.deps, store: f.store }, { tasks: [task] });
      const id = entries[0]?.task.taskId ?? "";
      const stored = f.store.tasks.get(id);
      if (stored) f.store.tasks.set(id, { ...stored, status: "delivering", attempts: 1 });
      return insertNewMany(entries);
    };

    // Act
    const answer = await addTasksBatch(f.deps, { tasks: [task] });

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual([201]);
    expect(f.store.tasks.get(answer.results[0]?.task_id ?? "")).toMatchObject({
      status: "delivering",
      attempts: 1,
    });
  });
});

describe("addTasksBatch: two identical keyed batches racing", () => {
  /** A promise and its resolve, to interleave two requests' claim statements in a chosen order. */
  function signal(): { done: Promise<void>; fire: () => void } {
    let fire = () => {};
    const done = new Promise<void>((resolve) => {
      fire = resolve;
    });
    return { done, fire };
  }

  /** `claimIdempotencyKey` of a copy of the store that runs `around` the real single claim. */
  function storeClaiming(
    f: ReturnType<typeof batchFixture>,
    around: (claim: IdempotencyClaim, real: () => Promise<IdempotencyOutcome>) => Promise<IdempotencyOutcome>,
  ) {
    const claimOne = f.store.claimIdempotencyKey.bind(f.store);
    return Object.assign(Object.create(f.store), {
      claimIdempotencyKey: (claim: IdempotencyClaim) => around(claim, () => claimOne(claim)),
    });
  }

  async function groupOrderOf(f: ReturnType<typeof batchFixture>, taskId: string | undefined) {
    const first = await f.store.get(taskId ?? "");
    const listed = await f.store.listScheduledInGroup(first?.pk ?? "", 0, Number.MAX_SAFE_INTEGER);
    return Promise.all(
      listed.map(async (t) => JSON.parse((await f.store.get(t.taskId))?.content ?? "{}").seq),
    );
  }

  it("answers two racing copies whose claims do not interleave with one task per key, the same ids, in request order", async () => {
    // Prepare: a keyed group of four (the single add's way, one item after another); B's claims wait for A's answer
    const f = batchFixture();
    clockMovingOnWrites(f);
    const group = `o-${randomUUID()}`;
    const tasks = [0, 1, 2, 3].map((seq) => keyed({ content: { order_id: group, seq } }));
    const aAnswered = signal();
    const storeB = storeClaiming(f, async (_claim, real) => {
      await aAnswered.done;
      return real();
    });

    // Act
    const [a, b] = await Promise.all([
      addTasksBatch(f.deps, { tasks }).finally(aAnswered.fire),
      addTasksBatch({ ...f.deps, store: storeB }, { tasks }),
    ]);

    // Assess
    expect(a.results.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    expect(b.results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(b.results.map((r) => r.task_id)).toEqual(a.results.map((r) => r.task_id));
    expect(f.store.tasks.size).toBe(4);
    expect(await groupOrderOf(f, a.results[0]?.task_id)).toEqual([0, 1, 2, 3]);
  });

  it("keeps a group in request order when the two requests' claims interleave key by key", async () => {
    // Prepare: two copies of one request (a client's retry while the first still runs) race on a keyed group of
    // two: A wins the 1st key, then B wins the 2nd before A gets to it. (Claimed side by side in one batch, under
    // ULIDs minted at each request's start, this delivered the group as [1, 0]; one item after another, each item's
    // ULID is minted after the one before it settled.)
    const f = batchFixture();
    clockMovingOnWrites(f);
    const group = `o-${randomUUID()}`;
    const tasks = [0, 1].map((seq) => keyed({ content: { order_id: group, seq } }));
    const [firstKey, secondKey] = tasks.map((t) => t.idempotency_key);
    const aHasFirst = signal();
    const bHasSecond = signal();
    const storeA = storeClaiming(f, async (claim, real) => {
      if (claim.key === secondKey) await bHasSecond.done;
      const outcome = await real();
      if (claim.key === firstKey) aHasFirst.fire();
      return outcome;
    });
    const storeB = storeClaiming(f, async (claim, real) => {
      if (claim.key === firstKey) await aHasFirst.done;
      const outcome = await real();
      if (claim.key === secondKey) bHasSecond.fire();
      return outcome;
    });

    // Act
    const [a, b] = await Promise.all([
      addTasksBatch({ ...f.deps, store: storeA }, { tasks }),
      addTasksBatch({ ...f.deps, store: storeB }, { tasks }),
    ]);

    // Assess: one task per key, the same ids in both answers, and the group delivered in request order
    expect(f.events).not.toContain("claimIdempotencyKeys");
    expect(a.results.map((r) => r.status)).toEqual([201, 200]);
    expect(b.results.map((r) => r.status)).toEqual([200, 201]);
    expect(b.results.map((r) => r.task_id)).toEqual(a.results.map((r) => r.task_id));
    expect(f.store.tasks.size).toBe(2);
    expect(await groupOrderOf(f, a.results[0]?.task_id)).toEqual([0, 1]);
  });
});

describe("addTasksBatch: timers planned when they are armed", () => {
  /** Records, for every timer armed, the delay it was given and how long was then left until its task's due time. */
  function armedAgainstClock(f: ReturnType<typeof batchFixture>) {
    const seen: { taskId: string; delaySeconds: number; leftSeconds: number }[] = [];
    const arm = f.timerQueue.arm.bind(f.timerQueue);
    f.timerQueue.arm = async (taskId, delaySeconds) => {
      const due = (await f.store.get(taskId))?.dueAtMs ?? Number.NaN;
      seen.push({ taskId, delaySeconds, leftSeconds: Math.floor((due - f.clock.now) / 1000) });
      return arm(taskId, delaySeconds);
    };
    return seen;
  }

  it("arms each item of a keyed group added one after another with the time left until its due time, not the time left at the batch's start", async () => {
    // Prepare: a keyed group of three (one item after another), its middle key holding an expired claim; the clock
    // moves on a second with every single write
    const f = batchFixture();
    const tasks = groupWithExpiredMiddleClaim(f);
    clockMovingOnWrites(f);
    const armed = armedAgainstClock(f);

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(armed.map((a) => a.taskId)).toEqual(answer.results.map((r) => r.task_id));
    expect(armed.map((a) => a.delaySeconds)).toEqual(armed.map((a) => a.leftSeconds));
  });

  it("arms a batched lane's timers with the time left after its claims and writes", async () => {
    // Prepare: three one-item groups (batched); the claims take two seconds, the writes one
    const f = batchFixture();
    const tasks = [0, 1, 2].map((seq) => keyed({ content: { order_id: `o${seq}-${randomUUID()}`, seq } }));
    const claimMany = f.store.claimIdempotencyKeys;
    f.store.claimIdempotencyKeys = async (claims) => {
      f.clock.now += 2_000;
      return claimMany(claims);
    };
    const insertNewMany = f.store.insertNewMany;
    f.store.insertNewMany = async (entries) => {
      f.clock.now += 1_000;
      return insertNewMany(entries);
    };
    const armed = armedAgainstClock(f);

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(f.events).toEqual(["claimIdempotencyKeys", "insertNewMany", "armMany"]);
    expect(armed.map((a) => a.delaySeconds)).toEqual([7, 7, 7]);
    expect(armed.map((a) => a.delaySeconds)).toEqual(armed.map((a) => a.leftSeconds));
  });
});

describe("addTasksBatch: two items of one request with one idempotency key", () => {
  it("adds the earlier item in request order and answers the later one 409 with a different body, whichever group starts first", async () => {
    // Prepare: the key's first holder waits behind an earlier item of its group; its other holder leads a group
    const f = batchFixture();
    const { shared, tasks } = keyHeldInTwoGroups(item);

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess: the key holds item 1's task; item 2 answers what a later request with that key gets
    expect(answer.results.map((r) => r.status)).toEqual([201, 201, 409]);
    expect(answer.results[2]?.error?.code).toBe("idempotency_conflict");
    const stored = await f.store.get(answer.results[1]?.task_id ?? "");
    expect(stored?.content).toBe(JSON.stringify(tasks[1]?.content));
    expect(f.store.idempotency.get(`demo#${shared}`)?.taskId).toBe(answer.results[1]?.task_id);
  });

  it("answers the later of two identical items 200 with the earlier one's task, as a separate later request, even when the earlier one's claim is slow", async () => {
    // Prepare: two identical groupless keyed items; the first claim call answers late
    const f = batchFixture();
    const twin = item({ topic: "plain", idempotency_key: `k-${randomUUID()}`, content: { n: 1 } });
    slowFirstClaim(f);

    // Act
    const answer = await addTasksBatch(f.deps, { tasks: [twin, twin] });

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual([201, 200]);
    const again = await addTasksBatch(f.deps, { tasks: [twin] });
    expect(answer.results[1]).toEqual(again.results[0]);
    expect(answer.results[1]?.task_id).toBe(answer.results[0]?.task_id);
    expect(f.store.tasks.size).toBe(1);
  });

  it("answers the later of two identical items 503 when the earlier one's write failed: never acknowledged for a task not written", async () => {
    // Prepare: the first task write fails
    const f = batchFixture();
    const twin = item({ topic: "plain", idempotency_key: `k-${randomUUID()}`, content: { n: 1 } });
    const putNew = f.store.putNew;
    let writes = 0;
    f.store.putNew = async (task, options) => {
      if (writes++ === 0) throw Object.assign(new Error("DynamoDB is down"), { name: "ServiceUnavailable" });
      return putNew(task, options);
    };

    // Act
    const answer = await addTasksBatch(f.deps, { tasks: [twin, twin] });

    // Assess: both retriable, nothing written, nothing armed
    expect(answer.results.map((r) => r.status)).toEqual([503, 503]);
    expect(f.store.tasks.size).toBe(0);
    expect(f.timerQueue.armed).toEqual([]);
  });

  it("holds back only the items behind a failed item's group or key when their groups are joined by the key", async () => {
    // Prepare: group A's keyed item fails to be written; group B holds a keyless item and the key's later item
    const f = batchFixture();
    const [a, b] = [`a-${randomUUID()}`, `b-${randomUUID()}`];
    const shared = `k-${randomUUID()}`;
    const tasks = [
      item({ idempotency_key: shared, content: { order_id: a, seq: 0 } }),
      item({ content: { order_id: b, seq: 1 } }),
      item({ idempotency_key: shared, content: { order_id: b, seq: 2 } }),
      item({ content: { order_id: a, seq: 3 } }),
    ];
    const putNew = f.store.putNew;
    f.store.putNew = async (task, options) => {
      if (task.idempotencyKey === shared)
        throw Object.assign(new Error("down"), { name: "ServiceUnavailable" });
      return putNew(task, options);
    };

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess: B's keyless item is added; the key's later item and A's later item are not attempted
    expect(answer.results.map((r) => r.status)).toEqual([503, 201, 503, 503]);
    expect(answer.results[2]?.error?.message).toMatch(/^not attempted/);
    expect(answer.results[3]?.error?.message).toMatch(/^not attempted/);
  });

  it("settles one key shared by two fan-out items of different groups in request order", async () => {
    // Prepare: the key's first holder waits behind an earlier item of its group
    const f = batchFixture();
    const { shared, tasks } = keyHeldInTwoGroups((extra) => ({
      topic: "orders",
      delay_seconds: 10,
      ...extra,
    }));

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual([201, 201, 409]);
    expect(f.store.idempotency.get(`orders#${shared}`)?.taskId).toBe(answer.results[1]?.task_id);
  });
});

/**
 * Group a's second item and group b's only item holding one key (different bodies): the key's first holder waits
 * behind an earlier item of its group, while its other holder leads its own.
 */
function keyHeldInTwoGroups<T>(make: (extra: Record<string, unknown>) => T) {
  const [a, b] = [`a-${randomUUID()}`, `b-${randomUUID()}`];
  const shared = `k-${randomUUID()}`;
  const tasks = [
    make({ content: { order_id: a, seq: 0 } }),
    make({ idempotency_key: shared, content: { order_id: a, seq: 1 } }),
    make({ idempotency_key: shared, content: { order_id: b, seq: 2 } }),
  ];
  return { shared, tasks };
}

/** The store's first single claim answers only after a few turns of the event loop (a slow PutItem). */
function slowFirstClaim(f: ReturnType<typeof batchFixture>): void {
  const claim = f.store.claimIdempotencyKey;
  let calls = 0;
  f.store.claimIdempotencyKey = async (request) => {
    if (calls++ === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    return claim(request);
  };
}

describe("addTasksBatch: a batched keyed item whose write finds the task a concurrent repeat already wrote", () => {
  it("answers the status the task has moved on to, as the single add does, not the `scheduled` it would have written", async () => {
    // Prepare: the batch claims the item's key and stalls before its batch write; a single add with the same key and
    // body meanwhile finds the claim without its task, writes and arms it (200), and the task moves on (its timer
    // fired, the relay queued it) before the batch's write goes out and finds it there
    const f = batchFixture();
    const task = keyed();
    const insertNewMany = f.store.insertNewMany;
    let repeat: Awaited<ReturnType<typeof addTask>> | undefined;
    f.store.insertNewMany = async (entries) => {
      repeat = await addTask(f.deps, { body: task });
      await f.store.markQueued(repeat.body.task_id, NOW + 10_000);
      return insertNewMany(entries);
    };

    // Act
    const answer = await addTasksBatch(f.deps, { tasks: [task] });

    // Assess: one task, answered by both with its id; the batch says where the task is, as a GET would
    expect(f.events).toEqual([
      "claimIdempotencyKeys",
      "claimIdempotencyKey",
      "putNew",
      "insertNewMany",
      "armMany",
    ]);
    expect(repeat).toMatchObject({ statusCode: 200, body: { status: "scheduled" } });
    expect(answer.results).toEqual([
      expect.objectContaining({ status: 201, task_id: repeat?.body.task_id, task_status: "queued" }),
    ]);
    expect(f.store.tasks.size).toBe(1);
  });
});
