import {
  BatchExecuteStatementCommand,
  type BatchExecuteStatementCommandOutput,
  BatchGetItemCommand,
  type DynamoDBClient,
} from "@aws-sdk/client-dynamodb";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withPartiql } from "#local/aws/partiql.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { type IdempotencyClaim, startedTask, type TaskStore } from "#shared/adapters/task-store.js";
import { attemptLogSlot } from "#shared/domain/attempt-log.js";
import { sweepShardOf } from "#shared/domain/sweep.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { createKeyedTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { makeTask } from "../../support/factories.js";
import { propertyRuns } from "../../support/fast-check-runs.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";

const NOW = Date.UTC(2026, 10, 30, 6, 0, 0);
let dynamo: LocalDynamo;
let client: DynamoDBClient;
let tableCount = 0;
let propertyCase = 0;

beforeAll(async () => {
  dynamo = await startDynalite({ wrap: (listener) => withPartiql(listener) });
  client = dynamo.client;
});

afterAll(async () => {
  await dynamo?.stop();
});

async function tableStore(storeClient: DynamoDBClient = client): Promise<TaskStore> {
  const tableName = `batch-writes-${++tableCount}`;
  await createKeyedTable(client, tableName);
  // The store's clock pinned to the tests' NOW: claims expire a day after it, which the real clock passes.
  return new DynamoTaskStore({ tableName, client: storeClient, nowSeconds: () => NOW / 1000 });
}

const task = (group: string, fields: Partial<TaskRecord> = {}) =>
  makeTask({ group, dueAtMs: NOW - 1_000, acceptedAtMs: NOW - 60_000, ...fields });

