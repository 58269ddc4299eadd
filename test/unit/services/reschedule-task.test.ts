import { describe, expect, it } from "vitest";
import { LosslessNumber } from "#shared/domain/exact-json.js";
import { successorKey } from "#shared/domain/reschedule.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { claimExpiry } from "#shared/services/add-task.js";
import { cancelGroup } from "#shared/services/cancel-group.js";
import { cancelTask } from "#shared/services/cancel-task.js";
import { type RescheduleTaskDeps, rescheduleTask, runTask } from "#shared/services/reschedule-task.js";
import { makeTask } from "../../support/factories.js";
import { HTTP } from "../../support/fakes/callbacks.js";
import { simulate } from "../../support/pipeline-sim.js";

/**
 * Reschedule (PATCH /v1/tasks/{id}) with the real services on a simulated clock: the move itself, its repeats,
 * and the crash after its first write, repaired by the sweeper.
 */
const MINUTE = 60_000;

/**
 * A keyed add due in 30 s through the add-task service on the simulation's store and clock (claims expire on that
 * clock); calling it again is the repeated add.
 */
async function keyedAdd(sim: ReturnType<typeof simulate>, orderId: string, key: string) {
  const { addTask } = await import("#shared/services/add-task.js");
  sim.store.nowSeconds = () => Math.floor(sim.clock.now / 1000);
  const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };
  const body = {
    topic: "demo",
    delay_seconds: 30,
    content: { order_id: orderId },
    callback: { url: "https://hooks.example.com/p" },
  };
  return () => addTask(deps, { body, idempotencyKeyHeader: key });
}

/** The table's TTL, caught up: every item past its `expiresAt` removed (DynamoDB deletes them within days). */
function expireByTtl(sim: ReturnType<typeof simulate>): void {
  for (const [id, task] of sim.store.tasks) {
    if (task.expiresAt !== undefined && task.expiresAt < sim.clock.now / 1000) sim.store.tasks.delete(id);
  }
}

/**
 * `days` (the old item's due time) and the sweeper's grace pass, the table's TTL catches up, the sweeper runs,
 * then three `stepMs` (half a day unless given) of relay and deliver runs: whatever the sweeper wrote again is
 * delivered.
 */
async function sweepAfterOldDueTime(
  sim: ReturnType<typeof simulate>,
  days: number,
  stepMs = 86_400_000 / 2,
): Promise<void> {
  sim.clock.now += days * 86_400_000 + sim.graceMs + MINUTE;
  expireByTtl(sim);
  await sim.sweep();
  for (let i = 0; i < 3; i++) {
    sim.advance(stepMs);
    await sim.runRelay();
    await sim.runDeliver();
  }
}

/** `minutes` minutes of the pipeline: each one a sweeper, relay and deliver run. */
async function runMinutes(sim: ReturnType<typeof simulate>, minutes: number): Promise<void> {
  for (let i = 0; i < minutes; i++) {
    sim.advance(MINUTE);
    await sim.sweep();
    await sim.runRelay();
    await sim.runDeliver();
  }
}

/** What the services that move and cancel a task take, on the simulation's store and clock. */
const moveDeps = (sim: ReturnType<typeof simulate>) => ({
  ...sim,
  timerQueue: sim.timer,
  now: () => sim.clock.now,
});

/** The store's next call of `method` fails, as if the function died there; later calls go through. */
function dieAtNext(sim: ReturnType<typeof simulate>, method: "putNew" | "settleRescheduled"): void {
  const store = sim.store as unknown as Record<string, unknown>;
  const original = store[method];
  store[method] = async () => {
    store[method] = original;
    throw new Error("the function died here");
  };
}

