import {
  ChangeMessageVisibilityBatchCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { DEAD_LETTER_REASON_ATTRIBUTE, SqsTopicQueue } from "#shared/adapters/topic-queue.js";
import { fakeSqs, type SentCommand as Sent } from "../../support/fakes/sqs-client.js";

const URL = "https://sqs.local/q.fifo";
const ids = (n: number) => Array.from({ length: n }, (_, i) => `demo.g.${i}`);

describe("SqsTopicQueue.sendInOrder", () => {
  it("sends one entry of the group per call, one call after the other, with group and dedup ids", async () => {
    const { client, sent } = fakeSqs(() => ({ Successful: [], Failed: [] }));
    const result = await new SqsTopicQueue(client).sendInOrder(URL, "demo#grp", ids(3));
    expect(result).toEqual({ sent: ids(3) });
    expect(sent.map((s) => s.name)).toEqual(Array(3).fill(SendMessageBatchCommand.name));
    const entries = sent.flatMap((s) => s.input.Entries as Record<string, string>[]);
    expect(sent.map((s) => (s.input.Entries as unknown[]).length)).toEqual([1, 1, 1]);
    expect(entries.map((e) => JSON.parse(e.MessageBody as string).taskId)).toEqual(ids(3));
    expect(entries.every((e) => e.MessageGroupId === "demo#grp")).toBe(true);
    expect(entries.map((e) => e.MessageDeduplicationId)).toEqual(ids(3));
    expect(JSON.parse(entries[0]?.MessageBody as string)).toEqual({ v: 1, taskId: "demo.g.0" });
  });

  it("a failed entry stops the group: later entries are not sent, and the rest is reported", async () => {
    const { client, sent } = fakeSqs((_, i) =>
      i === 2
        ? { Failed: [{ Id: "m0", Code: "InternalError", Message: "try again", SenderFault: false }] }
        : {},
    );
    const result = await new SqsTopicQueue(client).sendInOrder(URL, "g", ids(5));
    expect(sent).toHaveLength(3);
    const all = ids(5);
    expect(result.sent).toEqual(all.slice(0, 2));
    expect(result.failure).toEqual({ taskIds: all.slice(2), error: "InternalError: try again" });
  });

  it("a thrown call reports everything from that entry on", async () => {
    const { client } = fakeSqs((_, i) => {
      if (i === 1) throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      return {};
    });
    const result = await new SqsTopicQueue(client).sendInOrder(URL, "g", ids(4));
    expect(result.sent).toEqual(ids(1));
    expect(result.failure).toEqual({ taskIds: ids(4).slice(1), error: "TimeoutError: socket hang up" });
  });
});

/**
 * A FIFO queue behind the SQS seam: messages per group in arrival order, deduplication on
 * MessageDeduplicationId, and a batch answered per entry: `refuse` names entries answered in `Failed` while
 * every other entry of the same call lands, later entries of the refused entry's group included (SQS documents
 * no rule against it).
 */
function fifoSqs(refuse: (taskId: string) => boolean) {
  const queue: { groupId: string; taskId: string }[] = [];
  const seen = new Set<string>();
  const { client, sent } = fakeSqs((command) => {
    const entries = command.input.Entries as Record<string, string>[];
    const failed = entries.flatMap((e) => {
      if (refuse(e.MessageDeduplicationId as string))
        return [{ Id: e.Id, Code: "InternalError", SenderFault: false }];
      if (!seen.has(e.MessageDeduplicationId as string)) {
        seen.add(e.MessageDeduplicationId as string);
        queue.push({ groupId: e.MessageGroupId as string, taskId: e.MessageDeduplicationId as string });
      }
      return [];
    });
    return { Failed: failed };
  });
  const idsOf = (groupId: string) => queue.filter((m) => m.groupId === groupId).map((m) => m.taskId);
  return { client, sent, idsOf };
}

describe("SqsTopicQueue.sendGroupsInOrder", () => {
  const groupIds = (group: string, n: number) => Array.from({ length: n }, (_, i) => `demo.${group}.${i}`);

  it("packs several groups into shared calls of 10, at most one entry per group in a call", async () => {
    // Prepare: 12 groups of one task, and a group of 3 beside one of 1
    const { client, sent } = fakeSqs(() => ({}));
    const many = Array.from({ length: 12 }, (_, i) => ({ groupId: `demo#${i}`, taskIds: [`demo.${i}.0`] }));
    const uneven = [
      { groupId: "demo#a", taskIds: groupIds("a", 3) },
      { groupId: "demo#b", taskIds: groupIds("b", 1) },
    ];

    // Act
    const results = await new SqsTopicQueue(client).sendGroupsInOrder(URL, many);
    const unevenResults = await new SqsTopicQueue(client).sendGroupsInOrder(URL, uneven);

    // Assess
    expect(sent.map((s) => (s.input.Entries as unknown[]).length)).toEqual([10, 2, 2, 1, 1]);
    for (const call of sent) {
      const groups = (call.input.Entries as Record<string, string>[]).map((e) => e.MessageGroupId);
      expect(new Set(groups).size).toBe(groups.length);
    }
    const entries = sent.slice(2).flatMap((s) => s.input.Entries as Record<string, string>[]);
    for (const { groupId, taskIds } of uneven) {
      const ofGroup = entries.filter((e) => e.MessageGroupId === groupId);
      expect(ofGroup.map((e) => e.MessageDeduplicationId)).toEqual(taskIds);
      expect(unevenResults.get(groupId)).toEqual({ sent: taskIds });
    }
    for (const { groupId, taskIds } of many) expect(results.get(groupId)).toEqual({ sent: taskIds });
  });

  it("an entry refused while its group's next one would land: the group stays in order after its re-send", async () => {
    // Prepare: SQS refuses a1 once and would accept a2 in the same call. Fails on the old packing (a0–a2 in one
    // call: a2 landed ahead of a1's re-send, the queue read a0, a2, a1).
    let refusals = 1;
    const { client, idsOf } = fifoSqs((taskId) => taskId === "demo.a.1" && refusals-- > 0);
    const queue = new SqsTopicQueue(client);
    const a = groupIds("a", 3);
    const groups = [
      { groupId: "demo#a", taskIds: a },
      { groupId: "demo#b", taskIds: groupIds("b", 2) },
    ];

    // Act: the send, then the relay's retry of the failed group whole
    const first = await queue.sendGroupsInOrder(URL, groups);
    const retry = await queue.sendGroupsInOrder(URL, [{ groupId: "demo#a", taskIds: a }]);

    // Assess
    expect(first.get("demo#a")).toEqual({
      sent: [a[0]],
      failure: { taskIds: [a[1], a[2]], error: "InternalError: " },
    });
    expect(retry.get("demo#a")).toEqual({ sent: a });
    expect(idsOf("demo#a")).toEqual(a);
    expect(idsOf("demo#b")).toEqual(groupIds("b", 2));
  });

  it("a failed entry stops only its own group: its later entries are not sent, other groups go on", async () => {
    // Prepare: call 1 = a0, b0; call 2 = a1, b1 where a1 (entry m0) fails; call 3 = b2 alone
    const { client, sent } = fakeSqs((_, i) =>
      i === 1
        ? { Failed: [{ Id: "m0", Code: "InternalError", Message: "try again", SenderFault: false }] }
        : {},
    );
    const a = groupIds("a", 3);
    const b = groupIds("b", 3);

    // Act
    const results = await new SqsTopicQueue(client).sendGroupsInOrder(URL, [
      { groupId: "demo#a", taskIds: a },
      { groupId: "demo#b", taskIds: b },
    ]);

    // Assess
    expect(sent).toHaveLength(3);
    const third = (sent[2] as Sent).input.Entries as Record<string, string>[];
    expect(third.map((e) => e.MessageDeduplicationId)).toEqual([b[2]]);
    expect(results.get("demo#a")).toEqual({
      sent: [a[0]],
      failure: { taskIds: [a[1], a[2]], error: "InternalError: try again" },
    });
    expect(results.get("demo#b")).toEqual({ sent: b });
  });

  it("a thrown call fails each group from its entry in that call on; the earlier calls stand", async () => {
    // Prepare: call 1 = a0, b0; call 2 = a1, b1 throws; nothing more is sent
    const { client, sent } = fakeSqs((_, i) => {
      if (i === 1) throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      return {};
    });
    const a = groupIds("a", 3);
    const b = groupIds("b", 2);

    // Act
    const results = await new SqsTopicQueue(client).sendGroupsInOrder(URL, [
      { groupId: "demo#a", taskIds: a },
      { groupId: "demo#b", taskIds: b },
    ]);

    // Assess
    expect(sent).toHaveLength(2);
    expect(results.get("demo#a")).toEqual({
      sent: [a[0]],
      failure: { taskIds: a.slice(1), error: "TimeoutError: socket hang up" },
    });
    expect(results.get("demo#b")).toEqual({
      sent: [b[0]],
      failure: { taskIds: [b[1]], error: "TimeoutError: socket hang up" },
    });
  });
});

describe("SqsTopicQueue: an occurrence's message carries its scheduleId", () => {
  it("in a group send, only the occurrences' bodies name their schedule; the others are the plain message", async () => {
    const { client, sent } = fakeSqs(() => ({ Successful: [], Failed: [] }));
    await new SqsTopicQueue(client).sendGroupsInOrder(URL, [
      { groupId: "demo#a", taskIds: ["demo.a.0", "demo.a.1"], scheduleIds: new Map([["demo.a.1", "s-1"]]) },
      { groupId: "demo#b", taskIds: ["demo.b.0"] },
    ]);
    const bodies = sent.flatMap((s) =>
      (s.input.Entries as Record<string, string>[]).map((e) => JSON.parse(e.MessageBody as string)),
    );
    expect(bodies).toEqual([
      { v: 1, taskId: "demo.a.0" },
      { v: 1, taskId: "demo.b.0" },
      { v: 1, taskId: "demo.a.1", scheduleId: "s-1" },
    ]);
  });

  it("a replay's message too", async () => {
    const { client, sent } = fakeSqs(() => ({}));
    await new SqsTopicQueue(client).sendReplay(URL, "demo#a", "demo.a.0", "demo.a.0#r1", "s-1");
    expect(JSON.parse(sent[0]?.input.MessageBody as string)).toEqual({
      v: 1,
      taskId: "demo.a.0",
      scheduleId: "s-1",
    });
  });
});

describe("SqsTopicQueue dead letters and visibility", () => {
  it("dead-letters with group id, task id as dedup id, the task message as body and the reason attribute", async () => {
    const { client, sent } = fakeSqs(() => ({}));
    await new SqsTopicQueue(client).sendToDeadLetter(
      "https://sqs.local/dlq.fifo",
      "demo#g",
      "demo.g.1",
      "HTTP 500",
    );
    expect(sent).toEqual([
      {
        name: SendMessageCommand.name,
        input: {
          QueueUrl: "https://sqs.local/dlq.fifo",
          MessageBody: JSON.stringify({ v: 1, taskId: "demo.g.1" }),
          MessageGroupId: "demo#g",
          MessageDeduplicationId: "demo.g.1",
          MessageAttributes: {
            [DEAD_LETTER_REASON_ATTRIBUTE]: { DataType: "String", StringValue: "HTTP 500" },
          },
        },
      },
    ]);
  });

  it("changes visibility in batches of 10, clamped to SQS's range, reporting failures without throwing", async () => {
    const { client, sent } = fakeSqs((_, i) => {
      if (i === 1) throw new Error("down");
      return { Failed: [{ Id: "v2", Code: "ReceiptHandleIsInvalid", SenderFault: true }] };
    });
    const changes = Array.from({ length: 12 }, (_, i) => ({
      receiptHandle: `rh${i}`,
      seconds: i === 0 ? -5 : i * 5000,
    }));
    const { failed } = await new SqsTopicQueue(client).setVisibility(URL, changes);
    expect(sent.map((s) => s.name)).toEqual([
      ChangeMessageVisibilityBatchCommand.name,
      ChangeMessageVisibilityBatchCommand.name,
    ]);
    const first = sent[0]?.input.Entries as { ReceiptHandle: string; VisibilityTimeout: number }[];
    expect(first.map((e) => e.VisibilityTimeout)).toEqual([
      0, 5000, 10000, 15000, 20000, 25000, 30000, 35000, 40000, 43200,
    ]);
    expect(failed.sort()).toEqual(["rh10", "rh11", "rh2"]);
  });
});