describe.each([
  ["the table (dynalite + PartiQL emulation)", tableStore],
  ["the memory fake", async (): Promise<TaskStore> => new MemoryTaskStore()],
])("deliver's batch writes on %s", (_, newStore) => {
  it("readMany reads what exists, leaves out what does not", async () => {
    // Prepare
    const store = await newStore();
    const a = task("r1");
    const b = task("r2", { status: "delivered" });
    await store.putNew(a, { sweepIndex: false });
    await store.putNew(b, { sweepIndex: false });
    const missing = task("r3").taskId;

    // Act
    const { tasks, unread } = await store.readMany([a.taskId, b.taskId, missing]);

    // Assess
    expect(tasks.get(a.taskId)).toEqual(a);
    expect(tasks.get(b.taskId)?.status).toBe("delivered");
    expect(tasks.has(missing)).toBe(false);
    expect(unread.size).toBe(0);
  });

  it("startAttempts refuses a delivering task cancelled while it waited for its retry (read before the cancel)", async () => {
    // Prepare: attempt 1 failed and logged; the batch reads the task, then an operator's cancel lands
    const store = await newStore();
    const a = task("s9");
    await store.putNew(a, { sweepIndex: false });
    const started = (await store.startAttempt(a.taskId, NOW - 900)) as TaskRecord;
    const seq = started.attemptSeq as number;
    await store.recordAttemptFailure(a.taskId, {
      error: "HTTP 500",
      atMs: NOW - 800,
      attemptSeq: seq,
      attempt: { seq, startedAtMs: NOW - 900, durationMs: 100, status: 500, error: "HTTP 500" },
    });
    const { tasks } = await store.readMany([a.taskId]);
    const cancel = await store.cancel(a.taskId, NOW, NOW / 1000 + 3600, { awaitingRetry: true });

    // Act
    const outcomes = await store.startAttempts([{ read: tasks.get(a.taskId) as TaskRecord, atMs: NOW }]);

    // Assess
    expect(cancel.outcome).toBe("cancelled");
    expect(outcomes.get(a.taskId)).toBe("refused");
    expect(await store.get(a.taskId)).toMatchObject({ status: "cancelled", attempts: 1, attemptSeq: seq });
  });

  it("startAttempts refuses a task whose cancel was requested after the read (its in-flight attempt's outcome lost)", async () => {
    // Prepare: attempt 1 started, its outcome never written; the batch reads the task, then an operator's cancel
    // lands on the attempt in flight (a request: status, attempts and attemptSeq stay as read)
    const store = await newStore();
    const a = task("s10");
    await store.putNew(a, { sweepIndex: false });
    await store.startAttempt(a.taskId, NOW - 900);
    const { tasks } = await store.readMany([a.taskId]);
    const cancel = await store.cancel(a.taskId, NOW, NOW / 1000 + 3600, { awaitingRetry: true });

    // Act
    const outcomes = await store.startAttempts([{ read: tasks.get(a.taskId) as TaskRecord, atMs: NOW }]);

    // Assess
    expect(cancel.outcome).toBe("cancel-requested");
    expect(outcomes.get(a.taskId)).toBe("refused");
    expect(await store.get(a.taskId)).toMatchObject({ status: "delivering", attempts: 1, attemptSeq: 1 });
  });

  it("startAttempts writes each start as startedTask says, and refuses a task that moved on since the read", async () => {
    // Prepare: three tasks read; one is cancelled before the start
    const store = await newStore();
    const a = task("s1");
    const b = task("s2");
    const c = task("s4", { status: "queued", queuedAtMs: NOW - 500 });
    for (const t of [a, b, c]) await store.putNew(t, { sweepIndex: false });
    const { tasks } = await store.readMany([a.taskId, b.taskId, c.taskId]);
    expect((await store.cancel(b.taskId, NOW, NOW / 1000 + 3600)).outcome).toBe("cancelled");

    // Act
    const outcomes = await store.startAttempts(
      [a, b, c].map((t) => ({
        read: tasks.get(t.taskId) as TaskRecord,
        atMs: NOW,
        handedOverAtMs: NOW - 200,
      })),
    );

    // Assess: the queued task keeps the hand-over time the sweeper recorded
    expect(Object.fromEntries(outcomes)).toEqual({
      [a.taskId]: "started",
      [b.taskId]: "refused",
      [c.taskId]: "started",
    });
    expect(await store.get(a.taskId)).toEqual(startedTask(a, NOW, NOW - 200));
    expect(await store.get(c.taskId)).toEqual(startedTask(c, NOW, NOW - 200));
    expect((await store.get(c.taskId))?.queuedAtMs).toBe(NOW - 500);
    expect((await store.get(b.taskId))?.status).toBe("cancelled");
  });

  it("startAttempts refuses a start from a stale read (another attempt counted since)", async () => {
    const store = await newStore();
    const a = task("s3");
    await store.putNew(a, { sweepIndex: false });
    const { tasks } = await store.readMany([a.taskId]);
    await store.startAttempt(a.taskId, NOW - 10);

    const outcomes = await store.startAttempts([{ read: tasks.get(a.taskId) as TaskRecord, atMs: NOW }]);

    expect(outcomes.get(a.taskId)).toBe("refused");
    expect(await store.get(a.taskId)).toMatchObject({
      attempts: 1,
      attemptSeq: 1,
      lastAttemptAtMs: NOW - 10,
    });
  });

  it("finishAttempts writes `delivered` for the attempt it belongs to, with the real start and the log entry", async () => {
    // Prepare: a started task in the sweep index
    const store = await newStore();
    const a = task("f1");
    await store.putNew(a);
    const started = (await store.startAttempt(a.taskId, NOW)) as TaskRecord;
    const entry = { seq: 1, startedAtMs: NOW + 40, durationMs: 12, status: 200 };

    // Act
    const failed = await store.finishAttempts([
      {
        kind: "delivered",
        taskId: a.taskId,
        attemptSeq: started.attemptSeq as number,
        attemptLog: { ...started.attemptLog, [attemptLogSlot(9)]: { seq: 9, startedAtMs: 1, durationMs: 1 } },
        result: {
          atMs: NOW + 60,
          latenessMs: 1_040,
          deliveryLatencyMs: 12,
          expiresAt: 1_900_000_000,
          attempt: entry,
          lastAttemptAtMs: NOW + 40,
        },
      },
    ]);

    // Assess
    expect(failed.size).toBe(0);
    const stored = (await store.get(a.taskId)) as TaskRecord;
    expect(stored).toMatchObject({
      status: "delivered",
      deliveredAtMs: NOW + 60,
      latenessMs: 1_040,
      deliveryLatencyMs: 12,
      expiresAt: 1_900_000_000,
      lastAttemptAtMs: NOW + 40,
      attemptLog: {
        [attemptLogSlot(1)]: entry,
        [attemptLogSlot(9)]: { seq: 9, startedAtMs: 1, durationMs: 1 },
      },
    });
    // Out of the sweep index, which it was in while its attempt ran
    expect(stored.sweepShard).toBeUndefined();
    expect(started.sweepShard).toBe(sweepShardOf(a.taskId));
  });

  it("finishAttempts refuses `delivered` for an attempt that is no longer the task's or a task failed since; one already delivered in that attempt is done", async () => {
    // Prepare: a in its second attempt, b dead-lettered in its first, c delivered in its first (a lost try of ours)
    const store = await newStore();
    const [a, b, c] = [task("f2"), task("f3"), task("f4")];
    for (const t of [a, b, c]) await store.putNew(t, { sweepIndex: false });
    await store.startAttempt(a.taskId, NOW);
    await store.startAttempt(a.taskId, NOW + 1); // a second attempt (e.g. a re-delivered copy)
    await store.startAttempt(b.taskId, NOW);
    await store.markFailed(b.taskId, { error: "x", atMs: NOW, expiresAt: 1 });
    await store.startAttempt(c.taskId, NOW);
    await store.markDelivered(c.taskId, { atMs: NOW, latenessMs: 0, deliveryLatencyMs: 1, expiresAt: 1 });
    const result = { atMs: NOW + 5, latenessMs: 0, deliveryLatencyMs: 1, expiresAt: 2 };

    // Act
    const failed = await store.finishAttempts(
      [a, b, c].map((t) => ({ kind: "delivered" as const, taskId: t.taskId, attemptSeq: 1, result })),
    );

    // Assess
    expect([...failed].sort()).toEqual([a.taskId, b.taskId].sort());
    expect((await store.get(a.taskId))?.status).toBe("delivering");
    expect((await store.get(b.taskId))?.status).toBe("failed");
    expect(await store.get(c.taskId)).toMatchObject({ status: "delivered", expiresAt: 1 });
  });

  it("a give-back restores the task exactly as read, only while it is still in that start", async () => {
    // Prepare: two tasks started from a read; the second then started again by someone else
    const store = await newStore();
    const a = task("g1");
    const b = task("g2", { status: "queued", queuedAtMs: NOW - 900 });
    for (const t of [a, b]) await store.putNew(t, { sweepIndex: false });
    const { tasks } = await store.readMany([a.taskId, b.taskId]);
    const reads = [a, b].map((t) => tasks.get(t.taskId) as TaskRecord);
    await store.startAttempts(reads.map((read) => ({ read, atMs: NOW, handedOverAtMs: NOW - 100 })));
    await store.recordAttemptFailure(b.taskId, { error: "x", atMs: NOW + 1 });
    await store.startAttempt(b.taskId, NOW + 2);

    // Act
    const failed = await store.finishAttempts(
      reads.map((read) => ({
        kind: "giveBack" as const,
        read,
        started: startedTask(read, NOW, NOW - 100),
        atMs: NOW + 3,
      })),
    );

    // Assess
    expect([...failed]).toEqual([b.taskId]);
    expect(await store.get(a.taskId)).toEqual(reads[0]);
    expect(await store.get(b.taskId)).toMatchObject({
      status: "delivering",
      attempts: 2,
      lastAttemptAtMs: NOW + 2,
    });
  });

  it("a give-back of a start that was never written (its answer lost) changes nothing and is not a failure", async () => {
    // Prepare: a task read, its start never made
    const store = await newStore();
    const t = task("g3", { status: "queued", queuedAtMs: NOW - 900 });
    await store.putNew(t, { sweepIndex: false });
    const { tasks } = await store.readMany([t.taskId]);
    const read = tasks.get(t.taskId) as TaskRecord;

    // Act
    const failed = await store.finishAttempts([
      { kind: "giveBack", read, started: startedTask(read, NOW, NOW - 100), atMs: NOW + 1 },
    ]);

    // Assess
    expect([...failed]).toEqual([]);
    expect(await store.get(t.taskId)).toEqual(read);
  });

  it("a give-back of a start whose cancel was requested meanwhile ends the task cancelled: restored as read, the request's TTL, out of the sweep index", async () => {
    // Prepare: two tasks started from a read (one in the sweep index, one a retry: attempt 1 failed); an operator's
    // DELETE then meets each start with no outcome (a request, 202); a third is given back with no request
    const store = await newStore();
    const a = task("c1");
    const b = task("c2");
    const c = task("c3");
    await store.putNew(a);
    for (const t of [b, c]) await store.putNew(t, { sweepIndex: false });
    await store.startAttempt(b.taskId, NOW - 900);
    await store.recordAttemptFailure(b.taskId, { error: "HTTP 500", atMs: NOW - 800, attemptSeq: 1 });
    const { tasks } = await store.readMany([a.taskId, b.taskId, c.taskId]);
    const reads = [a, b, c].map((t) => tasks.get(t.taskId) as TaskRecord);
    await store.startAttempts(reads.map((read) => ({ read, atMs: NOW, handedOverAtMs: NOW - 100 })));
    const ttl = NOW / 1000 + 3600;
    const requests = [
      await store.cancel(a.taskId, NOW + 1, ttl, { awaitingRetry: true }),
      await store.cancel(b.taskId, NOW + 1, ttl, { awaitingRetry: true }),
    ];

    // Act
    const failed = await store.finishAttempts(
      reads.map((read) => ({
        kind: "giveBack" as const,
        read,
        started: startedTask(read, NOW, NOW - 100),
        atMs: NOW + 2,
      })),
    );

    // Assess: no callback was made and none will be: cancelled now, not `scheduled` with a request until its
    // record comes back; the one with no request restored as before
    expect(requests.map((r) => r.outcome)).toEqual(["cancel-requested", "cancel-requested"]);
    expect([...failed]).toEqual([]);
    const [readA, readB] = reads as [TaskRecord, TaskRecord, TaskRecord];
    const cancelled = {
      status: "cancelled",
      cancelledAtMs: NOW + 2,
      cancelRequestedAtMs: NOW + 1,
      expiresAt: ttl,
    };
    const after = await store.get(a.taskId);
    expect(after).toMatchObject({ ...cancelled, attempts: 0 });
    expect(readA.sweepShard).toBeDefined();
    expect(after?.sweepShard).toBeUndefined();
    for (const field of ["attemptSeq", "lastAttemptAtMs", "attemptLog", "queuedAtMs"] as const)
      expect(after?.[field]).toBeUndefined();
    expect(await store.get(b.taskId)).toMatchObject({
      ...cancelled,
      attempts: 1,
      attemptSeq: 1,
      lastAttemptAtMs: readB.lastAttemptAtMs,
      lastError: "HTTP 500",
    });
    expect(await store.get(c.taskId)).toEqual(reads[2]);
  });

  it("a give-back of a start a resend's refused start already ended cancelled (its cancel requested) is not reported lost", async () => {
    // Prepare: the batch's start; an operator's DELETE records a request on it (202); the task's record comes back
    // (the sweeper's resend) and that start, refused by the request, ends the task cancelled, the attempt counted
    const store = await newStore();
    const t = task("c5");
    await store.putNew(t, { sweepIndex: false });
    const read = (await store.readMany([t.taskId])).tasks.get(t.taskId) as TaskRecord;
    await store.startAttempts([{ read, atMs: NOW }]);
    const ttl = NOW / 1000 + 3600;
    expect((await store.cancel(t.taskId, NOW + 1, ttl, { awaitingRetry: true })).outcome).toBe(
      "cancel-requested",
    );
    expect(await store.startAttempt(t.taskId, NOW + 2)).toBeUndefined();

    // Act
    const failed = await store.finishAttempts([
      { kind: "giveBack", read, started: startedTask(read, NOW), atMs: NOW + 3 },
    ]);

    // Assess: the task has ended and no callback was made: nothing is left to give back, so nothing is lost
    // (deliver would log "giving back an unused start failed; that attempt counts" for a lost one)
    expect([...failed]).toEqual([]);
    expect(await store.get(t.taskId)).toMatchObject({
      status: "cancelled",
      cancelledAtMs: NOW + 2,
      cancelRequestedAtMs: NOW + 1,
      expiresAt: ttl,
      attempts: 1,
    });
  });

  it("a give-back refused because another start followed is not ended cancelled by that start's request", async () => {
    // Prepare: the batch's start, then another writer's attempt after it (failed, then started again), on which
    // an operator's DELETE records a request: the give-back's start is not the task's any more
    const store = await newStore();
    const t = task("c4");
    await store.putNew(t, { sweepIndex: false });
    const { tasks } = await store.readMany([t.taskId]);
    const read = tasks.get(t.taskId) as TaskRecord;
    await store.startAttempts([{ read, atMs: NOW }]);
    await store.recordAttemptFailure(t.taskId, { error: "x", atMs: NOW + 1, attemptSeq: 1 });
    await store.startAttempt(t.taskId, NOW + 2);
    expect((await store.cancel(t.taskId, NOW + 3, NOW / 1000 + 3600, { awaitingRetry: true })).outcome).toBe(
      "cancel-requested",
    );

    // Act
    const failed = await store.finishAttempts([
      { kind: "giveBack", read, started: startedTask(read, NOW), atMs: NOW + 4 },
    ]);

    // Assess: refused; the attempt in flight keeps the request, which its own outcome honours
    expect([...failed]).toEqual([t.taskId]);
    expect(await store.get(t.taskId)).toMatchObject({
      status: "delivering",
      attemptSeq: 2,
      cancelRequestedAtMs: NOW + 3,
    });
  });
});

