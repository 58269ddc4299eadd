import { describe, expect, it } from "vitest";
import { cancelTask } from "#shared/services/cancel-task.js";
import { replayTask } from "#shared/services/replay-task.js";
import { runTask } from "#shared/services/reschedule-task.js";
import { QUEUE_URL, type Sim, simulate } from "../../support/pipeline-sim.js";

/**
 * Since issue 13.2 a task stays `scheduled` while its message waits in the topic's FIFO queue (the relay writes
 * nothing), and the relay remembers what its container sent in the last 4 minutes. These specs meet that window
 * with every operation that reads or changes a task's status: the real services, the relay's memory on, a
 * simulated clock, and deliveries held (as by a pause or a backlog) until each spec lets them go.
 */
const moveDeps = (sim: Sim) => ({
  store: sim.store,
  timerQueue: sim.timer,
  scheduler: sim.scheduler,
  config: sim.config,
  now: () => sim.clock.now,
});

/** Two tasks of one group handed to the FIFO queue and held there. */
async function twoWaiting() {
  const sim = simulate({ relayMemory: true });
  const first = await sim.add({ order_id: "w-1", n: 1 }, { delay_seconds: 10 });
  const second = await sim.add({ order_id: "w-1", n: 2 }, { delay_seconds: 20 });
  sim.advance(20_000);
  await sim.runRelay();
  return { sim, first, second };
}

describe("a task whose message already waits in its FIFO queue", () => {
  it("is still scheduled and waiting there, with no write by the relay", async () => {
    const { sim, first, second } = await twoWaiting();

    expect(sim.fifo.idsIn(QUEUE_URL)).toEqual([first, second]);
    expect(sim.status(first)).toBe("scheduled");
    expect(sim.store.tasks.get(first)?.queuedAtMs).toBeUndefined();
  });

  it("cancelled (200), is never delivered, though its message and a repeated timer message both reach deliver", async () => {
    // Prepare
    const { sim, first, second } = await twoWaiting();

    // Act: cancel, then a copy of its timer message (standard queues deliver at least once) and deliver.
    const cancelled = await cancelTask({ ...moveDeps(sim) }, first);
    await sim.timer.arm(first, 0);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess
    expect(cancelled).toMatchObject({ status: "cancelled" });
    expect(sim.delivered()).toEqual([second]);
    expect(sim.status(first)).toBe("cancelled");
  });

  it("rescheduled later: its old message is refused, the new id is delivered once at its new time, after the group's next task", async () => {
    // Prepare
    const { sim, first, second } = await twoWaiting();

    // Act
    const moved = await sim.reschedule(first, { delay_seconds: 60 });
    await sim.runDeliver(); // the old message, then the group's second task
    const beforeNewTime = sim.delivered();
    sim.advance(60_000);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess
    expect(beforeNewTime).toEqual([second]);
    expect(sim.delivered()).toEqual([second, moved.task_id]);
    expect(sim.status(first)).toBe("rescheduled");
    expect(sim.store.tasks.get(moved.task_id)).toMatchObject({ status: "delivered", latenessMs: 0 });
  });

  it("run now: it is already due, so nothing moves and it is delivered once, in its place", async () => {
    // Prepare
    const { sim, first, second } = await twoWaiting();

    // Act
    const ran = await runTask(moveDeps(sim), first);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess
    expect(ran.task_id).toBe(first);
    expect(sim.delivered()).toEqual([first, second]);
  });

  const isoOf = (ms: number | undefined) => new Date(ms ?? Number.NaN).toISOString();
  it.each<[string, (sim: Sim, id: string) => Record<string, unknown>]>([
    ["its own due_at", (sim, id) => ({ due_at: isoOf(sim.store.tasks.get(id)?.dueAtMs) })],
    ["delay_seconds 0", () => ({ delay_seconds: 0 })],
    ["a due_at long past", () => ({ due_at: "2000-01-01T00:00:00Z" })],
  ])(
    "a PATCH to %s (now, as past times are): it is already due, so nothing moves and it is delivered once, in its place",
    async (_name, body) => {
      // Prepare
      const { sim, first, second } = await twoWaiting();

      // Act
      const patched = await sim.reschedule(first, body(sim, first));
      await sim.runRelay();
      await sim.runDeliver();

      // Assess: not moved behind the group's next task (its new due time, now, would be after that task's)
      expect(patched.task_id).toBe(first);
      expect(sim.status(first)).toBe("delivered");
      expect(sim.delivered()).toEqual([first, second]);
    },
  );

  it("a task added behind it within 4 minutes is sent behind it (the memory skips only the copy), in group order", async () => {
    // Prepare
    const { sim, first, second } = await twoWaiting();
    const third = await sim.add({ order_id: "w-1", n: 3 }, { delay_seconds: 30 });

    // Act
    sim.advance(30_000);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess: the third's sweep found the first two still `scheduled`; they were not sent again.
    expect(sim.fifo.enqueued.map((e) => e.taskId)).toEqual([first, second, third]);
    expect(sim.fifo.groupCalls.at(-1)?.groups.map((g) => g.taskIds)).toEqual([[third]]);
    expect(sim.delivered()).toEqual([first, second, third]);
  });

  it("delivered, then replayed within 4 minutes of its first send: the replay is delivered again", async () => {
    // Prepare
    const { sim, first, second } = await twoWaiting();
    await sim.runDeliver();

    // Act: replay at once (its relay send was seconds ago), and a stray timer message for it.
    const replayed = await replayTask(
      { store: sim.store, topicQueue: sim.fifo, topicQueues: { demo: QUEUE_URL }, now: () => sim.clock.now },
      first,
    );
    await sim.timer.arm(first, 0);
    await sim.runRelay();
    await sim.runDeliver();

    // Assess
    expect(replayed).toMatchObject({ status: "queued", replays: 1 });
    expect(sim.delivered()).toEqual([first, second, first]);
    expect(sim.status(first)).toBe("delivered");
  });
});

