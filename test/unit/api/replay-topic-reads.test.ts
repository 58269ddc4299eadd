/**
 * What a bulk replay by ids reads: the named tasks (and a named fan-out task's copies), up to 1,000 of them, held at
 * once until every read is done. It sends none of their contents, so it reads none, as the filter's read of the
 * failed index does not: with contents, 1,000 tasks of the topic's `maxPayloadBytes` (256 KiB by default) were a
 * quarter of a gigabyte held in the 512 MB function.
 */
import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { FAILED_TOPIC_ATTRIBUTE } from "#shared/domain/failed-index.js";
import { retentionExpiry } from "#shared/domain/task.js";
import { replayTopic } from "#shared/services/replay-topic.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { makeTask } from "../../support/factories.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { NOW, testConfig } from "./fakes.js";

const QUEUE = "https://sqs.test/demo.fifo";
const TABLE = "replay-topic-reads";
let dynamo: LocalDynamo;
/** Bytes of the answers to the table's item reads (GetItem, BatchGetItem), as they left dynalite. */
const readBytes = { total: 0 };

beforeAll(async () => {
  dynamo = await startDynalite({
    wrap: (listener) => (req: http.IncomingMessage, res: http.ServerResponse) => {
      const target = String(req.headers["x-amz-target"] ?? "");
      if (/\.(BatchGetItem|GetItem)$/.test(target)) {
        const write = res.write.bind(res);
        const end = res.end.bind(res);
        const count = (chunk: unknown) => {
          if (typeof chunk === "string" || chunk instanceof Uint8Array)
            readBytes.total += Buffer.byteLength(chunk);
        };
        res.write = ((chunk: unknown, ...rest: never[]) => {
          count(chunk);
          return write(chunk as string, ...rest);
        }) as typeof res.write;
        res.end = ((chunk?: unknown, ...rest: never[]) => {
          count(chunk);
          return end(chunk as string, ...rest);
        }) as typeof res.end;
      }
      listener(req, res);
    },
  });
  await createTaskTable(dynamo.client, TABLE);
});

afterAll(async () => {
  await dynamo?.stop();
});

describe("a bulk replay by ids reads its tasks without their contents", () => {
  it("replays 20 named dead letters of 100 KB contents reading a few KB, not their 2 MB of contents", async () => {
    // Prepare: 20 dead-lettered tasks of one group, each with a content of about 100 KB
    const store = new DynamoTaskStore({ client: dynamo.client, tableName: TABLE });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const content = JSON.stringify({ order_id: "a", blob: "x".repeat(100_000), n: i });
      const task = makeTask({
        group: "a",
        dueAtMs: NOW + i,
        acceptedAtMs: NOW,
        content,
        status: "failed",
        attempts: 3,
        lastError: "HTTP 500",
        failedAtMs: NOW + 1_000 + i,
        [FAILED_TOPIC_ATTRIBUTE]: "demo",
        expiresAt: retentionExpiry(NOW + 1_000 + i, 1),
      });
      await store.putNew(task);
      ids.push(task.taskId);
    }
    const topicQueue = new FakeTopicQueue(() => NOW);
    const deps = {
      store,
      topicQueue,
      topicQueues: { demo: QUEUE },
      now: () => NOW + 60_000,
      config: testConfig(),
    };
    readBytes.total = 0;

    // Act
    const answer = await replayTopic(deps, "demo", { task_ids: ids });

    // Assess: every task replayed, in its group's order, and what was read holds no content (before: > 2 MB)
    expect(answer).toMatchObject({ matched: 20, replayed: 20, failed: [] });
    expect(topicQueue.idsIn(QUEUE)).toEqual(ids);
    expect(readBytes.total).toBeLessThan(100_000);
  });
});