describe("deliver's give-back met by a cancel request on the table: a second DELETE between its two statements", () => {
  it("a give-back whose cancel's end meets a second DELETE's TTL is written again with it: cancelled, not left `delivering`", async () => {
    // Prepare: a start from a read; a DELETE meets it (202); the first BatchExecuteStatement (the give-back,
    // refused by that request) is answered, then a second DELETE of the same task rewrites the TTL the request
    // recorded (cancelExpiresAt) before the cancel's end is sent
    let store: TaskStore | undefined;
    let batches: number | undefined;
    const secondTtl = NOW / 1000 + 7200;
    const second: { outcome?: string } = {};
    store = await tableStore({
      send: async (command: unknown) => {
        const out = await client.send(command as never);
        if (
          command instanceof BatchExecuteStatementCommand &&
          batches !== undefined &&
          ++batches === 1 &&
          store
        )
          Object.assign(second, await store.cancel(t.taskId, NOW + 3, secondTtl, { awaitingRetry: true }));
        return out;
      },
    } as unknown as DynamoDBClient);
    const t = task("r1");
    await store.putNew(t, { sweepIndex: false });
    const { tasks } = await store.readMany([t.taskId]);
    const read = tasks.get(t.taskId) as TaskRecord;
    await store.startAttempts([{ read, atMs: NOW }]);
    expect((await store.cancel(t.taskId, NOW + 1, NOW / 1000 + 3600, { awaitingRetry: true })).outcome).toBe(
      "cancel-requested",
    );
    batches = 0;

    // Act
    const failed = await store.finishAttempts([
      { kind: "giveBack", read, started: startedTask(read, NOW), atMs: NOW + 2 },
    ]);

    // Assess: both DELETEs answered 202; no callback was made: the task ends cancelled with the TTL on the item
    expect(second.outcome).toBe("cancel-requested");
    expect([...failed]).toEqual([]);
    expect(await store.get(t.taskId)).toMatchObject({
      status: "cancelled",
      cancelledAtMs: NOW + 2,
      cancelRequestedAtMs: NOW + 1,
      expiresAt: secondTtl,
      attempts: 0,
    });
  });

  it("a give-back whose cancel's end meets the task ended cancelled by a resend's refused start reports nothing lost", async () => {
    // Prepare: a start from a read; a DELETE meets it (202); the first BatchExecuteStatement (the give-back,
    // refused by that request) is answered, then the task's record comes back (the sweeper's resend) and its start,
    // refused by the request, ends the task cancelled before the cancel's end is sent
    let store: TaskStore | undefined;
    let batches: number | undefined;
    let resent: TaskRecord | undefined | null = null;
    store = await tableStore({
      send: async (command: unknown) => {
        const out = await client.send(command as never);
        if (
          command instanceof BatchExecuteStatementCommand &&
          batches !== undefined &&
          ++batches === 1 &&
          store
        )
          resent = await store.startAttempt(t.taskId, NOW + 3);
        return out;
      },
    } as unknown as DynamoDBClient);
    const t = task("r2");
    await store.putNew(t, { sweepIndex: false });
    const read = (await store.readMany([t.taskId])).tasks.get(t.taskId) as TaskRecord;
    await store.startAttempts([{ read, atMs: NOW }]);
    const ttl = NOW / 1000 + 3600;
    expect((await store.cancel(t.taskId, NOW + 1, ttl, { awaitingRetry: true })).outcome).toBe(
      "cancel-requested",
    );
    batches = 0;

    // Act
    const failed = await store.finishAttempts([
      { kind: "giveBack", read, started: startedTask(read, NOW), atMs: NOW + 2 },
    ]);

    // Assess: the resend's start was refused and ended the task (its attempt counted); nothing is left to give
    // back, so the give-back is not reported lost (deliver would warn "…that attempt counts")
    expect(resent).toBeUndefined();
    expect([...failed]).toEqual([]);
    expect(await store.get(t.taskId)).toMatchObject({
      status: "cancelled",
      cancelledAtMs: NOW + 3,
      expiresAt: ttl,
      attempts: 1,
    });
  });

  it("property: DELETEs and another start landing around a give-back's statements never leave a request on a `scheduled` task, nor cancel one without a request", async () => {
    // Each case: a start from a read, a DELETE before the give-back or not, then after each of the give-back's
    // BatchExecuteStatements (its first statement, its cancel's end, any rewrite) either nothing, another DELETE
    // with a TTL of its own, or another writer's start of the task (its record back: the read path's startAttempt)
    type Step = { kind: "none" } | { kind: "delete"; ttl: number } | { kind: "start" };
    const step = fc.oneof(
      fc.constant<Step>({ kind: "none" }),
      fc.integer({ min: 1, max: 9 }).map((h): Step => ({ kind: "delete", ttl: NOW / 1000 + h * 3600 })),
      fc.constant<Step>({ kind: "start" }),
    );
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(step, { maxLength: 5 }), async (deleteFirst, steps) => {
        // Prepare
        let store: TaskStore | undefined;
        let armed = false;
        let at = NOW + 10;
        const cancels: string[] = [];
        let started = false;
        const pending = [...steps];
        const run = async (s: Step, taskId: string) => {
          at += 1;
          if (s.kind === "delete")
            cancels.push((await store?.cancel(taskId, at, s.ttl, { awaitingRetry: true }))?.outcome ?? "");
          if (s.kind === "start") started = (await store?.startAttempt(taskId, at)) !== undefined || started;
        };
        const t = task(`p${++propertyCase}`);
        store = await tableStore({
          send: async (command: unknown) => {
            const out = await client.send(command as never);
            const s = armed && command instanceof BatchExecuteStatementCommand ? pending.shift() : undefined;
            if (s) await run(s, t.taskId);
            return out;
          },
        } as unknown as DynamoDBClient);
        await store.putNew(t, { sweepIndex: false });
        const read = (await store.readMany([t.taskId])).tasks.get(t.taskId) as TaskRecord;
        await store.startAttempts([{ read, atMs: NOW }]);
        if (deleteFirst) await run({ kind: "delete", ttl: NOW / 1000 + 1800 }, t.taskId);
        armed = true;

        // Act
        await store.finishAttempts([
          { kind: "giveBack", read, started: startedTask(read, NOW), atMs: NOW + 5 },
        ]);
        armed = false;

        // Assess
        const after = (await store.get(t.taskId)) as TaskRecord;
        const requested = cancels.some((o) => o === "cancel-requested" || o === "cancelled");
        // Never `scheduled` with a request (the give-back ends such a task), nor cancelled with no DELETE's 202/200
        expect(after.status === "scheduled" && after.cancelRequestedAtMs !== undefined).toBe(false);
        if (after.status === "cancelled") expect(requested).toBe(true);
        // A 202 or 200 ends the task cancelled, unless another start took it meanwhile (that attempt's outcome
        // decides, its request on it); with no request and no other start, the task is back as read
        if (requested && !started) expect(after.status).toBe("cancelled");
        if (after.status === "cancelled" && after.cancelledAtMs === NOW + 5)
          expect(after.expiresAt).toBe(after.cancelExpiresAt);
        if (!requested && !started) expect(after).toEqual(read);
        if (after.status === "delivering") expect(started).toBe(true);
      }),
      propertyRuns(40),
    );
  }, 60_000);
});

