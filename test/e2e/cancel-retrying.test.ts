import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * Cancelling a task that keeps failing, through the local cloud: a receiver answering 500, the task `delivering`
 * between its attempts (its message invisible for its backoff), then DELETE. Real HTTP to the API, real SQS FIFO
 * and DynamoDB emulators, real callbacks on loopback. The backoff is a few seconds so that the cancel usually lands
 * inside it (200); one that meets the next attempt in flight answers 202 and the task ends `cancelled` when that
 * attempt fails (cancel-in-flight.test.ts holds one there on purpose) — the test proves that no callback starts
 * after the cancel, whichever it met: the receiver is called exactly as many times as the DELETE's answer counted.
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

    // Act: cancel once the head's attempt has ended (the next one may have started meanwhile: 202)
    await untilAttemptRecorded(head.task_id);
    const answer = await h.api("DELETE", `/v1/tasks/${head.task_id}`);
    // The attempts the answer counts: those made, and the one in flight for a 202 (it ends the task).
    const callsAtCancel = Number(answer.json.attempts);
    await h.waitForStatus(follower.task_id, ["delivered"]);

    // Assess
    expect([200, 202]).toContain(answer.status);
    expect(answer.json).toMatchObject(
      answer.status === 200
        ? { task_id: head.task_id, status: "cancelled" }
        : { task_id: head.task_id, status: "delivering", cancel_requested: true },
    );
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
