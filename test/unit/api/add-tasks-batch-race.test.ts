import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { IdempotencyClaim, NewTaskEntry, TaskStore } from "#shared/adapters/task-store.js";
import type { AddTasksBatchResponse } from "#shared/api/schemas/batch.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { addTasksBatch } from "#shared/services/add-tasks-batch.js";
import { type RelayDeps, relayTimerMessages } from "#shared/services/relay.js";
import { timerMessage } from "../../support/factories.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../support/logger.js";
import { fixture } from "./fakes.js";

/**
 * Two copies of one keyed batch racing (a client's retry while the first still runs), at the store seam, with the
 * interleaving chosen by hand. Every timer is relayed the moment it is armed (the worst case: a task due now), by
 * the real relay over the shared store, so the FIFO queue shows the order the group would be delivered in.
 */
const DEMO_QUEUE = "https://sqs.local/000000000000/punctual-test-demo.fifo";

function signal(): { done: Promise<void>; fire: () => void } {
  let fire = () => {};
  const done = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { done, fire };
}

/** Due now, one ordering group, each item keyed; `seq` is its place in the request. */
function keyedGroup(size: number) {
  const group = `o-${randomUUID()}`;
  return Array.from({ length: size }, (_, seq) => ({
    topic: "demo",
    delay_seconds: 0,
    content: { order_id: group, seq },
    callback: { url: "https://hooks.example.com/notify" },
    idempotency_key: `k-${randomUUID()}`,
  }));
}

const seqOf = (task: TaskRecord | undefined): number => JSON.parse(task?.content ?? "{}").seq;

function raceFixture() {
  const f = fixture();
  const fifo = new FakeTopicQueue();
  const errors: string[] = [];
  const relayDeps: RelayDeps = {
    store: f.store,
    topicQueue: fifo,
    timer: { rearm: async () => ({ failedTaskIds: [] }) },
    topicQueueUrls: { demo: DEMO_QUEUE },
    logger: memoryLogger(),
    clock: () => f.clock.now + 60_000,
  };
  const arm = f.timerQueue.arm.bind(f.timerQueue);
  f.timerQueue.arm = async (taskId, delaySeconds) => {
    await arm(taskId, delaySeconds);
    await relayTimerMessages(relayDeps, [timerMessage(taskId)]);
  };
  // The clock moves on with every task write, as time does between calls.
  const putNew = f.store.putNew.bind(f.store);
  f.store.putNew = async (task, options) => {
    f.clock.now += 1_000;
    return putNew(task, options);
  };
  const insertNewMany = f.store.insertNewMany.bind(f.store);
  f.store.insertNewMany = async (entries) => {
    f.clock.now += 1_000;
    return insertNewMany(entries);
  };
  const deps = { ...f.deps, onError: (message: string) => errors.push(message) };
  /** The group's tasks in the order they reached the FIFO queue, by their place in the request. */
  const delivered = async () =>
    Promise.all(fifo.enqueued.map(async ({ taskId }) => seqOf(await f.store.get(taskId))));
  return { ...f, deps, fifo, errors, delivered };
}

/** Hooks around one copy's store calls, on a view of the shared store (same tables, its own calls). */
interface Hooks {
  claim?: (claim: IdempotencyClaim, real: () => Promise<unknown>) => Promise<unknown>;
  /** Around a task write (single or batch), by the written task's place in the request. */
  write?: (seq: number, real: () => Promise<unknown>) => Promise<unknown>;
}

function copyStore(f: ReturnType<typeof raceFixture>, hooks: Hooks): TaskStore {
  const store = f.store;
  const claimOne = store.claimIdempotencyKey.bind(store);
  const putNew = store.putNew.bind(store);
  const insertNewMany = store.insertNewMany.bind(store);
  const around = hooks.write ?? ((_seq, real) => real());
  return Object.assign(Object.create(store), {
    claimIdempotencyKey: (claim: IdempotencyClaim) =>
      hooks.claim ? hooks.claim(claim, () => claimOne(claim)) : claimOne(claim),
    putNew: (task: TaskRecord, options?: { sweepIndex?: boolean }) =>
      around(seqOf(task), () => putNew(task, options)),
    insertNewMany: async (entries: readonly NewTaskEntry[]) => {
      const failures = await Promise.all(
        entries.map((entry) => around(seqOf(entry.task), () => insertNewMany([entry]))),
      );
      return failures.flat();
    },
  });
}