/**
 * A client that sends everything to the table, except that the first BatchExecuteStatement is answered by
 * `first` (given the real client): what dynalite never does on its own.
 */
function firstBatchAnswered(
  first: (statements: number) => Promise<BatchExecuteStatementCommandOutput>,
): DynamoDBClient {
  let calls = 0;
  return {
    send: async (command: unknown) => {
      if (command instanceof BatchExecuteStatementCommand && calls++ === 0) {
        return first(command.input.Statements?.length ?? 0).then(
          (out) => out,
          (error) => {
            throw error;
          },
        );
      }
      return client.send(command as never);
    },
  } as unknown as DynamoDBClient;
}

/** Attempt 1's `delivered` sent after attempt 2 started: the store, the task and what finishAttempts reported. */
async function deliveredAfterALaterStart(storeClient: DynamoDBClient, group: string) {
  const store = await tableStore(storeClient);
  const a = task(group);
  await store.putNew(a, { sweepIndex: false });
  await store.startAttempt(a.taskId, NOW);
  await store.startAttempt(a.taskId, NOW + 1);
  const failed = await store.finishAttempts([
    {
      kind: "delivered",
      taskId: a.taskId,
      attemptSeq: 1,
      result: { atMs: NOW + 2, latenessMs: 0, deliveryLatencyMs: 1, expiresAt: 9 },
    },
  ]);
  return { store, taskId: a.taskId, failed };
}

