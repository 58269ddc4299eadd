import { describe, expect, it, vi } from "vitest";
import { RecentSendsTopicQueue } from "#shared/adapters/recent-sends.js";
import { bySortKey } from "#shared/domain/keys.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import type { TaskRecord } from "#shared/domain/task.js";
import {
  RELAY_ANSWER_RESERVE_MS,
  RELAY_REARM_WAIT_MS,
  RELAY_RETRY_WAIT_MS,
  type RelayDeps,
  relayTimerMessages,
  type TimerMessage,
} from "#shared/services/relay.js";
import { ManualClock } from "../../support/clock.js";
import { makeTask, seeded, shuffle, timerMessage } from "../../support/factories.js";
import { FakeTimerQueue } from "../../support/fakes/timer-queue.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../support/logger.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
const DEMO_QUEUE = "https://sqs.local/000000000000/punctual-local-demo.fifo";
const OTHER_QUEUE = "https://sqs.local/000000000000/punctual-local-other.fifo";

function setup(nowMs = T0) {
  const store = new MemoryTaskStore();
  const fifo = new FakeTopicQueue();
  const timer = new FakeTimerQueue();
  const clock = new ManualClock(nowMs);
  const logger = memoryLogger();
  const deps: RelayDeps = {
    store,
    topicQueue: fifo,
    timer,
    topicQueueUrls: { demo: DEMO_QUEUE, other: OTHER_QUEUE },
    logger,
    clock: clock.now,
    sleep: clock.sleep,
  };
  const relay = (messages: readonly TimerMessage[]) => relayTimerMessages(deps, messages);
  return { store, fifo, timer, clock, logger, deps, relay };
}

/**
 * A sleep that takes (fake) time only after other work got the chance to run, like a real timer: work started
 * before the sleep runs at the time it started.
 */
function timerLikeSleep(clock: ManualClock): (ms: number) => Promise<void> {
  return async (ms: number) => {
    clock.sleeps.push(ms);
    await new Promise((resolve) => setImmediate(resolve));
    clock.nowMs += ms;
  };
}

/** The clock reading at each task's first send to a FIFO queue. */
function recordSendTimes(fifo: FakeTopicQueue, clock: ManualClock): Map<string, number> {
  const sentAt = new Map<string, number>();
  const send = fifo.sendInOrder.bind(fifo);
  fifo.sendInOrder = async (queueUrl, groupId, taskIds) => {
    for (const id of taskIds) if (!sentAt.has(id)) sentAt.set(id, clock.nowMs);
    return send(queueUrl, groupId, taskIds);
  };
  return sentAt;
}

async function put(store: MemoryTaskStore, ...tasks: TaskRecord[]) {
  for (const task of tasks) await store.putNew(task);
  return tasks;
}

