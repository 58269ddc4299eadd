import {
  BatchWriteItemCommand,
  type BatchWriteItemCommandInput,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  CANCEL_WRITES,
  DynamoTaskStore,
  IDEMPOTENCY_SORT_KEY,
  idempotencyPartitionKey,
  UNPROCESSED_ROUNDS,
} from "#shared/adapters/dynamo-task-store.js";
import {
  MAX_READ_PAST_STARTED,
  type PageKey,
  STARTED_OVERTAKE_MARGIN_MS,
  type TaskPage,
  type TaskStore,
} from "#shared/adapters/task-store.js";
import { TOPIC_NAME_PATTERN } from "#shared/config/schema.js";
import { attemptLogEntries } from "#shared/domain/attempt-log.js";
import { DESTINATION_IDLE_SECONDS } from "#shared/domain/destination-item.js";
import { MAX_ITEM_BYTES, taskItemSizeBound } from "#shared/domain/item-size.js";
import { makeTaskKey, newUlid, parseTaskId } from "#shared/domain/keys.js";
import { makeScheduleKey, type ScheduleRecord, scheduleShardOf } from "#shared/domain/schedule.js";
import { sweepShardOf } from "#shared/domain/sweep.js";
import { retentionExpiry, type TaskRecord, type TaskStatus } from "#shared/domain/task.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { makeTask } from "../../support/factories.js";
import { MemoryTaskStore } from "../../support/memory-task-store.js";

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
let dynamo: LocalDynamo;
let client: DynamoDBClient;
let tableCount = 0;
let clockSeconds = NOW / 1000;

beforeAll(async () => {
  dynamo = await startDynalite();
  client = dynamo.client;
});

afterAll(async () => {
  await dynamo?.stop();
});

/**
 * A fresh table per test (with the sweep index, as the stack declares it) keeps tests independent. `storeClient`:
 * what the store sends through (a seam over the real client, for answers dynalite never gives).
 */
async function newStore(storeClient: DynamoDBClient = client): Promise<DynamoTaskStore> {
  const tableName = `tasks-${++tableCount}`;
  await createTaskTable(client, tableName);
  return new DynamoTaskStore({ client: storeClient, tableName, nowSeconds: () => clockSeconds });
}

function task(overrides: Partial<TaskRecord> & { group?: string; dueAtMs?: number } = {}): TaskRecord {
  return makeTask({
    group: "o-1",
    dueAtMs: NOW + 60_000,
    acceptedAtMs: NOW,
    content: '{"order_id":"o-1"}',
    callbackUrl: "https://hooks.example.com/n",
    ...overrides,
  });
}