describe("rescheduling a scheduled task", () => {
  it("moves it to a new id with the same ULID; the old timer wakes the relay for nothing; the new one is delivered at its time", async () => {
    // Prepare
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-1" }, { delay_seconds: 30 });

    // Act
    const moved = await sim.reschedule(oldId, { delay_seconds: 60 });
    sim.advance(30_000);
    await sim.runRelay(); // the old task's timer message
    await sim.runDeliver();
    const earlyDeliveries = sim.delivered();
    sim.advance(30_000);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess
    expect(moved.task_id).not.toBe(oldId);
    expect(moved.task_id.split(".")[3]).toBe(oldId.split(".")[3]);
    expect(moved).toMatchObject({ status: "scheduled", rescheduled_from: oldId });
    expect(earlyDeliveries).toEqual([]);
    expect(sim.delivered()).toEqual([moved.task_id]);
    const old = sim.store.tasks.get(oldId);
    expect(old).toMatchObject({ status: "rescheduled", rescheduledTo: moved.task_id });
    expect(old?.sweepShard).toBeUndefined();
    expect(old?.expiresAt).toBe(claimExpiry(sim.clock.now, sim.topic));
    expect(sim.store.tasks.get(moved.task_id)).toMatchObject({ status: "delivered", latenessMs: 0 });
  });

  it("arms the moved task with the time left when its timer is sent, so it is delivered on time however long the writes before took", async () => {
    // Prepare: the successor's write takes two seconds
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-slow" }, { delay_seconds: 30 });
    const dueAtMs = sim.clock.now + 60_000;
    const putNew = sim.store.putNew.bind(sim.store);
    sim.store.putNew = async (...args: Parameters<typeof putNew>) => {
      sim.clock.now += 2_000;
      return putNew(...args);
    };

    // Act
    const moved = await sim.reschedule(oldId, { due_at: new Date(dueAtMs).toISOString() });
    sim.advance(dueAtMs - sim.clock.now);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess
    expect(sim.delivered()).toEqual([moved.task_id]);
    expect(sim.store.tasks.get(moved.task_id)).toMatchObject({ status: "delivered", latenessMs: 0 });
  });

  it("deletes the old schedule when the task rode one, and arms the new time on a schedule when far ahead", async () => {
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-2" }, { delay_seconds: 3_600 });
    const oldSchedule = sim.store.tasks.get(oldId)?.scheduleName;

    const moved = await sim.reschedule(oldId, { delay_seconds: 7_200 });

    expect(oldSchedule).toBeDefined();
    expect(sim.scheduler.deleted).toEqual([oldSchedule]);
    expect(sim.scheduler.created.map((c) => c.taskId)).toEqual([oldId, moved.task_id]);
  });

  it("answers a repeat with the same target with the moved task, another target with 409, and a delivered task with 409", async () => {
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-3" }, { delay_seconds: 30 });
    const target = new Date(sim.clock.now + 120_000).toISOString();
    const first = await sim.reschedule(oldId, { due_at: target });

    const again = await sim.reschedule(oldId, { due_at: target });
    const elsewhere = await sim.reschedule(oldId, { delay_seconds: 5 }).catch((e: unknown) => e);
    const bad = await sim.reschedule(first.task_id, { delay_seconds: 5, due_at: target }).catch((e) => e);
    const tooFar = await sim.reschedule(first.task_id, { delay_seconds: 10 ** 9 }).catch((e) => e);

    expect(again.task_id).toBe(first.task_id);
    expect(elsewhere).toMatchObject({ status: 409, details: { rescheduled_to: first.task_id } });
    expect(bad).toMatchObject({ status: 400, code: "validation_failed" });
    expect(tooFar).toMatchObject({ status: 400, issues: [{ path: "delay_seconds" }] });
    expect(sim.store.tasks.get(first.task_id)?.status).toBe("scheduled");
  });

  it("refuses a delay too large for any JS number (1e20, 1e15 s) as one merely past the topic's maxDelay: the limit named, the task unmoved", async () => {
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-huge" }, { delay_seconds: 30 });
    const refusalOf = (delay: unknown) => sim.reschedule(oldId, { delay_seconds: delay }).catch((e) => e);

    const past = await refusalOf(10 ** 9);
    const huge = await refusalOf(new LosslessNumber("1e20"));
    const hugeInMs = await refusalOf(1e15);

    const message = `is more than ${sim.topic.maxDelaySeconds} s ahead, the topic's maxDelay`;
    for (const refused of [past, huge, hugeInMs]) {
      expect(refused).toMatchObject({ status: 400, issues: [{ path: "delay_seconds", message }] });
    }
    expect(sim.store.tasks.get(oldId)?.status).toBe("scheduled");
  });

  it("moved back to a due time it had before, it is still delivered once (the old item's id is not reused)", async () => {
    // Prepare: due in 60 s, moved to 120 s.
    const sim = simulate();
    const firstId = await sim.add({ order_id: "back-1" }, { delay_seconds: 60 });
    const firstDue = new Date(sim.clock.now + 60_000).toISOString();
    const moved = await sim.reschedule(firstId, { delay_seconds: 120 });

    // Act: back to the first due time (twice: the repeat is the same move), then time passes.
    const back = await sim.reschedule(moved.task_id, { due_at: firstDue });
    const again = await sim.reschedule(moved.task_id, { due_at: firstDue });
    for (let i = 0; i < 4; i++) {
      sim.advance(30_000);
      await sim.runRelay();
      await sim.runDeliver();
    }

    // Assess
    expect(back).toMatchObject({ status: "scheduled", rescheduled_from: moved.task_id });
    expect(back.task_id).not.toBe(firstId);
    expect(again.task_id).toBe(back.task_id);
    expect(sim.store.tasks.get(firstId)).toMatchObject({
      status: "rescheduled",
      rescheduledTo: moved.task_id,
    });
    expect(Date.parse(back.due_at) - Date.parse(firstDue)).toBe(1); // the next free millisecond: never early
    expect(sim.store.tasks.get(back.task_id)).toMatchObject({ status: "delivered", latenessMs: 0 });
    expect(sim.delivered()).toEqual([back.task_id]);
  });

  it.each([
    ["run now", "run"],
    ["a PATCH to the same due_at", "patch"],
  ] as const)(
    "%s repeated on the old id after the moved task was delivered and its retention ran out delivers nothing again",
    async (_name, how) => {
      // Prepare: moved, delivered, and (retention over) removed by the table's TTL, while the old item still forwards.
      const sim = simulate();
      const oldId = await sim.add({ order_id: "o-11" }, { delay_seconds: 600 });
      const target = new Date(sim.clock.now + 60_000).toISOString();
      const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };
      const move = () =>
        how === "run" ? runTask(deps, oldId) : rescheduleTask(deps, oldId, { due_at: target });
      const moved = await move();
      // Written by a release before successors carried a floor for their TTL (expiresAtFloor): today's outlives
      // the old item; such a one finishes with its retention alone.
      const { expiresAtFloor: _floor, ...legacy } = sim.store.tasks.get(moved.task_id) as TaskRecord;
      sim.store.tasks.set(moved.task_id, legacy);
      for (let i = 0; i < 3; i++) {
        sim.advance(30_000);
        await sim.runRelay();
        await sim.runDeliver();
      }
      expect(sim.delivered()).toEqual([moved.task_id]);
      sim.clock.now += 3 * 86_400_000 + MINUTE;
      const done = sim.store.tasks.get(moved.task_id);
      expect(done?.expiresAt).toBeLessThan(sim.clock.now / 1000);
      expect(sim.store.tasks.get(oldId)?.expiresAt).toBeGreaterThan(sim.clock.now / 1000);
      sim.store.tasks.delete(moved.task_id);

      // Act: the same request again (a script run twice, a stale console view)
      const again = await move().catch((e: unknown) => e);
      for (let i = 0; i < 3; i++) {
        sim.advance(30_000);
        await sim.runRelay();
        await sim.runDeliver();
      }

      // Assess: answered, and not delivered a second time days later
      expect(again).toMatchObject({ status: 409, details: { rescheduled_to: moved.task_id } });
      expect(sim.delivered()).toEqual([moved.task_id]);
      expect(sim.store.tasks.get(moved.task_id)).toBeUndefined();
    },
  );

  it("run now repeated on the old id after the moved task was delivered and the retention has passed answers the moved task, delivered: it is kept as long as the old id", async () => {
    // Prepare: run, delivered; past the retention, the table's TTL removes what has expired
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-11-kept" }, { delay_seconds: 600 });
    const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };
    const moved = await runTask(deps, oldId);
    await runMinutes(sim, 2);
    sim.clock.now += 3 * 86_400_000 + MINUTE;
    expireByTtl(sim);

    // Act: the same request again
    const again = await runTask(deps, oldId);
    await runMinutes(sim, 2);

    // Assess
    expect(again).toMatchObject({ task_id: moved.task_id, status: "delivered", rescheduled_from: oldId });
    expect(sim.delivered()).toEqual([moved.task_id]);
  });

  it("two runs of one task at once: the one whose move lost the race answers the task the other moved, not 409, and it is delivered once", async () => {
    // Prepare: run B read its clock, then run A (another container, a few ms later) moved the task before B's
    // first write: a double click on the console's Run, a client retrying a request that timed out.
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-race" }, { delay_seconds: 600 });
    const depsA = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now + 3 };
    let ranA: Awaited<ReturnType<typeof runTask>> | undefined;
    const store = Object.create(sim.store) as typeof sim.store;
    store.markRescheduled = async (...args) => {
      ranA = await runTask(depsA, oldId);
      return sim.store.markRescheduled(...args);
    };
    const depsB = { ...sim, store, timerQueue: sim.timer, now: () => sim.clock.now };

    // Act
    const ranB = await runTask(depsB, oldId).catch((e: unknown) => e);
    for (let i = 0; i < 3; i++) {
      sim.advance(30_000);
      await sim.runRelay();
      await sim.runDeliver();
    }

    // Assess
    expect(ranA?.task_id).toBeDefined();
    expect(ranB).toMatchObject({ task_id: ranA?.task_id, rescheduled_from: oldId });
    expect(sim.delivered()).toEqual([ranA?.task_id]);
  });

  it("run now on an old id whose task was moved to a time now past and has since moved on to a later one: 409 naming where it went, not a 200 that runs nothing", async () => {
    // Prepare: moved 10 s on; 20 s later (due, held in its queue) moved again, an hour on
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-onwards" }, { delay_seconds: 600 });
    const moved = await sim.reschedule(oldId, { delay_seconds: 10 });
    sim.advance(20_000);
    const later = await sim.reschedule(moved.task_id, { delay_seconds: 3_600 });

    // Act
    const ran = await runTask(moveDeps(sim), oldId).catch((e: unknown) => e);

    // Assess: the task still waits for its later time; the caller is told where it went
    expect(ran).toMatchObject({ status: 409, details: { rescheduled_to: moved.task_id } });
    expect(sim.status(later.task_id)).toBe("scheduled");
  });

  it("run now on an old id: its 409 says to use the task it was moved to, not to reschedule it (found walking docs/API.md: `tasks run OLD` answered '…; reschedule that task instead')", async () => {
    // Prepare
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-run-moved" }, { delay_seconds: 600 });
    const moved = await sim.reschedule(oldId, { delay_seconds: 1_200 });

    // Act
    const ran = await runTask(moveDeps(sim), oldId).catch((e: unknown) => e);

    // Assess
    expect(ran).toMatchObject({ status: 409, details: { rescheduled_to: moved.task_id } });
    expect((ran as Error).message).toBe(`task was rescheduled to ${moved.task_id}; use that task_id instead`);
  });

  it("run now repeated on the old id after its task, run at first, has since moved on (its first answer lost): still that run's answer", async () => {
    // Prepare: a run; then the task it made is moved an hour on
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-ran-onwards" }, { delay_seconds: 600 });
    const ran = await runTask(moveDeps(sim), oldId);
    sim.advance(5_000);
    await sim.reschedule(ran.task_id, { delay_seconds: 3_600 });

    // Act
    const again = await runTask(moveDeps(sim), oldId);

    // Assess
    expect(again).toMatchObject({ task_id: ran.task_id, status: "rescheduled", rescheduled_from: oldId });
  });

  it("run now takes the place of a task due now in its group: before the group's tasks due later, behind one already due and being retried", async () => {
    // Prepare: one ordering group; A due now fails its first attempt (503) and waits its 1 s backoff in the FIFO
    // queue; B due in 60 s, C in 10 minutes.
    const sim = simulate();
    const a = await sim.add({ order_id: "g-1", n: "a" }, { delay_seconds: 0 });
    const b = await sim.add({ order_id: "g-1", n: "b" }, { delay_seconds: 60 });
    const c = await sim.add({ order_id: "g-1", n: "c" }, { delay_seconds: 600 });
    sim.callbacks.answer(a, { ok: false, status: 503, durationMs: 5, error: "HTTP 503" });
    await sim.runRelay();
    await sim.runDeliver();
    const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };

    // Act: C is run now while A waits for its retry
    const ranC = await runTask(deps, c);
    for (let i = 0; i < 25; i++) {
      sim.advance(5_000);
      await sim.runRelay();
      await sim.runDeliver();
    }

    // Assess: the receiver sees A (twice: its failed attempt, its retry), then C under its new id, then B
    expect(sim.callbacks.calledFor()).toEqual([a, a, ranC.task_id, b]);
    for (const id of [a, ranC.task_id, b]) expect(sim.store.tasks.get(id)?.status).toBe("delivered");
  });

  it("run now on a due task whose read-free start was refunded unused answers it unmoved: its record, still on its queue, runs it once under its id", async () => {
    // Prepare: a task due now, relayed; deliver's one-write start is written but its answer lost, so the start is
    // refunded (`scheduled` again: `startedFrom`) and its record goes back to its FIFO group, which SQS holds
    // until that record is visible again: nothing of the group, a moved task included, can go before it
    const sim = simulate();
    const id = await sim.add({ order_id: "g-refund" }, { delay_seconds: 0 });
    await sim.runRelay();
    const startAttempt = sim.store.startAttempt.bind(sim.store);
    sim.store.startAttempt = async (...args: Parameters<typeof startAttempt>) => {
      sim.store.startAttempt = startAttempt;
      await startAttempt(...args);
      throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
    };
    await sim.runDeliver();
    const refunded = structuredClone(sim.store.tasks.get(id) as TaskRecord);
    const armed = sim.timer.messages.length;

    // Act
    const ran = await runTask(moveDeps(sim), id);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess: answered as it is (due, its start given back: it says so), nothing moved or armed; then delivered
    // once, by its own record
    expect(refunded).toMatchObject({ status: "scheduled", attempts: 0, attemptSeq: 1 });
    expect(ran).toMatchObject({ task_id: id, status: "scheduled", attempts: 0 });
    expect(ran.rescheduled_from).toBeUndefined();
    expect(ran.last_error).toBe("attempt given back: its start went unused");
    expect(Date.parse(ran.due_at)).toBeLessThanOrEqual(sim.clock.now);
    expect(sim.timer.messages.length).toBe(armed);
    expect([...sim.store.tasks.values()].filter((t) => t.rescheduledFrom === id)).toEqual([]);
    expect(sim.delivered()).toEqual([id]);
    expect(sim.status(id)).toBe("delivered");
  });

  it("a past due time means now", async () => {
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-4" }, { delay_seconds: 30 });

    const moved = await sim.reschedule(oldId, { due_at: "2000-01-01T00:00:00Z" });

    expect(moved.due_at).toBe(new Date(sim.clock.now).toISOString());
  });

  it.each([
    ["due_at", (nowMs: number) => new Date(nowMs + 60_000).toISOString().replace("Z", "0009Z")],
    ["timing_moment", (nowMs: number) => (nowMs + 60_000) / 1000 + 0.0004],
    ["delay_seconds", () => 60.0004],
  ])(
    "a new %s with a sub-millisecond part moves the task to the next whole ms, and is not delivered before it",
    async (field, value) => {
      // Prepare
      const sim = simulate();
      const oldId = await sim.add({ order_id: "o-sub" }, { delay_seconds: 30 });
      const askedMs = sim.clock.now + 60_000;
      const body = { [field]: value(sim.clock.now) };
      const postedAtMs: number[] = [];
      const post = sim.callbacks.post.bind(sim.callbacks);
      sim.callbacks.post = async (request) => {
        postedAtMs.push(sim.clock.now);
        return post(request);
      };

      // Act: the clock goes to where the timer message shows (due rounded down to the second); the relay waits
      // out the rest of the due time on the simulated clock.
      const moved = await sim.reschedule(oldId, body);
      const again = await sim.reschedule(oldId, body);
      sim.advance(askedMs - sim.clock.now);
      await sim.runRelay();
      await sim.runDeliver();

      // Assess
      expect(moved.due_at).toBe(new Date(askedMs + 1).toISOString());
      expect(again.task_id).toBe(moved.task_id);
      expect(sim.delivered()).toEqual([moved.task_id]);
      expect(postedAtMs).toEqual([askedMs + 1]);
    },
  );
});