describe("relay: order restored from a shuffled timer queue", () => {
  it.each([1, 7, 42, 1234, 99_999])(
    "seed %i: one group's 20 tasks reach the FIFO queue once each, by due time then acceptance, never early",
    async (seed) => {
      const random = seeded(seed);
      const { store, fifo, clock, relay } = setup(T0 - 5_000);
      // Due offsets with ties (same second and same millisecond), accepted in an order unrelated to due.
      const offsets = [
        0, 0, 0, 400, 400, 1_000, 1_000, 1_000, 2_500, 2_500, 3_000, 3_001, 3_001, 4_000, 4_999, 5_000, 5_000,
        7_000, 7_000, 9_500,
      ];
      const acceptanceOrder = shuffle(offsets, random);
      const tasks = await put(
        store,
        ...acceptanceOrder.map((offset, i) =>
          makeTask({ group: "order-1", dueAtMs: T0 + offset, acceptedAtMs: T0 - 60_000 + i }),
        ),
      );

      // Arrival: the delay was rounded down (up to 1 s early), the standard queue adds 0–3 s and sometimes
      // delivers a message twice.
      const arrivals = tasks.flatMap((task) => {
        const at = task.dueAtMs - Math.floor(random() * 1000) + Math.floor(random() * 3000);
        const copies = random() < 0.2 ? 2 : 1;
        return Array.from({ length: copies }, () => ({ at, message: timerMessage(task.taskId) }));
      });

      // FIFO sends are checked against the clock at the moment of sending: never before due.
      const sendTimes: { taskId: string; at: number }[] = [];
      const send = fifo.sendInOrder.bind(fifo);
      fifo.sendInOrder = async (queueUrl, groupId, taskIds) => {
        for (const taskId of taskIds) sendTimes.push({ taskId, at: clock.nowMs });
        return send(queueUrl, groupId, taskIds);
      };

      let pending = arrivals;
      for (let t = T0 - 1_000; pending.length > 0; t += 700) {
        clock.nowMs = Math.max(clock.nowMs, t);
        const available = shuffle(
          pending.filter((a) => a.at <= clock.nowMs),
          random,
        );
        pending = pending.filter((a) => a.at > clock.nowMs);
        while (available.length > 0) {
          const batch = available.splice(0, 1 + Math.floor(random() * 5)).map((a) => a.message);
          const { failedMessageIds } = await relay(batch);
          expect(failedMessageIds).toEqual([]);
        }
      }

      const expected = [...tasks].sort(bySortKey).map((t) => t.taskId);
      expect(fifo.idsIn(DEMO_QUEUE)).toEqual(expected);
      for (const { taskId, at } of sendTimes) {
        expect(at).toBeGreaterThanOrEqual((store.tasks.get(taskId) as TaskRecord).dueAtMs);
      }
      // The relay writes nothing: a task stays `scheduled` until deliver's conditional start (the cancel fence).
      for (const task of tasks) expect(store.tasks.get(task.taskId)?.status).toBe("scheduled");
      // Every FIFO message carries the group as MessageGroupId.
      expect(new Set(fifo.received.get(DEMO_QUEUE)?.map((m) => m.groupId))).toEqual(new Set([tasks[0]?.pk]));
    },
  );

  it.each([3, 77, 2026])(
    "seed %i, early wake 3 s: batches arriving up to 4 s ahead are held, never re-armed, sent in order, never early",
    async (seed) => {
      // Prepare
      const random = seeded(seed);
      const { store, fifo, clock, timer, deps } = setup(T0 - 5_000);
      const relay = (messages: readonly TimerMessage[]) =>
        relayTimerMessages({ ...deps, earlyWakeSeconds: 3 }, messages);
      const offsets = Array.from({ length: 40 }, () => Math.floor(random() * 3_000));
      const tasks = await put(
        store,
        ...shuffle(offsets, random).map((offset, i) =>
          makeTask({ group: `g-${i % 4}`, dueAtMs: T0 + offset, acceptedAtMs: T0 - 60_000 + i }),
        ),
      );
      // Armed 3 s early and rounded down (up to 4 s early), then 0–2 s of queue jitter, some twice.
      const arrivals = tasks.flatMap((task) => {
        const at = task.dueAtMs - 3_000 - Math.floor(random() * 1000) + Math.floor(random() * 2000);
        return Array.from({ length: random() < 0.2 ? 2 : 1 }, () => ({
          at,
          message: timerMessage(task.taskId),
        }));
      });
      const sentAt = recordSendTimes(fifo, clock);

      // Act: batches of 1–50 of whatever is visible, every 500 ms.
      let pending = arrivals;
      for (let t = T0 - 4_000; pending.length > 0; t += 500) {
        clock.nowMs = Math.max(clock.nowMs, t);
        const available = shuffle(
          pending.filter((a) => a.at <= clock.nowMs),
          random,
        );
        pending = pending.filter((a) => a.at > clock.nowMs);
        while (available.length > 0) {
          const batch = available.splice(0, 1 + Math.floor(random() * 50)).map((a) => a.message);
          expect((await relay(batch)).failedMessageIds).toEqual([]);
        }
      }

      // Assess
      expect(timer.armed).toEqual([]);
      for (const task of tasks) {
        expect(sentAt.get(task.taskId)).toBeGreaterThanOrEqual(task.dueAtMs);
        expect(store.tasks.get(task.taskId)?.status).toBe("scheduled");
      }
      const groups = new Set(tasks.map((t) => t.pk));
      expect(groups.size).toBe(4);
      for (const pk of groups) {
        const expected = tasks
          .filter((t) => t.pk === pk)
          .sort(bySortKey)
          .map((t) => t.taskId);
        const sent = fifo.received
          .get(DEMO_QUEUE)
          ?.filter((m) => m.groupId === pk)
          .map((m) => m.taskId);
        expect(sent).toEqual(expected);
      }
    },
  );

  it("a due message sweeps its group's earlier due tasks along, in order, and only those", async () => {
    const { store, fifo, relay } = setup();
    const [a, b, c, later] = await put(
      store,
      makeTask({ group: "g", dueAtMs: T0 - 3_000, acceptedAtMs: T0 - 10_000 }),
      makeTask({ group: "g", dueAtMs: T0 - 1_000, acceptedAtMs: T0 - 9_000 }),
      makeTask({ group: "g", dueAtMs: T0, acceptedAtMs: T0 - 8_000 }),
      makeTask({ group: "g", dueAtMs: T0 + 60_000, acceptedAtMs: T0 - 7_000 }),
    );
    const other = (await put(store, makeTask({ group: "h", dueAtMs: T0 - 2_000, acceptedAtMs: T0 - 1 })))[0];

    // Only c's message arrived (a and b's are late); c is due exactly now.
    expect(await relay([timerMessage(c?.taskId as string)])).toEqual({ failedMessageIds: [] });
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([a?.taskId, b?.taskId, c?.taskId]);
    expect(store.tasks.get(later?.taskId as string)?.status).toBe("scheduled");
    expect(store.tasks.get(other?.taskId as string)?.status).toBe("scheduled");

    // a's late message sweeps only up to a (still `scheduled`: the relay records nothing); FIFO deduplication
    // drops the copy, so the queue is unchanged.
    expect(await relay([timerMessage(a?.taskId as string)])).toEqual({ failedMessageIds: [] });
    expect(fifo.calls.map((call) => call.taskIds)).toEqual([[a?.taskId, b?.taskId, c?.taskId], [a?.taskId]]);
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([a?.taskId, b?.taskId, c?.taskId]);
  });

  it("an occurrence's message carries its schedule id (a fan-out copy's too), swept along or its own; a plain task's does not", async () => {
    // Prepare: a group with a plain task, an occurrence and a fan-out copy of one (the copy keeps scheduleId)
    const { store, fifo, relay } = setup();
    const [plain, occurrence, copy] = await put(
      store,
      makeTask({ group: "g", dueAtMs: T0 - 3_000, acceptedAtMs: T0 - 10_000 }),
      {
        ...makeTask({ group: "g", dueAtMs: T0 - 2_000, acceptedAtMs: T0 - 9_000 }),
        scheduleId: "s-1",
        scheduleEpoch: 0,
      },
      {
        ...makeTask({ group: "g", dueAtMs: T0 - 1_000, acceptedAtMs: T0 - 8_000 }),
        scheduleId: "s-2",
        scheduleEpoch: 1,
        parentTaskId: "demo.parent",
        subscriber: "sub",
      },
    );

    // Act: only the copy's message arrived; the group's read sweeps the others along
    expect(await relay([timerMessage(copy?.taskId as string)])).toEqual({ failedMessageIds: [] });

    // Assess
    expect(fifo.received.get(DEMO_QUEUE)?.map((m) => [m.taskId, m.scheduleId])).toEqual([
      [plain?.taskId, undefined],
      [occurrence?.taskId, "s-1"],
      [copy?.taskId, "s-2"],
    ]);
  });

  it("a hot group is read only back to its latest started task: what came before it is on its way", async () => {
    // Prepare: one group's last minute, delivered; a task behind that history still `scheduled` (its message was
    // given back to the FIFO queue, or it was overtaken already); then a straggler and the message's own task.
    const { store, fifo, relay } = setup();
    const [behind] = await put(
      store,
      makeTask({ group: "hot", dueAtMs: T0 - 70_000, acceptedAtMs: T0 - 90_000 }),
    );
    const history = await put(
      store,
      ...Array.from({ length: 50 }, (_, i) =>
        makeTask({ group: "hot", dueAtMs: T0 - 60_000 + i * 1_000, acceptedAtMs: T0 - 80_000 }),
      ),
    );
    for (const task of history) {
      await store.startAttempt(task.taskId, T0 - 5_000);
      await store.markDelivered(task.taskId, {
        atMs: T0 - 5_000,
        latenessMs: 0,
        deliveryLatencyMs: 0,
        expiresAt: 1,
      });
    }
    const [straggler, own] = await put(
      store,
      makeTask({ group: "hot", dueAtMs: T0 - 2_000, acceptedAtMs: T0 - 70_000 }),
      makeTask({ group: "hot", dueAtMs: T0, acceptedAtMs: T0 - 70_000 }),
    );
    const reads: unknown[] = [];
    const list = store.listScheduledInGroup.bind(store);
    store.listScheduledInGroup = async (pk, fromMs, toMs, others, options) => {
      reads.push(options);
      return list(pk, fromMs, toMs, others, options);
    };

    // Act
    expect(await relay([timerMessage(own?.taskId as string)])).toEqual({ failedMessageIds: [] });

    // Assess: the straggler goes first, the group's history is not read (DynamoDB bills every item read).
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([straggler?.taskId, own?.taskId]);
    expect(reads).toEqual([{ stopAtStarted: true }]);
    expect(store.tasks.get(behind?.taskId as string)?.status).toBe("scheduled");
  });

  it("a task written after a later one of its group started is still sent before the next due one", async () => {
    // Prepare: `started` (due T0 - 1 s) was relayed and started; `overtaken` sorts before it (due T0 - 1.2 s, its
    // due floored at its acceptance clock) but its write landed after `started` was relayed (a slow write, an
    // idempotent retry re-creating it). It was acknowledged before `next` came due, so it goes before `next`,
    // though its own timer message is late (a fault, a retry): `next`'s read must look past `started`.
    const { store, fifo, relay } = setup();
    const [started, overtaken, next] = await put(
      store,
      makeTask({ group: "slow-write", dueAtMs: T0 - 1_000, acceptedAtMs: T0 - 1_500 }),
      makeTask({ group: "slow-write", dueAtMs: T0 - 1_200, acceptedAtMs: T0 - 1_200 }),
      makeTask({ group: "slow-write", dueAtMs: T0, acceptedAtMs: T0 - 1_500 }),
    );
    await store.startAttempt(started?.taskId as string, T0 - 900);

    // Act
    expect(await relay([timerMessage(next?.taskId as string)])).toEqual({ failedMessageIds: [] });

    // Assess
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([overtaken?.taskId, next?.taskId]);
  });

  it("the sweep ends at the batch's own latest task: a later due task waits for its own message", async () => {
    // Prepare: three due tasks of one group, the last two due the same millisecond (ordered by acceptance);
    // the batch holds only the middle one's message.
    const { store, fifo, relay } = setup();
    const [first, middle, last] = await put(
      store,
      makeTask({ group: "g", dueAtMs: T0 - 2_000, acceptedAtMs: T0 - 10_000 }),
      makeTask({ group: "g", dueAtMs: T0 - 1_000, acceptedAtMs: T0 - 9_000 }),
      makeTask({ group: "g", dueAtMs: T0 - 1_000, acceptedAtMs: T0 - 8_000 }),
    );

    // Act
    const forMiddle = await relay([timerMessage(middle?.taskId as string)]);
    const forLast = await relay([timerMessage(last?.taskId as string)]);

    // Assess: the first batch sent the prefix up to its own task; the last task went with its own message (the
    // prefix again, still `scheduled`, dropped by FIFO deduplication).
    expect(forMiddle).toEqual({ failedMessageIds: [] });
    expect(forLast).toEqual({ failedMessageIds: [] });
    expect(fifo.calls.map((call) => call.taskIds)).toEqual([
      [first?.taskId, middle?.taskId],
      [first?.taskId, middle?.taskId, last?.taskId],
    ]);
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([first?.taskId, middle?.taskId, last?.taskId]);
  });

  it("forwards a task whose own message comes more than the look-back window after its due time", async () => {
    const { store, fifo, relay } = setup();
    const [old] = await put(
      store,
      makeTask({ group: "g", dueAtMs: T0 - 20 * 60_000, acceptedAtMs: T0 - 30 * 60_000 }),
    );
    expect(await relay([timerMessage(old?.taskId as string)])).toEqual({ failedMessageIds: [] });
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([old?.taskId]);
    expect(store.tasks.get(old?.taskId as string)?.status).toBe("scheduled");
  });

  it("a message 20 minutes late takes its group's earlier stragglers first, in order", async () => {
    // Prepare: two tasks of one group, both long overdue; only the later one's timer message arrives.
    const { store, fifo, relay } = setup();
    const [earlier, later] = await put(
      store,
      makeTask({ group: "late", dueAtMs: T0 - 25 * 60_000, acceptedAtMs: T0 - 40 * 60_000 }),
      makeTask({ group: "late", dueAtMs: T0 - 20 * 60_000, acceptedAtMs: T0 - 40 * 60_000 }),
    );

    // Act
    const result = await relay([timerMessage(later?.taskId as string)]);

    // Assess
    expect(result).toEqual({ failedMessageIds: [] });
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([earlier?.taskId, later?.taskId]);
  });

  it("tasks without a group (own pk) are forwarded each to their own message group", async () => {
    const { store, fifo, relay } = setup();
    const tasks = await put(
      store,
      makeTask({ dueAtMs: T0 - 10, acceptedAtMs: T0 - 100 }),
      makeTask({ dueAtMs: T0 - 10, acceptedAtMs: T0 - 99 }),
    );
    expect(await relay(tasks.map((t) => timerMessage(t.taskId)))).toEqual({ failedMessageIds: [] });
    expect(
      fifo.received
        .get(DEMO_QUEUE)
        ?.map((m) => m.groupId)
        .sort(),
    ).toEqual(tasks.map((t) => t.pk).sort());
    expect(new Set(tasks.map((t) => t.pk)).size).toBe(2);
  });
});

