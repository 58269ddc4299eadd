import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AddTasksBatchResponse } from "#shared/api/schemas/batch.js";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * POST /v1/tasks/batch's batched path (issue 13, point 3) under the local cloud's fault injection: the functions'
 * AWS calls go through the fault proxies (local/aws/faults.ts), here at zero rate except where a test turns one
 * operation's faults on. Each fault is a whole call failing after the SDK's own retries, so which items answer 503
 * is known up front: the items that use the faulted call (keyed items are claimed and written in PartiQL INSERTs,
 * not BatchWriteItem, and armed in SendMessageBatch like the others; Scheduler-path items in CreateSchedule).
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ faults: { rates: {} }, faultEventSources: false });
});

afterEach(async () => {
  await h?.cloud.faults?.set({ rates: {} });
});

afterAll(async () => {
  await h?.stop();
});

/**
 * The batch as plain HTTP (answers still checked against the OpenAPI document): the typed client gives every item
 * an idempotency key for its retries, and these tests mix items with and without one.
 */
async function addRaw(tasks: readonly unknown[]): Promise<AddTasksBatchResponse> {
  const answer = await h.api("POST", "/v1/tasks/batch", { tasks });
  expect(answer.status, answer.text).toBe(200);
  return answer.json as unknown as AddTasksBatchResponse;
}

/** A fault seed whose first three draws at rate 0.5 hang some calls and not all, for each operation used (found by trying). */
const HANGS_SOME_OF_THREE_SEED = 1;

const nextWholeSecond = (aheadMs: number) =>
  new Date(Math.ceil((Date.now() + aheadMs) / 1000) * 1000).toISOString();

/** Task items in the table (not idempotency claims) whose content names this run. */
async function taskItemsOf(run: string): Promise<{ content: string; taskId: string }[]> {
  const items = await h.tableItems();
  return items
    .filter((item) => (item.content as { S?: string } | undefined)?.S?.includes(run))
    .map((item) => ({
      content: (item.content as { S: string }).S,
      taskId: (item.taskId as { S: string }).S,
    }));
}

/** Near-term plain items and keyed items (every 4th), all due `dueAt`, each a lane of its own. */
function mixedBatch(run: string, dueAt: string) {
  const url = `${h.receiver.url}/ok/batch-faults`;
  return Array.from({ length: 40 }, (_, n) => ({
    topic: "demo",
    due_at: dueAt,
    content: { order_id: `${run}-${n}`, n, amount: 1.5e300 },
    callback: { url },
    ...(n % 4 === 3 ? { idempotency_key: `${run}-${n}` } : {}),
  }));
}

/** `n` near-term items without keys, each a lane of its own. */
function plainBatch(run: string, dueAt: string, n: number) {
  return mixedBatch(run, dueAt)
    .concat(mixedBatch(`${run}-more`, dueAt))
    .concat(mixedBatch(`${run}-yet-more`, dueAt))
    .filter((t) => !("idempotency_key" in t))
    .slice(0, n);
}