describe("a move refused while deliver keeps starting the task and giving it back", () => {
  it("is a 409 that says to repeat the request, not one saying only a scheduled task moves to a task read scheduled", async () => {
    // Prepare: the store's writes were each refused, and each read found the task scheduled again
    const sim = simulate();
    const id = await sim.add({ order_id: "o-flap" }, { delay_seconds: 60 });
    sim.store.markRescheduled = async (taskId) => ({
      outcome: "conflict",
      task: sim.store.tasks.get(taskId) as TaskRecord,
    });

    // Act
    const moved = await sim.reschedule(id, { delay_seconds: 600 }).catch((e: unknown) => e);

    // Assess
    expect(moved).toMatchObject({ status: 409, details: { task_status: "scheduled" } });
    expect((moved as Error).message).toMatch(/repeat/);
    expect(sim.status(id)).toBe("scheduled");
  });
});

describe("a task of a topic removed from the configuration", () => {
  it("is answered 409 by PATCH and run, as by replay (its task reads 200, so 404 would say it does not exist); an unknown id stays 404", async () => {
    // Prepare
    const sim = simulate();
    const taskId = await sim.add({ order_id: "o-1" }, { delay_seconds: 600 });
    const { demo: _removed, ...others } = sim.config.resolvedTopics;
    const deps = { ...moveDeps(sim), config: { ...sim.config, resolvedTopics: others } };
    const removedTopic = {
      status: 409,
      code: "conflict",
      message: expect.stringMatching(/not configured any more/),
    };

    // Act & Assess
    await expect(rescheduleTask(deps, taskId, { delay_seconds: 60 })).rejects.toMatchObject(removedTopic);
    await expect(runTask(deps, taskId)).rejects.toMatchObject(removedTopic);
    await expect(
      runTask(
        deps,
        taskId.replace(/.$/, (c) => (c === "0" ? "1" : "0")),
      ),
    ).rejects.toMatchObject({
      status: 404,
    });
    expect((await sim.store.get(taskId))?.status).toBe("scheduled");
  });
});

describe("a finished task", () => {
  it.each(["delivered", "failed"] as const)(
    "%s: PATCH and run answer 409 naming replay, the way to deliver it again, and change nothing",
    async (status) => {
      // Prepare
      const sim = simulate();
      const task = makeTask({
        dueAtMs: sim.clock.now - 60_000,
        acceptedAtMs: sim.clock.now - 120_000,
        status,
      });
      await sim.store.putNew(task);
      const deps = moveDeps(sim);
      const refused = {
        status: 409,
        message: `task is ${status}; only a scheduled task can be rescheduled; to deliver it again, replay it (POST /v1/tasks/${task.taskId}/replay)`,
      };

      // Act & Assess
      await expect(rescheduleTask(deps, task.taskId, { delay_seconds: 60 })).rejects.toMatchObject(refused);
      await expect(runTask(deps, task.taskId)).rejects.toMatchObject(refused);
      expect(await sim.store.get(task.taskId)).toEqual(task);
    },
  );
});

describe("a task of a removed topic named like an Object.prototype member", () => {
  it("is answered 409 by PATCH and run, not a 5xx", async () => {
    // Prepare: a scheduled task of topic "constructor" (a valid topic name) that the configuration no longer has
    const sim = simulate();
    const task = makeTask({
      topic: "constructor",
      group: "o-1",
      dueAtMs: sim.clock.now + 600_000,
      acceptedAtMs: sim.clock.now,
    });
    await sim.store.putNew(task);
    const deps = moveDeps(sim);
    const removedTopic = { status: 409, message: expect.stringMatching(/not configured any more/) };

    // Act & Assess
    await expect(rescheduleTask(deps, task.taskId, { delay_seconds: 60 })).rejects.toMatchObject(
      removedTopic,
    );
    await expect(runTask(deps, task.taskId)).rejects.toMatchObject(removedTopic);
    expect((await sim.store.get(task.taskId))?.status).toBe("scheduled");
  });
});

