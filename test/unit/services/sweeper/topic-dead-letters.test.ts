import { describe, expect, it } from "vitest";
import { parseTaskMessage, taskMessageBody } from "#shared/domain/messages.js";
import { sweepShardOf } from "#shared/domain/sweep.js";
import { retentionExpiry, type TaskRecord } from "#shared/domain/task.js";
import { reconcileTopicDeadLetters } from "#shared/services/sweeper/topic-dead-letters.js";
import {
  Counters,
  DEFAULT_SWEEP_LIMITS,
  type RunState,
  type SweeperDeps,
} from "#shared/services/sweeper/types.js";
import { makeTask, T0 } from "../../../support/factories.js";
import { FakeDeadLetterSource, FakePointerQueue } from "../../../support/fakes/dead-letter-source.js";
import { memoryLogger } from "../../../support/logger.js";
import { MemoryTaskStore } from "../../../support/memory-task-store.js";

const DLQ = "https://sqs.test/demo-dlq.fifo";

async function failed(store: MemoryTaskStore, group: string, topic = "demo") {
  const task = makeTask({ topic, group, dueAtMs: T0, acceptedAtMs: T0 });
  await store.putNew(task);
  await store.startAttempt(task.taskId, T0);
  await store.markFailed(task.taskId, { error: "HTTP 500", atMs: T0, expiresAt: retentionExpiry(T0, 1) });
  return task.taskId;
}

/** The sweeper's ports over one topic DLQ (`queue`) and the table. */
function sweeperOver(store: MemoryTaskStore, queue: FakePointerQueue): SweeperDeps {
  const source = new FakeDeadLetterSource({ [DLQ]: queue }, () => T0);
  return {
    store,
    deadLetters: { source, queueUrls: [] },
    topics: { demo: { dlqUrl: DLQ } },
    logger: memoryLogger(),
  } as unknown as SweeperDeps;
}

/**
 * A near-term task whose attempts ended in `errors` (one attempt each), its dead-lettering's DLQ send made and its
 * `failed` write never made (the function died between them); the pass over that one message, the topic's
 * `maxAttempts` 3.
 */
async function cutShort(group: string, errors: readonly string[], fields: Partial<TaskRecord> = {}) {
  const store = new MemoryTaskStore();
  const task = makeTask({ group, dueAtMs: T0, acceptedAtMs: T0, ...fields });
  await store.putNew(task, { sweepIndex: false });
  for (const [attempt, error] of errors.entries()) {
    await store.startAttempt(task.taskId, T0 + attempt);
    // As deliver records it: the error, and the attempt's entry in its log.
    const entry = { seq: attempt + 1, startedAtMs: T0 + attempt, durationMs: 1, error };
    await store.recordAttemptFailure(task.taskId, { error, atMs: T0 + attempt, attempt: entry });
  }
  const queue = new FakePointerQueue();
  queue.put(taskMessageBody(task.taskId), task.taskId);
  const deps = sweeperOver(store, queue);
  (deps.topics as Record<string, unknown>).demo = {
    dlqUrl: DLQ,
    config: { maxAttempts: 3, retentionDays: 1 },
  };
  const pass = async () => {
    const counters = new Counters();
    await reconcileTopicDeadLetters(deps, { now: T0, limits: DEFAULT_SWEEP_LIMITS, counters } as RunState);
    return counters;
  };
  return { store, task, queue, pass, deps };
}

