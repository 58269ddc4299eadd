import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RELAY_TIMEOUT_SECONDS, visibilityTimeoutSeconds } from "#cdk/lib/sizing.js";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * A timer message the relay reports failed comes back after the relay's short backoff (`relayRetrySeconds`,
 * shared/domain/relay-plan.ts), not after the timer queue's visibility timeout (6 × the relay's timeout, 3 minutes
 * as deployed; the local cloud's queues are the stack's own). FIFO refuses every entry of the relay's
 * SendMessageBatch inside a 200, as it does when throttled: the SDK does not retry that, so the relay's forward
 * fails once and the message is reported failed.
 */
const TIMER_VISIBILITY_MS = visibilityTimeoutSeconds(RELAY_TIMEOUT_SECONDS) * 1000;
/**
 * What tells the two apart: the visibility timeout brings the message back 180 s after the refused receive, the
 * relay's backoff after 1 s (a minute at most, `RELAY_RETRY_MAX_SECONDS`). Half the timeout sits between them with
 * room for a loaded machine; the test without the backoff (functions/relay.ts's `retryAfter` removed) fails here.
 */
const SOONER_THAN_VISIBILITY_MS = TIMER_VISIBILITY_MS / 2;

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ faults: { rates: {} }, faultEventSources: false });
});

afterAll(async () => {
  await h?.stop();
});

async function refusedEntries(): Promise<number> {
  const stats = await h.cloud.faults?.stats();
  const errors = stats?.["sqs.SendMessageBatch"]?.entryErrors ?? {};
  return Object.values(errors).reduce((sum, n) => sum + n, 0);
}

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("relay retry", () => {
  it(
    "a forward FIFO refused is retried within seconds, not after the timer queue's visibility timeout",
    async () => {
      // Prepare: FIFO refuses every batch entry, then a task due in 2 s. The fault goes first: set after the add,
      // a slow add (a loaded machine) could leave the task due and forwarded before it, and nothing refused. The
      // add arms its timer with SendMessage, which the fault leaves alone.
      const refusedBefore = await refusedEntries();
      await h.cloud.faults?.set({ rates: {}, batchEntryErrors: { rate: 1 } });
      const run = randomUUID();
      const dueAt = new Date(Math.ceil((Date.now() + 2_000) / 1000) * 1000).toISOString();
      const added = await h.api("POST", "/v1/tasks", {
        topic: "demo",
        due_at: dueAt,
        content: { order_id: run },
        callback: { url: `${h.receiver.url}/ok/relay-retry` },
      });
      expect(added.status, added.text).toBe(201);
      const taskId = (added.json as { task_id: string }).task_id;

      // Act: once the relay's forward has been refused, FIFO takes sends again
      await until(async () => (await refusedEntries()) > refusedBefore, 20_000);
      await h.cloud.faults?.set({ rates: {} });
      const refusedAtMs = Date.now();
      await h.receiver.waitFor(() => h.receiver.forTask(taskId).length > 0, SOONER_THAN_VISIBILITY_MS);

      // Assess: delivered once, before the refused message could have come back on its own
      const callbacks = h.receiver.forTask(taskId);
      expect(callbacks.map((c) => c.json.content)).toEqual([{ order_id: run }]);
      expect((callbacks[0]?.receivedAtMs ?? Number.POSITIVE_INFINITY) - refusedAtMs).toBeLessThan(
        SOONER_THAN_VISIBILITY_MS,
      );
      expect(Date.parse(dueAt)).toBeLessThanOrEqual(callbacks[0]?.receivedAtMs ?? 0);
    },
    SOONER_THAN_VISIBILITY_MS + 60_000,
  );
});