describe("DynamoTaskStore against dynalite", () => {
  let store: DynamoTaskStore;
  beforeEach(async () => {
    store = await newStore();
    clockSeconds = NOW / 1000;
  });

  /** Four tasks of one group, oldest first: delivered, queued, scheduled (due), and one not yet due. */
  async function groupOfFour(group: string): Promise<[TaskRecord, TaskRecord, TaskRecord, TaskRecord]> {
    const dues = [NOW - 3_000, NOW - 2_000, NOW - 1_000, NOW + 5_000];
    const [done, queued, scheduled, later] = dues.map((dueAtMs) => task({ group, dueAtMs })) as [
      TaskRecord,
      TaskRecord,
      TaskRecord,
      TaskRecord,
    ];
    for (const t of [later, scheduled, queued, done]) await store.putNew(t);
    await store.startAttempt(done.taskId, NOW);
    await store.markDelivered(done.taskId, { atMs: NOW, latenessMs: 0, deliveryLatencyMs: 1, expiresAt: 9 });
    await store.markQueued(queued.taskId, NOW);
    return [done, queued, scheduled, later];
  }

  it("putNew creates once, then reports exists; get reads it back whole", async () => {
    const t = task({ idempotencyKey: "k" });
    expect(await store.putNew(t)).toBe("created");
    expect(await store.putNew({ ...t, content: "{}" })).toBe("exists");
    // …plus the sweep index key, present while the task is unfinished.
    expect(await store.get(t.taskId)).toEqual({ ...t, sweepShard: sweepShardOf(t.taskId) });
  });

  it("get: undefined for malformed and for missing ids", async () => {
    expect(await store.get("nope")).toBeUndefined();
    expect(await store.get(task().taskId)).toBeUndefined();
  });

  it("an id whose due segment is spelt with leading zeros names no task: one task, one id (not an alias that GET, DELETE and replay act on but a bulk replay by ids calls not_found)", async () => {
    // Prepare
    const t = task();
    await store.putNew(t);
    const [topic, group, due, ulid] = t.taskId.split(".");
    const alias = `${topic}.${group}.0${due}.${ulid}`;

    // Act
    const read = await store.get(alias);
    const cancelled = await store.cancel(alias, NOW + 5, 123);
    const many = await store.readMany([alias]);

    // Assess
    expect(read).toBeUndefined();
    expect(cancelled).toEqual({ outcome: "not-found" });
    expect([...many.tasks.keys()]).toEqual([]);
    expect((await store.get(t.taskId))?.status).toBe("scheduled");
  });

  it("removeScheduled removes only a scheduled task", async () => {
    const a = task();
    const b = task();
    await store.putNew(a);
    await store.putNew(b);
    await store.markQueued(b.taskId, NOW);
    await store.removeScheduled(a.taskId);
    await store.removeScheduled(b.taskId);
    await store.removeScheduled(task().taskId); // missing: no error
    expect(await store.get(a.taskId)).toBeUndefined();
    expect((await store.get(b.taskId))?.status).toBe("queued");
  });

  it("idempotency: the first claim wins; later ones see its task and hash", async () => {
    const claim = {
      topic: "demo",
      key: "k-1",
      taskId: "demo._.x.y",
      requestHash: "h1",
      expiresAt: NOW / 1000 + 3600,
    };
    expect(await store.claimIdempotencyKey(claim)).toEqual({ status: "claimed" });
    expect(await store.claimIdempotencyKey({ ...claim, taskId: "other", requestHash: "h2" })).toEqual({
      status: "existing",
      taskId: "demo._.x.y",
      requestHash: "h1",
    });
    expect(await store.claimIdempotencyKey({ ...claim, key: "k-2" })).toEqual({ status: "claimed" });
  });

  it("idempotency: an unreadable claim is an error that does not quote the caller's key (it is logged in full)", async () => {
    // Prepare: a live claim item with neither task id nor hash (written by hand: the store never writes one)
    const key = "tok_9f2c-caller-secret";
    await client.send(
      new PutItemCommand({
        TableName: `tasks-${tableCount}`,
        Item: {
          pk: { S: idempotencyPartitionKey("demo", key) },
          sk: { S: IDEMPOTENCY_SORT_KEY },
          expiresAt: { N: String(NOW / 1000 + 3600) },
        },
      }),
    );

    // Act
    const claim = {
      topic: "demo",
      key,
      taskId: "demo._.x.y",
      requestHash: "h1",
      expiresAt: NOW / 1000 + 3600,
    };
    const refused = await store.claimIdempotencyKey(claim).catch((error: unknown) => error);

    // Assess: refused, naming the topic but not the key (the API logs a 500's cause with its message)
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toContain("demo");
    expect(JSON.stringify({ ...(refused as Error), message: (refused as Error).message })).not.toContain(key);
  });

  it("moveIdempotencyClaim: the claim names the successor for as long as asked, also from the item the task was moved from; another task's claim, or none, is left", async () => {
    // Prepare: a claim for an hour, naming the first id; another key's claim naming another task
    const claim = {
      topic: "demo",
      key: "k-move",
      taskId: "demo._.a.first",
      requestHash: "h",
      expiresAt: clockSeconds + 3600,
    };
    await store.claimIdempotencyKey(claim);
    await store.claimIdempotencyKey({ ...claim, key: "k-other", taskId: "demo._.a.other" });
    await store.claimIdempotencyKey({ ...claim, key: "k-behind" });

    // Act: moved (and the move repeated), a stale move of another task, a key nobody claimed; and a move of the
    // successor whose own move never pointed the claim at it (the claim still names the item it was moved from)
    const move = { from: ["demo._.a.first"], to: "demo._.b.first", expiresAt: clockSeconds + 86_400 };
    await store.moveIdempotencyClaim("demo", "k-move", move);
    await store.moveIdempotencyClaim("demo", "k-move", move);
    await store.moveIdempotencyClaim("demo", "k-other", move);
    await store.moveIdempotencyClaim("demo", "k-none", move);
    const onward = { from: ["demo._.b.first", "demo._.a.first"], to: "demo._.c.first" };
    await store.moveIdempotencyClaim("demo", "k-behind", { ...onward, expiresAt: clockSeconds + 86_400 });
    clockSeconds += 7200;
    const moved = await store.claimIdempotencyKey({ ...claim, taskId: "demo._.x.f", requestHash: "h2" });
    const other = await store.claimIdempotencyKey({ ...claim, key: "k-other", taskId: "demo._.x.g" });
    const none = await store.claimIdempotencyKey({ ...claim, key: "k-none", taskId: "demo._.x.h" });
    const behind = await store.claimIdempotencyKey({ ...claim, key: "k-behind", taskId: "demo._.x.i" });

    // Assess: kept past its first hour and naming the successor; the other expired as it was (claimed afresh)
    expect(moved).toEqual({ status: "existing", taskId: "demo._.b.first", requestHash: "h" });
    expect(other).toEqual({ status: "claimed" });
    expect(none).toEqual({ status: "claimed" });
    expect(behind).toEqual({ status: "existing", taskId: "demo._.c.first", requestHash: "h" });
  });

  it.each([
    ["DynamoTaskStore", () => store as TaskStore],
    ["MemoryTaskStore", () => new MemoryTaskStore() as TaskStore],
  ])("idempotency (%s): keys are scoped per topic; one key on two topics is two claims", async (_, make) => {
    // Prepare
    const s = make();
    const key = `invoice-${newUlid(NOW)}`;
    const onA = {
      topic: "alpha",
      key,
      taskId: "alpha._.x.a",
      requestHash: "ha",
      expiresAt: NOW / 1000 + 3600,
    };
    const onB = { ...onA, topic: "beta", taskId: "beta._.x.b", requestHash: "hb" };
    // Act
    const first = await s.claimIdempotencyKey(onA);
    const second = await s.claimIdempotencyKey(onB);
    const repeatA = await s.claimIdempotencyKey({ ...onA, taskId: "alpha._.x.c" });
    const repeatB = await s.claimIdempotencyKey({ ...onB, taskId: "beta._.x.d" });
    // Assess
    expect(first).toEqual({ status: "claimed" });
    expect(second).toEqual({ status: "claimed" });
    expect(repeatA).toEqual({ status: "existing", taskId: "alpha._.x.a", requestHash: "ha" });
    expect(repeatB).toEqual({ status: "existing", taskId: "beta._.x.b", requestHash: "hb" });
  });

  it("the size bound holds DynamoDB's 400 KB item limit: a task at the bound is written, one past it is refused", async () => {
    // Prepare: content that fills the item up to the bound exactly, and content that alone fills 400 KB.
    const base = task();
    const room = MAX_ITEM_BYTES - taskItemSizeBound({ ...base, content: "" });
    const fits = { ...base, content: "x".repeat(room) };
    const tooBig = { ...task(), content: "x".repeat(MAX_ITEM_BYTES) };
    // Act
    const written = await store.putNew(fits);
    const refused = store.putNew(tooBig);
    // Assess: the bound is never below what DynamoDB counts (the item at the bound fits), and the store's refusal
    // past 400 KB is the 500 that the API's own check (shared/services/add-task.ts) must pre-empt.
    expect(taskItemSizeBound(fits)).toBe(MAX_ITEM_BYTES);
    expect(written).toBe("created");
    await expect(refused).rejects.toThrow(/size/i);
  });

  it("idempotency: a claim past its TTL but not yet deleted counts as absent", async () => {
    const claim = {
      topic: "demo",
      key: "k-old",
      taskId: "t1",
      requestHash: "h1",
      expiresAt: NOW / 1000 + 10,
    };
    await store.claimIdempotencyKey(claim);
    clockSeconds = NOW / 1000 + 11;
    const renewed = { ...claim, taskId: "t2", requestHash: "h2", expiresAt: NOW / 1000 + 3600 };
    expect(await store.claimIdempotencyKey(renewed)).toEqual({ status: "claimed" });
    expect(await store.claimIdempotencyKey({ ...claim, taskId: "t3" })).toMatchObject({
      status: "existing",
      taskId: "t2",
    });
  });

  it("cancel: scheduled | queued → cancelled returns the new item; otherwise conflict or not-found", async () => {
    const a = task();
    const b = task();
    const q = task();
    await store.putNew(a);
    await store.putNew(b);
    await store.putNew(q);
    const cancelled = await store.cancel(a.taskId, NOW + 5, 123);
    expect(cancelled).toEqual({
      outcome: "cancelled",
      task: { ...a, status: "cancelled", cancelledAtMs: NOW + 5, expiresAt: 123 },
    });
    expect(await store.cancel(a.taskId, NOW + 6, 124)).toMatchObject({
      outcome: "conflict",
      task: { status: "cancelled", cancelledAtMs: NOW + 5 },
    });
    await store.markQueued(q.taskId, NOW);
    expect(await store.cancel(q.taskId, NOW + 5, 1)).toMatchObject({
      outcome: "cancelled",
      task: { status: "cancelled", cancelledAtMs: NOW + 5, queuedAtMs: NOW },
    });
    expect((await store.get(q.taskId))?.sweepShard).toBeUndefined();
    await store.markQueued(b.taskId, NOW);
    await store.startAttempt(b.taskId, NOW + 1);
    expect(await store.cancel(b.taskId, NOW, 1)).toMatchObject({
      outcome: "conflict",
      task: { status: "delivering" },
    });
    expect(await store.cancel(task().taskId, NOW, 1)).toEqual({ outcome: "not-found" });
    expect(await store.cancel("bad", NOW, 1)).toEqual({ outcome: "not-found" });
  });

  it("cancel keeps a floor later than the retention in one write and no read (keyed tasks, fan-out copies and moved tasks carry one); an earlier floor takes a second", async () => {
    // Prepare: every call the store makes, by command
    const calls: string[] = [];
    const seam = {
      send: async (command: { constructor: { name: string } }) => {
        calls.push(command.constructor.name);
        return client.send(command as never);
      },
    };
    const counted = await newStore(seam as unknown as DynamoDBClient);
    const [later, earlier] = [task({ expiresAtFloor: 500 }), task({ expiresAtFloor: 500 })];
    for (const t of [later, earlier]) await counted.putNew(t);

    // Act
    calls.length = 0;
    const kept = await counted.cancel(later.taskId, NOW + 5, 123);
    const keptCalls = [...calls];
    calls.length = 0;
    const retained = await counted.cancel(earlier.taskId, NOW + 5, 900);

    // Assess
    expect(kept).toMatchObject({ outcome: "cancelled", task: { expiresAt: 500 } });
    expect(keptCalls).toEqual(["UpdateItemCommand"]);
    expect(retained).toMatchObject({ outcome: "cancelled", task: { expiresAt: 900 } });
    expect(calls.filter((c) => c === "UpdateItemCommand")).toHaveLength(2);
  });

  it("cancel keeps a moved task to its TTL floor when that is later than the retention; an earlier floor leaves the retention; a started one stays a conflict", async () => {
    // Prepare: successors (floor 500) cancelled with a retention of 123, and of 900; one already started
    const moved = { rescheduledFrom: "demo.x.y.z", expiresAtFloor: 500 };
    const [later, earlier, started] = [task(moved), task(moved), task(moved)];
    for (const [s, name] of [
      [store, "dynalite"],
      [new MemoryTaskStore(), "memory"],
    ] as const) {
      for (const t of [later, earlier, started]) await s.putNew(t);
      await s.startAttempt(started.taskId, NOW);

      // Act
      const outcomes = [
        await s.cancel(later.taskId, NOW + 5, 123),
        await s.cancel(earlier.taskId, NOW + 5, 900),
        await s.cancel(started.taskId, NOW + 5, 123),
      ];

      // Assess
      expect([name, outcomes]).toMatchObject([
        name,
        [
          { outcome: "cancelled", task: { status: "cancelled", cancelledAtMs: NOW + 5, expiresAt: 500 } },
          { outcome: "cancelled", task: { status: "cancelled", expiresAt: 900 } },
          { outcome: "conflict", task: { status: "delivering" } },
        ],
      ]);
      expect((await s.get(later.taskId))?.sweepShard).toBeUndefined();
      expect((await s.get(started.taskId))?.expiresAt).toBeUndefined();
    }
  });

  it("cancel with awaitingRetry also cancels a delivering task waiting for its retry (its attempt's outcome logged); one in flight, or without its attempt's entry, gets a cancel request; without the option it stays a conflict", async () => {
    for (const [s, name] of [
      [store, "dynalite"],
      [new MemoryTaskStore(), "memory"],
    ] as const) {
      // Prepare: waiting (attempt 1 failed and logged, floor 500), inFlight (attempt 2 started after a logged
      // failure), unlogged (a failure recorded without its entry: an item from before the log), plain (as waiting)
      const [waiting, inFlight, unlogged, plain] = [task({ expiresAtFloor: 500 }), task(), task(), task()];
      for (const t of [waiting, inFlight, unlogged, plain]) await s.putNew(t);
      for (const t of [waiting, inFlight, plain]) await failOnce(s, t.taskId, NOW);
      await s.startAttempt(inFlight.taskId, NOW + 1_000);
      await s.startAttempt(unlogged.taskId, NOW);
      await s.recordAttemptFailure(unlogged.taskId, { error: "HTTP 500", atMs: NOW + 1 });
      const retry = { awaitingRetry: true };

      // Act
      const outcomes = [
        await s.cancel(waiting.taskId, NOW + 5, 123, retry),
        await s.cancel(inFlight.taskId, NOW + 5, 123, retry),
        await s.cancel(unlogged.taskId, NOW + 5, 123, retry),
        await s.cancel(plain.taskId, NOW + 5, 123),
      ];

      // Assess
      expect([name, outcomes]).toMatchObject([
        name,
        [
          {
            outcome: "cancelled",
            task: { status: "cancelled", cancelledAtMs: NOW + 5, expiresAt: 500, attempts: 1, attemptSeq: 1 },
          },
          {
            outcome: "cancel-requested",
            task: { status: "delivering", attemptSeq: 2, cancelRequestedAtMs: NOW + 5, cancelExpiresAt: 123 },
          },
          { outcome: "cancel-requested", task: { status: "delivering", cancelRequestedAtMs: NOW + 5 } },
          { outcome: "conflict", task: { status: "delivering" } },
        ],
      ]);
      expect((await s.get(plain.taskId))?.cancelRequestedAtMs).toBeUndefined();
      expect((await s.get(waiting.taskId))?.sweepShard).toBeUndefined();
      expect(await s.startAttempt(waiting.taskId, NOW + 2_000, 3)).toBeUndefined();
      expect(await s.startAttempt(waiting.taskId, NOW + 2_001)).toBeUndefined();
      expect((await s.get(waiting.taskId))?.status).toBe("cancelled");
    }
  });

  it("cancel with awaitingRetry loses cleanly to the next attempt's start made between its read and its write (that attempt gets the cancel request); a start after the cancel is refused", async () => {
    // Prepare: a seam that, just before the cancel's write conditioned on the attempt, lets deliver start the next
    // attempt (the race: the cancel read the task waiting, the start lands first)
    let raced: TaskRecord | undefined;
    const seam = {
      send: async (command: { input?: UpdateItemCommandInput; constructor: { name: string } }) => {
        const condition = command.input?.ConditionExpression ?? "";
        if (!raced && command.constructor.name === "UpdateItemCommand" && condition.includes("attemptLog.")) {
          raced = await store.startAttempt(lost.taskId, NOW + 2_000, 3);
        }
        return client.send(command as never);
      },
    };
    const racing = new DynamoTaskStore({
      client: seam as unknown as DynamoDBClient,
      tableName: `tasks-${tableCount}`,
      nowSeconds: () => clockSeconds,
    });
    const [lost, won] = [task(), task()];
    for (const t of [lost, won]) await store.putNew(t);
    for (const t of [lost, won]) await failOnce(store, t.taskId, NOW);

    // Act
    const lostCancel = await racing.cancel(lost.taskId, NOW + 5, 123, { awaitingRetry: true });
    const wonCancel = await store.cancel(won.taskId, NOW + 5, 123, { awaitingRetry: true });
    const lateStart = await store.startAttempt(won.taskId, NOW + 2_000, 3);

    // Assess: the attempt that won the race goes on (in flight, not cancelled) with the cancel requested on it;
    // the cancelled ones are never started
    expect(raced).toMatchObject({ status: "delivering", attemptSeq: 2, attempts: 2 });
    expect(lostCancel).toMatchObject({
      outcome: "cancel-requested",
      task: { status: "delivering", attemptSeq: 2, cancelRequestedAtMs: NOW + 5 },
    });
    expect(await store.get(lost.taskId)).toMatchObject({ status: "delivering", attemptSeq: 2 });
    expect(wonCancel.outcome).toBe("cancelled");
    expect(lateStart).toBeUndefined();
    expect(await store.get(won.taskId)).toMatchObject({ status: "cancelled", attemptSeq: 1, attempts: 1 });
  });

  describe("a cancel requested while the callback is in flight (cancelRequestedAtMs)", () => {
    const retry = { awaitingRetry: true };
    const failure = (seq: number, atMs: number) => ({
      error: "HTTP 503",
      atMs,
      attemptSeq: seq,
      attempts: seq,
      attempt: { seq, startedAtMs: atMs - 10, durationMs: 10, status: 503, error: "HTTP 503" },
    });

    it("the request, then the attempt's failure: the task ends cancelled (entry logged, the cancel's TTL, out of the sweep index) and is never started again", async () => {
      for (const [s, name] of [
        [store, "dynalite"],
        [new MemoryTaskStore(), "memory"],
      ] as const) {
        // Prepare: attempt 1 in flight
        const t = task({ expiresAtFloor: 500 });
        await s.putNew(t);
        const started = await s.startAttempt(t.taskId, NOW);
        const seq = started?.attemptSeq ?? 0;

        // Act
        const requested = await s.cancel(t.taskId, NOW + 5, 123, retry);
        const repeated = await s.cancel(t.taskId, NOW + 7, 123, retry);
        const recorded = await s.recordAttemptFailure(t.taskId, failure(seq, NOW + 20));
        const restart = await s.startAttempt(t.taskId, NOW + 60_000, 3);

        // Assess
        expect([name, requested.outcome, repeated.outcome, recorded]).toEqual([
          name,
          "cancel-requested",
          "cancel-requested",
          "cancelled",
        ]);
        const stored = await s.get(t.taskId);
        expect([name, stored]).toMatchObject([
          name,
          {
            status: "cancelled",
            cancelledAtMs: NOW + 20,
            cancelRequestedAtMs: NOW + 5,
            expiresAt: 500,
            lastError: "HTTP 503",
            attemptSeq: seq,
            attemptLog: { "0": { seq, status: 503 } },
          },
        ]);
        expect(stored?.sweepShard).toBeUndefined();
        expect(restart).toBeUndefined();
      }
    });

    it("the request, then a 2xx: the task is delivered (a callback cannot be unsent)", async () => {
      for (const [s, name] of [
        [store, "dynalite"],
        [new MemoryTaskStore(), "memory"],
      ] as const) {
        const t = task();
        await s.putNew(t);
        const started = await s.startAttempt(t.taskId, NOW);

        const requested = await s.cancel(t.taskId, NOW + 5, 123, retry);
        const delivered = await s.markDelivered(t.taskId, {
          atMs: NOW + 20,
          latenessMs: 0,
          deliveryLatencyMs: 20,
          expiresAt: 999,
          attemptSeq: started?.attemptSeq ?? 0,
        });
        const again = await s.cancel(t.taskId, NOW + 30, 123, retry);

        expect([name, requested.outcome, delivered, again]).toMatchObject([
          name,
          "cancel-requested",
          true,
          { outcome: "conflict", task: { status: "delivered" } },
        ]);
      }
    });

    it("the attempt's failure recorded between the cancel's read and its request: the request is refused, and the cancel cancels the task waiting for its retry", async () => {
      // Prepare: a seam that records the in-flight attempt's failure just before the request's write (the race:
      // the cancel read the callback in flight, the outcome lands first)
      const t = task();
      let recordedFirst: boolean | "cancelled" | undefined;
      const seam = {
        send: async (command: { input?: UpdateItemCommandInput; constructor: { name: string } }) => {
          const update = command.input?.UpdateExpression ?? "";
          if (recordedFirst === undefined && update.includes("cancelRequestedAtMs")) {
            recordedFirst = await store.recordAttemptFailure(t.taskId, failure(1, NOW + 4));
          }
          return client.send(command as never);
        },
      };
      const racing = new DynamoTaskStore({
        client: seam as unknown as DynamoDBClient,
        tableName: `tasks-${tableCount}`,
        nowSeconds: () => clockSeconds,
      });
      await store.putNew(t);
      await store.startAttempt(t.taskId, NOW);

      // Act
      const outcome = await racing.cancel(t.taskId, NOW + 5, 123, retry);

      // Assess: the failure was recorded as any (a retry would follow); the cancel then found it waiting and won
      expect(recordedFirst).toBe(true);
      expect(outcome).toMatchObject({ outcome: "cancelled", task: { status: "cancelled", attemptSeq: 1 } });
      expect((await store.get(t.taskId))?.cancelRequestedAtMs).toBeUndefined();
      expect(await store.startAttempt(t.taskId, NOW + 60_000, 3)).toBeUndefined();
    });

    it("the request landing between the attempt's failure read and its write: the failure write ends the task cancelled (memory: each order in turn)", async () => {
      // The table: the outcome's first write is refused by the request landed just before it (seam).
      const t = task();
      const seam = {
        send: async (command: { input?: UpdateItemCommandInput; constructor: { name: string } }) => {
          const condition = command.input?.ConditionExpression ?? "";
          if (
            condition.includes("attribute_not_exists(cancelRequestedAtMs)") &&
            !condition.includes("IN (")
          ) {
            await store.cancel(t.taskId, NOW + 15, 123, retry);
          }
          return client.send(command as never);
        },
      };
      const racing = new DynamoTaskStore({
        client: seam as unknown as DynamoDBClient,
        tableName: `tasks-${tableCount}`,
        nowSeconds: () => clockSeconds,
      });
      await store.putNew(t);
      await store.startAttempt(t.taskId, NOW);
      const recorded = await racing.recordAttemptFailure(t.taskId, failure(1, NOW + 20));
      expect(recorded).toBe("cancelled");
      expect(await store.get(t.taskId)).toMatchObject({ status: "cancelled", cancelRequestedAtMs: NOW + 15 });

      // The memory fake, both orders: request first ends it cancelled; failure first leaves the cancel to cancel it.
      const memory = new MemoryTaskStore();
      const [requestFirst, failureFirst] = [task(), task()];
      for (const m of [requestFirst, failureFirst]) {
        await memory.putNew(m);
        await memory.startAttempt(m.taskId, NOW);
      }
      await memory.cancel(requestFirst.taskId, NOW + 15, 123, retry);
      expect(await memory.recordAttemptFailure(requestFirst.taskId, failure(1, NOW + 20))).toBe("cancelled");
      expect(await memory.recordAttemptFailure(failureFirst.taskId, failure(1, NOW + 20))).toBe(true);
      expect(await memory.cancel(failureFirst.taskId, NOW + 25, 123, retry)).toMatchObject({
        outcome: "cancelled",
      });
    });

    it("never lands on a finished task: a request meets delivered, failed and cancelled tasks as conflicts and writes nothing", async () => {
      for (const [s, name] of [
        [store, "dynalite"],
        [new MemoryTaskStore(), "memory"],
      ] as const) {
        const [delivered, failed] = [task(), task()];
        for (const t of [delivered, failed]) await s.putNew(t);
        const d = await s.startAttempt(delivered.taskId, NOW);
        await s.markDelivered(delivered.taskId, {
          atMs: NOW + 1,
          latenessMs: 0,
          deliveryLatencyMs: 1,
          expiresAt: 9,
          attemptSeq: d?.attemptSeq ?? 0,
        });
        const f = await s.startAttempt(failed.taskId, NOW);
        await s.markFailed(failed.taskId, {
          error: "HTTP 500",
          atMs: NOW + 1,
          expiresAt: 9,
          attemptSeq: f?.attemptSeq,
        });

        const outcomes = [
          await s.cancel(delivered.taskId, NOW + 5, 123, retry),
          await s.cancel(failed.taskId, NOW + 5, 123, retry),
        ];

        expect([name, outcomes.map((o) => o.outcome)]).toEqual([name, ["conflict", "conflict"]]);
        for (const t of [delivered, failed])
          expect((await s.get(t.taskId))?.cancelRequestedAtMs).toBeUndefined();
      }
    });

    it("an attempt's outcome lost after the request: the next start is refused and finishes the cancel; a dead-lettering ends it cancelled", async () => {
      for (const [s, name] of [
        [store, "dynalite"],
        [new MemoryTaskStore(), "memory"],
      ] as const) {
        // Prepare: two tasks in flight, each with the cancel requested; their outcome writes never land (the batch
        // start's refusal: deliver-batch-writes.test.ts, on the PartiQL emulation)
        const [single, dead] = [task(), task()];
        const started = new Map<string, TaskRecord>();
        for (const t of [single, dead]) {
          await s.putNew(t);
          started.set(t.taskId, (await s.startAttempt(t.taskId, NOW)) as TaskRecord);
          await s.cancel(t.taskId, NOW + 5, 123, retry);
        }

        // Act: the messages come back
        const restart = await s.startAttempt(single.taskId, NOW + 60_000, 3);
        const deadLettered = await s.markFailed(dead.taskId, {
          error: "HTTP 500",
          atMs: NOW + 60_000,
          expiresAt: 9,
          attemptSeq: started.get(dead.taskId)?.attemptSeq,
          writeId: "w",
        });

        // Assess
        expect([name, restart, deadLettered]).toEqual([name, undefined, false]);
        expect([name, await s.get(single.taskId)]).toMatchObject([
          name,
          { status: "cancelled", cancelledAtMs: NOW + 60_000, expiresAt: 123, attempts: 1 },
        ]);
        expect([name, await s.get(dead.taskId)]).toMatchObject([
          name,
          { status: "cancelled", expiresAt: 123 },
        ]);
        expect((await s.get(dead.taskId))?.failedTopic).toBeUndefined();
      }
    });

    it("a replay of a task delivered after a cancel request drops the request, so the replay's attempt starts", async () => {
      for (const [s, name] of [
        [store, "dynalite"],
        [new MemoryTaskStore(), "memory"],
      ] as const) {
        const t = task();
        await s.putNew(t);
        const started = await s.startAttempt(t.taskId, NOW);
        await s.cancel(t.taskId, NOW + 5, 123, retry);
        await s.markDelivered(t.taskId, {
          atMs: NOW + 20,
          latenessMs: 0,
          deliveryLatencyMs: 20,
          expiresAt: Math.ceil(NOW / 1000) + 86_400,
          attemptSeq: started?.attemptSeq ?? 0,
        });

        const replayed = await s.markReplayed(t.taskId, NOW + 30);
        const restarted = await s.startAttempt(t.taskId, NOW + 40);

        expect([name, replayed.outcome, restarted?.status]).toEqual([name, "replayed", "delivering"]);
        expect((await s.get(t.taskId))?.cancelRequestedAtMs).toBeUndefined();
      }
    });
  });

  it("restoreFanOutParent: undoes only that cancel of a fan-out parent, as it was before", async () => {
    // Prepare
    const link = { subscriber: "billing", taskId: task().taskId, url: "https://billing.example.com/h" };
    const parent: TaskRecord = { ...task(), callbackUrl: "", fanOut: [link], expiresAt: 777 };
    const plain = task();
    await store.putNew(parent);
    await store.putNew(plain);
    await store.cancel(parent.taskId, NOW + 5, 123);
    await store.cancel(plain.taskId, NOW + 5, 123);

    // Act
    const otherCancel = await store.restoreFanOutParent(parent.taskId, NOW + 4, 777);
    const restored = await store.restoreFanOutParent(parent.taskId, NOW + 5, 777);
    const again = await store.restoreFanOutParent(parent.taskId, NOW + 5, 777);
    const notAParent = await store.restoreFanOutParent(plain.taskId, NOW + 5, 777);

    // Assess
    expect([otherCancel, restored, again, notAParent]).toEqual([false, true, false, false]);
    expect(await store.get(parent.taskId)).toEqual(parent);
    expect(await store.get(plain.taskId)).toMatchObject({ status: "cancelled" });
  });

  it("restoreFanOutParent given the cancel's TTL puts back the add's over it, and keeps one a copy's replay raised since", async () => {
    for (const s of [store, new MemoryTaskStore()]) {
      // Prepare: two parents cancelled with a TTL of 123; one raised to 999 since by a copy's replay
      const link = { subscriber: "billing", taskId: task().taskId, url: "https://billing.example.com/h" };
      const parentOf = (t: TaskRecord): TaskRecord => ({
        ...t,
        callbackUrl: "",
        fanOut: [link],
        expiresAt: 777,
      });
      const [untouched, raised] = [parentOf(task()), parentOf(task())] as const;
      for (const parent of [untouched, raised]) {
        await s.putNew(parent);
        await s.cancel(parent.taskId, NOW + 5, 123);
      }
      await s.keepFanOutParent(raised.taskId, 999);

      // Act
      const outcomes = [
        await s.restoreFanOutParent(untouched.taskId, NOW + 5, 777, 123),
        await s.restoreFanOutParent(raised.taskId, NOW + 5, 777, 123),
        await s.restoreFanOutParent(raised.taskId, NOW + 5, 777, 123),
      ];

      // Assess
      expect(outcomes).toEqual([true, true, false]);
      expect(await s.get(untouched.taskId)).toEqual(untouched);
      expect(await s.get(raised.taskId)).toEqual({ ...raised, expiresAt: 999, keptExpiresAt: 999 });
    }
  });

  it("markQueued: only from scheduled", async () => {
    const a = task();
    await store.putNew(a);
    expect(await store.markQueued(a.taskId, NOW + 1)).toBe(true);
    expect(await store.markQueued(a.taskId, NOW + 2)).toBe(false);
    expect(await store.get(a.taskId)).toMatchObject({ status: "queued", queuedAtMs: NOW + 1 });
    expect(await store.markQueued(task().taskId, NOW)).toBe(false);
  });

  it("startAttempt: from scheduled, queued or delivering, counting attempts; never from terminal states", async () => {
    const a = task();
    await store.putNew(a);
    expect(await store.startAttempt(a.taskId, NOW + 1)).toMatchObject({
      status: "delivering",
      attempts: 1,
      lastAttemptAtMs: NOW + 1,
    });
    expect(await store.startAttempt(a.taskId, NOW + 2)).toMatchObject({
      attempts: 2,
      lastAttemptAtMs: NOW + 2,
    });

    const q = task();
    await store.putNew(q);
    await store.markQueued(q.taskId, NOW);
    expect(await store.startAttempt(q.taskId, NOW)).toMatchObject({
      status: "delivering",
      attempts: 1,
      queuedAtMs: NOW,
    });

    const c = task();
    await store.putNew(c);
    await store.cancel(c.taskId, NOW, 1);
    expect(await store.startAttempt(c.taskId, NOW)).toBeUndefined();
    expect(await store.startAttempt(task().taskId, NOW)).toBeUndefined();
  });

  it("startAttempt is idempotent: a retried request for the same attempt (its answer lost) counts once", async () => {
    // Prepare
    const a = task();
    await store.putNew(a);
    const first = await store.startAttempt(a.taskId, NOW + 5, 3);

    // Act: what the SDK does when the first answer never arrived — the same request again.
    const retried = await store.startAttempt(a.taskId, NOW + 5, 3);

    // Assess
    expect(retried).toEqual(first);
    expect(await store.get(a.taskId)).toMatchObject({ status: "delivering", attempts: 1 });
    expect(await store.startAttempt(a.taskId, NOW + 6, 3)).toMatchObject({ attempts: 2 });
  });

  it("markDelivered, recordAttemptFailure, markFailed: only while delivering", async () => {
    const a = task();
    await store.putNew(a);
    await store.markDelivered(a.taskId, { atMs: NOW, latenessMs: 1, deliveryLatencyMs: 2, expiresAt: 3 });
    await store.recordAttemptFailure(a.taskId, { error: "x", atMs: NOW });
    await store.markFailed(a.taskId, { error: "x", atMs: NOW, expiresAt: 3 });
    // Nothing applied to a scheduled task.
    expect(await store.get(a.taskId)).toEqual({ ...a, sweepShard: sweepShardOf(a.taskId) });

    await store.startAttempt(a.taskId, NOW);
    await store.recordAttemptFailure(a.taskId, { error: "HTTP 502", atMs: NOW + 1 });
    expect(await store.get(a.taskId)).toMatchObject({ status: "delivering", lastError: "HTTP 502" });
    await store.markDelivered(a.taskId, {
      atMs: NOW + 9,
      latenessMs: 40,
      deliveryLatencyMs: 20,
      expiresAt: 99,
    });
    expect(await store.get(a.taskId)).toMatchObject({
      status: "delivered",
      deliveredAtMs: NOW + 9,
      latenessMs: 40,
      deliveryLatencyMs: 20,
      expiresAt: 99,
    });
    await store.markFailed(a.taskId, { error: "late", atMs: NOW + 10, expiresAt: 100 });
    expect((await store.get(a.taskId))?.status).toBe("delivered");

    const b = task();
    await store.putNew(b);
    await store.startAttempt(b.taskId, NOW);
    await store.markFailed(b.taskId, { error: "HTTP 500", atMs: NOW + 3, expiresAt: 77 });
    expect(await store.get(b.taskId)).toMatchObject({
      status: "failed",
      lastError: "HTTP 500",
      failedAtMs: NOW + 3,
      expiresAt: 77,
      failedTopic: "demo",
    });
    // Only the failure entered the failed index: the delivered task never carried its key.
    expect((await store.get(a.taskId))?.failedTopic).toBeUndefined();
    await store.markDelivered(b.taskId, { atMs: NOW, latenessMs: 0, deliveryLatencyMs: 0, expiresAt: 1 });
    expect((await store.get(b.taskId))?.status).toBe("failed");
  });

  it("lists a group's scheduled tasks in [from, to] by due time, then acceptance", async () => {
    const dues = [NOW + 3_000, NOW + 1_000, NOW + 2_000, NOW + 2_000, NOW + 5_000, NOW - 1_000];
    const tasks = dues.map((dueAtMs) => task({ dueAtMs }));
    tasks.push(task({ group: "o-2", dueAtMs: NOW + 1_000 }));
    for (const t of tasks) await store.putNew(t);
    await store.markQueued((tasks[0] as TaskRecord).taskId, NOW);

    const listed = await store.listScheduledInGroup((tasks[0] as TaskRecord).pk, NOW, NOW + 3_000);
    // tasks[2] and tasks[3] share a due time: acceptance (ULID) order, i.e. insertion order here.
    expect(listed.map((t) => t.taskId)).toEqual([tasks[1], tasks[2], tasks[3]].map((t) => t?.taskId));
    expect(
      await store.listScheduledInGroup((tasks[0] as TaskRecord).pk, NOW + 2_000, NOW + 2_000),
    ).toHaveLength(2);
    expect(await store.listScheduledInGroup("demo#nothing", 0, NOW * 2)).toEqual([]);
  });

  it("pages through a group larger than one 1 MB query page", async () => {
    const big = "x".repeat(12_000);
    const tasks = Array.from({ length: 100 }, (_, i) =>
      task({ group: "big", dueAtMs: NOW + i, content: big }),
    );
    await Promise.all(tasks.map((t) => store.putNew(t)));
    const listed = await store.listScheduledInGroup((tasks[0] as TaskRecord).pk, NOW, NOW + 1_000);
    expect(listed.map((t) => t.taskId)).toEqual(tasks.map((t) => t.taskId));
  });

  // Its size is the point (a delivered history past the overtake margin): 55 starts and deliveries, each a round
  // trip to dynalite in this process, took ~2 s on a loaded 2-core host even side by side; hence its own timeout.
  it("stopping at a started task, reads a hot group's window latest first and only to the margin below its last started task", async () => {
    // A hot group's look-back window holds its recent history: delivered tasks, content included. DynamoDB bills
    // every item a Query reads, filtered or not, and a whole window per due message ran to hundreds of read
    // units per task and past a partition's throughput. A started task was received from the FIFO queue, so
    // everything of its group its relay found is on its way; a task written after that relay ran sorts at most
    // STARTED_OVERTAKE_MARGIN_MS below it, and is read.
    const seam = countingClient();
    const store = await newStore(seam.client);
    const big = "x".repeat(12_000);
    const tasks = Array.from({ length: 60 }, (_, i) =>
      task({ group: "hot", dueAtMs: NOW + i * 1_000, content: big }),
    );
    // The store's batch write (items as putNew writes them), and each task's transitions side by side: some 170
    // round trips one by one took 2.2 s and more on a loaded 2-core host.
    expect(await store.putNewMany(tasks.map((t) => ({ task: t, sweepIndex: true })))).toEqual([]);
    // 50 was written late (after 51..56 were relayed) and is still scheduled; 30 lies beyond the margin.
    const late = [30, 50];
    const delivered = { atMs: NOW + 100, latenessMs: 0, deliveryLatencyMs: 0, expiresAt: 1 };
    const relayed = tasks.slice(0, 57).filter((_, i) => !late.includes(i));
    await Promise.all(
      relayed.map(async (t) => {
        await store.startAttempt(t.taskId, NOW + 100);
        await store.markDelivered(t.taskId, delivered);
      }),
    );
    await store.cancel((tasks[57] as TaskRecord).taskId, NOW + 100, 1);
    const others = new Map();
    const pk = (tasks[0] as TaskRecord).pk;
    const at = (i: number) => (tasks[i] as TaskRecord).taskId;
    const before = seam.scanned();
    const listed = await store.listScheduledInGroup(pk, NOW - 900_000, NOW + 59_000, others, {
      stopAtStarted: true,
    });
    expect(listed.map((t) => t.taskId)).toEqual([at(50), at(58), at(59)]);
    // The cancelled task is passed over (it was never sent); the read ends at the margin below the last started.
    const floor = 56 - STARTED_OVERTAKE_MARGIN_MS / 1_000;
    expect(others.get(at(57))).toBe("cancelled");
    expect(others.get(at(56))).toBe("delivered");
    expect(others.get(at(floor))).toBe("delivered");
    expect(others.has(at(floor - 1))).toBe(false);
    // One page of 20 holds them (a group delivering a task a second: its own, the started one, the margin's 15).
    expect(seam.scanned() - before).toBe(20);
    // Without the stop, the whole window, as before (the sweeper-side and test callers).
    expect((await store.listScheduledInGroup(pk, NOW - 900_000, NOW + 59_000)).map((t) => t.taskId)).toEqual([
      at(30),
      at(50),
      at(58),
      at(59),
    ]);
  }, 20_000);

  // Its size is the point (a history past MAX_READ_PAST_STARTED): 149 starts, each a round trip to dynalite in this
  // process, took ~2 s on a loaded 2-core host even side by side; hence its own timeout.
  it("stopping at a started task, a hot group is read at most MAX_READ_PAST_STARTED items below it, the pages bounded by it", async () => {
    // 50 tasks a second: the margin's 15 s hold 750 items, and reading them for every due message would take the
    // relay past a partition's read throughput. Late writes within the last 64 items are still found.
    const seam = countingClient();
    const store = await newStore(seam.client);
    const tasks = Array.from({ length: 200 }, (_, i) => task({ group: "very-hot", dueAtMs: NOW + i * 20 }));
    // The store's batch write and the starts side by side (as above): some 350 round trips one by one took 4.7 s on
    // a loaded 2-core host, against the 5 s default timeout.
    expect(await store.putNewMany(tasks.map((t) => ({ task: t, sweepIndex: true })))).toEqual([]);
    const late = [100, 80];
    const started = tasks.slice(0, 151).filter((_, i) => !late.includes(i));
    await Promise.all(started.map((t) => store.startAttempt(t.taskId, NOW + 5_000)));
    const pk = (tasks[0] as TaskRecord).pk;
    const at = (i: number) => (tasks[i] as TaskRecord).taskId;
    const others = new Map();
    const before = seam.scanned();
    const listed = await store.listScheduledInGroup(pk, NOW - 900_000, NOW + 199 * 20, others, {
      stopAtStarted: true,
    });
    // 150 is the latest started: 100 (50 below) is listed, 80 (70 below) is past the cap.
    expect(listed.map((t) => t.taskId)).toEqual([at(100), ...tasks.slice(151).map((t) => t.taskId)]);
    expect(others.has(at(150 - MAX_READ_PAST_STARTED))).toBe(true);
    expect(others.has(at(150 - MAX_READ_PAST_STARTED - 1))).toBe(false);
    // Pages of 20 and 40, then only what the cap leaves (54): nothing read past it.
    expect(seam.scanned() - before).toBe(49 + 1 + MAX_READ_PAST_STARTED);
    // The memory twin agrees.
    const twin = new MemoryTaskStore();
    for (const t of tasks) await twin.putNew(t);
    for (const t of started) await twin.startAttempt(t.taskId, NOW + 5_000);
    const twinListed = await twin.listScheduledInGroup(pk, NOW - 900_000, NOW + 199 * 20, new Map(), {
      stopAtStarted: true,
    });
    expect(twinListed.map((t) => t.taskId)).toEqual(listed.map((t) => t.taskId));
  }, 20_000);

  it("stopping at a started task, a group waiting behind its head is read whole, over pages, in order", async () => {
    const tasks = Array.from({ length: 40 }, (_, i) => task({ group: "backlog", dueAtMs: NOW + (i % 7) }));
    for (const t of tasks) await store.putNew(t);
    await store.startAttempt((tasks[0] as TaskRecord).taskId, NOW + 100);
    const pk = (tasks[0] as TaskRecord).pk;
    const listed = await store.listScheduledInGroup(pk, NOW - 900_000, NOW + 10, new Map(), {
      stopAtStarted: true,
    });
    const expected = tasks
      .filter((t) => t !== tasks[0])
      .sort((a, b) => (a.sk < b.sk ? -1 : 1))
      .filter((t) => t.sk > (tasks[0] as TaskRecord).sk);
    expect(listed.map((t) => t.taskId)).toEqual(expected.map((t) => t.taskId));
  });

  it("reads no content for the relay: a group's due tasks are held in its memory at once", async () => {
    // The relay keeps every due task of a group it lists (up to 8 groups side by side) in a 512 MB function:
    // 2,000 tasks of 256 KiB content due together would pass it on AWS (the local runtime enforces no memory
    // limit). The relay needs each task's id, key, status and whether it is a fan-out parent, nothing more.
    const big = "x".repeat(12_000);
    const tasks = Array.from({ length: 3 }, (_, i) =>
      task({ group: "lean", dueAtMs: NOW + i, content: big }),
    );
    // A fan-out parent shares its group's partition: the relay must still tell it apart (it is never sent).
    const link = { subscriber: "s", taskId: "demo.x", url: "https://hooks.example.com/" };
    tasks.push(task({ group: "lean", dueAtMs: NOW + 5, content: big, fanOut: [link] }));
    for (const t of tasks) await store.putNew(t);
    const others = new Map();
    for (const listed of [
      await store.listScheduledInGroup((tasks[0] as TaskRecord).pk, NOW, NOW + 10),
      await store.listScheduledInGroup((tasks[0] as TaskRecord).pk, NOW, NOW + 10, others),
    ]) {
      expect(listed.map((t) => t.taskId)).toEqual(tasks.map((t) => t.taskId));
      for (const [i, t] of listed.entries()) {
        const { taskId, pk, sk, status, dueAtMs, fanOut } = tasks[i] as TaskRecord;
        expect(t).toEqual({ taskId, pk, sk, status, dueAtMs, ...(fanOut && { fanOut }) });
      }
    }
  });

  it("keeps a task in the sweep index exactly while it is unfinished", async () => {
    const [scheduled, queued, delivering, delivered, failed, cancelled] = Array.from({ length: 6 }, (_, i) =>
      task({ group: `sweep-${i}`, dueAtMs: NOW - 60_000 + i }),
    ) as [TaskRecord, TaskRecord, TaskRecord, TaskRecord, TaskRecord, TaskRecord];
    for (const t of [scheduled, queued, delivering, delivered, failed, cancelled]) await store.putNew(t);
    await store.markQueued(queued.taskId, NOW);
    await store.startAttempt(delivering.taskId, NOW);
    await store.startAttempt(delivered.taskId, NOW);
    await store.markDelivered(delivered.taskId, {
      atMs: NOW,
      latenessMs: 0,
      deliveryLatencyMs: 1,
      expiresAt: 9,
    });
    await store.startAttempt(failed.taskId, NOW);
    await store.markFailed(failed.taskId, { error: "x", atMs: NOW, expiresAt: 9 });
    await store.cancel(cancelled.taskId, NOW, 9);

    const indexed = [];
    for (let shard = 0; shard < 32; shard++) {
      indexed.push(...(await store.listUnfinishedDueBy(shard, NOW, 100)).tasks);
    }

    expect(indexed.sort((a, b) => a.dueAtMs - b.dueAtMs)).toEqual(
      [scheduled, queued, delivering].map((t) => ({ taskId: t.taskId, pk: t.pk, dueAtMs: t.dueAtMs })),
    );
    for (const t of [delivered, failed, cancelled]) {
      expect((await store.get(t.taskId))?.sweepShard, t.status).toBeUndefined();
    }
  });

  it("a near-term add outside the sweep index enters it only through a write off the happy path", async () => {
    // Prepare: five near-term tasks written without the index
    const [plain, failedOnce, forwarded, entered, finished] = Array.from({ length: 5 }, (_, i) =>
      task({ group: `near-${i}`, dueAtMs: NOW - 30_000 + i }),
    ) as [TaskRecord, TaskRecord, TaskRecord, TaskRecord, TaskRecord];
    for (const t of [plain, failedOnce, forwarded, entered, finished])
      await store.putNew(t, { sweepIndex: false });

    // Act: the happy path's start, and the writes that leave it
    await store.startAttempt(plain.taskId, NOW, 3, NOW - 5); // with the FIFO message's SentTimestamp
    await store.startAttempt(plain.taskId, NOW + 1, 3, NOW); // a second attempt keeps the first hand-over
    await store.startAttempt(failedOnce.taskId, NOW);
    await store.recordAttemptFailure(failedOnce.taskId, { error: "HTTP 503", atMs: NOW });
    await store.markQueued(forwarded.taskId, NOW); // the sweeper's own forward
    const enteredNow = await store.enterSweepIndex(entered.taskId);
    const enteredAgain = await store.enterSweepIndex(entered.taskId);
    await store.startAttempt(finished.taskId, NOW);
    await store.markDelivered(finished.taskId, {
      atMs: NOW,
      latenessMs: 0,
      deliveryLatencyMs: 1,
      expiresAt: 9,
    });
    const finishedEnters = await store.enterSweepIndex(finished.taskId);
    const missingEnters = await store.enterSweepIndex(task({ group: "near-x" }).taskId);

    // Assess
    const indexed = [];
    for (let shard = 0; shard < 32; shard++) {
      indexed.push(...(await store.listUnfinishedDueBy(shard, NOW, 100)).tasks);
    }
    expect(indexed.map((t) => t.taskId).sort()).toEqual(
      [failedOnce, forwarded, entered].map((t) => t.taskId).sort(),
    );
    expect([enteredNow, enteredAgain, finishedEnters, missingEnters]).toEqual([true, true, false, false]);
    expect(await store.get(plain.taskId)).toMatchObject({ attempts: 2, queuedAtMs: NOW - 5 });
    expect((await store.get(plain.taskId))?.sweepShard).toBeUndefined();
    expect((await store.get(finished.taskId))?.sweepShard).toBeUndefined();
  });

  it("reads a sweep shard oldest first, up to the due time, in pages, and says when it stopped short", async () => {
    // Tasks of one shard (ids chosen by their shard), due a second apart.
    const shardTasks: TaskRecord[] = [];
    for (let i = 0; shardTasks.length < 5; i++) {
      const t = task({ group: `page-${i}`, dueAtMs: NOW - 10_000 + shardTasks.length * 1_000 });
      if (sweepShardOf(t.taskId) === 7) shardTasks.push(t);
    }
    for (const t of [...shardTasks].reverse()) await store.putNew(t);

    const upToThird = await store.listUnfinishedDueBy(7, (shardTasks[2] as TaskRecord).dueAtMs, 100);
    const firstTwo = await store.listUnfinishedDueBy(7, NOW, 2);
    const all = await store.listUnfinishedDueBy(7, NOW, 5);

    expect(upToThird).toEqual({
      tasks: shardTasks.slice(0, 3).map((t) => ({ taskId: t.taskId, pk: t.pk, dueAtMs: t.dueAtMs })),
      truncated: false,
    });
    expect(firstTwo.tasks.map((t) => t.taskId)).toEqual(shardTasks.slice(0, 2).map((t) => t.taskId));
    expect(firstTwo.truncated).toBe(true);
    expect(all.tasks).toHaveLength(5);
  });

  it("reads a sweep shard on from a position, even one whose task has left the index; the cursor round-trips", async () => {
    // Prepare: five tasks of one shard; the sweeper's window stopped at the second, which has since finished.
    const shardTasks: TaskRecord[] = [];
    for (let i = 0; shardTasks.length < 5; i++) {
      const t = task({ group: `window-${i}`, dueAtMs: NOW - 20_000 + shardTasks.length * 1_000 });
      if (sweepShardOf(t.taskId) === 11) shardTasks.push(t);
    }
    for (const t of shardTasks) await store.putNew(t);
    const [, second] = shardTasks as [TaskRecord, TaskRecord];
    await store.startAttempt(second.taskId, NOW);
    await store.markFailed(second.taskId, { error: "x", atMs: NOW, expiresAt: 1 });
    const position = { taskId: second.taskId, dueAtMs: second.dueAtMs };

    // Act
    const next = await store.listUnfinishedDueBy(11, NOW, 2, position);
    const before = await store.readSweepCursor();
    await store.writeSweepCursor({
      11: position,
      3: { taskId: shardTasks[4]?.taskId as string, dueAtMs: 9 },
    });
    const after = await store.readSweepCursor();

    // Assess
    expect(next).toEqual({
      tasks: shardTasks.slice(2, 4).map((t) => ({ taskId: t.taskId, pk: t.pk, dueAtMs: t.dueAtMs })),
      truncated: true,
    });
    expect(before).toEqual({});
    expect(after).toEqual({ 11: position, 3: { taskId: shardTasks[4]?.taskId, dueAtMs: 9 } });
  });

  it("reads a group's item statuses back from a due time, latest first, as many as asked", async () => {
    // Prepare: four tasks of one group, the first delivered, the second queued (in the sweep index)
    const [done, queued, scheduled] = await groupOfFour("back");

    // Act
    const cut = await store.listGroupStatusesLatestFirst(done.pk, NOW - 60_000, NOW, 2);
    const whole = await store.listGroupStatusesLatestFirst(done.pk, NOW - 60_000, NOW, 3);
    const more = await store.listGroupStatusesLatestFirst(done.pk, NOW - 60_000, NOW, 10);

    // Assess: only what tells an unfinished task; complete once nothing remains below the last one
    expect(cut).toEqual({
      items: [
        {
          taskId: scheduled.taskId,
          dueAtMs: scheduled.dueAtMs,
          status: "scheduled",
          sweepShard: sweepShardOf(scheduled.taskId),
        },
        {
          taskId: queued.taskId,
          dueAtMs: queued.dueAtMs,
          status: "queued",
          sweepShard: sweepShardOf(queued.taskId),
        },
      ],
      complete: false,
    });
    expect(whole.items.map((i) => [i.taskId, i.status])).toEqual([
      [scheduled.taskId, "scheduled"],
      [queued.taskId, "queued"],
      [done.taskId, "delivered"],
    ]);
    expect(more).toEqual({ items: whole.items, complete: true });
  });

  it("reads no content for the sweeper: it holds up to 1,001 of a group's tasks, 8 groups at once, in 256 MB", async () => {
    // Every attribute but the content comes back (the sweeper judges the head and dead-letters from them); a
    // group of 1,001 unfinished tasks at 256 KiB would alone pass the sweeper's memory on AWS, every run.
    const big = "x".repeat(12_000);
    const tasks = Array.from({ length: 3 }, (_, i) =>
      // A moved task's TTL floor included: finishing a cut-short dead-lettering from this read keeps it.
      task({
        group: "lean-uf",
        dueAtMs: NOW - 10_000 + i,
        content: big,
        lastError: "HTTP 503",
        expiresAtFloor: 2e9,
      }),
    );
    for (const t of tasks) await store.putNew(t);
    await store.markQueued((tasks[0] as TaskRecord).taskId, NOW);

    const { tasks: listed } = await store.listUnfinishedInGroup(
      (tasks[0] as TaskRecord).pk,
      NOW - 60_000,
      NOW,
    );

    expect(listed.map((t) => t.taskId)).toEqual(tasks.map((t) => t.taskId));
    for (const [i, t] of listed.entries()) {
      const { content: _content, ...rest } = (await store.get((tasks[i] as TaskRecord).taskId)) as TaskRecord;
      expect(t).toEqual(rest);
    }
  });

  it("lists a group's unfinished tasks in group order, and records re-sends only while queued or delivering", async () => {
    const [done, queued, scheduled] = await groupOfFour("uf");

    const { tasks: listed } = await store.listUnfinishedInGroup(done.pk, NOW - 60_000, NOW);

    expect(listed.map((t) => [t.taskId, t.status])).toEqual([
      [queued.taskId, "queued"],
      [scheduled.taskId, "scheduled"],
    ]);
    // A limit counts unfinished tasks only: the delivered one ahead of them takes no place.
    const { tasks: first } = await store.listUnfinishedInGroup(done.pk, NOW - 60_000, NOW, 1);
    expect(first.map((t) => t.taskId)).toEqual([queued.taskId]);
    // A scan bound counts every item passed over: the delivered one takes one, so two reach the queued task only
    // (a read that stops at its bound cannot tell whether more follow: complete only once under it).
    const cut = await store.listUnfinishedInGroup(done.pk, NOW - 60_000, NOW, 10, 3);
    expect([cut.tasks.map((t) => t.taskId), cut.complete]).toEqual([
      [queued.taskId, scheduled.taskId],
      false,
    ]);
    const whole = await store.listUnfinishedInGroup(done.pk, NOW - 60_000, NOW, 10, 4);
    expect([whole.tasks.map((t) => t.taskId), whole.complete]).toEqual([
      [queued.taskId, scheduled.taskId],
      true,
    ]);
    expect(await store.markRequeued(queued.taskId, NOW + 7)).toBe(true);
    expect(await store.markRequeued(scheduled.taskId, NOW + 7)).toBe(false);
    expect(await store.markRequeued(done.taskId, NOW + 7)).toBe(false);
    expect((await store.get(queued.taskId))?.requeuedAtMs).toBe(NOW + 7);
  });

  it("leaves fan-out parents out of a group's unfinished tasks: `scheduled` for good, they would fill its limit", async () => {
    // A parent shares its group's partition with plain tasks once the topic's subscribers change.
    const link = { subscriber: "audit", taskId: "demo.x.0.y", url: "https://audit.example/hook" };
    const parents = [0, 1].map((i) => task({ group: "uf-fan", dueAtMs: NOW - 10_000 + i, fanOut: [link] }));
    const plain = task({ group: "uf-fan", dueAtMs: NOW - 5_000 });
    for (const t of [...parents, plain]) await store.putNew(t, { sweepIndex: false });

    const read = await store.listUnfinishedInGroup(plain.pk, NOW - 60_000, NOW, 1);

    expect([read.tasks.map((t) => t.taskId), read.complete]).toEqual([[plain.taskId], true]);
  });

  it("reads a group back latest first without its fan-out parents, which still count in what it reads", async () => {
    const link = { subscriber: "audit", taskId: "demo.x.0.y", url: "https://audit.example/hook" };
    const done = task({ group: "gs-fan", dueAtMs: NOW - 10_000, status: "delivered", attempts: 1 });
    const parent = task({ group: "gs-fan", dueAtMs: NOW - 9_000, fanOut: [link] });
    const plain = task({ group: "gs-fan", dueAtMs: NOW - 5_000 });
    for (const t of [done, parent, plain]) await store.putNew(t, { sweepIndex: false });

    const cut = await store.listGroupStatusesLatestFirst(plain.pk, NOW - 60_000, NOW, 2);
    const whole = await store.listGroupStatusesLatestFirst(plain.pk, NOW - 60_000, NOW, 10);

    expect([cut.items.map((i) => i.taskId), cut.complete]).toEqual([[plain.taskId], false]);
    expect([whole.items.map((i) => i.taskId), whole.complete]).toEqual([[plain.taskId, done.taskId], true]);
  });

  it("behaves like MemoryTaskStore over a mixed sequence of operations", async () => {
    const memory = new MemoryTaskStore();
    const script = async (s: TaskStore, t: TaskRecord[]) => {
      const out: unknown[] = [];
      for (const x of t) out.push(await s.putNew(x));
      out.push(await s.markQueued(t[0]?.taskId ?? "", NOW));
      out.push((await s.startAttempt(t[0]?.taskId ?? "", NOW + 1))?.attempts);
      out.push((await s.cancel(t[0]?.taskId ?? "", NOW, 1)).outcome);
      out.push((await s.cancel(t[1]?.taskId ?? "", NOW, 1)).outcome);
      out.push((await s.startAttempt(t[1]?.taskId ?? "", NOW))?.status);
      await s.removeScheduled(t[2]?.taskId ?? "");
      out.push((await s.listScheduledInGroup(t[3]?.pk ?? "", 0, NOW * 2)).map((x) => x.taskId));
      out.push(await s.get(t[0]?.taskId ?? ""));
      out.push(await s.get(t[1]?.taskId ?? ""));
      out.push(await s.markRequeued(t[0]?.taskId ?? "", NOW + 2));
      out.push((await s.listUnfinishedInGroup(t[0]?.pk ?? "", 0, NOW * 2)).tasks.map((x) => x.taskId));
      out.push((await s.listUnfinishedInGroup(t[0]?.pk ?? "", 0, NOW * 2, 1)).tasks.map((x) => x.taskId));
      const shard = sweepShardOf(t[3]?.taskId ?? "");
      out.push((await s.listUnfinishedDueBy(shard, NOW * 2, 10)).tasks.map((x) => x.taskId));
      return out;
    };
    const tasks = [task(), task(), task(), task({ dueAtMs: NOW + 5 })];
    expect(await script(store, tasks)).toEqual(await script(memory, tasks));
  });

  // Operations routes, scope I2.
  describe("reschedule and group pages", () => {
    /** Runs the same script on dynalite and on the memory fake; both must answer alike. */
    async function onBoth<T>(script: (s: TaskStore) => Promise<T>): Promise<[T, T]> {
      return [await script(store), await script(new MemoryTaskStore())];
    }

    it("markRescheduled: scheduled → rescheduled with its successor, still in the sweep index until settled", async () => {
      const t = task();
      const [dynamo, memory] = await onBoth(async (s) => {
        await s.putNew(t);
        const marked = await s.markRescheduled(t.taskId, { to: "demo.x", atMs: NOW + 1, expiresAt: 99 });
        const again = await s.markRescheduled(t.taskId, { to: "demo.y", atMs: NOW + 2, expiresAt: 99 });
        const missing = await s.markRescheduled(task().taskId, { to: "demo.z", atMs: NOW, expiresAt: 99 });
        const indexed = await s.listUnfinishedDueBy(sweepShardOf(t.taskId), NOW * 2, 10);
        const { tasks: inGroup } = await s.listUnfinishedInGroup(t.pk, 0, NOW * 2);
        // Settling is idempotent; a task that is not rescheduled is never touched.
        const settled = [
          await s.settleRescheduled(t.taskId),
          await s.settleRescheduled(t.taskId),
          await s.settleRescheduled(task().taskId),
        ];
        const afterIndex = await s.listUnfinishedDueBy(sweepShardOf(t.taskId), NOW * 2, 10);
        const { tasks: afterGroup } = await s.listUnfinishedInGroup(t.pk, 0, NOW * 2);
        return {
          marked,
          again,
          missing,
          indexed,
          inGroup,
          settled,
          afterIndex,
          afterGroup,
          end: await s.get(t.taskId),
        };
      });
      expect(dynamo).toEqual(memory);
      expect(dynamo.marked).toMatchObject({
        outcome: "rescheduled",
        task: { status: "rescheduled", rescheduledTo: "demo.x", rescheduledAtMs: NOW + 1, expiresAt: 99 },
      });
      expect(dynamo.again).toMatchObject({ outcome: "conflict", task: { rescheduledTo: "demo.x" } });
      expect(dynamo.missing).toEqual({ outcome: "not-found" });
      expect(dynamo.indexed.tasks.map((x) => x.taskId)).toEqual([t.taskId]);
      expect(dynamo.inGroup.map((x) => x.status)).toEqual(["rescheduled"]);
      expect(dynamo.settled).toEqual([true, true, false]);
      expect(dynamo.afterIndex.tasks).toEqual([]);
      expect(dynamo.afterGroup).toEqual([]);
      expect(dynamo.end?.sweepShard).toBeUndefined();
    });

    it("markRescheduled refuses a task no longer scheduled (conflict with its status)", async () => {
      const t = task();
      await store.putNew(t);
      await store.markQueued(t.taskId, NOW);
      const out = await store.markRescheduled(t.taskId, { to: "demo.x", atMs: NOW, expiresAt: 1 });
      expect(out).toMatchObject({ outcome: "conflict", task: { status: "queued" } });
    });

    it("markRescheduled refuses a scheduled task carrying a cancel request (a start given back with it)", async () => {
      // Prepare: the state deliver's give-back leaves when a cancel met a start made with the batch
      const [dynamo, memory] = await onBoth(async (s) => {
        const t = task({ cancelRequestedAtMs: NOW - 1 });
        await s.putNew(t);
        const out = await s.markRescheduled(t.taskId, { to: "demo.x", atMs: NOW, expiresAt: 1 });
        return { out, stored: await s.get(t.taskId) };
      });

      // Assess
      for (const { out, stored } of [dynamo, memory]) {
        expect(out).toMatchObject({ outcome: "conflict", task: { status: "scheduled" } });
        expect(stored).toMatchObject({ status: "scheduled", cancelRequestedAtMs: NOW - 1 });
        expect(stored?.rescheduledTo).toBeUndefined();
      }
    });

    it("listGroupPage reads `limit` items in group order, returns the unfinished ones and where to go on", async () => {
      const group = `g-${newUlid(NOW)}`;
      const ts = [0, 1, 2, 3, 4].map((i) => task({ group, dueAtMs: NOW + i * 1000 }));
      const other = task({ group: `${group}-other` });
      const [dynamo, memory] = await onBoth(async (s) => {
        for (const x of [...ts, other]) await s.putNew(x);
        await s.cancel(ts[1]?.taskId ?? "", NOW, 1);
        await s.markQueued(ts[2]?.taskId ?? "", NOW);
        const first = await s.listGroupPage(ts[0]?.pk ?? "", 3);
        const second = await s.listGroupPage(ts[0]?.pk ?? "", 3, first.lastSk);
        return {
          first: { ids: first.tasks.map((x) => x.taskId), lastSk: first.lastSk },
          second: { ids: second.tasks.map((x) => x.taskId), lastSk: second.lastSk },
        };
      });
      expect(dynamo).toEqual(memory);
      expect(dynamo.first).toEqual({ ids: [ts[0]?.taskId, ts[2]?.taskId], lastSk: ts[2]?.sk });
      expect(dynamo.second).toEqual({ ids: [ts[3]?.taskId, ts[4]?.taskId], lastSk: undefined });
    });

    it("listGroupPage also returns a cancelled fan-out parent (a repeated group cancel finishes its copies)", async () => {
      const group = `g-${newUlid(NOW)}`;
      const link = { subscriber: "billing", taskId: task().taskId, url: "https://billing.example.com/h" };
      const parent: TaskRecord = { ...task({ group }), callbackUrl: "", fanOut: [link] };
      const plain = task({ group, dueAtMs: NOW + 1000 });
      const [dynamo, memory] = await onBoth(async (s) => {
        for (const x of [parent, plain]) await s.putNew(x);
        await s.cancel(parent.taskId, NOW, 1);
        await s.cancel(plain.taskId, NOW, 1);
        return (await s.listGroupPage(parent.pk, 10)).tasks.map((x) => [x.taskId, x.status]);
      });
      expect(dynamo).toEqual(memory);
      expect(dynamo).toEqual([[parent.taskId, "cancelled"]]);
    });

    it("listGroupPage with movedSinceMs also returns settled rescheduled items moved at or after it (a paged group cancel's later calls)", async () => {
      const group = `g-${newUlid(NOW)}`;
      const [before, since] = [0, 1].map((i) => task({ group, dueAtMs: NOW + i * 1000 }));
      const ids = await onBoth(async (s) => {
        for (const x of [before, since]) await s.putNew(x as TaskRecord);
        await s.markRescheduled(before?.taskId ?? "", { to: "demo.a", atMs: NOW - 1, expiresAt: 1 });
        await s.markRescheduled(since?.taskId ?? "", { to: "demo.b", atMs: NOW, expiresAt: 1 });
        for (const x of [before, since]) await s.settleRescheduled(x?.taskId ?? "");
        const plain = await s.listGroupPage(before?.pk ?? "", 10);
        const moved = await s.listGroupPage(before?.pk ?? "", 10, undefined, NOW);
        return [plain.tasks.map((x) => x.taskId), moved.tasks.map((x) => x.taskId)];
      });
      expect(ids).toEqual([
        [[], [since?.taskId]],
        [[], [since?.taskId]],
      ]);
    });

    it("listGroupPage returns a rescheduled item while its move is unsettled, not once it is settled", async () => {
      const group = `g-${newUlid(NOW)}`;
      const [moving, moved] = [0, 1].map((i) => task({ group, dueAtMs: NOW + i * 1000 }));
      const ids = await onBoth(async (s) => {
        for (const x of [moving, moved]) await s.putNew(x as TaskRecord);
        for (const x of [moving, moved])
          await s.markRescheduled(x?.taskId ?? "", { to: `${x?.taskId}-next`, atMs: NOW, expiresAt: 1 });
        await s.settleRescheduled(moved?.taskId ?? "");
        return (await s.listGroupPage(moving?.pk ?? "", 10)).tasks.map((x) => [x.taskId, x.status]);
      });
      expect(ids).toEqual([[[moving?.taskId, "rescheduled"]], [[moving?.taskId, "rescheduled"]]]);
    });
  });
});

