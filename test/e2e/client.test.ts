import { randomUUID } from "node:crypto";
import { PunctualClient } from "punctual/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientRefusal } from "../support/refusal.js";
import { type Harness, startHarness, validatingFetch } from "./support/harness.js";

/**
 * The typed client against the local cloud: real HTTP, real callbacks on loopback. Every answer is parsed by the
 * client's response schemas, so a passing call also proves the schemas match what the API sends.
 */
let h: Harness;
let client: PunctualClient;

beforeAll(async () => {
  h = await startHarness();
  client = new PunctualClient({ apiUrl: h.cloud.apiUrl, fetch: validatingFetch });
});

afterAll(async () => {
  await h?.stop();
});

const orderId = () => `order-${randomUUID()}`;

/** Polls through the client until the task reaches `status` (a correctness bound, not a speed target). */
async function clientWaitFor(taskId: string, status: string) {
  await h.waitForStatus(taskId, [status]);
  return client.getTask(taskId);
}

describe("PunctualClient against the local cloud", () => {
  it("adds a task that is delivered with its content exactly as written, and reads it back", async () => {
    // Prepare
    const content = `{"order_id":"${orderId()}","big":12345678901234567890,"price":1.0}`;

    // Act
    const added = await client.addTask({
      topic: "demo",
      delay_seconds: 0,
      content,
      callback: { url: `${h.receiver.url}/ok/client` },
    });
    await h.receiver.waitFor(() => h.receiver.forTask(added.task_id).length > 0);
    const task = await clientWaitFor(added.task_id, "delivered");

    // Assess
    expect(added).toMatchObject({ topic: "demo", status: "scheduled" });
    expect(h.receiver.forTask(added.task_id)[0]?.body).toContain(`"content":${content}`);
    expect(task).toMatchObject({ task_id: added.task_id, status: "delivered", attempts: 1 });
  });

  it("answers a repeat with the same idempotency key with the first task", async () => {
    const body = {
      topic: "demo",
      delay_seconds: 60,
      content: { order_id: orderId() },
      callback: { url: `${h.receiver.url}/ok/client-idem` },
    };
    const key = `client-${randomUUID()}`;

    const first = await client.addTask(body, { idempotencyKey: key });
    const second = await client.addTask(body, { idempotencyKey: key });

    expect(second.task_id).toBe(first.task_id);
    await client.cancelTask(first.task_id);
  });

  it("turns a 4xx into a PunctualError with the API's code and issues", async () => {
    const error = await clientRefusal(
      client.addTask({ topic: "demo", delay_seconds: -1, content: { order_id: orderId() } }),
    );

    expect(error).toMatchObject({
      code: "validation_failed",
      status: 400,
      issues: [{ path: "delay_seconds", message: "must not be negative" }],
    });
  });

  it("cancels a scheduled task, and answers 409 with the status once it was delivered", async () => {
    const later = await client.addTask({
      topic: "demo",
      delay_seconds: 600,
      content: { order_id: orderId() },
      callback: { url: `${h.receiver.url}/ok/client-cancel` },
    });
    const now = await client.addTask({
      topic: "demo",
      delay_seconds: 0,
      content: { order_id: orderId() },
      callback: { url: `${h.receiver.url}/ok/client-cancel` },
    });
    await clientWaitFor(now.task_id, "delivered");

    const cancelled = await client.cancelTask(later.task_id);
    const conflict = await clientRefusal(client.cancelTask(now.task_id));

    expect(cancelled).toMatchObject({ task_id: later.task_id, status: "cancelled" });
    expect(conflict).toMatchObject({ code: "conflict", status: 409, details: { task_status: "delivered" } });
  });

  it("answers an unknown task with not_found", async () => {
    const error = await clientRefusal(client.getTask(`demo.${randomUUID()}`));

    expect(error).toMatchObject({ code: "not_found", status: 404 });
  });
});
