import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * The deployed environments' burst design, run locally: timer messages armed 2 s ahead of due, the relay taking
 * batches of up to 50 gathered for up to 1 s (the local event-source runner honours the template's window) and
 * holding each task until it is due. The invariants must not notice: nothing queued or called back before its
 * due time, every group in order, every task once.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    configOverrides: {
      eventSources: { relay: { batchSize: 50, maxBatchingWindowSeconds: 1 }, earlyWakeSeconds: 2 },
    },
  });
});

afterAll(async () => {
  await h?.stop();
});

describe("early wake with a batching window", () => {
  it("holds early timers until due: nothing queued or delivered early, groups in order, every task once", async () => {
    // Prepare: 3 groups × 8 tasks over two due times 1.5 s apart, far enough out to be armed early.
    const firstDueMs = Math.ceil((Date.now() + 6_000) / 1000) * 1000;
    const dues = [firstDueMs, firstDueMs + 1_500];
    const groups = [0, 1, 2].map(() => `order-${randomUUID()}`);
    const url = `${h.receiver.url}/ok/early-wake`;

    // Act
    const tasks: { id: string; dueAtMs: number; group: string; seq: number }[] = [];
    for (let seq = 0; seq < 8; seq++) {
      for (const group of groups) {
        const dueAtMs = dues[seq < 4 ? 0 : 1] as number;
        const response = await h.api("POST", "/v1/tasks", {
          topic: "demo",
          due_at: new Date(dueAtMs).toISOString(),
          content: { order_id: group, seq },
          callback: { url },
        });
        expect(response.status, response.text).toBe(201);
        tasks.push({ id: String(response.json.task_id), dueAtMs, group, seq });
      }
    }
    await h.receiver.waitFor(() => tasks.every((t) => h.receiver.forTask(t.id).length > 0));

    // Assess
    for (const task of tasks) {
      const [first] = h.receiver.forTask(task.id);
      expect(first?.receivedAtMs, task.id).toBeGreaterThanOrEqual(task.dueAtMs);
      const view = await h.waitForStatus(task.id, ["delivered"]);
      expect(Date.parse(String(view.queued_at)), task.id).toBeGreaterThanOrEqual(task.dueAtMs);
      expect(view.attempts, task.id).toBe(1);
    }
    for (const group of groups) {
      const order = h.receiver.received
        .filter((r) => r.json.content?.order_id === group)
        .map((r) => r.json.content.seq);
      expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    }
  });
});
