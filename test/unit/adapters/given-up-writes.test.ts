import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { describe, expect, it, vi } from "vitest";
import {
  DynamoAddStore,
  DynamoBatchAddStore,
  DynamoDeliverStore,
} from "#shared/adapters/dynamo-task-store.js";
import { ABORTED_ANSWER_MS, CLEAN_UP_RESERVE_MS, inTime } from "#shared/services/add-task.js";
import { makeTask, T0 } from "../../support/factories.js";

/**
 * An add gives a hung task write up near its function's deadline (shared/services/add-task.ts, `inTime`) and
 * removes the task. The write's signal must reach the SDK call: aborted there, the SDK never sends it again, where
 * left running it retried the hung PutItem or BatchWriteItem once its socket timed out — a task written after its
 * removal, for a request answered 503 "not accepted".
 */
function recordingClient(answer: unknown = {}) {
  const sent: { command: string; options: { abortSignal?: AbortSignal } | undefined }[] = [];
  const client = {
    send: async (command: object, options?: { abortSignal?: AbortSignal }) => {
      sent.push({ command: command.constructor.name, options });
      return answer;
    },
  } as unknown as DynamoDBClient;
  return { client, sent };
}

const task = () => makeTask({ dueAtMs: T0 + 3_600_000, acceptedAtMs: T0 });

describe("task writes an add may give up", () => {
  it("putNew passes its signal to the PutItem", async () => {
    const { client, sent } = recordingClient();
    const signal = new AbortController().signal;
    await new DynamoAddStore({ client, tableName: "tasks" }).putNew(task(), { signal });
    expect(sent).toEqual([{ command: "PutItemCommand", options: { abortSignal: signal } }]);
  });

  it("putNewMany passes its signal to every BatchWriteItem", async () => {
    const { client, sent } = recordingClient({ UnprocessedItems: {} });
    const signal = new AbortController().signal;
    const entries = Array.from({ length: 30 }, () => ({ task: task(), sweepIndex: true }));
    await new DynamoBatchAddStore({ client, tableName: "tasks" }).putNewMany(entries, { signal });
    expect(sent).toHaveLength(2);
    for (const call of sent)
      expect(call).toEqual({ command: "BatchWriteItemCommand", options: { abortSignal: signal } });
  });

  it("putNewMany sends no further round of unprocessed puts once aborted; they are reported not written", async () => {
    const controller = new AbortController();
    const first = task();
    const { client, sent } = recordingClient();
    (client as unknown as { send: unknown }).send = async (command: object) => {
      sent.push({ command: command.constructor.name, options: undefined });
      // Aborted once this call has answered, during the back-off before the next round (an abort while a call is
      // in flight gives the call up: its puts are then perhaps written, tested below).
      setTimeout(() => controller.abort(), 0);
      const request = (command as { input: { RequestItems: Record<string, unknown[]> } }).input.RequestItems;
      return { UnprocessedItems: request };
    };
    const failed = await new DynamoBatchAddStore({ client, tableName: "tasks" }).putNewMany(
      [{ task: first, sweepIndex: true }],
      { signal: controller.signal },
    );
    expect(sent).toHaveLength(1);
    expect(failed).toEqual([{ taskId: first.taskId, maybeWritten: false }]);
  });
});

describe("a batch add's key claims it may give up", () => {
  it("claimIdempotencyKeys passes its signal to the BatchExecuteStatement", async () => {
    const { client, sent } = recordingClient({ Responses: [{}] });
    const signal = new AbortController().signal;
    const claim = {
      topic: "demo",
      key: "k-1",
      taskId: task().taskId,
      requestHash: "h",
      expiresAt: T0 / 1000,
    };
    await new DynamoBatchAddStore({ client, tableName: "tasks" }).claimIdempotencyKeys([claim], { signal });
    expect(sent).toEqual([{ command: "BatchExecuteStatementCommand", options: { abortSignal: signal } }]);
  });
});

describe("an add's clean-up calls it may give up", () => {
  it("removeScheduled and enterSweepIndex pass their signal to the DeleteItem and the UpdateItem", async () => {
    const { client, sent } = recordingClient();
    const signal = new AbortController().signal;
    const store = new DynamoAddStore({ client, tableName: "tasks" });
    await store.removeScheduled(task().taskId, { signal });
    await store.enterSweepIndex(task().taskId, { signal });
    expect(sent).toEqual([
      { command: "DeleteItemCommand", options: { abortSignal: signal } },
      { command: "UpdateItemCommand", options: { abortSignal: signal } },
    ]);
  });
});

/**
 * A batch add keeps the items written by its deadline (`inTime`'s `keepsWhatIsDone`): aborted, the batch writes
 * answer at once, the hung call's items perhaps written, the answered calls' items written.
 */
