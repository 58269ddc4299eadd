/**
 * The bulk replay against dynalite's failed index, for what the memory store cannot show: DynamoDB refuses a Query
 * whose ExclusiveStartKey lies outside its key condition (ValidationException), so a cursor the route lets through
 * must lie inside the range its filter reads.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { encodeCursor, filterBinding } from "#shared/api/cursor.js";
import { FAILED_SORT_ATTRIBUTE, FAILED_TOPIC_ATTRIBUTE } from "#shared/domain/failed-index.js";
import { retentionExpiry } from "#shared/domain/task.js";
import { replayTopic } from "#shared/services/replay-topic.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { makeTask } from "../../support/factories.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { refusal } from "../../support/refusal.js";
import { NOW, testConfig } from "./fakes.js";

const QUEUE = "https://sqs.test/demo.fifo";
const TABLE = "replay-topic";
let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startDynalite();
  await createTaskTable(dynamo.client, TABLE);
});

afterAll(async () => {
  await dynamo?.stop();
});

describe("replayTopic over DynamoDB's failed index", () => {
  it("a cursor of the filter's own binding whose position lies before failed_after is a 400 that replays nothing, not DynamoDB's ValidationException as a 500", async () => {
    // Prepare: one dead letter, failed after the filter's failed_after; a cursor naming a position before it,
    // bound to that very filter (the binding is a digest of the filter's values, no secret)
    const store = new DynamoTaskStore({ client: dynamo.client, tableName: TABLE });
    const task = makeTask({ group: "a", dueAtMs: NOW + 1_000, acceptedAtMs: NOW });
    await store.putNew(task);
    await store.startAttempt(task.taskId, NOW + 1_000);
    await store.markFailed(task.taskId, {
      error: "HTTP 500",
      atMs: NOW + 2_000,
      expiresAt: retentionExpiry(NOW + 2_000, 1),
    });
    const after = NOW + 1_500;
    const cursor = encodeCursor({
      pk: task.pk,
      sk: task.sk,
      [FAILED_TOPIC_ATTRIBUTE]: "demo",
      [FAILED_SORT_ATTRIBUTE]: after - 1_000,
      filter: filterBinding([after, null, null, "oldest-first"]),
      until: NOW + 60_000,
    });
    const topicQueue = new FakeTopicQueue(() => NOW);
    const deps = {
      store,
      topicQueue,
      topicQueues: { demo: QUEUE },
      now: () => NOW + 60_000,
      config: testConfig(),
    };

    // Act
    const error = await refusal(
      replayTopic(deps, "demo", { failed_after: new Date(after).toISOString(), cursor: cursor ?? "" }),
    );

    // Assess
    expect(error.status).toBe(400);
    expect(error.toBody().error).toMatchObject({ code: "validation_failed", issues: [{ path: "cursor" }] });
    expect(topicQueue.idsIn(QUEUE)).toEqual([]);
    expect((await store.get(task.taskId))?.status).toBe("failed");
  });

  it.each([
    ["is the first task the call read", 0],
    ["follows other groups' dead letters in the call", 3],
  ])(
    "a send that fails stops its group across the run's calls (the CLI and console follow the cursor): when the failed task %s, its group's dead letters on a later page are not replayed ahead of it",
    async (_name, before) => {
      // Prepare: group a's head dead-lettered early, its follower after a page's worth (1,000) of other groups'
      // dead letters, so the follower is on the run's second call; the head's first send fails (SQS 5xx).
      const store = new DynamoTaskStore({ client: dynamo.client, tableName: `${TABLE}-stop-${before}` });
      await createTaskTable(dynamo.client, `${TABLE}-stop-${before}`);
      const dead = (group: string, dueOffset: number, failedAtMs: number) =>
        deadLetter(store, group, dueOffset, failedAtMs);
      for (let i = 0; i < before; i++) await dead(`early${i}`, 0, NOW + i);
      const head = await dead("a", 1_000, NOW + 100);
      for (let i = 0; i < 1_000; i++) await dead(`g${i}`, 0, NOW + 200 + i);
      const follower = await dead("a", 2_000, NOW + 5_000);
      const topicQueue = new FakeTopicQueue(() => NOW);
      let headSends = 0;
      const send = topicQueue.sendReplay.bind(topicQueue);
      topicQueue.sendReplay = async (queueUrl, groupId, taskId, deduplicationId) => {
        if (taskId === head.taskId && headSends++ === 0) throw new Error("ServiceUnavailable");
        return send(queueUrl, groupId, taskId, deduplicationId);
      };
      const deps = {
        store,
        topicQueue,
        topicQueues: { demo: QUEUE },
        now: () => NOW + 60_000,
        config: testConfig(),
      };

      // Act: every page, as \`npx punctual topics replay demo\` and the console's Replay all walk them (a cursor
      // given twice stops them)
      const seen = new Set<string>();
      let cursor: string | undefined;
      do {
        const answer = await replayTopic(deps, "demo", cursor ? { cursor } : {});
        cursor = answer.next_cursor ?? undefined;
        if (cursor && seen.has(cursor)) break;
        if (cursor) seen.add(cursor);
      } while (cursor);

      // Assess: group a reached its queue in its order, the head first; every dead letter was replayed once.
      const sentA = topicQueue.enqueued.filter((m) => m.groupId === head.pk).map((m) => m.taskId);
      expect(sentA).toEqual([head.taskId, follower.taskId]);
      expect(topicQueue.enqueued).toHaveLength(before + 1_002);
    },
    60_000,
  );
});

/** A dead-lettered task of `group` as deliver leaves it (failed index keys, retention), written in one put. */
async function deadLetter(store: DynamoTaskStore, group: string, dueOffset: number, failedAtMs: number) {
  const task = makeTask({
    group,
    dueAtMs: NOW + dueOffset,
    acceptedAtMs: NOW,
    status: "failed",
    attempts: 3,
    lastError: "HTTP 500",
    failedAtMs,
    [FAILED_TOPIC_ATTRIBUTE]: "demo",
    expiresAt: retentionExpiry(failedAtMs, 1),
  });
  await store.putNew(task);
  return task;
}
