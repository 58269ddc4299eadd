import { randomUUID } from "node:crypto";
import {
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  SchedulerClient,
  UpdateScheduleCommand,
} from "@aws-sdk/client-scheduler";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scheduleNameFor } from "#shared/domain/keys.js";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * The Scheduler stage, with timings shrunk so it runs in seconds: tasks more than 2 s out get a schedule 2 s ahead
 * of due, and the Scheduler emulator fires each schedule anywhere within 2 s after its time — AWS's imprecision,
 * scaled down. Second-level timing must come from the relay, never from Scheduler's precision.
 * Against LocalStack (whose Scheduler never fires) the harness's schedule pump fires them, as late as that, and
 * the deployed stack must carry the same timings (localstack/README.md: `-c configOverrides=…`).
 */
let h: Harness;
let scheduler: SchedulerClient;

beforeAll(async () => {
  h = await startHarness({
    firingWindowSeconds: 2,
    configOverrides: { timer: { horizonSeconds: 2, leadSeconds: 2 } },
  });
  scheduler = new SchedulerClient(h.clientConfig);
});

/** The environment's schedule group (the only one the stack's functions use). */
const listSchedules = () =>
  scheduler.send(new ListSchedulesCommand({ GroupName: h.cloud.scheduleGroupName, MaxResults: 100 }));

/** One task of `{ n: 1 }` to `url` at the given timing; its id (the add must answer 201). */
async function addOne(url: string, timing: { delay_seconds: number } | { due_at: string }): Promise<string> {
  const added = await h.api("POST", "/v1/tasks", {
    topic: "demo",
    ...timing,
    content: { n: 1 },
    callback: { url },
  });
  expect(added.status, added.text).toBe(201);
  return String(added.json.task_id);
}

afterAll(async () => {
  scheduler?.destroy();
  await h?.stop();
});

