import { randomBytes } from "node:crypto";
import type http from "node:http";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { deliverDeps, testTopic } from "../../support/deliver-binding.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { eventOf, fifoRecord, makeTask } from "../../support/factories.js";
import { FakeCallbacks, HTTP } from "../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../support/fakes/metrics.js";
import { refusingWithItem } from "../../support/fakes/refusing-dynamo.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { memoryLogger } from "../../support/logger.js";

/**
 * A dead-lettering's `failed` (markFailed) that DynamoDB applied but whose answer never came back: the SDK sends the
 * UpdateItem again, and that resend fails its condition on the task its first try failed. It is this attempt's
 * own write, so the dead-lettering counts (TasksDeadLettered) once and is not logged as refused.
 */
let dynamo: LocalDynamo;
/** How many of the next `failed` UpdateItems dynalite executes but answers by dropping the connection. */
let dropFailedAnswers = 0;
let tableCount = 0;

function dropAnswers(listener: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!String(req.headers["x-amz-target"]).endsWith(".UpdateItem")) return listener(req, res);
    const chunks: Buffer[] = [];
    const push = req.push.bind(req);
    // The body is only known once read: the answer of a `failed` write is dropped after dynalite applied it.
    req.push = (chunk: Buffer | null, ...rest: never[]) => {
      if (chunk) chunks.push(Buffer.from(chunk));
      else if (dropFailedAnswers > 0 && Buffer.concat(chunks).toString().includes("failedAtMs = :at")) {
        dropFailedAnswers--;
        res.end = (() => {
          req.socket.destroy();
          return res;
        }) as typeof res.end;
      }
      return push(chunk, ...rest);
    };
    listener(req, res);
  };
}

beforeAll(async () => {
  dynamo = await startDynalite({ wrap: dropAnswers });
});

afterAll(async () => {
  await dynamo?.stop();
});

async function tableStore(client: DynamoDBClient = dynamo.client): Promise<DynamoTaskStore> {
  const tableName = `mark-failed-${++tableCount}`;
  await createTaskTable(dynamo.client, tableName);
  return new DynamoTaskStore({ client, tableName, nowSeconds: () => Date.now() / 1000 });
}

describe.each([1, 10])(
  "a dead-lettering whose `failed` answer was lost (groupConcurrency %i)",
  (groupConcurrency) => {
    it("is counted once (TasksDeadLettered) and not logged as refused: the SDK's resend met its own write", async () => {
      // Prepare: a task on its last attempt; the receiver answers 500; the `failed` write's answer is dropped once
      const store = await tableStore();
      const now = Date.now();
      const t = makeTask({ group: "g", dueAtMs: now - 1_000, acceptedAtMs: now - 10_000, status: "queued" });
      await store.putNew(t, { sweepIndex: false });
      await store.startAttempt(t.taskId, now - 500);
      await store.recordAttemptFailure(t.taskId, { error: "HTTP 500", atMs: now - 400 });
      await store.startAttempt(t.taskId, now - 300);
      const callbacks = new FakeCallbacks();
      callbacks.answer(t.taskId, HTTP(500));
      const metrics = new MemoryMetrics();
      const logger = memoryLogger();
      const queue = new FakeTopicQueue();
      const deps = deliverDeps(
        {
          store,
          topicQueue: queue,
          metrics,
          logger,
          clock: () => Date.now(),
          topic: testTopic({ maxAttempts: 3 }),
          callbacks,
          signer: new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]),
        },
        { groupConcurrency },
      );
      dropFailedAnswers = 1;

      // Act
      const response = await deliverBatch(deps, eventOf(fifoRecord(t)), {
        getRemainingTimeInMillis: () => 60_000,
      });

      // Assess
      expect(dropFailedAnswers).toBe(0);
      expect(response.batchItemFailures).toEqual([]);
      expect(await store.get(t.taskId)).toMatchObject({
        status: "failed",
        attempts: 3,
        lastError: "HTTP 500",
      });
      expect(queue.deadLetters).toHaveLength(1);
      expect(metrics.count("deadLettered")).toBe(1);
      expect(logger.entries.map((e) => e.message)).not.toContain(
        "dead-lettered, `failed` not written: the task is already final or in a later attempt",
      );
    });
  },
);

describe("markFailed's refusal on DynamoDB", () => {
  it("recognises its own earlier try from the item DynamoDB answers with (ALL_OLD): no read", async () => {
    // Prepare
    const now = Date.now();
    const failedAtMs = now + 4;
    const t = makeTask({ group: "g", dueAtMs: now - 1_000, acceptedAtMs: now - 10_000 });
    const failed: TaskRecord = {
      ...t,
      status: "failed",
      attempts: 3,
      attemptSeq: 3,
      lastError: "HTTP 500",
      failedAtMs,
      failedWriteId: "own-write",
    };
    const { client, sent } = refusingWithItem(failed, dynamo.client);
    const store = await tableStore(client);

    // Act
    const own = await store.markFailed(t.taskId, {
      error: "HTTP 500",
      atMs: failedAtMs,
      expiresAt: 9,
      attemptSeq: 3,
      writeId: "own-write",
    });
    // Another writer's, identical but for its write's id (an overlapping sweeper run on the same clock).
    const other = await store.markFailed(t.taskId, {
      error: "HTTP 500",
      atMs: failedAtMs,
      expiresAt: 9,
      attemptSeq: 3,
      writeId: "other-write",
    });

    // Assess
    expect([own, other]).toEqual([true, false]);
    expect(sent).toEqual(["UpdateItemCommand", "UpdateItemCommand"]);
  });
});
