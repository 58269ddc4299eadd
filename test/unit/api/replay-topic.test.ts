import { describe, expect, it } from "vitest";
import { retentionExpiry } from "#shared/domain/task.js";
import { replayTask } from "#shared/services/replay-task.js";
import { replayTopic } from "#shared/services/replay-topic.js";
import { makeTask } from "../../support/factories.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";
import { refusal } from "../../support/refusal.js";
import { NOW, testConfig } from "./fakes.js";

const QUEUE = "https://sqs.test/demo.fifo";

function setup() {
  const store = new MemoryTaskStore();
  const topicQueue = new FakeTopicQueue(() => NOW);
  // The replay runs after the failures the tests make (up to NOW + 10 s): a run replays what failed before it.
  const clock = { now: NOW + 60_000 };
  const deps = {
    store,
    topicQueue,
    topicQueues: { demo: QUEUE },
    now: () => clock.now,
    config: testConfig(),
  };
  return { store, topicQueue, deps, clock };
}

/**
 * A dead-lettered task of `group`, due at NOW + dueOffset, failed at `failedAtMs` with `error`, retained until
 * `expiresAt` (by default a day after it failed, as deliver writes it: retentionExpiry).
 */
async function failed(
  store: MemoryTaskStore,
  group: string,
  dueOffset: number,
  failedAtMs: number,
  error = "HTTP 500",
  expiresAt = retentionExpiry(failedAtMs, 1),
) {
  const task = makeTask({ group, dueAtMs: NOW + dueOffset, acceptedAtMs: NOW });
  await store.putNew(task);
  await store.startAttempt(task.taskId, NOW);
  await store.markFailed(task.taskId, { error, atMs: failedAtMs, expiresAt });
  return task;
}

/** Three dead-lettered tasks of group "a", in group order and failed in that order. */
async function threeInGroupA(store: MemoryTaskStore) {
  const tasks = [];
  for (let t = 1; t <= 3; t++) tasks.push(await failed(store, "a", t * 1_000, NOW + t));
  return tasks as [ReturnType<typeof makeTask>, ReturnType<typeof makeTask>, ReturnType<typeof makeTask>];
}

