import { randomUUID } from "node:crypto";
import { type Message, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTopology } from "#shared/contract/topology.js";
import { groupTasks } from "./support/group-tasks.js";
import { e2eTarget, type Harness, localSqsClient, startHarness, validatingFetch } from "./support/harness.js";

/**
 * An occurrence's topic message through the local cloud (docs/RELIABILITY.md "Held occurrences"): the relay sends
 * it with its schedule's id, and deliver, handed that message alone (the per-record path: a batch of one), reads
 * the task and its schedule first instead of trying the read-free start, which refuses an occurrence
 * (`attribute_not_exists(scheduleId)`) and spends a write for nothing.
 *
 * What is observed, without a seam in the runtime: the message itself, read from the paused topic's FIFO queue with
 * a real SQS client (visibility 0, so it stays there for deliver); and deliver's UpdateItem calls, counted by the
 * local cloud's fault layer (local/aws/faults.ts, no faults injected). The fault layer counts requests, not their
 * answers, so a refused start shows as one UpdateItem more than the start that is written. The sweeper and the
 * materializer (the local cloud's scheduled rules) are held off, and the schedule's only occurrence is made inside
 * the create: while the topic is resumed, deliver is the only function writing to DynamoDB.
 *
 * Local cloud only: the fault layer's counts and the queue URLs in the topology need it.
 */
let h: Harness;
let client: PunctualClient;
let sqs: SQSClient;
let topicPaused = false;

beforeAll(async () => {
  if (e2eTarget() !== "local") return;
  h = await startHarness({ faults: { rates: {} }, faultEventSources: false, sweeperIntervalMs: 3_600_000 });
  client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch: validatingFetch });
  sqs = localSqsClient(h.cloud);
});

afterAll(async () => {
  if (topicPaused) await client.resumeTopic("demo");
  sqs?.destroy();
  await h?.stop();
});

const nextWholeSecond = (aheadMs: number) => Math.ceil((Date.now() + aheadMs) / 1000) * 1000;

/** Requests the functions made of one operation so far (`dynamodb.UpdateItem`…). */
const requestsOf = async (operation: string) => (await h.cloud.faults?.stats())?.[operation]?.requests ?? 0;

/** Polls the group until it holds `count` tasks (a correctness bound of 300 tries, not a speed target). */
async function tasksOf(group: string, count: number) {
  for (let i = 0; i < 300; i++) {
    const tasks = await groupTasks(client, group);
    if (tasks.length >= count) return tasks;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`group ${group} never held ${count} tasks`);
}

/**
 * The topic queue's message for `taskId`, received with visibility 0 (it stays visible: deliver receives it once
 * the topic resumes). Polled: the relay may not have sent it yet.
 */
async function peekTopicMessage(taskId: string): Promise<Message> {
  const queueUrl = readTopology("topicQueues").demo;
  for (let i = 0; i < 300; i++) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
    );
    const ours = (Messages ?? []).find((m) => String(m.Body).includes(taskId));
    if (ours) return ours;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no message for ${taskId} in the demo topic's queue`);
}

describe.skipIf(e2eTarget() !== "local")("an occurrence's topic message", () => {
  it("carries its scheduleId, and deliver starts the occurrence with no refused write: one UpdateItem, its start", async () => {
    // Prepare: the topic paused, a schedule with one occurrence (every second, ending one second after its start)
    await client.pauseTopic("demo");
    topicPaused = true;
    const group = `occ-msg-${randomUUID()}`;
    const startMs = nextWholeSecond(2_000);
    const created = await client.createSchedule({
      topic: "demo",
      cron: "* * * * * *",
      timezone: "UTC",
      content: { order_id: group },
      deliver_by: "order_id",
      callback: { url: `${h.receiver.url}/ok/occurrence-message` },
      start_at: new Date(startMs).toISOString(),
      end_at: new Date(startMs + 1_000).toISOString(),
    });
    const [task] = await tasksOf(group, 1);
    const taskId = String(task?.task_id);

    // Act: the relay hands the due occurrence to the paused topic; its message is read where it waits
    const message = await peekTopicMessage(taskId);
    const updatesBefore = await requestsOf("dynamodb.UpdateItem");
    await client.resumeTopic("demo");
    topicPaused = false;
    const delivered = await h.waitForStatus(taskId, ["delivered", "failed", "cancelled"]);
    const updates = (await requestsOf("dynamodb.UpdateItem")) - updatesBefore;

    // Assess: the message names the occurrence's schedule; deliver's only UpdateItem was the start it used (a
    // read-free start first, refused for an occurrence, would make it two); one callback, one attempt
    expect(JSON.parse(String(message.Body))).toEqual({ v: 1, taskId, scheduleId: created.schedule_id });
    expect(await groupTasks(client, group)).toHaveLength(1);
    expect(delivered).toMatchObject({ status: "delivered", attempts: 1, schedule_id: created.schedule_id });
    expect(h.receiver.forTask(taskId)).toHaveLength(1);
    expect(updates).toBe(1);
  });
});
