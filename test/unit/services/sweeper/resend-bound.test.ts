import { describe, expect, it } from "vitest";
import { taskMessageBody } from "#shared/domain/messages.js";
import { sweepShardOf } from "#shared/domain/sweep.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { sweep } from "#shared/services/sweeper/index.js";
import { makeTask, T0 } from "../../../support/factories.js";
import { type Sim, simulate } from "../../../support/pipeline-sim.js";

/**
 * A stalled group with tens of thousands of due tasks (a hot group of a paused topic, a purged queue): one run
 * re-sends only the group's head part, in group order, so the run fits its time budget and still reaches its
 * other repairs, re-arms, pointer deletions and the topic-DLQ pass; the following runs carry on with the rest.
 */

const MINUTE = 60_000;
/** The sweeper's Lambda timeout (cdk/lib/sizing.ts, SWEEPER_TIMEOUT_SECONDS). */
const TIMEOUT_MS = 50_000;
/** One SendMessageBatch call to a FIFO queue, in region: the sends of one group go out one call after another. */
const BATCH_CALL_MS = 30;

/** `count` tasks of one group handed to the FIFO queue long ago (`queued`), whose messages are all gone. */
async function lostGroup(sim: Sim, group: string, count: number): Promise<TaskRecord[]> {
  const tasks = Array.from({ length: count }, (_, i) =>
    makeTask({ group, dueAtMs: T0 + i, acceptedAtMs: T0, status: "queued", queuedAtMs: T0 + i }),
  );
  for (const t of tasks) await sim.put(t);
  return tasks;
}

/** A small stalled group (its timer lost) and a not-yet-due task named by a schedule DLQ message. */
async function otherWork(sim: Sim) {
  const other = makeTask({ group: "other", dueAtMs: T0 + 500, acceptedAtMs: T0 });
  await sim.put(other);
  const later = await sim.add({ order_id: "later" }, { delay_seconds: 3_600 });
  return { other, later };
}

const sentFor = (sim: Sim, pk: string) =>
  sim.fifo.calls.filter((c) => c.groupId === pk).map((c) => c.taskIds);

