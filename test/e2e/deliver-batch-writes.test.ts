import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ReceivedCallback } from "./support/callback-receiver.js";
import { type Harness, startHarness } from "./support/harness.js";

/**
 * Deliver's writes in batches (issue 13.2) through the local cloud: the real deliver function's BatchGetItem and
 * BatchExecuteStatement calls, answered by the local PartiQL emulation in front of dynalite (local/aws/partiql.ts),
 * counted — and, in the second test, failed statement by statement — by the fault layer.
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

const nextWholeSecond = (aheadMs: number) =>
  new Date(Math.ceil((Date.now() + aheadMs) / 1000) * 1000).toISOString();

/** `groups` groups of `perGroup` tasks, all due the same second, each group added in order. */
async function addGroups(run: string, groups: number, perGroup: number): Promise<string[][]> {
  const dueAt = nextWholeSecond(3_000);
  const url = `${h.receiver.url}/ok/batch-writes`;
  return Promise.all(
    Array.from({ length: groups }, async (_, g) => {
      const ids: string[] = [];
      for (let n = 0; n < perGroup; n++) {
        const answer = await h.api("POST", "/v1/tasks", {
          topic: "demo",
          due_at: dueAt,
          content: { order_id: `${run}-${g}`, n },
          callback: { url },
        });
        expect(answer.status, answer.text).toBe(201);
        ids.push(String(answer.json.task_id));
      }
      return ids;
    }),
  );
}

/** Each task's first callback, in the order the receiver got them. */
function firstDeliveries(ids: readonly string[]): string[] {
  const wanted = new Set(ids);
  const seen = new Set<string>();
  return h.receiver.received
    .map((r: ReceivedCallback) => r.headers["webhook-id"] ?? "")
    .filter((id) => wanted.has(id) && !seen.has(id) && seen.add(id) !== undefined);
}

const statsOf = async (operation: string) => (await h.cloud.faults?.stats())?.[operation];

describe("deliver's writes in batches", () => {
  it("delivers bursts of several groups through batch reads and PartiQL batches: each task once, each group in order, all `delivered`", async () => {
    // Prepare
    const run = randomUUID();
    const before = (await statsOf("dynamodb.BatchExecuteStatement"))?.statements ?? 0;

    // Act
    const groups = await addGroups(run, 4, 6);
    const all = groups.flat();
    await h.receiver.waitFor(() => all.every((id) => h.receiver.forTask(id).length > 0));

    // Assess
    for (const ids of groups) expect(firstDeliveries(ids)).toEqual(ids);
    for (const id of all) {
      expect(h.receiver.forTask(id)).toHaveLength(1);
      expect(await h.waitForStatus(id, ["delivered"])).toMatchObject({ status: "delivered", attempts: 1 });
    }
    const batches = await statsOf("dynamodb.BatchExecuteStatement");
    expect(batches?.requests ?? 0).toBeGreaterThan(0);
    expect((batches?.statements ?? 0) - before).toBeGreaterThanOrEqual(all.length);
    expect((await statsOf("dynamodb.BatchGetItem"))?.requests ?? 0).toBeGreaterThan(0);
  });

  it("with statements failing one by one (refused starts, failed finishes), nothing is lost and each group's first deliveries keep their order", async () => {
    // Prepare: 15 % of the statements refused, 15 % failing with a server error
    const run = randomUUID();
    await h.cloud.faults?.set({
      seed: 7,
      rates: {},
      statementErrors: { ConditionalCheckFailed: 0.15, InternalServerError: 0.15 },
    });

    // Act
    const groups = await addGroups(run, 4, 5);
    const all = groups.flat();
    await h.receiver.waitFor(() => all.every((id) => h.receiver.forTask(id).length > 0), 60_000);
    const finals = await Promise.all(all.map((id) => h.waitForStatus(id, ["delivered", "failed"], 60_000)));
    await h.cloud.faults?.set({ rates: {} });

    // Assess: every task reached its receiver and a final status (a `delivered` write that failed on each of the
    // topic's 3 attempts and on the one more call a lost last outcome gets ends `failed`, dead-lettered after its
    // callbacks; a duplicate carries its webhook-id)
    for (const ids of groups) expect(firstDeliveries(ids)).toEqual(ids);
    expect(finals.map((t) => t.status).filter((s) => s !== "delivered" && s !== "failed")).toEqual([]);
    const injected = (await statsOf("dynamodb.BatchExecuteStatement"))?.statementErrors ?? {};
    expect((injected.ConditionalCheckFailed ?? 0) + (injected.InternalServerError ?? 0)).toBeGreaterThan(0);
  });
});