describe("POST /v1/tasks/batch under injected faults", () => {
  it.each([
    [
      "every BatchWriteItem fails after it was executed (a write whose answer was lost)",
      "dynamodb",
      "BatchWriteItem",
      { errorAfter: 1 },
    ],
    ["every BatchWriteItem is throttled (nothing written)", "dynamodb", "BatchWriteItem", { throttle: 1 }],
  ] as const)(
    "%s: the plain items answer 503 and are gone; the keyed ones answer 201 and are delivered exactly as sent",
    async (_name, service, operation, rates) => {
      // Prepare
      const run = randomUUID();
      const tasks = mixedBatch(run, nextWholeSecond(3_000));
      await h.cloud.faults?.set({ services: { [service]: { operations: { [operation]: rates } } } });

      // Act
      const answer = await addRaw(tasks);
      await h.cloud.faults?.set({ rates: {} });
      const added = answer.results.flatMap((r, i) => (r.status === 201 ? [{ id: r.task_id ?? "", i }] : []));
      await h.receiver.waitFor(() => added.every(({ id }) => h.receiver.forTask(id).length > 0));

      // Assess: per item, by path
      expect(answer.results.map((r) => r.status)).toEqual(
        tasks.map((t) => ("idempotency_key" in t ? 201 : 503)),
      );
      for (const [i, result] of answer.results.entries()) {
        if (result.status === 503) expect(result.error).toMatchObject({ code: "service_unavailable" });
        else
          expect(h.receiver.forTask(result.task_id ?? "").map((r) => r.json.content)).toEqual([
            tasks[i]?.content,
          ]);
      }
      // The 503 items were removed (or never written): with no task item, nothing can ever deliver them.
      const left = await taskItemsOf(run);
      expect(left.map((t) => t.taskId).sort()).toEqual(added.map((a) => a.id).sort());
      const delivered = h.receiver.received.filter((r) => String(r.json.content?.order_id).startsWith(run));
      expect(delivered.map((r) => Number(r.json.content.n)).sort((a, b) => a - b)).toEqual(
        added.map((a) => a.i),
      );
    },
  );

  it("every SendMessageBatch fails: all answer 503, the plain items are gone, the keyed ones stay; the same batch again answers them 200 with their ids, each delivered once", async () => {
    // Prepare
    const run = randomUUID();
    const tasks = mixedBatch(run, nextWholeSecond(3_000));
    const keyed = tasks.flatMap((t, i) => ("idempotency_key" in t ? [i] : []));
    await h.cloud.faults?.set({ services: { sqs: { operations: { SendMessageBatch: { error: 1 } } } } });

    // Act: the batch, then (faults off) the identical batch, as a client retries a 503
    const first = await addRaw(tasks);
    const kept = await taskItemsOf(run);
    await h.cloud.faults?.set({ rates: {} });
    const again = await addRaw(tasks);
    const ids = again.results.map((r) => r.task_id ?? "");
    await h.receiver.waitFor(() => ids.every((id) => h.receiver.forTask(id).length > 0));

    // Assess: keyed items follow the single add's rule (kept for the retry with the key), plain ones are removed
    expect(first.results.map((r) => r.status)).toEqual(tasks.map(() => 503));
    expect(kept.map((t) => JSON.parse(t.content).n).sort((a, b) => a - b)).toEqual(keyed);
    expect(again.results.map((r) => r.status)).toEqual(tasks.map((_, i) => (keyed.includes(i) ? 200 : 201)));
    expect(keyed.map((i) => ids[i]).sort()).toEqual(kept.map((t) => t.taskId).sort());
    for (const [i, id] of ids.entries()) {
      expect(h.receiver.forTask(id).map((r) => r.json.content)).toEqual([tasks[i]?.content]);
    }
    expect(await taskItemsOf(run)).toHaveLength(40);
    const delivered = h.receiver.received.filter((r) => String(r.json.content?.order_id).startsWith(run));
    expect(delivered).toHaveLength(40);
  });

  it.each([
    ["SendMessageBatch", "sqs", 10],
    ["BatchWriteItem", "dynamodb", 25],
  ] as const)(
    "one %s call of three hangs past the add's deadline: only its items answer 503 and are gone; the others answer 201 and are delivered once",
    async (operation, service, perCall) => {
      // Prepare: plain items in three calls; the seed's draws hang some calls (never answered while the add runs,
      // never forwarded) and answer the others. Due after the add's deadline (its function's 10 s), so no relay
      // call meets the faults.
      const run = randomUUID();
      const tasks = plainBatch(run, nextWholeSecond(12_000), 3 * perCall);
      await h.cloud.faults?.set({
        seed: HANGS_SOME_OF_THREE_SEED,
        timeoutMs: 60_000,
        services: { [service]: { operations: { [operation]: { timeout: 0.5 } } } },
      });

      // Act
      const answer = await addRaw(tasks);
      await h.cloud.faults?.set({ rates: {} });
      const added = answer.results.flatMap((r, i) => (r.status === 201 ? [{ id: r.task_id ?? "", i }] : []));
      await h.receiver.waitFor(() => added.every(({ id }) => h.receiver.forTask(id).length > 0));

      // Assess: each call's items share one answer; some calls hung, some answered
      const statuses = answer.results.map((r) => r.status);
      const calls = [0, 1, 2].map((c) => new Set(statuses.slice(c * perCall, (c + 1) * perCall)));
      expect(calls.every((call) => call.size === 1)).toBe(true);
      expect(new Set(statuses)).toEqual(new Set([201, 503]));
      for (const [i, result] of answer.results.entries()) {
        if (result.status === 503) expect(result.error).toMatchObject({ code: "service_unavailable" });
        else
          expect(h.receiver.forTask(result.task_id ?? "").map((r) => r.json.content)).toEqual([
            tasks[i]?.content,
          ]);
      }
      const left = await taskItemsOf(run);
      expect(left.map((t) => t.taskId).sort()).toEqual(added.map((a) => a.id).sort());
    },
  );

  it("every PartiQL statement fails (no claim made, no keyed task written): the keyed items fall back to the single add and answer 201, delivered exactly as sent", async () => {
    // Prepare
    const run = randomUUID();
    const tasks = mixedBatch(run, nextWholeSecond(3_000));
    await h.cloud.faults?.set({ rates: {}, statementErrors: { InternalServerError: 1 } });
    const before = (await h.cloud.faults?.stats())?.["dynamodb.BatchExecuteStatement"]?.statementErrors;

    // Act
    const answer = await addRaw(tasks);
    const after = (await h.cloud.faults?.stats())?.["dynamodb.BatchExecuteStatement"]?.statementErrors;
    await h.cloud.faults?.set({ rates: {} });
    const ids = answer.results.map((r) => r.task_id ?? "");
    await h.receiver.waitFor(() => ids.every((id) => h.receiver.forTask(id).length > 0));

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual(tasks.map(() => 201));
    // The 10 keys' INSERTs were tried, and failed, 3 rounds each before the fallback (deliver's statements for
    // earlier tests' tasks, failed in the same window, may add to the count).
    expect((after?.InternalServerError ?? 0) - (before?.InternalServerError ?? 0)).toBeGreaterThanOrEqual(30);
    for (const [i, id] of ids.entries()) {
      expect(h.receiver.forTask(id).map((r) => r.json.content)).toEqual([tasks[i]?.content]);
    }
    expect(await taskItemsOf(run)).toHaveLength(40);
  });

  it("answers a batch mixing near-term and Scheduler-path items 503 and 201 item by item when SendMessageBatch fails", async () => {
    // Prepare: even items near-term (batch-armed), odd ones an hour out (one CreateSchedule each)
    const run = randomUUID();
    const tasks = Array.from({ length: 20 }, (_, n) => ({
      topic: "demo",
      delay_seconds: n % 2 === 0 ? 5 : 3_600,
      content: { order_id: `${run}-${n}` },
      callback: { url: `${h.receiver.url}/ok/batch-faults-mixed` },
    }));
    await h.cloud.faults?.set({ services: { sqs: { operations: { SendMessageBatch: { error: 1 } } } } });

    // Act
    const answer = await addRaw(tasks);

    // Assess
    expect(answer.results.map((r) => r.status)).toEqual(tasks.map((_, n) => (n % 2 === 0 ? 503 : 201)));
    const left = await taskItemsOf(run);
    expect(left.map((t) => t.taskId).sort()).toEqual(
      answer.results.flatMap((r) => (r.status === 201 ? [r.task_id] : [])).sort(),
    );
    for (const r of answer.results.filter((r) => r.status === 201)) {
      const read = await h.api("GET", `/v1/tasks/${encodeURIComponent(r.task_id ?? "")}`);
      expect(read.json).toMatchObject({ status: "scheduled" });
    }
  });

  it("a single add whose PutItem stays throttled answers a retryable 503 with Retry-After and leaves no task", async () => {
    // Prepare: what a provisioned table past its capacity and burst does (docs/COST-AND-SCALE.md, "Levers")
    const run = randomUUID();
    await h.cloud.faults?.set({ services: { dynamodb: { operations: { PutItem: { throttle: 1 } } } } });

    // Act
    const answer = await h.api("POST", "/v1/tasks", {
      topic: "demo",
      delay_seconds: 5,
      content: { order_id: run },
      callback: { url: `${h.receiver.url}/ok/throttled-single` },
    });
    await h.cloud.faults?.set({ rates: {} });

    // Assess
    expect(answer.status, answer.text).toBe(503);
    expect(answer.headers.get("retry-after")).toBe("1");
    expect(answer.json).toMatchObject({ error: { code: "service_unavailable" } });
    expect(await taskItemsOf(run)).toEqual([]);
  });
});