describe("a huge stalled group is re-sent a head part per run (`resendPerGroup`)", () => {
  it("re-sends the first tasks in group order, the run's other work still happens, and the next runs finish the group", async () => {
    // Prepare: 12 lost messages in one group, 5 re-sent per run
    const sim = simulate({ limits: { resendPerGroup: 5 } });
    const hot = await lostGroup(sim, "hot", 12);
    const { other, later } = await otherWork(sim);
    sim.advance(sim.stalledAfterMs + MINUTE);
    sim.scheduleDlq.put(taskMessageBody(later));
    const ids = hot.map((t) => t.taskId);
    const pk = hot[0]?.pk as string;

    // Act: a run a minute, deliveries between them
    const first = await sim.sweep();
    const reports = [first];
    for (let run = 0; run < 5 && ids.some((id) => sim.status(id) !== "delivered"); run++) {
      await sim.runDeliver();
      sim.advance(MINUTE);
      reports.push(await sim.sweep());
    }

    // Assess: the head part first, the rest in the next runs, each task once and in order
    expect(first).toMatchObject({
      requeued: 5,
      forwarded: 1,
      rearmed: 1,
      pointersResolved: 1,
      deferred: true,
    });
    expect(sentFor(sim, pk)).toEqual([ids.slice(0, 5), ids.slice(5, 10), ids.slice(10)]);
    expect(sim.status(other.taskId)).toBe("delivered");
    expect(sim.scheduleDlq.messages).toEqual([]);
    expect(sim.delivered().filter((id) => ids.includes(id))).toEqual(ids);
    expect(reports.at(-1)).toMatchObject({ requeued: 0, forwarded: 0, deferred: false });
  });

  it("a dead-letter pointer past the part read puts its task in the sweep index, which carries it in group order", async () => {
    // Prepare: four due near-term tasks of one group (not indexed) whose timers were lost; the last one's timer
    // message went to the timer DLQ
    const sim = simulate({ limits: { resendPerGroup: 2 } });
    const tasks = [0, 1, 2, 3].map((i) => makeTask({ group: "g", dueAtMs: T0 + i, acceptedAtMs: T0 }));
    for (const t of tasks) await sim.store.putNew(t, { sweepIndex: false });
    const ids = tasks.map((t) => t.taskId);
    sim.advance(10_000); // due, within the grace: only the pointer names the group
    sim.timerDlq.put(taskMessageBody(ids[3] as string));

    // Act
    const first = await sim.sweep();
    const indexed = ids.map((id) => sim.store.tasks.get(id)?.sweepShard !== undefined);
    await sim.runDeliver();
    sim.advance(sim.graceMs);
    const second = await sim.sweep();
    await sim.runDeliver();

    // Assess: the pointer's task never goes ahead of the two before it, and the pointer does not linger
    expect(first).toMatchObject({ forwarded: 2, pointersResolved: 1, deferred: true });
    expect(sim.timerDlq.messages).toEqual([]);
    // The two forwarded ones are indexed by their `queued` mark; the pointer's task by the repair.
    expect(indexed).toEqual([true, true, false, true]);
    expect(second).toMatchObject({ forwarded: 2, deferred: false });
    expect(sim.delivered()).toEqual(ids);
  });

  // 20,000 tasks in the memory store is the point (a group too big to resend within one run): 0.9 s, and 2.3 s on
  // a heavily loaded 2-core host, too near vitest's 5 s default; hence its own timeout.
  it("with the default bound, a group of 20,000 lost messages leaves the run inside its timeout with its other work done", async () => {
    // Prepare: every SendMessageBatch call takes its time on the run's clock
    const sim = simulate();
    const hot = await lostGroup(sim, "hot", 20_000);
    const { other, later } = await otherWork(sim);
    sim.advance(sim.stalledAfterMs + MINUTE);
    sim.scheduleDlq.put(taskMessageBody(later));
    const send = sim.fifo.sendInOrder.bind(sim.fifo);
    sim.fifo.sendInOrder = async (queueUrl, groupId, taskIds) => {
      sim.advance(Math.ceil(taskIds.length / 10) * BATCH_CALL_MS);
      return send(queueUrl, groupId, taskIds);
    };
    const start = sim.clock.now;

    // Act
    const report = await sweep({
      ...sim.sweeperDeps,
      remainingMs: () => TIMEOUT_MS - (sim.clock.now - start),
    });

    // Assess: the run ended before its timeout (with its 10 s reserve left), having done everything else
    expect(sim.clock.now - start).toBeLessThan(TIMEOUT_MS - 10_000);
    expect(report).toMatchObject({
      forwarded: 1,
      rearmed: 1,
      pointersResolved: 1,
      failures: 0,
      deferred: true,
    });
    expect(report.requeued).toBeLessThan(hot.length);
    expect(sentFor(sim, hot[0]?.pk as string)).toEqual([hot.slice(0, report.requeued).map((t) => t.taskId)]);
    expect(sim.status(other.taskId)).toBe("queued");
  }, 20_000);
});