describe("deliver's finishing writes on the table: retries", () => {
  it("retries statements that failed for a reason a retry can change (throttled inside an HTTP 200)", async () => {
    // Prepare: the first call answers every statement ThrottlingError without writing
    const store = await tableStore(
      firstBatchAnswered(async (n) => ({
        Responses: Array.from({ length: n }, () => ({
          Error: { Code: "ThrottlingError", Message: "slow down" },
        })),
        $metadata: {},
      })),
    );
    const a = task("t1");
    await store.putNew(a, { sweepIndex: false });
    const started = (await store.startAttempt(a.taskId, NOW)) as TaskRecord;

    // Act
    const failed = await store.finishAttempts([
      {
        kind: "delivered",
        taskId: a.taskId,
        attemptSeq: 1,
        result: { atMs: NOW + 1, latenessMs: 0, deliveryLatencyMs: 1, expiresAt: 9 },
        ...(started.attemptLog && { attemptLog: started.attemptLog }),
      },
    ]);

    // Assess
    expect(failed.size).toBe(0);
    expect((await store.get(a.taskId))?.status).toBe("delivered");
  });

  it("recognises its own write when the first call was written but its answer lost (the retry's condition fails)", async () => {
    // Prepare: the first call is executed, then fails as a dropped connection would
    let sent = 0;
    const store = await tableStore(
      firstBatchAnswered(async () => {
        sent++;
        throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      }),
    );
    const a = task("t2");
    await store.putNew(a, { sweepIndex: false });
    await store.startAttempt(a.taskId, NOW);
    await store.markDelivered(a.taskId, { atMs: NOW + 1, latenessMs: 0, deliveryLatencyMs: 1, expiresAt: 9 });

    // Act: the retry meets the `delivered` its own lost try wrote
    const failed = await store.finishAttempts([
      {
        kind: "delivered",
        taskId: a.taskId,
        attemptSeq: 1,
        result: { atMs: NOW + 1, latenessMs: 0, deliveryLatencyMs: 1, expiresAt: 9 },
      },
    ]);

    // Assess
    expect(sent).toBe(1);
    expect(failed.size).toBe(0);
  });

  it("reports a statement refused for another reason (a later attempt started) without retrying it", async () => {
    const { store, taskId, failed } = await deliveredAfterALaterStart(client, "t3");

    expect([...failed]).toEqual([taskId]);
    expect(await store.get(taskId)).toMatchObject({ status: "delivering", attemptSeq: 2 });
  });
});

