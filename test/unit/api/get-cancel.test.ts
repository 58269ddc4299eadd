import { describe, expect, it } from "vitest";
import { taskView } from "#shared/api/task-view.js";
import { makeTaskKey } from "#shared/domain/keys.js";
import { addTask } from "#shared/services/add-task.js";
import { cancelGroup } from "#shared/services/cancel-group.js";
import { cancelTask } from "#shared/services/cancel-task.js";
import { getTask } from "#shared/services/get-task.js";
import { listTasks } from "#shared/services/list-tasks.js";
import { replayTask } from "#shared/services/replay-task.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { refusal } from "../../support/refusal.js";
import { fixture, NOW } from "./fakes.js";

const body = (delay: number) => ({
  topic: "demo",
  delay_seconds: delay,
  content: { order_id: "o-9" },
  callback: { url: "https://hooks.example.com/n" },
});

describe("getTask", () => {
  it("returns the public view in snake_case with RFC 3339 times, omitting absent fields", async () => {
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(30) });
    expect(await getTask(f.deps, added.task_id)).toEqual({
      task_id: added.task_id,
      topic: "demo",
      status: "scheduled",
      due_at: new Date(NOW + 30_000).toISOString(),
      accepted_at: new Date(NOW).toISOString(),
      attempts: 0,
      callback_url: "https://hooks.example.com/n",
      group: "o-9",
      attempt_log: [],
    });
  });

  it("adds the content, exactly as stored, only when asked with include=content; any other include is a 400", async () => {
    const f = fixture();
    const { body: added } = await addTask(f.deps, {
      body: { ...body(30), content: '{"order_id":"o-9","big":12345678901234567890,"price":1.0}' },
    });

    const withContent = await getTask(f.deps, added.task_id, { include: "content" });
    const without = await getTask(f.deps, added.task_id, {});
    const bad = await refusal(getTask(f.deps, added.task_id, { include: "secrets" }));

    expect(withContent.content).toBe('{"order_id":"o-9","big":12345678901234567890,"price":1.0}');
    expect(without).not.toHaveProperty("content");
    expect(bad.status).toBe(400);
  });

  it("shows delivery progress once there is some", async () => {
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(0) });
    await f.store.markQueued(added.task_id, NOW + 5);
    await f.store.startAttempt(added.task_id, NOW + 10);
    await f.store.recordAttemptFailure(added.task_id, { error: "HTTP 500", atMs: NOW + 20 });
    await f.store.startAttempt(added.task_id, NOW + 1_000);
    await f.store.markDelivered(added.task_id, {
      atMs: NOW + 1_050,
      latenessMs: 1_000,
      deliveryLatencyMs: 50,
      expiresAt: 1,
    });
    expect(await getTask(f.deps, added.task_id)).toMatchObject({
      status: "delivered",
      attempts: 2,
      last_error: "HTTP 500",
      queued_at: new Date(NOW + 5).toISOString(),
      last_attempt_at: new Date(NOW + 1_000).toISOString(),
      delivered_at: new Date(NOW + 1_050).toISOString(),
      lateness_ms: 1_000,
      delivery_latency_ms: 50,
    });
  });

  it("numbers each logged attempt over the task's life, so an attempt whose outcome was never recorded shows as a missing number", async () => {
    // Prepare: attempt 1 started and its outcome never recorded (its step given up by deliver's watchdog, its late
    // write refused); attempt 2, the redelivery's, delivered
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(0) });
    await f.store.startAttempt(added.task_id, NOW + 10);
    await f.store.startAttempt(added.task_id, NOW + 1_000);
    await f.store.markDelivered(added.task_id, {
      atMs: NOW + 1_050,
      latenessMs: 1_000,
      deliveryLatencyMs: 50,
      expiresAt: 1,
      attempt: { seq: 2, startedAtMs: NOW + 1_000, durationMs: 50, status: 200 },
      attemptSeq: 2,
    });

    // Act
    const view = await getTask(f.deps, added.task_id);

    // Assess: two attempts counted, the log's one entry says it is the second
    expect(view).toMatchObject({
      attempts: 2,
      attempt_log: [
        { attempt: 2, started_at: new Date(NOW + 1_000).toISOString(), duration_ms: 50, status: 200 },
      ],
    });
  });

  it("answers 404 for a malformed id and for a missing task", async () => {
    const f = fixture();
    for (const id of [undefined, "", "nope", "demo.x.y.z", "../../etc"]) {
      expect(await refusal(getTask(f.deps, id))).toMatchObject({ status: 404, code: "not_found" });
    }
    const ghost = makeTaskKey("demo", "o-1", NOW, "01JD3ZZZZZZZZZZZZZZZZZZZZZ").taskId;
    expect(await refusal(getTask(f.deps, ghost))).toMatchObject({ status: 404 });
  });
});

