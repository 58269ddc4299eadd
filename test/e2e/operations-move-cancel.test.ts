import { randomUUID } from "node:crypto";
import { PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientRefusal } from "../support/refusal.js";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * Reschedule, run now and group cancel (issue 11) through the local cloud, with the typed client: real HTTP to
 * the API functions the local cloud derives from the stack, real timers, real callbacks on loopback.
 */
let h: Harness;
let client: PunctualClient;

beforeAll(async () => {
  h = await startHarness();
  client = new PunctualClient({ apiUrl: h.cloud.apiUrl });
});

afterAll(async () => {
  await h?.stop();
});

const orderId = () => `order-${randomUUID()}`;

function addLater(group: string, path: string, delaySeconds = 600) {
  return client.addTask({
    topic: "demo",
    delay_seconds: delaySeconds,
    content: { order_id: group, n: randomUUID() },
    callback: { url: `${h.receiver.url}/ok/${path}` },
  });
}

describe("operations: reschedule, run now, group cancel", () => {
  it("reschedules a task: the old id reads rescheduled → the new one, delivered at its new time, not before", async () => {
    // Prepare
    const added = await addLater(orderId(), "reschedule");
    const newDueMs = Math.ceil(Date.now() / 1000) * 1000 + 3_000;

    // Act
    const moved = await client.rescheduleTask(added.task_id, { due_at: new Date(newDueMs).toISOString() });
    const old = await client.getTask(added.task_id);
    await h.waitForStatus(moved.task_id, ["delivered"]);
    const delivered = await client.getTask(moved.task_id);

    // Assess
    expect(moved.task_id).not.toBe(added.task_id);
    expect(moved).toMatchObject({
      status: "scheduled",
      due_at: new Date(newDueMs).toISOString(),
      rescheduled_from: added.task_id,
    });
    expect(old).toMatchObject({ status: "rescheduled", rescheduled_to: moved.task_id });
    const callbacks = h.receiver.forTask(moved.task_id);
    expect(callbacks).toHaveLength(1);
    expect(callbacks[0]?.receivedAtMs).toBeGreaterThanOrEqual(newDueMs);
    expect(h.receiver.forTask(added.task_id)).toHaveLength(0);
    expect(delivered.accepted_at).toBe(old.accepted_at);
    expect(delivered.lateness_ms).toBeGreaterThanOrEqual(0);
  });

  it("a task already waiting in its (paused) topic's FIFO queue: cancelled is never delivered, rescheduled delivers only its new id, once", async () => {
    // Prepare: the topic paused, two tasks of one group handed to its FIFO queue and held there.
    const group = orderId();
    await client.pauseTopic("demo");
    try {
      const before = await client.getTopic("demo");
      const held = before.backlog.waiting + before.backlog.in_flight;
      const cancelMe = await addLater(group, "held-cancel", 0);
      const moveMe = await addLater(group, "held-move", 0);
      await h.waitForBacklog("demo", held + 2);

      // Act
      const cancelled = await client.cancelTask(cancelMe.task_id);
      const moved = await client.rescheduleTask(moveMe.task_id, { delay_seconds: 1 });
      await client.resumeTopic("demo");
      await h.waitForStatus(moved.task_id, ["delivered"]);

      // Assess
      expect(cancelled).toMatchObject({ status: "cancelled" });
      expect(moved).toMatchObject({ status: "scheduled", rescheduled_from: moveMe.task_id });
      expect(await client.getTask(moveMe.task_id)).toMatchObject({ status: "rescheduled", attempts: 0 });
      expect(await client.getTask(cancelMe.task_id)).toMatchObject({ status: "cancelled", attempts: 0 });
      expect(h.receiver.forTask(moved.task_id)).toHaveLength(1);
      expect(h.receiver.forTask(moveMe.task_id)).toHaveLength(0);
      expect(h.receiver.forTask(cancelMe.task_id)).toHaveLength(0);
    } finally {
      await client.resumeTopic("demo");
    }
  });

  it("answers a repeat of the same reschedule with the moved task, and another target with 409", async () => {
    const added = await addLater(orderId(), "reschedule-repeat");
    const due = new Date(Math.ceil(Date.now() / 1000) * 1000 + 900_000).toISOString();

    const first = await client.rescheduleTask(added.task_id, { due_at: due });
    const again = await client.rescheduleTask(added.task_id, { due_at: due });
    const elsewhere = await clientRefusal(client.rescheduleTask(added.task_id, { delay_seconds: 30 }));

    expect(again.task_id).toBe(first.task_id);
    expect(elsewhere).toMatchObject({
      status: 409,
      code: "conflict",
      details: { task_status: "rescheduled", rescheduled_to: first.task_id },
    });
    await client.cancelTask(first.task_id);
  });

  it("runs a task now: delivered promptly under its new id", async () => {
    const added = await addLater(orderId(), "run-now", 3_600);

    const ran = await client.runTask(added.task_id);
    await h.waitForStatus(ran.task_id, ["delivered"]);

    expect(ran.rescheduled_from).toBe(added.task_id);
    expect(h.receiver.forTask(ran.task_id)).toHaveLength(1);
    expect(await client.getTask(added.task_id)).toMatchObject({
      status: "rescheduled",
      rescheduled_to: ran.task_id,
    });
  });

  it("refuses to reschedule a delivered task (409), bad timing (400) and an unknown task (404)", async () => {
    const added = await addLater(orderId(), "reschedule-delivered", 0);
    await h.waitForStatus(added.task_id, ["delivered"]);
    const pending = await addLater(orderId(), "reschedule-invalid");

    const delivered = await clientRefusal(client.rescheduleTask(added.task_id, { delay_seconds: 60 }));
    const both = await clientRefusal(
      client.rescheduleTask(pending.task_id, { delay_seconds: 60, timing_moment: 1 }),
    );
    const tooFar = await clientRefusal(client.rescheduleTask(pending.task_id, { delay_seconds: 10 ** 9 }));
    const unknown = await clientRefusal(client.runTask(`demo._.zzzz.01JD3AAAAAAAAAAAAAAAAAAAAA`));

    expect(delivered).toMatchObject({ status: 409, details: { task_status: "delivered" } });
    expect(both).toMatchObject({ status: 400, code: "validation_failed" });
    expect(tooFar).toMatchObject({ status: 400, issues: [{ path: "delay_seconds" }] });
    expect(unknown).toMatchObject({ status: 404, code: "not_found" });
    expect(await client.getTask(pending.task_id)).toMatchObject({ status: "scheduled" });
    await client.cancelTask(pending.task_id);
  });

  it("cancels a whole group: none of it delivered, the answer counts right", async () => {
    // Prepare: three scheduled tasks of one group (one far enough to ride a schedule), one of another group.
    const group = orderId();
    const tasks = [
      await addLater(group, "group"),
      await addLater(group, "group"),
      await addLater(group, "group", 3_600),
    ];
    const other = await addLater(orderId(), "group-other");

    // Act
    const answer = await client.cancelGroup("demo", group);
    const again = await client.cancelGroup("demo", group);
    const unknownTopic = await clientRefusal(client.cancelGroup("nope", group));

    // Assess
    expect(answer).toMatchObject({ cancelled: 3, not_cancelled: [], more: false, next_cursor: null });
    expect(again).toMatchObject({ cancelled: 0, not_cancelled: [] });
    for (const task of tasks)
      expect(await client.getTask(task.task_id)).toMatchObject({ status: "cancelled" });
    expect(await client.getTask(other.task_id)).toMatchObject({ status: "scheduled" });
    expect(unknownTopic).toMatchObject({ status: 404, code: "not_found" });
    await client.cancelTask(other.task_id);
  });

  it("cancels the groups named . and .. through the client (a URL parser would normalize them out of a path)", async () => {
    // Prepare
    const dot = await addLater(".", "group-dot");
    const dotDot = await addLater("..", "group-dot-dot");
    const other = await addLater(orderId(), "group-dot-other");

    // Act
    const first = await client.cancelGroup("demo", ".");
    const second = await client.cancelGroup("demo", "..");

    // Assess
    expect(first).toMatchObject({ cancelled: 1, not_cancelled: [], more: false });
    expect(second).toMatchObject({ cancelled: 1, not_cancelled: [], more: false });
    expect(await client.getTask(dot.task_id)).toMatchObject({ status: "cancelled" });
    expect(await client.getTask(dotDot.task_id)).toMatchObject({ status: "cancelled" });
    expect(await client.getTask(other.task_id)).toMatchObject({ status: "scheduled" });
    await client.cancelTask(other.task_id);
  });

  it("pages a group cancel with a cursor", async () => {
    const group = orderId();
    for (let i = 0; i < 3; i++) await addLater(group, "group-page");

    const first = await client.cancelGroup("demo", group, { limit: 2 });
    const second = await client.cancelGroup("demo", group, { limit: 2, cursor: first.next_cursor ?? "" });

    expect(first).toMatchObject({ cancelled: 2, more: true });
    expect(second).toMatchObject({ cancelled: 1, more: false, next_cursor: null });
  });
});