const statuses = (answer: AddTasksBatchResponse) => answer.results.map((r) => r.status);

describe("addTasksBatch: two copies of a keyed group racing, A's first write held back", () => {
  it("B finds A's claim without its task, writes the task itself under A's id before going on: order kept", async () => {
    // Prepare: A claims key 1 and stalls before writing task 1; B starts once A holds key 1.
    const f = raceFixture();
    const tasks = keyedGroup(2);
    const aHasFirst = signal();
    const bDone = signal();
    const storeA = copyStore(f, {
      claim: async (claim, real) => {
        const outcome = await real();
        if (claim.key === tasks[0]?.idempotency_key) aHasFirst.fire();
        return outcome;
      },
      write: async (seq, real) => {
        if (seq === 0) await bDone.done;
        return real();
      },
    });
    const storeB = copyStore(f, {
      claim: async (claim, real) => {
        if (claim.key === tasks[0]?.idempotency_key) await aHasFirst.done;
        return real();
      },
    });

    // Act
    const [a, b] = await Promise.all([
      addTasksBatch({ ...f.deps, store: storeA }, { tasks }),
      addTasksBatch({ ...f.deps, store: storeB }, { tasks }).finally(bDone.fire),
    ]);

    // Assess: B's first item is A's task (200), written by B; one task per key; delivered in request order
    expect(statuses(b)).toEqual([200, 201]);
    expect(statuses(a)).toEqual([201, 200]);
    expect(a.results.map((r) => r.task_id)).toEqual(b.results.map((r) => r.task_id));
    expect(f.store.tasks.size).toBe(2);
    expect(await f.delivered()).toEqual([0, 1]);
  });

  it("B's own write of A's task fails: B goes no further in the group, so its later item cannot overtake A's", async () => {
    // Prepare: as above, but B's write of task 1 (A's id, found claimed without its task) is throttled. Before the
    // fix B answered that item 503 and went on: it claimed key 2, wrote and armed task 2 while task 1 did not exist,
    // the relay sent task 2 alone, and A's task 1 came after it, though A answered both items 201/200.
    const f = raceFixture();
    const tasks = keyedGroup(2);
    const aHasFirst = signal();
    const bDone = signal();
    const storeA = copyStore(f, {
      claim: async (claim, real) => {
        const outcome = await real();
        if (claim.key === tasks[0]?.idempotency_key) aHasFirst.fire();
        return outcome;
      },
      write: async (seq, real) => {
        if (seq === 0) await bDone.done;
        return real();
      },
    });
    const storeB = copyStore(f, {
      claim: async (claim, real) => {
        if (claim.key === tasks[0]?.idempotency_key) await aHasFirst.done;
        return real();
      },
      write: async (seq, real) => {
        if (seq === 0) throw Object.assign(new Error("throttled"), { name: "ThrottlingException" });
        return real();
      },
    });

    // Act
    const [a, b] = await Promise.all([
      addTasksBatch({ ...f.deps, store: storeA }, { tasks }),
      addTasksBatch({ ...f.deps, store: storeB }, { tasks }).finally(bDone.fire),
    ]);

    // Assess
    expect(statuses(b)).toEqual([503, 503]);
    expect(b.results[1]?.error?.message).toMatch(/earlier item of its ordering group/);
    expect(statuses(a)).toEqual([201, 201]);
    expect(f.store.tasks.size).toBe(2);
    expect(await f.delivered()).toEqual([0, 1]);
    // B's second item changed nothing: its key is A's, A's task
    expect(f.store.idempotency.get(`demo#${tasks[1]?.idempotency_key}`)?.taskId).toBe(a.results[1]?.task_id);
  });
});
