import { describe, expect, it } from "vitest";
import { STARTED_OVERTAKE_MARGIN_MS } from "#shared/adapters/task-store.js";
import { parseTaskId } from "#shared/domain/keys.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import { relayTimerMessages, type TimerMessage } from "#shared/services/relay.js";
import { sweep } from "#shared/services/sweeper/index.js";
import { makeTask, T0 } from "../../support/factories.js";
import { HTTP } from "../../support/fakes/callbacks.js";
import { QUEUE_URL, type Sim, simulate } from "../../support/pipeline-sim.js";

/**
 * The relay and the sweeper as a hostile environment treats them: answers lost after the write happened, clocks
 * that disagree between instances, a Lambda frozen mid-step and thawed minutes later, messages delivered twice at
 * once, runs overlapping, due times exactly on a boundary. Each scenario runs the real services on the simulated
 * pipeline (test/support/pipeline-sim.ts) and checks the promises from the receiver's side, not the steps taken:
 * every accepted task is called (and ends delivered or failed), none before its due time, none after a cancel that
 * succeeded, and each group's first callbacks in group order.
 */

const MINUTE = 60_000;
const FULL_INDEX = { indexNearTermTasks: true } as const;

interface Call {
  readonly id: string;
  readonly atMs: number;
}

/** Every callback the receiver got, with the pipeline's clock at the time. */
function watchCalls(sim: Sim): Call[] {
  const calls: Call[] = [];
  const post = sim.callbacks.post.bind(sim.callbacks);
  sim.callbacks.post = async (request) => {
    calls.push({ id: request.headers["webhook-id"] ?? "", atMs: sim.clock.now });
    return post(request);
  };
  return calls;
}

/** The functions running on their own for a while: relay, deliver every 30 s, the sweeper every minute. */
async function drain(sim: Sim, minutes = 30) {
  for (let i = 0; i < minutes * 2; i++) {
    sim.advance(30_000);
    await sim.runRelay();
    await sim.runDeliver();
    if (i % 2 === 0) await sim.sweep();
  }
}

/**
 * What the promises say about `accepted` (in their group's order) and `cancelled` (cancel answered 200 at the
 * time given): each accepted task called at least once and finished, the group's first callbacks in order, none
 * before due, none of a cancelled task after its cancel.
 */
function broken(
  sim: Sim,
  calls: readonly Call[],
  accepted: readonly string[],
  cancelled: ReadonlyMap<string, number> = new Map(),
): string[] {
  const problems: string[] = [];
  for (const { id, atMs } of calls) {
    const due = parseTaskId(id)?.dueAtMs ?? Number.POSITIVE_INFINITY;
    if (atMs < due) problems.push(`${id} called ${due - atMs} ms early`);
    const cancelAt = cancelled.get(id);
    if (cancelAt !== undefined && atMs >= cancelAt) problems.push(`${id} called after its cancel`);
  }
  const live = accepted.filter((id) => !cancelled.has(id));
  for (const id of live) {
    if (!calls.some((c) => c.id === id)) problems.push(`${id} never called (${sim.status(id)})`);
    else if (sim.status(id) !== "delivered" && sim.status(id) !== "failed")
      problems.push(`${id} ends ${sim.status(id)}`);
  }
  for (const id of cancelled.keys())
    if (sim.status(id) !== "cancelled") problems.push(`${id} ends ${sim.status(id)}`);
  const firstCalls = [...new Set(calls.map((c) => c.id))].filter((id) => live.includes(id));
  if (firstCalls.join() !== live.join()) problems.push(`first calls ${firstCalls} not in order ${live}`);
  return problems;
}

const timesCalled = (calls: readonly Call[], id: string) => calls.filter((c) => c.id === id).length;

/**
 * The head's three attempts fail (maxAttempts 3) and its dead-lettering never finishes: the DLQ sends fail until
 * its message is lost (the maxReceiveCount backstop). Whatever waits behind it in the group stays queued.
 */
async function exhaustWithoutDeadLetter(sim: Sim, head: string) {
  await sim.runRelay();
  sim.callbacks.answer(head, HTTP(500), HTTP(500), HTTP(500));
  sim.fifo.failDeadLetter = true;
  for (let i = 0; i < 3; i++) {
    await sim.runDeliver();
    sim.advance(10_000);
  }
  expect(sim.store.tasks.get(head)).toMatchObject({ status: "delivering", attempts: 3 });
  sim.fifo.lose(head);
  sim.fifo.failDeadLetter = false;
}