describe("relay: timing", () => {
  it("re-arms early arrivals with the remaining whole seconds (capped at 900) and sends nothing", async () => {
    const { store, fifo, timer, relay } = setup();
    const [soon, far] = await put(
      store,
      makeTask({ group: "a", dueAtMs: T0 + 5_700, acceptedAtMs: T0 - 1 }),
      makeTask({ group: "b", dueAtMs: T0 + 2_000_000, acceptedAtMs: T0 - 1 }),
    );
    const result = await relay([timerMessage(soon?.taskId as string), timerMessage(far?.taskId as string)]);
    expect(result).toEqual({ failedMessageIds: [] });
    expect(timer.armed).toEqual([
      { taskId: soon?.taskId, delaySeconds: 5 },
      { taskId: far?.taskId, delaySeconds: 900 },
    ]);
    expect(fifo.calls).toEqual([]);
    expect(store.tasks.get(soon?.taskId as string)?.status).toBe("scheduled");
  });

  it("a failed re-arm fails only that message", async () => {
    const { store, timer, relay } = setup();
    const [a, b] = await put(
      store,
      makeTask({ group: "a", dueAtMs: T0 + 5_000, acceptedAtMs: T0 - 1 }),
      makeTask({ group: "b", dueAtMs: T0 + 6_000, acceptedAtMs: T0 - 1 }),
    );
    timer.failTaskIds.add(a?.taskId as string);
    const ma = timerMessage(a?.taskId as string);
    const mb = timerMessage(b?.taskId as string);
    expect(await relay([ma, mb])).toEqual({ failedMessageIds: [ma.messageId] });
  });

  it("forwards each task at its own due time: one sleep per later due time, none waits for a later one", async () => {
    // Prepare
    const { store, fifo, clock, deps } = setup();
    const relay = (messages: TimerMessage[]) =>
      relayTimerMessages({ ...deps, sleep: timerLikeSleep(clock) }, messages);
    const [a, b, c] = await put(
      store,
      makeTask({ group: "a", dueAtMs: T0 + 300, acceptedAtMs: T0 - 1 }),
      makeTask({ group: "b", dueAtMs: T0 + 800, acceptedAtMs: T0 - 1 }),
      makeTask({ group: "c", dueAtMs: T0 - 5, acceptedAtMs: T0 - 1 }),
    );
    const sentAt = recordSendTimes(fifo, clock);

    // Act
    const result = await relay([a, b, c].map((t) => timerMessage(t?.taskId as string)));

    // Assess
    expect(result).toEqual({ failedMessageIds: [] });
    expect(clock.sleeps).toEqual([300, 500]);
    expect(sentAt.get(c?.taskId as string)).toBe(T0);
    expect(sentAt.get(a?.taskId as string)).toBe(T0 + 300);
    expect(sentAt.get(b?.taskId as string)).toBe(T0 + 800);
    expect(fifo.idsIn(DEMO_QUEUE).sort()).toEqual([a, b, c].map((t) => t?.taskId).sort());
  });

  it("holds a batch that arrived seconds early by design (early wake) and forwards each task exactly when due", async () => {
    // Prepare: armed 3 s early, so the batch arrives up to 4 s ahead and spans two seconds of due times.
    const { store, fifo, clock, timer, deps } = setup();
    const relay = (messages: TimerMessage[]) =>
      relayTimerMessages({ ...deps, earlyWakeSeconds: 3, sleep: timerLikeSleep(clock) }, messages);
    const [first, second, third] = await put(
      store,
      makeTask({ group: "a", dueAtMs: T0 + 2_200, acceptedAtMs: T0 - 3 }),
      makeTask({ group: "a", dueAtMs: T0 + 3_900, acceptedAtMs: T0 - 2 }),
      makeTask({ group: "b", dueAtMs: T0 + 4_000, acceptedAtMs: T0 - 1 }),
    );
    const sentAt = recordSendTimes(fifo, clock);

    // Act
    const result = await relay([third, second, first].map((t) => timerMessage(t?.taskId as string)));

    // Assess: nothing re-armed, nothing early, nothing late, group a in order.
    expect(result).toEqual({ failedMessageIds: [] });
    expect(timer.armed).toEqual([]);
    expect(sentAt.get(first?.taskId as string)).toBe(T0 + 2_200);
    expect(sentAt.get(second?.taskId as string)).toBe(T0 + 3_900);
    expect(sentAt.get(third?.taskId as string)).toBe(T0 + 4_000);
    const groupA = fifo.received.get(DEMO_QUEUE)?.filter((m) => m.groupId === first?.pk);
    expect(groupA?.map((m) => m.taskId)).toEqual([first?.taskId, second?.taskId]);
  });

  it("re-arms what is earlier than the early wake allows, less the early wake", async () => {
    // Prepare
    const { store, clock, timer, deps } = setup();
    const [far] = await put(store, makeTask({ group: "a", dueAtMs: T0 + 10_500, acceptedAtMs: T0 - 1 }));

    // Act
    await relayTimerMessages({ ...deps, earlyWakeSeconds: 3 }, [timerMessage(far?.taskId as string)]);

    // Assess: 10.5 s to go, 3 s of early wake → back on the timer queue for 7 s, nothing slept.
    expect(timer.armed).toEqual([{ taskId: far?.taskId, delaySeconds: 7 }]);
    expect(clock.sleeps).toEqual([]);
  });

  it("does not make already-due tasks wait for the sub-second ones; a group in both passes stays in order", async () => {
    const { store, fifo, clock, deps } = setup();
    // A sleep that takes (fake) time only after other work got the chance to run, like a real timer.
    const sleeps: number[] = [];
    const sleep = async (ms: number) => {
      sleeps.push(ms);
      await new Promise((resolve) => setImmediate(resolve));
      clock.nowMs += ms;
    };
    const relay = (messages: TimerMessage[]) => relayTimerMessages({ ...deps, sleep }, messages);
    const [late, sameGroupSoon, otherSoon] = await put(
      store,
      makeTask({ group: "a", dueAtMs: T0 - 2_000, acceptedAtMs: T0 - 9 }),
      makeTask({ group: "a", dueAtMs: T0 + 600, acceptedAtMs: T0 - 8 }),
      makeTask({ group: "b", dueAtMs: T0 + 900, acceptedAtMs: T0 - 7 }),
    );
    const sentAt = new Map<string, number>();
    const send = fifo.sendInOrder.bind(fifo);
    fifo.sendInOrder = async (queueUrl, groupId, taskIds) => {
      for (const id of taskIds) if (!sentAt.has(id)) sentAt.set(id, clock.nowMs);
      return send(queueUrl, groupId, taskIds);
    };
    const result = await relay(
      [otherSoon, sameGroupSoon, late].map((t) => timerMessage(t?.taskId as string)),
    );
    expect(result).toEqual({ failedMessageIds: [] });
    expect(sentAt.get(late?.taskId as string)).toBe(T0);
    expect(sentAt.get(sameGroupSoon?.taskId as string)).toBe(T0 + 600);
    expect(sentAt.get(otherSoon?.taskId as string)).toBe(T0 + 900);
    expect(sleeps).toEqual([600, 300]);
    const groupA = fifo.received.get(DEMO_QUEUE)?.filter((m) => m.groupId === late?.pk);
    expect(groupA?.map((m) => m.taskId)).toEqual([late?.taskId, sameGroupSoon?.taskId]);
    expect(fifo.idsIn(DEMO_QUEUE)).toHaveLength(3);
  });

  it("what comes due while a wave is being sent joins the next wave: no task waits longer than the wave under way", async () => {
    // Prepare: 10 groups due 20 ms apart; each wave's send takes 30 ms (the clock moves while it runs)
    const { store, fifo, clock, deps } = setup(T0);
    const tasks = await put(
      store,
      ...Array.from({ length: 10 }, (_, i) =>
        makeTask({ group: `w${i}`, dueAtMs: T0 + 20 * i, acceptedAtMs: T0 - 9 }),
      ),
    );
    const sentAt = new Map<string, number>();
    const send = fifo.sendGroupsInOrder.bind(fifo);
    fifo.sendGroupsInOrder = async (queueUrl, groups) => {
      for (const g of groups) for (const id of g.taskIds) sentAt.set(id, clock.nowMs);
      clock.nowMs += 30;
      return send(queueUrl, groups);
    };

    // Act
    const result = await relayTimerMessages(
      deps,
      tasks.map((t) => timerMessage(t.taskId)),
    );

    // Assess: never early; at most the wave under way when it came due plus its own; fewer waves than due times
    expect(result).toEqual({ failedMessageIds: [] });
    for (const task of tasks) {
      const at = sentAt.get(task.taskId) as number;
      expect(at).toBeGreaterThanOrEqual(task.dueAtMs);
      expect(at - task.dueAtMs).toBeLessThanOrEqual(30);
    }
    expect(fifo.groupCalls.length).toBeLessThan(tasks.length);
  });

  it("sleeps again if the timer fired early: nothing is forwarded before its due time", async () => {
    const { store, fifo, clock, deps } = setup();
    const [a] = await put(store, makeTask({ group: "a", dueAtMs: T0 + 500, acceptedAtMs: T0 - 1 }));
    const sleeps: number[] = [];
    const early = async (ms: number) => {
      sleeps.push(ms);
      clock.nowMs += Math.max(1, ms - 2); // a timer 2 ms early
    };
    let sentAt = 0;
    const send = fifo.sendInOrder.bind(fifo);
    fifo.sendInOrder = async (...args) => {
      sentAt = clock.nowMs;
      return send(...args);
    };
    await relayTimerMessages({ ...deps, sleep: early }, [timerMessage(a?.taskId as string)]);
    expect(sleeps.length).toBeGreaterThan(1);
    expect(sentAt).toBeGreaterThanOrEqual(T0 + 500);
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([a?.taskId]);
  });
});