// --- issue 11, scope H: list pages (appended block) ---

/** Every page of a list, following `next` until the store says there is no more. */
async function allPages<T>(read: (after?: PageKey) => Promise<TaskPage<T>>): Promise<T[][]> {
  const pages: T[][] = [];
  let after: PageKey | undefined;
  do {
    const page = await read(after);
    pages.push(page.tasks);
    after = page.next;
  } while (after);
  return pages;
}

/** A task delivered at `atMs`, retained for a day after: its `expiresAt`. */
async function deliverTask(store: TaskStore, t: TaskRecord, atMs: number): Promise<number> {
  const expiresAt = retentionExpiry(atMs, 1);
  await store.putNew(t);
  await store.startAttempt(t.taskId, atMs - 1);
  await store.markDelivered(t.taskId, { atMs, latenessMs: 0, deliveryLatencyMs: 1, expiresAt });
  return expiresAt;
}

async function failTask(store: TaskStore, t: TaskRecord, atMs: number): Promise<void> {
  await store.putNew(t);
  await store.startAttempt(t.taskId, atMs - 1);
  // Retained for a day after it failed (retentionExpiry), as deliver writes it.
  await store.markFailed(t.taskId, {
    error: `HTTP 500 at ${atMs}`,
    atMs,
    expiresAt: retentionExpiry(atMs, 1),
  });
}