describe("reconcileTopicDeadLetters", () => {
  it("deletes the messages of replayed (or gone) tasks, makes still-failed ones visible again, keeps unreadable ones", async () => {
    // Prepare
    const store = new MemoryTaskStore();
    const stillFailed = await failed(store, "a");
    const replayed = await failed(store, "b");
    await store.markReplayed(replayed, T0 + 1);
    const gone = makeTask({ group: "c", dueAtMs: T0, acceptedAtMs: T0 }).taskId;
    const queue = new FakePointerQueue();
    for (const id of [stillFailed, replayed, gone]) queue.put(taskMessageBody(id));
    queue.put("not a task message");
    const deps = sweeperOver(store, queue);
    const run = { now: T0, limits: DEFAULT_SWEEP_LIMITS, counters: new Counters() } as RunState;

    // Act
    await reconcileTopicDeadLetters(deps, run);

    // Assess
    expect(queue.messages.map((m) => m.body)).toEqual([taskMessageBody(stillFailed), "not a task message"]);
    expect(queue.messages.every((m) => m.visibleAtMs <= T0)).toBe(true);
    // Kept for an operator, who is told which message it is (the failed list cannot show it).
    const logged = (deps.logger as ReturnType<typeof memoryLogger>).entries.filter(
      (e) => e.level === "error",
    );
    expect(logged).toEqual([
      {
        level: "error",
        message: "unreadable message in a topic dead-letter queue; left for an operator",
        extra: { queueUrl: DLQ, messageId: queue.messages[1]?.messageId },
      },
    ]);
    expect(run.counters).toMatchObject({ pointersResolved: 2, failures: 0 });
  });

  it("deletes a still-failed task's message from an earlier life (dead-lettered, replayed, dead-lettered again before a sweep saw it unfinished); keeps the current one", async () => {
    const store = new MemoryTaskStore();
    const taskId = await failed(store, "a");
    await store.markReplayed(taskId, T0 + 1);
    await store.startAttempt(taskId, T0 + 2);
    await store.markFailed(taskId, {
      error: "HTTP 500",
      atMs: T0 + 3,
      expiresAt: retentionExpiry(T0 + 3, 1),
    });
    const unknown = await failed(store, "b");
    // A bulk replay whose send failed and was undone: replays counted, but its failure is still the first one's.
    const undone = await failed(store, "c");
    await store.markReplayed(undone, T0 + 1);
    await store.revertReplay(undone, { replays: 1, attempts: 1, expiresAt: 1 });
    const queue = new FakePointerQueue();
    queue.put(taskMessageBody(taskId), taskId);
    queue.put(taskMessageBody(taskId), `${taskId}#r1`);
    queue.put(taskMessageBody(unknown));
    queue.put(taskMessageBody(undone), undone);
    const run = { now: T0, limits: DEFAULT_SWEEP_LIMITS, counters: new Counters() } as RunState;

    await reconcileTopicDeadLetters(sweeperOver(store, queue), run);

    // One message per dead-lettered task: DLQ depth is what is still failed. Without a dedup id, kept; and the
    // undone replay's task keeps the message of the failure it still is.
    expect(queue.messages.map((m) => m.deduplicationId)).toEqual([`${taskId}#r1`, undefined, undone]);
    expect(run.counters).toMatchObject({ pointersResolved: 1, failures: 0 });
  });

  it("a message the backstop moved while its near-term task is unfinished puts the task in the sweep index first", async () => {
    // Prepare: a near-term task (not indexed) whose attempt started, its message moved here by maxReceiveCount
    const store = new MemoryTaskStore();
    const task = makeTask({ group: "d", dueAtMs: T0, acceptedAtMs: T0 });
    await store.putNew(task, { sweepIndex: false });
    await store.startAttempt(task.taskId, T0);
    const queue = new FakePointerQueue();
    queue.put(taskMessageBody(task.taskId));
    const deps = sweeperOver(store, queue);
    const run = { now: T0, limits: DEFAULT_SWEEP_LIMITS, counters: new Counters() } as RunState;
    const before = store.tasks.get(task.taskId)?.sweepShard;

    // Act
    await reconcileTopicDeadLetters(deps, run);

    // Assess: the stall repair carries it on from the index; the pointer is resolved
    expect(before).toBeUndefined();
    expect(store.tasks.get(task.taskId)?.sweepShard).toBe(sweepShardOf(task.taskId));
    expect(queue.messages).toEqual([]);
  });

  it("finishes a dead-lettering cut short (its DLQ send made, the function died before `failed`): the task is `failed` and keeps that message as its one, whenever its record comes back", async () => {
    // Prepare: its last attempt failed; its FIFO message comes back after the queue's visibility timeout (minutes):
    // within 5 minutes of this send the retried send (same deduplication id) would be dropped, after it a second
    // message would land.
    const { store, task, queue, pass } = await cutShort("f", ["HTTP 500", "HTTP 500", "HTTP 500"]);

    // Act: a sweeper run in those minutes
    const counters = await pass();

    // Assess: `failed` (the record's return finds it final: no second send), its dead-letter message kept
    expect(store.tasks.get(task.taskId)).toMatchObject({ status: "failed", lastError: "HTTP 500" });
    expect(store.tasks.get(task.taskId)?.sweepShard).toBeUndefined();
    expect(queue.messages.map((m) => m.deduplicationId)).toEqual([task.taskId]);
    expect(counters).toMatchObject({ deadLettered: 1, failures: 0 });
  });

  it("counts a failed read or `failed` write as a failure of the run (the repair-failures alarm), the message kept", async () => {
    // Prepare: one message whose task cannot be read, one cut short whose `failed` write fails
    const { store, task, queue, pass } = await cutShort("rf", ["HTTP 500", "HTTP 500", "HTTP 500"]);
    const unreadable = makeTask({ group: "rg", dueAtMs: T0, acceptedAtMs: T0 });
    queue.put(taskMessageBody(unreadable.taskId));
    const get = store.get.bind(store);
    store.get = async (taskId, ...rest) => {
      if (taskId === unreadable.taskId) throw new Error("ProvisionedThroughputExceededException");
      return get(taskId, ...rest);
    };
    store.markFailed = async () => {
      throw new Error("InternalServerError");
    };

    // Act
    const counters = await pass();

    // Assess
    expect(counters.failures).toBe(2);
    expect(store.tasks.get(task.taskId)?.status).toBe("delivering");
    expect(queue.messages).toHaveLength(2);
  });

  it("leaves alone a task of another topic whose message sits in this topic's DLQ (sent there by hand): judged by this topic's maxAttempts, a live retry was marked failed", async () => {
    // Prepare: an `orders` task in its third attempt (its own topic allows more; this one, `demo`, allows 3), and a
    // message naming it in demo's DLQ
    const { store, task, queue, pass, deps } = await cutShort("x", ["HTTP 500", "HTTP 500", "HTTP 500"], {
      topic: "orders",
    });
    const before = store.tasks.get(task.taskId);

    // Act
    const counters = await pass();

    // Assess: the task as it was; the message kept for an operator, who is told which one it is
    expect(store.tasks.get(task.taskId)).toEqual(before);
    expect(queue.messages.map((m) => m.body)).toEqual([taskMessageBody(task.taskId)]);
    expect(counters).toMatchObject({ deadLettered: 0, pointersResolved: 0 });
    const logged = (deps.logger as ReturnType<typeof memoryLogger>).entries.filter(
      (e) => e.level === "error",
    );
    expect(logged).toEqual([
      {
        level: "error",
        message: "a topic dead-letter queue holds a message for another topic's task; left for an operator",
        extra: { queueUrl: DLQ, messageId: queue.messages[0]?.messageId, taskId: task.taskId },
      },
    ]);
  });

  it("finishes a moved task's cut-short dead-lettering no earlier than its TTL floor (the item it was moved from outlives it otherwise)", async () => {
    // Prepare: a successor whose old item expires in 40 days; the topic's retention is a day
    const floor = Math.ceil(T0 / 1000) + 40 * 86_400;
    const moved = { rescheduledFrom: "demo.x.y.z", expiresAtFloor: floor };
    const { store, task, pass } = await cutShort("m", ["HTTP 500", "HTTP 500", "HTTP 500"], moved);

    // Act
    const counters = await pass();

    // Assess
    expect(store.tasks.get(task.taskId)).toMatchObject({ status: "failed", expiresAt: floor });
    expect(counters).toMatchObject({ deadLettered: 1, failures: 0 });
  });

  it("counts no repair when deliver's returning record wrote `failed` first: the sweeper's write changed nothing", async () => {
    // Prepare: the cut-short task, and deliver's record finishing it between the sweeper's read and its write
    const { store, task, queue, pass } = await cutShort("d", ["HTTP 500", "HTTP 500", "HTTP 500"]);
    const markFailed = store.markFailed.bind(store);
    store.markFailed = async (taskId, failure) => {
      // Deliver's own write: its own id (deadLetterTask), not the sweeper's
      await markFailed(taskId, { ...failure, error: "written by deliver", writeId: "deliver-write" });
      return markFailed(taskId, failure);
    };

    // Act
    const counters = await pass();

    // Assess: deliver's write stands, the message is kept, and no repair is reported
    expect(store.tasks.get(task.taskId)).toMatchObject({ status: "failed", lastError: "written by deliver" });
    expect(queue.messages.map((m) => m.deduplicationId)).toEqual([task.taskId]);
    expect(counters).toMatchObject({ deadLettered: 0, failures: 0 });
  });

  it("keeps the message of a task refused by policy whose dead-lettering was cut short (dead-lettered at its first attempt, attempts left)", async () => {
    // Prepare
    const refused =
      "destination refused by policy: a non-public address not named in the topic's allowed callback hosts";
    const { task, queue, pass } = await cutShort("g", [refused]);

    // Act
    await pass();

    // Assess: kept as the task's one dead-letter message
    expect(queue.messages.map((m) => m.deduplicationId)).toEqual([task.taskId]);
  });

  it("finishes the cut-short dead-lettering of a task refused by policy too: `failed`, its one message kept, so its record back after SQS's 5 minutes (a deliver visibility timeout past 5 minutes) sends no second one", async () => {
    // Prepare: dead-lettered at its first refusal, attempts left; accepted long before the settings' propagation
    const refused =
      "destination refused by policy: a non-public address not named in the topic's allowed callback hosts";
    const { store, task, queue, pass, deps } = await cutShort("r", [refused]);
    Object.assign(deps, { clock: () => T0 + 3_600_000, settingsSettleMs: 600_000 });

    // Act
    const counters = await pass();

    // Assess
    expect(store.tasks.get(task.taskId)).toMatchObject({ status: "failed", lastError: refused });
    expect(queue.messages.map((m) => m.deduplicationId)).toEqual([task.taskId]);
    expect(counters).toMatchObject({ deadLettered: 1, failures: 0 });
  });

  it("a task whose name resolved to refused addresses, attempts left, is no cut-short dead-lettering: deliver retries it, so the backstop's message puts it in the sweep index and goes", async () => {
    // Prepare: its first attempt refused on resolution (retried after its backoff step, not dead-lettered), then
    // its message moved here by maxReceiveCount
    const refused = "destination refused by policy: host resolves to a non-public address";
    const { store, task, queue, pass, deps } = await cutShort("v", [refused]);
    Object.assign(deps, { clock: () => T0 + 3_600_000, settingsSettleMs: 600_000 });

    // Act
    const counters = await pass();

    // Assess: not `failed` (its attempts are not used up), carried on by the stall repair from the index
    expect(store.tasks.get(task.taskId)).toMatchObject({ status: "delivering", attempts: 1 });
    expect(store.tasks.get(task.taskId)?.sweepShard).toBe(sweepShardOf(task.taskId));
    expect(queue.messages).toEqual([]);
    expect(counters).toMatchObject({ deadLettered: 0 });
  });

  it("leaves a refused task whose next attempt is under way to that attempt: not `failed` under it, its message kept", async () => {
    // Prepare: dead-lettered at its first refusal (attempts left), `failed` never written; its record came back and
    // the redelivery has started attempt 2 (the allow-list may have been widened since), its outcome not yet written
    const refused = "destination refused by policy: host not in allowedCallbackHosts";
    const { store, task, queue, pass, deps } = await cutShort("n", [refused]);
    Object.assign(deps, { clock: () => T0 + 3_600_000, settingsSettleMs: 600_000 });
    await store.startAttempt(task.taskId, T0 + 10);
    const inFlight = structuredClone(store.tasks.get(task.taskId));

    // Act
    const counters = await pass();

    // Assess: attempt 2 holds the task as it started it; the message stays (should attempt 2 be refused too, its
    // own DLQ send within 5 minutes is dropped as a duplicate of this one)
    expect(store.tasks.get(task.taskId)).toEqual(inFlight);
    expect(queue.messages.map((m) => m.deduplicationId)).toEqual([task.taskId]);
    expect(counters).toMatchObject({ deadLettered: 0, pointersResolved: 0 });
  });

  it("leaves a refused task whose last attempt is under way to that attempt too: attempts used up by it are not a cut-short dead-lettering", async () => {
    // Prepare: attempt 1 failed, attempt 2 refused (dead-lettered, `failed` never written); the redelivery has
    // started attempt 3 of 3, its outcome not yet written
    const refused = "destination refused by policy: host not in allowedCallbackHosts";
    const { store, task, queue, pass, deps } = await cutShort("l", ["HTTP 500", refused]);
    Object.assign(deps, { clock: () => T0 + 3_600_000, settingsSettleMs: 600_000 });
    await store.startAttempt(task.taskId, T0 + 10);
    const inFlight = structuredClone(store.tasks.get(task.taskId));

    // Act
    const counters = await pass();

    // Assess
    expect(inFlight).toMatchObject({ status: "delivering", attempts: 3 });
    expect(store.tasks.get(task.taskId)).toEqual(inFlight);
    expect(queue.messages.map((m) => m.deduplicationId)).toEqual([task.taskId]);
    expect(counters).toMatchObject({ deadLettered: 0, pointersResolved: 0 });
  });

  it("finishes the cut-short dead-lettering of a task past maxAttempts whose one more call's outcome was lost, once idle: deliver and the stall repair dead-letter it without a call, so no attempt is under way", async () => {
    // Prepare: attempts 1 and 2 failed; attempt 3's outcome was lost (its `delivered` write), so it got one more
    // call (attempt 4), whose outcome was lost too; deliver's record then dead-lettered it (DLQ send made, `failed`
    // never written). An hour on, nothing holds an attempt of it.
    const { store, task, queue, pass, deps } = await cutShort("p", ["HTTP 500", "HTTP 500"]);
    await store.startAttempt(task.taskId, T0 + 10);
    await store.startAttempt(task.taskId, T0 + 20);
    Object.assign(deps.topics.demo as object, { stalledAfterMs: 600_000 });
    Object.assign(deps, { clock: () => T0 + 3_600_000 });

    // Act
    const counters = await pass();

    // Assess: `failed`, as deliver would write it, and its one message kept: a record back after SQS's 5 minutes
    // finds it final and sends no second one
    expect(store.tasks.get(task.taskId)).toMatchObject({ status: "failed", attempts: 4 });
    expect(queue.messages.map((m) => m.deduplicationId)).toEqual([task.taskId]);
    expect(counters).toMatchObject({ deadLettered: 1, failures: 0 });
  });

  it("leaves a task past maxAttempts whose one more call is under way (not idle) to that call: not `failed` under it", async () => {
    // Prepare: attempt 2 refused by policy (dead-lettered at once, `failed` never written); attempt 3 started and its
    // outcome lost, so its one more call (attempt 4) has just started
    const refused = "destination refused by policy: host not in allowedCallbackHosts";
    const { store, task, queue, pass, deps } = await cutShort("q", ["HTTP 500", refused]);
    await store.startAttempt(task.taskId, T0 + 10);
    await store.startAttempt(task.taskId, T0 + 20);
    Object.assign(deps.topics.demo as object, { stalledAfterMs: 600_000 });
    Object.assign(deps, { clock: () => T0 + 30_000, settingsSettleMs: 0 });
    const inFlight = structuredClone(store.tasks.get(task.taskId));

    // Act
    const counters = await pass();

    // Assess
    expect(inFlight).toMatchObject({ status: "delivering", attempts: 4 });
    expect(store.tasks.get(task.taskId)).toEqual(inFlight);
    expect(queue.messages.map((m) => m.deduplicationId)).toEqual([task.taskId]);
    expect(counters).toMatchObject({ deadLettered: 0 });
  });

  it("leaves a refused task accepted within the settings' propagation time to deliver: its refusal may be one that waits for the settings to settle", async () => {
    // Prepare
    const refused = "destination refused by policy: host not in allowedCallbackHosts";
    const { store, task, queue, pass, deps } = await cutShort("s", [refused]);
    Object.assign(deps, { clock: () => T0 + 60_000, settingsSettleMs: 600_000 });

    // Act
    await pass();

    // Assess
    expect(store.tasks.get(task.taskId)?.status).toBe("delivering");
    expect(queue.messages.map((m) => m.deduplicationId)).toEqual([task.taskId]);
  });

  it("keeps the message when the task cannot be put in the sweep index", async () => {
    // Prepare
    const store = new MemoryTaskStore();
    const task = makeTask({ group: "e", dueAtMs: T0, acceptedAtMs: T0 });
    await store.putNew(task, { sweepIndex: false });
    store.enterSweepIndex = async () => {
      throw new Error("DynamoDB unavailable");
    };
    const queue = new FakePointerQueue();
    queue.put(taskMessageBody(task.taskId));
    const deps = sweeperOver(store, queue);
    const run = { now: T0, limits: DEFAULT_SWEEP_LIMITS, counters: new Counters() } as RunState;

    // Act
    await reconcileTopicDeadLetters(deps, run);

    // Assess
    expect(queue.messages.map((m) => m.body)).toEqual([taskMessageBody(task.taskId)]);
  });

  it("reaches messages behind more than a run's worth of still-failed ones: a replayed task's is deleted, an unfinished one's task indexed", async () => {
    // Prepare: an outage dead-lettered many tasks that nobody has replayed yet; behind them, one task replayed since
    // (say one subscriber's copy) and a near-term task whose message the maxReceiveCount backstop moved here.
    const store = new MemoryTaskStore();
    const queue = new FakePointerQueue();
    for (let i = 0; i < 120; i++) queue.put(taskMessageBody(await failed(store, `old-${i}`)));
    const replayed = await failed(store, "replayed");
    await store.markReplayed(replayed, T0 + 1);
    const unfinished = makeTask({ group: "moved", dueAtMs: T0, acceptedAtMs: T0 });
    await store.putNew(unfinished, { sweepIndex: false });
    await store.startAttempt(unfinished.taskId, T0);
    queue.put(taskMessageBody(replayed));
    queue.put(taskMessageBody(unfinished.taskId));
    const deps = sweeperOver(store, queue);

    // Act: two runs, as a minute apart (still-failed messages are made visible again after each)
    for (let run = 0; run < 2; run++) {
      const state = { now: T0, limits: DEFAULT_SWEEP_LIMITS, counters: new Counters() } as RunState;
      await reconcileTopicDeadLetters(deps, state);
    }

    // Assess
    expect(store.tasks.get(unfinished.taskId)?.sweepShard).toBe(sweepShardOf(unfinished.taskId));
    expect(queue.messages).toHaveLength(120);
    expect(queue.messages.map((m) => m.body)).not.toContain(taskMessageBody(replayed));
  });
});