describe("replayTopic", () => {
  it("replays every dead-lettered task of the topic, each group's tasks in delivery order", async () => {
    const { store, topicQueue, deps } = setup();
    // Failed newest-last within group a, so the failed index order (newest first) is not the group order.
    const a2 = await failed(store, "a", 2_000, NOW + 1);
    const a1 = await failed(store, "a", 1_000, NOW + 3);
    const b1 = await failed(store, "b", 500, NOW + 2);

    const result = await replayTopic(deps, "demo", {});

    expect(result).toEqual({ matched: 3, replayed: 3, failed: [], next_cursor: null });
    const sentA = topicQueue.enqueued.filter((m) => m.groupId === a1.pk).map((m) => m.taskId);
    expect(sentA).toEqual([a1.taskId, a2.taskId]);
    expect(topicQueue.enqueued.filter((m) => m.groupId === b1.pk).map((m) => m.taskId)).toEqual([b1.taskId]);
    expect((await store.get(a1.taskId))?.status).toBe("queued");
  });

  it("filters by failure time and error text; dry_run only counts", async () => {
    const { store, topicQueue, deps } = setup();
    await failed(store, "a", 0, NOW + 10, "HTTP 500");
    const match = await failed(store, "b", 0, NOW + 20, "timeout after 5000 ms");
    await failed(store, "c", 0, NOW + 30, "timeout after 5000 ms");
    const filter = {
      failed_after: new Date(NOW + 15).toISOString(),
      failed_before: new Date(NOW + 25).toISOString(),
      error_contains: "timeout",
    };

    const dry = await replayTopic(deps, "demo", { ...filter, dry_run: true });
    const real = await replayTopic(deps, "demo", filter);

    expect(dry).toEqual({ matched: 1, replayed: 0, failed: [], next_cursor: null });
    expect(real).toEqual({ matched: 1, replayed: 1, failed: [], next_cursor: null });
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([match.taskId]);
  });

  it("reads the filter's times as due_at reads them: RFC 3339's lower-case t and z, and a leap second", async () => {
    const { store, topicQueue, deps } = setup();
    await failed(store, "a", 0, NOW + 10);
    const match = await failed(store, "b", 0, NOW + 20);
    await failed(store, "c", 0, NOW + 1_030);
    const lower = (ms: number) => new Date(ms).toISOString().toLowerCase();

    const result = await replayTopic(deps, "demo", {
      failed_after: lower(NOW + 15),
      failed_before: lower(NOW + 1_025),
    });

    expect(result).toEqual({ matched: 1, replayed: 1, failed: [], next_cursor: null });
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([match.taskId]);
    // A leap second (23:59:60 UTC) is the instant after it, as for due_at: accepted, not a 400.
    const leap = await replayTopic(deps, "demo", { failed_before: "2016-12-31t23:59:60z", dry_run: true });
    expect(leap).toMatchObject({ matched: 0, replayed: 0 });
  });

  it("reads a filter time with a sub-millisecond part as the next whole ms, as due_at: failed_after keeps out what failed before it, failed_before keeps in what failed before it", async () => {
    const { store, topicQueue, deps } = setup();
    await failed(store, "a", 0, NOW + 10);
    const b = await failed(store, "b", 0, NOW + 20);
    const c = await failed(store, "c", 0, NOW + 30);
    const halfPast = (ms: number) => new Date(ms).toISOString().replace("Z", "0005Z");

    const result = await replayTopic(deps, "demo", {
      failed_after: halfPast(NOW + 10),
      failed_before: halfPast(NOW + 30),
    });

    expect(result).toEqual({ matched: 2, replayed: 2, failed: [], next_cursor: null });
    expect(topicQueue.enqueued.map((m) => m.taskId).sort()).toEqual([b.taskId, c.taskId].sort());
  });

  it("by ids: reports the unknown, the unfinished and another topic's, and replays the rest", async () => {
    const { store, deps } = setup();
    const ok = await failed(store, "a", 0, NOW + 1);
    const waiting = makeTask({ group: "w", dueAtMs: NOW + 60_000, acceptedAtMs: NOW });
    await store.putNew(waiting);
    const other = makeTask({ topic: "small", dueAtMs: NOW, acceptedAtMs: NOW });

    const result = await replayTopic(deps, "demo", {
      task_ids: [ok.taskId, waiting.taskId, other.taskId, "nope"],
    });

    expect(result).toMatchObject({ matched: 1, replayed: 1 });
    expect(result.failed).toEqual([
      { task_id: waiting.taskId, reason: "status scheduled" },
      { task_id: other.taskId, reason: "not_found" },
      { task_id: "nope", reason: "not_found" },
    ]);
  });

  it("stops a group at a failed send, so a retry keeps its order", async () => {
    const { store, topicQueue, deps } = setup();
    const first = await failed(store, "a", 1_000, NOW + 1);
    const second = await failed(store, "a", 2_000, NOW + 2);
    topicQueue.failSends = true;

    const result = await replayTopic(deps, "demo", {});

    // The task whose send failed is dead-lettered again as it was (in the failed list, its TTL back), not left
    // `queued` without a message for the sweeper to find minutes later.
    expect(result.replayed).toBe(0);
    expect(result.failed).toEqual([
      { task_id: first.taskId, reason: expect.stringContaining("retry") },
      { task_id: second.taskId, reason: expect.stringContaining("retry") },
    ]);
    expect(await store.get(first.taskId)).toMatchObject({
      status: "failed",
      failedTopic: "demo",
      expiresAt: retentionExpiry(NOW + 1, 1),
    });
    expect((await store.get(first.taskId))?.sweepShard).toBeUndefined();
    expect((await store.get(second.taskId))?.status).toBe("failed");
  });

  it.each([
    ["the same filter", () => ({})],
    ["the same ids", (ids: string[]) => ({ task_ids: ids })],
  ])(
    "a retry after a failed send (%s) sends the group from the task whose send failed, before its followers",
    async (_name, body) => {
      const { store, topicQueue, deps } = setup();
      const first = await failed(store, "a", 1_000, NOW + 1);
      const second = await failed(store, "a", 2_000, NOW + 2);
      topicQueue.failSends = true;
      await replayTopic(deps, "demo", body([first.taskId, second.taskId]));
      topicQueue.failSends = false;

      const retry = await replayTopic(deps, "demo", body([first.taskId, second.taskId]));

      // Left `queued` without a message, the first would be sent by the sweeper only once its group looked stalled
      // (minutes later), after the retry had sent — and deliver had delivered — the second.
      expect(retry).toMatchObject({ matched: 2, replayed: 2, failed: [] });
      expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([first.taskId, second.taskId]);
    },
  );

  it("a send that failed but landed (its answer lost) is undone all the same: the message finds a failed task, and the retry's own send is not deduplicated away", async () => {
    const { store, topicQueue, deps } = setup();
    const first = await failed(store, "a", 1_000, NOW + 1);
    const second = await failed(store, "a", 2_000, NOW + 2);
    const send = topicQueue.sendReplay.bind(topicQueue);
    topicQueue.sendReplay = async (...args) => {
      await send(...args);
      throw new Error("socket hang up");
    };
    await replayTopic(deps, "demo", {});
    topicQueue.sendReplay = send;

    const retry = await replayTopic(deps, "demo", {});

    expect(retry).toMatchObject({ replayed: 2, failed: [] });
    // The lost send's message (dropped by deliver if it comes while the task is failed) and the retry's own.
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([first.taskId, first.taskId, second.taskId]);
    expect(await store.get(first.taskId)).toMatchObject({ status: "queued", replays: 2 });
  });

  it("a send that failed is not undone once its task has moved on (its lost send landed and an attempt started)", async () => {
    const { store, topicQueue, deps } = setup();
    const first = await failed(store, "a", 1_000, NOW + 1);
    const second = await failed(store, "a", 2_000, NOW + 2);
    const send = topicQueue.sendReplay.bind(topicQueue);
    topicQueue.sendReplay = async (...args) => {
      await send(...args);
      await store.startAttempt(first.taskId, NOW + 60_000);
      throw new Error("socket hang up");
    };

    const result = await replayTopic(deps, "demo", {});

    expect(result.replayed).toBe(1);
    expect(result.failed).toEqual([{ task_id: second.taskId, reason: expect.stringContaining("retry") }]);
    expect((await store.get(first.taskId))?.status).toBe("delivering");
  });

  it("a task cancelled between its mark and the revert of its failed send is not counted replayed: listed with its status", async () => {
    const { store, topicQueue, deps } = setup();
    const first = await failed(store, "a", 1_000, NOW + 1);
    const second = await failed(store, "a", 2_000, NOW + 2);
    topicQueue.sendReplay = async () => {
      // A cancel of the `queued` task, allowed until its attempt starts, lands before the replay's revert.
      await store.cancel(first.taskId, NOW + 60_000, retentionExpiry(NOW + 60_000, 1));
      throw new Error("socket hang up");
    };

    const result = await replayTopic(deps, "demo", {});

    expect(result).toMatchObject({ matched: 2, replayed: 0 });
    expect(result.failed).toEqual([
      { task_id: first.taskId, reason: expect.stringContaining("cancelled") },
      { task_id: second.taskId, reason: expect.stringContaining("retry") },
    ]);
    expect((await store.get(first.taskId))?.status).toBe("cancelled");
    expect((await store.get(second.taskId))?.status).toBe("failed");
  });

  it("a storage error midway answers what was replayed before it, and a repeat replays only the rest, none twice", async () => {
    const { store, topicQueue, deps } = setup();
    for (let g = 0; g < 20; g++)
      for (let t = 0; t < 3; t++) await failed(store, `g${g}`, t * 1_000, NOW + 1 + t);
    // The 10th mark fails as DynamoDB does past the SDK's retries (a 5xx); groups are in flight side by side.
    const markReplayed = store.markReplayed.bind(store);
    let marks = 0;
    store.markReplayed = async (...args) => {
      if (++marks === 10)
        throw Object.assign(new Error("internal server error"), {
          name: "InternalServerError",
          $fault: "server",
          $metadata: { httpStatusCode: 500, attempts: 3 },
        });
      return markReplayed(...args);
    };

    const error = await refusal(replayTopic(deps, "demo", {}));
    const replayedBefore = topicQueue.enqueued.length;
    // Let anything still pending settle: a group going on after the answer would show here.
    await new Promise((resolve) => setImmediate(resolve));
    expect(topicQueue.enqueued).toHaveLength(replayedBefore);
    store.markReplayed = markReplayed;
    const repeat = await replayTopic(deps, "demo", {});

    // The answer says how many were replayed (every one that was, counted when the call answered) and that a
    // repeat is safe; no group went on after the failure was answered.
    expect(error).toMatchObject({ status: 503, code: "service_unavailable" });
    expect(error.toBody().error).toMatchObject({ matched: 60, replayed: replayedBefore });
    expect(error.message).toContain(`${replayedBefore} of the 60 matched tasks were replayed`);
    expect(error.message).toMatch(/not replayed again/);
    expect(replayedBefore).toBeGreaterThan(0);
    expect(replayedBefore).toBeLessThan(60);
    // The repeat replays exactly the rest, each task once, each group in order.
    expect(repeat.replayed).toBe(60 - replayedBefore);
    const sent = topicQueue.enqueued.map((m) => m.taskId);
    expect(new Set(sent).size).toBe(60);
    expect(sent).toHaveLength(60);
  });

  it("a mark that failed after it landed (a 5xx whose write was applied) has its task sent before the call answers: a repeat by filter, which cannot see it (it left the failed index), would otherwise send its group's later tasks first", async () => {
    // Prepare
    const { store, topicQueue, deps } = setup();
    const [a1, a2, a3] = await threeInGroupA(store);
    const markReplayed = store.markReplayed.bind(store);
    store.markReplayed = async (id, ...rest) => {
      const outcome = await markReplayed(id, ...rest);
      if (id !== a2.taskId) return outcome;
      throw Object.assign(new Error("internal server error"), {
        name: "InternalServerError",
        $fault: "server",
        $metadata: { httpStatusCode: 500, attempts: 3 },
      });
    };

    // Act
    const error = await refusal(replayTopic(deps, "demo", {}));
    store.markReplayed = markReplayed;
    const repeat = await replayTopic(deps, "demo", {});

    // Assess: the first call counts what it sent (a2 included); the repeat sends a3 after it.
    expect(error).toMatchObject({ status: 503 });
    expect(error.toBody().error).toMatchObject({ matched: 3, replayed: 2 });
    expect(repeat).toMatchObject({ matched: 1, replayed: 1 });
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([a1.taskId, a2.taskId, a3.taskId]);
  });

  it("a mark that failed and did not land leaves its task failed and unsent: the read-back finds nothing to send", async () => {
    // Prepare
    const { store, topicQueue, deps } = setup();
    const [a1, a2, a3] = await threeInGroupA(store);
    const markReplayed = store.markReplayed.bind(store);
    store.markReplayed = async (id, ...rest) => {
      if (id === a2.taskId) throw Object.assign(new Error("timed out"), { name: "TimeoutError" });
      return markReplayed(id, ...rest);
    };

    // Act
    await refusal(replayTopic(deps, "demo", {}));
    store.markReplayed = markReplayed;
    await replayTopic(deps, "demo", {});

    // Assess
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([a1.taskId, a2.taskId, a3.taskId]);
    expect((await store.get(a2.taskId))?.replays).toBe(1);
  });

  it("a mark that failed and did not land, while another replay (a second call, an operator) marked and sent the task, whose read-back send then fails: the other replay's 200 holds (the task stays queued with its message), it is not reverted to failed", async () => {
    // Prepare: a2's mark times out without landing; meanwhile a replay of a2 alone, a few ms earlier on its own
    // clock, marks and sends it and answers 200. Then SQS refuses this call's send.
    const { store, topicQueue, deps, clock } = setup();
    const [, a2] = await threeInGroupA(store);
    const other = { ...deps, now: () => clock.now - 5 };
    let otherView: unknown;
    const markReplayed = store.markReplayed.bind(store);
    store.markReplayed = async (id, ...rest) => {
      if (id !== a2.taskId) return markReplayed(id, ...rest);
      store.markReplayed = markReplayed;
      otherView = await replayTask(other, a2.taskId);
      topicQueue.failSends = true;
      throw Object.assign(new Error("timed out"), { name: "TimeoutError" });
    };

    // Act
    const error = await refusal(replayTopic(deps, "demo", {}));

    // Assess: the other call's replay is in place: queued, its message in the queue
    expect(error).toMatchObject({ status: 503 });
    expect(otherView).toMatchObject({ task_id: a2.taskId, status: "queued" });
    expect(topicQueue.idsIn(QUEUE)).toContain(a2.taskId);
    expect((await store.get(a2.taskId))?.status).toBe("queued");
  });

  it("stops between tasks before the function's deadline and answers what was replayed: one hot group's 1,000 dead letters, one after another, outlast the API function's 10 s", async () => {
    const { store, topicQueue, deps } = setup();
    const tasks = [];
    for (let t = 0; t < 6; t++) tasks.push(await failed(store, "hot", t * 1_000, NOW + 1 + t));
    // Each mark and send takes 2 s of the invocation's 10 s; the run must not be cut (and frozen) mid-group.
    let remaining = 10_000;
    const markReplayed = store.markReplayed.bind(store);
    store.markReplayed = async (...args) => {
      remaining -= 2_000;
      return markReplayed(...args);
    };

    const error = await refusal(replayTopic({ ...deps, remainingMs: () => remaining }, "demo", {}));
    const sentFirst = topicQueue.enqueued.map((m) => m.taskId);
    // Every task marked was sent (none left `queued` without a message); the rest are still failed.
    const left = tasks.slice(sentFirst.length);
    const statuses = await Promise.all(left.map(async (t) => (await store.get(t.taskId))?.status));
    remaining = 10_000;
    const repeat = await replayTopic({ ...deps, remainingMs: () => remaining }, "demo", {});

    expect(error).toMatchObject({ status: 503, code: "service_unavailable" });
    expect(error.toBody().error).toMatchObject({ matched: 6, replayed: sentFirst.length });
    expect(error.message).toMatch(/ran out of time after \d+ of the 6 matched tasks were replayed/);
    expect(sentFirst.length).toBeGreaterThan(0);
    expect(sentFirst.length).toBeLessThan(6);
    expect(statuses).toEqual(left.map(() => "failed"));
    // The repeat goes on from there, in order.
    expect(repeat).toMatchObject({
      matched: 6 - sentFirst.length,
      replayed: 6 - sentFirst.length,
      failed: [],
    });
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual(tasks.map((t) => t.taskId));
  });

  it("reads at most 1,000 dead-lettered tasks per call, and answers a cursor even when none of them matched", async () => {
    const { store, topicQueue, deps } = setup();
    // The newest failure is the only match (the scan reads oldest first): a selective filter over a long list.
    for (let i = 0; i < 2_400; i++) await failed(store, `g${i}`, 0, NOW + 10 + i);
    const match = await failed(store, "new", 0, NOW + 10_000, "timeout after 5000 ms");
    const listFailed = store.listFailed.bind(store);
    let read = 0;
    const counting = Object.assign(Object.create(store) as MemoryTaskStore, {
      listFailed: async (...args: Parameters<MemoryTaskStore["listFailed"]>) => {
        const page = await listFailed(...args);
        read += page.tasks.length;
        return page;
      },
    });
    const filter = { error_contains: "timeout" };

    const calls: { matched: number; replayed: number; read: number }[] = [];
    let cursor: string | undefined;
    do {
      read = 0;
      const answer = await replayTopic({ ...deps, store: counting }, "demo", {
        ...filter,
        ...(cursor ? { cursor } : {}),
      });
      calls.push({ matched: answer.matched, replayed: answer.replayed, read });
      cursor = answer.next_cursor ?? undefined;
    } while (cursor);

    expect(calls).toEqual([
      { matched: 0, replayed: 0, read: 1_000 },
      { matched: 0, replayed: 0, read: 1_000 },
      { matched: 1, replayed: 1, read: 401 },
    ]);
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([match.taskId]);
  });

  it("a group whose dead letters span two calls is replayed in its order across them (the CLI and console follow the cursor)", async () => {
    // Prepare: group a's head failed first and its follower last (the head blocks it until dead-lettered), with
    // 1,000 other groups' failures in between: more than one call reads.
    const { store, topicQueue, deps } = setup();
    const a1 = await failed(store, "a", 1_000, NOW + 1);
    for (let i = 0; i < 1_000; i++) await failed(store, `g${i}`, 0, NOW + 10 + i);
    const a2 = await failed(store, "a", 2_000, NOW + 5_000);

    // Act: every page, as `npx punctual topics replay demo` walks them
    let cursor: string | undefined;
    let calls = 0;
    do {
      const answer = await replayTopic(deps, "demo", cursor ? { cursor } : {});
      cursor = answer.next_cursor ?? undefined;
      calls++;
    } while (cursor);

    // Assess
    expect(calls).toBe(2);
    expect(topicQueue.enqueued).toHaveLength(1_002);
    const sentA = topicQueue.enqueued.filter((m) => m.groupId === a1.pk).map((m) => m.taskId);
    expect(sentA).toEqual([a1.taskId, a2.taskId]);
  });

  it("a group stopped by a failed send is not overtaken by its later dead letters on the run's next call: the cursor resumes before the task left behind", async () => {
    // Prepare: group a's head, then a page's worth of other groups' dead letters, then a's follower; the head's
    // first send fails
    const { store, topicQueue, deps } = setup();
    const head = await failed(store, "a", 1_000, NOW + 1);
    for (let i = 0; i < 1_000; i++) await failed(store, `g${i}`, 0, NOW + 10 + i);
    const follower = await failed(store, "a", 2_000, NOW + 5_000);
    const send = topicQueue.sendReplay.bind(topicQueue);
    let headSends = 0;
    topicQueue.sendReplay = async (queueUrl, groupId, taskId, dedupId) => {
      if (taskId === head.taskId && headSends++ === 0) throw new Error("ServiceUnavailable");
      return send(queueUrl, groupId, taskId, dedupId);
    };

    // Act: the run, page after page
    const first = await replayTopic(deps, "demo", {});
    const second = await replayTopic(deps, "demo", { cursor: String(first.next_cursor) });

    // Assess
    expect(first).toMatchObject({ replayed: 999, failed: [{ task_id: head.taskId }] });
    expect(second).toMatchObject({ matched: 3, replayed: 3, failed: [], next_cursor: null });
    const sentA = topicQueue.enqueued.filter((m) => m.groupId === head.pk).map((m) => m.taskId);
    expect(sentA).toEqual([head.taskId, follower.taskId]);
  });

  it("a run replays what had failed when it started: a task dead-lettered again while the run pages (oldest first) is not replayed twice by it", async () => {
    // Prepare: 1,001 dead letters, so the run takes two calls.
    const { store, topicQueue, deps, clock } = setup();
    const head = await failed(store, "h", 0, NOW + 1);
    for (let i = 0; i < 1_000; i++) await failed(store, `g${i}`, 0, NOW + 10 + i);
    const first = await replayTopic(deps, "demo", {});

    // Act: the head, replayed by the first call, fails again; then the run goes on with its cursor.
    clock.now += 60_000;
    await store.startAttempt(head.taskId, clock.now - 1_000);
    await store.markFailed(head.taskId, {
      error: "HTTP 500",
      atMs: clock.now - 1_000,
      expiresAt: retentionExpiry(clock.now - 1_000, 1),
    });
    const second = await replayTopic(deps, "demo", { cursor: String(first.next_cursor) });
    const fresh = await replayTopic(deps, "demo", {});

    // Assess: the run (two calls) replayed each task once; a new run takes the new dead letter.
    expect(first).toMatchObject({ replayed: 1_000, next_cursor: expect.any(String) });
    expect(second).toMatchObject({ replayed: 1, next_cursor: null });
    expect(topicQueue.enqueued.filter((m) => m.taskId === head.taskId)).toHaveLength(2);
    expect(fresh).toMatchObject({ matched: 1, replayed: 1 });
  });

  it("a cursor belongs to its filter: another filter's (a dry run's kept by a script) is a 400 that replays nothing", async () => {
    const { store, topicQueue, deps } = setup();
    // The newest failure times out; 1,000 older ones fail with HTTP 500, so the timeout filter needs a second call.
    for (let i = 0; i < 1_000; i++) await failed(store, `g${i}`, 0, NOW + 10 + i);
    const timeout = await failed(store, "new", 0, NOW + 10_000, "timeout after 5000 ms");
    const dry = await replayTopic(deps, "demo", { error_contains: "HTTP 500", dry_run: true });
    expect(dry).toMatchObject({ matched: 1_000, next_cursor: expect.any(String) });

    const other = await refusal(
      replayTopic(deps, "demo", { error_contains: "timeout", cursor: String(dry.next_cursor) }),
    );
    const unfiltered = await refusal(replayTopic(deps, "demo", { cursor: String(dry.next_cursor) }));
    // The filter's own cursor goes on, handing the store the list's key only (DynamoDB refuses unknown attributes).
    const listFailed = store.listFailed.bind(store);
    const startKeys: unknown[] = [];
    const recording = Object.assign(Object.create(store) as MemoryTaskStore, {
      listFailed: (...args: Parameters<MemoryTaskStore["listFailed"]>) => {
        startKeys.push(args[2]);
        return listFailed(...args);
      },
    });
    const same = await replayTopic({ ...deps, store: recording }, "demo", {
      error_contains: "HTTP 500",
      dry_run: true,
      cursor: String(dry.next_cursor),
    });

    for (const error of [other, unfiltered]) {
      expect(error).toMatchObject({ status: 400, code: "validation_failed", issues: [{ path: "cursor" }] });
    }
    expect(same).toMatchObject({ matched: 0, next_cursor: null });
    expect(Object.keys(startKeys[0] as object).sort()).toEqual(["failedAtMs", "failedTopic", "pk", "sk"]);
    expect(topicQueue.calls).toEqual([]);
    expect((await store.get(timeout.taskId))?.status).toBe("failed");
  });

  it("a cursor belongs to its topic: another topic's run-start cursor (a failed send on its first task) is a 400 that replays nothing", async () => {
    // Prepare: demo's run stops at a failed send on its very first task: its cursor is the run's start (filter and
    // start time alone); later, `small` has a dead letter of its own
    const { store, topicQueue, deps, clock } = setup();
    await failed(store, "a", 1_000, NOW + 1);
    topicQueue.failSends = true;
    const stopped = await replayTopic(deps, "demo", {});
    topicQueue.failSends = false;
    expect(stopped).toMatchObject({ replayed: 0, next_cursor: expect.any(String) });
    clock.now += 60_000;
    const other = makeTask({ topic: "small", dueAtMs: NOW, acceptedAtMs: NOW });
    await store.putNew(other);
    await store.startAttempt(other.taskId, NOW);
    await store.markFailed(other.taskId, {
      error: "HTTP 500",
      atMs: clock.now - 1,
      expiresAt: retentionExpiry(clock.now, 1),
    });
    const both = { ...deps, topicQueues: { demo: QUEUE, small: "https://sqs.test/small.fifo" } };

    // Act: demo's cursor sent to small's replay (a script looping over topics with one variable)
    const error = await refusal(replayTopic(both, "small", { cursor: String(stopped.next_cursor) }));

    // Assess: refused as any cursor this run did not give out. Before, it was read as small's run started when
    // demo's had: small's dead letter, failed since, was passed over and the answer said `next_cursor: null`.
    expect(error).toMatchObject({ status: 400, code: "validation_failed", issues: [{ path: "cursor" }] });
    expect((await store.get(other.taskId))?.status).toBe("failed");
    expect(topicQueue.calls).toEqual(
      topicQueue.calls.filter((c) => !JSON.stringify(c).includes(other.taskId)),
    );
  });

  it("a run-start cursor given out before it named its topic still resumes its run", async () => {
    // Prepare: demo's run stopped at a failed send on its first task; its cursor as releases before 2026-12-06 wrote it
    const { store, topicQueue, deps } = setup();
    const head = await failed(store, "a", 1_000, NOW + 1);
    topicQueue.failSends = true;
    const stopped = await replayTopic(deps, "demo", {});
    topicQueue.failSends = false;
    const { topic, ...older } = JSON.parse(Buffer.from(String(stopped.next_cursor), "base64url").toString());
    expect(topic).toBe("demo");

    // Act
    const resumed = await replayTopic(deps, "demo", {
      cursor: Buffer.from(JSON.stringify(older)).toString("base64url"),
    });

    // Assess
    expect(resumed).toMatchObject({ matched: 1, replayed: 1, next_cursor: null });
    expect((await store.get(head.taskId))?.status).toBe("queued");
  });

  /**
   * The bulk replay's first `times` marks of `headId` met by an operator's single replay of it: the single replay
   * marks it as the bulk's write arrives (refused: a conflict), then undoes its mark (its send failed).
   */
  async function singleReplayMarksAndUndoes(store: MemoryTaskStore, headId: string, times: number) {
    const before = await store.get(headId);
    const mark = store.markReplayed.bind(store);
    let interfered = 0;
    store.markReplayed = async (...args) => {
      if (interfered >= times || args[0] !== headId) return mark(...args);
      interfered++;
      await mark(headId, NOW + 5); // the single replay's mark
      const refused = await mark(...args); // the bulk replay's, refused
      await store.revertReplay(headId, {
        replays: interfered,
        attempts: before?.attempts ?? 0,
        expiresAt: before?.expiresAt ?? 0,
        status: "failed",
      }); // the single replay's undoing
      expect(refused.outcome).toBe("conflict");
      const now = await store.get(headId);
      return now ? { outcome: "conflict", task: now } : { outcome: "not-found" };
    };
  }

  it("a single replay of a group's head marked and undone (its send failed) between the bulk replay's write and its read: the head is replayed, before its follower", async () => {
    // Prepare: group a's head and follower dead-lettered; an operator's single replay of the head marks it as the
    // bulk replay's write for it arrives (refused), then undoes its mark (its send failed) before the bulk reads why
    const { store, topicQueue, deps } = setup();
    const head = await failed(store, "a", 1_000, NOW + 1);
    const follower = await failed(store, "a", 2_000, NOW + 2);
    await singleReplayMarksAndUndoes(store, head.taskId, 1);

    // Act
    const result = await replayTopic(deps, "demo", {});

    // Assess: both replayed, the head first. Before, the head was listed `status failed` and left dead-lettered
    // while its follower was sent: delivered ahead of it.
    expect(result).toMatchObject({ matched: 2, replayed: 2, failed: [] });
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([head.taskId, follower.taskId]);
  });

  it("…and refused so twice: the head stays dead-lettered and its follower is not sent ahead of it (its group stops there)", async () => {
    // Prepare: group a's head and follower dead-lettered; an operator's single replay of the head marks it as the
    // bulk replay's write for it arrives (refused), then undoes its mark (its send failed) before the bulk reads why
    const { store, topicQueue, deps } = setup();
    const head = await failed(store, "a", 1_000, NOW + 1);
    const follower = await failed(store, "a", 2_000, NOW + 2);
    await singleReplayMarksAndUndoes(store, head.taskId, 2);

    // Act
    const result = await replayTopic(deps, "demo", {});

    // Assess: nothing of the group sent; both listed, so the retry replays the group from its head
    expect(result).toMatchObject({ matched: 2, replayed: 0 });
    expect(result.failed.map((f) => f.task_id)).toEqual([head.taskId, follower.taskId]);
    expect(topicQueue.enqueued).toEqual([]);
    expect((await store.get(follower.taskId))?.status).toBe("failed");
  });

  /** The concurrent replay that got there first, and the delivery of its copy: the task now reads `delivered`. */
  async function replayedAndDelivered(store: MemoryTaskStore, taskId: string) {
    await store.markReplayed(taskId, NOW + 5);
    await store.startAttempt(taskId, NOW + 6);
    const atMs = NOW + 7;
    await store.markDelivered(taskId, {
      atMs,
      latenessMs: 0,
      deliveryLatencyMs: 1,
      expiresAt: retentionExpiry(atMs, 1),
    });
  }

  it("does not replay a listed task that another replay has meanwhile delivered (the failed index lags)", async () => {
    const { store, topicQueue, deps } = setup();
    const task = await failed(store, "a", 0, NOW + 1);
    // The failed index is eventually consistent, and a concurrent bulk replay (a retry, a second operator) reads
    // the same page: by the time this call marks the task, the other replay has delivered it.
    const listFailed = store.listFailed.bind(store);
    const lagging = Object.assign(Object.create(store) as MemoryTaskStore, {
      listFailed: async (...args: Parameters<MemoryTaskStore["listFailed"]>) => {
        const page = await listFailed(...args);
        await replayedAndDelivered(store, task.taskId);
        return page;
      },
    });

    const result = await replayTopic({ ...deps, store: lagging }, "demo", {});

    expect(result).toMatchObject({
      replayed: 0,
      failed: [{ task_id: task.taskId, reason: "status delivered" }],
    });
    expect(topicQueue.enqueued).toEqual([]);
    expect((await store.get(task.taskId))?.status).toBe("delivered");
  });

  it("stops a group at a task another replay has just marked, whose send may not have gone yet: that replay carries the group on", async () => {
    const { store, topicQueue, deps } = setup();
    const [a1, a2, a3] = await threeInGroupA(store);
    // A second bulk replay (a second operator) marks a2 just before this one does, and sends it a moment later.
    const markReplayed = store.markReplayed.bind(store);
    store.markReplayed = async (id, ...rest) => {
      if (id === a2.taskId) await markReplayed(id, NOW + 60_000, { onlyFailed: true });
      return markReplayed(id, ...rest);
    };

    const result = await replayTopic(deps, "demo", {});

    // Going on, this call sent a3 ahead of a2, whose message the other call had not sent yet. It sends a2 itself
    // under that replay's dedup id (the other call's send is then dropped by SQS), and stops the group there.
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([a1.taskId, a2.taskId]);
    expect(result).toMatchObject({ matched: 3, replayed: 1 });
    expect(result.failed).toEqual([
      { task_id: a2.taskId, reason: "status queued" },
      { task_id: a3.taskId, reason: expect.stringContaining("another call") },
    ]);
    expect((await store.get(a3.taskId))?.status).toBe("failed");
  });

  it("a mark whose answer was lost (the SDK's retry then finds the task queued) still has its task sent, before the group stops there", async () => {
    const { store, topicQueue, deps } = setup();
    const [a1, a2, a3] = await threeInGroupA(store);
    // DynamoDB applied the write, its answer was lost, and the SDK's retry was refused by the condition: the
    // store answers a conflict (status queued) for the replay this very call made.
    const markReplayed = store.markReplayed.bind(store);
    store.markReplayed = async (id, ...rest) => {
      if (id !== a2.taskId) return markReplayed(id, ...rest);
      await markReplayed(id, ...rest);
      return markReplayed(id, ...rest);
    };

    const result = await replayTopic(deps, "demo", {});

    // Not sent, a2 would wait minutes for the sweeper while a repeat sent a3 at once.
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([a1.taskId, a2.taskId]);
    expect(result.failed).toEqual([
      { task_id: a2.taskId, reason: "status queued" },
      { task_id: a3.taskId, reason: expect.stringContaining("another call") },
    ]);
  });

  it("skips a dead letter past its retention that TTL has not removed yet, by ids and by filter, listing it with why", async () => {
    const { store, topicQueue, deps, clock } = setup();
    const kept = await failed(store, "a", 0, NOW + 1);
    // Its retention (1 day) ended an hour ago, but DynamoDB's TTL deletes lazily: still stored, still listed.
    const expired = await failed(store, "b", 0, NOW + 2, "HTTP 500", Math.floor(NOW / 1000) - 3_600);
    const reason = expect.stringMatching(/retention ended/);

    const dryByIds = await replayTopic(deps, "demo", {
      task_ids: [expired.taskId, kept.taskId],
      dry_run: true,
    });
    const byFilter = await replayTopic(deps, "demo", { dry_run: true });
    const byIds = await replayTopic(deps, "demo", { task_ids: [expired.taskId, kept.taskId] });
    clock.now += 1;

    expect(dryByIds).toEqual({
      matched: 1,
      replayed: 0,
      failed: [{ task_id: expired.taskId, reason }],
      next_cursor: null,
    });
    expect(byFilter).toEqual({
      matched: 1,
      replayed: 0,
      failed: [{ task_id: expired.taskId, reason }],
      next_cursor: null,
    });
    expect(byIds).toEqual({
      matched: 1,
      replayed: 1,
      failed: [{ task_id: expired.taskId, reason }],
      next_cursor: null,
    });
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([kept.taskId]);
    expect((await store.get(expired.taskId))?.status).toBe("failed");
  });

  it("a task whose retention ends between its read and its mark is not replayed either, and listed with why", async () => {
    const { store, topicQueue, deps, clock } = setup();
    const task = await failed(store, "a", 0, NOW + 1);
    const expiresAt = (await store.get(task.taskId))?.expiresAt as number;
    const listFailed = store.listFailed.bind(store);
    store.listFailed = async (...args) => {
      const page = await listFailed(...args);
      clock.now = expiresAt * 1000 + 1_000;
      return page;
    };

    const result = await replayTopic(deps, "demo", {});

    expect(result).toMatchObject({
      matched: 1,
      replayed: 0,
      failed: [{ task_id: task.taskId, reason: expect.stringMatching(/retention ended/) }],
    });
    expect(topicQueue.enqueued).toEqual([]);
  });

  it("by ids: reads the named tasks in batches of 100 (BatchGetItem), answering in the order they were named: 1,000 GetItems, 16 at a time, took seconds of the API function's 10", async () => {
    const { store, deps } = setup();
    const named = [];
    for (let g = 0; g < 250; g++) named.push(await failed(store, `g${g}`, 0, NOW + 1));
    const reads = { many: [] as number[], one: 0 };
    const readMany = store.readMany.bind(store);
    store.readMany = async (ids) => {
      reads.many.push(ids.length);
      return readMany(ids);
    };
    const get = store.get.bind(store);
    store.get = async (id) => {
      reads.one++;
      return get(id);
    };

    const result = await replayTopic(deps, "demo", {
      task_ids: ["demo:nope-1", ...named.map((t) => t.taskId), "demo:nope-2"],
      dry_run: true,
    });

    // 252 ids: ⌈252 / 100⌉ calls, each of at most 100 keys, and no GetItem.
    expect(reads.many).toHaveLength(3);
    expect(Math.max(...reads.many)).toBeLessThanOrEqual(100);
    expect(reads.one).toBe(0);
    expect(result).toMatchObject({ matched: 250, replayed: 0 });
    expect(result.failed).toEqual([
      { task_id: "demo:nope-1", reason: "not_found" },
      { task_id: "demo:nope-2", reason: "not_found" },
    ]);
  });

  it("by ids: keys a batch read left unprocessed (or a read that failed) are read again, and their tasks replayed", async () => {
    const { store, topicQueue, deps } = setup();
    const [a1, a2, a3] = await threeInGroupA(store);
    store.failNextBatchCall = "readMany";
    // Unprocessed on every try: read one by one at the end (a GetItem surfaces the table's error, if any).
    store.unreadIds.add(a2.taskId);

    const result = await replayTopic(deps, "demo", { task_ids: [a3.taskId, a2.taskId, a1.taskId] });

    expect(store.batchCalls.readMany).toBeGreaterThan(1);
    expect(result).toEqual({ matched: 3, replayed: 3, failed: [], next_cursor: null });
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([a1.taskId, a2.taskId, a3.taskId]);
  });

  it("by ids: reading 1,000 named fan-out tasks' copies (up to 10,000) stops before the function's deadline, as the replay does, with nothing replayed", async () => {
    const { store, topicQueue, deps } = setup();
    const parents = [];
    for (let p = 0; p < 5; p++) {
      const copies = [];
      for (let c = 0; c < 100; c++) copies.push(await failed(store, `p${p}c${c}`, 0, NOW + 1));
      const links = copies.map((copy, c) => ({
        subscriber: `s${c}`,
        taskId: copy.taskId,
        url: "https://s.test/",
      }));
      const parent = makeTask({ group: `p${p}`, dueAtMs: NOW, acceptedAtMs: NOW, fanOut: links });
      await store.putNew(parent);
      parents.push(parent);
    }
    // Each batch read takes 2 s of the invocation's 10 s: the named parents' read, then the copies', 100 a call.
    let remaining = 10_000;
    const readMany = store.readMany.bind(store);
    store.readMany = async (ids) => {
      remaining -= 2_000;
      return readMany(ids);
    };
    const named = { task_ids: parents.map((p) => p.taskId) };

    const error = await refusal(replayTopic({ ...deps, remainingMs: () => remaining }, "demo", named));
    const reads = store.batchCalls.readMany;
    const sentFirst = topicQueue.enqueued.length;
    const statuses = new Set(
      await Promise.all(
        parents.flatMap((p) => p.fanOut ?? []).map(async (l) => (await store.get(l.taskId))?.status),
      ),
    );
    remaining = 1_000_000;
    const repeat = await replayTopic({ ...deps, remainingMs: () => remaining }, "demo", named);

    expect(error).toMatchObject({ status: 503, code: "service_unavailable" });
    expect(error.toBody().error).toMatchObject({ replayed: 0 });
    expect(error.message).toMatch(/ran out of time/);
    expect(error.message).toMatch(/repeating the same request/);
    expect(reads).toBeLessThan(6);
    // Nothing marked, nothing sent: a repeat with time replays every copy.
    expect(sentFirst).toBe(0);
    expect([...statuses]).toEqual(["failed"]);
    expect(repeat).toMatchObject({ matched: 500, replayed: 500, failed: [] });
  });

  it("by ids: a named task another replay has marked (queued) holds back the named tasks after it in its group", async () => {
    const { store, topicQueue, deps } = setup();
    const [a1, a2, a3] = await threeInGroupA(store);
    await store.markReplayed(a2.taskId, NOW + 50_000, { onlyFailed: true });

    const result = await replayTopic(deps, "demo", { task_ids: [a3.taskId, a2.taskId, a1.taskId] });

    // a2, marked within SQS's dedup window and not started, is sent under its replay's dedup id (dropped by SQS if
    // that replay's own send went), so it need not wait minutes for the sweeper; a3 still waits behind it.
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([a1.taskId, a2.taskId]);
    expect(result).toMatchObject({ matched: 2, replayed: 1 });
    expect(result.failed).toEqual([
      { task_id: a2.taskId, reason: "status queued" },
      { task_id: a3.taskId, reason: expect.stringContaining("another call") },
    ]);
  });

  it("by ids: two named tasks of one group another replay has marked are each listed once, with their own status", async () => {
    const { store, topicQueue, deps } = setup();
    const [a1, a2, a3] = await threeInGroupA(store);
    await store.markReplayed(a2.taskId, NOW + 50_000, { onlyFailed: true });
    await store.markReplayed(a3.taskId, NOW + 50_001, { onlyFailed: true });

    const result = await replayTopic(deps, "demo", { task_ids: [a3.taskId, a2.taskId, a1.taskId] });

    // a3 was listed as `status queued` already: listing it again as held back by a2 said it twice.
    expect(topicQueue.enqueued.map((m) => m.taskId)).toEqual([a1.taskId, a2.taskId]);
    expect(result).toMatchObject({ matched: 1, replayed: 1 });
    expect(result.failed).toEqual([
      { task_id: a3.taskId, reason: "status queued" },
      { task_id: a2.taskId, reason: "status queued" },
    ]);
  });

  it("by ids: does not replay a task delivered by another replay between its read and its mark", async () => {
    const { store, topicQueue, deps } = setup();
    const task = await failed(store, "a", 0, NOW + 1);
    const readMany = store.readMany.bind(store);
    const racing = Object.assign(Object.create(store) as MemoryTaskStore, {
      readMany: async (ids: readonly string[]) => {
        const read = await readMany(ids);
        if (ids.includes(task.taskId)) await replayedAndDelivered(store, task.taskId);
        return read;
      },
    });

    const result = await replayTopic({ ...deps, store: racing }, "demo", { task_ids: [task.taskId] });

    expect(result).toMatchObject({
      replayed: 0,
      failed: [{ task_id: task.taskId, reason: "status delivered" }],
    });
    expect(topicQueue.enqueued).toEqual([]);
  });

  it.each([
    ["an unknown topic", "nope"],
    ["an empty topic", ""],
    ["another topic's name in another case", "DEMO"],
  ])(
    "answers 404 not_found for %s, as every route with the topic in its path does, replaying nothing",
    async (_name, topic) => {
      const { store, deps, topicQueue } = setup();
      const task = await failed(store, "a", 0, NOW + 1);

      const error = await refusal(replayTopic(deps, topic, {}));

      expect(error).toMatchObject({ status: 404, code: "not_found" });
      expect(topicQueue.calls).toEqual([]);
      expect((await store.get(task.taskId))?.status).toBe("failed");
    },
  );

  it.each([
    ["ids and a filter", "demo", { task_ids: ["x"], error_contains: "y" }, "validation_failed"],
    [
      "too many ids",
      "demo",
      { task_ids: Array.from({ length: 1_001 }, (_, i) => `t${i}`) },
      "validation_failed",
    ],
    ["a bad time", "demo", { failed_after: "yesterday" }, "validation_failed"],
    [
      "failed_before not after failed_after (an empty range, a dry run would answer matched 0)",
      "demo",
      { failed_after: "2026-11-23T12:00:00Z", failed_before: "2026-11-23T11:00:00Z", dry_run: true },
      "validation_failed",
    ],
    [
      "failed_before equal to failed_after, written with another offset",
      "demo",
      { failed_after: "2026-11-23T12:00:00Z", failed_before: "2026-11-23T13:00:00+01:00" },
      "validation_failed",
    ],
    [
      "a range holding no whole millisecond (both ends read as the next whole ms, .001)",
      "demo",
      { failed_after: "2026-11-23T12:00:00.0005Z", failed_before: "2026-11-23T12:00:00.001Z", dry_run: true },
      "validation_failed",
    ],
    ["an unknown field", "demo", { all: true }, "validation_failed"],
    ["a forged cursor", "demo", { cursor: "e30" }, "validation_failed"],
    [
      "an error_contains holding a lone surrogate (no stored error holds one: a dry run would answer matched 0)",
      "demo",
      { error_contains: "HTTP \ud83d", dry_run: true },
      "validation_failed",
    ],
  ])("answers 400 for %s", async (_name, topic, body, code) => {
    const { deps, topicQueue } = setup();
    const error = await refusal(replayTopic(deps, topic, body));
    expect(error).toMatchObject({ status: 400, code });
    expect(topicQueue.calls).toEqual([]);
  });
});
