import { randomUUID } from "node:crypto";
import { GetQueueAttributesCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { ENV } from "#shared/runtime/env.js";
import { demoTaskItem, type TaskItemOptions } from "../support/factories.js";
import { e2eTarget, type Harness, localSqsClient, startHarness } from "./support/harness.js";

/**
 * Orphans repaired through the local cloud: tasks written straight into DynamoDB as a crash would leave them —
 * `scheduled` and past due with no timer message anywhere, `queued` with their FIFO messages gone — and a
 * dead-letter message in the timer DLQ. The sweeper (the template's EventBridge rule, fired every 500 ms here,
 * with a 1 s grace and a 2 s stall window) finds them through the sweep index and the pipeline delivers them.
 *
 * Local cloud only: a stack deployed to LocalStack runs its rule every minute with the stock windows.
 */
let h: Harness;
let store: DynamoTaskStore;
let sqs: SQSClient;

beforeAll(async () => {
  if (e2eTarget() !== "local") return;
  h = await startHarness({
    sweeperIntervalMs: 500,
    configOverrides: { sweeper: { scheduledGraceSeconds: 1, stalledAfterSeconds: 2 } },
  });
  store = new DynamoTaskStore({ client: h.dynamodb, tableName: h.cloud.tableName });
  sqs = localSqsClient(h.cloud);
});

afterAll(async () => {
  sqs?.destroy();
  await h?.stop();
});

/** An orphan: a task item with no message anywhere, delivered to this file's receiver path. */
function orphan(options: Omit<TaskItemOptions, "callbackUrl">): TaskRecord {
  return demoTaskItem({ ...options, callbackUrl: `${h.receiver.url}/ok/sweeper` });
}

describe.skipIf(e2eTarget() !== "local")("sweeper (local cloud)", () => {
  it("runs on the rule the template declares", () => {
    expect(h.cloud.target).toBe("local");
  });

  it("delivers a task left `scheduled` and past due with no timer message", async () => {
    // Prepare: what add-task leaves when its timer message is lost after a 201.
    const task = orphan({ group: `s-${randomUUID()}`, dueAtMs: Date.now() - 2_000, status: "scheduled" });
    expect(await store.putNew(task)).toBe("created");

    // Act
    await h.receiver.waitFor(() => h.receiver.forTask(task.taskId).length > 0);
    const view = await h.waitForStatus(task.taskId, ["delivered"]);

    // Assess
    expect(view).toMatchObject({ status: "delivered", attempts: 1 });
    const [callback] = h.receiver.forTask(task.taskId);
    expect(callback?.headers["webhook-id"]).toBe(task.taskId);
    expect(callback?.receivedAtMs).toBeGreaterThanOrEqual(task.dueAtMs);
  });

  it("requeues a group whose FIFO messages are gone, and delivers it in order, each task once", async () => {
    // Prepare: three `queued` tasks of one group whose messages were lost (purged, or moved by the backstop).
    const group = `q-${randomUUID()}`;
    const base = Date.now() - 10 * 60_000;
    const tasks = [0, 1, 2].map((seq) =>
      orphan({ group, dueAtMs: base + seq * 1_000, status: "queued", seq, queuedAtMs: base + 3_000 }),
    );
    for (const task of tasks) await store.putNew(task);

    // Act
    await h.receiver.waitFor(() => tasks.every((t) => h.receiver.forTask(t.taskId).length > 0));
    for (const task of tasks) await h.waitForStatus(task.taskId, ["delivered"]);
    // A few more sweeps: nothing is sent again.
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    // Assess
    const seqs = h.receiver.received
      .filter((r) => r.json.content?.order_id === group)
      .map((r) => r.json.content.seq);
    expect(seqs).toEqual([0, 1, 2]);
  });

  it("drains the timer DLQ: a message naming an unfinished task re-arms it; one naming a gone task is deleted", async () => {
    // Prepare: a `scheduled` task due in 3 s (not overdue, so only its DLQ message can bring it), and a message
    // for a task that does not exist.
    const dlqUrl = process.env[ENV.timerDlqUrl] as string;
    const pending = orphan({ group: `d-${randomUUID()}`, dueAtMs: Date.now() + 3_000, status: "scheduled" });
    await store.putNew(pending);
    const ghost = orphan({ group: `g-${randomUUID()}`, dueAtMs: Date.now(), status: "scheduled" });
    for (const id of [pending.taskId, ghost.taskId]) {
      await sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: taskMessageBody(id) }));
    }

    // Act
    await h.receiver.waitFor(() => h.receiver.forTask(pending.taskId).length > 0);
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: dlqUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );

    // Assess: delivered on time (re-armed with the remaining delay, never early), and the DLQ is empty.
    expect(h.receiver.forTask(pending.taskId)[0]?.receivedAtMs).toBeGreaterThanOrEqual(pending.dueAtMs);
    expect(
      Number(Attributes?.ApproximateNumberOfMessages) +
        Number(Attributes?.ApproximateNumberOfMessagesNotVisible),
    ).toBe(0);
    expect(await store.get(ghost.taskId)).toBeUndefined();
  });
});