describe("crash after the first write (old item marked rescheduled, successor never written)", () => {
  it("the successor's timer the sweeper arms arrives the early wake ahead of its due time, as the add arms one", async () => {
    // Prepare: step (a) only, the successor due 10 minutes after the old task; an early wake of 3 s
    const sim = simulate({ earlyWakeSeconds: 3 });
    const oldId = await sim.add({ order_id: "o-5e" }, { delay_seconds: 10 });
    const old = sim.store.tasks.get(oldId);
    if (!old) throw new Error("task missing");
    const successorDue = old.dueAtMs + 10 * MINUTE;
    const successorId = successorKey(old, successorDue).taskId;
    await sim.store.markRescheduled(oldId, { to: successorId, atMs: sim.clock.now, expiresAt: 1 });

    // Act
    sim.advance(10_000);
    await sim.runRelay(); // the old timer: dropped, the task is not scheduled
    sim.advance(sim.graceMs + MINUTE);
    const report = await sim.sweep();

    // Assess: visible the early wake ahead of due (the relay holds it until due), not at due
    expect(report).toMatchObject({ reschedulesFinished: 1, failures: 0 });
    const timer = sim.timer.messages.find((m) => m.taskId === successorId);
    expect(timer?.visibleAtMs).toBeLessThanOrEqual(successorDue - 3_000);
    expect(timer?.visibleAtMs).toBeGreaterThan(successorDue - 4_000);
  });
  it("the sweeper writes and arms the successor once the old due time is past, settles the old item, and it is delivered once", async () => {
    // Prepare: step (a) only, as a reschedule that died right after it.
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-5" }, { delay_seconds: 10 });
    const old = sim.store.tasks.get(oldId);
    if (!old) throw new Error("task missing");
    const successorId = successorKey(old, old.dueAtMs + 2 * MINUTE).taskId;
    await sim.store.markRescheduled(oldId, { to: successorId, atMs: sim.clock.now, expiresAt: 1 });

    // Act
    sim.advance(10_000);
    await sim.runRelay(); // the old timer: dropped, the task is not scheduled
    sim.advance(sim.graceMs + MINUTE);
    const report = await sim.sweep();
    const again = await sim.sweep();
    sim.advance(2 * MINUTE);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess
    expect(report).toMatchObject({ reschedulesFinished: 1, failures: 0 });
    expect(again).toMatchObject({ reschedulesFinished: 0 });
    expect(sim.store.tasks.get(oldId)?.sweepShard).toBeUndefined();
    expect(sim.delivered()).toEqual([successorId]);
    // The group read carries no content: the successor is written from the task read in full.
    expect(sim.store.tasks.get(successorId)).toMatchObject({
      status: "delivered",
      attempts: 1,
      content: old.content,
    });
  });

  /** A PATCH 10 minutes on that died right after marking the old item (its client saw a 5xx). */
  async function stoppedAfterFirstWrite(orderId: string) {
    const sim = simulate();
    const oldId = await sim.add({ order_id: orderId }, { delay_seconds: 60 });
    dieAtNext(sim, "putNew");
    const moved = await sim.reschedule(oldId, { delay_seconds: 600 }).catch((e: unknown) => e);
    return { sim, oldId, moved, deps: { ...sim, timerQueue: sim.timer, now: () => sim.clock.now } };
  }

  /** The PATCH retried, then a quarter of an hour of sweeper, relay and deliver runs. */
  async function retryThenRun(sim: ReturnType<typeof simulate>, oldId: string) {
    const retried = await sim.reschedule(oldId, { delay_seconds: 600 }).catch((e: unknown) => e);
    for (let i = 0; i < 15; i++) {
      sim.advance(MINUTE);
      await sim.sweep();
      await sim.runRelay();
      await sim.runDeliver();
    }
    return retried;
  }

  it("a move stopped after its first write, then cancelled by its old id: the DELETE of the successor it names answers 200, and neither the sweeper nor the PATCH's retry delivers it", async () => {
    // Prepare: the client cancels instead of retrying
    const { sim, oldId, moved, deps } = await stoppedAfterFirstWrite("o-drop");

    // Act: DELETE the old id (409 naming where it went), then that id; later the PATCH is retried, the sweeper runs
    const first = await cancelTask(deps, oldId).catch((e: unknown) => e);
    const successorId = sim.store.tasks.get(oldId)?.rescheduledTo as string;
    const second = await cancelTask(deps, successorId).catch((e: unknown) => e);
    const retried = await retryThenRun(sim, oldId);

    // Assess: the 200 holds
    expect(moved).toBeInstanceOf(Error);
    expect(first).toMatchObject({ status: 409, details: { rescheduled_to: successorId } });
    expect(second).toMatchObject({ task_id: successorId, status: "cancelled" });
    expect(retried).toMatchObject({ task_id: successorId, status: "cancelled" });
    expect(sim.delivered()).toEqual([]);
    expect(sim.store.tasks.get(oldId)?.sweepShard).toBeUndefined();
  });

  it("a move stopped after its first write, then its group cancelled: the listed successor's DELETE answers 200, and neither the sweeper nor the PATCH's retry delivers it", async () => {
    // Prepare: the client cancels the whole group instead of retrying
    const { sim, oldId, moved, deps } = await stoppedAfterFirstWrite("o-all");

    // Act: the group cancel lists the move; its `rescheduled_to` is cancelled; later the PATCH is retried
    const answer = await cancelGroup(deps, { topic: "demo", value: "o-all" }, {});
    const successorId = answer.not_cancelled[0]?.rescheduled_to as string;
    const cancelled = await cancelTask(deps, successorId).catch((e: unknown) => e);
    const retried = await retryThenRun(sim, oldId);

    // Assess
    expect(moved).toBeInstanceOf(Error);
    expect(answer.not_cancelled).toEqual([
      { task_id: oldId, status: "rescheduled", rescheduled_to: successorId },
    ]);
    expect(cancelled).toMatchObject({ task_id: successorId, status: "cancelled" });
    expect(retried).toMatchObject({ task_id: successorId, status: "cancelled" });
    expect(sim.delivered()).toEqual([]);
  });

  it("a move that stops after its first write while a group cancel is under way (the page read it scheduled): the listed successor's DELETE answers 200, and neither the sweeper nor the PATCH's retry delivers it", async () => {
    // Prepare: the PATCH marks the old item between the group cancel's page read and that task's cancel, then dies
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-race" }, { delay_seconds: 60 });
    const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };
    const listGroupPage = sim.store.listGroupPage.bind(sim.store);
    let moved: unknown;
    sim.store.listGroupPage = async (...args) => {
      const page = await listGroupPage(...args);
      dieAtNext(sim, "putNew");
      moved = await sim.reschedule(oldId, { delay_seconds: 600 }).catch((e: unknown) => e);
      return page;
    };

    // Act: the group cancel lists the move; its `rescheduled_to` is cancelled; later the PATCH is retried
    const answer = await cancelGroup(deps, { topic: "demo", value: "o-race" }, {});
    sim.store.listGroupPage = listGroupPage;
    const successorId = answer.not_cancelled[0]?.rescheduled_to as string;
    const cancelled = await cancelTask(deps, successorId).catch((e: unknown) => e);
    const retried = await retryThenRun(sim, oldId);

    // Assess
    expect(moved).toBeInstanceOf(Error);
    expect(answer.not_cancelled).toEqual([
      { task_id: oldId, status: "rescheduled", rescheduled_to: successorId },
    ]);
    expect(cancelled).toMatchObject({ task_id: successorId, status: "cancelled" });
    expect(retried).toMatchObject({ task_id: successorId, status: "cancelled" });
    expect(sim.delivered()).toEqual([]);
  });

  it("a task run now between two pages of a group cancel, its new id sorting before the cursor: the next page cancels that id, and it is never delivered", async () => {
    // Prepare: three tasks of one group; the first page (limit 2) cancels two of them
    const sim = simulate();
    const deps = moveDeps(sim);
    await sim.add({ order_id: "o-paged" }, { delay_seconds: 600 });
    await sim.add({ order_id: "o-paged" }, { delay_seconds: 1_200 });
    const last = await sim.add({ order_id: "o-paged" }, { delay_seconds: 1_800 });
    const first = await cancelGroup(deps, { topic: "demo", value: "o-paged" }, { limit: "2" });

    // Act: the third is run now (due now: before the cursor), then the group cancel goes on from its cursor
    const ran = await runTask(deps, last);
    sim.advance(1_000);
    const cursor = first.next_cursor ?? undefined;
    const second = await cancelGroup(deps, { topic: "demo", value: "o-paged" }, { cursor });
    await runMinutes(sim, 3);

    // Assess
    expect(first).toMatchObject({ cancelled: 2, more: true });
    expect(second).toMatchObject({ cancelled: 1, not_cancelled: [], more: false });
    expect(sim.status(ran.task_id)).toBe("cancelled");
    expect(sim.delivered()).toEqual([]);
  });

  it("run now on a task due in a week, stopped after its first write: the old item outlives its old due time, so the sweeper finishes the move then (late, not lost)", async () => {
    // Prepare: the successor's write fails (the function died there), after the old item was marked.
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-week" }, { delay_seconds: 7 * 86_400 });
    dieAtNext(sim, "putNew");
    const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };
    const first = await runTask(deps, oldId).catch((e: unknown) => e);
    const successorId = sim.store.tasks.get(oldId)?.rescheduledTo;

    // Act: nobody retries; a week passes, the table's TTL removes what has expired meanwhile, the sweeper runs.
    sim.clock.now += 7 * 86_400_000 + sim.graceMs + MINUTE;
    expireByTtl(sim);
    const report = await sim.sweep();
    sim.advance(MINUTE);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess
    expect(first).toBeInstanceOf(Error);
    expect(report).toMatchObject({ reschedulesFinished: 1, failures: 0 });
    expect(sim.delivered()).toEqual([successorId]);
  });

  /** How a task due in 30 days is moved earlier: run now, or a PATCH a minute on. */
  const EARLIER = {
    "run now": (sim: ReturnType<typeof simulate>, id: string) =>
      runTask({ ...sim, timerQueue: sim.timer, now: () => sim.clock.now }, id),
    "moved a minute on (PATCH)": (sim: ReturnType<typeof simulate>, id: string) =>
      sim.reschedule(id, { delay_seconds: 60 }),
  };

  it.each([
    ["run now", "delivered"],
    ["moved a minute on (PATCH)", "delivered"],
    ["run now", "dead-lettered"],
    ["moved a minute on (PATCH)", "dead-lettered"],
  ] as const)(
    "a task due in 30 days %s, the move stopped after arming its successor, which is then %s: the sweeper that finds the old item at its old due time, long after the successor's retention, settles the move and does not write the successor again",
    async (move, outcome) => {
      // Prepare: the move's last write (settling the old item) fails after the arming; nobody retries. The
      // successor is delivered (or dead-lettered) within minutes.
      const sim = simulate();
      const oldId = await sim.add({ order_id: `o-kept-${move}-${outcome}` }, { delay_seconds: 30 * 86_400 });
      dieAtNext(sim, "settleRescheduled");
      const moved = await EARLIER[move](sim, oldId).catch((e: unknown) => e);
      const successorId = sim.store.tasks.get(oldId)?.rescheduledTo as string;
      if (outcome === "dead-lettered") sim.callbacks.answer(successorId, HTTP(500), HTTP(500), HTTP(500));
      await runMinutes(sim, 5);
      const finished = sim.store.tasks.get(successorId)?.status;
      const calls = sim.delivered().length;

      // Act: the old due time passes, the table's TTL removes what has expired, the sweeper runs.
      await sweepAfterOldDueTime(sim, 30);

      // Assess: the successor's delivery (or dead-lettering) was its only one, and nothing is left stranded
      expect(moved).toBeInstanceOf(Error);
      expect(finished).toBe(outcome === "delivered" ? "delivered" : "failed");
      expect(sim.delivered()).toHaveLength(calls);
      expect(new Set(sim.delivered())).toEqual(new Set([successorId]));
      expect(sim.store.tasks.get(successorId)?.status).toBe(finished);
      expect(sim.store.tasks.get(oldId)?.status).toBe("rescheduled");
      expect(sim.store.tasks.get(oldId)?.sweepShard).toBeUndefined();
    },
  );

  it("a task due in 30 days run now, the move stopped after arming its successor, which is dead-lettered and then discarded by a DELETE that dies before settling the move (a 5xx nobody repeats): the sweeper at the old due time does not write the successor again", async () => {
    // Prepare: the move's last write fails after the arming; the successor is dead-lettered within minutes; the
    // operator discards it, and that DELETE's own settling of the move fails too; nobody repeats either call.
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-kept-discarded" }, { delay_seconds: 30 * 86_400 });
    dieAtNext(sim, "settleRescheduled");
    const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };
    const ran = await runTask(deps, oldId).catch((e: unknown) => e);
    const successorId = sim.store.tasks.get(oldId)?.rescheduledTo as string;
    sim.callbacks.answer(successorId, HTTP(500), HTTP(500), HTTP(500));
    await runMinutes(sim, 5);
    const failed = sim.status(successorId);
    dieAtNext(sim, "settleRescheduled");
    const discarded = await cancelTask(deps, successorId).catch((e: unknown) => e);

    // Act: the old due time passes, the table's TTL removes what has expired, the sweeper runs.
    await sweepAfterOldDueTime(sim, 30);

    // Assess: three failed attempts, no fourth; the discard holds and the move is settled
    expect(ran).toBeInstanceOf(Error);
    expect(failed).toBe("failed");
    expect(discarded).toBeInstanceOf(Error);
    expect(sim.delivered()).toEqual([successorId, successorId, successorId]);
    expect(sim.status(successorId)).toBe("cancelled");
    expect(sim.store.tasks.get(oldId)?.sweepShard).toBeUndefined();
  });

  it("a task due in 30 days moved a minute on, the move stopped after arming its successor, which is then cancelled by a DELETE that dies before settling the move (a 5xx nobody repeats): the sweeper at the old due time does not write the successor again", async () => {
    // Prepare: the successor is due in a minute; the cancel's own settling of the move fails; nobody repeats it.
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-kept-cancelled" }, { delay_seconds: 30 * 86_400 });
    dieAtNext(sim, "settleRescheduled");
    const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };
    const moved = await sim.reschedule(oldId, { delay_seconds: 60 }).catch((e: unknown) => e);
    const successorId = sim.store.tasks.get(oldId)?.rescheduledTo as string;
    dieAtNext(sim, "settleRescheduled");
    const cancelled = await cancelTask(deps, successorId).catch((e: unknown) => e);
    const status = sim.status(successorId);

    // Act: the old due time passes, the table's TTL removes what has expired, the sweeper runs.
    await sweepAfterOldDueTime(sim, 30);

    // Assess: the cancel holds
    expect(moved).toBeInstanceOf(Error);
    expect(cancelled).toBeInstanceOf(Error);
    expect(status).toBe("cancelled");
    expect(sim.delivered()).toEqual([]);
    expect(sim.status(successorId)).toBe("cancelled");
    expect(sim.store.tasks.get(oldId)?.sweepShard).toBeUndefined();
  });

  it("a task due in 30 days moved a day later, the move stopped after arming its successor: the sweeper settles the move at the old due time, and the successor is delivered once, at its own", async () => {
    // Prepare: the move's last write fails after the arming; nobody retries.
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-kept-later" }, { delay_seconds: 30 * 86_400 });
    dieAtNext(sim, "settleRescheduled");
    const moved = await sim.reschedule(oldId, { delay_seconds: 31 * 86_400 }).catch((e: unknown) => e);
    const successorId = sim.store.tasks.get(oldId)?.rescheduledTo as string;

    // Act: the old due time passes (the sweeper runs), then the new one; then past the successor's retention.
    await sweepAfterOldDueTime(sim, 30, MINUTE);
    const settled = sim.store.tasks.get(oldId)?.sweepShard;
    sim.clock.now += 86_400_000;
    await runMinutes(sim, 5);
    await sweepAfterOldDueTime(sim, 10);

    // Assess
    expect(moved).toBeInstanceOf(Error);
    expect(settled).toBeUndefined();
    expect(sim.delivered()).toEqual([successorId]);
  });

  it.each([
    ["scheduled", false],
    ["dead-lettered (the cancel discards it)", true],
  ])(
    "a move stopped after arming its successor, which is then cancelled (200) while %s: the sweeper that finds the old item once its due time has passed, the successor long gone with its retention, does not write it again",
    async (_name, deadLettered) => {
      // Prepare: due in 5 days, moved to 6; the move's last write (settling the old item) fails after the arming.
      const sim = simulate();
      const oldId = await sim.add({ order_id: "o-settle" }, { delay_seconds: 5 * 86_400 });
      dieAtNext(sim, "settleRescheduled");
      const moved = await sim.reschedule(oldId, { delay_seconds: 6 * 86_400 }).catch((e: unknown) => e);
      const successorId = sim.store.tasks.get(oldId)?.rescheduledTo as string;
      const successor = sim.store.tasks.get(successorId);
      if (deadLettered && successor) {
        sim.store.tasks.set(successorId, { ...successor, status: "failed", failedAtMs: sim.clock.now });
      }
      const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };
      const cancelled = await cancelTask(deps, successorId);

      // Act: the old due time passes, the table's TTL has removed the cancelled successor, the sweeper runs.
      await sweepAfterOldDueTime(sim, 5);

      // Assess: the cancel's 200 holds
      expect(moved).toBeInstanceOf(Error);
      expect(cancelled).toMatchObject({ task_id: successorId, status: "cancelled" });
      expect(sim.delivered()).toEqual([]);
      expect(sim.store.tasks.get(successorId)?.status).not.toBe("scheduled");
    },
  );

  it("a move stopped after arming its successor, whose group cancel then stops after cancelling it and is repeated (200): the sweeper that finds the old item once its due time has passed, the successor long gone with its retention, does not write it again", async () => {
    // Prepare: due in 5 days, moved to 6; the move's last write (settling the old item) fails after the arming.
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-group" }, { delay_seconds: 5 * 86_400 });
    dieAtNext(sim, "settleRescheduled");
    const moved = await sim.reschedule(oldId, { delay_seconds: 6 * 86_400 }).catch((e: unknown) => e);
    const successorId = sim.store.tasks.get(oldId)?.rescheduledTo as string;
    const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };
    // The group cancel cancels the successor, then fails settling its move (a 5xx); the client repeats it.
    dieAtNext(sim, "settleRescheduled");
    const first = await cancelGroup(deps, { topic: "demo", value: "o-group" }, {}).catch((e: unknown) => e);
    const repeated = await cancelGroup(deps, { topic: "demo", value: "o-group" }, {});

    // Act: the old due time passes, the table's TTL has removed the cancelled successor, the sweeper runs.
    await sweepAfterOldDueTime(sim, 5);

    // Assess: the repeated cancel's 200 holds
    expect(moved).toBeInstanceOf(Error);
    expect(first).toBeInstanceOf(Error);
    expect(repeated.cancelled).toBe(0);
    expect(sim.delivered()).toEqual([]);
    expect(sim.store.tasks.get(successorId)?.status).not.toBe("scheduled");
  });

  it.each([
    ["by a move that completes", false],
    ["by a move that stops after its first write, finished by the sweeper", true],
  ])(
    "a move stopped after arming its successor, which is then moved again %s: the sweeper that finds the first item at its old due time, the middle one long gone, does not write that one again",
    async (_name, secondStops) => {
      // Prepare: due in 10 days, run now (its last write fails after the arming), then moved 2 minutes on.
      const sim = simulate();
      const firstId = await sim.add({ order_id: "o-chain" }, { delay_seconds: 10 * 86_400 });
      dieAtNext(sim, "settleRescheduled");
      const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };
      const ran = await runTask(deps, firstId).catch((e: unknown) => e);
      const middleId = sim.store.tasks.get(firstId)?.rescheduledTo as string;
      if (secondStops) dieAtNext(sim, "putNew");
      await sim.reschedule(middleId, { delay_seconds: 120 }).catch(() => undefined);
      const lastId = sim.store.tasks.get(middleId)?.rescheduledTo;
      await runMinutes(sim, 4);

      // Act: the first item's due time passes; the table's TTL has removed what expired; the sweeper runs.
      await sweepAfterOldDueTime(sim, 10, MINUTE);

      // Assess: delivered once, under its last id
      expect(ran).toBeInstanceOf(Error);
      expect(sim.delivered()).toEqual([lastId]);
    },
  );

  it("a move stopped after arming its successor, which is then moved again, stopped after its first write and cancelled by its id: the sweeper that finds the first item at its old due time, the middle one long gone, does not write that one again", async () => {
    // Prepare: due in 10 days, run now (its last write fails after the arming), then moved 2 minutes on, which
    // stops after marking the middle item; the client cancels the middle id instead of retrying.
    const sim = simulate();
    const firstId = await sim.add({ order_id: "o-chain-fence" }, { delay_seconds: 10 * 86_400 });
    dieAtNext(sim, "settleRescheduled");
    const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };
    const ran = await runTask(deps, firstId).catch((e: unknown) => e);
    const middleId = sim.store.tasks.get(firstId)?.rescheduledTo as string;
    dieAtNext(sim, "putNew");
    const moved = await sim.reschedule(middleId, { delay_seconds: 120 }).catch((e: unknown) => e);
    const lastId = sim.store.tasks.get(middleId)?.rescheduledTo as string;
    const refused = await cancelTask(deps, middleId).catch((e: unknown) => e);
    const cancelled = await cancelTask(deps, lastId);
    await runMinutes(sim, 4);

    // Act: the first item's due time passes; the table's TTL has removed what expired; the sweeper runs.
    await sweepAfterOldDueTime(sim, 10, MINUTE);

    // Assess: the cancel's 200 holds
    expect(ran).toBeInstanceOf(Error);
    expect(moved).toBeInstanceOf(Error);
    expect(refused).toMatchObject({ status: 409, details: { rescheduled_to: lastId } });
    expect(cancelled).toMatchObject({ task_id: lastId, status: "cancelled" });
    expect(sim.delivered()).toEqual([]);
    expect(sim.store.tasks.get(firstId)?.sweepShard).toBeUndefined();
  });

  it("the successor's timer counts its delay from when it is sent, not from the sweeper run's start", async () => {
    // Prepare: a move 10 minutes later stopped after its first write; the run then spends 30 s reading the group.
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-5s" }, { delay_seconds: 10 });
    const old = sim.store.tasks.get(oldId);
    if (!old) throw new Error("task missing");
    const successorDue = old.dueAtMs + 10 * MINUTE;
    const successorId = successorKey(old, successorDue).taskId;
    await sim.store.markRescheduled(oldId, { to: successorId, atMs: sim.clock.now, expiresAt: 1 });
    const list = sim.store.listUnfinishedInGroup.bind(sim.store);
    sim.store.listUnfinishedInGroup = async (pk, fromMs, toMs) => {
      sim.advance(30_000);
      return list(pk, fromMs, toMs);
    };
    sim.advance(10_000 + sim.graceMs + MINUTE);

    // Act
    const report = await sim.sweep();

    // Assess: armed to come due with the successor, not 30 s after it
    expect(report).toMatchObject({ reschedulesFinished: 1 });
    const timer = sim.timer.messages.find((m) => m.taskId === successorId);
    expect(timer?.visibleAtMs).toBeLessThanOrEqual(successorDue);
    expect(timer?.visibleAtMs).toBeGreaterThan(successorDue - 1_000);
  });

  it("moved later twice, a repeated add still answers the task once the first item's TTL has removed it", async () => {
    // Prepare: a keyed task due in 30 s, postponed by 10 days, then by 40.
    const sim = simulate();
    const add = await keyedAdd(sim, "o-10", "k-10");
    const added = await add();
    const once = await sim.reschedule(added.body.task_id, { delay_seconds: 10 * 86_400 });
    const twice = await sim.reschedule(once.task_id, { delay_seconds: 40 * 86_400 });

    // Act: 20 days on, the first item is past its TTL (DynamoDB deletes it); the add is repeated
    sim.clock.now += 20 * 86_400_000;
    const first = sim.store.tasks.get(added.body.task_id);
    expect(first?.expiresAt).toBeLessThan(sim.clock.now / 1000);
    sim.store.tasks.delete(added.body.task_id);
    const repeat = await add();

    // Assess
    expect(repeat).toMatchObject({ statusCode: 200, body: { task_id: twice.task_id, status: "scheduled" } });
  });

  it("a keyed task's move stopped after its first write, then cancelled by its old id: a repeated add answers it cancelled for as long as the key lives, not scheduled", async () => {
    // Prepare: a keyed task due in 30 s; its move 30 days later stops after marking the old item; DELETE the old id.
    const sim = simulate();
    const add = await keyedAdd(sim, "o-fence-key", "k-fence");
    const added = await add();
    dieAtNext(sim, "putNew");
    const moved = await sim
      .reschedule(added.body.task_id, { delay_seconds: 30 * 86_400 })
      .catch((e: unknown) => e);
    const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };
    const refused = await cancelTask(deps, added.body.task_id).catch((e: unknown) => e);

    // Act: the topic's retention and half a day pass (the table's TTL removes what has expired); the add is repeated
    sim.clock.now += sim.topic.retentionDays * 86_400_000 + 12 * 3_600_000;
    expireByTtl(sim);
    const repeat = await add();

    // Assess: the key still names the task, which is cancelled
    expect(moved).toBeInstanceOf(Error);
    expect(refused).toMatchObject({ status: 409 });
    expect(sim.store.idempotency.get("demo#k-fence")?.expiresAt).toBeGreaterThan(sim.clock.now / 1000);
    expect(repeat).toMatchObject({ statusCode: 200, body: { status: "cancelled" } });
  });

  it("the sweeper that finishes a keyed task's move keeps its idempotency key as long as the moved task", async () => {
    // Prepare: a keyed task's move 30 days later stopped after its first write.
    const sim = simulate();
    const added = await (await keyedAdd(sim, "o-9", "k-9"))();
    const old = sim.store.tasks.get(added.body.task_id);
    if (!old) throw new Error("task missing");
    const successorDue = old.dueAtMs + 30 * 86_400_000;
    const successorId = successorKey(old, successorDue).taskId;
    await sim.store.markRescheduled(old.taskId, { to: successorId, atMs: sim.clock.now, expiresAt: 1 });

    // Act
    sim.advance(30_000 + sim.graceMs + MINUTE);
    const report = await sim.sweep();

    // Assess
    expect(report).toMatchObject({ reschedulesFinished: 1 });
    expect(sim.store.idempotency.get("demo#k-9")?.expiresAt).toBe(claimExpiry(successorDue, sim.topic));
  });

  it("a retried PATCH with the same target finishes the move at once", async () => {
    const sim = simulate();
    const oldId = await sim.add({ order_id: "o-6" }, { delay_seconds: 600 });
    const old = sim.store.tasks.get(oldId);
    if (!old) throw new Error("task missing");
    const dueMs = sim.clock.now + 60_000;
    const successorId = successorKey(old, dueMs).taskId;
    await sim.store.markRescheduled(oldId, { to: successorId, atMs: sim.clock.now, expiresAt: 1 });

    const retried = await sim.reschedule(oldId, { due_at: new Date(dueMs).toISOString() });

    expect(retried.task_id).toBe(successorId);
    expect(sim.store.tasks.get(successorId)?.status).toBe("scheduled");
    expect(sim.timer.messages.map((m) => m.taskId)).toContain(successorId);
    expect(sim.store.tasks.get(oldId)?.sweepShard).toBeUndefined();
  });

  it.each([
    ["delay_seconds", () => ({ delay_seconds: 90 })],
    ["a past due_at (now)", () => ({ due_at: "2000-01-01T00:00:00Z" })],
  ])(
    "a PATCH with %s answered 503 (its new timer not armed) and retried a moment later, as the client retries it, finishes the move",
    async (_name, body) => {
      // Prepare: due in a day; the move's arming fails once (SQS throttled), after the old item was marked.
      const sim = simulate();
      const oldId = await sim.add({ order_id: "o-retry" }, { delay_seconds: 86_400 });
      sim.timer.failNext = 1;
      const first = await sim.reschedule(oldId, body()).catch((e: unknown) => e);

      // Act: the client's retry of the same request, 1.5 s later
      sim.advance(1_500);
      const retried = await sim.reschedule(oldId, body());
      for (let i = 0; i < 4; i++) {
        sim.advance(30_000);
        await sim.runRelay();
        await sim.runDeliver();
      }

      // Assess: the retry is the same move (not a 409), and the task is delivered when moved, not a day later.
      expect(first).toMatchObject({ status: 503 });
      expect(retried).toMatchObject({ status: "scheduled", rescheduled_from: oldId });
      expect(sim.store.tasks.get(oldId)).toMatchObject({ rescheduledTo: retried.task_id });
      expect(sim.delivered()).toEqual([retried.task_id]);
    },
  );

  describe("a PATCH repeated after the topic's maxDelay was lowered (runtime settings) below its target", () => {
    const DAY = 86_400_000;
    /** The topic's settings with `maxDelaySeconds` lowered, as a runtime settings change reaches the API. */
    const lowered = (sim: ReturnType<typeof simulate>, maxDelaySeconds: number): RescheduleTaskDeps => ({
      ...moveDeps(sim),
      config: {
        ...sim.config,
        resolvedTopics: { ...sim.config.resolvedTopics, demo: { ...sim.topic, maxDelaySeconds } },
      },
    });

    it.each([
      ["its first answer lost", false],
      ["its first try answered 503 at arming (CreateSchedule throttled)", true],
    ])(
      "%s: the repeat answers the move made (200) and finishes it, not a 400 saying a move that stands was refused",
      async (_name, armingFails) => {
        // Prepare: due in a day, moved to 30 days on; the settings then lower maxDelay to 7 days.
        const sim = simulate();
        const oldId = await sim.add({ order_id: "o-lowered" }, { delay_seconds: 86_400 });
        const body = { due_at: new Date(sim.clock.now + 30 * DAY).toISOString() };
        sim.scheduler.failCreate = armingFails;
        const first = await sim.reschedule(oldId, body).catch((e: unknown) => e);
        sim.scheduler.failCreate = false;

        // Act: the client's repeat of the same request, a moment later, reaches a function with the new settings
        sim.advance(1_500);
        const repeated = await rescheduleTask(lowered(sim, 7 * 86_400), oldId, body).catch((e: unknown) => e);

        // Assess
        const successorId = sim.store.tasks.get(oldId)?.rescheduledTo;
        expect(first).toMatchObject(armingFails ? { status: 503 } : { task_id: successorId });
        expect(repeated).toMatchObject({
          task_id: successorId,
          status: "scheduled",
          rescheduled_from: oldId,
        });
        expect(sim.scheduler.created.map((r) => r.taskId)).toContain(successorId);
        expect(sim.store.tasks.get(oldId)?.sweepShard).toBeUndefined();
      },
    );

    it("a repeat whose target is within the lowered limit now, though not from the moment of the move: still that move (200), not a 409", async () => {
      // Prepare: moved to 7 days and 1 minute on; maxDelay then lowered to 7 days
      const sim = simulate();
      const oldId = await sim.add({ order_id: "o-lowered-2" }, { delay_seconds: 86_400 });
      const body = { due_at: new Date(sim.clock.now + 7 * DAY + MINUTE).toISOString() };
      const moved = await sim.reschedule(oldId, body);

      // Act: repeated 2 minutes later, when the target is less than 7 days ahead
      sim.advance(2 * MINUTE);
      const repeated = await rescheduleTask(lowered(sim, 7 * 86_400), oldId, body).catch((e: unknown) => e);

      // Assess
      expect(repeated).toMatchObject({ task_id: moved.task_id, rescheduled_from: oldId });
    });

    it("a request that was never made before is still refused (400), and moves nothing", async () => {
      const sim = simulate();
      const oldId = await sim.add({ order_id: "o-lowered-3" }, { delay_seconds: 86_400 });

      const refused = await rescheduleTask(lowered(sim, 7 * 86_400), oldId, {
        due_at: new Date(sim.clock.now + 30 * DAY).toISOString(),
      }).catch((e: unknown) => e);

      expect(refused).toMatchObject({ status: 400 });
      expect(sim.store.tasks.get(oldId)?.status).toBe("scheduled");
    });
  });

  it("a repeated add with the task's idempotency key answers the task it was moved to", async () => {
    const sim = simulate();
    const { addTask } = await import("#shared/services/add-task.js");
    const deps = {
      store: sim.store,
      timerQueue: sim.timer,
      scheduler: sim.scheduler,
      config: sim.config,
      now: () => sim.clock.now,
    };
    const body = {
      topic: "demo",
      delay_seconds: 30,
      content: { order_id: "o-7" },
      callback: { url: "https://hooks.example.com/p" },
    };
    const added = await addTask(deps, { body, idempotencyKeyHeader: "k-7" });

    const moved = await sim.reschedule(added.body.task_id, { delay_seconds: 90 });
    const repeat = await addTask(deps, { body, idempotencyKeyHeader: "k-7" });

    expect(repeat).toMatchObject({ statusCode: 200, body: { task_id: moved.task_id, status: "scheduled" } });
  });

  it("moved far later, its idempotency key is remembered as long as the moved task: a repeated add after the first due time's claim would have expired answers it, not a second task", async () => {
    // Prepare: a keyed task due in 30 s, postponed by 30 days; claims expire on the store's clock.
    const sim = simulate();
    const add = await keyedAdd(sim, "o-8", "k-8");
    const added = await add();
    const moved = await sim.reschedule(added.body.task_id, { delay_seconds: 30 * 86_400 });

    // Act: ten days later (the first due time's claim, due + retention + a day, has run out), the add is repeated
    sim.clock.now += 10 * 86_400_000;
    const repeat = await add();

    // Assess: the same task, still waiting for its day; no second task under the key.
    expect(repeat).toMatchObject({ statusCode: 200, body: { task_id: moved.task_id, status: "scheduled" } });
    expect([...sim.store.tasks.values()].filter((t) => t.status === "scheduled")).toHaveLength(1);
  });

  it("a move whose arming failed (503), whose successor is then moved far later, still keeps the key as long as the last task: a repeated add answers it, not a second task", async () => {
    // Prepare: a keyed task due in 30 s; its move to +60 s writes the successor but cannot arm it (503), so the
    // key's claim still names the first id; the caller then moves that successor (found through rescheduled_to)
    // 30 days on.
    const sim = simulate();
    const add = await keyedAdd(sim, "o-9", "k-9");
    const added = await add();
    const arm = sim.timer.arm.bind(sim.timer);
    sim.timer.arm = async () => {
      sim.timer.arm = arm;
      throw new Error("SQS unavailable");
    };
    const failed = await sim.reschedule(added.body.task_id, { delay_seconds: 60 }).catch((e: unknown) => e);
    const middle = sim.store.tasks.get(added.body.task_id)?.rescheduledTo as string;
    const moved = await sim.reschedule(middle, { delay_seconds: 30 * 86_400 });

    // Act: ten days later (a claim counted from the first due time has run out), the add is repeated
    sim.clock.now += 10 * 86_400_000;
    const repeat = await add();

    // Assess: the same task, still waiting for its day; no second task under the key.
    expect(failed).toMatchObject({ status: 503 });
    expect(repeat).toMatchObject({ statusCode: 200, body: { task_id: moved.task_id, status: "scheduled" } });
    expect([...sim.store.tasks.values()].filter((t) => t.status === "scheduled")).toHaveLength(1);
  });

  it("two moves in a row whose arming failed (503 each), the last successor then moved far later, still keep the key as long as the last task", async () => {
    // Prepare: a keyed task due in 30 s; its move to +60 s and that successor's move to +90 s each write their
    // successor but cannot arm it (503); the caller then moves the second successor 30 days on.
    const sim = simulate();
    const add = await keyedAdd(sim, "o-10", "k-10");
    const added = await add();
    const arm = sim.timer.arm.bind(sim.timer);
    const failOnce = () => {
      sim.timer.arm = async () => {
        sim.timer.arm = arm;
        throw new Error("SQS unavailable");
      };
    };
    failOnce();
    const first = await sim.reschedule(added.body.task_id, { delay_seconds: 60 }).catch((e: unknown) => e);
    const middle = sim.store.tasks.get(added.body.task_id)?.rescheduledTo as string;
    failOnce();
    const second = await sim.reschedule(middle, { delay_seconds: 90 }).catch((e: unknown) => e);
    const last = sim.store.tasks.get(middle)?.rescheduledTo as string;
    const moved = await sim.reschedule(last, { delay_seconds: 30 * 86_400 });

    // Act: ten days later (a claim counted from the first due time has run out), the add is repeated
    sim.clock.now += 10 * 86_400_000;
    const repeat = await add();

    // Assess: the same task, still waiting for its day; no second task under the key.
    expect([first, second]).toMatchObject([{ status: 503 }, { status: 503 }]);
    expect(repeat).toMatchObject({ statusCode: 200, body: { task_id: moved.task_id, status: "scheduled" } });
    expect([...sim.store.tasks.values()].filter((t) => t.status === "scheduled")).toHaveLength(1);
  });
});

