import { describe, expect, it } from "vitest";
import { RECENT_SEND_WINDOW_MS, RecentSendsTopicQueue } from "#shared/adapters/recent-sends.js";
import { FIFO_DEDUPLICATION_WINDOW_MS } from "#shared/domain/sweep.js";
import { ManualClock } from "../../support/clock.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";

const Q1 = "https://sqs.local/000000000000/a.fifo";
const Q2 = "https://sqs.local/000000000000/b.fifo";

function setup() {
  const clock = new ManualClock(1_000_000);
  const fifo = new FakeTopicQueue(clock.now);
  const queue = new RecentSendsTopicQueue(fifo, clock.now);
  return { clock, fifo, queue };
}

describe("RecentSendsTopicQueue", () => {
  it("remembers for less than FIFO's deduplication interval", () => {
    expect(RECENT_SEND_WINDOW_MS).toBeLessThan(FIFO_DEDUPLICATION_WINDOW_MS);
  });

  it("skips ids the same queue accepted within the window, reports them as sent, and sends the rest", async () => {
    // Prepare
    const { fifo, queue } = setup();
    await queue.sendGroupsInOrder(Q1, [{ groupId: "g", taskIds: ["a", "b"] }]);

    // Act
    const results = await queue.sendGroupsInOrder(Q1, [
      { groupId: "g", taskIds: ["a", "b", "c"] },
      { groupId: "h", taskIds: ["a"] },
    ]);

    // Assess: "a" under another group id is still skipped (deduplication is per queue, not per group)
    expect(fifo.calls.map((c) => [c.groupId, c.taskIds])).toEqual([
      ["g", ["a", "b"]],
      ["g", ["c"]],
    ]);
    expect(results.get("g")).toEqual({ sent: ["a", "b", "c"] });
    expect(results.get("h")).toEqual({ sent: ["a"] });
    expect(fifo.idsIn(Q1)).toEqual(["a", "b", "c"]);
  });

  it("passes the occurrences' schedule ids on with what it sends", async () => {
    const { fifo, queue } = setup();
    await queue.sendGroupsInOrder(Q1, [{ groupId: "g", taskIds: ["a"] }]);

    await queue.sendGroupsInOrder(Q1, [
      { groupId: "g", taskIds: ["a", "b", "c"], scheduleIds: new Map([["b", "s-1"]]) },
    ]);

    expect(fifo.received.get(Q1)?.map((m) => [m.taskId, m.scheduleId])).toEqual([
      ["a", undefined],
      ["b", "s-1"],
      ["c", undefined],
    ]);
  });

  it("sends again once the window has passed, and to another queue at any time", async () => {
    // Prepare
    const { clock, fifo, queue } = setup();
    await queue.sendGroupsInOrder(Q1, [{ groupId: "g", taskIds: ["a"] }]);

    // Act
    await queue.sendGroupsInOrder(Q2, [{ groupId: "g", taskIds: ["a"] }]);
    clock.nowMs += RECENT_SEND_WINDOW_MS;
    await queue.sendGroupsInOrder(Q1, [{ groupId: "g", taskIds: ["a"] }]);

    // Assess
    expect(fifo.calls.map((c) => [c.queueUrl, c.taskIds])).toEqual([
      [Q1, ["a"]],
      [Q2, ["a"]],
      [Q1, ["a"]],
    ]);
  });

  it("never remembers what SQS did not accept", async () => {
    // Prepare: the first send fails from its second entry on
    const { fifo, queue } = setup();
    let fail = true;
    fifo.failNext = () => (fail ? { failAt: 1, error: "InternalError" } : undefined);
    const first = await queue.sendGroupsInOrder(Q1, [{ groupId: "g", taskIds: ["a", "b", "c"] }]);

    // Act
    fail = false;
    const retry = await queue.sendGroupsInOrder(Q1, [{ groupId: "g", taskIds: ["a", "b", "c"] }]);

    // Assess
    expect(first.get("g")).toEqual({ sent: ["a"], failure: { taskIds: ["b", "c"], error: "InternalError" } });
    expect(retry.get("g")).toEqual({ sent: ["a", "b", "c"] });
    expect(fifo.calls.map((c) => c.taskIds)).toEqual([
      ["a", "b", "c"],
      ["b", "c"],
    ]);
    expect(fifo.idsIn(Q1)).toEqual(["a", "b", "c"]);
  });

  it("makes no call when everything was sent recently", async () => {
    const { fifo, queue } = setup();
    await queue.sendGroupsInOrder(Q1, [{ groupId: "g", taskIds: ["a"] }]);
    const again = await queue.sendGroupsInOrder(Q1, [{ groupId: "g", taskIds: ["a"] }]);
    expect(again.get("g")).toEqual({ sent: ["a"] });
    expect(fifo.groupCalls).toHaveLength(1);
  });
});
