import { describe, expect, it } from "vitest";
import { taskMessageBody } from "#shared/domain/messages.js";
import { retentionExpiry, type TaskRecord } from "#shared/domain/task.js";
import { sweep } from "#shared/services/sweeper/index.js";
import { makeTask, T0 } from "../../../support/factories.js";
import { FakeDeadLetterSource, FakePointerQueue } from "../../../support/fakes/dead-letter-source.js";
import {
  DLQ_URL,
  SCHEDULE_DLQ_URL,
  type Sim,
  simulate,
  TIMER_DLQ_URL,
} from "../../../support/pipeline-sim.js";

/**
 * Each pass of a sweeper run gets a bounded share of the invocation, so none is starved for as long as another
 * has more work than the run has time: many stalled groups must not skip the topic-DLQ pass run after run.
 */

const MINUTE = 60_000;
/** The sweeper's Lambda timeout (cdk/lib/sizing.ts, SWEEPER_TIMEOUT_SECONDS). */
const TIMEOUT_MS = 50_000;

/** `count` stalled groups of one task each (handed to the FIFO queue long ago, their messages gone). */
async function stalledGroups(sim: Sim, count: number): Promise<TaskRecord[]> {
  const tasks = Array.from({ length: count }, (_, i) =>
    makeTask({ group: `stalled-${i}`, dueAtMs: T0 + i, acceptedAtMs: T0, status: "queued", queuedAtMs: T0 }),
  );
  for (const t of tasks) await sim.put(t);
  return tasks;
}

/** A task dead-lettered, then replayed: its topic-DLQ message is stale and the pass deletes it. */
async function replayedDeadLetter(sim: Sim): Promise<string> {
  const task = makeTask({ group: "replayed", dueAtMs: T0, acceptedAtMs: T0 });
  await sim.store.putNew(task);
  await sim.store.startAttempt(task.taskId, T0);
  await sim.store.markFailed(task.taskId, { error: "HTTP 500", atMs: T0, expiresAt: retentionExpiry(T0, 1) });
  await sim.store.markReplayed(task.taskId, T0 + 1);
  return task.taskId;
}

/** A run on the sim's clock, its topic DLQ included, each repair's send taking `sendMs`. */
function timedRun(sim: Sim, topicDlq: FakePointerQueue, sendMs: number) {
  const send = sim.fifo.sendInOrder.bind(sim.fifo);
  sim.fifo.sendInOrder = async (queueUrl, groupId, taskIds) => {
    sim.advance(sendMs);
    return send(queueUrl, groupId, taskIds);
  };
  const now = () => sim.clock.now;
  const queues = { [TIMER_DLQ_URL]: sim.timerDlq, [SCHEDULE_DLQ_URL]: sim.scheduleDlq, [DLQ_URL]: topicDlq };
  return async () => {
    const start = sim.clock.now;
    const report = await sweep({
      ...sim.sweeperDeps,
      deadLetters: {
        source: new FakeDeadLetterSource(queues, now),
        queueUrls: [SCHEDULE_DLQ_URL, TIMER_DLQ_URL],
      },
      remainingMs: () => TIMEOUT_MS - (sim.clock.now - start),
    });
    return { report, tookMs: sim.clock.now - start };
  };
}

describe("time shares of a sweeper run", () => {
  it("many stalled groups do not keep the topic-DLQ pass from running, and the run still ends before its timeout", async () => {
    // Prepare: more stalled groups than one run has time to repair (half a second each), and a stale message in
    // the topic DLQ
    const sim = simulate();
    await stalledGroups(sim, 300);
    const replayed = await replayedDeadLetter(sim);
    const topicDlq = new FakePointerQueue();
    topicDlq.put(taskMessageBody(replayed));
    sim.advance(sim.stalledAfterMs + MINUTE);
    const run = timedRun(sim, topicDlq, 500);

    // Act
    const { report, tookMs } = await run();

    // Assess: the groups had their share and so had the topic-DLQ pass
    expect(report.requeued).toBeGreaterThan(0);
    expect(report.deferred).toBe(true);
    expect(topicDlq.messages).toEqual([]);
    expect(tookMs).toBeLessThan(TIMEOUT_MS - 5_000);
  });

  it("a huge timer DLQ whose reads are slow keeps to its share: the group the index found is still repaired", async () => {
    // Prepare: 2,000 pointers to due tasks outside the index, each read taking 50 ms of the run, and a lost group
    // in the index
    const sim = simulate();
    for (let i = 0; i < 2_000; i++) {
      const t = makeTask({ group: `outage-${i}`, dueAtMs: T0, acceptedAtMs: T0 });
      await sim.store.putNew(t, { sweepIndex: false });
      sim.timerDlq.put(taskMessageBody(t.taskId));
    }
    const lost = makeTask({ group: "indexed", dueAtMs: T0, acceptedAtMs: T0 });
    await sim.put(lost);
    sim.advance(sim.graceMs + MINUTE);
    const get = sim.store.get.bind(sim.store);
    sim.store.get = async (taskId) => {
      sim.advance(50);
      return get(taskId);
    };
    const run = timedRun(sim, new FakePointerQueue(), 0);

    // Act
    const { report, tookMs } = await run();

    // Assess: the pointer reads stopped at their share; the groups had the rest
    expect(sim.status(lost.taskId)).toBe("queued");
    expect(report.forwarded).toBeGreaterThan(1);
    expect(report.deferred).toBe(true);
    expect(tookMs).toBeLessThan(TIMEOUT_MS - 5_000);
  });
});