describe.each([
  ["dynalite", () => newStore()],
  ["memory", async () => new MemoryTaskStore()],
] as const)("attempt log (%s)", (_name, makeStore) => {
  it("keeps the last ten attempts, oldest first, written with each attempt's outcome", async () => {
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    for (let n = 1; n <= 12; n++) {
      const started = await store.startAttempt(t.taskId, NOW + n * 1_000);
      const attempt = { seq: started?.attemptSeq ?? 0, startedAtMs: NOW + n * 1_000, durationMs: n };
      if (n < 12)
        await store.recordAttemptFailure(t.taskId, {
          error: `HTTP 5${n}`,
          atMs: NOW,
          attempt: { ...attempt, status: 500 + n, error: `HTTP 5${n}` },
        });
      else
        await store.markDelivered(t.taskId, {
          atMs: NOW,
          latenessMs: 0,
          deliveryLatencyMs: 12,
          expiresAt: 1,
          attempt: { ...attempt, status: 200 },
        });
    }

    const stored = await store.get(t.taskId);
    const entries = attemptLogEntries(stored ?? t);

    expect(stored).toMatchObject({ status: "delivered", attempts: 12, attemptSeq: 12 });
    expect(entries.map((e) => e.seq)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(entries.at(0)).toEqual({
      seq: 3,
      startedAtMs: NOW + 3_000,
      durationMs: 3,
      status: 503,
      error: "HTTP 53",
    });
    expect(entries.at(-1)).toEqual({ seq: 12, startedAtMs: NOW + 12_000, durationMs: 12, status: 200 });
  });
});

describe.each([
  ["dynalite", () => newStore()],
  ["memory", async () => new MemoryTaskStore()],
] as const)("list pages (%s)", (_name, makeStore) => {
  it("listGroup: the whole group in delivery order, every status, page by page", async () => {
    const store: TaskStore = await makeStore();
    const group = `g-${newUlid(Date.now())}`;
    const dues = [NOW + 3_000, NOW + 1_000, NOW + 2_000, NOW + 2_000, NOW + 5_000];
    const tasks = dues.map((dueAtMs) => task({ group, dueAtMs }));
    for (const t of tasks) await store.putNew(t);
    await store.putNew(task({ group: `${group}-other` }));
    await store.cancel(tasks[4]?.taskId ?? "", NOW, 1);

    const pages = await allPages((after) => store.listGroup(tasks[0]?.pk ?? "", 2, after));

    const expected = [...tasks].sort((a, b) => (a.sk < b.sk ? -1 : 1)).map((t) => t.taskId);
    expect(pages.flat().map((t) => t.taskId)).toEqual(expected);
    expect(pages.every((p) => p.length <= 2)).toBe(true);
    expect(pages.flat().at(-1)?.status).toBe("cancelled");
  });

  it("listFailed: only the topic's dead-lettered tasks, newest failure first, page by page", async () => {
    const store: TaskStore = await makeStore();
    const failedAt = [30, 10, 20];
    const failed = [task({ group: "a" }), task({ group: "b" }), task({ group: "a" })];
    for (const [i, t] of failed.entries()) await failTask(store, t, NOW + (failedAt[i] ?? 0));
    const delivered = task({ group: "c" });
    await store.putNew(delivered);
    await store.startAttempt(delivered.taskId, NOW);
    await store.markDelivered(delivered.taskId, {
      atMs: NOW,
      latenessMs: 0,
      deliveryLatencyMs: 1,
      expiresAt: 1,
    });
    await failTask(store, task({ topic: "other", group: "a" }), NOW + 40);

    const pages = await allPages((after) => store.listFailed("demo", 2, after));

    expect(pages.flat().map((t) => t.taskId)).toEqual(
      [failed[0], failed[2], failed[1]].map((t) => t?.taskId),
    );
    expect(pages.flat().every((t) => t.status === "failed" && t.failedTopic === "demo")).toBe(true);
  });

  it("listFailed oldestFirst (the bulk replay's scan): oldest failure first, from failedFromMs on, page by page", async () => {
    const store: TaskStore = await makeStore();
    const failedAt = [30, 10, 20, 5];
    const failed = [task({ group: "a" }), task({ group: "b" }), task({ group: "a" }), task({ group: "d" })];
    for (const [i, t] of failed.entries()) await failTask(store, t, NOW + (failedAt[i] ?? 0));
    await failTask(store, task({ topic: "other", group: "a" }), NOW + 15);
    const scan = { oldestFirst: true, failedFromMs: NOW + 10 };

    const pages = await allPages((after) => store.listFailed("demo", 2, after, scan));

    expect(pages.flat().map((t) => t.taskId)).toEqual(
      [failed[1], failed[2], failed[0]].map((t) => t?.taskId),
    );
  });

  it("listFailed carries every attribute but the content: a bulk replay holds up to 1,000 dead letters at once", async () => {
    // 1,000 tasks of 256 KiB read page by page would pass the replay function's 512 MB on AWS, every call.
    const store: TaskStore = await makeStore();
    const failed = task({ group: "big", content: JSON.stringify({ v: "x".repeat(12_000) }) });
    await failTask(store, failed, NOW + 10);

    const { tasks } = await store.listFailed("demo", 10, undefined, { oldestFirst: true });

    const { content: _content, ...summary } = (await store.get(failed.taskId)) as TaskRecord;
    expect(tasks).toEqual([summary]);
  });
});

describe.each([
  ["dynalite", () => newStore()],
  ["memory", async () => new MemoryTaskStore()],
] as const)("markReplayed (%s)", (_name, makeStore) => {
  it("moves failed or delivered back to queued, out of the failed index and into the sweep index; else conflict", async () => {
    const store: TaskStore = await makeStore();
    const failed = task({ group: "r-1" });
    await failTask(store, failed, NOW + 10);
    const scheduled = task({ group: "r-2" });
    await store.putNew(scheduled);

    const replayed = await store.markReplayed(failed.taskId, NOW + 20);
    const again = await store.markReplayed(failed.taskId, NOW + 30);
    const notFinished = await store.markReplayed(scheduled.taskId, NOW + 30);
    const missing = await store.markReplayed(task({ group: "r-3" }).taskId, NOW + 30);

    expect(replayed).toMatchObject({
      outcome: "replayed",
      task: { status: "queued", replays: 1, attempts: 0, queuedAtMs: NOW + 20, failedAtMs: NOW + 10 },
    });
    const stored = await store.get(failed.taskId);
    expect(stored?.failedTopic).toBeUndefined();
    expect(stored?.expiresAt).toBeUndefined();
    expect(stored?.sweepShard).toBe(sweepShardOf(failed.taskId));
    expect((await store.listFailed("demo", 10)).tasks).toEqual([]);
    expect(again).toMatchObject({ outcome: "conflict", task: { status: "queued" } });
    expect(notFinished).toMatchObject({ outcome: "conflict", task: { status: "scheduled" } });
    expect(missing).toEqual({ outcome: "not-found" });
  });

  it("refuses a task past its retention that TTL has not removed yet (conflict, unchanged); one still retained is replayed", async () => {
    const store: TaskStore = await makeStore();
    const expired = task({ group: "e-1" });
    await failTask(store, expired, NOW + 10);
    const expiresAt = (await store.get(expired.taskId))?.expiresAt as number;

    const refused = await store.markReplayed(expired.taskId, expiresAt * 1000 + 1_000);
    const lastSecond = await store.markReplayed(expired.taskId, expiresAt * 1000 + 999);

    expect(refused).toMatchObject({ outcome: "conflict", task: { status: "failed", expiresAt } });
    expect(lastSecond).toMatchObject({ outcome: "replayed", task: { status: "queued" } });
  });

  it("onlyFailed: replays a failed task, and leaves a delivered one delivered (conflict)", async () => {
    const store: TaskStore = await makeStore();
    const failed = task({ group: "o-1" });
    await failTask(store, failed, NOW + 10);
    const delivered = task({ group: "o-2" });
    await store.putNew(delivered);
    await store.startAttempt(delivered.taskId, NOW);
    await store.markDelivered(delivered.taskId, {
      atMs: NOW,
      latenessMs: 0,
      deliveryLatencyMs: 1,
      expiresAt: 9,
    });

    const replayed = await store.markReplayed(failed.taskId, NOW + 20, { onlyFailed: true });
    const refused = await store.markReplayed(delivered.taskId, NOW + 20, { onlyFailed: true });

    expect(replayed).toMatchObject({ outcome: "replayed", task: { status: "queued", replays: 1 } });
    expect(refused).toMatchObject({ outcome: "conflict", task: { status: "delivered" } });
    expect((await store.get(delivered.taskId))?.replays).toBeUndefined();
  });

  it("revertReplay: an untouched replay goes back to failed (failed index, TTL, attempts; out of the sweep index); a replay that moved on stays", async () => {
    const store: TaskStore = await makeStore();
    const undone = task({ group: "u-1" });
    await failTask(store, undone, NOW + 10);
    const started = task({ group: "u-2" });
    await failTask(store, started, NOW + 11);
    await store.markReplayed(undone.taskId, NOW + 20, { onlyFailed: true });
    await store.markReplayed(started.taskId, NOW + 20, { onlyFailed: true });
    await store.startAttempt(started.taskId, NOW + 21);
    const replay = { replays: 1, attempts: 1, expiresAt: 7 };

    const stale = await store.revertReplay(undone.taskId, { ...replay, replays: 2 });
    const reverted = await store.revertReplay(undone.taskId, replay);
    const moved = await store.revertReplay(started.taskId, replay);
    const missing = await store.revertReplay(task({ group: "u-3" }).taskId, replay);

    expect([stale, reverted, moved, missing]).toEqual([false, true, false, false]);
    const stored = await store.get(undone.taskId);
    expect(stored).toMatchObject({
      status: "failed",
      attempts: 1,
      expiresAt: 7,
      replays: 1,
      failedTopic: "demo",
    });
    expect(stored?.sweepShard).toBeUndefined();
    expect((await store.listFailed("demo", 10)).tasks.map((t) => t.taskId)).toEqual([undone.taskId]);
    expect((await store.get(started.taskId))?.status).toBe("delivering");
  });

  it("revertReplay to delivered: a replayed delivered task goes back to delivered, out of the failed index", async () => {
    const store: TaskStore = await makeStore();
    const delivered = task({ group: "u-4" });
    const expiresAt = await deliverTask(store, delivered, NOW);
    await store.markReplayed(delivered.taskId, NOW + 20);

    const reverted = await store.revertReplay(delivered.taskId, {
      replays: 1,
      attempts: 1,
      expiresAt,
      status: "delivered",
    });

    expect(reverted).toBe(true);
    const stored = await store.get(delivered.taskId);
    expect(stored).toMatchObject({ status: "delivered", attempts: 1, expiresAt, replays: 1 });
    expect(stored?.failedTopic).toBeUndefined();
    expect(stored?.sweepShard).toBeUndefined();
    expect((await store.listFailed("demo", 10)).tasks).toEqual([]);
  });

  it("keepFanOutParent raises a fan-out parent's TTL, never lowers it, and touches no plain task nor a missing one", async () => {
    const store: TaskStore = await makeStore();
    const link = {
      subscriber: "billing",
      taskId: task({ group: "k-0" }).taskId,
      url: "https://b.example.com/",
    };
    const parent = task({ group: "k-1", fanOut: [link], expiresAt: 100 });
    const plain = task({ group: "k-2", expiresAt: 100 });
    await store.putNew(parent);
    await store.putNew(plain);

    const raised = await store.keepFanOutParent(parent.taskId, 200);
    const lowered = await store.keepFanOutParent(parent.taskId, 150);
    const notParent = await store.keepFanOutParent(plain.taskId, 200);
    const missing = await store.keepFanOutParent(task({ group: "k-3" }).taskId, 200);

    expect([raised, lowered, notParent, missing]).toEqual([true, false, false, false]);
    expect((await store.get(parent.taskId))?.expiresAt).toBe(200);
    expect((await store.get(plain.taskId))?.expiresAt).toBe(100);
    expect(await store.get(task({ group: "k-3" }).taskId)).toBeUndefined();
  });
});

/** A stored schedule as create-schedule writes it (active, in the schedule index). */
function scheduleRecord(topic = "demo", overrides: Partial<ScheduleRecord> = {}): ScheduleRecord {
  const key = makeScheduleKey(topic, newUlid(Date.now()));
  return {
    ...key,
    topic,
    cron: "*/5 * * * *",
    timezone: "UTC",
    content: '{"order_id":"o-1"}',
    status: "active",
    createdAtMs: NOW,
    updatedAtMs: NOW,
    materializedUntilMs: NOW,
    epoch: 0,
    scheduleShard: scheduleShardOf(key.scheduleId),
    materializeAtMs: NOW + 60_000,
    ...overrides,
  };
}

// Issue 14, point 4: the schedule methods, the same on the table (dynalite) and in the memory fake.
describe.each([
  ["dynalite", () => newStore()],
  ["memory", async () => new MemoryTaskStore()],
] as const)("schedules (%s)", (_name, makeStore) => {
  it("puts once, reads back, and lists a topic's schedules page by page in id order", async () => {
    const store: TaskStore = await makeStore();
    const topic = `t${tableCount}x${Math.floor(Math.random() * 1e6)}`;
    const schedules = [scheduleRecord(topic), scheduleRecord(topic), scheduleRecord(topic)];
    for (const s of schedules) await store.putSchedule(s);

    const again = await store.putSchedule(schedules[0] as ScheduleRecord);
    const read = await store.getSchedule(schedules[1]?.scheduleId ?? "");
    const pages: string[][] = [];
    let after: PageKey | undefined;
    do {
      const page = await store.listSchedules(topic, 2, after);
      pages.push(page.schedules.map((s) => s.scheduleId));
      after = page.next;
    } while (after);

    expect(again).toBe("exists");
    expect(read).toEqual(schedules[1]);
    expect(pages.flat()).toEqual(schedules.map((s) => s.scheduleId).sort());
    expect(await store.getSchedule("not-a-schedule-id")).toBeUndefined();
  });

  it("lists only schedules: a task of a topic named `schedules` whose group hash reads as a topic name is not one", async () => {
    const store: TaskStore = await makeStore();
    // The task partition `schedules#<group hash>` is the schedule partition of a topic named like that hash.
    const hashTopic = (value: string) => makeTaskKey("schedules", value, NOW, newUlid(NOW)).pk.slice(10);
    let group = 0;
    while (!TOPIC_NAME_PATTERN.test(hashTopic(`g${group}`))) group++;
    const topic = hashTopic(`g${group}`);
    await store.putNew(task({ topic: "schedules", group: `g${group}` }));
    const schedule = scheduleRecord(topic);
    await store.putSchedule(schedule);

    const listed = await store.listSchedules(topic, 10);

    expect(listed.schedules.map((s) => s.scheduleId)).toEqual([schedule.scheduleId]);
    expect(listed.next).toBeUndefined();
  });

  it("lists due schedules from the sparse index; a change that removes its keys takes the schedule out", async () => {
    const store: TaskStore = await makeStore();
    const due = scheduleRecord("demo", { materializeAtMs: NOW });
    const later = scheduleRecord("demo", { materializeAtMs: NOW + 3_600_000 });
    for (const s of [due, later]) await store.putSchedule(s);
    const dueIn = async (s: ScheduleRecord) =>
      (await store.listSchedulesDue(s.scheduleShard as number, NOW, 100)).some(
        (d) => d.scheduleId === s.scheduleId && d.materializeAtMs === s.materializeAtMs,
      );

    const before = [await dueIn(due), await dueIn(later)];
    const paused = await store.updateSchedule(due.scheduleId, {
      ifStatus: ["active"],
      set: { status: "paused", pausedAtMs: NOW },
      remove: ["scheduleShard", "materializeAtMs"],
    });

    expect(before).toEqual([true, false]);
    expect(paused.outcome).toBe("updated");
    expect(await dueIn(due)).toBe(false);
    expect(await store.getSchedule(due.scheduleId)).toMatchObject({ status: "paused", pausedAtMs: NOW });
    expect((await store.getSchedule(due.scheduleId))?.scheduleShard).toBeUndefined();
  });

  it("applies a change only on the status, cursor and epoch read; otherwise answers the schedule as it is", async () => {
    const store: TaskStore = await makeStore();
    const s = scheduleRecord();
    await store.putSchedule(s);
    const advance = (from: number) =>
      store.updateSchedule(s.scheduleId, {
        ifStatus: ["active"],
        ifMaterializedUntilMs: from,
        ifEpoch: 0,
        set: { materializedUntilMs: from + 60_000, materializeAtMs: from + 60_000 },
      });

    const first = await advance(NOW);
    const stale = await advance(NOW);
    const wrongStatus = await store.updateSchedule(s.scheduleId, {
      ifStatus: ["paused"],
      set: { status: "active" },
    });
    const missing = await store.updateSchedule(scheduleRecord().scheduleId, {
      ifStatus: ["active"],
      set: { updatedAtMs: NOW },
    });

    expect(first).toMatchObject({ outcome: "updated", schedule: { materializedUntilMs: NOW + 60_000 } });
    expect(stale).toMatchObject({ outcome: "conflict", schedule: { materializedUntilMs: NOW + 60_000 } });
    expect(wrongStatus).toMatchObject({ outcome: "conflict", schedule: { status: "active" } });
    expect(missing).toEqual({ outcome: "not-found" });
  });

  it("extends a schedule's lease only from the lease read (none: absent), so two runs never both hold it", async () => {
    const store: TaskStore = await makeStore();
    const s = scheduleRecord();
    await store.putSchedule(s);
    const lease = (read: number | null, until: number) =>
      store.updateSchedule(s.scheduleId, {
        ifStatus: ["active"],
        ifLeasedUntilMs: read,
        set: { leasedUntilMs: until },
      });

    const first = await lease(null, NOW + 60_000);
    const second = await lease(null, NOW + 90_000);
    const extended = await lease(NOW + 60_000, NOW + 120_000);

    expect(first).toMatchObject({ outcome: "updated", schedule: { leasedUntilMs: NOW + 60_000 } });
    expect(second).toMatchObject({ outcome: "conflict", schedule: { leasedUntilMs: NOW + 60_000 } });
    expect(extended).toMatchObject({ outcome: "updated", schedule: { leasedUntilMs: NOW + 120_000 } });
  });

  it("records a schedule's skipped occurrences (count and the last one, a map) with the cursor's write and reads them back", async () => {
    const store: TaskStore = await makeStore();
    const s = scheduleRecord();
    await store.putSchedule(s);
    const lastSkipped = { occurrenceMs: NOW + 60_000, atMs: NOW, code: "validation_failed", message: "no" };

    const result = await store.updateSchedule(s.scheduleId, {
      ifStatus: ["active"],
      ifMaterializedUntilMs: s.materializedUntilMs,
      set: { materializedUntilMs: NOW + 60_000, skippedOccurrences: 2, lastSkipped },
    });

    expect(result).toMatchObject({ outcome: "updated", schedule: { skippedOccurrences: 2, lastSkipped } });
    expect(await store.getSchedule(s.scheduleId)).toMatchObject({ skippedOccurrences: 2, lastSkipped });
  });

  it("leases a window and skips missed occurrences in one conditional write (a catch-up run's), so a second lease from the old cursor is refused", async () => {
    // Prepare
    const store: TaskStore = await makeStore();
    const s = scheduleRecord();
    await store.putSchedule(s);
    const lastSkipped = { occurrenceMs: NOW + 60_000, atMs: NOW, code: "missed", message: "skipped" };
    const lease = () =>
      store.updateSchedule(s.scheduleId, {
        ifStatus: ["active"],
        ifMaterializedUntilMs: s.materializedUntilMs,
        ifEpoch: 0,
        ifLeasedUntilMs: null,
        set: {
          leasedUntilMs: NOW + 300_000,
          materializedUntilMs: NOW + 120_000,
          skippedOccurrences: 3,
          lastSkipped,
        },
      });

    // Act
    const first = await lease();
    const second = await lease();

    // Assess
    const leased = {
      leasedUntilMs: NOW + 300_000,
      materializedUntilMs: NOW + 120_000,
      skippedOccurrences: 3,
    };
    expect(first).toMatchObject({ outcome: "updated", schedule: { ...leased, lastSkipped } });
    expect(second).toMatchObject({ outcome: "conflict", schedule: leased });
    expect(await store.getSchedule(s.scheduleId)).toMatchObject({ ...leased, lastSkipped });
  });

  it("reads a live idempotency claim's task and request hash, none for an unknown key, without claiming", async () => {
    const store: TaskStore = await makeStore();
    const claim = { topic: "demo", key: `k-${newUlid(Date.now())}`, taskId: "demo._.x.y", requestHash: "h" };
    await store.claimIdempotencyKey({ ...claim, expiresAt: NOW / 1000 + 3_600 });

    expect(await store.readIdempotencyClaim("demo", claim.key)).toEqual({
      taskId: claim.taskId,
      requestHash: "h",
    });
    expect(await store.readIdempotencyClaim("other", claim.key)).toBeUndefined();
    expect(await store.readIdempotencyClaim("demo", "never-read")).toBeUndefined();
    expect((await store.claimIdempotencyKey({ ...claim, key: "never-read", expiresAt: 1e10 })).status).toBe(
      "claimed",
    );
  });

  it("finds the task an idempotency key was claimed for, without claiming an unknown key", async () => {
    const store: TaskStore = await makeStore();
    const claim = { topic: "demo", key: `k-${newUlid(Date.now())}`, taskId: "demo._.x.y", requestHash: "h" };
    await store.claimIdempotencyKey({ ...claim, expiresAt: NOW / 1000 + 3_600 });

    expect(await store.findIdempotencyClaim("demo", claim.key)).toBe(claim.taskId);
    expect(await store.findIdempotencyClaim("other", claim.key)).toBeUndefined();
    expect(await store.findIdempotencyClaim("demo", "never-claimed")).toBeUndefined();
    expect(
      (await store.claimIdempotencyKey({ ...claim, key: "never-claimed", expiresAt: 1e10 })).status,
    ).toBe("claimed");
  });
});

// --- issue 14 (breaker): destination items, the same semantics in DynamoDB and in the memory fake ---
describe.each([
  ["dynalite", () => newStore()],
  ["memory", async () => new MemoryTaskStore()],
] as const)("destinations (%s)", (_name, makeStore) => {
  const HOST = "hooks.example.com:8443";

  it("a second's rate counter admits exactly `rate` tokens, even when asked at once", async () => {
    // Prepare
    const store: TaskStore = await makeStore();
    const second = Math.floor(NOW / 1000);

    // Act
    const taken = await Promise.all(
      Array.from({ length: 6 }, () => store.takeRateToken("demo", HOST, second, 4)),
    );
    const nextSecond = await store.takeRateToken("demo", HOST, second + 1, 4);
    const otherTopic = await store.takeRateToken("other", HOST, second, 4);

    // Assess
    expect(taken.filter(Boolean)).toHaveLength(4);
    expect([nextSecond, otherTopic]).toEqual([true, true]);
  });

  it("leases: never more than `max` held, even when asked at once", async () => {
    // Prepare
    const store: TaskStore = await makeStore();

    // Act
    const slots = await Promise.all(
      Array.from({ length: 4 }, () => store.acquireLease("demo", HOST, 2, NOW, NOW + 10_000)),
    );

    // Assess
    const held = slots.filter((slot) => slot !== undefined);
    expect(held.length).toBeGreaterThanOrEqual(1);
    expect(held.length).toBeLessThanOrEqual(2);
    expect(new Set(held).size).toBe(held.length);
  });

  it("leases: a full host refuses; an expired lease is taken over; release frees only its own lease", async () => {
    // Prepare
    const store: TaskStore = await makeStore();
    const a = await store.acquireLease("demo", HOST, 2, NOW, NOW + 10_000);
    const b = await store.acquireLease("demo", HOST, 2, NOW, NOW + 12_000);

    // Act
    const whileFull = await store.acquireLease("demo", HOST, 2, NOW + 5_000, NOW + 15_000);
    const takeover = await store.acquireLease("demo", HOST, 2, NOW + 10_000, NOW + 20_000);
    await store.releaseLease("demo", HOST, a as number, NOW + 10_000); // a's slot is takeover's now
    await store.releaseLease("demo", HOST, b as number, NOW + 12_000);

    // Assess
    expect([a, b].sort()).toEqual([0, 1]);
    expect(whileFull).toBeUndefined();
    expect(takeover).toBe(a);
    expect((await store.getDestination("demo", HOST))?.leases).toEqual({ [a as number]: NOW + 20_000 });
  });

  it("a probe claim is released only by its own holder (its claim's end), so a later prober's claim stays", async () => {
    // Prepare
    const store: TaskStore = await makeStore();
    await store.recordDestinationFailure("demo", HOST, NOW, "HTTP 503");
    await store.openCircuit("demo", HOST, NOW, NOW + 30_000);
    await store.claimProbe("demo", HOST, NOW + 30_000, NOW + 40_000);

    // Act
    await store.releaseProbe("demo", HOST, NOW + 40_000);
    const afterOwnRelease = await store.getDestination("demo", HOST);
    const reclaimed = await store.claimProbe("demo", HOST, NOW + 30_001, NOW + 50_000);
    await store.releaseProbe("demo", HOST, NOW + 40_000); // the first prober again, too late
    const afterStaleRelease = await store.getDestination("demo", HOST);

    // Assess
    expect(afterOwnRelease?.probeUntilMs).toBeUndefined();
    expect(reclaimed).toBe(true);
    expect(afterStaleRelease?.probeUntilMs).toBe(NOW + 50_000);
  });

  it("a reopening by anyone but the prober (an attempt admitted before the circuit opened) leaves the probe's claim", async () => {
    // Prepare: open, half-open, one prober elected
    const store: TaskStore = await makeStore();
    await store.recordDestinationFailure("demo", HOST, NOW, "HTTP 503");
    await store.openCircuit("demo", HOST, NOW, NOW + 1_000);
    await store.claimProbe("demo", HOST, NOW + 1_000, NOW + 23_000);

    // Act: a failure that is not the probe's, then one of a prober whose claim has since been taken over
    const byOther = await store.openCircuit("demo", HOST, NOW + 2_000, NOW + 3_000);
    const afterOther = await store.getDestination("demo", HOST);
    const byStaleProber = await store.openCircuit("demo", HOST, NOW + 2_500, NOW + 3_500, NOW + 9_000);
    const afterStaleProber = await store.getDestination("demo", HOST);
    const second = await store.claimProbe("demo", HOST, NOW + 4_000, NOW + 26_000);

    // Assess: the cool-down restarted each time, the prober's claim stands, so no second prober is elected
    expect([byOther, byStaleProber]).toEqual(["reopened", "reopened"]);
    expect(afterOther).toMatchObject({
      circuit: "open",
      nextProbeAtMs: NOW + 3_000,
      probeUntilMs: NOW + 23_000,
    });
    expect(afterStaleProber).toMatchObject({ nextProbeAtMs: NOW + 3_500, probeUntilMs: NOW + 23_000 });
    expect(second).toBe(false);
  });

  it("lists a page at a time in key order: `limit` items read after `after`, the circuit filter kept of those, `next` where the next begins", async () => {
    // Prepare: five hosts on two topics; b and d open (d by a lease first: an item without `circuit` is closed)
    const store: TaskStore = await makeStore();
    for (const host of ["a.example.com", "c.example.com", "e.example.com"]) {
      await store.acquireLease("demo", host, 2, NOW, NOW + 10_000);
    }
    await store.recordDestinationFailure("demo", "b.example.com", NOW, "HTTP 503");
    await store.openCircuit("demo", "b.example.com", NOW, NOW + 30_000);
    await store.acquireLease("other", "d.example.com", 2, NOW, NOW + 10_000);
    await store.recordDestinationFailure("other", "d.example.com", NOW, "HTTP 503");
    await store.openCircuit("other", "d.example.com", NOW, NOW + 30_000);
    const keys = (page: { destinations: { topic: string; host: string }[] }) =>
      page.destinations.map((d) => `${d.topic}#${d.host}`);

    // Act
    const first = await store.listDestinations({ limit: 2 });
    const second = await store.listDestinations({ limit: 2, ...(first.next && { after: first.next }) });
    const third = await store.listDestinations({ limit: 2, ...(second.next && { after: second.next }) });
    const openFirst = await store.listDestinations({ limit: 3, circuit: "open" });
    const openRest = await store.listDestinations({
      limit: 3,
      circuit: "open",
      ...(openFirst.next && { after: openFirst.next }),
    });
    const closed = await store.listDestinations({ limit: 10, circuit: "closed" });

    // Assess
    expect([keys(first), keys(second), keys(third)]).toEqual([
      ["demo#a.example.com", "demo#b.example.com"],
      ["demo#c.example.com", "demo#e.example.com"],
      ["other#d.example.com"],
    ]);
    expect(first.next).toEqual({ pk: "destination", sk: "demo#b.example.com" });
    expect(third.next).toBeUndefined();
    expect(keys(openFirst)).toEqual(["demo#b.example.com"]); // a, b, c read; b kept
    expect(openFirst.next).toEqual({ pk: "destination", sk: "demo#c.example.com" });
    expect(keys(openRest)).toEqual(["other#d.example.com"]);
    expect(keys(closed)).toEqual(["demo#a.example.com", "demo#c.example.com", "demo#e.example.com"]);
    expect(closed.next).toBeUndefined();
  });

  it("a page that reads `limit` items answers a `next` even when they were the partition's last, as DynamoDB's Query does; the page after is empty and ends it", async () => {
    // Prepare: three hosts
    const store: TaskStore = await makeStore();
    for (const host of ["a.example.com", "b.example.com", "c.example.com"]) {
      await store.acquireLease("demo", host, 2, NOW, NOW + 10_000);
    }

    // Act: a page of exactly the three, and one resumed after its last
    const full = await store.listDestinations({ limit: 3 });
    const after = await store.listDestinations({ limit: 3, ...(full.next && { after: full.next }) });

    // Assess: DynamoDB stops at Limit without looking further, so it cannot tell the end from more
    expect(full.destinations).toHaveLength(3);
    expect(full.next).toEqual({ pk: "destination", sk: "demo#c.example.com" });
    expect(after).toEqual({ destinations: [] });
  });

  it("failures count up; the circuit opens once, reopens after that; one prober is elected; close answers the old item", async () => {
    // Prepare
    const store: TaskStore = await makeStore();

    // Act
    await store.recordDestinationFailure("demo", HOST, NOW, "HTTP 503");
    const second = await store.recordDestinationFailure(
      "demo",
      HOST,
      NOW + 1,
      "network: connection refused (ECONNREFUSED)",
    );
    const opened = await store.openCircuit("demo", HOST, NOW + 1, NOW + 30_000);
    const tooEarly = await store.claimProbe("demo", HOST, NOW + 29_999, NOW + 40_000);
    const probes = await Promise.all(
      Array.from({ length: 5 }, () => store.claimProbe("demo", HOST, NOW + 30_000, NOW + 40_000)),
    );
    // The elected prober failed: it reopens the circuit and gives up its own claim
    const reopened = await store.openCircuit("demo", HOST, NOW + 35_000, NOW + 65_000, NOW + 40_000);
    const { destinations: listed } = await store.listDestinations({ limit: 100 });
    const before = await store.closeCircuit("demo", HOST, NOW + 70_000);
    const after = await store.getDestination("demo", HOST);
    const missing = await store.closeCircuit("demo", "nowhere.example.com", NOW + 70_000);

    // Assess
    expect(second).toMatchObject({ topic: "demo", host: HOST, failures: 2, circuit: "closed" });
    expect([opened, reopened]).toEqual(["opened", "reopened"]);
    expect(tooEarly).toBe(false);
    expect(probes.filter(Boolean)).toHaveLength(1);
    expect(listed).toEqual([
      expect.objectContaining({
        host: HOST,
        circuit: "open",
        openedAtMs: NOW + 1,
        nextProbeAtMs: NOW + 65_000,
      }),
    ]);
    expect(listed[0]?.probeUntilMs).toBeUndefined();
    expect(before).toMatchObject({
      circuit: "open",
      failures: 2,
      lastError: "network: connection refused (ECONNREFUSED)",
    });
    expect(after).toMatchObject({ circuit: "closed", failures: 0 });
    expect(after?.nextProbeAtMs).toBeUndefined();
    expect(missing).toBeUndefined();
  });
});

// docs/CALLBACKS.md "Protecting receivers": an entry idle past its expiry reads as a host never met, whether or not
// DynamoDB's TTL has deleted it yet (it deletes expired items some time after, and shows them until then:
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ttl-expired-items.html).
describe.each([
  ["dynalite", () => newStore()],
  [
    "memory",
    async () => {
      const store = new MemoryTaskStore();
      store.nowSeconds = () => clockSeconds;
      return store;
    },
  ],
] as const)("a destination entry idle past its expiry (%s)", (_name, makeStore) => {
  const HOST = "hooks.example.com:8443";
  const MONTH_LATER = NOW + (DESTINATION_IDLE_SECONDS + 86_400) * 1000;
  afterEach(() => {
    clockSeconds = NOW / 1000;
  });

  /** Four failures at NOW (below a threshold of 5), then the clock a month and a day on. */
  async function idleAfterFailures(): Promise<TaskStore> {
    clockSeconds = NOW / 1000;
    const store: TaskStore = await makeStore();
    for (let i = 0; i < 4; i++) await store.recordDestinationFailure("demo", HOST, NOW + i, "HTTP 503");
    clockSeconds = MONTH_LATER / 1000;
    return store;
  }

  it("reads as a host never met: no entry, none listed", async () => {
    // Prepare
    const store = await idleAfterFailures();

    // Act
    const read = await store.getDestination("demo", HOST);
    const listed = await store.listDestinations({ limit: 100 });
    const closedListed = await store.listDestinations({ limit: 100, circuit: "closed" });

    // Assess
    expect(read).toBeUndefined();
    expect(listed.destinations).toEqual([]);
    expect(closedListed.destinations).toEqual([]);
  });

  it("counts its next failure afresh: 1, the new error — a single failure after a month idle opens nothing", async () => {
    // Prepare
    const store = await idleAfterFailures();

    // Act
    const counted = await store.recordDestinationFailure("demo", HOST, MONTH_LATER, "HTTP 502");
    const next = await store.recordDestinationFailure("demo", HOST, MONTH_LATER + 1, "HTTP 504");
    const { destinations } = await store.listDestinations({ limit: 100 });

    // Assess
    expect(counted).toMatchObject({ failures: 1, circuit: "closed", lastError: "HTTP 502" });
    expect(counted.lastFailureAtMs).toBe(MONTH_LATER);
    expect(next).toMatchObject({ failures: 2, lastError: "HTTP 504" });
    expect(destinations).toEqual([
      expect.objectContaining({ host: HOST, failures: 2, lastError: "HTTP 504" }),
    ]);
  });

  it("two failures recorded at once on it count 2: one starts the count afresh, the other adds to it", async () => {
    // Prepare
    const store = await idleAfterFailures();

    // Act
    const both = await Promise.all([
      store.recordDestinationFailure("demo", HOST, MONTH_LATER, "HTTP 502"),
      store.recordDestinationFailure("demo", HOST, MONTH_LATER, "HTTP 503"),
    ]);

    // Assess
    expect(both.map((record) => record.failures).sort()).toEqual([1, 2]);
    expect((await store.getDestination("demo", HOST))?.failures).toBe(2);
  });

  it("a lease taken on it starts the entry afresh: the failure after it counts 1", async () => {
    // Prepare
    const store = await idleAfterFailures();

    // Act
    const slot = await store.acquireLease("demo", HOST, 1, MONTH_LATER, MONTH_LATER + 10_000);
    const leased = await store.getDestination("demo", HOST);
    const counted = await store.recordDestinationFailure("demo", HOST, MONTH_LATER + 1, "HTTP 502");

    // Assess
    expect(slot).toBe(0);
    expect(leased).toMatchObject({ failures: 0, circuit: "closed", leases: { 0: MONTH_LATER + 10_000 } });
    expect(leased?.lastError).toBeUndefined();
    expect(counted).toMatchObject({ failures: 1, lastError: "HTTP 502" });
  });

  it("a close finds no destination there, and leaves it expired", async () => {
    // Prepare
    const store = await idleAfterFailures();

    // Act
    const before = await store.closeCircuit("demo", HOST, MONTH_LATER);

    // Assess
    expect(before).toBeUndefined();
    expect(await store.getDestination("demo", HOST)).toBeUndefined();
  });

  it("an open circuit's entry does not expire: a month on it is still open, its failures kept", async () => {
    // Prepare
    const store = await idleAfterFailures();
    clockSeconds = NOW / 1000;
    await store.openCircuit("demo", HOST, NOW + 5, NOW + 30_000);
    clockSeconds = MONTH_LATER / 1000;

    // Act
    const read = await store.getDestination("demo", HOST);
    const counted = await store.recordDestinationFailure("demo", HOST, MONTH_LATER, "HTTP 502");

    // Assess
    expect(read).toMatchObject({ circuit: "open", failures: 4 });
    expect(counted).toMatchObject({ circuit: "open", failures: 5 });
  });
});

