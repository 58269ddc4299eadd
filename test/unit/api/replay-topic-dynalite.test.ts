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
});