describe("reconcileTopicDeadLetters across topics", () => {
  it("one topic's long DLQ does not take the whole pass: the next topic's stale message is still deleted", async () => {
    // Prepare: topic a's DLQ holds more still-failed messages than the pass has time for (each read takes 20 ms
    // of the run), topic b's a replayed task's message
    const store = new MemoryTaskStore();
    const clock = { now: T0 };
    const a = new FakePointerQueue();
    for (let i = 0; i < 1_000; i++) a.put(taskMessageBody(await failed(store, `a-${i}`, "a")));
    const replayed = await failed(store, "b", "b");
    await store.markReplayed(replayed, T0 + 1);
    const b = new FakePointerQueue();
    b.put(taskMessageBody(replayed));
    const get = store.get.bind(store);
    store.get = async (taskId) => {
      clock.now += 20;
      return get(taskId);
    };
    const A = "https://sqs.test/a-dlq.fifo";
    const B = "https://sqs.test/b-dlq.fifo";
    const deps = {
      store,
      deadLetters: { source: new FakeDeadLetterSource({ [A]: a, [B]: b }, () => clock.now), queueUrls: [] },
      topics: { a: { dlqUrl: A }, b: { dlqUrl: B } },
      logger: memoryLogger(),
      remainingMs: () => 50_000 - (clock.now - T0),
    } as unknown as SweeperDeps;
    const run = { now: T0, limits: DEFAULT_SWEEP_LIMITS, counters: new Counters() } as RunState;

    // Act
    await reconcileTopicDeadLetters(deps, run);

    // Assess: both topics had their part of the pass, which kept to its share
    expect(b.messages).toEqual([]);
    expect(clock.now - T0).toBeLessThanOrEqual(DEFAULT_SWEEP_LIMITS.topicDeadLetterShareMs + 1_000);
    expect(run.counters).toMatchObject({ pointersResolved: 1, deferred: true });
  });
});