// A destination item's expiry (docs/CALLBACKS.md "Protecting receivers"): every write that uses it pushes its expiry to
// DESTINATION_IDLE_SECONDS past that use; an open circuit holds back deliveries and must never expire, so while it
// is open every write, whatever it knows of the circuit, puts the expiry beyond any TTL sweep.
describe("destination items expire when idle and closed (dynalite)", () => {
  const HOST = "hooks.example.com:8443";
  const idleUntil = (ms: number) => Math.floor(ms / 1000) + DESTINATION_IDLE_SECONDS;

  async function expiryOf(table: string, topic: string, host: string): Promise<number | undefined> {
    const out = await client.send(
      new GetItemCommand({
        TableName: table,
        Key: { pk: { S: "destination" }, sk: { S: `${topic}#${host}` } },
        ConsistentRead: true,
      }),
    );
    const value = out.Item?.expiresAt?.N;
    return value === undefined ? undefined : Number(value);
  }

  it("a lease or a failure writes the expiry of its use; each later use pushes it on", async () => {
    // Prepare
    const store = await newStore();
    const table = `tasks-${tableCount}`;

    // Act
    await store.acquireLease("demo", HOST, 2, NOW, NOW + 10_000);
    const afterLease = await expiryOf(table, "demo", HOST);
    await store.recordDestinationFailure("other", HOST, NOW, "HTTP 503");
    const afterFirstFailure = await expiryOf(table, "other", HOST);
    await store.recordDestinationFailure("other", HOST, NOW + 86_400_000, "HTTP 503");
    const afterLaterFailure = await expiryOf(table, "other", HOST);

    // Assess
    expect(afterLease).toBe(idleUntil(NOW));
    expect(afterFirstFailure).toBe(idleUntil(NOW));
    expect(afterLaterFailure).toBe(idleUntil(NOW + 86_400_000));
  });

  it("an open circuit never expires, whatever writes it meets; closing it starts its idle time again", async () => {
    // Prepare: open, then every write an open circuit meets (a probe's claim, lease, failure, release, reopening)
    const store = await newStore();
    const table = `tasks-${tableCount}`;
    const seen: (number | undefined)[] = [];
    await store.recordDestinationFailure("demo", HOST, NOW, "HTTP 503");

    // Act
    await store.openCircuit("demo", HOST, NOW, NOW + 30_000);
    seen.push(await expiryOf(table, "demo", HOST));
    await store.claimProbe("demo", HOST, NOW + 30_000, NOW + 40_000);
    seen.push(await expiryOf(table, "demo", HOST));
    const slot = await store.acquireLease("demo", HOST, 2, NOW + 30_000, NOW + 40_000);
    seen.push(await expiryOf(table, "demo", HOST));
    await store.recordDestinationFailure("demo", HOST, NOW + 31_000, "HTTP 503");
    seen.push(await expiryOf(table, "demo", HOST));
    await store.releaseLease("demo", HOST, slot as number, NOW + 40_000);
    await store.releaseProbe("demo", HOST, NOW + 40_000);
    seen.push(await expiryOf(table, "demo", HOST));
    await store.openCircuit("demo", HOST, NOW + 31_000, NOW + 61_000);
    seen.push(await expiryOf(table, "demo", HOST));
    await store.closeCircuit("demo", HOST, NOW + 70_000);
    const afterClose = await expiryOf(table, "demo", HOST);
    await store.acquireLease("demo", HOST, 2, NOW + 80_000, NOW + 90_000);
    const afterLaterLease = await expiryOf(table, "demo", HOST);

    // Assess: beyond anything the TTL sweep would reach in this century, at every step while open
    const century = Math.floor(NOW / 1000) + 100 * 365 * 86_400;
    for (const expiry of seen) expect(expiry).toBeGreaterThan(century);
    expect(afterClose).toBe(idleUntil(NOW + 70_000));
    expect(afterLaterLease).toBe(idleUntil(NOW + 80_000));
  });

  it("a reopening that finds the circuit closed under it (a reset, a probe's success) leaves it closed and expiring", async () => {
    // Prepare: open; a failure of an attempt admitted before that reopens it, and between its refused open and
    // its next write the circuit is closed (another container's close, through the real client)
    const seam = closingBeforeReopenClient();
    const store = await newStore(seam.client);
    const table = `tasks-${tableCount}`;
    seam.closeWith(new DynamoTaskStore({ client, tableName: table }), "demo", HOST, NOW + 2_000);
    await store.recordDestinationFailure("demo", HOST, NOW, "HTTP 503");
    await store.openCircuit("demo", HOST, NOW, NOW + 30_000);

    // Act
    const change = await store.openCircuit("demo", HOST, NOW + 3_000, NOW + 33_000);
    const afterRace = await store.getDestination("demo", HOST);
    await store.acquireLease("demo", HOST, 2, NOW + 80_000, NOW + 90_000);
    const afterLaterLease = await expiryOf(table, "demo", HOST);

    // Assess: closed, and its later use sets its idle expiry (not the open circuit's century hold)
    expect(seam.closed()).toBe(true);
    expect(change).toBe("closed"); // so the caller does not remember the circuit open (it waited a cool-down)
    expect(afterRace).toMatchObject({ circuit: "closed", failures: 0 });
    expect(afterLaterLease).toBe(idleUntil(NOW + 80_000));
    expect(afterRace?.nextProbeAtMs).toBeUndefined();
  });
});

