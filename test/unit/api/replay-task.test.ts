import { describe, expect, it } from "vitest";
import { type HttpError, toHttpError } from "#shared/api/errors.js";
import { retentionExpiry } from "#shared/domain/task.js";
import { deadLetterTask } from "#shared/services/dead-letter.js";
import { getTask } from "#shared/services/get-task.js";
import { replayTask, sendReplayed } from "#shared/services/replay-task.js";
import { makeTask } from "../../support/factories.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { refusal } from "../../support/refusal.js";
import { NOW, testConfig } from "./fakes.js";

const QUEUE = "https://sqs.test/demo.fifo";
const DLQ = "https://sqs.test/demo-dlq.fifo";

function setup() {
  const store = new MemoryTaskStore();
  const topicQueue = new FakeTopicQueue(() => NOW);
  const deps = { store, topicQueue, topicQueues: { demo: QUEUE }, now: () => NOW };
  return { store, topicQueue, deps };
}

async function failedTask(store: MemoryTaskStore, topicQueue: FakeTopicQueue, topic = "demo") {
  const task = makeTask({
    topic,
    group: `o-${Math.random()}`,
    dueAtMs: NOW - 1_000,
    acceptedAtMs: NOW - 2_000,
  });
  await store.putNew(task);
  const started = await store.startAttempt(task.taskId, NOW - 500);
  await deadLetterTask(
    { store, topicQueue },
    { dlqUrl: DLQ, retentionDays: 1 },
    started ?? task,
    "HTTP 500",
    () => NOW - 400,
  );
  return task;
}

