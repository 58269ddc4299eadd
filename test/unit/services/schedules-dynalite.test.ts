import { parse } from "lossless-json";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoMaterializerStore, DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import type { ScheduleChange } from "#shared/adapters/task-store.js";
import type { ScheduleRecord } from "#shared/domain/schedule.js";
import { runTask } from "#shared/services/reschedule-task.js";
import { createSchedule, resumeSchedule, type ScheduleRouteDeps } from "#shared/services/schedules/manage.js";
import { leftAsWritten, materializeSchedule } from "#shared/services/schedules/materialize.js";
import { type MaterializerRunDeps, runMaterializer } from "#shared/services/schedules/run.js";
import { pauseSchedule } from "#shared/services/schedules/stop-routes.js";
import { ManualClock } from "../../support/clock.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { FakeScheduler } from "../../support/fakes/scheduler.js";
import { FakeTimerQueue } from "../../support/fakes/timer-queue.js";
import { simConfig } from "../../support/pipeline-sim.js";

/**
 * The schedule races of schedules.test.ts on DynamoDB's own conditional writes (dynalite, the materializer's store
 * class), not the memory store's imitation of them: two runs overlapping as a schedule ends, and a catch-up run
 * after one that failed once it had made its window.
 */
let dynamo: LocalDynamo;
let table = 0;

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo?.stop();
});

async function harness(startIso: string, Store = DynamoMaterializerStore) {
  const tableName = `schedules-${++table}`;
  await createTaskTable(dynamo.client, tableName);
  const clock = new ManualClock(Date.parse(startIso));
  const store = new Store({
    client: dynamo.client,
    tableName,
    nowSeconds: () => Math.floor(clock.now() / 1000),
  });
  const deps = {
    store,
    timerQueue: new FakeTimerQueue(clock.now),
    scheduler: new FakeScheduler(),
    config: simConfig(),
    now: clock.now,
  } as unknown as ScheduleRouteDeps & MaterializerRunDeps;
  const read = async (id: string) => (await store.getSchedule(id)) as ScheduleRecord;
  return { clock, store, deps, read };
}

const body = (extra: Record<string, unknown>) =>
  parse(
    JSON.stringify({
      topic: "demo",
      timezone: "UTC",
      content: { order_id: "o-1" },
      callback: { url: "https://receiver.example/hook" },
      ...extra,
    }),
  );

/** The status of each occurrence's task, by its instant (from its idempotency key's task). */
async function occurrenceTasks(h: Awaited<ReturnType<typeof harness>>, id: string, instants: number[]) {
  const schedule = await h.read(id);
  return Promise.all(
    instants.map(async (ms) => {
      const taskId = await h.store.findIdempotencyClaim("demo", `schedule:${id}:${schedule.epoch}:${ms}`);
      return taskId ? (await h.store.get(taskId))?.status : undefined;
    }),
  );
}