/**
 * A client that answers every BatchExecuteStatement without the items of failed conditions. AWS documents that
 * `ReturnValuesOnConditionCheckFailure: ALL_OLD` returns the item in `Error.Item`, but a public emulator's capture
 * against DynamoDB (nubo-db/dynoxide, eu-west-2, 2026) found BatchExecuteStatement never does: the store must not
 * depend on it.
 */
function withoutConditionItems(): DynamoDBClient {
  return {
    send: async (command: unknown) => {
      const out = await client.send(command as never);
      if (!(command instanceof BatchExecuteStatementCommand)) return out;
      const batch = out as BatchExecuteStatementCommandOutput;
      return {
        ...batch,
        Responses: batch.Responses?.map((r) =>
          r.Error ? { ...r, Error: { Code: r.Error.Code, Message: r.Error.Message } } : r,
        ),
      };
    },
  } as unknown as DynamoDBClient;
}

describe("deliver's batch writes when a failed condition answers without the item", () => {
  it("a retried `delivered` whose earlier try was written counts as written, not failed", async () => {
    // Prepare: the first call is executed, then its answer is lost; every condition failure comes without its item
    let calls = 0;
    const base = withoutConditionItems();
    const store = await tableStore({
      send: async (command: unknown) => {
        const out = await base.send(command as never);
        if (command instanceof BatchExecuteStatementCommand && calls++ === 0) {
          throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
        }
        return out;
      },
    } as unknown as DynamoDBClient);
    const a = task("n1");
    await store.putNew(a, { sweepIndex: false });
    await store.startAttempt(a.taskId, NOW);
    const write = {
      kind: "delivered" as const,
      taskId: a.taskId,
      attemptSeq: 1,
      result: { atMs: NOW + 1, latenessMs: 0, deliveryLatencyMs: 1, expiresAt: 9 },
    };

    // Act: the first call writes `delivered` and throws; the retry's condition fails on that very write
    const failed = await store.finishAttempts([write]);

    // Assess
    expect(calls).toBe(2);
    expect(failed.size).toBe(0);
    expect((await store.get(a.taskId))?.status).toBe("delivered");
  });

  it("a `delivered` refused because a later attempt started is still reported failed", async () => {
    const { taskId, failed } = await deliveredAfterALaterStart(withoutConditionItems(), "n2");

    expect([...failed]).toEqual([taskId]);
  });

  it("a start sent again after its first answer was lost is recognised as started", async () => {
    // Prepare: the start written once already (the lost answer), with the same read and time
    const store = await tableStore(withoutConditionItems());
    const a = task("n3");
    const b = task("n4");
    for (const t of [a, b]) await store.putNew(t, { sweepIndex: false });
    const { tasks } = await store.readMany([a.taskId, b.taskId]);
    const starts = [a, b].map((t) => ({ read: tasks.get(t.taskId) as TaskRecord, atMs: NOW }));
    await store.startAttempts([starts[0] as (typeof starts)[number]]);
    await store.cancel(b.taskId, NOW, NOW / 1000 + 3600);

    // Act
    const outcomes = await store.startAttempts(starts);

    // Assess: our own earlier start is ours; the cancelled task is refused
    expect(Object.fromEntries(outcomes)).toEqual({ [a.taskId]: "started", [b.taskId]: "refused" });
  });

  it("a give-back met by a cancel request is read and ended cancelled: one more statement, for that task only", async () => {
    // Prepare: three starts from a read; a request recorded on the second; statements counted per call
    const statements: number[] = [];
    const base = withoutConditionItems();
    const store = await tableStore({
      send: (command: unknown) => {
        if (command instanceof BatchExecuteStatementCommand)
          statements.push(command.input.Statements?.length ?? 0);
        return base.send(command as never);
      },
    } as unknown as DynamoDBClient);
    const ts = [task("n5"), task("n6"), task("n7")];
    for (const t of ts) await store.putNew(t, { sweepIndex: false });
    const { tasks } = await store.readMany(ts.map((t) => t.taskId));
    const reads = ts.map((t) => tasks.get(t.taskId) as TaskRecord);
    await store.startAttempts(reads.map((read) => ({ read, atMs: NOW })));
    const ttl = NOW / 1000 + 60;
    await store.cancel(ts[1]?.taskId as string, NOW + 1, ttl, { awaitingRetry: true });
    statements.length = 0;

    // Act
    const failed = await store.finishAttempts(
      reads.map((read) => ({
        kind: "giveBack" as const,
        read,
        started: startedTask(read, NOW),
        atMs: NOW + 2,
      })),
    );

    // Assess
    expect(statements).toEqual([3, 1]);
    expect(failed.size).toBe(0);
    expect(await store.get(ts[0]?.taskId as string)).toEqual(reads[0]);
    expect(await store.get(ts[1]?.taskId as string)).toMatchObject({
      status: "cancelled",
      cancelledAtMs: NOW + 2,
      expiresAt: ttl,
      attempts: 0,
    });
    expect(await store.get(ts[2]?.taskId as string)).toEqual(reads[2]);
  });
});