describe("a group read passes over a bounded number of finished tasks (`groupItemsPerRead`)", () => {
  /** `count` delivered tasks of `group` due from `fromMs`, one a millisecond (a hot group that went on). */
  async function delivered(sim: Sim, group: string, fromMs: number, count: number) {
    for (let i = 0; i < count; i++) {
      const t = makeTask({ group, dueAtMs: fromMs + i, acceptedAtMs: T0, status: "delivered", attempts: 1 });
      await sim.store.putNew(t, { sweepIndex: false });
    }
  }

  it("a head whose timer was lost while its hot group went on is forwarded without reading the whole group", async () => {
    // Prepare: h's timer was lost; 30,000 later tasks of its group were delivered meanwhile (its loss reordered)
    const sim = simulate();
    const h = makeTask({ group: "hot", dueAtMs: T0, acceptedAtMs: T0 });
    await sim.put(h);
    await delivered(sim, "hot", T0 + 1, 30_000);
    sim.advance(30_000 + sim.graceMs);

    // Act
    const report = await sim.sweep();

    // Assess
    expect(report).toMatchObject({ forwarded: 1, failures: 0 });
    expect(sim.status(h.taskId)).toBe("queued");
    expect(Math.max(...sim.store.groupItemsScanned)).toBeLessThanOrEqual(10_000);
  });

  it("a read cut short before an earlier unfinished task never sends a later one ahead of it", async () => {
    // Prepare: a hot group delivered 12,000 tasks; then e (near-term, outside the index) and c (indexed) both lost
    // their timers. Read from c's look-back, the first 10,000 items are all delivered: e lies past them.
    const sim = simulate();
    await delivered(sim, "hot", T0, 12_000);
    const e = makeTask({ group: "hot", dueAtMs: T0 + 12_000, acceptedAtMs: T0 });
    await sim.store.putNew(e, { sweepIndex: false });
    const c = makeTask({ group: "hot", dueAtMs: T0 + 12_001, acceptedAtMs: T0 });
    await sim.put(c);
    sim.advance(12_001 + sim.graceMs);

    // Act
    await sim.sweep();

    // Assess: e goes first (as a whole read would send them), and each read stays bounded
    expect(sentFor(sim, c.pk)).toEqual([[e.taskId, c.taskId]]);
    expect(Math.max(...sim.store.groupItemsScanned)).toBeLessThanOrEqual(10_000);
  });

  it("a pointer's task behind more unfinished tasks than a read passes over waits for the group's head", async () => {
    // Prepare (reads of 100 items): 150 delivered tasks, then 150 near-term ones (outside the index) whose timer
    // messages all went to the timer DLQ; one run's receive happens to name only the last of them
    const sim = simulate({ limits: { groupItemsPerRead: 100 } });
    await delivered(sim, "hot", T0, 150);
    const lost = Array.from({ length: 150 }, (_, i) =>
      makeTask({ group: "hot", dueAtMs: T0 + 150 + i, acceptedAtMs: T0 }),
    );
    for (const t of lost) await sim.store.putNew(t, { sweepIndex: false });
    const ids = lost.map((t) => t.taskId);
    const pk = lost[0]?.pk as string;
    sim.advance(300 + sim.graceMs);
    sim.timerDlq.put(taskMessageBody(ids[149] as string));

    // Act: that run, then one whose receive names the first of them
    const first = await sim.sweep();
    const sentFirst = sentFor(sim, pk);
    sim.timerDlq.put(taskMessageBody(ids[0] as string));
    await sim.sweep();

    // Assess: nothing goes ahead of the group's head; the pointer's task is indexed, then the head part goes
    expect(first).toMatchObject({ forwarded: 0, pointersResolved: 1, deferred: true });
    expect(sentFirst).toEqual([]);
    expect(sim.store.tasks.get(ids[149] as string)?.sweepShard).toBe(sweepShardOf(ids[149] as string));
    expect(sentFor(sim, pk)).toEqual([ids.slice(0, 100)]);
  });

  it("a task the index window found, read back over a busy stretch of its group, is still repaired within a few runs", async () => {
    // Prepare: a backlog of waiting heads in one shard (read two per shard and run); far younger, a hot group
    // delivered 30,000 tasks, then f's timer was lost
    const sim = simulate({ limits: { candidatesPerShard: 2 } });
    const waiting = [0, 1, 2].map((i) =>
      makeTask({
        group: `waiting-${i}`,
        dueAtMs: T0 + i,
        acceptedAtMs: T0,
        status: "delivering",
        attempts: 1,
        lastAttemptAtMs: T0,
      }),
    );
    const shard = sweepShardOf(waiting[0]?.taskId as string);
    for (const t of waiting) await sim.store.putNew(t);
    for (const t of waiting.slice(1)) {
      const stored = sim.store.tasks.get(t.taskId);
      if (stored) sim.store.tasks.set(t.taskId, { ...stored, sweepShard: shard });
    }
    await delivered(sim, "hot", T0 + 60 * MINUTE, 30_000);
    const f = makeTask({ group: "hot", dueAtMs: T0 + 120 * MINUTE, acceptedAtMs: T0 });
    await sim.put(f);
    sim.advance(120 * MINUTE + sim.graceMs);

    // Act: a run a minute, the waiting heads alive
    for (let run = 0; run < 3 && sim.status(f.taskId) === "scheduled"; run++) {
      for (const t of waiting) {
        const stored = sim.store.tasks.get(t.taskId);
        if (stored) sim.store.tasks.set(t.taskId, { ...stored, lastAttemptAtMs: sim.clock.now });
      }
      await sim.sweep();
      sim.advance(MINUTE);
    }

    // Assess
    expect(sim.status(f.taskId)).toBe("queued");
    expect(Math.max(...sim.store.groupItemsScanned)).toBeLessThanOrEqual(10_000);
  });
});