describe("schedule races on DynamoDB's conditional writes (dynalite)", () => {
  it("two runs overlapping as the schedule ends: the slower one cancels none of the last occurrences", async () => {
    // Prepare: 10-second occurrences until 00:05:30 (25 made at creation); two minutes later run A leases the
    // rest and halts before its first add; run B leases on A's lease, makes them and ends the schedule.
    const h = await harness("2027-01-01T00:00:00.000Z");
    const { schedule_id: id } = await createSchedule(
      h.deps,
      body({ cron: "*/10 * * * * *", end_at: "2027-01-01T00:05:30Z" }),
    );
    h.clock.advance(2 * 60_000);
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const halting = Object.create(h.store) as DynamoMaterializerStore;
    Object.assign(halting, {
      claimIdempotencyKey: async (...args: Parameters<DynamoMaterializerStore["claimIdempotencyKey"]>) => {
        await gate;
        return h.store.claimIdempotencyKey(...args);
      },
    });
    const a = materializeSchedule({ ...h.deps, store: halting }, await h.read(id), 150);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const b = await materializeSchedule(h.deps, await h.read(id), 150);

    // Act
    release();
    const late = await a;

    // Assess: 00:00:10 … 00:05:20 each a scheduled task; the schedule ended.
    const every10s = Array.from(
      { length: 32 },
      (_, i) => Date.parse("2027-01-01T00:00:10.000Z") + i * 10_000,
    );
    expect([b.advanced, late.advanced]).toEqual([true, false]);
    expect((await h.read(id)).status).toBe("ended");
    expect(new Set(await occurrenceTasks(h, id, every10s))).toEqual(new Set(["scheduled"]));
  });

  it("`none`, minute cron: after a run that made its window and failed at its cursor write, the next run a minute later counts nothing more skipped", async () => {
    // Prepare: three hours missed; the run skips the backlog in its lease (00:05 … 02:55), makes its window
    // (02:56 … 03:04), its cursor write fails.
    const h = await harness("2027-01-01T00:00:00.000Z");
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * *", catch_up: "none" }));
    h.clock.set("2027-01-01T03:00:00.000Z");
    const failing = Object.create(h.store) as DynamoMaterializerStore;
    let updates = 0;
    Object.assign(failing, {
      updateSchedule: async (...args: Parameters<DynamoMaterializerStore["updateSchedule"]>) => {
        if (++updates > 1) throw new Error("the cursor write failed");
        return h.store.updateSchedule(...args);
      },
    });
    const failed = await runMaterializer({ ...h.deps, store: failing });
    const counted = (await h.read(id)).skippedOccurrences;

    // Act
    h.clock.advance(60_000);
    const next = await runMaterializer(h.deps);

    // Assess: the occurrence the failed run made and the next finds missed (02:56) is a task, not counted.
    const missedNow = [Date.parse("2027-01-01T02:56:00.000Z")];
    expect(failed).toMatchObject({ failures: 1, skipped: 171 });
    expect(next).toMatchObject({ failures: 0, skipped: 0 });
    expect((await h.read(id)).skippedOccurrences).toBe(counted);
    expect(new Set(await occurrenceTasks(h, id, missedNow))).toEqual(new Set(["scheduled"]));
  });

  it("`none`, minute cron: a run stalled after its lease, the next run skipping its first occurrence, then a pause: the stalled run adds nothing after the pause answered", async () => {
    // Prepare: three hours missed; run A leases 02:56 … 03:04 and stalls before its first add; a minute later run
    // B finds 02:56 missed and skips it; a pause answers.
    const h = await harness("2027-01-01T00:00:00.000Z");
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "* * * * *", catch_up: "none" }));
    h.clock.set("2027-01-01T03:00:00.000Z");
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const halting = Object.create(h.store) as DynamoMaterializerStore;
    Object.assign(halting, {
      claimIdempotencyKey: async (...args: Parameters<DynamoMaterializerStore["claimIdempotencyKey"]>) => {
        await gate;
        return h.store.claimIdempotencyKey(...args);
      },
    });
    const a = materializeSchedule({ ...h.deps, store: halting }, await h.read(id), 150);
    await new Promise((resolve) => setTimeout(resolve, 50));
    h.clock.advance(60_000);
    const b = await runMaterializer(h.deps);
    await pauseSchedule(h.deps, id);
    const skipped = [Date.parse("2027-01-01T02:56:00.000Z")];
    const atPause = await occurrenceTasks(h, id, skipped);
    const timers = h.deps.timerQueue as FakeTimerQueue;
    const armedAtPause = timers.armed.length;
    const armed = new Set(timers.armed.map((arm) => arm.taskId));

    // Act: A goes on.
    release();
    await a;

    // Assess: 02:56 was a cancelled task when the pause answered (B wrote it so before skipping it), and still is;
    // A armed no task after the pause that was not armed before (its repeats of B's tasks re-arm those, as any
    // repeat does); counted skipped once.
    expect(b).toMatchObject({ failures: 0, skipped: 1 });
    expect(atPause).toEqual(["cancelled"]);
    expect(await occurrenceTasks(h, id, skipped)).toEqual(["cancelled"]);
    expect(timers.armed.slice(armedAtPause).filter((arm) => !armed.has(arm.taskId))).toEqual([]);
  });

  it("a schedule write sent twice (an SDK resend after a lost answer): the second is refused, and the refusal reads as the write left it, a skip's record included", async () => {
    // Prepare: a stored schedule and a change carrying the fields a run's pause writes (a skip's map among them).
    const h = await harness("2027-01-01T00:00:00.000Z");
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "0 * * * *" }));
    const read = await h.read(id);
    const change: ScheduleChange = {
      ifStatus: ["active"],
      ifMaterializedUntilMs: read.materializedUntilMs,
      ifEpoch: read.epoch,
      set: {
        status: "paused",
        pausedAtMs: h.clock.nowMs,
        updatedAtMs: h.clock.nowMs,
        skippedOccurrences: 1,
        lastSkipped: { occurrenceMs: 3_600_000, atMs: h.clock.nowMs, code: "unknown_topic", message: "gone" },
      },
      remove: ["scheduleShard", "materializeAtMs"],
    };

    // Act
    const first = await h.store.updateSchedule(id, change);
    const resent = await h.store.updateSchedule(id, change);

    // Assess
    expect(first.outcome).toBe("updated");
    expect(resent.outcome).toBe("conflict");
    expect(resent.outcome === "conflict" && leftAsWritten(resent.schedule, change)).toBe(true);
    expect(resent.outcome === "conflict" && leftAsWritten(resent.schedule, { ...change, ifEpoch: 7 })).toBe(
      false,
    );
  });
  it("an occurrence run now and delivered, then a pause and a resume before its time: the new epoch's key names the task called, and the materializer makes no second one", async () => {
    // Prepare: the 07:00:00 occurrence run now at 06:59:50.3 and delivered (called).
    const h = await harness("2027-03-14T06:59:50.300Z", DynamoTaskStore);
    const store = h.store as unknown as DynamoTaskStore;
    const { schedule_id: id } = await createSchedule(h.deps, body({ cron: "*/10 * * * * *" }));
    const instant = Date.parse("2027-03-14T07:00:00.000Z");
    const claimed = await store.findIdempotencyClaim("demo", `schedule:${id}:0:${instant}`);
    if (!claimed) throw new Error("the create made no 07:00:00 occurrence");
    await runTask(h.deps as never, claimed);
    const ran = (await store.get(claimed))?.rescheduledTo as string;
    await store.startAttempt(ran, h.clock.now());
    const delivery = { atMs: h.clock.now(), latenessMs: 0, deliveryLatencyMs: 10, expiresAt: 2_000_000_000 };
    expect(await store.markDelivered(ran, delivery)).toBe(true);

    // Act
    await pauseSchedule(h.deps, id);
    await resumeSchedule(h.deps, id);
    h.clock.advance(60_000);
    await runMaterializer(h.deps);

    // Assess: epoch 1's key of 07:00:00 names the task epoch 0 called; its 07:00:10 is a task of its own.
    expect((await h.read(id)).epoch).toBe(1);
    const called = await store.findIdempotencyClaim("demo", `schedule:${id}:0:${instant}`);
    expect(called).toBe(ran);
    expect(await store.findIdempotencyClaim("demo", `schedule:${id}:1:${instant}`)).toBe(called);
    expect(await occurrenceTasks(h, id, [instant, instant + 10_000])).toEqual(["delivered", "scheduled"]);
  });
});