describe("relay: statuses and failures", () => {
  it("drops cancelled, queued and delivered tasks and missing ones", async () => {
    const { store, fifo, relay } = setup();
    const [cancelled, queued, delivered] = await put(
      store,
      makeTask({ group: "a", dueAtMs: T0 - 1_000, acceptedAtMs: T0 - 9 }),
      makeTask({ group: "b", dueAtMs: T0 - 1_000, acceptedAtMs: T0 - 8, status: "queued" }),
      makeTask({ group: "c", dueAtMs: T0 - 1_000, acceptedAtMs: T0 - 7, status: "delivered" }),
    );
    await store.cancel(cancelled?.taskId as string, T0 - 500, 0);
    const missing = makeTask({ group: "d", dueAtMs: T0 - 1_000, acceptedAtMs: T0 - 6 });
    const result = await relay(
      [cancelled, queued, delivered, missing].map((t) => timerMessage(t?.taskId as string)),
    );
    expect(result).toEqual({ failedMessageIds: [] });
    expect(fifo.calls).toEqual([]);
    expect(store.tasks.get(cancelled?.taskId as string)?.status).toBe("cancelled");
  });

  it("sends no copy of a task whose read-free start was refunded unused (`scheduled` again, its record on the FIFO queue), swept along or its own", async () => {
    // Prepare: a handed over, started without a read and refunded (`scheduled` again, that start on record); b
    // due after it in its group; c alone, its own timer message coming again (Scheduler fires at least once)
    const { store, fifo, relay } = setup();
    const [a, b, c] = await put(
      store,
      makeTask({ group: "g", dueAtMs: T0 - 3_000, acceptedAtMs: T0 - 10_000 }),
      makeTask({ group: "g", dueAtMs: T0 - 1_000, acceptedAtMs: T0 - 9_000 }),
      makeTask({ group: "k", dueAtMs: T0 - 2_000, acceptedAtMs: T0 - 8_000 }),
    );
    for (const t of [a, c]) {
      const started = (await store.startAttempt(t?.taskId as string, T0 - 500, 5)) as TaskRecord;
      const refund = { attemptSeq: 1, attempts: started.attempts, refund: true, restore: true };
      await store.recordAttemptFailure(started.taskId, { error: "unused", atMs: T0 - 400, ...refund });
    }
    expect([a, c].map((t) => store.tasks.get(t?.taskId as string)?.status)).toEqual([
      "scheduled",
      "scheduled",
    ]);

    // Act
    const result = await relay([b, c].map((t) => timerMessage(t?.taskId as string)));

    // Assess: only b goes; a and c wait for the records they have
    expect(result).toEqual({ failedMessageIds: [] });
    expect(fifo.calls.map((call) => call.taskIds)).toEqual([[b?.taskId]]);
  });

  it("logs and drops unreadable messages instead of poisoning the queue (no content in logs)", async () => {
    const { fifo, logger, relay } = setup();
    const messages: TimerMessage[] = [
      { messageId: "m1", body: "not json", receiveCount: 1 },
      { messageId: "m2", body: JSON.stringify({ v: 2, taskId: "x" }), receiveCount: 1 },
      { messageId: "m3", body: taskMessageBody("demo.nope"), receiveCount: 5 },
    ];
    expect(await relay(messages)).toEqual({ failedMessageIds: [] });
    expect(fifo.calls).toEqual([]);
    expect(logger.entries.filter((e) => e.level === "error").map((e) => e.extra?.messageId)).toEqual([
      "m1",
      "m2",
      "m3",
    ]);
  });

  it("fails the messages of a topic without a configured FIFO queue", async () => {
    const { store, fifo, logger, relay } = setup();
    const [t] = await put(
      store,
      makeTask({ topic: "ghost", group: "a", dueAtMs: T0 - 1, acceptedAtMs: T0 - 2 }),
    );
    const m = timerMessage(t?.taskId as string);
    expect(await relay([m])).toEqual({ failedMessageIds: [m.messageId] });
    expect(fifo.calls).toEqual([]);
    expect(logger.entries.some((e) => e.level === "error" && e.extra?.topic === "ghost")).toBe(true);
  });

  it("a failing group fails only its own messages; other groups and topics proceed", async () => {
    const { store, fifo, relay } = setup();
    const [a1, a2, b1, o1] = await put(
      store,
      makeTask({ group: "a", dueAtMs: T0 - 2, acceptedAtMs: T0 - 9 }),
      makeTask({ group: "a", dueAtMs: T0 - 1, acceptedAtMs: T0 - 8 }),
      makeTask({ group: "b", dueAtMs: T0 - 1, acceptedAtMs: T0 - 7 }),
      makeTask({ topic: "other", group: "a", dueAtMs: T0 - 1, acceptedAtMs: T0 - 6 }),
    );
    fifo.failNext = (groupId) => (groupId === a1?.pk ? { failAt: 0, error: "Throttled" } : undefined);
    const messages = [a1, a2, b1, o1].map((t) => timerMessage(t?.taskId as string));
    const result = await relay(messages);
    expect(result.failedMessageIds.sort()).toEqual([messages[0]?.messageId, messages[1]?.messageId].sort());
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([b1?.taskId]);
    expect(fifo.idsIn(OTHER_QUEUE)).toEqual([o1?.taskId]);
    expect(store.tasks.get(a1?.taskId as string)?.status).toBe("scheduled");
  });

  it("a failed message comes back after a short backoff by its receive count, not the visibility timeout", async () => {
    // Prepare: group a fails to send; group b goes. The messages carry receipt handles, as Lambda's records do.
    const { store, fifo, deps } = setup();
    const [a1, a2, b1] = await put(
      store,
      makeTask({ group: "a", dueAtMs: T0 - 2, acceptedAtMs: T0 - 9 }),
      makeTask({ group: "a", dueAtMs: T0 - 1, acceptedAtMs: T0 - 8 }),
      makeTask({ group: "b", dueAtMs: T0 - 1, acceptedAtMs: T0 - 7 }),
    );
    fifo.failNext = (groupId) => (groupId === a1?.pk ? { failAt: 0, error: "Throttled" } : undefined);
    const messages = [a1, a2, b1].map((t, i) => ({
      ...timerMessage(t?.taskId as string, [1, 4, 1][i]),
      receiptHandle: `rh-${i}`,
    }));
    const changes: { receiptHandle: string; seconds: number }[] = [];
    const retryAfter = async (batch: readonly { receiptHandle: string; seconds: number }[]) => {
      changes.push(...batch);
      return { failed: [] };
    };

    // Act
    const result = await relayTimerMessages(
      { ...deps, random: () => 0, timer: { rearm: deps.timer.rearm, retryAfter } },
      messages,
    );

    // Assess: only the failed group's messages, 1 s after a first receive, half of the 8 s step after a fourth
    // (the jitter at its least)
    expect(result.failedMessageIds.sort()).toEqual([messages[0]?.messageId, messages[1]?.messageId].sort());
    expect(changes).toEqual([
      { receiptHandle: "rh-0", seconds: 1 },
      { receiptHandle: "rh-1", seconds: 4 },
    ]);
  });

  it.each([500, 1_000, 1_500])(
    "a failed head's message back after its 1 s backoff, the group's next task due %i ms after it: the group reaches FIFO in order, each task once",
    async (laterMs) => {
      // Prepare: two tasks of a group; the head's forward is refused once, so its message is retried after the
      // backoff — before, with or after the next task's own message.
      const { store, fifo, clock, deps } = setup();
      const [head, next] = await put(
        store,
        makeTask({ group: "g", dueAtMs: T0, acceptedAtMs: T0 - 9 }),
        makeTask({ group: "g", dueAtMs: T0 + laterMs, acceptedAtMs: T0 - 8 }),
      );
      let refusals = 1;
      fifo.failNext = () => (refusals-- > 0 ? { failAt: 0, error: "ThrottlingException" } : undefined);
      const waits: number[] = [];
      const relay = (taskId: string, receiveCount: number) =>
        relayTimerMessages(
          {
            ...deps,
            random: () => 0,
            timer: {
              rearm: deps.timer.rearm,
              retryAfter: async (changes) => {
                waits.push(...changes.map((c) => c.seconds));
                return { failed: [] };
              },
            },
          },
          [{ ...timerMessage(taskId, receiveCount), receiptHandle: `rh-${taskId}-${receiveCount}` }],
        );
      const refused = await relay(head?.taskId as string, 1);

      // Act: the head's message comes back when its wait ends, the next task's when it is due, in time order
      const arrivals = [
        { atMs: T0 + (waits[0] ?? Number.NaN) * 1000, taskId: head?.taskId as string, receiveCount: 2 },
        { atMs: T0 + laterMs, taskId: next?.taskId as string, receiveCount: 1 },
      ].sort((a, b) => a.atMs - b.atMs);
      const results = [];
      for (const arrival of arrivals) {
        clock.nowMs = arrival.atMs;
        results.push(await relay(arrival.taskId, arrival.receiveCount));
      }

      // Assess
      expect(refused.failedMessageIds).toHaveLength(1);
      expect(waits).toEqual([1]);
      expect(results.map((r) => r.failedMessageIds)).toEqual([[], []]);
      expect(fifo.idsIn(DEMO_QUEUE)).toEqual([head?.taskId, next?.taskId]);
    },
  );

  it("a backoff that cannot be set still reports the message failed (it comes back after the visibility timeout)", async () => {
    // Prepare
    const { store, fifo, deps, logger } = setup();
    const [task] = await put(store, makeTask({ group: "a", dueAtMs: T0 - 1, acceptedAtMs: T0 - 9 }));
    fifo.failNext = () => ({ failAt: 0, error: "InternalError" });
    const message = { ...timerMessage(task?.taskId as string), receiptHandle: "rh" };
    const retryAfter = async () => {
      throw new Error("SQS is down");
    };

    // Act
    const result = await relayTimerMessages({ ...deps, timer: { rearm: deps.timer.rearm, retryAfter } }, [
      message,
    ]);

    // Assess
    expect(result).toEqual({ failedMessageIds: [message.messageId] });
    expect(logger.entries.filter((e) => e.level === "warn").map((e) => e.extra)).toContainEqual({
      count: 1,
      errors: ["Error: SQS is down"],
    });
  });

  it("a backoff call that never answers is given up after RELAY_RETRY_WAIT_MS: the batch answers, the call is aborted", async () => {
    // Prepare: the forward fails; the visibility change hangs (its answer lost) until aborted
    const { store, fifo, deps, logger } = setup();
    const [task] = await put(store, makeTask({ group: "a", dueAtMs: T0 - 1, acceptedAtMs: T0 - 9 }));
    fifo.failNext = () => ({ failAt: 0, error: "InternalError" });
    const message = { ...timerMessage(task?.taskId as string), receiptHandle: "rh" };
    let aborted = false;
    const retryAfter = (_changes: unknown, signal?: AbortSignal) =>
      new Promise<{ failed: string[] }>(() => {
        signal?.addEventListener("abort", () => {
          aborted = true;
        });
      });
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      // Act
      const result = relayTimerMessages({ ...deps, timer: { rearm: deps.timer.rearm, retryAfter } }, [
        message,
      ]);
      await vi.advanceTimersByTimeAsync(RELAY_RETRY_WAIT_MS);

      // Assess
      expect(await result).toEqual({ failedMessageIds: [message.messageId] });
      expect(aborted).toBe(true);
      expect(logger.entries.some((e) => e.level === "warn" && /did not answer in time/.test(e.message))).toBe(
        true,
      );
    } finally {
      vi.useRealTimers();
    }
  });

  it("a re-arm call that never answers is given up after RELAY_REARM_WAIT_MS: its message is failed and backed off, not left to the relay's timeout", async () => {
    // Prepare: a task due in 2 minutes (re-armed, not held); the SendMessageBatch of its re-arm hangs (its answer
    // lost: the SDK sets no request timeout) until aborted
    const { store, deps } = setup();
    const [task] = await put(store, makeTask({ group: "a", dueAtMs: T0 + 120_000, acceptedAtMs: T0 - 9 }));
    const message = { ...timerMessage(task?.taskId as string), receiptHandle: "rh" };
    let aborted = false;
    const rearm = (_entries: unknown, signal?: AbortSignal) =>
      new Promise<{ failedTaskIds: string[] }>(() => {
        signal?.addEventListener("abort", () => {
          aborted = true;
        });
      });
    const backedOff: string[] = [];
    const retryAfter = async (changes: readonly { receiptHandle: string }[]) => {
      backedOff.push(...changes.map((c) => c.receiptHandle));
      return { failed: [] };
    };
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      // Act
      const result = relayTimerMessages({ ...deps, timer: { rearm, retryAfter } }, [message]);
      await vi.advanceTimersByTimeAsync(RELAY_REARM_WAIT_MS);

      // Assess: answered within the bound, the call torn down, the message back in a second or two
      expect(await result).toEqual({ failedMessageIds: [message.messageId] });
      expect(aborted).toBe(true);
      expect(backedOff).toEqual(["rh"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a forward that never answers is given up before the invocation's timeout: the batch answers, its messages backed off", async () => {
    // Prepare: a due task whose FIFO send hangs (its answer lost: the SDK sets no request timeout); the invocation
    // has 30 s left, the relay's timeout
    const { store, fifo, deps } = setup();
    const [task] = await put(store, makeTask({ group: "a", dueAtMs: T0 - 1, acceptedAtMs: T0 - 9 }));
    const message = { ...timerMessage(task?.taskId as string), receiptHandle: "rh" };
    fifo.sendGroupsInOrder = () => new Promise(() => undefined);
    const backedOff: string[] = [];
    const retryAfter = async (changes: readonly { receiptHandle: string }[]) => {
      backedOff.push(...changes.map((c) => c.receiptHandle));
      return { failed: [] };
    };
    const remainingMs = () => 30_000;
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      // Act
      const result = relayTimerMessages(
        { ...deps, remainingMs, timer: { rearm: deps.timer.rearm, retryAfter } },
        [message],
      );
      await vi.advanceTimersByTimeAsync(30_000 - RELAY_ANSWER_RESERVE_MS);

      // Assess: answered in time (Lambda would otherwise fail the whole batch, back after 180 s), backed off
      expect(await result).toEqual({ failedMessageIds: [message.messageId] });
      expect(backedOff).toEqual(["rh"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a batch given up at its budget reports failed only the messages still unfinished, not those its waves sent", async () => {
    // Prepare: group A's send never answers; group B's task, due 1.5 s later in the same batch, is sent
    const { store, fifo, deps } = setup();
    const [a, b] = await put(
      store,
      makeTask({ group: "a", dueAtMs: T0, acceptedAtMs: T0 - 9 }),
      makeTask({ group: "b", dueAtMs: T0 + 1_500, acceptedAtMs: T0 - 9 }),
    );
    const send = fifo.sendGroupsInOrder.bind(fifo);
    fifo.sendGroupsInOrder = (queueUrl, groups) =>
      groups.some((g) => g.groupId === a?.pk) ? new Promise(() => undefined) : send(queueUrl, groups);
    const [ma, mb] = [a, b].map((t) => timerMessage(t?.taskId as string));
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      // Act
      const result = relayTimerMessages({ ...deps, earlyWakeSeconds: 2, remainingMs: () => 30_000 }, [
        ma as TimerMessage,
        mb as TimerMessage,
      ]);
      await vi.advanceTimersByTimeAsync(30_000 - RELAY_ANSWER_RESERVE_MS);

      // Assess: B sent and not retried; A's message retried
      expect(await result).toEqual({ failedMessageIds: [ma?.messageId] });
      expect(fifo.idsIn(DEMO_QUEUE)).toEqual([b?.taskId]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a batch given up at its budget does not report failed a group its wave sent beside a group held by a hung wave", async () => {
    // Prepare: group A's first send never answers; A's next task and group B's task come due 1.5 s later, in one
    // wave: A's part waits for the hung wave, B's part is sent
    const { store, fifo, deps } = setup();
    const [a, aNext, b] = await put(
      store,
      makeTask({ group: "a", dueAtMs: T0, acceptedAtMs: T0 - 9 }),
      makeTask({ group: "a", dueAtMs: T0 + 1_500, acceptedAtMs: T0 - 9 }),
      makeTask({ group: "b", dueAtMs: T0 + 1_500, acceptedAtMs: T0 - 9 }),
    );
    const send = fifo.sendGroupsInOrder.bind(fifo);
    fifo.sendGroupsInOrder = (queueUrl, groups) =>
      groups.some((g) => g.groupId === a?.pk) ? new Promise(() => undefined) : send(queueUrl, groups);
    const [ma, maNext, mb] = [a, aNext, b].map((t) => timerMessage(t?.taskId as string)) as TimerMessage[];
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      // Act
      const result = relayTimerMessages(
        { ...deps, earlyWakeSeconds: 2, waveWaitMs: 50, remainingMs: () => 30_000 },
        [ma, maNext, mb] as TimerMessage[],
      );
      await vi.advanceTimersByTimeAsync(30_000 - RELAY_ANSWER_RESERVE_MS);

      // Assess: B sent and not retried; A's two messages retried
      expect(fifo.idsIn(DEMO_QUEUE)).toEqual([b?.taskId]);
      expect((await result).failedMessageIds.sort()).toEqual([ma?.messageId, maNext?.messageId].sort());
    } finally {
      vi.useRealTimers();
    }
  });

  it("asks for no backoff when nothing failed", async () => {
    const { store, deps } = setup();
    const [task] = await put(store, makeTask({ group: "a", dueAtMs: T0 - 1, acceptedAtMs: T0 - 9 }));
    let calls = 0;
    const retryAfter = async () => {
      calls++;
      return { failed: [] };
    };
    const message = { ...timerMessage(task?.taskId as string), receiptHandle: "rh" };
    expect(
      await relayTimerMessages({ ...deps, timer: { rearm: deps.timer.rearm, retryAfter } }, [message]),
    ).toEqual({
      failedMessageIds: [],
    });
    expect(calls).toBe(0);
  });

  it("a clock stepped back during the run (NTP) does not turn a task its wave found due into a retry minutes later", async () => {
    // Prepare: a task due now; the clock reads now for the batch and its wave, then steps 2 s back.
    const { store, fifo, deps } = setup();
    const [task] = await put(store, makeTask({ group: "g", dueAtMs: T0, acceptedAtMs: T0 - 50 }));
    const readings = [T0, T0];
    const stepped = { ...deps, clock: () => readings.shift() ?? T0 - 2_000 };
    const message = timerMessage(task?.taskId as string);

    // Act
    const result = await relayTimerMessages(stepped, [message]);

    // Assess: sent now, not left to wait out the timer queue's visibility timeout
    expect(result).toEqual({ failedMessageIds: [] });
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([task?.taskId]);
  });

  it("a send failing part-way fails the group, and the retry sends the rest in order (the rest deduplicated)", async () => {
    const { store, fifo, relay } = setup();
    const tasks = await put(
      store,
      ...[0, 1, 2, 3].map((i) =>
        makeTask({ group: "g", dueAtMs: T0 - 100 + i, acceptedAtMs: T0 - 1_000 + i }),
      ),
    );
    const message = timerMessage(tasks[3]?.taskId as string);
    let failures = 1;
    fifo.failNext = () => (failures-- > 0 ? { failAt: 2, error: "InternalError" } : undefined);
    expect(await relay([message])).toEqual({ failedMessageIds: [message.messageId] });
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual(tasks.slice(0, 2).map((t) => t.taskId));

    expect(await relay([message])).toEqual({ failedMessageIds: [] });
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual(tasks.map((t) => t.taskId));
    expect(tasks.every((t) => store.tasks.get(t.taskId)?.status === "scheduled")).toBe(true);
  });

  it("a task forwarded but not yet started can still be cancelled, and deliver's conditional start then refuses it", async () => {
    // Prepare
    const { store, fifo, relay } = setup();
    const [task] = await put(store, makeTask({ group: "g", dueAtMs: T0 - 5, acceptedAtMs: T0 - 50 }));
    const id = task?.taskId as string;
    await relay([timerMessage(id)]);
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([id]);

    // Act: the cancel lands while the message waits in the FIFO queue, then deliver takes the message.
    const cancelled = await store.cancel(id, T0, 0);
    const started = await store.startAttempt(id, T0 + 1);

    // Assess
    expect(cancelled.outcome).toBe("cancelled");
    expect(started).toBeUndefined();
    expect(store.tasks.get(id)?.status).toBe("cancelled");
  });

  it("with the container's recent-send memory, a later message of the group sends only what is new", async () => {
    // Prepare: the same three tasks as "the sweep ends at the batch's own latest task"
    const { store, fifo, deps } = setup();
    const remembering = { ...deps, topicQueue: new RecentSendsTopicQueue(fifo, () => T0) };
    const relay = (messages: readonly TimerMessage[]) => relayTimerMessages(remembering, messages);
    const [first, middle, last] = await put(
      store,
      makeTask({ group: "g", dueAtMs: T0 - 2_000, acceptedAtMs: T0 - 10_000 }),
      makeTask({ group: "g", dueAtMs: T0 - 1_000, acceptedAtMs: T0 - 9_000 }),
      makeTask({ group: "g", dueAtMs: T0 - 1_000, acceptedAtMs: T0 - 8_000 }),
    );

    // Act
    await relay([timerMessage(middle?.taskId as string)]);
    const forLast = await relay([timerMessage(last?.taskId as string)]);

    // Assess: the prefix is not sent again (FIFO would have dropped it); the queue is the same
    expect(forLast).toEqual({ failedMessageIds: [] });
    expect(fifo.calls.map((call) => call.taskIds)).toEqual([[first?.taskId, middle?.taskId], [last?.taskId]]);
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([first?.taskId, middle?.taskId, last?.taskId]);
  });

  it("a message whose task this container already sent (with everything before it) needs no Query", async () => {
    // Prepare: c's message swept a and b along
    const { store, fifo, deps } = setup();
    const remembering = { ...deps, topicQueue: new RecentSendsTopicQueue(fifo, () => T0) };
    const relay = (messages: readonly TimerMessage[]) => relayTimerMessages(remembering, messages);
    const [a, b, c] = await put(
      store,
      ...[0, 1, 2].map((i) => makeTask({ group: "q", dueAtMs: T0 - 100 + i, acceptedAtMs: T0 - 1_000 + i })),
    );
    await relay([timerMessage(c?.taskId as string)]);
    let queries = 0;
    const list = store.listScheduledInGroup.bind(store);
    store.listScheduledInGroup = async (...args) => {
      queries++;
      return list(...args);
    };

    // Act: a's and b's own messages come in
    const result = await relay([a, b].map((t) => timerMessage(t?.taskId as string)));

    // Assess
    expect(result).toEqual({ failedMessageIds: [] });
    expect(queries).toBe(0);
    expect(fifo.calls).toHaveLength(1);
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([a?.taskId, b?.taskId, c?.taskId]);
  });

  it("two invocations racing on one group in one container (as the local cloud runs them): order holds, nothing doubled", async () => {
    // Prepare: a's invocation is held inside its send while b's invocation sweeps a along and sends both.
    const { store, fifo, deps } = setup();
    const remembering = new RecentSendsTopicQueue(fifo, () => T0);
    const relay = (messages: readonly TimerMessage[]) =>
      relayTimerMessages({ ...deps, topicQueue: remembering }, messages);
    const [a, b] = await put(
      store,
      ...[0, 1].map((i) => makeTask({ group: "race", dueAtMs: T0 - 100 + i, acceptedAtMs: T0 - 1_000 + i })),
    );
    const send = fifo.sendGroupsInOrder.bind(fifo);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = () => {};
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let calls = 0;
    fifo.sendGroupsInOrder = async (queueUrl, groups) => {
      if (++calls === 1) {
        entered();
        await held;
      }
      return send(queueUrl, groups);
    };

    // Act
    const first = relay([timerMessage(a?.taskId as string)]);
    await inside; // a's invocation is now inside its send
    const second = await relay([timerMessage(b?.taskId as string)]);
    release();
    const results = [await first, second];

    // Assess: b's sweep sent a ahead of b; a's own send was deduplicated; both tasks remembered.
    expect(results).toEqual([{ failedMessageIds: [] }, { failedMessageIds: [] }]);
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([a?.taskId, b?.taskId]);
    expect(remembering.wasSentRecently(DEMO_QUEUE, a?.taskId as string)).toBe(true);
    expect(remembering.wasSentRecently(DEMO_QUEUE, b?.taskId as string)).toBe(true);
  });

  it("after a send that failed part-way, only what came before the failure counts as sent before", async () => {
    // Prepare: b's entry fails, c's (same call) is accepted by SQS
    const { store, fifo, deps } = setup();
    const remembering = new RecentSendsTopicQueue(fifo, () => T0);
    const relay = (messages: readonly TimerMessage[]) =>
      relayTimerMessages({ ...deps, topicQueue: remembering }, messages);
    const [a, b, c] = await put(
      store,
      ...[0, 1, 2].map((i) => makeTask({ group: "p", dueAtMs: T0 - 100 + i, acceptedAtMs: T0 - 1_000 + i })),
    );
    const send = fifo.sendInOrder.bind(fifo);
    let failOnce = true;
    fifo.sendInOrder = async (queueUrl, groupId, taskIds) => {
      if (!failOnce) return send(queueUrl, groupId, taskIds);
      failOnce = false;
      const ok = await send(queueUrl, groupId, [taskIds[0] as string, taskIds[2] as string]);
      return { sent: ok.sent, failure: { taskIds: [taskIds[1] as string], error: "InternalError" } };
    };

    // Act
    const first = await relay([timerMessage(c?.taskId as string)]);

    // Assess: a is remembered, c is not (b before it failed), so c's message comes back and queries again
    expect(first.failedMessageIds).toHaveLength(1);
    expect(remembering.wasSentRecently(DEMO_QUEUE, a?.taskId as string)).toBe(true);
    expect(remembering.wasSentRecently(DEMO_QUEUE, b?.taskId as string)).toBe(false);
    expect(remembering.wasSentRecently(DEMO_QUEUE, c?.taskId as string)).toBe(false);
  });

  it("a crash after the send (batch never acknowledged): the message comes back, nothing lost, nothing doubled", async () => {
    // Prepare
    const { store, fifo, relay } = setup();
    const tasks = await put(
      store,
      ...[0, 1, 2].map((i) => makeTask({ group: "g", dueAtMs: T0 - 10 + i, acceptedAtMs: T0 - 100 + i })),
    );
    const message = timerMessage(tasks[2]?.taskId as string);

    const before = JSON.stringify([...store.tasks]);

    // Act: the first run sent, then the function died; SQS hands the same message over again.
    await relay([message]);
    const again = await relay([message]);

    // Assess
    expect(again).toEqual({ failedMessageIds: [] });
    expect(fifo.calls).toHaveLength(2); // re-sent…
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual(tasks.map((t) => t.taskId)); // …and deduplicated by the FIFO queue
    expect(JSON.stringify([...store.tasks])).toBe(before); // the relay wrote nothing to the table
  });

  it("the function times out while holding a batch: what it sent stays sent, the rest goes when the batch comes back, each once and in order", async () => {
    // Prepare: one group, a task due now and one due 3 s later in the same early-woken batch.
    const { store, fifo, clock, deps } = setup();
    const [first, second] = await put(
      store,
      makeTask({ group: "held", dueAtMs: T0, acceptedAtMs: T0 - 2 }),
      makeTask({ group: "held", dueAtMs: T0 + 3_000, acceptedAtMs: T0 - 1 }),
    );
    const messages = [first, second].map((t) => timerMessage(t?.taskId as string));
    const timedOut = async () => {
      throw new Error("Task timed out after 30.00 seconds");
    };

    // Act: the first wave goes, then Lambda ends the invocation in the hold (no partial batch response: every
    // message of the batch comes back after the visibility timeout, 180 s later).
    const died = relayTimerMessages({ ...deps, earlyWakeSeconds: 5, sleep: timedOut }, messages);
    await expect(died).rejects.toThrow(/timed out/);
    const sentBeforeDying = fifo.idsIn(DEMO_QUEUE);
    clock.nowMs += 180_000;
    const again = await relayTimerMessages({ ...deps, earlyWakeSeconds: 5 }, messages);

    // Assess: the second task was never sent early; the first one's re-send was deduplicated.
    expect(sentBeforeDying).toEqual([first?.taskId]);
    expect(again).toEqual({ failedMessageIds: [] });
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([first?.taskId, second?.taskId]);
  });

  it("a store error while reading a group fails that group's messages", async () => {
    const { store, fifo, relay } = setup();
    const [a, b] = await put(
      store,
      makeTask({ group: "a", dueAtMs: T0 - 1, acceptedAtMs: T0 - 2 }),
      makeTask({ group: "b", dueAtMs: T0 - 1, acceptedAtMs: T0 - 2 }),
    );
    const list = store.listScheduledInGroup.bind(store);
    store.listScheduledInGroup = async (pk, from, to) => {
      if (pk === a?.pk) throw new Error("boom");
      return list(pk, from, to);
    };
    const ma = timerMessage(a?.taskId as string);
    const mb = timerMessage(b?.taskId as string);
    expect(await relay([ma, mb])).toEqual({ failedMessageIds: [ma.messageId] });
    expect(fifo.idsIn(DEMO_QUEUE)).toEqual([b?.taskId]);
  });

  it("reads many groups with bounded concurrency and sends them together", async () => {
    const { store, fifo, deps } = setup();
    const tasks = await put(
      store,
      ...Array.from({ length: 30 }, (_, i) =>
        makeTask({ group: `g${i}`, dueAtMs: T0 - 1, acceptedAtMs: T0 - 2 }),
      ),
    );
    let active = 0;
    let peak = 0;
    const list = store.listScheduledInGroup.bind(store);
    store.listScheduledInGroup = async (...args) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 1));
      active--;
      return list(...args);
    };
    const result = await relayTimerMessages(
      { ...deps, groupConcurrency: 4 },
      tasks.map((t) => timerMessage(t.taskId)),
    );
    expect(result).toEqual({ failedMessageIds: [] });
    expect(peak).toBe(4);
    expect(fifo.idsIn(DEMO_QUEUE)).toHaveLength(30);
    // One send for the wave's 30 groups (the adapter packs them 10 entries per SendMessageBatch call).
    expect(fifo.groupCalls).toHaveLength(1);
    expect(fifo.groupCalls[0]?.groups).toHaveLength(30);
  });
});