describe("deliver's batch read on the table: BatchGetItem's limits", () => {
  it("keys DynamoDB leaves unprocessed are reported unread (never taken for missing); ConsistentRead is asked", async () => {
    // Prepare: a client whose BatchGetItem processes only the first key it is given, as under throttling
    const seen: BatchGetItemCommand["input"][] = [];
    const partial = {
      send: async (command: unknown) => {
        if (!(command instanceof BatchGetItemCommand)) return client.send(command as never);
        seen.push(command.input);
        const [table, request] = Object.entries(command.input.RequestItems ?? {})[0] ?? [];
        const [first, ...rest] = request?.Keys ?? [];
        const out = await client.send(
          new BatchGetItemCommand({
            RequestItems: { [table as string]: { ...request, Keys: [first ?? {}] } },
          }),
        );
        return { ...out, UnprocessedKeys: { [table as string]: { ...request, Keys: rest } } };
      },
    } as unknown as DynamoDBClient;
    const store = await tableStore(partial);
    const tasks = [task("u1"), task("u2"), task("u3")];
    for (const t of tasks) await store.putNew(t, { sweepIndex: false });

    // Act
    const read = await store.readMany(tasks.map((t) => t.taskId));

    // Assess
    expect([...read.tasks.keys()]).toEqual([tasks[0]?.taskId]);
    expect([...read.unread].sort()).toEqual([tasks[1]?.taskId, tasks[2]?.taskId].sort());
    expect(Object.values(seen[0]?.RequestItems ?? {})[0]?.ConsistentRead).toBe(true);
  });

  it("more than 100 ids are read in calls of at most 100 keys", async () => {
    // Prepare
    const sizes: number[] = [];
    const counting = {
      send: (command: unknown) => {
        if (command instanceof BatchGetItemCommand)
          sizes.push(Object.values(command.input.RequestItems ?? {})[0]?.Keys?.length ?? 0);
        return client.send(command as never);
      },
    } as unknown as DynamoDBClient;
    const store = await tableStore(counting);
    const ids = Array.from({ length: 130 }, (_, i) => task(`m${i}`).taskId);

    // Act
    const read = await store.readMany(ids);

    // Assess: none exists, all were read
    expect(sizes).toEqual([100, 30]);
    expect(read.tasks.size + read.unread.size).toBe(0);
  });
});

const claim = (key: string, fields: Partial<IdempotencyClaim> = {}): IdempotencyClaim => ({
  topic: "demo",
  key,
  taskId: task(`claim-${key}`).taskId,
  requestHash: `hash-${key}`,
  expiresAt: NOW / 1000 + 86_400,
  ...fields,
});