/**
 * A task handed to the FIFO queue and held there (deliver not run: a pause or a backlog), in the sweep index; then
 * its grace passes and the sweeper runs.
 */
async function heldPastGrace() {
  const sim = simulate({ relayMemory: true, sweeper: { indexNearTermTasks: true } });
  const id = await sim.add({ order_id: "held-1" }, { delay_seconds: 10 });
  sim.advance(10_000);
  await sim.runRelay();
  sim.advance(sim.graceMs + 60_000);
  const report = await sim.sweep();
  return { sim, id, report };
}

describe("a task held in its FIFO queue past the sweeper's 2-minute grace, when it is in the sweep index", () => {
  // Scheduler-path tasks always are, near-term ones with `sweeper.indexNearTermTasks`. The sweeper cannot tell a
  // held `scheduled` task from one whose timer was lost: it forwards a copy and marks it `queued` (documented in
  // docs/RELIABILITY.md, "Pausing a topic"). Its first attempt has not started, so it can still be cancelled.
  it("gets a copy (dropped by FIFO deduplication) and a queued mark, and is delivered once", async () => {
    // Prepare
    const { sim, id, report } = await heldPastGrace();

    // Act: the queue is drained.
    const marked = sim.status(id);
    await sim.runDeliver();

    // Assess
    expect(report).toMatchObject({ forwarded: 1 });
    expect(marked).toBe("queued");
    expect(sim.fifo.enqueued.map((e) => e.taskId)).toEqual([id]);
    expect(sim.delivered()).toEqual([id]);
  });

  it("can still be cancelled once marked queued (200), and then neither it nor its copy is delivered", async () => {
    // Prepare
    const { sim, id, report } = await heldPastGrace();

    // Act: a cancel; then the queue is drained.
    const cancel = await cancelTask(moveDeps(sim), id).catch((e: unknown) => e);
    await sim.runDeliver();

    // Assess
    expect(report).toMatchObject({ forwarded: 1 });
    expect(sim.fifo.enqueued.map((e) => e.taskId)).toEqual([id]);
    expect(cancel).toMatchObject({ status: "cancelled" });
    expect(sim.delivered()).toEqual([]);
    expect(sim.status(id)).toBe("cancelled");
  });

  it.each<[string, (sim: Sim, id: string) => Promise<{ task_id: string }>]>([
    ["run now", (sim, id) => runTask(moveDeps(sim), id)],
    [
      "a PATCH to a due_at long past (now)",
      (sim, id) => sim.reschedule(id, { due_at: "2000-01-01T00:00:00Z" }),
    ],
  ])(
    "%s once marked queued: it is already due, so nothing moves (200, as before the mark) and it is delivered once",
    async (_name, act) => {
      // Prepare: a run answered 200 before the sweeper's mark; its answer was lost, so the client repeats it.
      const { sim, id } = await heldPastGrace();

      // Act
      const repeated = await act(sim, id).catch((e: unknown) => e);
      await sim.runRelay();
      await sim.runDeliver();

      // Assess
      expect(sim.fifo.enqueued.map((e) => e.taskId)).toEqual([id]);
      expect(repeated).toMatchObject({ task_id: id, status: "queued" });
      expect(sim.delivered()).toEqual([id]);
    },
  );
});