/** A gate a frozen step waits at until the spec thaws it. */
function gate() {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/**
 * A Lambda frozen at one step: the first call of `target[method]` waits until `open()`; later calls go through.
 * `reached` says the frozen call was made (the scenario really froze there).
 */
function freezeFirstCall<T extends object>(target: T, method: keyof T & string) {
  const frozen = gate();
  const call = (target[method] as (...args: unknown[]) => Promise<unknown>).bind(target);
  let freezes = 1;
  (target as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    if (freezes-- > 0) await frozen.opened;
    return call(...args);
  };
  return {
    open: frozen.open,
    get reached() {
      return freezes <= 0;
    },
  };
}

/** Lets every promise that can make progress do so (the frozen step stays frozen). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("lost answers: the relay's writes happened, their answers did not come back", () => {
  it.each([false, true])(
    "a SendMessageBatch carrying two groups is executed but answered with an error (relay memory: %s): each task is called once, in order",
    async (relayMemory) => {
      // Prepare: two groups of two tasks due now, in one relay batch; the first send executes and then throws.
      const sim = simulate({ relayMemory });
      const calls = watchCalls(sim);
      const g1 = [await sim.add({ order_id: "lost-1" }), await sim.add({ order_id: "lost-1" })];
      const g2 = [await sim.add({ order_id: "lost-2" }), await sim.add({ order_id: "lost-2" })];
      const send = sim.fifo.sendGroupsInOrder.bind(sim.fifo);
      let lose = 1;
      sim.fifo.sendGroupsInOrder = async (queueUrl, groups) => {
        const result = await send(queueUrl, groups);
        if (lose-- > 0) throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
        return result;
      };

      // Act: the batch fails; its messages come back after the visibility timeout, past FIFO deduplication too.
      const first = await sim.runRelay();
      await drain(sim);

      // Assess
      expect(first.failedMessageIds).toHaveLength(4);
      expect(broken(sim, calls, g1)).toEqual([]);
      expect(broken(sim, calls, g2)).toEqual([]);
      for (const id of [...g1, ...g2]) expect(timesCalled(calls, id)).toBe(1);
    },
  );

  it("a SendMessageBatch whose second entry of a group is refused and whose other group is accepted: the refused part goes later, behind what went, each once", async () => {
    // Prepare
    const sim = simulate({ relayMemory: true });
    const calls = watchCalls(sim);
    const g1 = [
      await sim.add({ order_id: "part-1" }),
      await sim.add({ order_id: "part-1" }),
      await sim.add({ order_id: "part-1" }),
    ];
    const g2 = [await sim.add({ order_id: "part-2" }), await sim.add({ order_id: "part-2" })];
    const refusedGroup = parseTaskId(g1[0] as string)?.pk;
    let refusals = 1;
    sim.fifo.failNext = (groupId) =>
      groupId === refusedGroup && refusals-- > 0 ? { failAt: 1, error: "InternalError" } : undefined;

    // Act
    await sim.runRelay();
    await sim.runDeliver();
    await drain(sim);

    // Assess
    expect(refusals).toBeLessThan(1); // the refusal happened
    expect(broken(sim, calls, g1)).toEqual([]);
    expect(broken(sim, calls, g2)).toEqual([]);
    for (const id of [...g1, ...g2]) expect(timesCalled(calls, id)).toBe(1);
  });

  it("a re-arm of a timer that came 40 minutes early is executed but answered with an error: the task is called once, not before its due time", async () => {
    // Prepare: a task due in 40 minutes whose timer message arrives now (a Scheduler firing or a timer early by
    // a fault: the relay re-arms it, 15 minutes at a time); the first re-arm's answer is lost after it was queued.
    const sim = simulate();
    const calls = watchCalls(sim);
    const id = await sim.put(makeTask({ group: "rearm-lost", dueAtMs: T0 + 40 * MINUTE, acceptedAtMs: T0 }));
    await sim.timer.arm(id, 0);
    const rearm = sim.timer.rearm.bind(sim.timer);
    let lose = 1;
    sim.timer.rearm = async (entries) => {
      const result = await rearm(entries);
      if (lose-- > 0) throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      return result;
    };

    // Act
    const first = await sim.runRelay();
    await drain(sim, 60);

    // Assess
    expect(first.failedMessageIds).toHaveLength(1);
    expect(broken(sim, calls, [id])).toEqual([]);
    expect(timesCalled(calls, id)).toBe(1);
  });

  it("the batch's DeleteMessage is lost after the send, the task is cancelled, and its timer message comes back past FIFO deduplication: never called after the cancel", async () => {
    // Prepare: the relay sends `a` and `b` (a group) and its batch is never acknowledged.
    const sim = simulate({ relayMemory: true });
    const calls = watchCalls(sim);
    const a = await sim.add({ order_id: "del-lost" });
    const b = await sim.add({ order_id: "del-lost" });
    await sim.runRelay({ dieBeforeAck: true });
    const cancelAt = sim.clock.now;
    expect((await sim.store.cancel(a, cancelAt, Number.MAX_SAFE_INTEGER)).outcome).toBe("cancelled");

    // Act: the messages come back twice (each time past the visibility timeout), then deliver runs.
    sim.advance(3 * MINUTE);
    await sim.runRelay({ dieBeforeAck: true });
    sim.advance(3 * MINUTE);
    await sim.runRelay();
    await drain(sim);

    // Assess
    expect(broken(sim, calls, [a, b], new Map([[a, cancelAt]]))).toEqual([]);
    expect(timesCalled(calls, a)).toBe(0);
    expect(timesCalled(calls, b)).toBe(1);
  });
});

describe("lost answers: the sweeper's writes happened, their answers did not come back", () => {
  /** A group whose two tasks lost their timer messages: the sweeper is all that carries them. */
  async function strandedGroup(sim: Sim, orderId: string) {
    sim.timer.dropNext = 2;
    const head = await sim.add({ order_id: orderId, n: "head" });
    const follower = await sim.add({ order_id: orderId, n: "follower" }, { delay_seconds: 1 });
    sim.advance(1_000 + sim.graceMs);
    return [head, follower];
  }

  /** The store's `method` writes and then throws, `times` times. */
  function loseAnswers(sim: Sim, method: "markQueued" | "markRequeued" | "markFailed" | "putNew", times = 1) {
    const store = sim.store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const original = (store[method] as (...args: unknown[]) => Promise<unknown>).bind(sim.store);
    let left = times;
    store[method] = async (...args: unknown[]) => {
      const result = await original(...args);
      if (left-- > 0) throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      return result;
    };
    return () => times - Math.max(left, 0);
  }

  it("its FIFO send is executed but answered with an error: the next run sends again, each task is called once, in order", async () => {
    // Prepare
    const sim = simulate({ sweeper: FULL_INDEX });
    const calls = watchCalls(sim);
    const group = await strandedGroup(sim, "sw-send-lost");
    const send = sim.fifo.sendInOrder.bind(sim.fifo);
    let lose = 1;
    sim.fifo.sendInOrder = async (queueUrl, groupId, taskIds) => {
      const result = await send(queueUrl, groupId, taskIds);
      if (lose-- > 0) throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      return result;
    };

    // Act
    const report = await sim.sweep();
    await drain(sim);

    // Assess
    expect(report.failures).toBe(1);
    expect(broken(sim, calls, group)).toEqual([]);
    for (const id of group) expect(timesCalled(calls, id)).toBe(1);
  });

  it("its `queued` mark is written but answered with an error: each task is called once, in order", async () => {
    // Prepare
    const sim = simulate({ sweeper: FULL_INDEX });
    const calls = watchCalls(sim);
    const group = await strandedGroup(sim, "sw-mark-lost");
    const lost = loseAnswers(sim, "markQueued", 2);

    // Act
    const report = await sim.sweep();
    await drain(sim);

    // Assess
    expect(lost()).toBe(2);
    expect(report.failures).toBe(1);
    expect(broken(sim, calls, group)).toEqual([]);
    for (const id of group) expect(timesCalled(calls, id)).toBe(1);
  });

  it("a requeue mark is written but answered with an error, its copy lost as well: the group is still re-sent and called once each, in order", async () => {
    // Prepare: the group was forwarded by the sweeper, then its FIFO messages were lost; past the stall window.
    const sim = simulate({ sweeper: FULL_INDEX });
    const calls = watchCalls(sim);
    const group = await strandedGroup(sim, "sw-requeue-lost");
    await sim.sweep();
    sim.fifo.lose();
    sim.advance(sim.stalledAfterMs);
    const lost = loseAnswers(sim, "markRequeued", 2);

    // Act: the run requeues the group (its marks' answers lost), and the copies are lost once more.
    await sim.sweep();
    sim.fifo.lose();
    await drain(sim, 40);

    // Assess
    expect(lost()).toBe(2);
    expect(broken(sim, calls, group)).toEqual([]);
    for (const id of group) expect(timesCalled(calls, id)).toBe(1);
  });

  it("finishing a dead-lettering: the DLQ send executed but answered with an error, then `failed` written but answered with an error: one dead letter, no call after, the follower called after the head", async () => {
    // Prepare: the head's attempts are used up (three 503s) and its dead-lettering never finished: the deliver
    // step's DLQ sends fail until its message is lost. The follower waits behind it.
    const sim = simulate({ sweeper: FULL_INDEX });
    const calls = watchCalls(sim);
    const head = await sim.add({ order_id: "sw-dlq-lost", n: "head" });
    const follower = await sim.add({ order_id: "sw-dlq-lost", n: "follower" });
    await exhaustWithoutDeadLetter(sim, head);
    const sendToDeadLetter = sim.fifo.sendToDeadLetter.bind(sim.fifo);
    let loseSend = 1;
    sim.fifo.sendToDeadLetter = async (...args) => {
      await sendToDeadLetter(...args);
      if (loseSend-- > 0) throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
    };
    const lostMark = loseAnswers(sim, "markFailed");

    // Act
    sim.advance(sim.stalledAfterMs);
    await drain(sim, 40);

    // Assess
    expect(loseSend).toBeLessThan(0);
    expect(lostMark()).toBe(1);
    expect(sim.fifo.deadLetters.map((d) => d.taskId)).toEqual([head]);
    expect(sim.status(head)).toBe("failed");
    expect(timesCalled(calls, head)).toBe(3);
    expect(broken(sim, calls, [head, follower])).toEqual([]);
  });

  it("a re-arm from the timer DLQ executed but answered with an error: the pointer stays, the task is called once, not early", async () => {
    // Prepare: a far task's timer message went to the timer DLQ before due (the relay failed it 20 times).
    const sim = simulate();
    const calls = watchCalls(sim);
    const id = await sim.add({ order_id: "sw-rearm-lost" }, { delay_seconds: 600 });
    sim.timer.lose(id);
    sim.timerDlq.put(taskMessageBody(id));
    const armMany = sim.timer.armMany.bind(sim.timer);
    let lose = 1;
    sim.timer.armMany = async (items) => {
      const failed = await armMany(items);
      if (lose-- > 0) throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      return failed;
    };

    // Act
    const report = await sim.sweep();
    await drain(sim);

    // Assess
    expect(report).toMatchObject({ rearmed: 0, failures: 1 });
    expect(broken(sim, calls, [id])).toEqual([]);
    expect(timesCalled(calls, id)).toBe(1);
    expect(sim.timerDlq.messages).toEqual([]);
  });

  it("a dead-letter pointer's DeleteMessage executed but reported failed: nothing is sent again, the task is called once", async () => {
    // Prepare: a due task whose timer message went to the timer DLQ.
    const sim = simulate();
    const calls = watchCalls(sim);
    const id = await sim.add({ order_id: "sw-pointer-lost" });
    sim.timer.lose(id);
    sim.timerDlq.put(taskMessageBody(id));
    const source = sim.sweeperDeps.deadLetters?.source;
    if (!source) throw new Error("the sim has dead-letter queues");
    const remove = source.remove.bind(source);
    let lose = 1;
    source.remove = async (queueUrl, handles) => {
      await remove(queueUrl, handles);
      return { failed: lose-- > 0 ? [...handles] : [] };
    };

    // Act
    const report = await sim.sweep();
    await drain(sim);

    // Assess
    expect(report.failures).toBe(1);
    expect(broken(sim, calls, [id])).toEqual([]);
    expect(timesCalled(calls, id)).toBe(1);
  });

  it("a stopped move's successor is written by the sweeper but answered with an error: the next run finishes the move; the successor is called once, at its new due time, the old id never", async () => {
    // Prepare: a task moved from +20 s to +5 min; the move stopped after marking the old item (its successor's
    // write failed: 503 to the client, who does not retry).
    const sim = simulate();
    const calls = watchCalls(sim);
    const old = await sim.add({ order_id: "sw-move-lost" }, { delay_seconds: 20 });
    const put = sim.store.putNew;
    sim.store.putNew = async () => {
      throw Object.assign(new Error("write failed"), { name: "InternalServerError" });
    };
    await expect(sim.reschedule(old, { delay_seconds: 300 })).rejects.toThrow();
    sim.store.putNew = put;
    const successor = sim.store.tasks.get(old)?.rescheduledTo as string;
    expect(successor).toBeDefined();
    const lost = loseAnswers(sim, "putNew");

    // Act
    await drain(sim);

    // Assess
    expect(lost()).toBe(1);
    expect(timesCalled(calls, old)).toBe(0);
    expect(timesCalled(calls, successor)).toBe(1);
    expect(broken(sim, calls, [successor])).toEqual([]);
    expect(sim.status(old)).toBe("rescheduled");
  });
});