/**
 * A client over dynalite that closes the circuit (with `closer`) just before the first write a reopening makes
 * after its open was refused (the circuit was open already): a close that lands between the two.
 */
function closingBeforeReopenClient() {
  let close: (() => Promise<unknown>) | undefined;
  let closed = false;
  const seam = {
    send: async (command: unknown) => {
      const reopening =
        command instanceof UpdateItemCommand &&
        command.input.UpdateExpression?.startsWith("SET nextProbeAtMs") === true;
      if (reopening && close && !closed) {
        closed = true;
        await close();
      }
      return client.send(command as never);
    },
  };
  return {
    client: seam as unknown as DynamoDBClient,
    closeWith: (closer: DynamoTaskStore, topic: string, host: string, atMs: number) => {
      close = () => closer.closeCircuit(topic, host, atMs);
    },
    closed: () => closed,
  };
}

describe.each([
  ["dynalite", () => newStore()],
  ["memory", async () => new MemoryTaskStore()],
] as const)("a refunded attempt failure (%s)", (_name, makeStore) => {
  it("records the error and the log entry and gives the attempt back in the same write", async () => {
    // Prepare
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    const started = await store.startAttempt(t.taskId, NOW);

    // Act
    await store.recordAttemptFailure(t.taskId, {
      error: "HTTP 503",
      atMs: NOW,
      attempt: {
        seq: started?.attemptSeq ?? 1,
        startedAtMs: NOW,
        durationMs: 3,
        status: 503,
        error: "HTTP 503",
      },
      refund: true,
    });

    // Assess
    const after = await store.get(t.taskId);
    expect(after).toMatchObject({ status: "delivering", attempts: 0, lastError: "HTTP 503" });
    expect(attemptLogEntries(after as TaskRecord)).toHaveLength(1);
  });
});

