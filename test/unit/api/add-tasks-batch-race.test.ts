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

/**
 * The fixture for one keyed group `tasks`: a shared store and timer queue, every arm relayed at once, and at every
 * arm the invariant checked: no task of the group is armed while an earlier item's key is claimed and its task not
 * yet written (the relay would send the later one alone, and the earlier one after it).
 */
function raceFixture(tasks: readonly { idempotency_key: string }[] = []) {
  const f = fixture();
  const violations: string[] = [];
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
    const armedSeq = seqOf(f.store.tasks.get(taskId));
    for (const [seq, task] of tasks.entries()) {
      const claim = f.store.idempotency.get(`demo#${task.idempotency_key}`);
      if (seq < armedSeq && claim && !f.store.tasks.has(claim.taskId))
        violations.push(`item ${armedSeq} armed while item ${seq} was claimed but not written`);
    }
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
  /** One task per key: each key's claim names a task that exists, and no other task exists. */
  const oneTaskPerKey = () => {
    const claimed = tasks.map((t) => f.store.idempotency.get(`demo#${t.idempotency_key}`)?.taskId);
    return (
      claimed.every((id) => id !== undefined && f.store.tasks.has(id)) && f.store.tasks.size === tasks.length
    );
  };
  return { ...f, deps, fifo, errors, delivered, violations, oneTaskPerKey };
}

/** Hooks around one copy's store calls, on a view of the shared store (same tables, its own calls). */
interface Hooks {
  claim?: (claim: IdempotencyClaim, real: () => Promise<unknown>) => Promise<unknown>;
  /** Around a task write (single or batch), by the written task's place in the request. */
  write?: (seq: number, real: () => Promise<unknown>) => Promise<unknown>;
  /** These items' writes fail (a batch entry unprocessed, not written; a single write throttled). */
  failWrites?: readonly number[];
}

function copyStore(f: ReturnType<typeof raceFixture>, hooks: Hooks): TaskStore {
  const store = f.store;
  const claimOne = store.claimIdempotencyKey.bind(store);
  const putNew = store.putNew.bind(store);
  const insertNewMany = store.insertNewMany.bind(store);
  const failing = new Set(hooks.failWrites ?? []);
  const hooked = hooks.write ?? ((_seq, real) => real());
  const around = (seq: number, real: () => Promise<unknown>, failure: () => unknown) =>
    hooked(seq, async () => (failing.has(seq) ? failure() : real()));
  const throttled = () => {
    throw Object.assign(new Error("throttled"), { name: "ThrottlingException" });
  };
  return Object.assign(Object.create(store), {
    claimIdempotencyKey: (claim: IdempotencyClaim) =>
      hooks.claim ? hooks.claim(claim, () => claimOne(claim)) : claimOne(claim),
    putNew: (task: TaskRecord, options?: { sweepIndex?: boolean }) =>
      around(seqOf(task), () => putNew(task, options), throttled),
    insertNewMany: async (entries: readonly NewTaskEntry[]) => {
      const failures = await Promise.all(
        entries.map((entry) =>
          around(
            seqOf(entry.task),
            () => insertNewMany([entry]),
            () => [{ taskId: entry.task.taskId, maybeWritten: false }],
          ),
        ),
      );
      return failures.flat();
    },
  });
}

const statuses = (answer: AddTasksBatchResponse) => answer.results.map((r) => r.status);

describe("addTasksBatch: two copies of a keyed group racing, A's first write held back", () => {
  it("B finds A's claims without their tasks, writes them itself under A's ids, in order: order kept", async () => {
    // Prepare: A claims key 1 and stalls before writing task 1; B starts once A holds key 1.
    const tasks = keyedGroup(2);
    const f = raceFixture(tasks);
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

    // Assess: A claimed both keys before B came (one claim after another); B answers both 200 with A's tasks, which
    // it wrote itself in request order; one task per key; delivered in request order
    expect(statuses(b)).toEqual([200, 200]);
    expect(statuses(a)).toEqual([201, 201]);
    expect(a.results.map((r) => r.task_id)).toEqual(b.results.map((r) => r.task_id));
    expect(f.store.tasks.size).toBe(2);
    expect(await f.delivered()).toEqual([0, 1]);
    expect(f.violations).toEqual([]);
    expect(f.oneTaskPerKey()).toBe(true);
  });

  it("B's own write of A's task fails: B goes no further in the group, so its later item cannot overtake A's", async () => {
    // Prepare: as above, but B's write of task 1 (A's id, found claimed without its task) is throttled. Before the
    // fix B answered that item 503 and went on: it claimed key 2, wrote and armed task 2 while task 1 did not exist,
    // the relay sent task 2 alone, and A's task 1 came after it, though A answered both items 201/200.
    const tasks = keyedGroup(2);
    const f = raceFixture(tasks);
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
      failWrites: [0],
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
    expect(f.violations).toEqual([]);
    expect(f.oneTaskPerKey()).toBe(true);
    // B's second item changed nothing: its key is A's, A's task
    expect(f.store.idempotency.get(`demo#${tasks[1]?.idempotency_key}`)?.taskId).toBe(a.results[1]?.task_id);
  });
});