describe("relay: a long wave does not hold the batch's other groups (docs/RELIABILITY.md, a waiting group's backlog)", () => {
  it("a group due later is sent while a waiting group's backlog is still being sent; the backlog's own later task waits for it", async () => {
    // Prepare: group A waits (its 600 tasks still scheduled), its latest due now; group B's task and A's next one
    // are due 1.5 s later, in the same batch. A's backlog send takes real time (600 calls, one per task) and 12 s
    // of the clock; the other sends are immediate.
    const { store, fifo, clock, deps } = setup(T0);
    const backlog = await put(
      store,
      ...Array.from({ length: 600 }, (_, i) =>
        makeTask({ group: "a", dueAtMs: T0 - 600_000 + i * 1_000, acceptedAtMs: T0 - 700_000 }),
      ),
    );
    const [aNext, b] = await put(
      store,
      makeTask({ group: "a", dueAtMs: T0 + 1_500, acceptedAtMs: T0 - 700_000 }),
      makeTask({ group: "b", dueAtMs: T0 + 1_500, acceptedAtMs: T0 - 700_000 }),
    );
    const events: string[] = [];
    const sentAt = new Map<string, number>();
    const send = fifo.sendGroupsInOrder.bind(fifo);
    fifo.sendGroupsInOrder = async (queueUrl, groups) => {
      for (const g of groups) for (const id of g.taskIds) if (!sentAt.has(id)) sentAt.set(id, clock.nowMs);
      const backlogSend = groups.some((g) => g.taskIds.length > 1);
      if (backlogSend) await new Promise((resolve) => setTimeout(resolve, 300));
      const result = await send(queueUrl, groups);
      if (backlogSend) clock.nowMs += 12_000;
      events.push(groups.map((g) => g.taskIds.length).join("+"));
      return result;
    };
    const last = backlog.at(-1) as TaskRecord;

    // Act
    const result = await relayTimerMessages({ ...deps, earlyWakeSeconds: 2, waveWaitMs: 50 }, [
      timerMessage(last.taskId),
      timerMessage(aNext?.taskId as string),
      timerMessage(b?.taskId as string),
    ]);

    // Assess: B went at its due time, before A's backlog send ended; A's next task only after the backlog; A's
    // order whole; nothing early
    expect(result).toEqual({ failedMessageIds: [] });
    expect(sentAt.get(b?.taskId as string)).toBe(T0 + 1_500);
    // (A's next sweep sends the backlog again: this relay keeps no memory of its sends, FIFO deduplication drops it)
    expect(events).toEqual(["1", "600", "601"]);
    const groupA = fifo.received.get(DEMO_QUEUE)?.filter((m) => m.groupId === last.pk);
    expect(groupA?.map((m) => m.taskId)).toEqual([...backlog.map((t) => t.taskId), aNext?.taskId]);
    for (const task of [...backlog, aNext, b] as TaskRecord[])
      expect(sentAt.get(task.taskId)).toBeGreaterThanOrEqual(task.dueAtMs);
  });

  it.each([3, 17, 256, 4096, 65_537])(
    "seed %i: waves that overlap (slow sends, refusals) keep each group's order, send nothing early, and every message not reported failed has its task sent",
    async (seed) => {
      // Prepare: 5 groups of 6 tasks due over 3 s (some already due), messages for a random subset, shuffled;
      // each send takes 0–20 ms of real time and of the clock, and a tenth of them are refused part-way.
      const random = seeded(seed);
      const { store, fifo, clock, deps } = setup(T0);
      const tasks = await put(
        store,
        ...Array.from({ length: 30 }, (_, i) =>
          makeTask({
            group: `s${seed}-${i % 5}`,
            dueAtMs: T0 - 500 + Math.floor(random() * 3_500),
            acceptedAtMs: T0 - 10,
          }),
        ),
      );
      const picked = shuffle(tasks, random).slice(0, 20);
      const messages = picked.map((t) => timerMessage(t.taskId));
      const sentAt = new Map<string, number>();
      const send = fifo.sendGroupsInOrder.bind(fifo);
      fifo.sendGroupsInOrder = async (queueUrl, groups) => {
        for (const g of groups) for (const id of g.taskIds) if (!sentAt.has(id)) sentAt.set(id, clock.nowMs);
        const ms = Math.floor(random() * 20);
        await new Promise((resolve) => setTimeout(resolve, ms));
        clock.nowMs += ms;
        return send(queueUrl, groups);
      };
      fifo.failNext = (_, taskIds) =>
        random() < 0.1 ? { failAt: Math.floor(random() * taskIds.length), error: "Throttled" } : undefined;

      // Act
      const { failedMessageIds } = await relayTimerMessages(
        { ...deps, earlyWakeSeconds: 3, waveWaitMs: 5, sleep: timerLikeSleep(clock) },
        messages,
      );

      // Assess
      const queued = fifo.received.get(DEMO_QUEUE) ?? [];
      const byId = new Map(tasks.map((t) => [t.taskId, t]));
      for (const group of new Set(tasks.map((t) => t.pk))) {
        const order = queued.filter((m) => m.groupId === group).map((m) => byId.get(m.taskId) as TaskRecord);
        expect(order.map((t) => t.taskId)).toEqual([...order].sort(bySortKey).map((t) => t.taskId));
      }
      for (const [id, at] of sentAt) expect(at).toBeGreaterThanOrEqual(byId.get(id)?.dueAtMs as number);
      const onQueue = new Set(queued.map((m) => m.taskId));
      picked.forEach((task, i) => {
        if (!failedMessageIds.includes(messages[i]?.messageId as string))
          expect(onQueue).toContain(task.taskId);
      });
    },
  );
});
