import type { SQSRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { runGroups } from "#shared/services/deliver/group-runner.js";
import { fifoRecord, makeTask } from "../../../support/factories.js";

/** Records of the given groups, in the order given (a new task each, so ids are unique per test). */
function recordsOf(...groups: string[]): SQSRecord[] {
  return groups.map((group) => fifoRecord(makeTask({ group, dueAtMs: 0, acceptedAtMs: 0 })));
}

const NO_WATCHDOG = { budgetMs: () => 60_000, onOverdue: () => undefined };

describe.each([1, 10])("group runner at limit %i", (limit) => {
  it("stops a group at its first failure, reports the rest of that group failed unattempted, other groups go on; failures in batch order", async () => {
    // Prepare: A = records 0, 2, 4 (its head fails); B = records 1, 3.
    const records = recordsOf("A", "B", "A", "B", "A");
    const [a1, b1, a2, b2, a3] = records as [SQSRecord, SQSRecord, SQSRecord, SQSRecord, SQSRecord];
    const attempted: string[] = [];
    const handle = async (record: SQSRecord) => {
      attempted.push(record.messageId);
      if (record === a1) throw new Error("head failed");
    };

    // Act
    const response = await runGroups(records, handle, { limit, ...NO_WATCHDOG });

    // Assess
    expect(response.batchItemFailures).toEqual([a1, a2, a3].map((r) => ({ itemIdentifier: r.messageId })));
    expect(new Set(attempted)).toEqual(new Set([a1.messageId, b1.messageId, b2.messageId]));
    expect(attempted.indexOf(b2.messageId)).toBeGreaterThan(attempted.indexOf(b1.messageId));
  });

  it("runs at most `limit` groups at once", async () => {
    // Prepare: twelve groups of one record each, every step yielding to the event loop.
    const records = recordsOf(...Array.from({ length: 12 }, (_, i) => `g${i}`));
    let inFlight = 0;
    let peak = 0;
    const handle = async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
    };

    // Act
    const response = await runGroups(records, handle, { limit, ...NO_WATCHDOG });

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(peak).toBe(limit);
  });

  it("a step past its budget fails the rest of its group and is reported; the other groups' results stand", async () => {
    // Prepare: A's head never settles; budget 20 ms.
    const records = recordsOf("A", "B", "A");
    const [a1, b1, a2] = records as [SQSRecord, SQSRecord, SQSRecord];
    const overdue: [string, number][] = [];
    const handle = (record: SQSRecord) =>
      record === a1 ? new Promise<void>(() => undefined) : Promise.resolve();

    // Act
    const response = await runGroups(records, handle, {
      limit,
      budgetMs: () => 20,
      onOverdue: (record, budgetMs) => overdue.push([record.messageId, budgetMs]),
    });

    // Assess
    expect(response.batchItemFailures).toEqual([a1, a2].map((r) => ({ itemIdentifier: r.messageId })));
    expect(response.batchItemFailures).not.toContainEqual({ itemIdentifier: b1.messageId });
    expect(overdue).toEqual([[a1.messageId, 20]]);
  });

  it("aborts the signal of a step it gave up on, and only that one", async () => {
    // Prepare: A's head never settles; B's step keeps its signal
    const records = recordsOf("A", "B");
    const [a1, b1] = records as [SQSRecord, SQSRecord];
    const signals = new Map<string, AbortSignal>();
    const handle = (record: SQSRecord, signal: AbortSignal) => {
      signals.set(record.messageId, signal);
      return record === a1 ? new Promise<void>(() => undefined) : Promise.resolve();
    };

    // Act
    await runGroups(records, handle, { limit, budgetMs: () => 20, onOverdue: () => undefined });

    // Assess
    expect(signals.get(a1.messageId)?.aborted).toBe(true);
    expect(signals.get(b1.messageId)?.aborted).toBe(false);
  });
});