describe("run now of a keyed task due far ahead", () => {
  it("keeps the key as long as the first due time's claim: a repeated add ten days later, after TTL removed what had expired, answers the delivered task instead of making a second one", async () => {
    // Prepare: a keyed task due in 30 days (an absolute due_at, as a reconciling producer sends it again), run now
    // and delivered at once; claims expire on the store's clock.
    const sim = simulate();
    sim.store.nowSeconds = () => Math.floor(sim.clock.now / 1000);
    const deps = { ...sim, timerQueue: sim.timer, now: () => sim.clock.now };
    const body = {
      topic: "demo",
      due_at: new Date(sim.clock.now + 30 * 86_400_000).toISOString(),
      content: { order_id: "o-run-key" },
      callback: { url: "https://hooks.example.com/p" },
    };
    const add = async () => {
      const { addTask } = await import("#shared/services/add-task.js");
      return addTask(deps, { body, idempotencyKeyHeader: "k-run-key" });
    };
    const added = await add();
    const ran = await runTask(deps, added.body.task_id);
    await sim.runRelay();
    await sim.runDeliver();
    expect(sim.delivered()).toEqual([ran.task_id]);

    // Act: ten days later, DynamoDB's TTL having removed every item past its expiresAt, the add is repeated
    sim.clock.now += 10 * 86_400_000;
    expireByTtl(sim);
    for (const [id, claim] of sim.store.idempotency) {
      if (claim.expiresAt < sim.clock.now / 1000) sim.store.idempotency.delete(id);
    }
    const repeat = await add();

    // Assess: the task it became, delivered; no second task under the key (before: a new task due on day 30,
    // delivered a second time then: the run had shortened the claim to the new due time's, due now)
    expect(repeat).toMatchObject({ statusCode: 200, body: { task_id: ran.task_id, status: "delivered" } });
    expect([...sim.store.tasks.values()].filter((t) => t.status === "scheduled")).toHaveLength(0);
  });
});

