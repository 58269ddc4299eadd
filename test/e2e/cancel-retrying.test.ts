import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * Cancelling a task that keeps failing, through the local cloud: a receiver answering 500, the task `delivering`
 * between its attempts (its message invisible for its backoff), then DELETE. Real HTTP to the API, real SQS FIFO
 * and DynamoDB emulators, real callbacks on loopback. The backoff is a few seconds so that the cancel usually lands
 * inside it; a cancel that meets the next attempt in flight answers 409 and is repeated after that attempt, which
 * is the behaviour too — the test proves nothing is called after the 200, whichever attempt it followed.
 */
let h: Harness;
let client: PunctualClient;

beforeAll(async () => {
  h = await startHarness({
    configOverrides: { topics: { demo: { maxAttempts: 10, backoff: { initialSeconds: 3, maxSeconds: 3 } } } },
  });
  client = new PunctualClient({ apiUrl: h.cloud.apiUrl });
});

afterAll(async () => {
  await h?.stop();
});

/** Polls the task until its attempts so far all have their outcome logged: no callback in flight. */
async function untilAttemptRecorded(taskId: string): Promise<void> {
  for (;;) {
    const view = await client.getTask(taskId);
    if (["delivered", "failed", "cancelled"].includes(view.status)) throw new Error(`task is ${view.status}`);
    const delivering = view.status === "delivering";
    if (delivering && view.attempts > 0 && view.attempt_log.length === view.attempts) return;
    await sleep(50);
  }
}

describe("cancel of a task waiting for its retry", () => {
  it("DELETE of a delivering task between attempts answers 200: its receiver is not called again, and its group's follower is delivered", async () => {
    // Prepare: a failing head and an ordinary follower in one group, the head's first attempt answered 500
    const group = `order-${randomUUID()}`;
    const add = (path: string, n: number) =>
      client.addTask({
        topic: "demo",
        delay_seconds: 0,
        content: { order_id: group, n },
        callback: { url: `${h.receiver.url}${path}` },
      });
    const head = await add(`/fail/retrying-${randomUUID()}`, 1);
    const follower = await add("/ok/retrying-follower", 2);

    // Act: cancel once the head's attempt has ended (repeated if the next attempt was in flight: 409)
    let answer: Awaited<ReturnType<Harness["api"]>>;
    const refused: unknown[] = [];
    for (;;) {
      await untilAttemptRecorded(head.task_id);
      answer = await h.api("DELETE", `/v1/tasks/${head.task_id}`);
      if (answer.status !== 409) break;
      refused.push(answer.json.error);
    }
    const callsAtCancel = h.receiver.forTask(head.task_id).length;
    await h.waitForStatus(follower.task_id, ["delivered"]);

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({
      task_id: head.task_id,
      status: "cancelled",
      attempts: callsAtCancel,
    });
    for (const error of refused) {
      expect(error).toMatchObject({ code: "conflict", task_status: "delivering" });
      expect(String((error as { message: string }).message)).toContain("being made now");
    }
    expect(callsAtCancel).toBeGreaterThan(0);
    expect(h.receiver.forTask(head.task_id)).toHaveLength(callsAtCancel);
    expect(await client.getTask(head.task_id)).toMatchObject({
      status: "cancelled",
      attempts: callsAtCancel,
    });
    const followerCalls = h.receiver.forTask(follower.task_id);
    expect(followerCalls).toHaveLength(1);
    const lastHeadCall = h.receiver.forTask(head.task_id).at(-1)?.receivedAtMs ?? Number.POSITIVE_INFINITY;
    expect(followerCalls[0]?.receivedAtMs).toBeGreaterThanOrEqual(lastHeadCall);
  });
});
