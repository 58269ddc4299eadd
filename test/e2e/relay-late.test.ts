import { randomUUID } from "node:crypto";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import { ENV } from "#shared/runtime/env.js";
import { demoTaskItem } from "../support/factories.js";
import { e2eTarget, type Harness, localSqsClient, startHarness } from "./support/harness.js";

/**
 * A timer message that reaches the relay long after its task was due (a backlog, a throttled consumer, a
 * schedule DLQ drained late) is forwarded by the relay itself. The sweeper's rule is slowed to once an hour so
 * it cannot be what delivers it: before the fix, the relay's group Query had its lower bound (now − 15 min)
 * above its upper bound (the task's due time), DynamoDB refused it and the message failed on every receive.
 *
 * Local cloud only: writing items and timer messages by hand needs the local cloud's endpoints.
 */
let h: Harness;
let store: DynamoTaskStore;
let sqs: SQSClient;

beforeAll(async () => {
  if (e2eTarget() !== "local") return;
  h = await startHarness({ sweeperIntervalMs: 3_600_000 });
  store = new DynamoTaskStore({ client: h.dynamodb, tableName: h.cloud.tableName });
  sqs = localSqsClient(h.cloud);
});

afterAll(async () => {
  sqs?.destroy();
  await h?.stop();
});

describe.skipIf(e2eTarget() !== "local")("relay: timer messages long after their due time", () => {
  it("delivers a task whose timer message arrives 20 minutes late, after its overdue predecessor", async () => {
    // Prepare: two `scheduled` tasks of one group due 25 and 20 minutes ago; only the later one's message is
    // left (the earlier one's was lost), and it arrives now.
    const group = `late-${randomUUID()}`;
    const callbackUrl = `${h.receiver.url}/ok/relay-late`;
    const now = Date.now();
    const earlier = demoTaskItem({
      group,
      dueAtMs: now - 25 * 60_000,
      status: "scheduled",
      callbackUrl,
      seq: 0,
    });
    const later = demoTaskItem({
      group,
      dueAtMs: now - 20 * 60_000,
      status: "scheduled",
      callbackUrl,
      seq: 1,
    });
    for (const task of [earlier, later]) expect(await store.putNew(task)).toBe("created");

    // Act
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: process.env[ENV.timerQueueUrl] as string,
        MessageBody: taskMessageBody(later.taskId),
      }),
    );
    await h.waitForStatus(later.taskId, ["delivered"]);
    await h.waitForStatus(earlier.taskId, ["delivered"]);

    // Assess: both delivered once, the earlier first, and no sweep ran.
    const seqs = h.receiver.received
      .filter((r) => r.json.content?.order_id === group)
      .map((r) => r.json.content.seq);
    expect(seqs).toEqual([0, 1]);
  });
});
