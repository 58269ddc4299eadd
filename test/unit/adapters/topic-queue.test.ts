import {
  ChangeMessageVisibilityBatchCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { DEAD_LETTER_REASON_ATTRIBUTE, SqsTopicQueue } from "#shared/adapters/topic-queue.js";

type Sent = { name: string; input: Record<string, unknown> };

/** A stand-in for the SQS client at the adapter seam: records commands and answers through `reply`. */
function fakeSqs(reply: (command: Sent, index: number) => unknown) {
  const sent: Sent[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const entry = { name: command.constructor.name, input: command.input };
      sent.push(entry);
      return reply(entry, sent.length - 1);
    },
  } as unknown as SQSClient;
  return { client, sent };
}

const URL = "https://sqs.local/q.fifo";
const ids = (n: number) => Array.from({ length: n }, (_, i) => `demo.g.${i}`);

describe("SqsTopicQueue.sendInOrder", () => {
  it("sends in chunks of 10, one after the other, with group and dedup ids", async () => {
    const { client, sent } = fakeSqs(() => ({ Successful: [], Failed: [] }));
    const result = await new SqsTopicQueue(client).sendInOrder(URL, "demo#grp", ids(23));
    expect(result).toEqual({ sent: ids(23) });
    expect(sent.map((s) => s.name)).toEqual(Array(3).fill(SendMessageBatchCommand.name));
    const entries = sent.flatMap((s) => s.input.Entries as Record<string, string>[]);
    expect(sent.map((s) => (s.input.Entries as unknown[]).length)).toEqual([10, 10, 3]);
    expect(entries.map((e) => JSON.parse(e.MessageBody as string).taskId)).toEqual(ids(23));
    expect(entries.every((e) => e.MessageGroupId === "demo#grp")).toBe(true);
    expect(entries.map((e) => e.MessageDeduplicationId)).toEqual(ids(23));
    expect(JSON.parse(entries[0]?.MessageBody as string)).toEqual({ v: 1, taskId: "demo.g.0" });
  });

  it("a failed entry stops the group: later chunks are not sent, and the rest is reported", async () => {
    const { client, sent } = fakeSqs((_, i) =>
      i === 1
        ? { Failed: [{ Id: "m3", Code: "InternalError", Message: "try again", SenderFault: false }] }
        : {},
    );
    const result = await new SqsTopicQueue(client).sendInOrder(URL, "g", ids(25));
    expect(sent).toHaveLength(2);
    const all = ids(25);
    expect(result.sent).toEqual([...all.slice(0, 13), ...all.slice(14, 20)]);
    expect(result.failure).toEqual({
      taskIds: [all[13], ...all.slice(20)],
      error: "InternalError: try again",
    });
  });

  it("a thrown call reports everything from that chunk on", async () => {
    const { client } = fakeSqs((_, i) => {
      if (i === 1) throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      return {};
    });
    const result = await new SqsTopicQueue(client).sendInOrder(URL, "g", ids(15));
    expect(result.sent).toEqual(ids(10));
    expect(result.failure).toEqual({ taskIds: ids(15).slice(10), error: "TimeoutError: socket hang up" });
  });
});

describe("SqsTopicQueue.sendGroupsInOrder", () => {
  const groupIds = (group: string, n: number) => Array.from({ length: n }, (_, i) => `demo.${group}.${i}`);

  it("packs several groups into shared calls of 10, each group in order with its own MessageGroupId", async () => {
    // Prepare
    const { client, sent } = fakeSqs(() => ({}));
    const groups = [
      { groupId: "demo#a", taskIds: groupIds("a", 4) },
      { groupId: "demo#b", taskIds: groupIds("b", 7) },
      { groupId: "demo#c", taskIds: groupIds("c", 1) },
    ];

    // Act
    const results = await new SqsTopicQueue(client).sendGroupsInOrder(URL, groups);

    // Assess: 12 entries in 2 calls instead of 3 (one per group)
    expect(sent.map((s) => (s.input.Entries as unknown[]).length)).toEqual([10, 2]);
    const entries = sent.flatMap((s) => s.input.Entries as Record<string, string>[]);
    for (const { groupId, taskIds } of groups) {
      const ofGroup = entries.filter((e) => e.MessageGroupId === groupId);
      expect(ofGroup.map((e) => e.MessageDeduplicationId)).toEqual(taskIds);
      expect(results.get(groupId)).toEqual({ sent: taskIds });
    }
  });

  it("a failed entry stops only its own group: its later entries are not sent, other groups go on", async () => {
    // Prepare: call 1 holds a0–a5 and b0–b3; a2 (entry m2) fails.
    const { client, sent } = fakeSqs((_, i) =>
      i === 0
        ? { Failed: [{ Id: "m2", Code: "InternalError", Message: "try again", SenderFault: false }] }
        : {},
    );
    const a = groupIds("a", 6);
    const b = groupIds("b", 8);

    // Act
    const results = await new SqsTopicQueue(client).sendGroupsInOrder(URL, [
      { groupId: "demo#a", taskIds: a },
      { groupId: "demo#b", taskIds: b },
    ]);

    // Assess: entries SQS accepted count as sent; a's failure carries a2 and nothing of a goes out afterwards
    expect(sent).toHaveLength(2);
    const second = (sent[1] as Sent).input.Entries as Record<string, string>[];
    expect(second.map((e) => e.MessageDeduplicationId)).toEqual(b.slice(4));
    expect(results.get("demo#a")).toEqual({
      sent: [a[0], a[1], a[3], a[4], a[5]],
      failure: { taskIds: [a[2]], error: "InternalError: try again" },
    });
    expect(results.get("demo#b")).toEqual({ sent: b });
  });

  it("a group cut by a failed call reports its ids from that call on; the others' earlier calls stand", async () => {
    // Prepare: call 1 = a0–a9, call 2 = a10–a11 + b0–b7 throws, call 3 = b8
    const { client, sent } = fakeSqs((_, i) => {
      if (i === 1) throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      return {};
    });
    const a = groupIds("a", 12);
    const b = groupIds("b", 9);

    // Act
    const results = await new SqsTopicQueue(client).sendGroupsInOrder(URL, [
      { groupId: "demo#a", taskIds: a },
      { groupId: "demo#b", taskIds: b },
    ]);

    // Assess: b's last entry is not sent after its earlier ones failed
    expect(sent).toHaveLength(2);
    expect(results.get("demo#a")).toEqual({
      sent: a.slice(0, 10),
      failure: { taskIds: a.slice(10), error: "TimeoutError: socket hang up" },
    });
    expect(results.get("demo#b")).toEqual({
      sent: [],
      failure: { taskIds: b, error: "TimeoutError: socket hang up" },
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