describe("time: clocks that disagree, Lambdas frozen mid-step", () => {
  it("a relay whose clock is 5 s behind and one whose clock is 3 s ahead share a group: nothing is called early, the group's order holds", async () => {
    // Prepare: three tasks of a group due a second apart; the timer messages reach relays with skewed clocks.
    const sim = simulate();
    const calls = watchCalls(sim);
    const ids = [
      await sim.add({ order_id: "skew" }, { delay_seconds: 10 }),
      await sim.add({ order_id: "skew" }, { delay_seconds: 11 }),
      await sim.add({ order_id: "skew" }, { delay_seconds: 12 }),
    ];
    const relayWithSkew = (skewMs: number, messages: readonly TimerMessage[]) =>
      relayTimerMessages(
        {
          store: sim.store,
          topicQueue: sim.fifo,
          timer: sim.timer,
          topicQueueUrls: { demo: QUEUE_URL },
          logger: sim.logger,
          clock: () => sim.clock.now + skewMs,
          sleep: async (ms) => {
            sim.advance(ms);
          },
        },
        messages,
      );
    const messageOf = (id: string): TimerMessage => ({
      messageId: `m-${id}`,
      body: taskMessageBody(id),
      receiveCount: 1,
    });

    // Act: the ahead relay gets the second task's message 3 s before it is due (for its clock, it is due); the
    // behind one the first task's message at its due time (for its clock, 5 s early: re-armed).
    sim.timer.lose();
    sim.advance(8_000);
    await relayWithSkew(3_000, [messageOf(ids[1] as string)]);
    sim.advance(2_000);
    await relayWithSkew(-5_000, [messageOf(ids[0] as string)]);
    await sim.runDeliver();
    sim.advance(2_000);
    await relayWithSkew(3_000, [messageOf(ids[2] as string)]);
    await sim.runDeliver();
    await drain(sim);

    // Assess
    expect(broken(sim, calls, ids)).toEqual([]);
    for (const id of ids) expect(timesCalled(calls, id)).toBe(1);
  });

  it("a relay frozen between its group read and its send, thawed 7 minutes later: the group was sent by another instance meanwhile and delivered; the thawed send calls nothing again", async () => {
    // Prepare: the first relay reads the group and freezes before its send.
    const sim = simulate();
    const calls = watchCalls(sim);
    const a = await sim.add({ order_id: "frozen-relay" });
    const b = await sim.add({ order_id: "frozen-relay" });
    const frozen = freezeFirstCall(sim.fifo, "sendGroupsInOrder");
    const first = sim.runRelay();
    await settle();
    expect(frozen.reached).toBe(true); // frozen at its send

    // Act: its messages come back to another instance after the visibility timeout; that one sends, deliver
    // delivers, a third task is added and delivered; then the first instance thaws and sends what it read.
    sim.advance(3 * MINUTE);
    await sim.runRelay();
    await sim.runDeliver();
    const c = await sim.add({ order_id: "frozen-relay" });
    await sim.runRelay();
    await sim.runDeliver();
    sim.advance(4 * MINUTE);
    frozen.open();
    await first;
    await drain(sim);

    // Assess
    expect(broken(sim, calls, [a, b, c])).toEqual([]);
    for (const id of [a, b, c]) expect(timesCalled(calls, id)).toBe(1);
  });

  it("a relay frozen until the very millisecond its messages' visibility timeout ends (its hold on them), when another instance receives them: both send at that instant, each task is called once, in order", async () => {
    // Prepare: the first relay reads the group and freezes before its send.
    const sim = simulate({ relayMemory: true });
    const calls = watchCalls(sim);
    const ids = [
      await sim.add({ order_id: "visibility-edge" }),
      await sim.add({ order_id: "visibility-edge" }),
    ];
    const frozen = freezeFirstCall(sim.fifo, "sendGroupsInOrder");
    const first = sim.runRelay();
    await settle();
    expect(frozen.reached).toBe(true); // frozen at its send

    // Act: exactly the timer queue's visibility timeout later the messages are visible again; the second instance
    // takes them as the first thaws.
    sim.advance(180_000 - 1);
    expect(sim.timer.receive()).toEqual([]);
    sim.advance(1);
    const second = sim.runRelay();
    frozen.open();
    await Promise.all([first, second]);
    await drain(sim, 2);

    // Assess
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual(ids);
    expect(broken(sim, calls, ids)).toEqual([]);
    for (const id of ids) expect(timesCalled(calls, id)).toBe(1);
  });

  it("a relay frozen between its read and its send while one task is cancelled and another moved: neither old id is called, the moved one at its new time", async () => {
    // Prepare
    const sim = simulate();
    const calls = watchCalls(sim);
    const kept = await sim.add({ order_id: "frozen-change" });
    const cancelled = await sim.add({ order_id: "frozen-change" });
    const moved = await sim.add({ order_id: "frozen-change" });
    const frozen = freezeFirstCall(sim.fifo, "sendGroupsInOrder");
    const first = sim.runRelay();
    await settle();
    expect(frozen.reached).toBe(true); // frozen at its send

    // Act: while it is frozen, one task is cancelled and one moved 2 minutes on; then it thaws and sends.
    sim.advance(5_000);
    const cancelAt = sim.clock.now;
    expect((await sim.store.cancel(cancelled, cancelAt, Number.MAX_SAFE_INTEGER)).outcome).toBe("cancelled");
    const successor = (await sim.reschedule(moved, { delay_seconds: 120 })).task_id;
    frozen.open();
    await first;
    await drain(sim);

    // Assess
    expect(timesCalled(calls, cancelled)).toBe(0);
    expect(timesCalled(calls, moved)).toBe(0);
    expect(broken(sim, calls, [kept, successor], new Map([[cancelled, cancelAt]]))).toEqual([]);
  });

  it("a sweeper run frozen between its group read and its send, thawed minutes later, after the next run repaired the group and a follower was cancelled: no call after the cancel, none again", async () => {
    // Prepare: a stranded group; the first run reads it and freezes before its send.
    const sim = simulate({ sweeper: FULL_INDEX });
    const calls = watchCalls(sim);
    sim.timer.dropNext = 3;
    const head = await sim.add({ order_id: "frozen-sweep", n: "head" });
    const second = await sim.add({ order_id: "frozen-sweep", n: "second" });
    const third = await sim.add({ order_id: "frozen-sweep", n: "third" }, { delay_seconds: 1 });
    sim.advance(1_000 + sim.graceMs);
    const frozen = freezeFirstCall(sim.fifo, "sendInOrder");
    const firstRun = sim.sweep();
    await settle();
    expect(frozen.reached).toBe(true); // frozen at its send

    // Act: a minute later the next run repairs the group; the head is delivered and the third task cancelled
    // (still waiting in the queue); 6 minutes later the first run thaws and sends what it read.
    sim.advance(MINUTE);
    await sim.sweep();
    const headMessage = sim.fifo.takeHead(QUEUE_URL);
    if (headMessage) sim.fifo.putBack(QUEUE_URL, headMessage);
    await sim.runDeliver(1);
    const cancelAt = sim.clock.now;
    expect((await sim.store.cancel(third, cancelAt, Number.MAX_SAFE_INTEGER)).outcome).toBe("cancelled");
    sim.advance(6 * MINUTE);
    frozen.open();
    await firstRun;
    await drain(sim);

    // Assess
    expect(broken(sim, calls, [head, second, third], new Map([[third, cancelAt]]))).toEqual([]);
    for (const id of [head, second]) expect(timesCalled(calls, id)).toBe(1);
  });

  it("a sweeper run frozen between its group read and its send while the stranded head is moved 2 minutes on: the old id is never called, the moved task at its new time, the follower once", async () => {
    // Prepare: a stranded group; the run reads it and freezes before its send.
    const sim = simulate({ sweeper: FULL_INDEX });
    const calls = watchCalls(sim);
    sim.timer.dropNext = 2;
    const head = await sim.add({ order_id: "frozen-move", n: "head" });
    const follower = await sim.add({ order_id: "frozen-move", n: "follower" }, { delay_seconds: 1 });
    sim.advance(1_000 + sim.graceMs);
    const frozen = freezeFirstCall(sim.fifo, "sendInOrder");
    const run = sim.sweep();
    await settle();
    expect(frozen.reached).toBe(true); // frozen at its send

    // Act: the head is moved while the run is frozen; the run then sends what it read and marks it.
    const moved = (await sim.reschedule(head, { delay_seconds: 120 })).task_id;
    frozen.open();
    await run;
    await drain(sim);

    // Assess: the follower may go first (the move put the head behind it, docs/API.md "reschedule").
    expect(timesCalled(calls, head)).toBe(0);
    expect(broken(sim, calls, [follower, moved])).toEqual([]);
    expect(timesCalled(calls, follower)).toBe(1);
    expect(timesCalled(calls, moved)).toBe(1);
  });

  it("two overlapping sweeper runs whose clocks are 20 s ahead and 20 s behind repair one stranded group: nothing called early, each task once, in order", async () => {
    // Prepare: a stranded group whose last task is due 10 s after the head is past the grace.
    const sim = simulate({ sweeper: FULL_INDEX });
    const calls = watchCalls(sim);
    sim.timer.dropNext = 3;
    const ids = [
      await sim.add({ order_id: "skewed-runs" }),
      await sim.add({ order_id: "skewed-runs" }, { delay_seconds: 1 }),
      await sim.add({ order_id: "skewed-runs" }, { delay_seconds: sim.graceMs / 1000 + 10 }),
    ];
    sim.advance(sim.graceMs);

    // Act: both runs at once, then the functions go on (the correct-clock sweeper among them).
    const reports = await Promise.all([
      sweep({ ...sim.sweeperDeps, clock: () => sim.clock.now + 20_000 }),
      sweep({ ...sim.sweeperDeps, clock: () => sim.clock.now - 20_000 }),
    ]);
    await sim.runDeliver();
    await drain(sim);

    // Assess: the run ahead sent the last task 10 s early; deliver held it until due.
    expect(reports.map((r) => r.failures)).toEqual([0, 0]);
    expect(sim.fifo.calls[0]?.taskIds).toEqual(ids);
    expect(broken(sim, calls, ids)).toEqual([]);
    for (const id of ids) expect(timesCalled(calls, id)).toBe(1);
  });

  it("a sweeper run frozen before dead-lettering an exhausted head, thawed after another run dead-lettered it and it was replayed and delivered: one dead letter, the replay stands", async () => {
    // Prepare: an exhausted head whose dead-lettering never finished (its message lost), found by a run that
    // freezes before its DLQ send.
    const sim = simulate({ sweeper: FULL_INDEX });
    const calls = watchCalls(sim);
    const head = await sim.add({ order_id: "frozen-dlq" });
    await exhaustWithoutDeadLetter(sim, head);
    sim.advance(sim.stalledAfterMs);
    const frozen = freezeFirstCall(sim.fifo, "sendToDeadLetter");
    const firstRun = sim.sweep();
    await settle();
    expect(frozen.reached).toBe(true); // frozen at its send

    // Act: the next run dead-letters it; an operator replays it, it is delivered; 6 minutes on the first thaws.
    sim.advance(MINUTE);
    await sim.sweep();
    expect(sim.status(head)).toBe("failed");
    const replayed = await sim.store.markReplayed(head, sim.clock.now);
    expect(replayed.outcome).toBe("replayed");
    await sim.fifo.sendReplay(QUEUE_URL, parseTaskId(head)?.pk as string, head, `${head}#r1`);
    await sim.runDeliver();
    expect(sim.status(head)).toBe("delivered");
    sim.advance(6 * MINUTE);
    frozen.open();
    await firstRun;
    await drain(sim);

    // Assess: the thawed run's `failed` is refused (the task is in another life); its late DLQ copy is judged stale.
    expect(sim.status(head)).toBe("delivered");
    expect(timesCalled(calls, head)).toBe(4);
    expect(sim.fifo.deadLetters.filter((d) => d.taskId === head).length).toBeGreaterThanOrEqual(1);
  });
});

