import { randomUUID } from "node:crypto";
import { PunctualClient } from "punctual/client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * Operator workflows as sequences, through the local cloud (real emulators, real HTTP receiver): each operation is
 * covered on its own elsewhere; these check what a user expects of their interleavings — order per group, nothing
 * early, nothing delivered after a cancel answered, nothing lost, and GET telling what really happened.
 */
let h: Harness;
let client: PunctualClient;

beforeAll(async () => {
  h = await startHarness();
  client = new PunctualClient({ apiUrl: h.cloud.apiUrl });
});

afterEach(async () => {
  await client.resumeTopic("demo");
});

afterAll(async () => {
  await h?.stop();
});

const orderId = () => `order-${randomUUID()}`;

function add(group: string, path: string, delaySeconds = 0, n = 0) {
  return client.addTask({
    topic: "demo",
    delay_seconds: delaySeconds,
    content: { order_id: group, n },
    callback: { url: `${h.receiver.url}/${path}` },
  });
}

/** Waiting + in-flight messages of the demo topic's FIFO queue. */
async function backlog(): Promise<number> {
  const topic = await client.getTopic("demo");
  return topic.backlog.waiting + topic.backlog.in_flight;
}

/** Polls until the demo topic's FIFO queue is drained: every message held there was received and settled. */
async function waitForDrained(): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await backlog()) > 0) {
    if (Date.now() > deadline) throw new Error(`the demo topic's queue never drained: ${await backlog()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("operator sequences", () => {
  it("pause → cancel the group held in the queue → resume: none of it delivered, the other group is", async () => {
    // Prepare: the topic paused, three tasks of one group and one of another handed to its FIFO queue and held.
    await client.pauseTopic("demo");
    const held = await backlog();
    const group = orderId();
    const tasks: { task_id: string }[] = [];
    for (let n = 0; n < 3; n++) tasks.push(await add(group, "ok/seq-pause-cancel", 0, n));
    const other = await add(orderId(), "ok/seq-pause-cancel-other");
    await h.waitForBacklog("demo", held + 4);

    // Act
    const answer = await client.cancelGroup("demo", group);
    await client.resumeTopic("demo");
    await h.waitForStatus(other.task_id, ["delivered"]);
    await waitForDrained();

    // Assess
    expect(answer).toMatchObject({ cancelled: 3, not_cancelled: [], more: false });
    for (const task of tasks) {
      expect(await client.getTask(task.task_id)).toMatchObject({ status: "cancelled", attempts: 0 });
      expect(h.receiver.forTask(task.task_id)).toHaveLength(0);
    }
    expect(h.receiver.forTask(other.task_id)).toHaveLength(1);
  });

  it("run now on a task of a paused topic: held, not delivered while paused, then delivered once after resume", async () => {
    // Prepare
    const added = await add(orderId(), "ok/seq-run-paused", 600);
    await client.pauseTopic("demo");
    const held = await backlog();

    // Act
    const ran = await client.runTask(added.task_id);
    await h.waitForBacklog("demo", held + 1);
    const whilePaused = await client.getTask(ran.task_id);
    const callsWhilePaused = h.receiver.forTask(ran.task_id).length;
    const resumedAtMs = Date.now();
    await client.resumeTopic("demo");
    await h.waitForStatus(ran.task_id, ["delivered"]);

    // Assess
    expect(whilePaused).toMatchObject({ status: "scheduled", attempts: 0 });
    expect(callsWhilePaused).toBe(0);
    expect(h.receiver.forTask(ran.task_id)).toHaveLength(1);
    expect(h.receiver.forTask(ran.task_id)[0]?.receivedAtMs).toBeGreaterThanOrEqual(resumedAtMs);
    expect(h.receiver.forTask(added.task_id)).toHaveLength(0);
    expect(await client.getTask(added.task_id)).toMatchObject({
      status: "rescheduled",
      rescheduled_to: ran.task_id,
    });
  });

  it("replay-topic while the topic is paused, then resume: held while paused, then delivered once each in group order", async () => {
    // Prepare: two dead-lettered tasks of one group, their receiver fixed, the topic paused.
    const receiverName = `r-${randomUUID()}`;
    const group = orderId();
    const first = await add(group, `until-fixed/${receiverName}/seq`, 0, 1);
    const second = await add(group, `until-fixed/${receiverName}/seq`, 0, 2);
    await h.waitForStatus(first.task_id, ["failed"]);
    await h.waitForStatus(second.task_id, ["failed"]);
    h.receiver.fix(receiverName);
    await client.pauseTopic("demo");
    const held = await backlog();

    // Act
    const replayed = await client.replayTopic("demo", { task_ids: [first.task_id, second.task_id] });
    await h.waitForBacklog("demo", held + 2);
    const whilePaused = [await client.getTask(first.task_id), await client.getTask(second.task_id)];
    const okWhilePaused = h.receiver.received.filter(
      (r) => r.status === 200 && [first.task_id, second.task_id].includes(r.json.task_id),
    ).length;
    await client.resumeTopic("demo");
    await h.waitForStatus(second.task_id, ["delivered"]);
    await h.waitForStatus(first.task_id, ["delivered"]);

    // Assess
    expect(replayed).toMatchObject({ matched: 2, replayed: 2, failed: [] });
    for (const task of whilePaused) expect(task).toMatchObject({ status: "queued", replays: 1, attempts: 0 });
    expect(okWhilePaused).toBe(0);
    const delivered = (id: string) => h.receiver.forTask(id).filter((r) => r.status === 200);
    expect(delivered(first.task_id)).toHaveLength(1);
    expect(delivered(second.task_id)).toHaveLength(1);
    expect(delivered(first.task_id)[0]?.receivedAtMs).toBeLessThanOrEqual(
      delivered(second.task_id)[0]?.receivedAtMs ?? 0,
    );
  });

  it("cancel-group racing the group's firing: every task ends cancelled (never called) or delivered (once), and the answer tells which", async () => {
    // Prepare: six tasks of one group due in a second.
    const group = orderId();
    const tasks: { task_id: string }[] = [];
    for (let n = 0; n < 6; n++) tasks.push(await add(group, "ok/seq-race", 1, n));
    await h.receiver.waitFor((all) => all.some((r) => r.json.task_id === tasks[0]?.task_id));

    // Act: the group cancelled just as its first task is delivered.
    const answer = await client.cancelGroup("demo", group);
    const answeredAtMs = Date.now();
    await waitForDrained();

    // Assess
    const views = await Promise.all(tasks.map((t) => client.getTask(t.task_id)));
    const cancelled = views.filter((v) => v.status === "cancelled");
    expect(answer.cancelled).toBe(cancelled.length);
    // Not cancelled, or its callback in flight (cancel requested: it ends after that attempt, here delivered).
    const listed = new Set(
      [...answer.not_cancelled, ...(answer.cancel_requested ?? [])].map((n) => n.task_id),
    );
    for (const view of views) {
      const calls = h.receiver.forTask(view.task_id);
      if (view.status === "cancelled") expect(calls).toHaveLength(0);
      else {
        expect(view.status).toBe("delivered");
        expect(calls).toHaveLength(1);
        // Delivered after the cancel answered: the answer must have said it was not cancelled.
        if ((calls[0]?.receivedAtMs ?? 0) > answeredAtMs) expect(listed.has(view.task_id)).toBe(true);
      }
    }
  });

  it("reschedules a task while its group's head retries, then replays that head: order per group, GET truthful", async () => {
    // Prepare: the head fails until fixed (retried, then dead-lettered); a later task of its group due in 10 min.
    const receiverName = `r-${randomUUID()}`;
    const group = orderId();
    const head = await add(group, `until-fixed/${receiverName}/seq-head`, 0, 1);
    const later = await add(group, "ok/seq-later", 600, 2);
    await h.receiver.waitFor((all) => all.some((r) => r.json.task_id === head.task_id));

    // Act: the later task moved to now while the head is retrying; the head dead-letters, then is replayed.
    const moved = await client.rescheduleTask(later.task_id, { delay_seconds: 0 });
    await h.waitForStatus(head.task_id, ["failed"]);
    await h.waitForStatus(moved.task_id, ["delivered"]);
    h.receiver.fix(receiverName);
    await client.replayTask(head.task_id);
    await h.waitForStatus(head.task_id, ["delivered"]);

    // Assess: the moved task waited for the head's last failure; the head delivered on its replay.
    const headCalls = h.receiver.forTask(head.task_id);
    expect(headCalls.map((c) => c.status)).toEqual([500, 500, 500, 200]);
    const movedCalls = h.receiver.forTask(moved.task_id);
    expect(movedCalls).toHaveLength(1);
    expect(movedCalls[0]?.receivedAtMs).toBeGreaterThanOrEqual(headCalls[2]?.receivedAtMs ?? Infinity);
    expect(h.receiver.forTask(later.task_id)).toHaveLength(0);
    expect(await client.getTask(later.task_id)).toMatchObject({
      status: "rescheduled",
      rescheduled_to: moved.task_id,
    });
    expect(await client.getTask(head.task_id)).toMatchObject({
      status: "delivered",
      replays: 1,
      attempts: 1,
    });
  });
  it("followers started with their failing head's batch: one moved later meanwhile; each delivered once, in order, none early", async () => {
    // Prepare: a head failing until fixed and three followers due with it (one batch: started up front).
    const receiverName = `r-${randomUUID()}`;
    const group = orderId();
    const head = await add(group, `until-fixed/${receiverName}/seq-batch-head`, 0, 0);
    const followers = [];
    for (let n = 1; n <= 3; n++) followers.push(await add(group, "ok/seq-batch-follower", 0, n));
    const [f1, f2, f3] = followers.map((f) => f.task_id) as [string, string, string];
    await h.receiver.waitFor((all) => all.filter((r) => r.json.task_id === head.task_id).length >= 2);

    // Act: while the head retries, the last follower moved 3 s on (a move refused while its start is up front
    // writes again once that start is given back: docs/API.md).
    const moved = await client.rescheduleTask(f3, { delay_seconds: 3 });
    await h.waitForStatus(head.task_id, ["failed"]);
    for (const id of [f1, f2, moved.task_id]) await h.waitForStatus(id, ["delivered"]);

    // Assess
    const headCalls = h.receiver.forTask(head.task_id);
    expect(headCalls).toHaveLength(3);
    const calls = [f1, f2, moved.task_id].map((id) => h.receiver.forTask(id));
    for (const c of calls) expect(c).toHaveLength(1);
    expect(h.receiver.forTask(f3)).toHaveLength(0);
    const at = calls.map((c) => c[0]?.receivedAtMs ?? 0);
    expect(at[0]).toBeGreaterThanOrEqual(headCalls[2]?.receivedAtMs ?? Infinity);
    expect(at[0]).toBeLessThanOrEqual(at[1] as number);
    expect(at[2]).toBeGreaterThanOrEqual(Date.parse(moved.due_at));
    for (const id of [f1, f2, moved.task_id])
      expect(await client.getTask(id)).toMatchObject({ status: "delivered", attempts: 1 });
  });
  it("cancel-group while the group's head retries against a hanging receiver: the followers, never called, are cancelled, and the head ends cancelled after its attempt in flight", async () => {
    // Prepare: a head whose receiver hangs (each attempt times out) and two followers due with it.
    const receiverName = `r-${randomUUID()}`;
    const group = orderId();
    const head = await add(group, `held/${receiverName}/seq-hanging-head`, 0, 0);
    const followers = [
      await add(group, "ok/seq-hanging-follower", 0, 1),
      await add(group, "ok/seq-hanging-follower", 0, 2),
    ];
    // Its second attempt under way: the group is known to fail, the followers wait behind it.
    await h.receiver.waitFor((all) => all.filter((r) => r.json.task_id === head.task_id).length >= 2);

    // Act
    const answer = await client.cancelGroup("demo", group);
    await h.waitForStatus(head.task_id, ["cancelled"], 40_000);
    h.receiver.fix(receiverName);
    await waitForDrained();

    // Assess: the head's attempt in flight timed out, and that ended it (its cancel requested): no third call
    expect(answer).toMatchObject({
      cancelled: 2,
      not_cancelled: [],
      cancel_requested: [{ task_id: head.task_id }],
    });
    expect(h.receiver.forTask(head.task_id)).toHaveLength(2);
    for (const follower of followers) {
      expect(await client.getTask(follower.task_id)).toMatchObject({ status: "cancelled", attempts: 0 });
      expect(h.receiver.forTask(follower.task_id)).toHaveLength(0);
    }
  });
});