describe("Scheduler path", () => {
  it("delivers tasks beyond the horizon on time, in order, though schedules fire up to 2 s late", async () => {
    // Prepare
    const group = `order-${randomUUID()}`;
    const dueAt = new Date(Math.ceil((Date.now() + 5_000) / 1000) * 1000).toISOString();
    const url = `${h.receiver.url}/ok/sched`;

    // Act
    const ids: string[] = [];
    for (let seq = 0; seq < 5; seq++) {
      const response = await h.api("POST", "/v1/tasks", {
        topic: "demo",
        due_at: dueAt,
        content: { order_id: group, seq },
        callback: { url },
      });
      expect(response.status, response.text).toBe(201);
      ids.push(String(response.json.task_id));
    }
    const pending = await listSchedules();
    await h.receiver.waitFor(() => ids.every((id) => h.receiver.forTask(id).length > 0));

    // Assess
    expect(pending.Schedules?.length ?? 0).toBeGreaterThanOrEqual(ids.length);
    const arrivals = ids.map((id) => h.receiver.forTask(id)[0]);
    for (const arrival of arrivals) expect(arrival?.receivedAtMs).toBeGreaterThanOrEqual(Date.parse(dueAt));
    const order = h.receiver.received
      .filter((r) => r.json.content?.order_id === group)
      .map((r) => r.json.content.seq);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    // ActionAfterCompletion DELETE: fired schedules are gone.
    const after = await listSchedules();
    const left = (after.Schedules ?? []).length;
    expect(left).toBe(0);
  });

  it("cancelling a schedule-path task deletes its schedule and it is never delivered", async () => {
    const response = await h.api("POST", "/v1/tasks", {
      topic: "demo",
      delay_seconds: 4,
      content: { n: 1 },
      callback: { url: `${h.receiver.url}/ok/sched-cancel` },
    });
    const taskId = String(response.json.task_id);
    const before = await listSchedules();

    const cancel = await h.api("DELETE", `/v1/tasks/${taskId}`);
    const after = await listSchedules();
    const marker = await h.api("POST", "/v1/tasks", {
      topic: "demo",
      delay_seconds: 5,
      content: { n: 2 },
      callback: { url: `${h.receiver.url}/ok/sched-cancel` },
    });
    await h.receiver.waitFor(() => h.receiver.forTask(String(marker.json.task_id)).length > 0);

    expect(cancel.status).toBe(200);
    expect((before.Schedules ?? []).length - (after.Schedules ?? []).length).toBe(1);
    expect(h.receiver.forTask(taskId)).toEqual([]);
  });

  it("moving a schedule-path task to another schedule-path time swaps its schedule; only the new id is called, not before its due", async () => {
    // Prepare
    const url = `${h.receiver.url}/ok/sched-move`;
    const oldId = await addOne(url, { delay_seconds: 30 });
    const newDueMs = Math.ceil((Date.now() + 6_000) / 1000) * 1000;

    // Act
    const moved = await h.api("PATCH", `/v1/tasks/${oldId}`, { due_at: new Date(newDueMs).toISOString() });
    const newId = String(moved.json.task_id);
    const names = (await listSchedules()).Schedules?.map((s) => s.Name) ?? [];
    await h.receiver.waitFor(() => h.receiver.forTask(newId).length > 0);

    // Assess
    expect(moved.status, moved.text).toBe(200);
    expect(names).not.toContain(scheduleNameFor(oldId));
    expect(names).toContain(scheduleNameFor(newId));
    expect(h.receiver.forTask(newId)).toHaveLength(1);
    expect(h.receiver.forTask(newId)[0]?.receivedAtMs).toBeGreaterThanOrEqual(newDueMs);
    expect(h.receiver.forTask(oldId)).toEqual([]);
  });

  it("a move landing while the old schedule fires (its timer in the relay's hands): the old id is never called", async () => {
    // Prepare: due in 5 s, so its schedule fires 3–5 s from now (2 s lead, up to 2 s late); moved 1.5 s before
    // due, when the schedule may have fired and the relay may be holding its timer message until due.
    const url = `${h.receiver.url}/ok/sched-race`;
    const dueMs = Math.ceil((Date.now() + 5_000) / 1000) * 1000;
    const oldId = await addOne(url, { due_at: new Date(dueMs).toISOString() });
    const newDueMs = dueMs + 4_000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, dueMs - 1_500 - Date.now())));

    // Act
    const moved = await h.api("PATCH", `/v1/tasks/${oldId}`, { due_at: new Date(newDueMs).toISOString() });
    const newId = String(moved.json.task_id);
    await h.receiver.waitFor(() => h.receiver.forTask(newId).length > 0);
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    // Assess
    expect(moved.status, moved.text).toBe(200);
    expect(h.receiver.forTask(newId)).toHaveLength(1);
    expect(h.receiver.forTask(newId)[0]?.receivedAtMs).toBeGreaterThanOrEqual(newDueMs);
    expect(h.receiver.forTask(oldId)).toEqual([]);
  });

  // CreateSchedule's ConflictException means "an inconsistent state", not only "an earlier try made it": a repeat's
  // re-arm meets it and counts as armed only once GetSchedule shows its own timer (shared/adapters/task-scheduler.ts),
  // whatever second it names: one moved past due by hand is still the task's (the sweeper bounds how late it can be).
  it("a keyed add's repeat re-arms through a CreateSchedule conflict: its own schedule is 200, moved an hour late too (left as found)", async () => {
    // Prepare
    const url = `${h.receiver.url}/ok/sched-conflict`;
    const dueMs = Math.ceil((Date.now() + 15_000) / 1000) * 1000;
    const body = {
      topic: "demo",
      due_at: new Date(dueMs).toISOString(),
      content: { n: 1 },
      callback: { url },
    };
    const key = { "idempotency-key": `conflict-${randomUUID()}` };
    const added = await h.api("POST", "/v1/tasks", body, key);
    expect(added.status, added.text).toBe(201);
    const taskId = String(added.json.task_id);
    const name = scheduleNameFor(taskId);
    const where = { Name: name, GroupName: h.cloud.scheduleGroupName };

    // Act: a repeat meets the schedule its first add made; then the same name firing an hour late; then none.
    // (Due 15 s out: these calls end well before the schedule's second, due − lead.)
    const repeated = await h.api("POST", "/v1/tasks", body, key);
    const { Target: target } = await scheduler.send(new GetScheduleCommand(where));
    if (!target) throw new Error(`GetSchedule ${name} answered no Target`);
    await scheduler.send(
      new UpdateScheduleCommand({
        ...where,
        ScheduleExpression: `at(${new Date(dueMs + 3_600_000).toISOString().slice(0, 19)})`,
        ScheduleExpressionTimezone: "UTC",
        FlexibleTimeWindow: { Mode: "OFF" },
        ActionAfterCompletion: "DELETE",
        Target: target,
      }),
    );
    const late = await h.api("POST", "/v1/tasks", body, key);
    const lateFound = await scheduler.send(new GetScheduleCommand(where));
    await scheduler.send(new DeleteScheduleCommand(where));
    const healed = await h.api("POST", "/v1/tasks", body, key);
    await h.receiver.waitFor(() => h.receiver.forTask(taskId).length > 0);

    // Assess
    expect(repeated.status, repeated.text).toBe(200);
    expect(late.status, late.text).toBe(200);
    expect(late.json.task_id).toBe(taskId);
    expect(lateFound.ScheduleExpression).toBe(
      `at(${new Date(dueMs + 3_600_000).toISOString().slice(0, 19)})`,
    );
    expect(healed.status, healed.text).toBe(200);
    expect(h.receiver.forTask(taskId)).toHaveLength(1);
    expect(h.receiver.forTask(taskId)[0]?.receivedAtMs).toBeGreaterThanOrEqual(dueMs);
  });

  it("running a schedule-path task now deletes its schedule and calls only the new id, once", async () => {
    // Prepare
    const url = `${h.receiver.url}/ok/sched-run`;
    const dueMs = Math.ceil((Date.now() + 8_000) / 1000) * 1000;
    const oldId = await addOne(url, { due_at: new Date(dueMs).toISOString() });

    // Act
    const ran = await h.api("POST", `/v1/tasks/${oldId}/run`);
    const newId = String(ran.json.task_id);
    const names = (await listSchedules()).Schedules?.map((s) => s.Name) ?? [];
    await h.receiver.waitFor(() => h.receiver.forTask(newId).length > 0);
    // Past the old due time and the old schedule's latest firing.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, dueMs + 2_500 - Date.now())));

    // Assess
    expect(ran.status, ran.text).toBe(200);
    expect(names).not.toContain(scheduleNameFor(oldId));
    expect(h.receiver.forTask(newId)).toHaveLength(1);
    expect(h.receiver.forTask(newId)[0]?.receivedAtMs).toBeLessThan(dueMs);
    expect(h.receiver.forTask(oldId)).toEqual([]);
  });
});