describe("boundaries: due exactly now, exactly the grace, exactly the relay's margin", () => {
  it("a task due exactly now is forwarded and called now; one due a millisecond later is not called before it", async () => {
    // Prepare
    const sim = simulate();
    const calls = watchCalls(sim);
    const now = await sim.add({ order_id: "edge-now" });

    // Act
    await sim.runRelay();
    await sim.runDeliver();
    const next = await sim.add({ order_id: "edge-now" }, { delay_seconds: 0.001 });
    await sim.runRelay();
    await sim.runDeliver();

    // Assess
    expect(calls).toEqual([
      { id: now, atMs: parseTaskId(now)?.dueAtMs },
      { id: next, atMs: parseTaskId(next)?.dueAtMs },
    ]);
    expect(parseTaskId(next)?.dueAtMs).toBe((parseTaskId(now)?.dueAtMs as number) + 1);
    expect(broken(sim, calls, [now, next])).toEqual([]);
  });

  it("a head exactly the grace past due is repaired; a millisecond sooner it is left to its timer", async () => {
    // Prepare: a head whose timer was lost, and a follower due later whose timer is alive.
    const sim = simulate({ sweeper: FULL_INDEX });
    const calls = watchCalls(sim);
    sim.timer.dropNext = 1;
    const head = await sim.add({ order_id: "edge-grace" });

    // Act
    sim.advance(sim.graceMs - 1);
    const early = await sim.sweep();
    sim.advance(1);
    const onTime = await sim.sweep();
    await sim.runDeliver();

    // Assess
    expect(early.forwarded).toBe(0);
    expect(onTime.forwarded).toBe(1);
    expect(broken(sim, calls, [head])).toEqual([]);
  });

  /**
   * `started` is delivered; `late`, due `belowMs` before it, is written only now (an idempotent retry re-creating a
   * first write that failed), its timer message a minute late; `next` is accepted after it. The first callbacks.
   */
  async function lateWriteBelowStarted(belowMs: number) {
    const sim = simulate();
    const calls = watchCalls(sim);
    sim.advance(STARTED_OVERTAKE_MARGIN_MS);
    const started = await sim.add({ order_id: "edge-margin", n: 1 });
    await sim.runRelay();
    await sim.runDeliver();
    const late = await sim.add({ order_id: "edge-margin", n: 0 }, undefined, {
      lateByMs: belowMs,
      firstWriteFails: true,
    });
    for (const m of sim.timer.messages) if (m.taskId === late) m.visibleAtMs += MINUTE;
    const next = await sim.add({ order_id: "edge-margin", n: 2 }, { delay_seconds: 1 });
    await drain(sim, 5);
    return { sim, calls, order: [started, late, next] };
  }

  it("a task written late, due exactly the relay's margin below a started task, still goes ahead of a task accepted after it", async () => {
    // Prepare, Act
    const { sim, calls, order } = await lateWriteBelowStarted(STARTED_OVERTAKE_MARGIN_MS);

    // Assess: it was acknowledged before `next` was due.
    expect(broken(sim, calls, order)).toEqual([]);
  });

  // Known limit (README, honest limits; docs/RELIABILITY.md, "The group Query reads back only to the group's latest
  // started task"): a task re-created more than STARTED_OVERTAKE_MARGIN_MS below a started one is not found by the
  // next task's read. This pins the edge at one millisecond past the margin; it turns red the day the order holds.
  it.fails("a task written late, due a millisecond more than the relay's margin below a started task, goes ahead of a task accepted after it", async () => {
    // Prepare, Act
    const { sim, calls, order } = await lateWriteBelowStarted(STARTED_OVERTAKE_MARGIN_MS + 1);

    // Assess
    expect(broken(sim, calls, order)).toEqual([]);
  });
});

