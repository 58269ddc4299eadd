import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliverTimeoutSeconds, visibilityTimeoutSeconds } from "#cdk/lib/sizing.js";
import { topicViewSchema } from "#shared/api/schemas/topics.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * A deliver batch whose visibility change never answers (the SQS call held, its answer lost) answers all the same
 * once it gives the change up (`applyVisibilityWithin`). Before, the invocation ran to the function's timeout, the
 * whole batch failed, and its acknowledged records stayed in flight for the topic queue's visibility timeout,
 * holding their FIFO groups' next messages back that long.
 */
const demo = loadEnvironmentConfig("local").resolvedTopics.demo;
if (!demo) throw new Error("the local configuration has no demo topic");
const VISIBILITY_MS = visibilityTimeoutSeconds(deliverTimeoutSeconds(demo)) * 1000;
/** Between the bounded wait's few seconds and the visibility timeout's return: half the timeout. */
const SOONER_THAN_VISIBILITY_MS = VISIBILITY_MS / 2;
/** Long past the function's timeout: the change's call is held, never answered, while the test runs. */
const HELD_MS = 10 * 60_000;

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ faults: { rates: {} }, faultEventSources: false });
});

afterAll(async () => {
  await h?.cloud.faults?.set({ rates: {} });
  await h?.api("POST", "/v1/topics/demo/resume");
  await h?.stop();
});

async function heldVisibilityCalls(): Promise<number> {
  const stats = await h.cloud.faults?.stats();
  return stats?.["sqs.ChangeMessageVisibilityBatch"]?.faults.timeout ?? 0;
}

/** Polls GET /v1/topics/demo until at least `count` messages wait in its queue. */
async function untilWaiting(count: number): Promise<void> {
  for (;;) {
    const view = topicViewSchema.parse((await h.api("GET", "/v1/topics/demo")).json);
    if (view.backlog.waiting >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("deliver: a visibility change whose answer is lost", () => {
  it(
    "holds the groups that shared its batch seconds, not the topic queue's visibility timeout",
    async () => {
      // Prepare: the topic held while two tasks wait in its queue, so that one batch takes both: one whose first
      // attempt fails (its group backs off: a visibility change), one that succeeds and has a follower due after
      // the batch is received. Every visibility change is then held unanswered.
      const run = randomUUID();
      const add = async (order: string, dueAtMs: number, path: string) => {
        const added = await h.api("POST", "/v1/tasks", {
          topic: "demo",
          due_at: new Date(dueAtMs).toISOString(),
          content: { order_id: `${run}-${order}` },
          callback: { url: `${h.receiver.url}/${path}/visibility-hang` },
        });
        expect(added.status, added.text).toBe(201);
        return (added.json as { task_id: string }).task_id;
      };
      expect((await h.api("POST", "/v1/topics/demo/pause")).status).toBe(200);
      const failing = await add("a", Date.now() + 1_000, "flaky/1");
      const first = await add("b", Date.now() + 1_000, "ok");
      await untilWaiting(2);
      const nextDueMs = Date.now() + 4_000;
      const next = await add("b", nextDueMs, "ok");
      await h.cloud.faults?.set({
        rates: {},
        timeoutMs: HELD_MS,
        services: { sqs: { operations: { ChangeMessageVisibilityBatch: { timeout: 1 } } } },
      });

      // Act
      expect((await h.api("POST", "/v1/topics/demo/resume")).status).toBe(200);
      await h.receiver.waitFor(
        () => h.receiver.forTask(next).length > 0,
        nextDueMs + SOONER_THAN_VISIBILITY_MS - Date.now(),
      );

      // Assess: the failing task was attempted and its change held; its batch's other group went on within
      // seconds, in order
      expect(h.receiver.forTask(failing).map((c) => c.status)).toEqual([503]);
      expect(await heldVisibilityCalls()).toBeGreaterThan(0);
      const firstAt = h.receiver.forTask(first)[0]?.receivedAtMs ?? Number.POSITIVE_INFINITY;
      const nextAt = h.receiver.forTask(next)[0]?.receivedAtMs ?? 0;
      expect(firstAt).toBeLessThanOrEqual(nextAt);
      expect(nextAt - nextDueMs).toBeLessThan(SOONER_THAN_VISIBILITY_MS);
    },
    SOONER_THAN_VISIBILITY_MS + 60_000,
  );
});