describe("reconcileTopicDeadLetters over a FIFO DLQ", () => {
  it("an answer holding fewer than ten messages (one message group's) does not end the read", async () => {
    // Prepare: group a's two dead letters are still failed; group b's task was replayed since
    const store = new MemoryTaskStore();
    const queue = new FakePointerQueue();
    for (let i = 0; i < 2; i++) queue.put(taskMessageBody(await failed(store, "a")));
    const replayed = await failed(store, "b");
    await store.markReplayed(replayed, T0 + 1);
    queue.put(taskMessageBody(replayed));
    const deps = sweeperOver(store, queue);
    const source = deps.deadLetters?.source as FakeDeadLetterSource;
    source.oneGroupPerReceive = (body) => (parseTaskMessage(body)?.taskId ?? "").split(".")[1] ?? "";
    const run = { now: T0, limits: DEFAULT_SWEEP_LIMITS, counters: new Counters() } as RunState;

    // Act
    await reconcileTopicDeadLetters(deps, run);

    // Assess
    expect(queue.messages.map((m) => m.body)).not.toContain(taskMessageBody(replayed));
    expect(queue.messages).toHaveLength(2);
    expect(run.counters).toMatchObject({ pointersResolved: 1, failures: 0 });
  });
});

describe("reconcileTopicDeadLetters reading as SQS answers", () => {
  it("a short poll that sampled no server does not end the read: the pass long-polls, as the pointer pass does", async () => {
    // Prepare: one replayed task's message; a short poll of a queue this small may answer with nothing
    // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html)
    const store = new MemoryTaskStore();
    const replayed = await failed(store, "a");
    await store.markReplayed(replayed, T0 + 1);
    const queue = new FakePointerQueue();
    queue.put(taskMessageBody(replayed));
    const deps = sweeperOver(store, queue);
    (deps.deadLetters?.source as FakeDeadLetterSource).shortPollSample = 0;
    const run = { now: T0, limits: DEFAULT_SWEEP_LIMITS, counters: new Counters() } as RunState;

    // Act
    await reconcileTopicDeadLetters(deps, run);

    // Assess
    expect(queue.messages).toEqual([]);
    expect(run.counters).toMatchObject({ pointersResolved: 1, failures: 0 });
  });

  it("the topics are read side by side: each read's closing long poll (an empty wait) is not added up across topics", async () => {
    // Prepare: 20 topics, each DLQ holding one replayed task's message; an empty long-poll answer takes 1 s of
    // the run (the wait SQS makes), so 20 read one after another would take twice the pass's 10 s share from the
    // group repairs
    const store = new MemoryTaskStore();
    const clock = { now: T0 };
    const queues: Record<string, FakePointerQueue> = {};
    const topics: Record<string, { dlqUrl: string }> = {};
    for (let i = 0; i < 20; i++) {
      const name = `t${i}`;
      const replayed = await failed(store, "g", name);
      await store.markReplayed(replayed, T0 + 1);
      const url = `https://sqs.test/${name}-dlq.fifo`;
      queues[url] = new FakePointerQueue();
      queues[url].put(taskMessageBody(replayed));
      topics[name] = { dlqUrl: url };
    }
    const source = new FakeDeadLetterSource(queues, () => clock.now);
    // Waits that overlap take their time once, as they would in the region.
    source.longPollWait = async (seconds) => {
      const start = clock.now;
      await new Promise((resolve) => setImmediate(resolve));
      clock.now = Math.max(clock.now, start + seconds * 1000);
    };
    const deps = {
      store,
      deadLetters: { source, queueUrls: [] },
      topics,
      logger: memoryLogger(),
      remainingMs: () => 50_000 - (clock.now - T0),
    } as unknown as SweeperDeps;
    const run = { now: T0, limits: DEFAULT_SWEEP_LIMITS, counters: new Counters() } as RunState;

    // Act
    await reconcileTopicDeadLetters(deps, run);

    // Assess: every topic's stale message is gone, and the pass kept to its share of the run
    expect(Object.values(queues).flatMap((q) => q.messages)).toEqual([]);
    expect(run.counters).toMatchObject({ pointersResolved: 20, failures: 0 });
    expect(clock.now - T0).toBeLessThanOrEqual(DEFAULT_SWEEP_LIMITS.topicDeadLetterShareMs);
  });
});
