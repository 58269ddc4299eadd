import { randomUUID } from "node:crypto";
import { PunctualClient, type TaskView } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { occurrenceIdempotencyKey } from "#shared/domain/schedule.js";
import type { ReceivedCallback } from "./support/callback-receiver.js";
import { groupTasks as groupTasksOf, settledGroup } from "./support/group-tasks.js";
import { type Harness, startHarness, validatingFetch } from "./support/harness.js";

/**
 * Two pauses and resumes in a row on one schedule, through the local cloud (DynamoDB's own conditional writes and
 * claims, the timer queue, deliver's schedule check, a real receiver): no occurrence is called twice, none of an
 * active stretch is skipped, none that fell in a pause is made up, and an occurrence run ahead of its time is
 * called once, its instant carried into each new epoch (docs/RELIABILITY.md "Recurring schedules", Resume). The
 * unit property (schedules-occurrence-faults.test.ts) plays such sequences on the memory store; this one on the
 * emulators. The materializer's rule fires every second here; the clock is real, and the test waits for states
 * (deliveries, statuses), never for a fixed time: every 2 s, a few seconds per stretch.
 */
let h: Harness;
let client: PunctualClient;
let store: DynamoTaskStore;

beforeAll(async () => {
  h = await startHarness({ sweeperIntervalMs: 1_000 });
  client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch: validatingFetch });
  store = new DynamoTaskStore({ client: h.dynamodb, tableName: h.cloud.tableName });
});

afterAll(async () => {
  await h?.stop();
});

const EVERY_MS = 2_000;

/** Polls (every 100 ms, at most `tries` times) until `found` answers something: a correctness bound, not a speed target. */
async function until<T>(what: string, found: () => Promise<T | undefined>, tries = 300): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await found();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`never: ${what}`);
}

/** An active stretch of the schedule: from just after the call that started it answered, to its pause. */
interface Stretch {
  readonly fromMs: number;
  readonly pausedAtMs: number;
}

describe("a schedule paused and resumed twice in a row (local cloud)", () => {
  it("calls no occurrence twice and skips none of an active stretch; an occurrence run ahead is called once, carried into both new epochs", async () => {
    // Prepare: every 2 s; two occurrences delivered; the first made 30 s or more ahead run now and delivered.
    const group = `twice-${randomUUID()}`;
    const path = `/ok/twice/${group}`;
    const ours = (all: ReceivedCallback[]) => all.filter((c) => c.path === path);
    const groupTasks = () => groupTasksOf(client, group);
    const created = await client.createSchedule({
      topic: "demo",
      cron: "*/2 * * * * *",
      timezone: "UTC",
      content: { order_id: group },
      callback: { url: `${h.receiver.url}${path}` },
    });
    const id = created.schedule_id;
    let fromMs = Date.now();
    /** Two of the stretch's own occurrences delivered (due after it began: one due during the call may be its). */
    const twoDeliveredSince = (sinceMs: number) =>
      h.receiver.waitFor(
        (all) => ours(all).filter((c) => Date.parse(String(c.json.due_at)) > sinceMs).length >= 2,
      );
    await twoDeliveredSince(fromMs);
    const ahead = await until("an occurrence made 30 s ahead", async () =>
      (await groupTasks()).find(
        (t) => t.status === "scheduled" && Date.parse(t.due_at) >= Date.now() + 30_000,
      ),
    );
    const instantMs = Date.parse(ahead.due_at);
    const moved = await client.runTask(ahead.task_id);
    await h.receiver.waitFor((all) => ours(all).some((c) => c.headers["webhook-id"] === moved.task_id));

    // Act: pause, resume and two more deliveries, twice; then wait for the last epoch's runs to reach past the
    // instant run ahead, and delete.
    const stretches: Stretch[] = [];
    const resumedFromMs: number[] = [];
    for (const epoch of [1, 2]) {
      const paused = await client.pauseSchedule(id);
      stretches.push({ fromMs, pausedAtMs: Date.parse(paused.paused_at as string) });
      await settledGroup(client, group, ["delivered", "cancelled", "rescheduled"], 300);
      resumedFromMs.push(Date.now());
      const resumed = await client.resumeSchedule(id);
      fromMs = Date.now();
      expect(resumed.status, `resume ${epoch}`).toBe("active");
      await twoDeliveredSince(fromMs);
    }
    const lastResumeMs = resumedFromMs.at(-1) as number;
    await until("the last epoch made past the instant run ahead", async () =>
      (await groupTasks()).find(
        (t) => Date.parse(t.due_at) > instantMs && Date.parse(t.accepted_at) >= lastResumeMs,
      ),
    );
    const epoch2 = await store.getSchedule(id);
    const carried = await Promise.all(
      [1, 2].map((epoch) =>
        store.findIdempotencyClaim("demo", occurrenceIdempotencyKey(id, epoch, instantMs)),
      ),
    );
    const atInstant = (await groupTasks()).filter((t) => Date.parse(t.due_at) === instantMs);
    const deleted = await client.deleteSchedule(id);
    stretches.push({ fromMs, pausedAtMs: Date.parse(deleted.deleted_at as string) });
    const tasks = await settledGroup(client, group, ["delivered", "cancelled", "rescheduled"], 300);

    // Assess: the instant run ahead is the moved task's in both new epochs, and no other task was made for it.
    expect(epoch2?.epoch).toBe(2);
    expect(carried).toEqual([moved.task_id, moved.task_id]);
    expect(atInstant.map((t) => [t.task_id, t.status])).toEqual([[ahead.task_id, "rescheduled"]]);
    // Called at most once: one delivered task per occurrence instant (the moved one stands for its instant), and
    // one callback per attempt of each, none for a task not delivered.
    const delivered = tasks.filter((t) => t.status === "delivered");
    const instantOf = (t: TaskView) => (t.task_id === moved.task_id ? instantMs : Date.parse(t.due_at));
    const instants = delivered.map(instantOf);
    expect(new Set(instants).size).toBe(instants.length);
    const ids = ours(h.receiver.received).map((c) => c.headers["webhook-id"]);
    expect(new Set(ids)).toEqual(new Set(delivered.map((t) => t.task_id)));
    for (const t of delivered) expect(ids.filter((taskId) => taskId === t.task_id)).toHaveLength(t.attempts);
    // None skipped: in each active stretch, every instant from its start to the last one delivered in it was
    // delivered (an occurrence's group is delivered in order; one due just before a pause may be left to it).
    for (const [n, stretch] of stretches.entries()) {
      const inStretch = instants.filter((ms) => ms > stretch.fromMs && ms <= stretch.pausedAtMs);
      expect(inStretch.length, `stretch ${n}`).toBeGreaterThanOrEqual(2);
      const last = Math.max(...inStretch);
      const first = Math.ceil((stretch.fromMs + 1) / EVERY_MS) * EVERY_MS;
      const owed = Array.from({ length: (last - first) / EVERY_MS + 1 }, (_, i) => first + i * EVERY_MS);
      expect(
        owed.filter((ms) => !instants.includes(ms)),
        `stretch ${n}`,
      ).toEqual([]);
    }
    // Nothing that fell in a pause was made up: no instant delivered between a pause and the resume after it.
    for (const [n, resumedMs] of resumedFromMs.entries()) {
      const pausedAtMs = stretches[n]?.pausedAtMs as number;
      expect(instants.filter((ms) => ms > pausedAtMs && ms <= resumedMs && ms !== instantMs)).toEqual([]);
    }
  });
});
