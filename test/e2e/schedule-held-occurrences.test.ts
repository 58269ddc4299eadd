import { randomUUID } from "node:crypto";
import { PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReceivedCallback } from "./support/callback-receiver.js";
import { groupTasks as groupTasksOf, settledGroup } from "./support/group-tasks.js";
import { type Harness, startHarness, validatingFetch } from "./support/harness.js";

/**
 * A schedule's occurrences already due and held when it is stopped (docs/RELIABILITY.md "Recurring schedules"):
 * here held by their topic's pause, in its FIFO queue. Before deliver checked the schedule, each was delivered once
 * the topic resumed, after the schedule's delete (or pause) had answered; now deliver reads the schedule before
 * the attempt and cancels them instead. The materializer's rule fires every second here; the clock is real, and
 * the test waits for states (backlog, statuses), never for a fixed time.
 */
let h: Harness;
let client: PunctualClient;

beforeAll(async () => {
  h = await startHarness({ sweeperIntervalMs: 1_000 });
  client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch: validatingFetch });
});

afterAll(async () => {
  await h?.stop();
});

/** Every page of one ordering group. */
const groupTasks = (group: string) => groupTasksOf(client, group);
/** Every task of the group finished. */
const settled = (group: string) => settledGroup(client, group, ["delivered", "cancelled", "failed"], 300);

/** Polls until `count` of the group's tasks are due (a second past their due time: handed to the paused topic). */
async function dueAtLeast(group: string, count: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const due = (await groupTasks(group)).filter((t) => Date.parse(t.due_at) <= Date.now() - 1_000);
    if (due.length >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`group ${group} never had ${count} tasks due`);
}

/** A one-second schedule on the paused topic `demo`, its occurrences in one group; resolves once `held` are due and handed over. */
async function heldSchedule(held: number) {
  const group = `held-${randomUUID()}`;
  const path = `/ok/held/${group}`;
  const before = await client.getTopic("demo");
  const waiting = before.backlog.waiting + before.backlog.in_flight;
  const created = await client.createSchedule({
    topic: "demo",
    cron: "* * * * * *",
    timezone: "UTC",
    content: { order_id: group },
    deliver_by: "order_id",
    callback: { url: `${h.receiver.url}${path}` },
  });
  await h.waitForBacklog("demo", waiting + held);
  // The backlog may count another test's leftovers: wait for this schedule's own occurrences to be due as well.
  await dueAtLeast(group, held);
  const ours = (all: ReceivedCallback[]) => all.filter((c) => c.path === path);
  return { group, created, ours };
}

describe("occurrences due and held when their schedule is stopped", () => {
  it("a schedule deleted while its topic is paused: its held occurrences are cancelled on resume, never called", async () => {
    // Prepare: the topic paused, three occurrences due and held in its FIFO queue
    await client.pauseTopic("demo");
    let resumedTopic = false;
    try {
      const { group, created, ours } = await heldSchedule(3);

      // Act: delete the schedule, then resume the topic
      const deleted = await client.deleteSchedule(created.schedule_id);
      const deletedAtMs = Date.now();
      await client.resumeTopic("demo");
      resumedTopic = true;
      const tasks = await settled(group);

      // Assess: every occurrence cancelled — those due before the delete too — and none called
      expect(deleted.status).toBe("deleted");
      const dueBefore = tasks.filter((t) => Date.parse(t.due_at) < deletedAtMs);
      expect(dueBefore.length).toBeGreaterThanOrEqual(3);
      expect(tasks.every((t) => t.status === "cancelled" && t.attempts === 0)).toBe(true);
      expect(tasks.every((t) => t.schedule_id === created.schedule_id)).toBe(true);
      expect(ours(h.receiver.received)).toHaveLength(0);
    } finally {
      if (!resumedTopic) await client.resumeTopic("demo");
    }
  });

  it("a schedule paused and resumed while its topic is paused: the held occurrences of before are skipped, the new ones delivered", async () => {
    // Prepare
    await client.pauseTopic("demo");
    let resumedTopic = false;
    try {
      const { group, created, ours } = await heldSchedule(2);

      // Act: pause and resume the schedule (a new epoch), resume the topic, let one new occurrence be delivered
      const paused = await client.pauseSchedule(created.schedule_id);
      const pausedAtMs = Date.parse(paused.paused_at as string);
      const resumedAtMs = Date.now();
      await client.resumeSchedule(created.schedule_id);
      await client.resumeTopic("demo");
      resumedTopic = true;
      await h.receiver.waitFor((all) => ours(all).length >= 1);
      await client.deleteSchedule(created.schedule_id);
      const tasks = await settled(group);

      // Assess: made before the pause (due then, held): cancelled, never called; made after the resume: delivered
      const old = tasks.filter((t) => Date.parse(t.due_at) < resumedAtMs);
      // Due before the pause answered (held, not cancelled by it as made ahead): what deliver's check cancels.
      expect(old.filter((t) => Date.parse(t.due_at) < pausedAtMs).length).toBeGreaterThanOrEqual(2);
      expect(old.every((t) => t.status === "cancelled" && t.attempts === 0)).toBe(true);
      const called = new Set(ours(h.receiver.received).map((c) => c.headers["webhook-id"]));
      for (const t of old) expect(called.has(t.task_id)).toBe(false);
      const delivered = tasks.filter((t) => t.status === "delivered");
      expect(delivered.length).toBeGreaterThanOrEqual(1);
      expect(delivered.every((t) => Date.parse(t.due_at) > resumedAtMs)).toBe(true);
      expect(called).toEqual(new Set(delivered.map((t) => t.task_id)));
    } finally {
      if (!resumedTopic) await client.resumeTopic("demo");
    }
  });
});