describe("duplicates: one message twice at once, runs overlapping, two functions on one task", () => {
  it.each([false, true])(
    "the same timer message delivered to two relays at once (relay memory: %s): one FIFO message per task, one call each, in order",
    async (relayMemory) => {
      // Prepare: both relays get the follower's message (at-least-once), the head's comes to one of them too.
      const sim = simulate({ relayMemory });
      const calls = watchCalls(sim);
      const head = await sim.add({ order_id: "dup-timer" });
      const follower = await sim.add({ order_id: "dup-timer" });
      const messages = sim.timer.receive();
      const relay = (batch: readonly TimerMessage[]) =>
        relayTimerMessages(
          {
            store: sim.store,
            topicQueue: sim.fifo,
            timer: sim.timer,
            topicQueueUrls: { demo: QUEUE_URL },
            logger: sim.logger,
            clock: () => sim.clock.now,
          },
          batch,
        );
      const asMessage = (m: (typeof messages)[number]): TimerMessage => ({
        messageId: String(m.id),
        body: taskMessageBody(m.taskId),
        receiveCount: 1,
      });
      const followerMessage = messages.find((m) => m.taskId === follower);
      if (!followerMessage) throw new Error("the follower's timer message is visible");

      // Act
      await Promise.all([relay(messages.map(asMessage)), relay([asMessage(followerMessage)])]);
      for (const m of messages) sim.timer.remove(m.id);
      await drain(sim, 2);

      // Assess
      expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([head, follower]);
      expect(broken(sim, calls, [head, follower])).toEqual([]);
      for (const id of [head, follower]) expect(timesCalled(calls, id)).toBe(1);
    },
  );

  it("two sweeper runs dead-letter the same exhausted head at once while its follower waits: one dead letter, the follower after it, once", async () => {
    // Prepare
    const sim = simulate({ sweeper: FULL_INDEX });
    const calls = watchCalls(sim);
    const head = await sim.add({ order_id: "dup-dlq", n: "head" });
    const follower = await sim.add({ order_id: "dup-dlq", n: "follower" });
    await exhaustWithoutDeadLetter(sim, head);
    sim.advance(sim.stalledAfterMs);

    // Act: both runs on the same clock: their `failed` writes carry the same instant, error and attempt, which
    // the store once took for one write sent twice (its first answer lost), so both runs counted it.
    const reports = await Promise.all([sim.sweep(), sweep(sim.sweeperDeps)]);
    await drain(sim);

    // Assess
    // Counted once: the run whose `failed` was refused (the other had written it) repaired nothing.
    expect(reports.map((r) => r.deadLettered).sort()).toEqual([0, 1]);
    expect(sim.fifo.deadLetters.map((d) => d.taskId)).toEqual([head]);
    expect(sim.status(head)).toBe("failed");
    expect(broken(sim, calls, [head, follower])).toEqual([]);
    expect(timesCalled(calls, follower)).toBe(1);
  });

  it("the sweeper judges a head stalled just as deliver takes its record up again: its copies go out while deliver delivers; one call at a time, each task once more at most", async () => {
    // Prepare: the head failed once; its record waits at the queue's head (the follower behind it) for longer
    // than the stall window. The sweeper reads the group and is held at its send.
    const sim = simulate();
    const calls = watchCalls(sim);
    const head = await sim.add({ order_id: "dup-deliver", n: "head" });
    const follower = await sim.add({ order_id: "dup-deliver", n: "follower" });
    // A 500: a 429 or 503 may carry a Retry-After, which keeps the head from being judged stalled that much longer.
    sim.callbacks.answer(head, HTTP(500));
    await sim.runRelay();
    await sim.runDeliver();
    sim.advance(sim.stalledAfterMs);
    const held = freezeFirstCall(sim.fifo, "sendInOrder");
    const run = sim.sweep();
    await settle();
    expect(held.reached).toBe(true); // held at its send

    // Act: deliver runs the head's record (and the follower's) meanwhile; then the sweeper's send goes out.
    await sim.runDeliver();
    held.open();
    const report = await run;
    await drain(sim);

    // Assess: the copies went behind the originals, past FIFO deduplication; deliver skipped them.
    expect(report.failures).toBe(0);
    expect(sim.fifo.enqueued.map((m) => m.taskId)).toEqual([head, follower, head, follower]);
    expect(broken(sim, calls, [head, follower])).toEqual([]);
    expect(timesCalled(calls, head)).toBe(2);
    expect(timesCalled(calls, follower)).toBe(1);
  });
});