/** The group's sort keys, in request order, ascend: its tasks are keyed (and so delivered) in request order. */
async function keyedInRequestOrder(f: ReturnType<typeof raceFixture>, answer: AddTasksBatchResponse) {
  const sks = await Promise.all(
    answer.results.map(async (r) => (await f.store.get(r.task_id ?? ""))?.sk ?? ""),
  );
  return new Set(sks).size === sks.length && [...sks].sort().join() === sks.join();
}

const claimOf = (f: ReturnType<typeof raceFixture>, task: { idempotency_key: string } | undefined) =>
  f.store.idempotency.get(`demo#${task?.idempotency_key}`);

describe("addTasksBatch: a keyed group claimed one key at a time, written and armed in batches", () => {
  it("A stalls between its claims while B adds the whole group: B takes over from A's first key, in order", async () => {
    // Prepare: A claims key 1, then waits for B to finish before claiming key 2
    const tasks = keyedGroup(3);
    const f = raceFixture(tasks);
    const aHasFirst = signal();
    const bDone = signal();
    const storeA = copyStore(f, {
      claim: async (claim, real) => {
        if (claim.key === tasks[1]?.idempotency_key) await bDone.done;
        const outcome = await real();
        if (claim.key === tasks[0]?.idempotency_key) aHasFirst.fire();
        return outcome;
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

    // Assess: B wrote A's task 1 itself, then claimed 2 and 3 one after another; A writes 1 (found) and replays
    expect(statuses(b)).toEqual([200, 201, 201]);
    expect(statuses(a)).toEqual([201, 200, 200]);
    expect(a.results.map((r) => r.task_id)).toEqual(b.results.map((r) => r.task_id));
    expect(await keyedInRequestOrder(f, a)).toBe(true);
    expect(await f.delivered()).toEqual([0, 1, 2]);
    expect(f.violations).toEqual([]);
    expect(f.oneTaskPerKey()).toBe(true);
  });

  it("B starts first but A wins key 1: B's later keys are minted after it settled item 1, so they sort after A's", async () => {
    // Prepare: B's request begins (and mints) before A's; B's claim of key 1 waits for A's; A's claim of key 2 waits
    // for B to finish. Had B kept ids minted at its start for the items after its first held key, its item 2 would
    // sort before A's item 1.
    const tasks = keyedGroup(3);
    const f = raceFixture(tasks);
    const aHasFirst = signal();
    const bDone = signal();
    const storeA = copyStore(f, {
      claim: async (claim, real) => {
        if (claim.key === tasks[1]?.idempotency_key) await bDone.done;
        const outcome = await real();
        if (claim.key === tasks[0]?.idempotency_key) aHasFirst.fire();
        return outcome;
      },
    });
    const storeB = copyStore(f, {
      claim: async (claim, real) => {
        if (claim.key === tasks[0]?.idempotency_key) await aHasFirst.done;
        return real();
      },
    });

    // Act
    const [b, a] = await Promise.all([
      addTasksBatch({ ...f.deps, store: storeB }, { tasks }).finally(bDone.fire),
      addTasksBatch({ ...f.deps, store: storeA }, { tasks }),
    ]);

    // Assess
    expect(statuses(b)).toEqual([200, 201, 201]);
    expect(statuses(a)).toEqual([201, 200, 200]);
    expect(await keyedInRequestOrder(f, a)).toBe(true);
    expect(await f.delivered()).toEqual([0, 1, 2]);
    expect(f.violations).toEqual([]);
    expect(f.oneTaskPerKey()).toBe(true);
  });

  it("A's write of item 1 fails while item 2's lands: item 2 is not armed; the retry writes item 1 first", async () => {
    // Prepare: A claims both keys; its batch insert leaves item 1 unprocessed and writes item 2. Armed, item 2 would
    // be relayed alone, and item 1 (written later by the retry under its claimed id) delivered after it.
    const tasks = keyedGroup(2);
    const f = raceFixture(tasks);
    const storeA = copyStore(f, { failWrites: [0] });

    // Act
    const a = await addTasksBatch({ ...f.deps, store: storeA }, { tasks });
    const armedByA = [...f.timerQueue.armed];
    const retry = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(statuses(a)).toEqual([503, 503]);
    expect(a.results[1]?.error?.message).toMatch(/not armed: an earlier item of its ordering group/);
    expect(armedByA).toEqual([]);
    expect(statuses(retry)).toEqual([200, 200]);
    expect(retry.results.map((r) => r.task_id)).toEqual(tasks.map((t) => claimOf(f, t)?.taskId));
    expect(await f.delivered()).toEqual([0, 1]);
    expect(f.violations).toEqual([]);
    expect(f.oneTaskPerKey()).toBe(true);
  });

  it("A's claim of item 3 fails and its write of item 1 too: 2 held, 3 not attempted; the same batch again adds all in order", async () => {
    // Prepare: the claim of key 3 throws before it lands; item 1's batch insert is unprocessed
    const tasks = keyedGroup(3);
    const f = raceFixture(tasks);
    const storeA = copyStore(f, {
      failWrites: [0],
      claim: async (claim, real) => {
        if (claim.key === tasks[2]?.idempotency_key) throw new Error("ProvisionedThroughputExceeded");
        return real();
      },
    });

    // Act
    const a = await addTasksBatch({ ...f.deps, store: storeA }, { tasks });
    const thirdClaimed = claimOf(f, tasks[2]);
    const retry = await addTasksBatch(f.deps, { tasks });

    // Assess
    expect(statuses(a)).toEqual([503, 503, 503]);
    expect(a.results[0]?.error?.message).toMatch(/idempotency key/);
    expect(a.results[1]?.error?.message).toMatch(/not armed/);
    expect(a.results[2]?.error?.message).toMatch(/not attempted/);
    expect(thirdClaimed).toBeUndefined();
    expect(statuses(retry)).toEqual([200, 200, 201]);
    expect(await keyedInRequestOrder(f, retry)).toBe(true);
    expect(await f.delivered()).toEqual([0, 1, 2]);
    expect(f.violations).toEqual([]);
    expect(f.oneTaskPerKey()).toBe(true);
  });

  it("A's claim of item 2 lands but its answer is lost: A's single add finds its own claim and writes that task", async () => {
    // Prepare
    const tasks = keyedGroup(2);
    const f = raceFixture(tasks);
    let lost = false;
    const storeA = copyStore(f, {
      claim: async (claim, real) => {
        const outcome = await real();
        if (claim.key !== tasks[1]?.idempotency_key || lost) return outcome;
        lost = true;
        throw new Error("socket hang up");
      },
    });

    // Act
    const a = await addTasksBatch({ ...f.deps, store: storeA }, { tasks });

    // Assess: one task per key, item 2 under the id its claim holds — new (201), as the single add answers its own
    // claim whose answer was lost, not a repeat's 200
    expect(statuses(a)).toEqual([201, 201]);
    expect(a.results[1]?.task_id).toBe(claimOf(f, tasks[1])?.taskId);
    expect(await keyedInRequestOrder(f, a)).toBe(true);
    expect(await f.delivered()).toEqual([0, 1]);
    expect(f.violations).toEqual([]);
    expect(f.oneTaskPerKey()).toBe(true);
  });

  it("A's arm of item 1 fails: item 1 stays written (503, for the retry), item 2 is armed and relayed after it", async () => {
    // Prepare
    const tasks = keyedGroup(2);
    const f = raceFixture(tasks);
    f.timerQueue.failNext = 1;

    // Act
    const a = await addTasksBatch(f.deps, { tasks });
    const retry = await addTasksBatch(f.deps, { tasks });

    // Assess: the relay of item 2 found item 1 written, and sent it first
    expect(statuses(a)).toEqual([503, 201]);
    expect(statuses(retry)).toEqual([200, 200]);
    expect(await f.delivered()).toEqual([0, 1]);
    expect(f.violations).toEqual([]);
    expect(f.oneTaskPerKey()).toBe(true);
  });

  it("B comes while A's writes are in flight: B writes A's tasks itself, in order, and A's inserts find them", async () => {
    // Prepare: A holds all three keys; its writes wait until B has answered
    const tasks = keyedGroup(3);
    const f = raceFixture(tasks);
    const aClaimed = signal();
    const bDone = signal();
    const storeA = copyStore(f, {
      claim: async (claim, real) => {
        const outcome = await real();
        if (claim.key === tasks[2]?.idempotency_key) aClaimed.fire();
        return outcome;
      },
      write: async (_seq, real) => {
        await bDone.done;
        return real();
      },
    });
    const storeB = copyStore(f, {
      claim: async (_claim, real) => {
        await aClaimed.done;
        return real();
      },
    });

    // Act
    const [a, b] = await Promise.all([
      addTasksBatch({ ...f.deps, store: storeA }, { tasks }),
      addTasksBatch({ ...f.deps, store: storeB }, { tasks }).finally(bDone.fire),
    ]);

    // Assess
    expect(statuses(a)).toEqual([201, 201, 201]);
    expect(statuses(b)).toEqual([200, 200, 200]);
    expect(b.results.map((r) => r.task_id)).toEqual(a.results.map((r) => r.task_id));
    expect(await f.delivered()).toEqual([0, 1, 2]);
    expect(f.violations).toEqual([]);
    expect(f.oneTaskPerKey()).toBe(true);
  });
});