describe("a chain of moves, two of them stopped after arming", () => {
  it("a task due in 30 days moved a minute on, its successor two minutes on (both moves stopped after arming), then that one's successor three minutes on: the sweeper that finds the first item at its old due time does not write the middle one again", async () => {
    // Prepare: X → Y stops before settling X; Y → Z stops at settling X (its first settling write); Z → W
    // completes, which settles Y and Z but not X. W is delivered within minutes.
    const sim = simulate();
    const firstId = await sim.add({ order_id: "o-chain-strand" }, { delay_seconds: 30 * 86_400 });
    dieAtNext(sim, "settleRescheduled");
    const first = await sim.reschedule(firstId, { delay_seconds: 60 }).catch((e: unknown) => e);
    const middleId = sim.store.tasks.get(firstId)?.rescheduledTo as string;
    dieAtNext(sim, "settleRescheduled");
    const second = await sim.reschedule(middleId, { delay_seconds: 120 }).catch((e: unknown) => e);
    const thirdId = sim.store.tasks.get(middleId)?.rescheduledTo as string;
    const last = await sim.reschedule(thirdId, { delay_seconds: 180 });
    await runMinutes(sim, 5);
    const delivered = sim.delivered();

    // Act: the first item's due time passes, the table's TTL removes what has expired, the sweeper runs.
    await sweepAfterOldDueTime(sim, 30);

    // Assess: the task was delivered once, as its last successor
    expect(first).toBeInstanceOf(Error);
    expect(second).toBeInstanceOf(Error);
    expect(delivered).toEqual([last.task_id]);
    expect(sim.delivered()).toEqual([last.task_id]);
  });
});