describe("replayTask", () => {
  it("two replays at once, the first one's send failing and undone: the second, refused by that mark, replays the task (202), not a 409 reading `failed`", async () => {
    // Prepare: replay B's write is refused by replay A's mark (`queued`); A's send fails and A puts the task back
    // `failed` (its 503: nothing replayed) before B reads why its write was refused — as the table's store reads it
    // after a refused UpdateItem (updateOrExplain)
    const { store, topicQueue, deps } = setup();
    const task = await failedTask(store, topicQueue);
    const before = await store.get(task.taskId);
    const mark = store.markReplayed.bind(store);
    let marks = 0;
    store.markReplayed = async (...args) => {
      if (marks++ > 0) return mark(...args);
      await mark(task.taskId, NOW - 10); // A's mark
      const refused = await mark(...args); // B's write, refused
      await store.revertReplay(task.taskId, {
        replays: 1,
        attempts: before?.attempts ?? 0,
        expiresAt: before?.expiresAt ?? 0,
        status: "failed",
      }); // A's undoing after its failed send
      expect(refused.outcome).toBe("conflict");
      const now = await store.get(task.taskId);
      return now ? { outcome: "conflict", task: now } : { outcome: "not-found" };
    };

    // Act
    const b = await replayTask(deps, task.taskId);

    // Assess: B replayed it. Before, B answered 409 "only a failed or delivered task can be replayed; this one is
    // failed", which no order of the two requests gives (A's 503 says nothing was replayed).
    expect(b).toMatchObject({ status: "queued", replays: 2 });
    expect(topicQueue.enqueued.filter((m) => m.taskId === task.taskId)).toHaveLength(1);
    expect(await store.get(task.taskId)).toMatchObject({ status: "queued" });
  });

  it("queues a failed task again, counts the replay, and sends it to its group with a replay dedup id", async () => {
    const { store, topicQueue, deps } = setup();
    const task = await failedTask(store, topicQueue);

    const view = await replayTask(deps, task.taskId);

    expect(view).toMatchObject({
      task_id: task.taskId,
      status: "queued",
      replays: 1,
      attempts: 0,
      last_error: "HTTP 500",
    });
    expect(topicQueue.idsIn(QUEUE)).toEqual([task.taskId]);
    expect(topicQueue.calls.at(-1)).toEqual({ queueUrl: QUEUE, groupId: task.pk, taskIds: [task.taskId] });
    const stored = await store.get(task.taskId);
    expect(stored?.failedTopic).toBeUndefined();
    expect(stored?.expiresAt).toBeUndefined();
    expect(stored?.sweepShard).toBeTypeOf("number");
  });

  it("an occurrence's replayed message carries its schedule id", async () => {
    const { store, topicQueue, deps } = setup();
    const task = await failedTask(store, topicQueue);
    const failed = store.tasks.get(task.taskId);
    if (failed) store.tasks.set(task.taskId, { ...failed, scheduleId: "s-1", scheduleEpoch: 0 });

    await replayTask(deps, task.taskId);

    expect(topicQueue.received.get(QUEUE)?.map((m) => [m.taskId, m.scheduleId])).toEqual([
      [task.taskId, "s-1"],
    ]);
  });

  it("dead-letters a replay that fails again once more, under a dedup id of its own", async () => {
    const { store, topicQueue, deps } = setup();
    const task = await failedTask(store, topicQueue);
    await replayTask(deps, task.taskId);
    const started = await store.startAttempt(task.taskId, NOW + 1);

    await deadLetterTask(
      { store, topicQueue },
      { dlqUrl: DLQ, retentionDays: 1 },
      started ?? task,
      "HTTP 500",
      () => NOW + 2,
    );

    expect(topicQueue.deadLetters.map((d) => d.taskId)).toEqual([task.taskId, task.taskId]);
    expect(await store.get(task.taskId)).toMatchObject({ status: "failed", failedTopic: "demo", replays: 1 });
  });

  it("answers 409 with the status for a task that is not finished, and changes nothing", async () => {
    const { store, topicQueue, deps } = setup();
    const task = makeTask({ dueAtMs: NOW + 60_000, acceptedAtMs: NOW });
    await store.putNew(task);

    const error = await refusal(replayTask(deps, task.taskId));

    expect(error).toMatchObject({ status: 409, code: "conflict", details: { task_status: "scheduled" } });
    expect((await store.get(task.taskId))?.status).toBe("scheduled");
    expect(topicQueue.calls).toEqual([]);
  });

  it("answers 409 naming where a moved task lives on (rescheduled_to), as cancel and PATCH do, for a replay of its old id", async () => {
    // Prepare: the task was moved (PATCH), so its old id reads `rescheduled`; the caller holds the old id
    const { store, topicQueue, deps } = setup();
    const task = makeTask({ dueAtMs: NOW + 60_000, acceptedAtMs: NOW });
    await store.putNew(task);
    const successor = makeTask({ dueAtMs: NOW + 120_000, acceptedAtMs: NOW }).taskId;
    await store.markRescheduled(task.taskId, {
      to: successor,
      atMs: NOW,
      expiresAt: retentionExpiry(NOW, 2),
    });

    // Act
    const error = await refusal(replayTask(deps, task.taskId));

    // Assess
    expect(error).toMatchObject({
      status: 409,
      code: "conflict",
      details: { task_status: "rescheduled", rescheduled_to: successor },
    });
    expect(error.message).toContain(successor);
    expect(topicQueue.calls).toEqual([]);
  });

  it("refuses (409) a task past its retention that DynamoDB's TTL has not removed yet (GET still shows it), and changes nothing", async () => {
    const { store, topicQueue, deps } = setup();
    const task = await failedTask(store, topicQueue);
    const expiresAt = (await store.get(task.taskId))?.expiresAt as number;
    const sent = topicQueue.calls.length;
    const later = { ...deps, now: () => expiresAt * 1000 + 60_000 };

    const error = await refusal(replayTask(later, task.taskId));

    expect(error).toMatchObject({
      status: 409,
      code: "conflict",
      details: { task_status: "failed", retention_ended_at: new Date(expiresAt * 1000).toISOString() },
    });
    expect(error.message).toMatch(/retention ended/);
    expect(await getTask({ ...later, config: testConfig() }, task.taskId)).toMatchObject({
      status: "failed",
    });
    expect((await store.get(task.taskId))?.replays).toBeUndefined();
    expect(topicQueue.calls).toHaveLength(sent);
  });

  it.each([
    ["an unknown id", () => makeTask({ dueAtMs: NOW, acceptedAtMs: NOW }).taskId],
    ["a malformed id", () => "nope"],
  ])("answers 404 for %s", async (_name, id) => {
    const { deps } = setup();
    expect((await refusal(replayTask(deps, id()))).status).toBe(404);
  });

  it.each([
    ["a topic never configured (a typo in the id's topic)", "dmeo"],
    ["a topic removed from the configuration", "demo"],
  ])(
    "answers 404 for a well-formed id naming no task, of %s, as GET, DELETE, PATCH and run do (not 409 'not configured any more')",
    async (_name, topic) => {
      // Prepare: the topology knows "other" only; no task has the id
      const { topicQueue, deps } = setup();
      const gone = { ...deps, topicQueues: { other: QUEUE } };
      const id = makeTask({ topic, group: "o-1", dueAtMs: NOW, acceptedAtMs: NOW }).taskId;

      // Act
      const error = await refusal(replayTask(gone, id));
      const copy = await refusal(replayTask(gone, id, { subscriber: "audit" }));

      // Assess
      expect(error).toMatchObject({ status: 404, code: "not_found" });
      expect(copy).toMatchObject({ status: 404, code: "not_found" });
      expect(topicQueue.calls).toEqual([]);
    },
  );

  it("refuses (409) a task of a topic no longer configured, which nothing could deliver, and changes nothing", async () => {
    // The sweeper skips a group whose topic it does not know (a failure each run): replayed, the task would stay
    // `queued` for good, out of the dead-letter list and without its TTL, while the answer said 202.
    const { store, topicQueue, deps } = setup();
    const task = await failedTask(store, topicQueue);
    const gone = { ...deps, topicQueues: { other: QUEUE } };

    const error = await refusal(replayTask(gone, task.taskId));
    const copy = await refusal(replayTask(gone, task.taskId, { subscriber: "audit" }));

    expect(error).toMatchObject({ status: 409, code: "conflict", details: { topic: "demo" } });
    expect(copy).toMatchObject({ status: 409, code: "conflict" });
    expect(await store.get(task.taskId)).toMatchObject({
      status: "failed",
      failedTopic: "demo",
      expiresAt: expect.any(Number),
    });
    expect(topicQueue.idsIn(QUEUE)).toEqual([]);
  });

  it("refuses (409) a task of a removed topic named like an Object.prototype member, not a 5xx", async () => {
    // Prepare: a failed task of topic "constructor" (a valid topic name), since removed from the configuration
    const { store, topicQueue, deps } = setup();
    const task = await failedTask(store, topicQueue, "constructor");

    // Act
    const error = await refusal(replayTask(deps, task.taskId));
    const copy = await refusal(replayTask(deps, task.taskId, { subscriber: "audit" }));

    // Assess
    expect(error).toMatchObject({ status: 409, code: "conflict", details: { topic: "constructor" } });
    expect(copy).toMatchObject({ status: 409, code: "conflict" });
    expect(await store.get(task.taskId)).toMatchObject({ status: "failed" });
  });

  it("sends no replay for a topic without a queue of its own, whatever it is named", async () => {
    // Prepare: the topology's topic → queue record knows "demo" only; "constructor" is Object.prototype's
    const { topicQueue, deps } = setup();
    const errors: unknown[] = [];
    const task = makeTask({ topic: "constructor", group: "o-1", dueAtMs: NOW, acceptedAtMs: NOW });

    // Act
    const sent = await sendReplayed({ ...deps, onSendError: (error) => errors.push(error) }, task);

    // Assess: reported as a failed send (the caller undoes its mark), nothing sent to a queue that is no queue
    expect(sent).toBe(false);
    expect(topicQueue.calls).toEqual([]);
    expect(errors).toHaveLength(1);
  });

  it("a mark whose answer was lost (the SDK's retry then finds the task queued) still has its task sent; an old queued replay is left to the sweeper", async () => {
    const { store, topicQueue, deps } = setup();
    const task = await failedTask(store, topicQueue);
    const old = await failedTask(store, topicQueue);
    await store.markReplayed(old.taskId, NOW - 6 * 60_000);
    const markReplayed = store.markReplayed.bind(store);
    store.markReplayed = async (id, ...rest) => {
      if (id === task.taskId) await markReplayed(id, ...rest);
      return markReplayed(id, ...rest);
    };

    const error = await refusal(replayTask(deps, task.taskId));
    await refusal(replayTask(deps, old.taskId));

    expect(error).toMatchObject({ status: 409, details: { task_status: "queued" } });
    // Sent under the replay's own dedup id: had the first send gone (a concurrent replay's), SQS drops this one.
    expect(topicQueue.idsIn(QUEUE)).toEqual([task.taskId]);
  });

  it("a send that fails undoes the replay and answers 503: the task is failed again as it was, and a retry replays it", async () => {
    const { store, topicQueue, deps } = setup();
    const task = await failedTask(store, topicQueue);
    const before = await store.get(task.taskId);
    topicQueue.failSends = true;
    const errors: string[] = [];

    const error = await refusal(
      replayTask({ ...deps, onSendError: (_e, id) => errors.push(id) }, task.taskId),
    );

    expect(error).toMatchObject({ status: 503 });
    expect(errors).toEqual([task.taskId]);
    // Not left `queued` without a message for the sweeper's stall window, where a later task of its group replayed
    // meanwhile would go first.
    const reverted = await store.get(task.taskId);
    expect(reverted).toMatchObject({ status: "failed", failedTopic: "demo", attempts: before?.attempts });
    expect(reverted?.expiresAt).toBe(before?.expiresAt);
    expect(reverted?.sweepShard).toBeUndefined();
    topicQueue.failSends = false;
    const retry = await replayTask(deps, task.taskId);
    expect(retry).toMatchObject({ status: "queued", replays: 2 });
    expect(topicQueue.idsIn(QUEUE)).toEqual([task.taskId]);
  });

  it("a delivered task whose replay's send fails is delivered again as it was (not dead-lettered), and a 503", async () => {
    const { store, topicQueue, deps } = setup();
    const EXPIRES = retentionExpiry(NOW, 1);
    const task = makeTask({ group: "d-1", dueAtMs: NOW - 1_000, acceptedAtMs: NOW - 2_000 });
    await store.putNew(task);
    await store.startAttempt(task.taskId, NOW - 500);
    await store.markDelivered(task.taskId, {
      atMs: NOW - 400,
      latenessMs: 0,
      deliveryLatencyMs: 1,
      expiresAt: EXPIRES,
    });
    topicQueue.failSends = true;

    const error = await refusal(replayTask(deps, task.taskId));

    expect(error).toMatchObject({ status: 503 });
    const stored = await store.get(task.taskId);
    expect(stored).toMatchObject({ status: "delivered", attempts: 1, expiresAt: EXPIRES });
    expect(stored?.failedTopic).toBeUndefined();
    expect(stored?.sweepShard).toBeUndefined();
  });

  it("a failed send whose task moved on meanwhile is not undone: 202 when an attempt started (its lost send landed), 409 when it was cancelled", async () => {
    const { store, topicQueue, deps } = setup();
    const landed = await failedTask(store, topicQueue);
    const cancelled = await failedTask(store, topicQueue);
    const send = topicQueue.sendReplay.bind(topicQueue);
    topicQueue.sendReplay = async (queueUrl, groupId, taskId, dedupId) => {
      if (taskId === landed.taskId) {
        await send(queueUrl, groupId, taskId, dedupId);
        await store.startAttempt(taskId, NOW + 1);
      } else await store.cancel(taskId, NOW + 1, retentionExpiry(NOW + 1, 1));
      throw new Error("socket hang up");
    };

    const view = await replayTask(deps, landed.taskId);
    const error = await refusal(replayTask(deps, cancelled.taskId));

    expect(view).toMatchObject({ status: "queued", replays: 1 });
    expect((await store.get(landed.taskId))?.status).toBe("delivering");
    expect(error).toMatchObject({ status: 409, details: { task_status: "cancelled" } });
  });

  it("a replay whose write failed with an unknown outcome (a 5xx: it may be applied) is not a 503 'retry', whose retry after the delivery would replay it again; a throttled one, which changed nothing, is", async () => {
    // Prepare
    const { store, topicQueue, deps } = setup();
    const applied = await failedTask(store, topicQueue);
    const untouched = await failedTask(store, topicQueue);
    const markReplayed = store.markReplayed.bind(store);

    // Act
    store.markReplayed = async (...args) => {
      await markReplayed(...args);
      throw Object.assign(new Error("internal server error"), {
        name: "InternalServerError",
        $fault: "server",
        $metadata: { httpStatusCode: 500, attempts: 3 },
      });
    };
    const unknown = await replayTask(deps, applied.taskId).catch(toHttpError);
    store.markReplayed = async () => {
      throw Object.assign(new Error("throttled"), { name: "ThrottlingException", $metadata: {} });
    };
    const throttled = await replayTask(deps, untouched.taskId).catch(toHttpError);
    store.markReplayed = markReplayed;

    // Assess
    expect((await store.get(applied.taskId))?.status).toBe("queued");
    expect((await store.get(untouched.taskId))?.status).toBe("failed");
    expect(unknown).toMatchObject({ status: 500, code: "internal_error" });
    expect((unknown as HttpError).message).toMatch(/may have been replayed/);
    expect(throttled).toMatchObject({ status: 503, code: "service_unavailable" });
  });

  it("a replay whose read before its mark failed (a 5xx, a timeout) wrote nothing: a 503 'retry', not the 500 'may have been replayed' of a failed write", async () => {
    // Prepare: the strongly consistent read of the task as it was fails past the SDK's retries
    const { store, topicQueue, deps } = setup();
    const task = await failedTask(store, topicQueue);
    const get = store.get.bind(store);
    store.get = async () => {
      throw Object.assign(new Error("internal server error"), {
        name: "InternalServerError",
        $fault: "server",
        $metadata: { httpStatusCode: 500, attempts: 3 },
      });
    };

    // Act
    const answer = await replayTask(deps, task.taskId).catch(toHttpError);
    store.get = get;

    // Assess: nothing was written or sent, and the answer says to retry rather than to check for a replay
    expect((await store.get(task.taskId))?.status).toBe("failed");
    expect(topicQueue.calls.filter((c) => c.taskIds.includes(task.taskId))).toHaveLength(0);
    expect(answer).toMatchObject({ status: 503, code: "service_unavailable" });
  });

  it("a replay whose write ended throttled after earlier SDK attempts may have been applied: a 500, not a 503 'retry'", async () => {
    // Prepare: the first attempt wrote the mark and lost its answer (a 5xx); the SDK's resend was throttled, and
    // only that last error is thrown ($metadata.attempts counts the attempts)
    const { store, topicQueue, deps } = setup();
    const task = await failedTask(store, topicQueue);
    const markReplayed = store.markReplayed.bind(store);
    store.markReplayed = async (...args) => {
      await markReplayed(...args);
      throw Object.assign(new Error("throttled"), {
        name: "ThrottlingException",
        $metadata: { httpStatusCode: 400, attempts: 3 },
      });
    };

    // Act
    const answer = await replayTask(deps, task.taskId).catch(toHttpError);

    // Assess: a 503 "retry" would have the client replay it again (its receiver called twice)
    expect((await store.get(task.taskId))?.status).toBe("queued");
    expect(answer).toMatchObject({ status: 500, code: "internal_error" });
    expect((answer as HttpError).message).toMatch(/may have been replayed/);
  });
});