describe("cancelTask", () => {
  it("cancels a queue-path task without touching the scheduler", async () => {
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(60) });
    f.clock.now += 1_000;
    const view = await cancelTask(f.deps, added.task_id);
    expect(view).toMatchObject({ status: "cancelled", cancelled_at: new Date(NOW + 1_000).toISOString() });
    expect(f.scheduler.deleted).toEqual([]);
    const stored = await f.store.get(added.task_id);
    expect(stored?.expiresAt).toBe(Math.ceil((NOW + 1_000) / 1000 + 3 * 86_400));
  });

  it("deletes the schedule of a schedule-path task", async () => {
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(86_400) });
    const scheduleName = (await f.store.get(added.task_id))?.scheduleName;
    await cancelTask(f.deps, added.task_id);
    expect(f.scheduler.deleted).toEqual([scheduleName]);
  });

  it("still answers 200 when deleting the schedule fails (the relay drops cancelled tasks)", async () => {
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(86_400) });
    f.scheduler.failDelete = true;
    const failures: string[] = [];
    const view = await cancelTask(
      { ...f.deps, onScheduleDeleteError: (_e, name) => failures.push(name) },
      added.task_id,
    );
    expect(view.status).toBe("cancelled");
    expect(failures).toHaveLength(1);
  });

  it("cancels a queued task (sent again by the sweeper, or replayed): its first attempt has not started", async () => {
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(0) });
    await f.store.markQueued(added.task_id, NOW);
    const view = await cancelTask(f.deps, added.task_id);
    expect(view.status).toBe("cancelled");
    expect((await f.store.get(added.task_id))?.status).toBe("cancelled");
  });

  it("answers 409 with the current status once the task is delivered", async () => {
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(0) });
    await f.store.markQueued(added.task_id, NOW);
    const started = await f.store.startAttempt(added.task_id, NOW + 10);
    await f.store.markDelivered(added.task_id, {
      atMs: NOW + 20,
      latenessMs: 20,
      deliveryLatencyMs: 10,
      expiresAt: 1,
      attemptSeq: started?.attemptSeq ?? 0,
    });
    const error = await refusal(cancelTask(f.deps, added.task_id));
    expect(error).toMatchObject({ status: 409, code: "conflict" });
    expect(error.toBody().error).toMatchObject({ code: "conflict", task_status: "delivered" });
    expect((await f.store.get(added.task_id))?.status).toBe("delivered");
  });

  it("cancels a delivering task waiting for its retry (its last attempt's outcome recorded): the next attempt's start refuses it", async () => {
    // Prepare: attempt 1 made and its failure recorded in its log slot; the task waits for its backoff
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(0) });
    const started = await failedOnce(f, added.task_id);

    const view = await cancelTask(f.deps, added.task_id);

    expect(view).toMatchObject({ status: "cancelled", attempts: 1, last_error: "HTTP 500" });
    expect(view.attempt_log).toHaveLength(1);
    const stored = await f.store.get(added.task_id);
    expect(stored).toMatchObject({ status: "cancelled", cancelledAtMs: NOW, attemptSeq: started.attemptSeq });
    expect(stored?.sweepShard).toBeUndefined();
    // Deliver's retry: its conditional start (either path) finds the task cancelled and makes no call.
    expect(await f.store.startAttempt(added.task_id, NOW + 2_000, 3)).toBeUndefined();
    expect(await f.store.startAttempt(added.task_id, NOW + 2_001)).toBeUndefined();
    expect((await f.store.get(added.task_id))?.status).toBe("cancelled");
  });

  it("requests the cancel of a delivering task whose callback is in flight: the view says cancel_requested, a repeat answers the same, and the attempt's failure ends it cancelled", async () => {
    // Prepare: attempt 1 failed and recorded, attempt 2 started (its callback in flight)
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(0) });
    await failedOnce(f, added.task_id);
    const second = await f.store.startAttempt(added.task_id, NOW + 2_000);
    const seq = second?.attemptSeq ?? 0;

    // Act: the DELETE and its repeat, then attempt 2 fails
    const view = await cancelTask(f.deps, added.task_id);
    const again = await cancelTask(f.deps, added.task_id);
    const recorded = await f.store.recordAttemptFailure(added.task_id, {
      error: "HTTP 503",
      atMs: NOW + 3_000,
      attemptSeq: seq,
      attempts: 2,
      attempt: { seq, startedAtMs: NOW + 2_000, durationMs: 1_000, status: 503, error: "HTTP 503" },
    });

    // Assess
    expect(view).toMatchObject({ status: "delivering", cancel_requested: true, attempts: 2 });
    expect(again).toEqual(view);
    expect(recorded).toBe("cancelled");
    const stored = await f.store.get(added.task_id);
    expect(stored).toMatchObject({ status: "cancelled", cancelledAtMs: NOW + 3_000, lastError: "HTTP 503" });
    expect(stored?.attemptLog?.[String(seq - 1)]).toMatchObject({ seq, status: 503 });
    expect(stored?.sweepShard).toBeUndefined();
    expect(taskView(stored as never).cancel_requested).toBeUndefined();
    expect(await f.store.startAttempt(added.task_id, NOW + 10_000, 3)).toBeUndefined();
  });

  it("the group cancel cancels a delivering task waiting for its retry and lists one whose callback is in flight in cancel_requested", async () => {
    const f = fixture();
    const group = { content: { order_id: "o-6" } };
    const { body: waiting } = await addTask(f.deps, { body: { ...body(0), ...group } });
    const { body: inFlight } = await addTask(f.deps, { body: { ...body(1), ...group } });
    await failedOnce(f, waiting.task_id);
    await f.store.startAttempt(inFlight.task_id, NOW + 10);

    const answer = await cancelGroup(f.deps, { topic: "demo", value: "o-6" }, {});

    expect(answer).toEqual({
      cancelled: 1,
      not_cancelled: [],
      cancel_requested: [{ task_id: inFlight.task_id }],
      more: false,
      next_cursor: null,
    });
    expect((await f.store.get(waiting.task_id))?.status).toBe("cancelled");
    expect(await f.store.get(inFlight.task_id)).toMatchObject({
      status: "delivering",
      cancelRequestedAtMs: NOW,
    });
  });

  it("answers 409 for a rescheduled id naming the task it became (rescheduled_to), so a caller holding the old id can cancel it", async () => {
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(60) });
    const successor = makeTaskKey("demo", undefined, NOW + 600_000, added.task_id.split(".")[3] ?? "").taskId;
    await f.store.markRescheduled(added.task_id, { to: successor, atMs: NOW, expiresAt: NOW + 1 });

    const error = await refusal(cancelTask(f.deps, added.task_id));

    expect(error).toMatchObject({
      status: 409,
      code: "conflict",
      details: { task_status: "rescheduled", rescheduled_to: successor },
    });
  });

  it("is idempotent: cancelling a cancelled task answers 200 again", async () => {
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(60) });
    const first = await cancelTask(f.deps, added.task_id);
    const again = await cancelTask(f.deps, added.task_id);
    expect(again).toEqual(first);
  });

  it("answers 404 for malformed and unknown ids", async () => {
    const f = fixture();
    expect(await refusal(cancelTask(f.deps, "bad id"))).toMatchObject({ status: 404 });
    const ghost = makeTaskKey("demo", undefined, NOW, "01JD3ZZZZZZZZZZZZZZZZZZZZZ").taskId;
    expect(await refusal(cancelTask(f.deps, ghost))).toMatchObject({ status: 404 });
  });

  it("uses the system retention for a topic no longer configured", async () => {
    const f = fixture();
    const key = makeTaskKey("gone", undefined, NOW + 60_000, "01JD3ZZZZZZZZZZZZZZZZZZZZZ");
    await f.store.putNew({
      pk: key.pk,
      sk: key.sk,
      taskId: key.taskId,
      topic: "gone",
      status: "scheduled",
      dueAtMs: key.dueAtMs,
      acceptedAtMs: NOW,
      content: "{}",
      callbackUrl: "https://hooks.example.com/",
      timer: "queue",
      attempts: 0,
    });
    const view = await cancelTask(f.deps, key.taskId);
    expect(view.status).toBe("cancelled");
    expect(taskView((await f.store.get(key.taskId)) as never).status).toBe("cancelled");
  });
});