describe("batch writes given up with one call hung", () => {
  const hungSecondCall = () => {
    let calls = 0;
    const sent: string[] = [];
    const client = {
      send: async (command: { constructor: { name: string }; input: { Statements?: unknown[] } }) => {
        sent.push(command.constructor.name);
        if (++calls === 2) return new Promise(() => undefined);
        return command.input.Statements
          ? { Responses: command.input.Statements.map(() => ({})) }
          : { UnprocessedItems: {} };
      },
    } as unknown as DynamoDBClient;
    return { client, sent };
  };
  const abortSoon = () => {
    const controller = new AbortController();
    setImmediate(() => controller.abort());
    return controller.signal;
  };
  const entries = (n: number) => Array.from({ length: n }, () => ({ task: task(), sweepIndex: false }));

  it("putNewMany reports only the hung BatchWriteItem's puts, as perhaps written", async () => {
    // Prepare: 30 puts, two calls of 25 and 5; the second never answers
    const { client, sent } = hungSecondCall();
    const puts = entries(30);

    // Act
    const failed = await new DynamoBatchAddStore({ client, tableName: "tasks" }).putNewMany(puts, {
      signal: abortSoon(),
    });

    // Assess
    expect(sent).toEqual(["BatchWriteItemCommand", "BatchWriteItemCommand"]);
    expect(failed).toEqual(puts.slice(25).map((e) => ({ taskId: e.task.taskId, maybeWritten: true })));
  });

  it("insertNewMany reports only the hung BatchExecuteStatement's tasks, as perhaps written", async () => {
    const { client, sent } = hungSecondCall();
    const inserts = entries(30);

    const failed = await new DynamoBatchAddStore({ client, tableName: "tasks" }).insertNewMany(inserts, {
      signal: abortSoon(),
    });

    expect(sent).toEqual(["BatchExecuteStatementCommand", "BatchExecuteStatementCommand"]);
    expect(failed).toEqual(inserts.slice(25).map((e) => ({ taskId: e.task.taskId, maybeWritten: true })));
  });

  it("insertNewMany reports a task its INSERT found already there (DuplicateItem) as existing, not as a failure", async () => {
    // Prepare: three inserts, the second answered DuplicateItem (a concurrent repeat of the request wrote it first)
    const inserts = entries(3);
    const client = {
      send: async () => ({
        Responses: [
          {},
          { Error: { Code: "DuplicateItem", Message: "Duplicate primary key exists in table" } },
          {},
        ],
      }),
    } as unknown as DynamoDBClient;

    // Act
    const outcomes = await new DynamoBatchAddStore({ client, tableName: "tasks" }).insertNewMany(inserts);

    // Assess
    expect(outcomes).toEqual([{ taskId: inserts[1]?.task.taskId, exists: true }]);
  });

  it("putNewMany given up in the back-off before its last round keeps the puts written, not failing whole", async () => {
    // Prepare: 30 puts; the second call's five stay unprocessed (throttled) round after round, and the step is
    // given up during the back-off before the last round (50, 100, then 200 ms: longer than ABORTED_ANSWER_MS)
    vi.useFakeTimers();
    try {
      const client = {
        send: async (command: { input: { RequestItems: Record<string, unknown[]> } }) => {
          const puts = command.input.RequestItems.tasks ?? [];
          return { UnprocessedItems: puts.length === 5 ? command.input.RequestItems : {} };
        },
      } as unknown as DynamoDBClient;
      const puts = entries(30);
      const store = new DynamoBatchAddStore({ client, tableName: "tasks" });
      const outcome = inTime(
        { timeLeftMs: () => CLEAN_UP_RESERVE_MS + 160 },
        (signal) => store.putNewMany(puts, { signal }),
        { keepsWhatIsDone: true },
      );
      outcome.catch(() => undefined);

      // Act: past the deadline and the time an aborted call has to answer
      await vi.advanceTimersByTimeAsync(160 + ABORTED_ANSWER_MS);

      // Assess: the five never written are reported so; the 25 written are kept
      await expect(outcome).resolves.toEqual(
        puts.slice(25).map((e) => ({ taskId: e.task.taskId, maybeWritten: false })),
      );
    } finally {
      vi.useRealTimers();
    }
  });
});

/**
 * Deliver's group runner gives a hung step up (its watchdog, shared/services/deliver/group-runner.ts) and hands its
 * records back to the queue. The step's reads and its guards' and start's writes take the group's signal to the SDK:
 * aborted there, none is sent again beside the records' redelivery.
 */
describe("a deliver step's calls its watchdog may give up", () => {
  const store = (client: DynamoDBClient) => new DynamoDeliverStore({ client, tableName: "tasks" });
  const taskId = task().taskId;

  it("get, startAttempt and the destination guards pass their signal to every call they send", async () => {
    const { client, sent } = recordingClient();
    const signal = new AbortController().signal;
    await store(client).get(taskId, { signal });
    await store(client).startAttempt(taskId, T0, 3, undefined, { signal });
    await store(client).getDestination("demo", "hooks.example.com", { signal });
    await store(client).acquireLease("demo", "hooks.example.com", 1, T0, T0 + 5_000, { signal });
    await store(client).takeRateToken("demo", "hooks.example.com", 1, 5, { signal });
    await store(client).claimProbe("demo", "hooks.example.com", T0, T0 + 5_000, { signal });
    expect(sent.map((call) => call.command)).toEqual([
      "GetItemCommand",
      "UpdateItemCommand",
      "GetItemCommand",
      "GetItemCommand",
      "UpdateItemCommand",
      "UpdateItemCommand",
      "UpdateItemCommand",
    ]);
    for (const call of sent) expect(call.options).toEqual({ abortSignal: signal });
  });

  it("markDelivered and recordAttemptFailure pass their signal to the UpdateItem", async () => {
    const { client, sent } = recordingClient();
    const signal = new AbortController().signal;
    const result = { atMs: T0, latenessMs: 0, deliveryLatencyMs: 1, expiresAt: 9, attemptSeq: 1 };
    await store(client).markDelivered(taskId, result, { signal });
    await store(client).recordAttemptFailure(
      taskId,
      { error: "HTTP 500", atMs: T0, attemptSeq: 1 },
      { signal },
    );
    expect(sent).toEqual([
      { command: "UpdateItemCommand", options: { abortSignal: signal } },
      { command: "UpdateItemCommand", options: { abortSignal: signal } },
    ]);
  });
});
