import { randomUUID } from "node:crypto";
import { ReceiveMessageCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { DEAD_LETTER_REASON_ATTRIBUTE } from "#shared/adapters/topic-queue.js";
import { readTopology } from "#shared/contract/topology.js";
import { makeTaskKey, newUlid } from "#shared/domain/keys.js";
import { taskMessageBody } from "#shared/domain/messages.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { ENV } from "#shared/runtime/env.js";
import { type HostileReceiver, startHostileReceiver } from "../support/hostile-receiver.js";
import { e2eTarget, type Harness, localSqsClient, startHarness } from "./support/harness.js";

/**
 * A receiver that answers `101 Switching Protocols` (and one whose `200` has a body that never ends, and one that
 * sends blank lines without end), through the local cloud: the real deliver function and callback client, real SQS FIFO semantics (fauxqs), a raw-socket
 * receiver on 127.0.0.1. Before the 101 fix the attempt never settled: the task stayed `delivering` with no `last_error`, came back only after the queue's
 * visibility timeout (minutes, beyond this test's timeout), and held the rest of its batch.
 *
 * Local cloud only: a stack in LocalStack runs its functions in containers that cannot reach this receiver.
 */
let h: Harness;
let hostile: HostileReceiver;
let sqs: SQSClient;
const local = e2eTarget() === "local";

beforeAll(async () => {
  if (!local) return;
  h = await startHarness();
  hostile = await startHostileReceiver();
  sqs = localSqsClient(h.cloud);
});

afterAll(async () => {
  sqs?.destroy();
  await hostile?.stop();
  await h?.stop();
});

async function addTask(body: Record<string, unknown>) {
  const response = await h.api("POST", "/v1/tasks", { topic: "demo", delay_seconds: 0, ...body });
  expect(response.status, response.text).toBe(201);
  return response.json as { task_id: string };
}

/** Polls GET /v1/tasks/{id} until `predicate` holds (a correctness bound, not a speed target). */
async function waitForTask(taskId: string, predicate: (task: Record<string, unknown>) => boolean) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { json } = await h.api("GET", `/v1/tasks/${encodeURIComponent(taskId)}`);
    if (predicate(json)) return json;
    if (Date.now() > deadline) throw new Error(`task ${taskId} never matched; last: ${JSON.stringify(json)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.runIf(local)("a receiver answering 101 Switching Protocols cannot stall its topic", () => {
  it("the attempt records last_error and is retried by backoff; delivered once the receiver is fixed; another group is delivered meanwhile", async () => {
    // Prepare: the receiver switches protocols on the first two requests to this path, then answers 200.
    const path = `/upgrade/2/${randomUUID()}`;

    // Act
    const stuck = await addTask({
      content: { order_id: `o-${randomUUID()}` },
      callback: { url: `${hostile.url}${path}` },
    });
    const other = await addTask({
      content: { order_id: `o-${randomUUID()}` },
      callback: { url: `${h.receiver.url}/ok/other` },
    });
    const failing = await waitForTask(stuck.task_id, (t) => t.last_error !== undefined);
    await h.receiver.waitFor(() => h.receiver.forTask(other.task_id).length > 0);
    const delivered = await h.waitForStatus(stuck.task_id, ["delivered"], 30_000);

    // Assess
    expect(failing).toMatchObject({ status: "delivering", last_error: "receiver switched protocols (101)" });
    expect(delivered).toMatchObject({ status: "delivered", attempts: 3 });
    const requests = hostile.requests.filter((r) => r.path === path);
    expect(requests.map((r) => [r.mode, r.headers["punctual-attempt"]])).toEqual([
      ["upgrade", "1"],
      ["upgrade", "2"],
      ["ok", "3"],
    ]);
    // The other group did not wait for the stuck one.
    const otherArrival = h.receiver.forTask(other.task_id)[0]?.receivedAtMs ?? Number.POSITIVE_INFINITY;
    expect(otherArrival).toBeLessThan(requests[2]?.receivedAtMs ?? 0);
    expect(await h.waitForStatus(other.task_id, ["delivered"])).toMatchObject({ attempts: 1 });
  });

  it("a receiver that always answers 101 ends dead-lettered after maxAttempts with that reason", async () => {
    const path = `/upgrade/${randomUUID()}`;

    const task = await addTask({
      content: { order_id: `o-${randomUUID()}` },
      callback: { url: `${hostile.url}${path}` },
    });
    const failed = await h.waitForStatus(task.task_id, ["failed"], 30_000);

    expect(failed).toMatchObject({
      status: "failed",
      attempts: 3,
      last_error: "receiver switched protocols (101)",
    });
    expect(hostile.requests.filter((r) => r.path === path).map((r) => r.mode)).toEqual([
      "upgrade",
      "upgrade",
      "upgrade",
    ]);
  });
});

describe.runIf(local)("a receiver whose 200 has a body that never ends", () => {
  it("is a delivery, recorded once the callback timeout cuts the body off: one request, one attempt, not retried", async () => {
    // Prepare: the receiver answers 200 with a 1 KiB Content-Length and sends its body a byte every 100 ms (the demo
    // topic's callback timeout is 5 s, so the body is still arriving when it fires)
    const path = `/trickle/${randomUUID()}`;

    // Act
    const task = await addTask({
      content: { order_id: `o-${randomUUID()}` },
      callback: { url: `${hostile.url}${path}` },
    });
    const delivered = await h.waitForStatus(task.task_id, ["delivered", "failed"], 30_000);

    // Assess: the status line was the answer (a retry would call a receiver that said yes again)
    expect(delivered).toMatchObject({ status: "delivered", attempts: 1 });
    expect(delivered.last_error).toBeUndefined();
    expect(hostile.requests.filter((r) => r.path === path).map((r) => r.mode)).toEqual(["trickle"]);
  });
});

describe.runIf(local)("a receiver that sends blank lines without end ahead of any status line", () => {
  it("is a failed attempt once 256 KiB came (not a read until the timeout), retried by backoff, delivered once the receiver is fixed", async () => {
    // Prepare: the receiver writes CR LF as fast as the client reads it on the first request to this path (HTTP's
    // parser skips any number of them ahead of a status line), then answers 200
    const path = `/blank-lines/1/${randomUUID()}`;

    // Act
    const task = await addTask({
      content: { order_id: `o-${randomUUID()}` },
      callback: { url: `${hostile.url}${path}` },
    });
    const failing = await waitForTask(task.task_id, (t) => t.last_error !== undefined);
    const delivered = await h.waitForStatus(task.task_id, ["delivered", "failed"], 30_000);

    // Assess: the cap on bytes read ended the attempt as a failure without a status (the retried kind)
    expect(failing).toMatchObject({
      status: "delivering",
      last_error: "receiver sent more than 256 KiB without an answer",
    });
    expect(delivered).toMatchObject({ status: "delivered", attempts: 2 });
    expect(hostile.requests.filter((r) => r.path === path).map((r) => r.mode)).toEqual(["blank-lines", "ok"]);
  });
});

describe.runIf(local)("a destination refused by policy at delivery", () => {
  /**
   * A task accepted under an older, wider allow-list, as it stands in the table, due now: its callback host
   * (127.0.0.2, loopback but not listed in the local config) is refused by today's policy at delivery.
   */
  function acceptedEarlier(callbackUrl: string): TaskRecord {
    const group = `ssrf-${randomUUID()}`;
    const dueAtMs = Date.now() - 1_000;
    const key = makeTaskKey("demo", group, dueAtMs, newUlid(Date.now()));
    return {
      pk: key.pk,
      sk: key.sk,
      taskId: key.taskId,
      topic: "demo",
      groupValue: group,
      status: "scheduled",
      dueAtMs,
      acceptedAtMs: dueAtMs - 60_000,
      content: JSON.stringify({ order_id: group }),
      callbackUrl,
      timer: "queue",
      attempts: 0,
    };
  }

  /** The topic DLQ's message for `taskId` and its dead-letter reason (waits until it is there). */
  async function deadLetterOf(taskId: string): Promise<string | undefined> {
    const dlqUrl = readTopology("sweep").demo?.dlqUrl as string;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: dlqUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          VisibilityTimeout: 0,
          MessageAttributeNames: ["All"],
        }),
      );
      const mine = Messages?.find((m) => m.Body === taskMessageBody(taskId));
      if (mine) return mine.MessageAttributes?.[DEAD_LETTER_REASON_ATTRIBUTE]?.StringValue;
    }
    throw new Error(`no DLQ message for ${taskId}`);
  }

  it("fails permanently at once: one attempt, status failed with the reason, in the DLQ, nothing dialled", async () => {
    // Prepare
    const path = `/ok/${randomUUID()}`;
    const port = new URL(hostile.url).port;
    const task = acceptedEarlier(`http://127.0.0.2:${port}${path}`);
    const store = new DynamoTaskStore({ client: h.dynamodb, tableName: h.cloud.tableName });
    expect(await store.putNew(task)).toBe("created");

    // Act: its timer message, as add-task would have sent it.
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: process.env[ENV.timerQueueUrl] as string,
        MessageBody: taskMessageBody(task.taskId),
      }),
    );
    const failed = await h.waitForStatus(task.taskId, ["failed"], 30_000);
    const reason = await deadLetterOf(task.taskId);

    // Assess
    const error =
      'destination refused by policy: host "127.0.0.2" is a private, loopback, link-local or metadata address; ' +
      "it must be named as an IP literal in the topic's allowed callback hosts";
    expect(failed).toMatchObject({ status: "failed", attempts: 1, last_error: error });
    expect(reason).toBe(error);
    expect(hostile.requests.filter((r) => r.path === path)).toEqual([]);
  });
});
