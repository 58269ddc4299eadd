import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { NewTaskEntry, PutManyFailure } from "#shared/adapters/task-store.js";
import { parseConfig } from "#shared/config/index.js";
import { addTasksBatch } from "#shared/services/add-tasks-batch.js";
import { fixture } from "./fakes.js";

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
  item({ idempotency_key: `k-${randomUUID()}`, ...extra });

/** The usual fixture, plus a fan-out topic, counting the store's single and batch writes in order. */
function batchFixture() {
  const f = fixture();
  const config = parseConfig({
    name: "test",
    system: { allowedCallbackHosts: ["*"], allowHttpCallbacks: false },
    timer: { horizonSeconds: 300, leadSeconds: 120 },
    topics: {
      demo: { deliverBy: "order_id" },
      orders: {
        deliverBy: "order_id",
        subscribers: [{ id: "billing", url: "https://billing.example.com/h" }],
      },
    },
  });
  const events: string[] = [];
  const batchWrites: NewTaskEntry[][] = [];
  const putNew = f.store.putNew.bind(f.store);
  const putNewMany = f.store.putNewMany.bind(f.store);
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
  return { ...f, config, deps, events, batchWrites, removed, errors };
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

  it("sends keyed items, fan-out items and refused items the single add's way; the rest in one batch", async () => {
    // Prepare
    const f = batchFixture();
    const tasks = [
      item(),
      keyed(),
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
    expect(f.events.filter((e) => e === "putNew").length).toBeGreaterThanOrEqual(2);
  });

  it("keeps a whole group on the single add's path when one of its items has a key", async () => {
    // Prepare
    const f = batchFixture();
    const group = `o-${randomUUID()}`;
    const tasks = [
      item({ content: { order_id: group, seq: 0 } }),
      keyed({ content: { order_id: group, seq: 1 } }),
    ];

    // Act
    const answer = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual([201, 201]);
    expect(f.batchWrites).toEqual([]);
    expect(f.events).toEqual(["putNew", "putNew"]);
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
    expect(kept?.sweepShard).toBeDefined();
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
    expect(kept?.sweepShard).toBeDefined();
    expect(kept?.taskId).toBe(f.scheduler.created[0]?.taskId);
  });
});