/** The item as code from before `startedFrom` left it: the start's record of its status removed. */
async function startedByOlderCode(store: TaskStore, taskId: string): Promise<void> {
  if (store instanceof MemoryTaskStore) {
    const { startedFrom: _, ...rest } = store.tasks.get(taskId) as TaskRecord;
    store.tasks.set(taskId, rest);
    return;
  }
  const key = keyOfTask(taskId);
  await client.send(
    new UpdateItemCommand({
      TableName: `tasks-${tableCount}`,
      Key: { pk: { S: key.pk }, sk: { S: key.sk } },
      UpdateExpression: "REMOVE startedFrom",
    }),
  );
}

function keyOfTask(taskId: string): { pk: string; sk: string } {
  const key = parseTaskId(taskId);
  if (!key) throw new Error(`not a task id: ${taskId}`);
  return key;
}

/**
 * A read-free start no callback used (its step given up, its call failed before sending) is refunded by deliver
 * (refundUnreadStart) with `restore`: it used to leave the task `delivering` until its record came back, so GET
 * showed a call that was never made and PATCH / run-now answered 409. The start's own write records the status it
 * came from (`startedFrom`), and the refund gives it back in its one conditional write.
 */
describe.each([
  ["dynalite", () => newStore()],
  ["memory", async () => new MemoryTaskStore()],
] as const)("an unused read-free start's refund (%s)", (_name, makeStore) => {
  const UNUSED = "attempt given back: its start went unused";
  function refundUnused(store: TaskStore, started: TaskRecord) {
    return store.recordAttemptFailure(started.taskId, {
      error: UNUSED,
      atMs: NOW + 10,
      attempt: { seq: started.attemptSeq ?? 1, startedAtMs: NOW + 5, durationMs: 5, error: UNUSED },
      attemptSeq: started.attemptSeq,
      attempts: started.attempts,
      refund: true,
      restore: true,
    });
  }

  it("a start records the status it came from, in its own write", async () => {
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);

    const started = await store.startAttempt(t.taskId, NOW + 5, 5);

    expect(started).toMatchObject({ status: "delivering", startedFrom: "scheduled", attempts: 1 });
    expect(await store.get(t.taskId)).toMatchObject({ status: "delivering", startedFrom: "scheduled" });
  });

  it("gives a task started from `scheduled` back `scheduled`, and it can be moved (PATCH)", async () => {
    // Prepare
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    const started = (await store.startAttempt(t.taskId, NOW + 5, 5)) as TaskRecord;

    // Act
    const written = await refundUnused(store, started);

    // Assess: as before the start but for its logged, uncounted attempt; in the sweep index; movable
    expect(written).toBe(true);
    const after = (await store.get(t.taskId)) as TaskRecord;
    expect(after).toMatchObject({ status: "scheduled", attempts: 0, attemptSeq: 1, lastError: UNUSED });
    expect(after.startedFrom).toBeUndefined();
    expect(after.sweepShard).toBe(sweepShardOf(t.taskId));
    expect(attemptLogEntries(after)).toEqual([
      { seq: 1, startedAtMs: NOW + 5, durationMs: 5, error: UNUSED },
    ]);
    const moved = await store.markRescheduled(t.taskId, { to: "successor", atMs: NOW + 20, expiresAt: 9 });
    expect(moved.outcome).toBe("rescheduled");
  });

  it("gives a task started from `queued` (forwarded by the sweeper) back `queued`", async () => {
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    await store.markQueued(t.taskId, NOW);
    const started = (await store.startAttempt(t.taskId, NOW + 5, 5)) as TaskRecord;

    await refundUnused(store, started);

    expect(await store.get(t.taskId)).toMatchObject({ status: "queued", attempts: 0, queuedAtMs: NOW });
  });

  it("leaves a retry's start (from `delivering`) `delivering`, its attempt given back", async () => {
    // Prepare: attempt 1 failed (a retry waits), attempt 2 started without a read
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    await store.startAttempt(t.taskId, NOW);
    await store.recordAttemptFailure(t.taskId, { error: "HTTP 503", atMs: NOW + 1, attemptSeq: 1 });
    const started = (await store.startAttempt(t.taskId, NOW + 5, 5)) as TaskRecord;
    expect(started.startedFrom).toBe("delivering");

    // Act
    await refundUnused(store, started);

    // Assess
    expect(await store.get(t.taskId)).toMatchObject({ status: "delivering", attempts: 1, attemptSeq: 2 });
  });

  it("leaves a task started by older code (no `startedFrom`) `delivering`, as before", async () => {
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    const started = (await store.startAttempt(t.taskId, NOW + 5, 5)) as TaskRecord;
    await startedByOlderCode(store, t.taskId);

    expect(await refundUnused(store, started)).toBe(true);

    expect(await store.get(t.taskId)).toMatchObject({ status: "delivering", attempts: 0 });
  });

  it("restores nothing once another start has followed it", async () => {
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    const started = (await store.startAttempt(t.taskId, NOW + 5, 5)) as TaskRecord;
    await store.startAttempt(t.taskId, NOW + 6, 5);

    expect(await refundUnused(store, started)).toBe(false);

    expect(await store.get(t.taskId)).toMatchObject({ status: "delivering", attempts: 2, attemptSeq: 2 });
  });

  it("ends a task carrying a cancel request `cancelled`, as before", async () => {
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    const started = (await store.startAttempt(t.taskId, NOW + 5, 5)) as TaskRecord;
    const requested = await store.cancel(t.taskId, NOW + 6, 99, { awaitingRetry: true });
    expect(requested.outcome).toBe("cancel-requested");

    expect(await refundUnused(store, started)).toBe("cancelled");

    expect(await store.get(t.taskId)).toMatchObject({ status: "cancelled", attempts: 0 });
  });

  it("is read by the relay's group read with its start on record, and does not stop that read as a started task would", async () => {
    // Prepare: an earlier task of the group delivered; the refunded one after it; a later one still scheduled
    const store: TaskStore = await makeStore();
    const [done, refunded, later] = [0, 1_000, 2_000].map((ms) =>
      task({ group: "relay-read", dueAtMs: NOW + ms }),
    );
    for (const t of [done, refunded, later]) await store.putNew(t as TaskRecord);
    await store.startAttempt((done as TaskRecord).taskId, NOW + 5);
    await store.markDelivered((done as TaskRecord).taskId, {
      atMs: NOW + 6,
      latenessMs: 0,
      deliveryLatencyMs: 1,
      expiresAt: 9,
    });
    const started = (await store.startAttempt((refunded as TaskRecord).taskId, NOW + 1_005, 5)) as TaskRecord;
    await refundUnused(store, started);

    // Act: as the relay reads it (latest first, stopping a margin below the latest started task)
    const others = new Map<string, TaskStatus>();
    const listed = await store.listScheduledInGroup(
      (later as TaskRecord).pk,
      NOW - 60_000,
      NOW + 2_000,
      others,
      {
        stopAtStarted: true,
      },
    );

    // Assess: both still-scheduled tasks, the refunded one with its start (relay.ts leaves it to its record)
    expect(listed.map((t) => [t.taskId, t.lastAttemptAtMs])).toEqual([
      [(refunded as TaskRecord).taskId, NOW + 1_005],
      [(later as TaskRecord).taskId, undefined],
    ]);
    expect(others.get((done as TaskRecord).taskId)).toBe("delivered");
  });
});

/**
 * Deliver writes an attempt's outcome after its callback; a step its watchdog gave up on may have that write land
 * after the redelivery began the next attempt (a request the SDK had sent). Conditioned on `delivering` alone it
 * marked the task delivered, or wrote its failure (and refund), under the next attempt; now on the attempt too.
 */