describe.each([
  ["the table (dynalite + PartiQL emulation)", tableStore],
  ["the memory fake", async (): Promise<TaskStore> => new MemoryTaskStore()],
])("the batch add's INSERTs on %s", (_, newStore) => {
  it("claimIdempotencyKeys claims 30 keys in order; a held claim, live or expired, is not-claimed and stays", async () => {
    // Prepare
    const store = await newStore();
    const live = claim("live");
    const expired = claim("expired", { expiresAt: NOW / 1000 - 60 });
    for (const held of [live, expired])
      expect(await store.claimIdempotencyKey(held)).toEqual({ status: "claimed" });
    const claims = Array.from({ length: 30 }, (_, i) =>
      i === 3 ? { ...live, taskId: "other" } : i === 27 ? { ...expired, taskId: "other" } : claim(`k${i}`),
    );

    // Act
    const outcomes = await store.claimIdempotencyKeys(claims);

    // Assess
    expect(outcomes).toEqual(claims.map((_, i) => (i === 3 || i === 27 ? "not-claimed" : "claimed")));
    expect(await store.findIdempotencyClaim("demo", "live")).toBe(live.taskId);
    expect(await store.findIdempotencyClaim("demo", "k29")).toBe(claims[29]?.taskId);
    expect(await store.claimIdempotencyKey({ ...claims[0], taskId: "again" } as IdempotencyClaim)).toEqual({
      status: "existing",
      taskId: claims[0]?.taskId,
      requestHash: claims[0]?.requestHash,
    });
  });

  it("insertNewMany writes new tasks (into the sweep index as told) and never overwrites one that exists", async () => {
    // Prepare: one task already exists, and has moved on
    const store = await newStore();
    const existing = task("i1", { idempotencyKey: "k-1" });
    await store.putNew(existing, { sweepIndex: false });
    await store.startAttempt(existing.taskId, NOW);
    const fresh = Array.from({ length: 27 }, (_, i) => task(`i-new-${i}`, { idempotencyKey: `k-n${i}` }));

    // Act
    const outcomes = await store.insertNewMany([
      { task: existing, sweepIndex: true },
      ...fresh.map((t, i) => ({ task: t, sweepIndex: i % 2 === 0 })),
    ]);

    // Assess: the one that existed is answered as found (the batch add answers its stored status), none failed
    expect(outcomes).toEqual([{ taskId: existing.taskId, exists: true }]);
    expect(await store.get(existing.taskId)).toMatchObject({ status: "delivering", attempts: 1 });
    for (const [i, t] of fresh.entries()) {
      const stored = await store.get(t.taskId);
      expect(stored).toMatchObject({ ...t });
      expect(stored?.sweepShard).toEqual(i % 2 === 0 ? sweepShardOf(t.taskId) : undefined);
    }
  });
});

describe("the batch add's INSERTs on the table: retries and failures", () => {
  it("sends a claim again that was throttled inside an HTTP 200", async () => {
    // Prepare: the first call answers every statement ThrottlingError without writing
    const store = await tableStore(
      firstBatchAnswered(async (n) => ({
        Responses: Array.from({ length: n }, () => ({
          Error: { Code: "ThrottlingError", Message: "slow down" },
        })),
        $metadata: {},
      })),
    );

    const claims = [claim("r1"), claim("r2")];

    // Act
    const outcomes = await store.claimIdempotencyKeys(claims);

    // Assess
    expect(outcomes).toEqual(["claimed", "claimed"]);
    expect(await store.findIdempotencyClaim("demo", "r2")).toBe(claims[1]?.taskId);
  });

  it("reports every claim of a call that failed not-claimed (unknown), and the single claim then finds its own", async () => {
    // Prepare: the first call is executed, then fails as a dropped connection would
    const store = await tableStore(
      firstBatchAnswered(async () => {
        throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      }),
    );

    // Act
    const outcomes = await store.claimIdempotencyKeys([claim("u1")]);

    // Assess
    expect(outcomes).toEqual(["not-claimed"]);
    expect(await store.findIdempotencyClaim("demo", "u1")).toBeUndefined();
  });

  it("reports a task whose INSERT failed for good (not retryable) as perhaps written; the others are written", async () => {
    // Prepare: every call answers its first statement ValidationError without running it; the others run
    const seam = {
      send: async (command: unknown) => {
        if (!(command instanceof BatchExecuteStatementCommand)) return client.send(command as never);
        const [, ...rest] = command.input.Statements ?? [];
        const out = await client.send(new BatchExecuteStatementCommand({ Statements: rest }));
        return {
          ...out,
          Responses: [{ Error: { Code: "ValidationError", Message: "refused" } }, ...(out.Responses ?? [])],
        };
      },
    } as unknown as DynamoDBClient;
    const store = await tableStore(seam);
    const [a, b] = [task("f1", { idempotencyKey: "k-f1" }), task("f2", { idempotencyKey: "k-f2" })];

    // Act
    const failed = await store.insertNewMany([
      { task: a, sweepIndex: false },
      { task: b, sweepIndex: false },
    ]);

    // Assess
    expect(failed).toEqual([{ taskId: a.taskId, maybeWritten: true }]);
    expect(await store.get(a.taskId)).toBeUndefined();
    expect(await store.get(b.taskId)).toMatchObject({ taskId: b.taskId });
  });
});