describe("order: the sweeper re-sends an earlier task while a later one is already in the FIFO queue", () => {
  it("a group waiting in its FIFO queue (deliver not consuming) past the grace: the sweeper's copies go behind the originals; first calls in order, once each", async () => {
    // Prepare: three tasks of a group relayed; deliver does not consume for 10 minutes (a paused mapping).
    const sim = simulate({ sweeper: FULL_INDEX });
    const calls = watchCalls(sim);
    const ids = [
      await sim.add({ order_id: "order-wait" }),
      await sim.add({ order_id: "order-wait" }),
      await sim.add({ order_id: "order-wait" }, { delay_seconds: 1 }),
    ];
    sim.advance(1_000);
    await sim.runRelay();

    // Act: the sweeper runs every minute meanwhile; then deliver resumes.
    for (let i = 0; i < 10; i++) {
      sim.advance(MINUTE);
      await sim.sweep();
    }
    await drain(sim);

    // Assess: the sweeper did send copies behind the originals (the head `scheduled` past the grace).
    expect(sim.fifo.enqueued.length).toBeGreaterThan(ids.length);
    expect(broken(sim, calls, ids)).toEqual([]);
    for (const id of ids) expect(timesCalled(calls, id)).toBe(1);
  });

  it("a head re-created late by a retry, its timer lost, while its follower is already in the FIFO queue: the sweeper sends it; called once, after the follower (acknowledged after the follower was due)", async () => {
    // Prepare: the head is written late (its first write failed, re-created by the retry after the follower was
    // relayed): the follower is in the FIFO queue; the head's timer message is lost.
    const sim = simulate({ sweeper: FULL_INDEX });
    const calls = watchCalls(sim);
    const follower = await sim.add({ order_id: "order-late" });
    await sim.runRelay();
    sim.timer.dropNext = 1;
    const head = await sim.add({ order_id: "order-late", n: 0 }, undefined, {
      lateByMs: 5_000,
      firstWriteFails: true,
    });

    // Act
    await drain(sim);

    // Assess: the head was acknowledged after the follower was due: it may go after it (the chaos rule), but it
    // must be called, once.
    expect(timesCalled(calls, head)).toBe(1);
    expect(timesCalled(calls, follower)).toBe(1);
    expect(broken(sim, calls, [follower, head])).toEqual([]);
  });
});