describe("fan-out parents in a group's partition (the topic's subscribers changed with tasks of both kinds pending)", () => {
  it("do not fill the group's read: a plain task behind more parents than `resendPerGroup` is still repaired", async () => {
    // Prepare: four parents (each `scheduled` for good: never delivered itself, only its copies in their lanes),
    // then a plain task of the same group whose timer was lost; three tasks read per run
    const sim = simulate({ limits: { resendPerGroup: 3 } });
    const link = { subscriber: "audit", taskId: "demo.x.0.y", url: "https://audit.example/hook" };
    for (let i = 0; i < 4; i++) {
      const parent = makeTask({ group: "mixed", dueAtMs: T0 + i, acceptedAtMs: T0, fanOut: [link] });
      await sim.store.putNew(parent, { sweepIndex: false });
    }
    const plain = makeTask({ group: "mixed", dueAtMs: T0 + 10, acceptedAtMs: T0 });
    await sim.put(plain);
    sim.advance(sim.graceMs + MINUTE);

    // Act: a few runs a minute apart
    for (let run = 0; run < 3; run++) {
      await sim.sweep();
      await sim.runDeliver();
      sim.advance(MINUTE);
    }

    // Assess: the plain task reached its queue and was delivered; no parent was ever sent
    expect(sim.delivered()).toEqual([plain.taskId]);
    expect(sim.fifo.calls.flatMap((c) => c.taskIds)).toEqual([plain.taskId]);
  });

  it("are no unfinished task to a read back: a plain task past a busy stretch is repaired, not left waiting", async () => {
    // Prepare (reads of 3 items): three delivered tasks, a parent, a delivered one, then a plain task whose timer
    // was lost. The first read passes over the three delivered ones; the read back from the plain task finds a
    // delivered task below it (anything further back was overtaken) — unless the parent counts as unfinished.
    const sim = simulate({ limits: { groupItemsPerRead: 3 } });
    const link = { subscriber: "audit", taskId: "demo.x.0.y", url: "https://audit.example/hook" };
    const layout = ["delivered", "delivered", "delivered", "parent", "delivered"] as const;
    for (const [i, kind] of layout.entries()) {
      const fields = kind === "parent" ? { fanOut: [link] } : { status: "delivered" as const, attempts: 1 };
      await sim.store.putNew(makeTask({ group: "busy", dueAtMs: T0 + i, acceptedAtMs: T0, ...fields }), {
        sweepIndex: false,
      });
    }
    const plain = makeTask({ group: "busy", dueAtMs: T0 + 10, acceptedAtMs: T0 });
    await sim.put(plain);
    sim.advance(sim.graceMs + MINUTE);

    // Act: a few runs a minute apart
    for (let run = 0; run < 3; run++) {
      await sim.sweep();
      await sim.runDeliver();
      sim.advance(MINUTE);
    }

    // Assess
    expect(sim.delivered()).toEqual([plain.taskId]);
  });
});
