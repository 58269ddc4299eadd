import { describe, expect, it } from "vitest";
import { type HttpError, toHttpError } from "#shared/api/errors.js";
import { deadLetterTask } from "#shared/services/dead-letter.js";
import { getTask } from "#shared/services/get-task.js";
import { replayTask } from "#shared/services/replay-task.js";
import { makeTask } from "../../support/factories.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { refusal } from "../../support/refusal.js";
import { NOW } from "./fakes.js";

const QUEUE = "https://sqs.test/demo.fifo";
const DLQ = "https://sqs.test/demo-dlq.fifo";

function setup() {
  const store = new MemoryTaskStore();
  const topicQueue = new FakeTopicQueue(() => NOW);
  const deps = { store, topicQueue, topicQueues: { demo: QUEUE }, now: () => NOW };
  return { store, topicQueue, deps };
}

async function failedTask(store: MemoryTaskStore, topicQueue: FakeTopicQueue) {
  const task = makeTask({ group: `o-${Math.random()}`, dueAtMs: NOW - 1_000, acceptedAtMs: NOW - 2_000 });
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
    expect(await getTask(later, task.taskId)).toMatchObject({ status: "failed" });
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

  it("answers 202 even when the send fails: the task is queued, so the sweeper re-sends it", async () => {
    const { store, topicQueue, deps } = setup();
    const task = await failedTask(store, topicQueue);
    topicQueue.failSends = true;
    const errors: string[] = [];

    const view = await replayTask({ ...deps, onSendError: (_e, id) => errors.push(id) }, task.taskId);

    expect(view.status).toBe("queued");
    expect(errors).toEqual([task.taskId]);
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
});