describe.each([
  ["dynalite", () => newStore()],
  ["memory", async () => new MemoryTaskStore()],
] as const)("an attempt's outcome written after the next attempt began (%s)", (_name, makeStore) => {
  const entry = (seq: number, status: number) => ({ seq, startedAtMs: NOW, durationMs: 3, status });

  it("is refused and changes nothing; the current attempt's own outcome is written", async () => {
    // Prepare: attempt 1 started, then attempt 2 (the redelivery's)
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    await store.startAttempt(t.taskId, NOW);
    const second = await store.startAttempt(t.taskId, NOW + 1);

    // Act: attempt 1's outcomes land late; then attempt 2's
    const lateFailure = await store.recordAttemptFailure(t.taskId, {
      error: "HTTP 503",
      atMs: NOW + 2,
      attempt: entry(1, 503),
      attemptSeq: 1,
      refund: true,
    });
    const lateDelivered = await store.markDelivered(t.taskId, {
      atMs: NOW + 3,
      latenessMs: 0,
      deliveryLatencyMs: 3,
      expiresAt: 9,
      attempt: entry(1, 200),
      attemptSeq: 1,
    });
    const afterLate = await store.get(t.taskId);
    const own = await store.markDelivered(t.taskId, {
      atMs: NOW + 4,
      latenessMs: 0,
      deliveryLatencyMs: 3,
      expiresAt: 9,
      attempt: entry(2, 200),
      attemptSeq: 2,
    });

    // Assess
    expect(afterLate).toEqual(second);
    expect([lateFailure, lateDelivered, own]).toEqual([false, false, true]);
    const done = await store.get(t.taskId);
    expect(done).toMatchObject({ status: "delivered", attempts: 2, attemptSeq: 2, deliveredAtMs: NOW + 4 });
    expect(attemptLogEntries(done as TaskRecord).map((e) => e.seq)).toEqual([2]);
  });

  it("a delivered write refused by its own earlier try (a resend, the first answer lost) answers written", async () => {
    // Prepare: attempt 1 started, its delivered write made once
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    await store.startAttempt(t.taskId, NOW);
    const result = { atMs: NOW + 4, latenessMs: 0, deliveryLatencyMs: 3, expiresAt: 9, attemptSeq: 1 };
    const first = await store.markDelivered(t.taskId, result);

    // Act: the same write again, as the SDK resends one whose answer was lost
    const resent = await store.markDelivered(t.taskId, result);

    // Assess: written once, and the resend says so (its step counts the delivery, logs no refusal)
    expect([first, resent]).toEqual([true, true]);
    expect(await store.get(t.taskId)).toMatchObject({ status: "delivered", deliveredAtMs: NOW + 4 });
  });

  it("a refunded failure sent twice (an SDK resend, the first answer lost) gives the attempt back once", async () => {
    // Prepare: attempt 1 started (one attempt counted)
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    const started = await store.startAttempt(t.taskId, NOW);
    const failure = {
      error: "HTTP 503",
      atMs: NOW + 2,
      attempt: entry(1, 503),
      attemptSeq: 1,
      attempts: started?.attempts ?? 1,
      refund: true,
    };

    // Act: the write, then the same write again
    await store.recordAttemptFailure(t.taskId, failure);
    await store.recordAttemptFailure(t.taskId, failure);

    // Assess
    expect(await store.get(t.taskId)).toMatchObject({ status: "delivering", attempts: 0, attemptSeq: 1 });
  });

  it("a failure of the current attempt is written, its refund included", async () => {
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    await store.startAttempt(t.taskId, NOW);
    await store.startAttempt(t.taskId, NOW + 1);

    const written = await store.recordAttemptFailure(t.taskId, {
      error: "HTTP 503",
      atMs: NOW + 2,
      attempt: entry(2, 503),
      attemptSeq: 2,
      refund: true,
    });

    expect(written).toBe(true);
    expect(await store.get(t.taskId)).toMatchObject({
      status: "delivering",
      attempts: 1,
      lastError: "HTTP 503",
    });
  });

  it("a `failed` write refused by its own earlier try (a resend, the first answer lost) answers written", async () => {
    // Prepare: attempt 1 started, its dead-lettering's `failed` written once
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    await store.startAttempt(t.taskId, NOW);
    const failure = { error: "HTTP 500", atMs: NOW + 4, expiresAt: 9, attemptSeq: 1, writeId: "w-resent" };
    const first = await store.markFailed(t.taskId, failure);

    // Act: the same write again, as the SDK resends one whose answer was lost
    const resent = await store.markFailed(t.taskId, failure);

    // Assess: written once, and the resend says so (its step counts the dead-lettering once, logs no refusal)
    expect([first, resent]).toEqual([true, true]);
    expect(await store.get(t.taskId)).toMatchObject({ status: "failed", attemptSeq: 1, failedAtMs: NOW + 4 });
  });

  it("a `failed` write of the same attempt finding the task failed by another writer answers not written", async () => {
    // Prepare: attempt 1 started; the sweeper (another writer) failed it first, at another instant
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    await store.startAttempt(t.taskId, NOW);
    await store.markFailed(t.taskId, { error: "HTTP 500", atMs: NOW + 4, expiresAt: 9, attemptSeq: 1 });

    // Act
    const late = await store.markFailed(t.taskId, {
      error: "HTTP 500",
      atMs: NOW + 5,
      expiresAt: 9,
      attemptSeq: 1,
    });

    // Assess
    expect(late).toBe(false);
    expect(await store.get(t.taskId)).toMatchObject({ status: "failed", failedAtMs: NOW + 4 });
  });

  it("two writers' `failed` of the same attempt at the same instant with the same error: only the one that wrote answers written", async () => {
    // Prepare: attempt 1 started; two overlapping sweeper runs read it exhausted on the same clock
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    await store.startAttempt(t.taskId, NOW);
    const failure = { error: "HTTP 500", atMs: NOW + 4, expiresAt: 9, attemptSeq: 1 };

    // Act: each writes its own dead-lettering, identical but for the write's id
    const first = await store.markFailed(t.taskId, { ...failure, writeId: "run-a" });
    const second = await store.markFailed(t.taskId, { ...failure, writeId: "run-b" });

    // Assess: the second met another writer's `failed`, not its own resend
    expect([first, second]).toEqual([true, false]);
    expect(await store.get(t.taskId)).toMatchObject({ status: "failed", attemptSeq: 1, failedAtMs: NOW + 4 });
  });

  it("a dead-lettering (markFailed) of an earlier attempt is refused; the current attempt's is written", async () => {
    // Prepare: attempt 1 started (and its refusal recorded), then attempt 2 (the redelivery's)
    const store: TaskStore = await makeStore();
    const t = task();
    await store.putNew(t);
    await store.startAttempt(t.taskId, NOW);
    const second = await store.startAttempt(t.taskId, NOW + 1);

    // Act: attempt 1's `failed` lands late (its DLQ send answered after the hand-back); then attempt 2's own
    const late = await store.markFailed(t.taskId, {
      error: "refused",
      atMs: NOW + 2,
      expiresAt: 9,
      attemptSeq: 1,
    });
    const afterLate = await store.get(t.taskId);
    const own = await store.markFailed(t.taskId, {
      error: "HTTP 500",
      atMs: NOW + 3,
      expiresAt: 9,
      attemptSeq: 2,
    });

    // Assess
    expect([late, own]).toEqual([false, true]);
    expect(afterLate).toEqual(second);
    expect(await store.get(t.taskId)).toMatchObject({
      status: "failed",
      attemptSeq: 2,
      lastError: "HTTP 500",
    });
  });
});

describe.each([
  ["dynalite", () => newStore()],
  ["memory", async () => new MemoryTaskStore()],
] as const)("discardFailed (%s)", (_name, makeStore) => {
  it("moves failed → cancelled, out of the failed index, history kept; else conflict or not-found", async () => {
    const store: TaskStore = await makeStore();
    const failed = task({ group: "d-1" });
    await failTask(store, failed, NOW + 10);
    const kept = task({ group: "d-2" });
    await failTask(store, kept, NOW + 15);
    const scheduled = task({ group: "d-3" });
    await store.putNew(scheduled);

    const discarded = await store.discardFailed(failed.taskId, NOW + 20, 99);
    const again = await store.discardFailed(failed.taskId, NOW + 30, 99);
    const notFailed = await store.discardFailed(scheduled.taskId, NOW + 30, 99);
    const missing = await store.discardFailed(task({ group: "d-4" }).taskId, NOW + 30, 99);

    expect(discarded).toMatchObject({
      outcome: "cancelled",
      task: {
        status: "cancelled",
        cancelledAtMs: NOW + 20,
        expiresAt: 99,
        failedAtMs: NOW + 10,
        attempts: 1,
      },
    });
    const stored = await store.get(failed.taskId);
    expect(stored?.failedTopic).toBeUndefined();
    expect(stored?.sweepShard).toBeUndefined();
    expect(stored?.lastError).toBe(`HTTP 500 at ${NOW + 10}`);
    expect((await store.listFailed("demo", 10)).tasks.map((t) => t.taskId)).toEqual([kept.taskId]);
    expect(again).toMatchObject({ outcome: "conflict", task: { status: "cancelled" } });
    expect(notFailed).toMatchObject({ outcome: "conflict", task: { status: "scheduled" } });
    expect((await store.get(scheduled.taskId))?.status).toBe("scheduled");
    expect(missing).toEqual({ outcome: "not-found" });
  });
});

/**
 * A client that sends everything to dynalite, except that BatchWriteItem holds back the puts `holdBack` picks
 * (they are not sent, and come back in UnprocessedItems, as DynamoDB answers a partly throttled call) and throws
 * on the calls `failCall` picks (a call whose answer never came).
 */
function batchSeam(options: {
  holdBack?: (taskId: string, call: number) => boolean;
  failCall?: (call: number) => boolean;
}): { client: DynamoDBClient; calls: () => number } {
  let calls = 0;
  const seam = {
    send: async (command: unknown) => {
      if (!(command instanceof BatchWriteItemCommand)) return client.send(command as never);
      const call = calls++;
      if (options.failCall?.(call))
        throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      const input = command.input as BatchWriteItemCommandInput;
      const [table, requests] = Object.entries(input.RequestItems ?? {})[0] ?? ["", []];
      const held = requests.filter((r) => options.holdBack?.(r.PutRequest?.Item?.taskId?.S ?? "", call));
      const sent = requests.filter((r) => !held.includes(r));
      if (sent.length > 0) await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: sent } }));
      return { UnprocessedItems: held.length > 0 ? { [table]: held } : {} };
    },
  };
  return { client: seam as unknown as DynamoDBClient, calls: () => calls };
}

describe("DynamoTaskStore.putNewMany (issue 13: the batch add's write)", () => {
  it("writes 60 tasks in 3 calls of at most 25, each into the sweep index or not as told", async () => {
    // Prepare
    const seam = batchSeam({});
    const store = await newStore(seam.client);
    const tasks = Array.from({ length: 60 }, (_, i) => task({ group: `o-${i}` }));

    // Act
    const failed = await store.putNewMany(tasks.map((t, i) => ({ task: t, sweepIndex: i % 2 === 0 })));

    // Assess
    expect(failed).toEqual([]);
    expect(seam.calls()).toBe(3);
    for (const [i, t] of tasks.entries()) {
      const stored = await store.get(t.taskId);
      expect(stored).toMatchObject({ ...t });
      expect(stored?.sweepShard).toEqual(i % 2 === 0 ? sweepShardOf(t.taskId) : undefined);
    }
  });

  it("sends unprocessed puts again until they are written", async () => {
    // Prepare: the 2nd task is held back on the first two calls
    const tasks = [task(), task({ group: "o-2" }), task({ group: "o-3" })];
    const seam = batchSeam({ holdBack: (id, call) => id === tasks[1]?.taskId && call < 2 });
    const store = await newStore(seam.client);

    // Act
    const failed = await store.putNewMany(tasks.map((t) => ({ task: t, sweepIndex: false })));

    // Assess
    expect(failed).toEqual([]);
    expect(seam.calls()).toBe(3);
    for (const t of tasks) expect(await store.get(t.taskId)).toMatchObject({ taskId: t.taskId });
  });

  it(`reports a put still unprocessed after ${UNPROCESSED_ROUNDS} calls as not written; writes the others`, async () => {
    // Prepare
    const tasks = [task(), task({ group: "o-2" })];
    const seam = batchSeam({ holdBack: (id) => id === tasks[0]?.taskId });
    const store = await newStore(seam.client);

    // Act
    const failed = await store.putNewMany(tasks.map((t) => ({ task: t, sweepIndex: false })));

    // Assess
    expect(failed).toEqual([{ taskId: tasks[0]?.taskId, maybeWritten: false }]);
    expect(seam.calls()).toBe(UNPROCESSED_ROUNDS);
    expect(await store.get(tasks[0]?.taskId ?? "")).toBeUndefined();
    expect(await store.get(tasks[1]?.taskId ?? "")).toMatchObject({ taskId: tasks[1]?.taskId });
  });

  it("reports every put of a call that threw as perhaps written; the other chunks are written", async () => {
    // Prepare: 30 tasks are two chunks (25 + 5); the first call sent throws
    const tasks = Array.from({ length: 30 }, (_, i) => task({ group: `o-${i}` }));
    const seam = batchSeam({ failCall: (call) => call === 0 });
    const store = await newStore(seam.client);

    // Act
    const failed = await store.putNewMany(tasks.map((t) => ({ task: t, sweepIndex: false })));

    // Assess
    expect(failed.every((f) => f.maybeWritten)).toBe(true);
    expect([25, 5]).toContain(failed.length);
    const written = await Promise.all(tasks.map((t) => store.get(t.taskId)));
    expect(written.filter(Boolean)).toHaveLength(30 - failed.length);
    const failedIds = new Set(failed.map((f) => f.taskId));
    expect(written.filter(Boolean).every((t) => !failedIds.has(t?.taskId ?? ""))).toBe(true);
  });
});

describe("DynamoTaskStore.cancel racing deliver's give-back", () => {
  it("cancels a task whose started attempt was given back between the refused write and its read", async () => {
    // Prepare: the cancel's write meets the task `delivering`; deliver gives the start back before the re-read
    const seam = flappingStatusClient({ flaps: 1 });
    const store = await newStore(seam.client);
    const started = task();
    await store.putNew(started);
    await store.startAttempt(started.taskId, NOW);

    // Act
    const outcome = await store.cancel(started.taskId, NOW + 5, 123);

    // Assess: a 409 naming a cancellable status ("task is queued; only … queued can be cancelled") was the old answer
    expect(outcome).toMatchObject({
      outcome: "cancelled",
      task: { status: "cancelled", cancelledAtMs: NOW + 5 },
    });
    expect(await store.get(started.taskId)).toMatchObject({ status: "cancelled", expiresAt: 123 });
    expect(seam.cancelWrites()).toBe(2);
  });

  it(`writes at most ${CANCEL_WRITES} times while deliver keeps starting and giving back; then the conflict as read`, async () => {
    // Prepare: every cancel write meets the task started, and every re-read finds it given back
    const seam = flappingStatusClient({ flaps: Number.POSITIVE_INFINITY });
    const store = await newStore(seam.client);
    const flapping = task();
    await store.putNew(flapping);

    // Act
    const outcome = await store.cancel(flapping.taskId, NOW + 5, 123);

    // Assess
    expect(outcome).toMatchObject({ outcome: "conflict", task: { status: "queued" } });
    expect(seam.cancelWrites()).toBe(CANCEL_WRITES);
  });
});

describe("DynamoTaskStore.markRescheduled racing deliver's give-back", () => {
  it("marks a task whose started attempt was given back between the refused write and its read", async () => {
    // Prepare: the move's write meets the task `delivering` (started up front in a batch, behind its group's head);
    // deliver gives the start back (`scheduled` again) before the re-read
    const seam = flappingStatusClient({ flaps: 1, write: ":rescheduled", givenBackTo: "scheduled" });
    const store = await newStore(seam.client);
    const waiting = task();
    await store.putNew(waiting);

    // Act
    const outcome = await store.markRescheduled(waiting.taskId, {
      to: "demo.x",
      atMs: NOW + 5,
      expiresAt: 123,
    });

    // Assess: a 409 "task is scheduled; only a scheduled task can be rescheduled" was the old answer
    expect(outcome).toMatchObject({
      outcome: "rescheduled",
      task: { status: "rescheduled", rescheduledTo: "demo.x" },
    });
    expect(await store.get(waiting.taskId)).toMatchObject({
      status: "rescheduled",
      rescheduledAtMs: NOW + 5,
    });
    expect(seam.cancelWrites()).toBe(2);
  });

  it(`writes at most ${CANCEL_WRITES} times while deliver keeps starting and giving back; then the conflict as read`, async () => {
    // Prepare
    const seam = flappingStatusClient({
      flaps: Number.POSITIVE_INFINITY,
      write: ":rescheduled",
      givenBackTo: "scheduled",
    });
    const store = await newStore(seam.client);
    const flapping = task();
    await store.putNew(flapping);

    // Act
    const outcome = await store.markRescheduled(flapping.taskId, { to: "demo.x", atMs: NOW, expiresAt: 1 });

    // Assess
    expect(outcome).toMatchObject({ outcome: "conflict", task: { status: "scheduled" } });
    expect(seam.cancelWrites()).toBe(CANCEL_WRITES);
  });
});

/**
 * A client over dynalite on which deliver races each of the first `flaps` cancel writes (or the writes carrying the
 * `write` value): the task is `delivering` when the write arrives, and given back to `queued` (or `givenBackTo`)
 * before the store reads it to explain the refusal.
 */
function flappingStatusClient(options: { flaps: number; write?: string; givenBackTo?: string }): {
  client: DynamoDBClient;
  cancelWrites: () => number;
} {
  let cancelWrites = 0;
  const setStatus = (input: UpdateItemCommandInput, status: string) =>
    client.send(
      new UpdateItemCommand({
        TableName: input.TableName,
        Key: input.Key,
        UpdateExpression: "SET #status = :status",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: { ":status": { S: status } },
      }),
    );
  const seam = {
    send: async (command: unknown) => {
      const isCancel =
        command instanceof UpdateItemCommand &&
        command.input.ExpressionAttributeValues?.[options.write ?? ":cancelled"] !== undefined;
      if (!isCancel) return client.send(command as never);
      const racing = cancelWrites++ < options.flaps;
      if (racing) await setStatus(command.input, "delivering");
      try {
        return await client.send(command);
      } finally {
        if (racing) await setStatus(command.input, options.givenBackTo ?? "queued");
      }
    },
  };
  return { client: seam as unknown as DynamoDBClient, cancelWrites: () => cancelWrites };
}

/** A client that counts the items its Queries read (ScannedCount: what DynamoDB bills, filtered or not). */
function countingClient(): { client: DynamoDBClient; scanned: () => number } {
  let scanned = 0;
  const seam = {
    send: async (command: unknown) => {
      const out = (await client.send(command as never)) as { ScannedCount?: number };
      scanned += out.ScannedCount ?? 0;
      return out;
    },
  };
  return { client: seam as unknown as DynamoDBClient, scanned: () => scanned };
}

/** Attempt `n` of `taskId` started at `atMs` and its failure recorded with its log entry, as deliver records a 500. */
async function failOnce(s: TaskStore, taskId: string, atMs: number): Promise<TaskRecord> {
  const started = await s.startAttempt(taskId, atMs);
  if (started?.attemptSeq === undefined) throw new Error("attempt not started");
  const seq = started.attemptSeq;
  await s.recordAttemptFailure(taskId, {
    error: "HTTP 500",
    atMs: atMs + 1,
    attemptSeq: seq,
    attempt: { seq, startedAtMs: atMs, durationMs: 1, status: 500, error: "HTTP 500" },
  });
  return started;
}