describe("cancelTask on a dead-lettered task (issue 12: discard)", () => {
  /** A task delivered once and dead-lettered, as the deliver function leaves it. */
  async function deadLettered(f: ReturnType<typeof fixture>, group = "o-9"): Promise<string> {
    const { body: added } = await addTask(f.deps, { body: { ...body(0), content: { order_id: group } } });
    await f.store.markQueued(added.task_id, NOW);
    await f.store.startAttempt(added.task_id, NOW + 10);
    await f.store.markFailed(added.task_id, { error: "HTTP 500", atMs: NOW + 20, expiresAt: 1 });
    return added.task_id;
  }

  it("moves failed → cancelled, out of the dead-letter list, with the topic's retention and its history kept", async () => {
    const f = fixture();
    const taskId = await deadLettered(f);
    f.clock.now += 5_000;

    const view = await cancelTask(f.deps, taskId);

    expect(view).toMatchObject({
      status: "cancelled",
      cancelled_at: new Date(NOW + 5_000).toISOString(),
      last_error: "HTTP 500",
      attempts: 1,
    });
    expect((await f.store.listFailed("demo", 10)).tasks).toEqual([]);
    const stored = await f.store.get(taskId);
    expect(stored?.failedTopic).toBeUndefined();
    expect(stored?.expiresAt).toBe(Math.ceil((NOW + 5_000) / 1000 + 3 * 86_400));
    expect(f.scheduler.deleted).toEqual([]);
  });

  it("is idempotent: discarding again answers 200 with the same task", async () => {
    const f = fixture();
    const taskId = await deadLettered(f);
    const first = await cancelTask(f.deps, taskId);
    expect(await cancelTask(f.deps, taskId)).toEqual(first);
  });

  it("still cancels a scheduled task as before, leaving the dead-letter list alone", async () => {
    const f = fixture();
    const failedId = await deadLettered(f, "o-1");
    const { body: added } = await addTask(f.deps, { body: body(60) });

    const view = await cancelTask(f.deps, added.task_id);

    expect(view.status).toBe("cancelled");
    expect((await f.store.get(failedId))?.status).toBe("failed");
    expect((await f.store.listFailed("demo", 10)).tasks.map((t) => t.taskId)).toEqual([failedId]);
  });

  it("a replay landing between the DELETE's read of the dead letter and its discard: the DELETE cancels the replayed task (200), as one after the replay does", async () => {
    // Prepare: the DELETE finds the task failed; a single replay marks it queued (and sends it) just before the
    // DELETE's discard is written
    const f = fixture();
    const taskId = await deadLettered(f);
    // Within its retention, as a dead letter one could replay is.
    const failed = await f.store.get(taskId);
    if (failed) f.store.tasks.set(taskId, { ...failed, expiresAt: Math.ceil(NOW / 1000) + 86_400 });
    const topicQueue = new FakeTopicQueue();
    const replay = {
      store: f.store,
      topicQueue,
      topicQueues: { demo: "https://sqs.local/demo.fifo" },
      now: () => NOW,
    };
    const discard = f.store.discardFailed.bind(f.store);
    let replayed: unknown;
    f.store.discardFailed = async (...args) => {
      replayed = await replayTask(replay, taskId);
      return discard(...args);
    };

    // Act
    const view = await cancelTask(f.deps, taskId);

    // Assess: the replay answered 202 (queued) and the DELETE, after it, cancelled the task: its message is dropped
    // by deliver's conditional start. Before, the DELETE answered 409 "task is queued, but delivery was starting its
    // attempt each time the cancel was written", which no order of the two requests gives.
    expect(replayed).toMatchObject({ status: "queued", replays: 1 });
    expect(view).toMatchObject({ status: "cancelled" });
    expect((await f.store.get(taskId))?.status).toBe("cancelled");
  });

  it("…and a replay undone in turn (its send failed) before that cancel: the DELETE discards the dead letter it is again", async () => {
    // Prepare: the discard meets the replay's mark; the cancel after it meets the replay's undoing (failed again)
    const f = fixture();
    const taskId = await deadLettered(f);
    const failed = await f.store.get(taskId);
    if (failed) f.store.tasks.set(taskId, { ...failed, expiresAt: Math.ceil(NOW / 1000) + 86_400 });
    const discard = f.store.discardFailed.bind(f.store);
    const cancel = f.store.cancel.bind(f.store);
    let discards = 0;
    let cancels = 0;
    f.store.discardFailed = async (...args) => {
      if (discards++ === 0) await f.store.markReplayed(taskId, NOW + 1);
      return discard(...args);
    };
    f.store.cancel = async (...args) => {
      if (cancels++ === 1) {
        const expiresAt = Math.ceil(NOW / 1000) + 86_400;
        await f.store.revertReplay(taskId, { replays: 1, attempts: 1, expiresAt, status: "failed" });
      }
      return cancel(...args);
    };

    // Act
    const view = await cancelTask(f.deps, taskId);

    // Assess: not a 409 "task is failed; only … or a dead-lettered (failed) one can be cancelled"
    expect([discards, cancels]).toEqual([2, 2]);
    expect(await f.store.get(taskId)).toMatchObject({ status: "cancelled", replays: 1 });
    expect(view).toMatchObject({ status: "cancelled" });
    expect((await f.store.listFailed("demo", 10)).tasks).toEqual([]);
  });

  it("answers 409 for a delivered task and changes nothing", async () => {
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(0) });
    await f.store.startAttempt(added.task_id, NOW + 10);
    await f.store.markDelivered(added.task_id, {
      atMs: NOW + 20,
      latenessMs: 20,
      deliveryLatencyMs: 10,
      expiresAt: 1,
    });
    const before = await f.store.get(added.task_id);

    const error = await refusal(cancelTask(f.deps, added.task_id));

    expect(error).toMatchObject({ status: 409, code: "conflict" });
    expect(error.toBody().error).toMatchObject({
      task_status: "delivered",
      message:
        "task is delivered; only a task whose attempt has not started (scheduled, queued), a delivering one waiting for its retry, or a dead-lettered (failed) one can be cancelled",
    });
    expect(await f.store.get(added.task_id)).toEqual(before);
  });

  it("answers a 409 that says to repeat the cancel when deliver kept starting and giving the task back", async () => {
    // Prepare: the store's bounded cancel still read a cancellable task after its last refused write
    const f = fixture();
    const { body: added } = await addTask(f.deps, { body: body(0) });
    const queued = { ...(await f.store.get(added.task_id)), status: "queued" } as const;
    f.store.cancel = async () => ({ outcome: "conflict", task: queued as never });

    // Act
    const error = await refusal(cancelTask(f.deps, added.task_id));

    // Assess: not "task is queued; only … (scheduled, queued) … can be cancelled", which contradicts itself
    expect(error).toMatchObject({ status: 409, code: "conflict" });
    expect(error.toBody().error).toMatchObject({
      task_status: "queued",
      message:
        "task is queued, but delivery was starting its attempt each time the cancel was written; repeat the cancel",
    });
  });

  it("the group cancel takes the group from ?group= when the path's group is - (names such as . and .. cannot travel in a path)", async () => {
    // Prepare
    const f = fixture();
    const add = async (group: string) =>
      (await addTask(f.deps, { body: { ...body(60), content: { order_id: group } } })).body.task_id;
    const [dot, dotDot, dash, other] = [await add("."), await add(".."), await add("-"), await add("o-6")];

    // Act
    const first = await cancelGroup(f.deps, { topic: "demo", value: "-" }, { group: "." });
    const second = await cancelGroup(f.deps, { topic: "demo", value: "-" }, { group: ".." });
    const third = await cancelGroup(f.deps, { topic: "demo", value: "-" }, { group: "-" });

    // Assess
    expect([first.cancelled, second.cancelled, third.cancelled]).toEqual([1, 1, 1]);
    for (const id of [dot, dotDot, dash]) expect((await f.store.get(id))?.status).toBe("cancelled");
    expect((await f.store.get(other))?.status).toBe("scheduled");
  });

  it('the group cancel takes ?group= (empty) for the group of the value "" (an add takes it as a group value)', async () => {
    // Prepare
    const f = fixture();
    const add = async (group: string) =>
      (await addTask(f.deps, { body: { ...body(60), content: { order_id: group } } })).body.task_id;
    const [empty, other] = [await add(""), await add("o-8")];

    // Act
    const result = await cancelGroup(f.deps, { topic: "demo", value: "-" }, { group: "" });

    // Assess
    expect(result.cancelled).toBe(1);
    expect((await f.store.get(empty))?.status).toBe("cancelled");
    expect((await f.store.get(other))?.status).toBe("scheduled");
  });

  it("the group cancel refuses - without ?group=, and ?group= with a group in the path: 400, nothing cancelled", async () => {
    // Prepare
    const f = fixture();
    const { body: pending } = await addTask(f.deps, { body: { ...body(60), content: { order_id: "o-7" } } });

    // Act
    const missing = await refusal(cancelGroup(f.deps, { topic: "demo", value: "-" }, {}));
    const both = await refusal(cancelGroup(f.deps, { topic: "demo", value: "o-7" }, { group: "o-7" }));

    // Assess
    expect(missing).toMatchObject({ status: 400, code: "validation_failed", issues: [{ path: "group" }] });
    expect(both).toMatchObject({ status: 400, code: "validation_failed", issues: [{ path: "group" }] });
    expect((await f.store.get(pending.task_id))?.status).toBe("scheduled");
  });

  it("the group cancel refuses a path group longer than any group can be (1,024 characters), as it refuses such a ?group=: 400, not a 200 that cancelled nothing", async () => {
    // Prepare
    const f = fixture();
    const long = "g".repeat(1025);

    // Act
    const inPath = await refusal(cancelGroup(f.deps, { topic: "demo", value: long }, {}));
    const inQuery = await refusal(cancelGroup(f.deps, { topic: "demo", value: "-" }, { group: long }));

    // Assess
    expect(inPath).toMatchObject({ status: 400, code: "validation_failed", issues: [{ path: "value" }] });
    expect(inQuery).toMatchObject({ status: 400, code: "validation_failed", issues: [{ path: "group" }] });
  });

  it("the group cancel refuses a limit not in plain decimal digits (0x10, 1e2, ' 5', +5, 05): 400 naming it, nothing cancelled", async () => {
    // Prepare
    const f = fixture();
    const { body: pending } = await addTask(f.deps, { body: { ...body(60), content: { order_id: "o-7" } } });

    for (const limit of ["0x10", "1e2", " 5", "+5", "05"]) {
      // Act
      const error = await refusal(cancelGroup(f.deps, { topic: "demo", value: "o-7" }, { limit }));

      // Assess
      expect(error, limit).toMatchObject({
        status: 400,
        code: "validation_failed",
        issues: [{ path: "limit", message: expect.stringContaining("plain decimal digits") }],
      });
    }
    expect((await f.store.get(pending.task_id))?.status).toBe("scheduled");
  });

  it("the group cancel names an unknown topic as every route with the topic in its path names it (pause, resume, topic replay): 404 'no such topic \"nope\"'", async () => {
    // Prepare
    const f = fixture();

    // Act
    const error = await refusal(cancelGroup(f.deps, { topic: "nope", value: "o-7" }, {}));

    // Assess
    expect(error).toMatchObject({ status: 404, code: "not_found", message: 'no such topic "nope"' });
  });

  it("the group cancel checks its query before its path, as every route does: an unknown parameter beside an unknown topic is a 400 naming it, not a 404", async () => {
    // Prepare
    const f = fixture();

    // Act
    const error = await refusal(cancelGroup(f.deps, { topic: "nope", value: "o-7" }, { unknown: "1" }));

    // Assess
    expect(error).toMatchObject({ status: 400, code: "validation_failed", issues: [{ path: "unknown" }] });
  });

  it("the group cancel refuses another group's cursor (400, nothing cancelled) instead of skipping this group's first tasks", async () => {
    const f = fixture();
    const add = (order: string, delay: number) =>
      addTask(f.deps, { body: { ...body(delay), content: { order_id: order } } });
    const { body: a1 } = await add("o-a", 10);
    const { body: a2 } = await add("o-a", 20);
    await add("o-b", 30);
    await add("o-b", 40);
    // A script cancelling group after group that forgets to reset its cursor between them.
    const b = await cancelGroup(f.deps, { topic: "demo", value: "o-b" }, { limit: "1" });

    const error = await refusal(
      cancelGroup(f.deps, { topic: "demo", value: "o-a" }, { cursor: b.next_cursor ?? "" }),
    );

    expect(error).toMatchObject({ status: 400, code: "validation_failed" });
    expect(error.issues).toEqual([{ path: "cursor", message: expect.any(String) }]);
    expect((await f.store.get(a1.task_id))?.status).toBe("scheduled");
    expect((await f.store.get(a2.task_id))?.status).toBe("scheduled");
  });

  it("the group cancel refuses a cursor GET /v1/tasks gave out for the group (400, nothing cancelled) instead of skipping the tasks before it", async () => {
    // Prepare: a script that listed the group's first page, then cancels the group with the list's cursor
    const f = fixture();
    const add = (delay: number) =>
      addTask(f.deps, { body: { ...body(delay), content: { order_id: "o-l" } } });
    const { body: first } = await add(10);
    const { body: second } = await add(20);
    const listed = await listTasks(f.deps, { topic: "demo", group: "o-l", limit: "1" });

    // Act
    const error = await refusal(
      cancelGroup(f.deps, { topic: "demo", value: "o-l" }, { cursor: listed.next_cursor ?? "" }),
    );

    // Assess
    expect(error).toMatchObject({ status: 400, code: "validation_failed" });
    expect(error.issues).toEqual([{ path: "cursor", message: "not a cursor this list gave out" }]);
    expect((await f.store.get(first.task_id))?.status).toBe("scheduled");
    expect((await f.store.get(second.task_id))?.status).toBe("scheduled");
  });

  it("the group cancel goes on from a cursor an older release gave out (the key alone, no since)", async () => {
    // Prepare: a paged cancel's first call, its cursor as a release before `since` wrote it
    const f = fixture();
    const add = (delay: number) =>
      addTask(f.deps, { body: { ...body(delay), content: { order_id: "o-old" } } });
    const { body: first } = await add(10);
    const { body: second } = await add(20);
    const page = await cancelGroup(f.deps, { topic: "demo", value: "o-old" }, { limit: "1" });
    const { since: _since, ...key } = JSON.parse(Buffer.from(page.next_cursor ?? "", "base64url").toString());
    const older = Buffer.from(JSON.stringify(key)).toString("base64url");

    // Act
    const next = await cancelGroup(f.deps, { topic: "demo", value: "o-old" }, { cursor: older });

    // Assess
    expect(next).toMatchObject({ cancelled: 1, more: false, next_cursor: null });
    expect((await f.store.get(first.task_id))?.status).toBe("cancelled");
    expect((await f.store.get(second.task_id))?.status).toBe("cancelled");
  });

  it("the group cancel reports a task caught mid-move (rescheduled, its successor not yet settled) as not cancelled", async () => {
    const f = fixture();
    const group = { content: { order_id: "o-7" } };
    const { body: moving } = await addTask(f.deps, { body: { ...body(60), ...group } });
    const { body: waiting } = await addTask(f.deps, { body: { ...body(120), ...group } });
    // A reschedule still running, or stopped after its first write: the old item names its successor, which is not
    // written yet — the move (or the sweeper's repair) writes and arms it after this cancel.
    const key = f.store.keyOf(moving.task_id);
    const successor = makeTaskKey("demo", "o-7", NOW + 600_000, moving.task_id.split(".")[3] ?? "").taskId;
    await f.store.markRescheduled(moving.task_id, { to: successor, atMs: NOW, expiresAt: NOW + 1 });

    const answer = await cancelGroup(f.deps, { topic: "demo", value: "o-7" }, {});

    expect(key?.pk).toBe(f.store.keyOf(waiting.task_id)?.pk);
    expect(answer).toEqual({
      cancelled: 1,
      not_cancelled: [{ task_id: moving.task_id, status: "rescheduled", rescheduled_to: successor }],
      cancel_requested: [],
      more: false,
      next_cursor: null,
    });
    expect((await f.store.get(waiting.task_id))?.status).toBe("cancelled");
  });

  it("the group cancel cancels a queued task as DELETE does, and lists one whose attempt has started in cancel_requested", async () => {
    const f = fixture();
    const group = { content: { order_id: "o-4" } };
    const { body: started } = await addTask(f.deps, { body: { ...body(0), ...group } });
    const { body: queued } = await addTask(f.deps, { body: { ...body(0), ...group } });
    await f.store.markQueued(started.task_id, NOW);
    await f.store.startAttempt(started.task_id, NOW + 10);
    await f.store.markQueued(queued.task_id, NOW);

    const answer = await cancelGroup(f.deps, { topic: "demo", value: "o-4" }, {});

    expect(answer).toEqual({
      cancelled: 1,
      not_cancelled: [],
      cancel_requested: [{ task_id: started.task_id }],
      more: false,
      next_cursor: null,
    });
    expect((await f.store.get(queued.task_id))?.status).toBe("cancelled");
  });

  it("the group cancel leaves the group's dead-lettered tasks failed (it cancels scheduled ones only)", async () => {
    const f = fixture();
    const failedId = await deadLettered(f, "o-5");
    const { body: pending } = await addTask(f.deps, { body: { ...body(60), content: { order_id: "o-5" } } });

    await cancelGroup(f.deps, { topic: "demo", value: "o-5" }, {});

    expect((await f.store.get(pending.task_id))?.status).toBe("cancelled");
    expect((await f.store.get(failedId))?.status).toBe("failed");
    expect((await f.store.listFailed("demo", 10)).tasks.map((t) => t.taskId)).toEqual([failedId]);
  });

  it("a paged group cancel cancels a task added meanwhile after its cursor, and leaves one added before it (docs/API.md: stop the producer first)", async () => {
    // Prepare: three tasks of one group due in 1, 2 and 3 hours; the first call (one task a page) cancels the first
    const f = fixture();
    const group = { content: { order_id: "o-adds" } };
    for (const hours of [1, 2, 3]) await addTask(f.deps, { body: { ...body(hours * 3_600), ...group } });
    const first = await cancelGroup(f.deps, { topic: "demo", value: "o-adds" }, { limit: "1" });
    const { body: sooner } = await addTask(f.deps, { body: { ...body(600), ...group } });
    const { body: later } = await addTask(f.deps, { body: { ...body(4 * 3_600), ...group } });

    // Act: the calls go on from the cursor until the group is done
    let cursor = first.next_cursor;
    let cancelled = first.cancelled;
    while (cursor !== null) {
      const next = await cancelGroup(f.deps, { topic: "demo", value: "o-adds" }, { limit: "1", cursor });
      cancelled += next.cancelled;
      cursor = next.next_cursor;
    }

    // Assess: the one added after the cursor is cancelled, the one added before it is left scheduled
    expect(cancelled).toBe(4);
    expect((await f.store.get(later.task_id))?.status).toBe("cancelled");
    expect((await f.store.get(sooner.task_id))?.status).toBe("scheduled");
  });
});

/** Attempt 1 of `taskId` started and its failure recorded (with its log entry), as deliver records a 500. */
async function failedOnce(f: ReturnType<typeof fixture>, taskId: string) {
  await f.store.markQueued(taskId, NOW);
  const started = await f.store.startAttempt(taskId, NOW + 10);
  if (!started?.attemptSeq) throw new Error("attempt not started");
  await f.store.recordAttemptFailure(taskId, {
    error: "HTTP 500",
    atMs: NOW + 20,
    attemptSeq: started.attemptSeq,
    attempt: {
      seq: started.attemptSeq,
      startedAtMs: NOW + 10,
      durationMs: 10,
      status: 500,
      error: "HTTP 500",
    },
  });
  return started;
}
