import { describe, expect, it } from "vitest";
import type { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { HttpError } from "#shared/api/errors.js";
import { FAILED_TOPIC_ATTRIBUTE } from "#shared/domain/failed-index.js";
import { retentionExpiry, type TaskRecord } from "#shared/domain/task.js";
import { cancelTask } from "#shared/services/cancel-task.js";
import { replayTask } from "#shared/services/replay-task.js";
import { PENDING_SCAN_MAX, REPLAY_TIME_MARGIN_MS, replayTopic } from "#shared/services/replay-topic.js";
import { dynaliteTaskStores } from "../../support/dynalite-task-stores.js";
import { makeTask } from "../../support/factories.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { FakeScheduler, FakeTimerQueue, NOW, testConfig } from "../api/fakes.js";

/**
 * A bulk replay (by filter or by ids) against another replay's pending mark — a group's earlier task marked `queued`
 * by a single replay (or another bulk run) and not sent yet — against DynamoDB (dynalite, the real store over a
 * real SDK client). Each interleaving is made exact by seams: the other replay's send waits on a gate, so the bulk
 * run goes while that task is marked and unsent; no sleeps. Whatever that send then does (lands, or fails and is
 * undone), the group's later dead letters never reach its FIFO queue ahead of it.
 */

const QUEUE = "https://sqs.test/demo.fifo";
const freshStore = dynaliteTaskStores("replay-overtake", NOW);

/** A promise and its resolver: a seam that holds one step until the test lets it go. */
function gate<T = void>(): { readonly promise: Promise<T>; readonly open: (value: T) => void } {
  let open: (value: T) => void = () => undefined;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** A dead-lettered task of `group` as deliver leaves it (failed index keys, retention), written in one put. */
async function deadLetter(
  store: DynamoTaskStore,
  group: string,
  dueOffsetMs: number,
  error = "HTTP 500",
): Promise<TaskRecord> {
  const failedAtMs = NOW - 60_000 + dueOffsetMs;
  const task = makeTask({
    group,
    dueAtMs: NOW - 120_000 + dueOffsetMs,
    acceptedAtMs: NOW - 180_000,
    status: "failed",
    attempts: 3,
    lastError: error,
    failedAtMs,
    [FAILED_TOPIC_ATTRIBUTE]: "demo",
    expiresAt: retentionExpiry(failedAtMs, 3),
  });
  await store.putNew(task);
  return task;
}

/**
 * The replays' dependencies over `store`, with a queue whose send of `held` waits: `marked` resolves once that send
 * is reached (the task is marked `queued`, not sent), and the send goes on when `release` is given true (sent) or
 * false (SQS fails it).
 */
function holdingSendOf(store: DynamoTaskStore, held: string) {
  const topicQueue = new FakeTopicQueue(() => NOW);
  const marked = gate();
  const release = gate<boolean>();
  const send = topicQueue.sendReplay.bind(topicQueue);
  let holds = 0;
  topicQueue.sendReplay = async (...args) => {
    if (args[2] === held && holds++ === 0) {
      marked.open();
      if (!(await release.promise)) throw new Error("ServiceUnavailable");
    }
    return send(...args);
  };
  const deps = { store, topicQueue, topicQueues: { demo: QUEUE }, config: testConfig(), now: () => NOW };
  return { deps, topicQueue, marked, release };
}

/** A fresh table with group g's head and, a second later, its follower dead-lettered. */
async function headAndFollower(headError = "HTTP 500", followerError = "HTTP 500") {
  const store = await freshStore();
  const head = await deadLetter(store, "g", 0, headError);
  const follower = await deadLetter(store, "g", 1_000, followerError);
  return { store, head, follower };
}

/**
 * A single replay of `task` over holdingSendOf, returned once it has marked the task `queued` and its send is held;
 * `single` is its answer (an error is answered, not thrown).
 */
async function replayHeldMidSend(store: DynamoTaskStore, task: TaskRecord) {
  const held = holdingSendOf(store, task.taskId);
  const single = replayTask(held.deps, task.taskId).catch((error: unknown) => error);
  await held.marked.promise;
  return { ...held, single };
}

/** The message ids of `group`'s tasks on the FIFO queue, in arrival order. */
const sentOf = (topicQueue: FakeTopicQueue, pk: string) =>
  topicQueue.enqueued.filter((m) => m.groupId === pk).map((m) => m.taskId);

describe("a bulk replay against another replay's pending mark, against DynamoDB", () => {
  it.each([
    ["lands", true],
    ["fails", false],
  ])(
    "a filter run while a single replay of the group's head is marked and unsent sends the head first (under its replay's dedup id, kept from that replay's undo), then its follower (the head's own send %s)",
    async (_name, headSendLands) => {
      // Prepare: group g's head and follower dead-lettered; a single replay of the head marked, its send held
      const { store, head, follower } = await headAndFollower();
      const { deps, topicQueue, release, single } = await replayHeldMidSend(store, head);

      // Act: the filter run, then the head's own send
      const bulk = await replayTopic(deps, "demo", {});
      release.open(headSendLands);
      const singleAnswer = await single;

      // Assess: the head's message first; its replay, whose send failed, could not undo it (the run's message is on
      // its way) and answers that it replayed it
      expect(sentOf(topicQueue, head.pk)).toEqual([head.taskId, follower.taskId]);
      expect(singleAnswer instanceof HttpError ? singleAnswer.status : 202).toBe(202);
      expect(bulk).toMatchObject({ matched: 1, replayed: 1, failed: [] });
      expect((await store.get(head.taskId))?.status).toBe("queued");
    },
  );

  it("the head's replay undoes it (its send failed) before the run can keep it: the follower is not sent, and the run's next call replays the group in its order", async () => {
    // Prepare: as above; the head's send fails and its undo lands just before the run marks the head re-sent
    const { store, head, follower } = await headAndFollower();
    const { deps, topicQueue, release, single } = await replayHeldMidSend(store, head);
    const requeue = store.markRequeued.bind(store);
    store.markRequeued = async (taskId, nowMs) => {
      if (taskId === head.taskId) {
        release.open(false);
        await single;
      }
      return requeue(taskId, nowMs);
    };

    // Act: the run, then its next call (its cursor), as the CLI and the console follow it
    const first = await replayTopic(deps, "demo", {});
    store.markRequeued = requeue;
    const singleAnswer = await single;
    const next = await replayTopic(deps, "demo", { cursor: first.next_cursor ?? "" });

    // Assess: the first call sent the head alone (that message finds it `failed`: deliver drops it) and left the
    // follower dead-lettered, listed; the next call sent the head's new replay, then the follower
    expect(singleAnswer).toMatchObject({ status: 503 });
    expect(first.replayed).toBe(0);
    expect(first.failed).toEqual([{ task_id: follower.taskId, reason: expect.stringContaining("another") }]);
    expect(first.next_cursor).not.toBeNull();
    expect(next.replayed).toBe(2);
    expect(sentOf(topicQueue, head.pk)).toEqual([head.taskId, head.taskId, follower.taskId]);
  });

  it("the run's send of the head fails: the follower's mark is undone and it is listed, not sent ahead of the head", async () => {
    // Prepare: the head's own send held, the run's (its second) failing
    const { store, head, follower } = await headAndFollower();
    const { deps, topicQueue, release, single } = await replayHeldMidSend(store, head);
    const send = topicQueue.sendReplay.bind(topicQueue);
    topicQueue.sendReplay = async (...args) => {
      if (args[2] === head.taskId) throw new Error("ServiceUnavailable");
      return send(...args);
    };

    // Act
    const bulk = await replayTopic(deps, "demo", {});
    topicQueue.sendReplay = send;
    release.open(false);
    await single;

    // Assess
    expect(sentOf(topicQueue, head.pk)).toEqual([]);
    expect(bulk.replayed).toBe(0);
    expect(bulk.failed).toEqual([{ task_id: follower.taskId, reason: expect.stringContaining("another") }]);
    expect((await store.get(follower.taskId))?.status).toBe("failed");
    expect((await store.get(head.taskId))?.status).toBe("failed");
  });

  it("a single replay of the head marked after a filter run read the list, before its mark of the follower: the head goes first", async () => {
    // Prepare: the filter matches the follower alone (its error), and its mark waits until the head's replay has
    // marked the head; the head's own send then fails
    const { store, head, follower } = await headAndFollower("HTTP 503", "HTTP 500");
    const { deps, topicQueue, marked, release } = holdingSendOf(store, head.taskId);
    const mark = store.markReplayed.bind(store);
    let single: Promise<unknown> | undefined;
    store.markReplayed = async (taskId, ...rest) => {
      if (taskId === follower.taskId && !single) {
        single = replayTask(deps, head.taskId).catch((error: unknown) => error);
        await marked.promise;
      }
      return mark(taskId, ...rest);
    };

    // Act
    const bulk = await replayTopic(deps, "demo", { error_contains: "HTTP 500" });
    release.open(false);
    const singleAnswer = await single;

    // Assess
    expect(sentOf(topicQueue, head.pk)).toEqual([head.taskId, follower.taskId]);
    expect(bulk.replayed).toBe(1);
    expect(singleAnswer instanceof HttpError ? singleAnswer.status : 202).toBe(202);
  });

  it("a run by ids naming only the follower sends the head another replay has marked first", async () => {
    // Prepare
    const { store, head, follower } = await headAndFollower();
    const { deps, topicQueue, release, single } = await replayHeldMidSend(store, head);

    // Act
    const bulk = await replayTopic(deps, "demo", { task_ids: [follower.taskId] });
    release.open(false);
    await single;

    // Assess
    expect(sentOf(topicQueue, head.pk)).toEqual([head.taskId, follower.taskId]);
    expect(bulk.replayed).toBe(1);
  });
});

describe("a bulk replay's keeping of another replay's pending mark, attacked", () => {
  it("the pending head is delivered (its own send landed, its attempt ran) before the run can mark it re-sent: its message went first, so the follower is sent", async () => {
    // Prepare: the head's replay marked, its send held; the head delivered just before the run's write
    const { store, head, follower } = await headAndFollower();
    const { deps, topicQueue, release, single } = await replayHeldMidSend(store, head);
    const requeue = store.markRequeued.bind(store);
    store.markRequeued = async (taskId, nowMs) => {
      if (taskId === head.taskId) {
        release.open(true);
        await single;
        await store.startAttempt(head.taskId, NOW);
        const delivery = {
          atMs: NOW,
          latenessMs: 0,
          deliveryLatencyMs: 10,
          expiresAt: retentionExpiry(NOW, 3),
        };
        await store.markDelivered(head.taskId, delivery);
      }
      return requeue(taskId, nowMs);
    };

    // Act
    const bulk = await replayTopic(deps, "demo", {});

    // Assess
    expect(bulk).toMatchObject({ replayed: 1, failed: [] });
    expect(sentOf(topicQueue, head.pk)).toEqual([head.taskId, follower.taskId]);
  });

  it("a DELETE of the pending head between the run's send of it and its write: cancelled, it is nothing to overtake, and the follower is sent", async () => {
    // Prepare: the head's replay marked, its send held; the head cancelled just before the run's write
    const { store, head, follower } = await headAndFollower();
    const { deps, topicQueue, release, single } = await replayHeldMidSend(store, head);
    const cancelDeps = { ...deps, timerQueue: new FakeTimerQueue(), scheduler: new FakeScheduler() };
    let cancelled: unknown;
    const requeue = store.markRequeued.bind(store);
    store.markRequeued = async (taskId, nowMs) => {
      if (taskId === head.taskId) cancelled = await cancelTask(cancelDeps, head.taskId);
      return requeue(taskId, nowMs);
    };

    // Act
    const bulk = await replayTopic(deps, "demo", {});
    release.open(true);
    await single;

    // Assess
    expect(cancelled).toMatchObject({ status: "cancelled" });
    expect(bulk).toMatchObject({ replayed: 1, failed: [] });
    expect(sentOf(topicQueue, head.pk)).toEqual([head.taskId, follower.taskId]);
    expect((await store.get(head.taskId))?.status).toBe("cancelled");
  });

  it("a single replay of the follower marked and unsent while a filter run replays the group: the head first, then the follower, once", async () => {
    // Prepare: the follower's single replay marked, its send held
    const { store, head, follower } = await headAndFollower();
    const { deps, topicQueue, release, single } = await replayHeldMidSend(store, follower);

    // Act
    const bulk = await replayTopic(deps, "demo", {});
    release.open(true);
    const singleAnswer = await single;

    // Assess
    expect(sentOf(topicQueue, head.pk)).toEqual([head.taskId, follower.taskId]);
    expect(bulk).toMatchObject({ matched: 1, replayed: 1 });
    expect(singleAnswer).toMatchObject({ status: "queued" });
  });

  it("two filter runs at once, while a single replay of the head is marked and unsent: the head first, the follower once, after it", async () => {
    // Prepare
    const { store, head, follower } = await headAndFollower();
    const { deps, topicQueue, release, single } = await replayHeldMidSend(store, head);

    // Act: both runs at once, then the head's own send fails
    const runs = await Promise.all([replayTopic(deps, "demo", {}), replayTopic(deps, "demo", {})]);
    release.open(false);
    await single;

    // Assess: one run replayed the follower, the other was refused by its mark
    expect(sentOf(topicQueue, head.pk)).toEqual([head.taskId, follower.taskId]);
    expect(runs.map((r) => r.replayed).sort()).toEqual([0, 1]);
    expect((await store.get(head.taskId))?.status).toBe("queued");
  });

  it("the read for pending marks before each task is bounded: at most PENDING_SCAN_MAX of the group's items, however long its history", async () => {
    // Prepare: a group's two dead letters; every read of the group's unfinished tasks recorded with its bound
    const { store, head, follower } = await headAndFollower();
    const { deps, topicQueue } = holdingSendOf(store, "none");
    const bounds: (number | undefined)[] = [];
    const list = store.listUnfinishedInGroup.bind(store);
    store.listUnfinishedInGroup = (pk, fromMs, toMs, limit, maxScanned) => {
      bounds.push(maxScanned);
      return list(pk, fromMs, toMs, limit, maxScanned);
    };

    // Act
    const run = await replayTopic(deps, "demo", {});

    // Assess: both sent in order, each read bounded (unbounded, a group's first task in a call read its whole
    // history: 100,000 finished tasks ran past the API function's time with that task marked and unsent)
    expect(run.replayed).toBe(2);
    expect(sentOf(topicQueue, head.pk)).toEqual([head.taskId, follower.taskId]);
    expect(bounds.length).toBeGreaterThan(0);
    for (const bound of bounds) expect(bound).toBeLessThanOrEqual(PENDING_SCAN_MAX);
  });

  it("a continuing call re-sending its group's earlier sends (queued, not started) stops once its time runs low: nothing sent after, its own task failed again, and a repeat goes on", async () => {
    // Prepare: a hot group's first call replayed 5 dead letters (queued, unsent to the receiver: within the dedup
    // window, not marked re-sent); the next call's own task after them; its time runs low after 2 of its sends
    const store = await freshStore();
    const earlier = [];
    for (let i = 0; i < 5; i++) earlier.push(await deadLetter(store, "g", i * 1_000));
    const last = await deadLetter(store, "g", 10_000);
    const { deps, topicQueue } = holdingSendOf(store, "none");
    await replayTopic(deps, "demo", { task_ids: earlier.map((t) => t.taskId) });
    let remaining = 10_000;
    let sends = 0;
    let sendsAfterTimeRanLow = 0;
    const send = topicQueue.sendReplay.bind(topicQueue);
    topicQueue.sendReplay = async (...args) => {
      if (remaining < REPLAY_TIME_MARGIN_MS) sendsAfterTimeRanLow++;
      const sent = await send(...args);
      // Each send counted, deduplicated or not (SQS drops a re-send of a message it already has)
      if (++sends >= 2) remaining = REPLAY_TIME_MARGIN_MS - 1;
      return sent;
    };

    // Act
    const error = await replayTopic({ ...deps, remainingMs: () => remaining }, "demo", {
      task_ids: [last.taskId],
    }).catch((e: unknown) => e);

    // Assess: no send started with less than the margin left (the re-sends went on past the route's early answer,
    // Lambda froze the run with its own task marked and unsent); a 503 saying a repeat is safe; the task failed
    remaining = 10_000;
    expect(sendsAfterTimeRanLow).toBe(0);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(503);
    expect((await store.get(last.taskId))?.status).toBe("failed");
    const repeat = await replayTopic(deps, "demo", { task_ids: [last.taskId] });
    expect(repeat.replayed).toBe(1);
    expect(sentOf(topicQueue, last.pk).at(-1)).toBe(last.taskId);
  });

  it("a listed task between the pending head and the follower, discarded before the run's mark of it: the head still goes first", async () => {
    // Prepare: group g's head, a middle and a follower dead-lettered; a single replay of the head marked, its send
    // held; the middle discarded between the filter's read of the list and its mark (passed over, not sent)
    const store = await freshStore();
    const head = await deadLetter(store, "g", 0);
    const middle = await deadLetter(store, "g", 1_000);
    const follower = await deadLetter(store, "g", 2_000);
    const { deps, topicQueue, release, single } = await replayHeldMidSend(store, head);
    const mark = store.markReplayed.bind(store);
    store.markReplayed = async (taskId, ...rest) => {
      if (taskId === middle.taskId) await store.discardFailed(middle.taskId, NOW, retentionExpiry(NOW, 3));
      return mark(taskId, ...rest);
    };

    // Act
    const bulk = await replayTopic(deps, "demo", {});
    release.open(true);
    await single;

    // Assess: the head's message ahead of the follower's (the run read the group before the follower only from the
    // middle, whose mark was refused: the head, before it, was never looked at, and the follower went first)
    expect(sentOf(topicQueue, head.pk)).toEqual([head.taskId, follower.taskId]);
    expect(bulk.replayed).toBe(1);
  });

  it("the pending head undone and marked again by a third replay between the run's send of it and its write: that later life is not marked re-sent (its replay can still undo its own failed send)", async () => {
    // Prepare: a single replay of the head marked, its send held; when the run's send of the head (life 1) has gone,
    // that replay's send fails and is undone, and another replay marks the head again (life 2), not sent yet
    const { store, head } = await headAndFollower();
    const { deps, topicQueue, release, single } = await replayHeldMidSend(store, head);
    const send = topicQueue.sendReplay.bind(topicQueue);
    let headSends = 0;
    topicQueue.sendReplay = async (...args) => {
      const sent = await send(...args);
      if (args[2] === head.taskId && ++headSends === 1) {
        release.open(false);
        await single;
        await store.markReplayed(head.taskId, NOW);
      }
      return sent;
    };

    // Act
    await replayTopic(deps, "demo", {});

    // Assess: life 2 carries no mark of a send none made for it: its replay's undo of a failed send still lands
    const now = await store.get(head.taskId);
    expect(now?.replays).toBe(2);
    expect(now?.requeuedAtMs).toBeUndefined();
    const undo = { replays: 2, attempts: 3, expiresAt: retentionExpiry(NOW, 3) };
    expect(await store.revertReplay(head.taskId, undo)).toBe(true);
  });
});
